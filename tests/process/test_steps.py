"""Steps inside a stage, each with its owner and time: "the team manager sends the form within 3 working days;
the service manager answers within 10 of receiving it" (docs/examples/policies/northshire.yaml)."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest

from cards.challenge import challenge_card
from cards.notification import notification_card, notification_text
from process.challenge import (
    ActionKind,
    ChildDetails,
    CompleteStep,
    Escalate,
    NotificationKind,
    RaiseRequest,
    Refused,
)
from process.directory_file import load_directory_file
from process.engine import Engine
from process.policy import load_policy
from tests.cardcheck import assert_valid_card
from tests.cards.scenarios import readable

EXAMPLES = Path("docs/examples")
MONDAY = datetime(2026, 3, 2, 10, 0, tzinfo=UTC)


def at_stage_2() -> tuple[Engine, object]:
    engine = Engine(
        load_policy(EXAMPLES / "policies" / "northshire.yaml"),
        load_directory_file(EXAMPLES / "directory.yaml"),
    )
    request = RaiseRequest(
        child=ChildDetails("Testcase"),
        challenged_agency_id="nsh_school",
        challenged_person_id="nsh_teacher",
        issue_category="information_sharing",
        concern="Attendance not shared.",
        desired_outcome="Shared weekly.",
    )
    c = engine.raise_challenge(request, "nsh_worker", MONDAY, challenge_id="c", reference="NSH-1").challenge
    return engine, engine.apply(c, Escalate("Unresolved."), "nsh_worker", MONDAY).challenge


def test_each_step_has_its_owner_and_its_time_from_the_step_before() -> None:
    engine, c = at_stage_2()
    assert c.current.due_at == engine.calendar.due_at(MONDAY, 3)  # type: ignore[attr-defined]
    assert ActionKind.COMPLETE_STEP in engine.allowed_actions(c, "nsh_tm", MONDAY)  # type: ignore[arg-type]
    assert ActionKind.COMPLETE_STEP not in engine.allowed_actions(c, "nsh_head", MONDAY)  # type: ignore[arg-type]
    with pytest.raises(Refused, match="Only the referrer's team manager completes this step"):
        engine.apply(c, CompleteStep(), "nsh_head", MONDAY)  # type: ignore[arg-type]
    thursday = datetime(2026, 3, 5, 12, 0, tzinfo=UTC)
    sent = engine.apply(c, CompleteStep("Form sent by email."), "nsh_tm", thursday)  # type: ignore[arg-type]
    c = sent.challenge
    assert c.current.steps_done == 1
    assert c.current.due_at == engine.calendar.due_at(thursday, 10)  # "10 of receiving it"
    asked = {n.recipient.person_id for n in sent.notifications if n.action_needed}
    assert asked == {"nsh_head"}
    assert {n.kind for n in sent.notifications} == {NotificationKind.STEP_DONE}
    answered = engine.apply(c, CompleteStep(), "nsh_head", thursday)
    c = answered.challenge
    assert c.current.steps_done == 2 and c.current.due_at is None and c.next_due_at is None
    assert ActionKind.COMPLETE_STEP not in engine.allowed_actions(c, "nsh_head", thursday)
    with pytest.raises(Refused, match="no step to complete"):
        engine.apply(c, CompleteStep(), "nsh_head", thursday)
    # Cards and messages about it: valid, the step named, the offer only for its owner.
    for n in (*sent.notifications, *answered.notifications):
        card = notification_card(
            n,
            challenge=c,
            policy=engine.policy,
            calendar=engine.calendar,
            now=thursday,
        )
        assert_valid_card(card)
        _, body = notification_text(
            n, challenge=c, policy=engine.policy, calendar=engine.calendar, now=thursday
        )
        assert "done" in body


def test_the_step_owners_card_offers_to_mark_it_done() -> None:
    engine, c = at_stage_2()
    directory = engine.directory
    card = challenge_card(
        c,  # type: ignore[arg-type]
        policy=engine.policy,
        directory=directory,
        calendar=engine.calendar,
        now=MONDAY,
        viewer_id="nsh_tm",
        allowed=engine.allowed_actions(c, "nsh_tm", MONDAY),  # type: ignore[arg-type]
        audience="party",
    )
    assert_valid_card(card)
    words = readable(card)
    assert "Done: The team manager sends the escalation form" in words
    assert "to complete: The team manager sends the escalation form" in words
