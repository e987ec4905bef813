"""Every button pressed by someone the procedure does not allow: the reason is shown, nothing changes.

Run over both procedures with a directory where every role is a different Teams user, so each refusal is
the engine's own, shown on the card that comes back in place of the pressed one.
"""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from bot.wiring import Runtime
from cards import verbs as v
from cards.errors import not_found_card
from cards.inputs import action_inputs
from dialogs.challenge_actions import action_from
from dialogs.replies import CardAction
from process.challenge import ActionKind, Escalate, Refused
from tests.support.people import INVENTED_CHILD, holder, raise_request
from tests.teams.conftest import NOW
from tests.teams.harness import Person, texts

INPUTS: dict[str, dict[str, Any]] = {
    v.RESPOND: {"text": "An answer."},
    v.PROPOSE: {"proposed_outcome": "An outcome."},
    v.CONFIRM: {},
    v.ESCALATE: {"reason": "No progress."},
    v.TIMESCALE: {"working_days": "5", "note": ""},
    v.MEETING: {
        "held_on": "2026-11-23",
        "attendees": "All",
        "key_points": "Points",
        "actions_agreed": "",
        "timescales": "",
    },
    v.WITHDRAW: {"withdraw_reason": "Not needed."},
    v.HAND_OVER: {"role": "raiser", "to_person_id": "durham_raiser_colleague", "handover_note": ""},
    v.CLOSE: {"outcome": "Closed."},
    v.CONFIRM_TIMESCALE: {},
    v.TAKE_PART: {"take_role": "challenged_line_manager"},
    v.COMPLETE_STEP: {"step_note": ""},
}


@pytest.mark.parametrize("partnership", ["durham", "rochdale"])
@pytest.mark.parametrize("actor_suffix", ["outsider", "raiser_sl", "challenged_lm"])
async def test_a_button_the_procedure_does_not_allow_is_refused_with_its_reason(
    everyone: Runtime, partnership: str, actor_suffix: str
) -> None:
    service = everyone.service
    decision = await service.raise_challenge(
        holder(partnership, "raiser"),
        partnership,
        raise_request(partnership, child=INVENTED_CHILD),  # type: ignore[arg-type]
    )
    challenge = decision.challenge
    actor_id = f"{partnership}_{actor_suffix}"
    engine = await service.engine(partnership)
    allowed = engine.allowed_actions(challenge, actor_id, NOW)
    actor = Person(everyone.bot, actor_id, f"aad-{actor_id}")
    refused_verbs = 0
    for verb, inputs in INPUTS.items():
        action = action_from(CardAction(verb, action_inputs(verb, inputs)), service.policy(partnership), 1)
        kind = next(k for k, vb in v.ACTION_VERBS.items() if vb == verb)
        if kind in allowed:
            continue
        with pytest.raises(Refused) as expected:
            engine.apply(challenge, action, actor_id, NOW)
        card = await actor.press(verb, {"challengeId": challenge.id, "version": challenge.version}, **inputs)
        if actor_suffix == "outsider":
            # Someone the procedure does not involve learns nothing, not even that the challenge exists.
            assert card == not_found_card(), (verb, texts(card))
        else:
            assert expected.value.reason in texts(card).replace("\\", ""), (verb, texts(card))
        refused_verbs += 1
        stored = await service.find(challenge.reference)
        assert stored is not None and stored.version == challenge.version and stored.entries == ()
    assert refused_verbs >= 7
    assert ActionKind.RESPOND not in allowed


async def test_taking_a_part_twice_or_from_an_old_card_changes_it_once(everyone: Runtime) -> None:
    # The agency reached only through mailboxes: at stage 2 the line manager's part is vacant, and the
    # agency's lead takes it. A second click, at once or later from the same card, changes nothing.
    service = everyone.service
    request = raise_request(
        "rochdale", challenged_agency_id="rochdale_c", challenged_person_id="rochdale_lone"
    )
    raised = await service.raise_challenge(holder("rochdale", "raiser"), "rochdale", request)
    escalated = await service.act(
        raised.challenge, raised.challenge.version, Escalate("Unresolved."), holder("rochdale", "raiser")
    )
    assert escalated.challenge is not None
    stage_2 = escalated.challenge
    # Two clients of the same person (a double click, or Teams on two devices) press at once.
    lead, same_lead = (Person(everyone.bot, "rochdale_c_lead", "aad-rochdale_c_lead") for _ in range(2))
    card = {"challengeId": stage_2.id, "version": stage_2.version}
    first, second = await asyncio.gather(
        lead.press(v.TAKE_PART, card, take_role="challenged_line_manager"),
        same_lead.press(v.TAKE_PART, card, take_role="challenged_line_manager"),
    )
    later = await lead.press(v.TAKE_PART, card, take_role="challenged_line_manager")
    stored = await service.find(stage_2.id)
    assert stored is not None and stored.version == stage_2.version + 1
    assert stored.parties["challenged_line_manager"].person_id == "rochdale_c_lead"
    taken = [e for e in await service.events(stage_2.id) if e.kind == "part_taken"]
    assert len(taken) == 1
    for answer in (first, second, later):
        assert "RBS-" in texts(answer)  # each click gets the current card back
    # A clerk of that agency, with no part and none to take, learns nothing from a forged button.
    clerk = Person(everyone.bot, "rochdale_c_clerk", "aad-rochdale_c_clerk")
    forged = await clerk.press(
        v.TAKE_PART,
        {"challengeId": stage_2.id, "version": stored.version},
        take_role="challenged_senior_manager",
    )
    assert "Testchild" not in texts(forged) and "INV-0001" not in texts(forged)
    after = await service.find(stage_2.id)
    assert after is not None and after.version == stored.version
