"""The two procedures, walked through the engine as the seeds describe them."""

from __future__ import annotations

from dataclasses import asdict
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest
import yaml

from process.challenge import (
    SYSTEM,
    ActionKind,
    ChildDetails,
    Close,
    ConfirmOutcome,
    ConfirmTimescale,
    DeadlinePassed,
    Escalate,
    HandOver,
    NotificationKind,
    ProposeOutcome,
    ProposeTimescale,
    RecordMeeting,
    Refused,
    Remind,
    Respond,
    Side,
    Status,
    Withdraw,
)
from process.directory_file import load_directory_file
from process.engine import Engine, calendar_for
from process.policy import Role, load_policy
from tests.support.people import (
    INVENTED_CHILD,
    MONDAY_MORNING,
    holder,
    police_raise_request,
    raise_request,
    role_directory,
)

R = Role


def engine(partnership: str) -> Engine:
    return Engine(load_policy(partnership), role_directory())


def raised(partnership: str, now: datetime = MONDAY_MORNING, **changes: object):  # type: ignore[no-untyped-def]
    e = engine(partnership)
    decision = e.raise_challenge(
        raise_request(partnership, **changes),
        holder(partnership, R.RAISER),
        now,
        challenge_id="c1",
        reference="T-1",
    )
    return e, decision


def told(decision, kind: NotificationKind | None = None) -> dict[str, NotificationKind]:  # type: ignore[no-untyped-def]
    return {
        n.recipient.person_id or n.recipient.email: n.kind
        for n in decision.notifications
        if kind is None or n.kind is kind
    }


def utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)


# ----- raising ----------------------------------------------------------------------------------------------


def test_durham_raise_starts_stage_1_due_next_working_day_and_copies_in_qrt_business_manager() -> None:
    _, decision = raised("durham")
    c = decision.challenge
    assert (c.stage, c.status, c.version, c.awaiting) == (1, Status.OPEN, 1, Side.CHALLENGED)
    assert c.current.due_at == utc(2026, 11, 24, 17, 0)  # Tuesday 17:00 GMT: 1 working day
    assert told(decision) == {
        "durham_challenged": NotificationKind.RAISED,
        "durham_qrt": NotificationKind.COPIED_IN,
    }
    assert [n.action_needed for n in decision.notifications] == [True, False]


def durham_closed_over_christmas(tmp_path: Path) -> Path:
    """Durham's procedure in a partnership's own file that closes from 24 December to 1 January every year."""
    data = yaml.safe_load(Path("process/policies/durham.yaml").read_text(encoding="utf-8"))
    data["closures"] = ["12-24..01-01"]
    path = tmp_path / "durham-christmas.yaml"
    path.write_text(yaml.safe_dump(data), encoding="utf-8")
    return path


@pytest.mark.parametrize("first_year", [2026, 2027])
def test_a_yearly_christmas_closure_leaves_no_working_day_from_christmas_eve_to_new_years_day(
    tmp_path: Path, first_year: int
) -> None:
    calendar = calendar_for(load_policy(durham_closed_over_christmas(tmp_path)))
    christmas_eve = date(first_year, 12, 24)

    assert [d for n in range(9) if calendar.is_working_day(d := christmas_eve + timedelta(days=n))] == []
    assert calendar.is_working_day(christmas_eve - timedelta(days=1))


def test_a_stage_raised_before_a_yearly_christmas_closure_falls_due_in_january(tmp_path: Path) -> None:
    e = Engine(load_policy(durham_closed_over_christmas(tmp_path)), role_directory())
    wednesday_23_december = utc(2026, 12, 23, 10, 0)

    decision = e.raise_challenge(
        raise_request("durham"),
        holder("durham", R.RAISER),
        wednesday_23_december,
        challenge_id="c1",
        reference="T-1",
    )

    # Closed Thu 24 Dec to Fri 1 Jan (bank holidays Fri 25 and Mon 28 Dec, Fri 1 Jan); Monday 4 Jan counts.
    assert decision.challenge.current.due_at == utc(2027, 1, 4, 17, 0)
    assert raised("durham", wednesday_23_december)[1].challenge.current.due_at == utc(2026, 12, 24, 17, 0)


def test_durham_challenge_is_raised_by_the_iro_only() -> None:
    e = engine("durham")
    with pytest.raises(Refused, match="raised by the IRO"):
        e.raise_challenge(
            raise_request("durham"), "durham_bm", MONDAY_MORNING, challenge_id="c", reference="r"
        )


def test_durham_has_no_urgent_start_at_a_later_stage() -> None:
    e = engine("durham")
    with pytest.raises(Refused, match="start at stage 3 when the issue is reoccurring"):
        e.raise_challenge(
            raise_request("durham", urgent=True, start_stage=3, informal_evidence="Phoned twice."),
            holder("durham", R.RAISER),
            MONDAY_MORNING,
            challenge_id="c",
            reference="r",
        )


def test_rochdale_urgent_challenge_starts_at_stage_3_with_informal_evidence_and_copies_admin() -> None:
    _, decision = raised("rochdale", urgent=True, start_stage=3, informal_evidence="Two calls, no reply.")
    c = decision.challenge
    assert c.stage == 3 and c.urgent
    assert c.current.due_at == utc(2026, 12, 7, 17, 0)  # 10 working days after Monday 23 November
    kinds = told(decision)
    assert kinds["rochdale_challenged_sm"] is NotificationKind.RAISED
    assert kinds["rochdale_raiser_sm"] is NotificationKind.RAISED
    assert kinds["rochdale_admin"] is NotificationKind.COPIED_IN
    assert kinds["rochdale_hos"] is NotificationKind.INFORMED
    assert kinds["rochdale_raiser_sl"] is NotificationKind.CONSULTED
    assert kinds["rochdale_challenged_sl"] is NotificationKind.CONSULTED


def test_rochdale_urgent_start_needs_evidence_of_informal_challenge() -> None:
    with pytest.raises(Refused, match="evidence of informal challenge"):
        raised("rochdale", urgent=True, start_stage=3)


def test_rochdale_urgent_start_at_stage_4_reaches_the_partnership() -> None:
    _, decision = raised(
        "rochdale", urgent=True, start_stage=4, informal_evidence="Stage 1-2 emails attached."
    )
    kinds = told(decision)
    assert kinds["rochdale_bm"] is NotificationKind.INFORMED
    assert kinds["rochdale_scrutineer"] is NotificationKind.INFORMED
    assert kinds["rochdale_executive"] is NotificationKind.INFORMED


def test_rochdale_stage_1_does_not_copy_in_the_partnership_admin() -> None:
    _, decision = raised("rochdale")
    assert "rochdale_admin" not in told(decision)
    assert told(decision)["rochdale_raiser_sl"] is NotificationKind.CONSULTED


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        (
            {
                "challenged_agency_id": "rochdale_a",
                "challenged_person_id": None,
                "challenged_email": "x@y.example",
                "challenged_name": "Pat",
            },
            "between agencies",
        ),
        ({"issue_category": "made_up"}, "issues on the form"),
        ({"concern": "   "}, "Summary of Challenge"),
        ({"desired_outcome": "x" * 4001}, "4001 characters"),
        ({"child": ChildDetails("Jordan Testchild", None, "INV-1")}, "date of birth"),
        ({"child": ChildDetails("Jordan Testchild", date(2019, 1, 1), "")}, "agency reference"),
        ({"child": ChildDetails("Jordan Testchild", date(2027, 1, 1), "INV-1")}, "in the future"),
        ({"child": ChildDetails("Jordan Testchild", date(1980, 1, 1), "INV-1")}, "adult"),
        ({"child": ChildDetails("", date(2019, 1, 1), "INV-1")}, "name of child"),
        ({"start_stage": 3}, "start at stage 3 when urgent; stage 4 when urgent"),
        ({"urgent": True, "start_stage": 2, "informal_evidence": "x"}, "start at stage 3 when urgent"),
        ({"challenged_person_id": "durham_challenged"}, "no longer in the directory|does not work for"),
        ({"challenged_person_id": None}, "Choose the professional"),
        (
            {"challenged_person_id": None, "challenged_email": "not-an-email", "challenged_name": "Pat"},
            "email",
        ),
        ({"challenged_agency_id": "durham_b"}, "list of agencies"),
        ({"concern": "Report\x00missing"}, "control characters"),
        ({"child": ChildDetails("Jordan\x07", date(2019, 1, 1), "INV-1")}, "control characters"),
    ],
)
def test_rochdale_raise_refuses_an_incomplete_or_wrong_form(changes: dict[str, object], message: str) -> None:
    with pytest.raises(Refused, match=message) as refused:
        raised("rochdale", **changes)
    assert refused.value.code in ("invalid", "not_permitted")


def test_durham_form_asks_family_name_only_dob_and_reference_optional() -> None:
    _, decision = raised("durham", child=ChildDetails("Testfamily"))
    assert decision.challenge.child == ChildDetails("Testfamily")


def test_raise_by_email_for_a_professional_outside_the_directory() -> None:
    _, decision = raised(
        "rochdale",
        challenged_person_id=None,
        challenged_name="Pat Newcomer",
        challenged_email="pat@b.example",
    )
    contact = decision.challenge.parties[R.CHALLENGED_PROFESSIONAL]
    assert (contact.name, contact.email, contact.person_id) == ("Pat Newcomer", "pat@b.example", None)
    assert told(decision)["pat@b.example"] is NotificationKind.RAISED


def test_someone_not_in_the_directory_cannot_raise() -> None:
    with pytest.raises(Refused, match="not in the partnership's directory"):
        engine("durham").raise_challenge(
            raise_request("durham"), "nobody", MONDAY_MORNING, challenge_id="c", reference="r"
        )


def test_notifications_and_event_summaries_carry_no_child_data() -> None:
    e, decision = raised("rochdale")
    c = decision.challenge
    later = e.apply(c, Escalate("No reply."), holder("rochdale", R.RAISER), MONDAY_MORNING)
    for d in (decision, later):
        for item in [*(asdict(n) for n in d.notifications), *({"s": ev.summary} for ev in d.events)]:
            text = repr(item)
            for secret in (
                INVENTED_CHILD.name,
                str(INVENTED_CHILD.date_of_birth),
                INVENTED_CHILD.agency_reference,
            ):
                assert secret not in text


# ----- acting at a stage ------------------------------------------------------------------------------------


def test_agreed_outcome_needs_both_sides_to_confirm() -> None:
    e, decision = raised("rochdale")
    c = decision.challenge
    challenged, raiser = holder("rochdale", R.CHALLENGED_PROFESSIONAL), holder("rochdale", R.RAISER)
    c = e.apply(c, Respond("We disagree about the threshold."), challenged, MONDAY_MORNING).challenge
    assert c.awaiting is Side.RAISER
    proposed = e.apply(c, ProposeOutcome("Strategy meeting by Friday."), raiser, MONDAY_MORNING)
    # The safeguarding leads are "consulted and updated throughout" (for information).
    assert told(proposed) == {
        challenged: NotificationKind.OUTCOME_PROPOSED,
        "rochdale_raiser_sl": NotificationKind.OUTCOME_PROPOSED,
        "rochdale_challenged_sl": NotificationKind.OUTCOME_PROPOSED,
    }
    assert [n.recipient.person_id for n in proposed.notifications if n.action_needed] == [challenged]
    c = proposed.challenge
    with pytest.raises(Refused, match="confirmed by the other side"):
        e.apply(c, ConfirmOutcome(), raiser, MONDAY_MORNING)
    done = e.apply(c, ConfirmOutcome(), challenged, MONDAY_MORNING + timedelta(hours=2))
    c = done.challenge
    assert c.status is Status.RESOLVED and c.agreed_outcome == "Strategy meeting by Friday."
    assert c.current.outcome == "resolved" and c.next_due_at is None
    assert told(done)[raiser] is NotificationKind.RESOLVED
    assert done.events[0].detail["proposed_by"] == raiser


def test_durham_stage_2_goes_to_the_line_manager_who_may_consult_their_safeguarding_lead() -> None:
    e, decision = raised("durham")
    escalated = e.apply(
        decision.challenge, Escalate("No response at stage 1."), holder("durham", R.RAISER), MONDAY_MORNING
    )
    c = escalated.challenge
    assert c.stage == 2 and c.current.due_at == utc(2026, 11, 26, 17, 0)  # 3 working days
    assert c.stages[0].outcome == "escalated" and c.stages[0].reason == "No response at stage 1."
    kinds = told(escalated)
    assert kinds["durham_challenged_lm"] is NotificationKind.ESCALATED
    assert kinds["durham_challenged_sl"] is NotificationKind.CONSULTED
    assert kinds["durham_challenged"] is NotificationKind.ESCALATED
    assert kinds["durham_qrt"] is NotificationKind.COPIED_IN
    assert [
        n.action_needed for n in escalated.notifications if n.recipient.person_id == "durham_challenged"
    ] == [False]


def test_durham_stage_5_needs_reasons_for_escalation_and_tells_the_executive() -> None:
    e, decision = raised("durham")
    c = decision.challenge
    raiser, business_manager = holder("durham", R.RAISER), holder("durham", R.BUSINESS_MANAGER)
    for _ in range(3):
        c = e.apply(c, Escalate("Unresolved."), raiser, MONDAY_MORNING).challenge
    # 5.4: the IRO informs the Business Manager, who considers escalation to the Executive.
    with pytest.raises(
        Refused,
        match=r"Under the DSCP procedure, at stage 4 \(.*\) escalation is for the DSCP Business Manager \(Blair Businessmanager\) to decide",
    ):
        e.apply(c, Escalate("Unresolved.", {"reasons_for_escalation": "x"}), raiser, MONDAY_MORNING)
    with pytest.raises(Refused, match="reasons for escalation to dscp"):
        e.apply(c, Escalate("Unresolved."), business_manager, MONDAY_MORNING)
    final = e.apply(
        c,
        Escalate("Unresolved.", {"reasons_for_escalation": "Pattern of non-attendance."}),
        business_manager,
        MONDAY_MORNING,
    )
    c = final.challenge
    # Stage 5 has no limit of its own, but no stage is due after the procedure's 16 working days (5.1).
    assert c.stage == 5 and c.current.due_at == e.total_due(c) == utc(2026, 12, 15, 17, 0)
    assert c.fields == {"reasons_for_escalation": "Pattern of non-attendance."}
    assert told(final)["durham_executive"] is NotificationKind.ESCALATED
    with pytest.raises(Refused, match="final stage"):
        e.apply(c, Escalate("More."), business_manager, MONDAY_MORNING)
    closed = e.apply(c, Close("Board member to meet the agency."), "durham_executive", MONDAY_MORNING)
    assert closed.challenge.status is Status.CLOSED
    assert closed.challenge.agreed_outcome == "Board member to meet the agency."


def test_durham_stage_timescales_are_fixed() -> None:
    e, decision = raised("durham")
    with pytest.raises(Refused, match="fixes stage 1's timescale"):
        e.apply(decision.challenge, ProposeTimescale(1), holder("durham", R.RAISER), MONDAY_MORNING)


def test_rochdale_timescale_is_proposed_by_one_side_and_confirmed_by_the_other_capped_at_10() -> None:
    e, decision = raised("rochdale")
    raiser = holder("rochdale", R.RAISER)
    professional = holder("rochdale", R.CHALLENGED_PROFESSIONAL)
    with pytest.raises(Refused, match="may not exceed 10 working days"):
        e.apply(decision.challenge, ProposeTimescale(11), raiser, MONDAY_MORNING)
    proposed = e.apply(decision.challenge, ProposeTimescale(3), raiser, MONDAY_MORNING)
    # Proposing changes nothing yet: the stage keeps its 10-day cap until the other side confirms.
    assert proposed.challenge.current.due_at == decision.challenge.current.due_at
    assert {n.recipient.person_id for n in proposed.notifications if n.action_needed} == {professional}
    with pytest.raises(Refused, match="other side"):
        e.apply(proposed.challenge, ConfirmTimescale(), raiser, MONDAY_MORNING)
    agreed = e.apply(proposed.challenge, ConfirmTimescale(), professional, MONDAY_MORNING)
    assert agreed.challenge.current.due_at == utc(2026, 11, 26, 17, 0)
    assert agreed.challenge.timescale_proposal is None
    longer = e.apply(agreed.challenge, ProposeTimescale(5), professional, MONDAY_MORNING)
    extended = e.apply(longer.challenge, ConfirmTimescale(), raiser, MONDAY_MORNING)
    assert extended.challenge.current.due_at == utc(2026, 11, 30, 17, 0)
    assert extended.events[0].summary == "Stage 1 timescale extended by both sides: 5 working days"


def test_the_challenged_side_alone_cannot_extend_its_own_deadline() -> None:
    e, decision = raised("rochdale")
    professional = holder("rochdale", R.CHALLENGED_PROFESSIONAL)
    proposed = e.apply(decision.challenge, ProposeTimescale(10), professional, MONDAY_MORNING)
    assert proposed.challenge.current.due_at == decision.challenge.current.due_at
    with pytest.raises(Refused):
        e.apply(proposed.challenge, ConfirmTimescale(), professional, MONDAY_MORNING)


def test_rochdale_timescale_that_already_ran_out_is_refused() -> None:
    e, decision = raised("rochdale")
    with pytest.raises(Refused, match="already run out"):
        e.apply(
            decision.challenge,
            ProposeTimescale(1),
            holder("rochdale", R.RAISER),
            MONDAY_MORNING + timedelta(days=3),
        )


def test_a_stage_that_used_its_full_cap_is_not_offered_a_new_timescale() -> None:
    e, decision = raised("rochdale")
    raiser = holder("rochdale", R.RAISER)
    after = decision.challenge.current.due_at + timedelta(minutes=1)
    assert ActionKind.PROPOSE_TIMESCALE in e.allowed_actions(decision.challenge, raiser, MONDAY_MORNING)
    assert ActionKind.PROPOSE_TIMESCALE not in e.allowed_actions(decision.challenge, raiser, after)
    with pytest.raises(Refused, match="used all the time"):
        e.apply(decision.challenge, ProposeTimescale(10), raiser, after)


def test_rochdale_stage_3_records_the_multi_agency_discussion() -> None:
    e, decision = raised("rochdale", urgent=True, start_stage=3, informal_evidence="Calls logged.")
    meeting = RecordMeeting(date(2026, 11, 23), "CSC, school, health", "Threshold", "Reassess", "5 days")
    recorded = e.apply(decision.challenge, meeting, "rochdale_hos", MONDAY_MORNING + timedelta(hours=5))
    assert recorded.challenge.meetings[0].attendees == "CSC, school, health"
    with pytest.raises(Refused, match="in the future"):
        e.apply(
            decision.challenge,
            RecordMeeting(date(2026, 11, 24), "a", "b", "", ""),
            "rochdale_hos",
            MONDAY_MORNING,
        )
    with pytest.raises(Refused, match="who attended"):
        e.apply(
            decision.challenge,
            RecordMeeting(date(2026, 11, 23), " ", "b", "", ""),
            "rochdale_hos",
            MONDAY_MORNING,
        )


def test_hand_over_to_a_colleague_for_leave_cover() -> None:
    e, decision = raised("durham")
    c = decision.challenge
    handed = e.apply(
        c,
        HandOver(R.CHALLENGED_PROFESSIONAL, "durham_challenged_colleague"),
        "durham_challenged_lm",
        MONDAY_MORNING,
    )
    assert handed.challenge.parties[R.CHALLENGED_PROFESSIONAL].person_id == "durham_challenged_colleague"
    assert told(handed) == {
        "durham_challenged_colleague": NotificationKind.HANDED_OVER,
        "durham_challenged": NotificationKind.HANDED_OVER,
    }
    e.apply(
        handed.challenge, Respond("Covering: report follows."), "durham_challenged_colleague", MONDAY_MORNING
    )
    with pytest.raises(Refused):
        e.apply(handed.challenge, Respond("Me again."), "durham_challenged", MONDAY_MORNING)
    with pytest.raises(Refused, match="same agency"):
        e.apply(
            c,
            HandOver(R.CHALLENGED_PROFESSIONAL, "durham_raiser_colleague"),
            "durham_challenged",
            MONDAY_MORNING,
        )
    with pytest.raises(Refused, match="someone you manage"):
        e.apply(c, HandOver(R.RAISER, "durham_raiser_colleague"), "durham_challenged", MONDAY_MORNING)


def test_only_the_raiser_withdraws_and_everyone_involved_is_told() -> None:
    e, decision = raised("durham")
    with pytest.raises(Refused, match="Only the person who raised"):
        e.apply(decision.challenge, Withdraw("x"), "durham_challenged", MONDAY_MORNING)
    withdrawn = e.apply(decision.challenge, Withdraw("Report arrived."), "durham_raiser", MONDAY_MORNING)
    assert withdrawn.challenge.status is Status.WITHDRAWN
    assert set(told(withdrawn)) == {"durham_challenged", "durham_qrt"}


# ----- the clock --------------------------------------------------------------------------------------------


def test_durham_stage_1_breach_is_put_to_the_iro_and_the_line_manager_is_told_it_may_come_to_them() -> None:
    # Durham 5.2: "The IRO will decide as to whether this can be resolved informally and if not will
    # instigate Stage 2": the clock does not escalate.
    e, decision = raised("durham")
    c = decision.challenge
    # Stage 1 is one working day: its reminder falls due at Monday 17:00, the deadline at Tuesday 17:00.
    assert c.next_due_at == utc(2026, 11, 23, 17, 0)
    assert e.due_action(c, utc(2026, 11, 23, 16, 59)) is None
    assert isinstance(e.due_action(c, c.next_due_at), Remind)
    reminded = e.apply(c, Remind(), SYSTEM, c.next_due_at)
    assert told(reminded) == {"durham_challenged": NotificationKind.REMINDER}
    c = reminded.challenge
    assert c.next_due_at == utc(2026, 11, 24, 17, 0)
    assert isinstance(e.due_action(c, c.next_due_at), DeadlinePassed)
    breach = e.apply(c, DeadlinePassed(), SYSTEM, c.next_due_at)
    c = breach.challenge
    assert [ev.kind for ev in breach.events] == ["deadline_passed"]
    assert c.stage == 1 and c.current.breached and c.is_open
    kinds = told(breach)
    assert kinds["durham_raiser"] is NotificationKind.ESCALATION_DECISION_NEEDED
    assert kinds["durham_challenged_lm"] is NotificationKind.COMING_TO_YOU
    assert kinds["durham_challenged"] is NotificationKind.DEADLINE_PASSED
    raiser = holder("durham", R.RAISER)
    # One click each: escalate with the reason, or agree the outcome; a fixed timescale cannot be extended.
    options = e.allowed_actions(c, raiser, utc(2026, 11, 24, 17, 1))
    assert {ActionKind.ESCALATE, ActionKind.PROPOSE_OUTCOME} <= set(options)
    assert ActionKind.PROPOSE_TIMESCALE not in options
    assert e.due_action(c, utc(2026, 12, 31, 17, 0)) is None


def test_durham_stage_2_passing_tells_the_business_manager_it_will_come_to_them() -> None:
    e, decision = raised("durham")
    c = e.apply(
        decision.challenge, Escalate("No response."), holder("durham", R.RAISER), MONDAY_MORNING
    ).challenge
    breach = e.apply(c, DeadlinePassed(), SYSTEM, c.current.due_at)
    kinds = told(breach)
    assert kinds["durham_bm"] is NotificationKind.COMING_TO_YOU
    assert kinds["durham_challenged_sl"] in (NotificationKind.COMING_TO_YOU, NotificationKind.DEADLINE_PASSED)
    assert kinds["durham_raiser"] is NotificationKind.ESCALATION_DECISION_NEEDED
    assert breach.challenge.stage == 2


def test_automatic_escalation_is_a_policy_option(tmp_path: Path) -> None:
    data = yaml.safe_load(Path("process/policies/durham.yaml").read_text(encoding="utf-8"))
    data["on_deadline_passed"] = "escalate"
    path = tmp_path / "auto.yaml"
    path.write_text(yaml.safe_dump(data), encoding="utf-8")
    e = Engine(load_policy(path), role_directory())
    c = e.raise_challenge(
        raise_request("durham"),
        holder("durham", R.RAISER),
        MONDAY_MORNING,
        challenge_id="c1",
        reference="T-1",
    ).challenge
    breach = e.apply(c, DeadlinePassed(), SYSTEM, c.current.due_at)
    assert [ev.kind for ev in breach.events] == ["deadline_passed", "escalated"]
    assert breach.challenge.stage == 2 and breach.challenge.stages[0].reason == "Deadline passed"
    assert told(breach)["durham_challenged_lm"] is NotificationKind.ESCALATED


def test_rochdale_breach_asks_the_raiser_to_escalate_and_warns_the_next_contact() -> None:
    e, decision = raised("rochdale")
    c = decision.challenge
    due = c.current.due_at
    assert due == utc(2026, 12, 7, 17, 0)
    with pytest.raises(Refused, match="not past its deadline"):
        e.apply(c, DeadlinePassed(), SYSTEM, due - timedelta(seconds=1))
    breach = e.apply(c, DeadlinePassed(), SYSTEM, due)
    assert breach.challenge.stage == 1 and breach.challenge.current.breached
    kinds = told(breach)
    assert kinds["rochdale_raiser"] is NotificationKind.ESCALATION_DECISION_NEEDED
    assert kinds["rochdale_challenged_lm"] is NotificationKind.COMING_TO_YOU
    assert kinds["rochdale_raiser_lm"] is NotificationKind.COMING_TO_YOU
    # "Ensure your safeguarding lead is consulted and updated throughout the challenge process."
    assert kinds["rochdale_raiser_sl"] is NotificationKind.DEADLINE_PASSED
    assert kinds["rochdale_challenged_sl"] is NotificationKind.DEADLINE_PASSED
    assert breach.challenge.next_due_at is None
    assert e.due_action(breach.challenge, due + timedelta(days=5)) is None


def test_rochdale_stage_2_breach_asks_the_line_manager_who_can_act_not_the_practitioner() -> None:
    e, decision = raised("rochdale")
    c = e.apply(
        decision.challenge, Escalate("Unresolved."), holder("rochdale", R.RAISER), MONDAY_MORNING
    ).challenge
    due = c.current.due_at
    breach = e.apply(c, DeadlinePassed(), SYSTEM, due)
    asked = {n.recipient.person_id for n in breach.notifications if n.action_needed}
    assert asked == {"rochdale_raiser_lm"}
    after = due + timedelta(minutes=1)
    lm_options = e.allowed_actions(breach.challenge, "rochdale_raiser_lm", after)
    assert ActionKind.ESCALATE in lm_options
    # The full 10 working days are used: a new timescale would always be refused, so it is not offered.
    assert ActionKind.PROPOSE_TIMESCALE not in lm_options
    assert ActionKind.ESCALATE not in e.allowed_actions(breach.challenge, "rochdale_raiser", after)


def test_reminders_reach_the_safeguarding_leads_the_stage_consults() -> None:
    e, decision = raised("rochdale")
    c = decision.challenge
    at = c.next_due_at
    reminded = e.apply(c, Remind(), SYSTEM, at)
    kinds = {n.recipient.person_id: (n.kind, n.action_needed) for n in reminded.notifications}
    assert kinds["rochdale_challenged"] == (NotificationKind.REMINDER, True)
    assert kinds["rochdale_raiser_sl"] == (NotificationKind.REMINDER, False)
    assert kinds["rochdale_challenged_sl"] == (NotificationKind.REMINDER, False)


def test_people_cannot_act_as_the_clock_and_the_clock_cannot_act_as_people() -> None:
    e, decision = raised("rochdale")
    with pytest.raises(Refused, match="Only the deadline clock"):
        e.apply(decision.challenge, Remind(), holder("rochdale", R.RAISER), MONDAY_MORNING)
    with pytest.raises(Refused, match="deadline clock cannot"):
        e.apply(decision.challenge, Respond("x"), SYSTEM, MONDAY_MORNING)


def test_reminder_is_one_working_day_before_the_deadline_across_a_weekend() -> None:
    friday_morning = utc(2026, 11, 27, 9, 0)
    _, decision = raised("durham", now=friday_morning)
    c = decision.challenge
    assert c.current.due_at == utc(2026, 11, 30, 17, 0)  # Monday
    assert c.next_due_at == utc(2026, 11, 27, 17, 0)  # Friday evening, not Sunday


def test_stage_started_after_its_reminder_time_gets_no_reminder() -> None:
    _, decision = raised("durham", now=utc(2026, 11, 23, 18, 30))
    assert decision.challenge.next_due_at == decision.challenge.current.due_at == utc(2026, 11, 24, 17, 0)


# ----- the directory ----------------------------------------------------------------------------------------


def test_next_escalation_contact_in_rochdale_school_is_the_head_teacher_then_education_safeguarding() -> None:
    directory = load_directory_file()
    e = Engine(load_policy("rochdale"), directory)
    request = raise_request(
        "rochdale", challenged_agency_id="rochdale_school", challenged_person_id="omar", child=INVENTED_CHILD
    )
    c = e.raise_challenge(request, "ruth", MONDAY_MORNING, challenge_id="c", reference="r").challenge
    # "Stage 2 escalations: school head teacher", for every school: the directory's head_teacher post;
    # the raiser's line manager takes Stage 2 forward on the other side.
    assert [x.name for x in e.next_escalation_contacts(c)] == ["Helen Price", "Dev Mistry"]
    assert c.parties[R.CHALLENGED_LINE_MANAGER].name == "Helen Price"
    assert c.parties[R.CHALLENGED_SAFEGUARDING_LEAD].name == "Sam Taylor"
    # Stage 3 goes to the senior manager (the head teacher, two levels up) and the contact table's mailbox.
    assert [x.email for x in e.escalation_contacts(c, 3)] == [
        "helen.price@example.org",
        "education.safeguarding@example.org",
    ]
    assert c.parties[R.RAISER_LINE_MANAGER].name == "Dev Mistry"
    assert c.parties[R.PARTNERSHIP_ADMIN].email == "rbscp.admin@example.org"


def test_police_escalation_contact_is_the_public_protection_mailbox_at_every_stage() -> None:
    directory = load_directory_file()
    e = Engine(load_policy("rochdale"), directory)
    request = police_raise_request()
    c = e.raise_challenge(request, "ruth", MONDAY_MORNING, challenge_id="c", reference="r").challenge
    for stage in (2, 3, 4):
        assert "public.protection@example.org" in [x.email for x in e.escalation_contacts(c, stage)]


def test_childrens_social_care_escalations_go_to_the_practitioners_own_team() -> None:
    # Rochdale: "Escalations should be directed to the relevant team in Children's Social Care".
    directory = load_directory_file()
    e = Engine(load_policy("rochdale"), directory)
    for practitioner, expected in (("ruth", "Carla Jones"), ("tess", "Head of Service Cared for Children")):
        request = raise_request(
            "rochdale",
            challenged_agency_id="rochdale_csc",
            challenged_person_id=practitioner,
            urgent=True,
            start_stage=3,
            informal_evidence="Discussed twice.",
        )
        c = e.raise_challenge(request, "sam", MONDAY_MORNING, challenge_id="c", reference="r").challenge
        names = [x.name for x in e.escalation_contacts(c, 3)]
        assert expected in names, (practitioner, names)
        others = {"Head of Service Cared for Children", "Head of Service EHASH Duty and Assessment"} - {
            expected
        }
        assert not others & set(names), (practitioner, names)
