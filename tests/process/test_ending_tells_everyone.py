"""An ending (resolved, withdrawn, closed) reaches everyone who has had a part in the challenge at any stage it
reached, so "everyone involved is told" is true: the professional challenged at stage 1 hears that it was
resolved at stage 2. Nobody is told of a challenge whose stages they were never part of."""

from __future__ import annotations

import pytest

from process.challenge import ConfirmOutcome, NotificationKind, ProposeOutcome
from process.policy import Role
from tests.cards.scenarios import all_states, escalated_to

STATES = dict(all_states())
ENDINGS = [name for name in STATES if name.endswith(("resolved", "closed")) or "withdrawn" in name]
ENDING_KINDS = {NotificationKind.RESOLVED, NotificationKind.CLOSED, NotificationKind.WITHDRAWN}


def test_durham_resolved_at_stage_2_tells_the_professional_challenged_at_stage_1() -> None:
    walk = escalated_to("durham", 2)
    walk = walk.then(ProposeOutcome("Line manager's plan."), walk.by(Role.CHALLENGED_LINE_MANAGER))
    walk = walk.then(ConfirmOutcome(), walk.by(Role.RAISER))
    told = {n.recipient.person_id: n for n in walk.last_notifications}
    professional = walk.by(Role.CHALLENGED_PROFESSIONAL)
    assert professional in told, sorted(told)
    assert told[professional].kind is NotificationKind.RESOLVED and not told[professional].action_needed
    assert walk.by(Role.RAISER) not in told  # the one who confirmed it knows


@pytest.mark.parametrize("name", ENDINGS)
def test_an_ending_tells_every_part_of_each_stage_reached_and_nobody_of_a_stage_never_reached(
    name: str,
) -> None:
    walk = STATES[name]
    c, policy = walk.challenge, walk.policy
    assert {n.kind for n in walk.last_notifications} <= ENDING_KINDS
    told = {n.recipient.key for n in walk.last_notifications}
    reached = {record.number for record in c.stages}
    involved: set[str] = set()
    for number in reached:
        stage = policy.stage(number)
        roles = (*stage.raiser_side, *stage.challenged_side, *stage.consult, *stage.informed)
        involved |= {c.parties[r].key for r in (*roles, *policy.copied_in_at(number)) if r in c.parties}
    actor = next((e.actor_id for e in reversed(c.entries)), None)
    missing = {key for key in involved if key != f"person:{actor}"} - told
    assert not missing, missing
    never = {
        contact.key
        for role, contact in c.parties.items()
        if contact.key not in involved and role not in policy.final_stage_notify
    }
    assert not never & told, never & told
