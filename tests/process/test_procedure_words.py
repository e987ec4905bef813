"""The procedures' own words, each a rule the engine keeps: what may be confirmed, when a stage is due, who
is kept informed, and when a challenge may start above stage 1."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest

from process.challenge import (
    ConfirmOutcome,
    Escalate,
    NotificationKind,
    ProposeOutcome,
    RecordMeeting,
    Refused,
    Respond,
    Status,
)
from process.engine import Engine
from process.policy import Role, load_policy
from tests.support.people import MONDAY_MORNING, holder, raise_request, role_directory

R = Role


def engine(partnership: str) -> Engine:
    return Engine(load_policy(partnership), role_directory())


def utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)


def raise_(e: Engine, partnership: str, **changes: object):  # type: ignore[no-untyped-def]
    return e.raise_challenge(
        raise_request(partnership, **changes),
        holder(partnership, R.RAISER),
        MONDAY_MORNING,
        challenge_id="c1",
        reference="T-1",
    )


def test_a_proposed_outcome_does_not_survive_escalation() -> None:
    e = engine("rochdale")
    c = raise_(e, "rochdale").challenge
    c = e.apply(
        c, ProposeOutcome("Weekly attendance updates."), holder("rochdale", R.RAISER), MONDAY_MORNING
    ).challenge
    assert c.proposal is not None
    c = e.apply(
        c, Escalate("Not agreed."), holder("rochdale", R.CHALLENGED_PROFESSIONAL), MONDAY_MORNING
    ).challenge
    assert c.stage == 2 and c.proposal is None
    with pytest.raises(Refused, match="no proposed outcome"):
        e.apply(c, ConfirmOutcome(), holder("rochdale", R.CHALLENGED_LINE_MANAGER), MONDAY_MORNING)


def test_no_durham_stage_is_due_after_the_16_working_days() -> None:
    # 5.1: "completed in its entirety within 16 working days". Raised Mon 23 Nov 2026: the 16th working day is
    # Tue 15 Dec. Stage 4 started on Thu 10 Dec would be due 7 working days later (Mon 21 Dec) on its own.
    e = engine("durham")
    c = raise_(e, "durham").challenge
    assert e.total_due(c) == utc(2026, 12, 15, 17, 0)
    raiser = holder("durham", R.RAISER)
    c = e.apply(c, Escalate("No response."), raiser, utc(2026, 11, 24, 18, 0)).challenge
    c = e.apply(c, Escalate("No response."), raiser, utc(2026, 11, 27, 18, 0)).challenge
    c = e.apply(c, Escalate("No response."), raiser, utc(2026, 12, 10, 9, 0)).challenge
    assert c.stage == 4 and c.current.due_at == utc(2026, 12, 15, 17, 0)
    # The reminder comes before the total as before any deadline, and the notice says it is the total.
    assert c.next_due_at == utc(2026, 12, 14, 17, 0)
    passed = e.apply(c, e.due_action(c, utc(2026, 12, 15, 17, 0)), "system", utc(2026, 12, 15, 17, 0))  # type: ignore[arg-type]
    assert passed.events[0].summary == "Stage 4 deadline passed (the procedure's total of 16 working days)"


def test_a_stage_started_after_the_total_keeps_its_own_limit() -> None:
    e = engine("durham")
    c = raise_(e, "durham").challenge
    late = utc(2026, 12, 21, 9, 0)
    c = e.apply(c, Escalate("No response."), holder("durham", R.RAISER), late).challenge
    assert c.current.due_at == e.calendar.due_at(late, 3)


def test_rochdale_partnership_is_updated_on_every_step_from_stage_3_until_resolved() -> None:
    e = engine("rochdale")
    c = raise_(e, "rochdale").challenge
    admin = "rochdale_admin"
    responded = e.apply(
        c, Respond("We will look again."), holder("rochdale", R.CHALLENGED_PROFESSIONAL), MONDAY_MORNING
    )
    assert admin not in {n.recipient.person_id for n in responded.notifications}
    c = e.apply(
        responded.challenge, Escalate("Unresolved."), holder("rochdale", R.RAISER), MONDAY_MORNING
    ).challenge
    escalated = e.apply(c, Escalate("Unresolved."), holder("rochdale", R.RAISER_LINE_MANAGER), MONDAY_MORNING)
    c = escalated.challenge
    kinds = {n.recipient.person_id: n.kind for n in escalated.notifications}
    assert kinds[admin] is NotificationKind.COPIED_IN
    # The practitioner who raised it is told of every stage change, though they no longer act.
    assert kinds[holder("rochdale", R.RAISER)] is NotificationKind.ESCALATED
    senior = holder("rochdale", R.CHALLENGED_SENIOR_MANAGER)
    for action in (
        Respond("The plan is being reviewed."),
        RecordMeeting(MONDAY_MORNING.date(), "Both senior managers", "The plan", "Review", "5 days"),
        ProposeOutcome("A review meeting this week."),
    ):
        decision = e.apply(c, action, senior, MONDAY_MORNING)
        assert admin in {n.recipient.person_id for n in decision.notifications}, action
        c = decision.challenge
    resolved = e.apply(c, ConfirmOutcome(), holder("rochdale", R.RAISER_SENIOR_MANAGER), MONDAY_MORNING)
    assert resolved.challenge.status is Status.RESOLVED
    assert admin in {n.recipient.person_id for n in resolved.notifications}


def _resolved_durham(e: Engine) -> object:
    c = raise_(e, "durham").challenge
    # 5.2: "The IRO will decide as to whether this can be resolved informally": the IRO records it alone.
    resolved = e.apply(c, ProposeOutcome("Report by Friday."), holder("durham", R.RAISER), MONDAY_MORNING)
    assert resolved.challenge.status is Status.RESOLVED
    return resolved.challenge


def test_durham_reoccurring_issue_starts_at_stage_3_linked_to_the_resolved_challenge() -> None:
    # 5.4: "If the issue remains unresolved, or is reoccurring, then the IRO will escalate the matter to the
    # DSCP Business Manager".
    e = engine("durham")
    earlier = _resolved_durham(e)
    later = MONDAY_MORNING + timedelta(days=14)
    request = raise_request("durham", start_stage=3, recurring_of="T-1")
    decision = e.raise_challenge(
        request,
        holder("durham", R.RAISER),
        later,
        challenge_id="c2",
        reference="T-2",
        earlier=earlier,  # type: ignore[arg-type]
    )
    c = decision.challenge
    assert c.stage == 3 and c.linked_to == "T-1"
    assert "as reoccurring after T-1" in decision.events[0].summary
    told = {n.recipient.person_id for n in decision.notifications if n.action_needed}
    assert {"durham_bm", "durham_challenged_sl"} <= told


@pytest.mark.parametrize(
    ("changes", "earlier_changes", "words"),
    [
        ({}, None, "linked to a resolved challenge"),
        ({}, {"status": Status.OPEN}, "linked to a resolved challenge"),
        ({}, {"challenged_agency_id": "durham_c"}, "linked to a resolved challenge"),
        ({}, {"issue_category": "lack_of_attendance"}, "linked to a resolved challenge"),
        ({"start_stage": 1}, {}, "not at stage 1"),
        ({"start_stage": 2}, {}, "start at stage 3 when the issue is reoccurring"),
    ],
)
def test_a_reoccurring_start_needs_a_resolved_challenge_to_the_same_agency_about_the_same_issue(
    changes: dict[str, object], earlier_changes: dict[str, object] | None, words: str
) -> None:
    e = engine("durham")
    earlier = _resolved_durham(e)
    linked = None if earlier_changes is None else replace(earlier, **earlier_changes)  # type: ignore[type-var]
    request = raise_request("durham", **{"start_stage": 3, "recurring_of": "T-1", **changes})
    with pytest.raises(Refused, match=words):
        e.raise_challenge(
            request,
            holder("durham", R.RAISER),
            MONDAY_MORNING,
            challenge_id="c2",
            reference="T-2",
            earlier=linked,
        )


def test_someone_who_may_not_raise_is_told_before_the_form() -> None:
    e = engine("durham")
    with pytest.raises(Refused, match="raised by the IRO"):
        e.may_raise("durham_challenged")
    assert e.may_raise(holder("durham", R.RAISER)).id == "durham_raiser"
    with pytest.raises(Refused, match="not in the partnership's directory"):
        e.may_raise("nobody-at-all")


def test_rochdale_stage_1_informs_the_lead_professional_the_raiser_names() -> None:
    # "Inform the lead professional/ chair at this stage."
    e = engine("rochdale")
    named = raise_(e, "rochdale", named={"lead_professional": "chair.person@elsewhere.example"})
    told = {n.recipient.email: n for n in named.notifications}
    assert told["chair.person@elsewhere.example"].kind is NotificationKind.INFORMED
    assert not told["chair.person@elsewhere.example"].action_needed
    from_directory = raise_(e, "rochdale", named={"lead_professional": "rochdale_raiser_sm"})
    assert from_directory.challenge.parties["lead_professional"].person_id == "rochdale_raiser_sm"
    with pytest.raises(Refused, match="work email"):
        raise_(e, "rochdale", named={"lead_professional": "not an email"})
    with pytest.raises(Refused, match="does not ask"):
        raise_(e, "rochdale", named={"head_of_safeguarding": "x@example.org"})
