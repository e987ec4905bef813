"""Notifications, as a Teams card and as an email, for every kind the engine sends in both procedures.

They may be read on a shared screen or land in another organisation's mailbox, so none carries the child's
details or what anyone wrote; each says what happened, what is needed by when, and how to act.
"""

from __future__ import annotations

import re
from dataclasses import replace
from datetime import timedelta
from zoneinfo import ZoneInfo

import pytest

from cards import verbs
from cards.notification import (
    delivery_failed_card,
    delivery_failed_text,
    notification_card,
    notification_text,
)
from process.challenge import Escalate, HandOver, Notification, NotificationKind, ProposeOutcome, Respond
from process.directory import Contact
from process.policy import Role
from tests.cardcheck import assert_valid_card
from tests.cards.scenarios import (
    ENTRY_FIELDS,
    PRIVATE_STRINGS,
    REASON,
    Walk,
    all_states,
    button_actions,
    escalated_to,
    everything,
    of_type,
    raised,
    readable,
)

STATES = dict(all_states())
SENT = [
    (f"{name}: {n.kind.value} to {n.recipient.name}", walk, n)
    for name, walk in STATES.items()
    for n in walk.last_notifications
]
# The shipped policies tell everyone on their final-stage list for a stronger reason first (they act or are
# informed at that stage), so the engine never sends this kind for them; it is rendered from a made-up one.
_FINAL = STATES["rochdale: stage 4 just started"]
SENT.append(
    (
        "rochdale: final stage reached",
        _FINAL,
        replace(_FINAL.last_notifications[0], kind=NotificationKind.FINAL_STAGE_REACHED, action_needed=False),
    )
)


def card_for(walk: Walk, n: Notification) -> dict[str, object]:
    return notification_card(
        n,
        challenge=walk.challenge,
        policy=walk.policy,
        calendar=walk.engine.calendar,
        now=walk.now,
        directory=walk.engine.directory,
    )


def email_for(walk: Walk, n: Notification) -> tuple[str, str]:
    return notification_text(
        n,
        challenge=walk.challenge,
        policy=walk.policy,
        calendar=walk.engine.calendar,
        now=walk.now,
        directory=walk.engine.directory,
    )


def sent_to(walk: Walk, role: Role) -> Notification:
    person = walk.by(role)
    return next(n for n in walk.last_notifications if n.recipient.person_id == person)


def test_the_walks_send_every_kind_of_notification() -> None:
    # Neither shipped procedure has steps inside a stage: the step notice is tested with an invented one
    # (tests/process/test_steps.py).
    # A report that a notification could not be delivered comes from the notifier, not the engine
    # (tests/delivery/test_fallback.py); a pattern alert from the deadline clock's pattern watch
    # (tests/delivery/test_pattern_alert.py, tests/cards/test_card_pattern.py).
    assert {n.kind for _, _, n in SENT} == set(NotificationKind) - {
        NotificationKind.STEP_DONE,
        NotificationKind.DELIVERY_FAILED,
        NotificationKind.PATTERN_ALERT,
    }


@pytest.mark.parametrize(("name", "walk", "n"), SENT, ids=[name for name, _, _ in SENT])
def test_every_notification_card_and_email_is_valid_and_free_of_child_data(
    name: str, walk: Walk, n: Notification
) -> None:
    stage = f"Stage {n.stage} of {len(walk.policy.stages)} — {walk.policy.stage(n.stage).name}"
    card = card_for(walk, n)
    assert_valid_card(card)
    text = everything(card)
    for private in PRIVATE_STRINGS:
        assert private not in text, private
    words = readable(card)
    assert n.reference in words and stage in words
    assert ("Please " in words) is n.action_needed
    assert ("No action needed" in words) is not n.action_needed
    # Every notification card opens the challenge, whether or not its reader is asked to act.
    shows = [a for a in button_actions(card) if a.get("verb") == verbs.SHOW]
    assert len(shows) == 1
    assert shows[0]["title"] == "Open the challenge"
    assert shows[0]["data"] == {"reference": n.reference, "challengeId": n.challenge_id}
    subject, body = email_for(walk, n)
    for private in PRIVATE_STRINGS:
        assert private not in subject and private not in body, private
    assert subject.startswith(f"{n.reference}: ")
    assert f"Stage: {stage}" in body
    if n.recipient.person_id is not None:
        assert f"open Microsoft Teams and type: show {n.reference}" in body
    else:
        assert f"show {n.reference}" in body or f"quoting {n.reference}" in body


def test_durham_raise_asks_the_professional_to_respond_by_the_stage_1_deadline() -> None:
    walk = raised("durham")
    n = sent_to(walk, Role.CHALLENGED_PROFESSIONAL)
    words = readable(card_for(walk, n))
    assert "A challenge has been raised, starting at stage 1 (Informal discussion)." in words
    assert "Please respond by Tue 24 Nov 2026, 17:00." in words
    assert "Due: Tue 24 Nov 2026, 17:00 (1 working day left)" in words
    subject, body = email_for(walk, n)
    assert subject == "DUR-2026-0042: new challenge · action needed by Tue 24 Nov 2026, 17:00"
    assert "Please respond by Tue 24 Nov 2026, 17:00." in body
    assert "To see the challenge, open Microsoft Teams and type: show DUR-2026-0042" in body


def test_durham_qrt_business_manager_is_copied_in_with_no_action_needed() -> None:
    walk = raised("durham")
    n = sent_to(walk, Role.QRT_BUSINESS_MANAGER)
    assert n.kind is NotificationKind.COPIED_IN
    words = readable(card_for(walk, n))
    assert "No action needed: you are copied in as Business Manager for QRT." in words
    assert [a["title"] for a in button_actions(card_for(walk, n))] == ["Open the challenge"]


def test_line_manager_response_asks_the_raiser_to_agree_the_outcome_or_escalate() -> None:
    walk = escalated_to("durham", 2)
    walk = walk.then(Respond("Will do."), walk.by(Role.CHALLENGED_LINE_MANAGER))
    n = sent_to(walk, Role.RAISER)
    words = readable(card_for(walk, n))
    assert "The Line Manager's response has been recorded at stage 2." in words
    assert "Please read the response, then agree the outcome or escalate by Thu 26 Nov 2026, 17:00." in words


def test_rochdale_missed_timescale_asks_the_raiser_to_decide_on_stage_2() -> None:
    walk = STATES["rochdale: stage 1 deadline passed"]
    n = sent_to(walk, Role.RAISER)
    assert n.kind is NotificationKind.ESCALATION_DECISION_NEEDED
    words = readable(card_for(walk, n))
    assert (
        "The agreed timescale for stage 1 (Practitioner to Practitioner) passed at Mon 7 Dec 2026, 17:00."
        in words
    )
    assert (
        "Please decide what happens next: escalate to stage 2 (Line Manager to Line Manager), agree a new "
        "timescale, or agree the outcome." in words
    )


def test_a_mailbox_is_told_who_to_contact_since_it_cannot_act_in_teams() -> None:
    walk = escalated_to("durham", 3)
    n = replace(
        sent_to(walk, Role.CHALLENGED_SAFEGUARDING_LEAD),
        recipient=Contact(name="Health Safeguarding Team", email="health.safeguarding@example.org"),
    )
    _, body = email_for(walk, n)
    assert "This address is not set up to act in Microsoft Teams." in body
    assert "Riley Raiser (raiser@durham.example)" in body
    assert "quoting DUR-2026-0042" in body


def test_handing_over_tells_the_new_holder_and_the_old_one_differently() -> None:
    walk = raised("durham")
    walk = walk.then(
        HandOver(Role.CHALLENGED_PROFESSIONAL, "durham_challenged_colleague"),
        walk.by(Role.CHALLENGED_LINE_MANAGER),
    )
    new = next(n for n in walk.last_notifications if n.recipient.person_id == "durham_challenged_colleague")
    old = next(n for n in walk.last_notifications if n.recipient.person_id == "durham_challenged")
    assert "has been handed over to you" in readable(card_for(walk, new))
    assert "Please respond by Tue 24 Nov 2026, 17:00." in readable(card_for(walk, new))
    assert "Your part as Professional in this challenge has been handed over." in readable(
        card_for(walk, old)
    )
    assert "No action needed" in readable(card_for(walk, old))


def test_every_card_and_email_about_the_police_says_to_telephone() -> None:
    # Rochdale's contact table: "All escalations to GMP must include a telephone call to ensure the correct
    # officer is being contacted."
    from cards.challenge import challenge_card
    from process.directory_file import load_directory_file
    from process.engine import Engine
    from process.policy import load_policy
    from tests.support.people import MONDAY_MORNING, police_raise_request

    directory = load_directory_file()
    engine = Engine(load_policy("rochdale"), directory)
    request = police_raise_request()
    decision = engine.raise_challenge(
        request, "ruth", MONDAY_MORNING, challenge_id="p", reference="RBS-2026-0007"
    )
    note = directory.agency("rochdale_police").escalation_note  # type: ignore[union-attr]
    assert note and "telephone call" in note
    for n in decision.notifications:
        card = notification_card(
            n,
            challenge=decision.challenge,
            policy=engine.policy,
            calendar=engine.calendar,
            now=MONDAY_MORNING,
            directory=directory,
            agency_note=note,
        )
        assert note in readable(card)
        _, body = notification_text(
            n,
            challenge=decision.challenge,
            policy=engine.policy,
            calendar=engine.calendar,
            now=MONDAY_MORNING,
            agency_note=note,
        )
        assert note in body
    for audience in ("party", "group"):
        card = challenge_card(
            decision.challenge,
            policy=engine.policy,
            directory=directory,
            calendar=engine.calendar,
            now=MONDAY_MORNING,
            viewer_id="ruth",
            allowed=(),
            audience=audience,  # type: ignore[arg-type]
        )
        assert note in readable(card)


def test_the_raising_side_is_told_plainly_when_a_part_of_the_new_stage_has_nobody() -> None:
    walk = STATES["rochdale: stage 2 with a part nobody holds"]
    told = [n for n in walk.last_notifications if n.recipient.person_id == walk.by(Role.RAISER_LINE_MANAGER)]
    assert told, walk.last_notifications
    _, body = email_for(walk, told[0])
    assert "No person is recorded for the part of Practitioner's line manager: Lou Lonely acts" in body


@pytest.mark.parametrize(("name", "walk", "n"), SENT, ids=[name for name, _, _ in SENT])
def test_every_email_is_plain_text_with_no_markdown_escapes(name: str, walk: Walk, n: Notification) -> None:
    subject, body = email_for(walk, n)
    assert "\\" not in subject and "\\" not in body
    short = walk.policy.short_name
    assert f"Partnership: {walk.policy.partnership} ({short})" in body
    # The card still escapes the same words for Teams' markdown.
    facts = {f["title"]: f["value"] for fs in of_type(card_for(walk, n), "FactSet") for f in fs["facts"]}
    assert facts["Partnership"] == f"{walk.policy.partnership} \\({short}\\)"


def test_durham_raise_says_who_raised_it_about_which_agency_and_the_next_step_with_its_deadline() -> None:
    walk = raised("durham")
    n = sent_to(walk, Role.CHALLENGED_PROFESSIONAL)
    _, body = email_for(walk, n)
    assert "Raised by: Riley Raiser (Raising Agency)" in body
    assert "About: Challenged Agency" in body
    assert "Next step: Charlie Challenged (Professional), to respond, by Tue 24 Nov 2026, 17:00" in body
    assert "Riley Raiser (Raising Agency)" in readable(card_for(walk, n))


def test_a_response_says_who_responded_and_that_the_raising_side_decides_next() -> None:
    walk = escalated_to("durham", 2)
    walk = walk.then(Respond("Will do."), walk.by(Role.CHALLENGED_LINE_MANAGER))
    _, body = email_for(walk, sent_to(walk, Role.RAISER))
    assert "Responded by: Morgan Challengedline (Challenged Agency); the raising side now agrees" in body


def test_a_proposed_outcome_says_who_proposed_it_and_that_it_is_not_yet_agreed() -> None:
    walk = raised("durham")
    walk = walk.then(ProposeOutcome("Report by Friday."), walk.by(Role.CHALLENGED_PROFESSIONAL))
    _, body = email_for(walk, sent_to(walk, Role.RAISER))
    assert "Proposed by: Charlie Challenged (Challenged Agency); not yet agreed by the other side" in body


def test_an_escalation_after_a_missed_deadline_says_the_deadline_passed() -> None:
    walk = STATES["rochdale: stage 1 deadline passed"]
    walk = walk.then(Escalate(REASON, ENTRY_FIELDS["rochdale"].get(2, {})), walk.by(Role.RAISER))
    n = next(n for n in walk.last_notifications if n.kind is NotificationKind.ESCALATED)
    _, body = email_for(walk, n)
    assert "The deadline for stage 1 had passed without resolution." in body
    on_time = escalated_to("rochdale", 2)
    n = next(n for n in on_time.last_notifications if n.kind is NotificationKind.ESCALATED)
    assert "deadline" not in email_for(on_time, n)[1].split("\n")[0]


def _failure_report(walk: Walk, failed: Notification, reason: str) -> tuple[dict[str, object], str, str]:
    """The raiser's report that `failed` could not be delivered: its card (checked valid), subject and body."""
    report = replace(
        failed,
        kind=NotificationKind.DELIVERY_FAILED,
        recipient=walk.challenge.parties[Role.RAISER],
        roles=(Role.RAISER,),
        action_needed=True,
    )
    card = delivery_failed_card(report, failed, challenge=walk.challenge, policy=walk.policy, reason=reason)
    assert_valid_card(card)
    subject, body = delivery_failed_text(
        report, failed, challenge=walk.challenge, policy=walk.policy, reason=reason
    )
    return card, subject, body


def test_a_failure_report_names_who_was_not_told_and_why_without_child_data() -> None:
    walk = raised("durham")
    reason = "Teams: Teams answered 403 (ConversationBlockedByUser); email: no address"
    card, subject, body = _failure_report(walk, sent_to(walk, Role.CHALLENGED_PROFESSIONAL), reason)
    assert subject == "DUR-2026-0042: could not be delivered to Charlie Challenged"
    assert "Charlie Challenged could not be told of DUR-2026-0042" in body
    assert f"Why: {reason}" in body and "Please make sure Charlie Challenged knows" in body
    assert "\\" not in body
    for private in PRIVATE_STRINGS:
        assert private not in body and private not in everything(card), private
    assert [a["title"] for a in button_actions(card)] == ["Open the challenge"]


@pytest.mark.parametrize(
    "name", [name for name in STATES if name.endswith("deadline passed") and STATES[name].challenge.is_open]
)
def test_after_a_missed_deadline_the_next_step_is_never_given_a_deadline_in_the_past(name: str) -> None:
    walk = STATES[name]
    due = walk.challenge.due_at
    assert due is not None and walk.now >= due
    for n in walk.last_notifications:
        subject, body = email_for(walk, n)
        words = subject + "\n" + body + "\n" + readable(card_for(walk, n))
        local = due.astimezone(ZoneInfo("Europe/London"))
        gone = f"{local:%a} {local.day} {local:%b %Y}, {local:%H:%M}"
        # The passed time may be named only as passed: "was due by ...; overdue", "passed at ...".
        for said in re.findall(r"(?<!was due )\bby " + re.escape(gone), words):
            raise AssertionError(f"{n.recipient.name} is asked for something {said!r}: {words}")
        step = next(line for line in body.split("\n") if line.startswith("Next step: "))
        assert step.endswith(f"was due by {gone}; overdue"), step


def test_a_notification_delivered_after_its_deadline_asks_for_it_as_soon_as_possible() -> None:
    walk = raised("durham")
    n = sent_to(walk, Role.CHALLENGED_PROFESSIONAL)
    assert n.due_at is not None
    late = replace(walk, now=n.due_at + timedelta(days=2))
    subject, body = email_for(late, n)
    assert "Please respond as soon as possible (it was due by Tue 24 Nov 2026, 17:00; overdue)." in body
    assert (
        "Next step: Charlie Challenged (Professional), to respond, was due by Tue 24 Nov 2026, 17:00; overdue"
        in body
    )
    assert " by Tue 24 Nov 2026, 17:00" not in subject.replace("was due by", "")


def _report_of(reason: str, role: Role = Role.CHALLENGED_PROFESSIONAL) -> str:
    walk = raised("durham")
    failed = next(n for n in walk.last_notifications if role in n.roles)
    _, _, body = _failure_report(walk, failed, reason)
    return body.split("\n\n")[2]


def test_a_failure_report_with_no_email_set_up_says_so_and_asks_for_no_directory_correction() -> None:
    advice = _report_of(
        "Teams: Teams answered 403 (ConversationBlockedByUser); email: no SMTP server configured"
    )
    assert "This service has no email set up" in advice and "partnership's admin" in advice
    assert "ask them to unblock it, or to add it again" in advice
    assert "directory" not in advice


def test_a_failure_report_asks_for_the_directory_to_be_corrected_only_when_it_lacks_their_details() -> None:
    advice = _report_of("Teams: not reachable in Teams (mailbox or no Teams identity); email: no address")
    assert (
        "The partnership's directory has no Teams account or email address for Charlie Challenged" in advice
    )
    assert "corrected" in advice and "no email set up" not in advice and "unblock" not in advice
    refused = _report_of(
        "Teams: Teams answered 404 (ConversationNotFound); conversation reference marked stale; "
        "email: 550 mailbox unavailable"
    )
    assert "add it again" in refused and "check Charlie Challenged's email address" in refused
    assert "corrected" not in refused
