"""The challenge card, for every state of both procedures, as every party and as a group sees it.

Each card is checked by the official Adaptive Cards library; each party card offers exactly the actions the
engine allows that person, with the challenge id and the version shown; no group card names the child or
repeats what anyone wrote.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest

from cards import inputs as ids
from cards import verbs
from cards.challenge import CARD_BUDGET, SHORTENED_NOTE, challenge_card
from process.challenge import MAX_TEXT, ActionKind, Escalate, ProposeOutcome, Respond, Side, Status
from process.policy import Role
from tests.cardcheck import assert_valid_card
from tests.cards.scenarios import (
    DIRECTORY,
    EVIDENCE,
    OUTCOME,
    PRIVATE_STRINGS,
    PROPOSAL,
    Walk,
    all_states,
    button_actions,
    elements,
    escalated_to,
    everything,
    input_ids,
    of_type,
    raised,
    readable,
)
from tests.support.people import INVENTED_CHILD, raise_request

STATES = all_states()
STATE_IDS = [name for name, _ in STATES]
BY_NAME = dict(STATES)

#: The inputs each action's form asks for (escalation adds the next stage's entry fields).
EXPECTED_INPUTS = {
    ActionKind.RESPOND: [ids.TEXT],
    ActionKind.PROPOSE_OUTCOME: [ids.PROPOSED_OUTCOME],
    ActionKind.CONFIRM_OUTCOME: [],
    ActionKind.ESCALATE: [ids.REASON],
    ActionKind.PROPOSE_TIMESCALE: [ids.WORKING_DAYS, ids.NOTE],
    ActionKind.CONFIRM_TIMESCALE: [],
    ActionKind.TAKE_PART: [ids.TAKE_ROLE],
    ActionKind.RECORD_MEETING: [
        ids.HELD_ON,
        ids.ATTENDEES,
        ids.KEY_POINTS,
        ids.ACTIONS_AGREED,
        ids.TIMESCALES,
    ],
    ActionKind.WITHDRAW: [ids.WITHDRAW_REASON],
    ActionKind.HAND_OVER: [ids.ROLE, ids.TO_PERSON_ID, ids.HANDOVER_NOTE],
    ActionKind.CLOSE: [ids.OUTCOME],
}


def party_card(walk: Walk, viewer_id: str, **extra: Any) -> dict[str, Any]:
    """The card `viewer_id` sees in their 1:1 chat, with the engine's answers for them."""
    engine, challenge = walk.engine, walk.challenge
    allowed = engine.allowed_actions(challenge, viewer_id, walk.now)
    viewer = DIRECTORY.person(viewer_id)
    assert viewer is not None
    options: dict[str, Any] = dict(
        policy=walk.policy,
        directory=DIRECTORY,
        calendar=engine.calendar,
        now=walk.now,
        viewer_id=viewer_id,
        allowed=allowed,
        audience="party",
        events=walk.events,
        user_ids=["aad-1", "aad-2"],
        next_contacts=engine.next_escalation_contacts(challenge),
        colleagues=DIRECTORY.colleagues(viewer.agency_id),
        handable=engine.handable_roles(challenge, viewer_id),
        takeable=engine.takeable_roles(challenge, viewer_id),
        vacant=engine.vacancies(challenge),
        decides_alone=engine.decides_outcome_alone(challenge, viewer_id),
    )
    options.update(extra)
    return challenge_card(challenge, **options)


def group_card(walk: Walk, **extra: Any) -> dict[str, Any]:
    options: dict[str, Any] = dict(
        policy=walk.policy,
        directory=DIRECTORY,
        calendar=walk.engine.calendar,
        now=walk.now,
        viewer_id=None,
        allowed=(),
        audience="group",
        events=walk.events,
    )
    options.update(extra)
    return challenge_card(walk.challenge, **options)


def parties(walk: Walk) -> list[str]:
    return sorted({c.person_id for c in walk.challenge.parties.values() if c.person_id})


@pytest.mark.parametrize(("name", "walk"), STATES, ids=STATE_IDS)
def test_every_party_sees_a_valid_card_with_exactly_their_allowed_actions(name: str, walk: Walk) -> None:
    challenge = walk.challenge
    for viewer_id in parties(walk):
        card = party_card(walk, viewer_id)
        assert_valid_card(card)
        allowed = walk.engine.allowed_actions(challenge, viewer_id, walk.now)
        executes = [a for a in button_actions(card) if a["type"] == "Action.Execute"]
        # Every party may export the form, whatever the stage: one button per format.
        exports = [a for a in executes if a["verb"] == verbs.EXPORT]
        assert [a["data"]["format"] for a in exports] == ["pdf", "docx"], viewer_id
        executes = [a for a in executes if a["verb"] != verbs.EXPORT]
        assert {a["verb"] for a in executes} == {verbs.ACTION_VERBS[k] for k in allowed}, viewer_id
        for action in executes:
            assert action["data"] == {"challengeId": challenge.id, "version": challenge.version}
        shown = {a["title"]: a for a in button_actions(card) if a["type"] == "Action.ShowCard"}
        for kind in allowed:
            if kind in (ActionKind.CONFIRM_OUTCOME, ActionKind.CONFIRM_TIMESCALE):
                continue
            form = next(
                s
                for s in shown.values()
                if verbs.ACTION_VERBS[kind] in {x.get("verb") for x in elements(s["card"])}
            )
            expected = list(EXPECTED_INPUTS[kind])
            if kind is ActionKind.ESCALATE:
                target = walk.policy.stage(challenge.stage + 1)
                expected += [f.id for f in target.entry_fields]
            assert input_ids(form["card"]) == expected, (viewer_id, kind)


@pytest.mark.parametrize(("name", "walk"), STATES, ids=STATE_IDS)
def test_party_cards_show_the_child_the_concern_and_what_was_written(name: str, walk: Walk) -> None:
    challenge, policy = walk.challenge, walk.policy
    card = party_card(walk, walk.by(Role.RAISER))
    words = readable(card)
    assert f"{policy.child_fields.name_label}: {INVENTED_CHILD.name}" in words
    assert ("14 Mar 2019" in words) is (walk.policy.child_fields.date_of_birth != "absent")
    assert ("INV-0001" in words) is (walk.policy.child_fields.agency_reference != "absent")
    assert challenge.concern in words and challenge.desired_outcome in words
    for entry in challenge.entries:
        assert entry.text[:200] in words
    for record in challenge.stages:
        assert f"Stage {record.number} of {len(policy.stages)} — {policy.stage(record.number).name}" in words
    assert card["refresh"] == {
        "action": {
            "type": "Action.Execute",
            "verb": verbs.REFRESH,
            "data": {"challengeId": challenge.id, "version": challenge.version},
        },
        "userIds": ["aad-1", "aad-2"],
    }
    for event in walk.events:
        assert event.summary in words


@pytest.mark.parametrize(("name", "walk"), STATES, ids=STATE_IDS)
def test_group_cards_carry_reference_level_facts_only(name: str, walk: Walk) -> None:
    challenge, policy = walk.challenge, walk.policy
    card = group_card(walk)
    assert_valid_card(card)
    text = everything(card)
    for private in PRIVATE_STRINGS:
        assert private not in text, private
    assert not button_actions(card)
    assert "refresh" not in card
    words = readable(card)
    assert challenge.reference in words
    assert policy.partnership in words
    assert (
        f"Stage: Stage {challenge.stage} of {len(policy.stages)} — {policy.stage(challenge.stage).name}"
        in words
    )
    assert "Status: " in words and "Whose move: " in words
    assert f"type show {challenge.reference}" in words


def test_stage_2_card_reads_as_durham_wrote_it() -> None:
    walk = escalated_to("durham", 2)
    card = party_card(walk, walk.by(Role.CHALLENGED_LINE_MANAGER))
    words = readable(card)
    assert "Stage: Stage 2 of 5 — Line Manager" in words
    assert "Due: Thu 26 Nov 2026, 17:00" in words
    assert "Time left: 3 working days left" in words
    assert "Whose move: Morgan Challengedline (Line Manager), to respond" in words
    assert "Line Manager's response" in words
    assert "The IRO's concern" in words and "What we would like to see happening" in words
    assert "Morgan Challengedline (you)" in words


def test_durham_escalation_form_asks_for_the_reasons_for_escalation_to_dscp() -> None:
    walk = escalated_to("durham", 4)
    # 5.4: the Business Manager considers escalation to the Executive; the IRO is not offered it.
    assert not any(
        a["title"] == "Escalate to stage 5" for a in button_actions(party_card(walk, walk.by(Role.RAISER)))
    )
    card = party_card(walk, walk.by(Role.BUSINESS_MANAGER))
    form = next(a for a in button_actions(card) if a["title"] == "Escalate to stage 5")
    words = readable(form["card"])
    assert "Reasons for escalation to DSCP" in words
    assert "Stage 5 of 5 — Escalation to the DSCP Executive" in words
    assert "It will go to: Emery Executive" in words


def test_rochdale_card_shows_the_evidence_of_informal_challenge_under_the_notice_heading() -> None:
    walk = raised("rochdale", urgent_start=4)
    words = readable(party_card(walk, walk.by(Role.RAISER_SENIOR_MANAGER)))
    assert "Evidence of Informal Challenge at Stages 1-2 and the Outcome" in words
    assert EVIDENCE in words
    assert "Steps taken at Stage 3" in words
    assert "Status: Open, urgent" in words


def test_proposed_outcome_is_shown_with_a_confirm_button_to_the_other_side_only() -> None:
    walk = raised("rochdale")
    walk = walk.then(ProposeOutcome(PROPOSAL), walk.by(Role.RAISER))
    other = party_card(walk, walk.by(Role.CHALLENGED_PROFESSIONAL))
    assert PROPOSAL in readable(other)
    assert verbs.CONFIRM in {a.get("verb") for a in button_actions(other)}
    own = party_card(walk, walk.by(Role.RAISER))
    assert verbs.CONFIRM not in {a.get("verb") for a in button_actions(own)}
    assert walk.challenge.awaiting is Side.CHALLENGED


def test_durhams_iro_records_the_stage_1_outcome_alone() -> None:
    # 5.2: "The IRO will decide as to whether this can be resolved informally".
    walk = raised("durham")
    card = party_card(walk, walk.by(Role.RAISER))
    form = next(a for a in button_actions(card) if a["title"] == "Record the outcome")
    assert "the IRO decides whether it is resolved" in readable(form["card"])
    walk = walk.then(ProposeOutcome(PROPOSAL), walk.by(Role.RAISER))
    assert walk.challenge.status is Status.RESOLVED and walk.challenge.agreed_outcome == PROPOSAL


def test_agreed_outcome_and_closure_are_shown_when_the_challenge_has_ended() -> None:
    closed = BY_NAME["durham: stage 5 closed"]
    words = readable(party_card(closed, closed.by(Role.RAISER)))
    assert "Outcome recorded at closure" in words and OUTCOME in words
    assert "Whose move: Nobody: the challenge is closed" in words
    resolved = BY_NAME["rochdale: stage 2 resolved"]
    words = readable(party_card(resolved, resolved.by(Role.RAISER)))
    assert "Agreed outcome" in words and PROPOSAL in words
    assert "Status: Resolved at stage 2: outcome agreed by both sides" in words


def test_a_missed_deadline_is_shown_plainly_as_overdue() -> None:
    late = BY_NAME["rochdale: stage 1 deadline passed"]
    words = readable(group_card(late))
    due = late.challenge.due_at
    assert due is not None and late.now > due
    assert "Time left: Overdue since Mon 7 Dec 2026, 17:00" in words


def test_notice_is_shown_first_and_escaped() -> None:
    walk = raised("durham")
    card = party_card(walk, walk.by(Role.RAISER), notice="Someone else updated this [challenge](http://x).")
    first = card["body"][0]
    assert first["type"] == "Container"
    assert first["items"][0]["text"] == r"Someone else updated this \[challenge\]\(http://x\)."
    assert_valid_card(card)


def test_typed_markdown_cannot_become_a_link_or_heading_on_the_card() -> None:
    walk = raised("durham")
    walk = walk.then(
        Respond("# Big\n[click me](https://example.org) **now**"), walk.by(Role.CHALLENGED_PROFESSIONAL)
    )
    card = party_card(walk, walk.by(Role.RAISER))
    texts = [b["text"] for b in of_type(card, "TextBlock")]
    assert r"\# Big" + "\n" + r"\[click me\]\(https://example.org\) \*\*now\*\*" in texts
    assert_valid_card(card)


def test_hand_over_offers_the_viewers_own_parts_and_those_of_people_they_manage() -> None:
    walk = raised("rochdale")
    manager = walk.by(Role.CHALLENGED_LINE_MANAGER)
    card = party_card(walk, manager)
    form = next(a for a in button_actions(card) if a["title"] == "Hand over")
    choice = next(e for e in elements(form["card"]) if e.get("id") == ids.ROLE)
    roles = {c["value"]: c["title"] for c in choice["choices"]}
    title = walk.policy.role_title(Role.CHALLENGED_LINE_MANAGER)
    assert roles[Role.CHALLENGED_LINE_MANAGER] == f"Your part: {title}"
    assert roles[Role.CHALLENGED_PROFESSIONAL] == "Charlie Challenged's part: Practitioner challenged"
    assert Role.RAISER not in roles


def test_hand_over_without_colleagues_explains_instead_of_offering_an_empty_list() -> None:
    walk = raised("durham")
    card = party_card(walk, walk.by(Role.RAISER), colleagues=())
    form = next(a for a in button_actions(card) if a["title"] == "Hand over")
    assert "nobody to hand over to" in readable(form["card"])
    assert ids.TO_PERSON_ID not in input_ids(form["card"])
    assert_valid_card(card)


def test_timescale_form_is_capped_at_the_stage_limit() -> None:
    walk = raised("rochdale")
    card = party_card(walk, walk.by(Role.RAISER))
    number = of_type(card, "Input.Number")[0]
    assert (number["id"], number["min"], number["max"]) == (ids.WORKING_DAYS, 1, 10)


def test_meeting_form_is_titled_with_the_stage_meeting_and_dated_up_to_today() -> None:
    walk = escalated_to("rochdale", 3)
    card = party_card(walk, walk.by(Role.RAISER_SENIOR_MANAGER), now=walk.now + timedelta(days=1))
    form = next(a for a in button_actions(card) if a["title"] == "Multi-agency discussion")
    held = of_type(form["card"], "Input.Date")[0]
    assert held["max"] == "2026-11-24"
    assert held["min"] == "2026-11-23"
    assert "Chaired by the Head of Safeguarding" in readable(form["card"])


def test_a_challenge_full_of_the_longest_texts_still_fits_on_one_card() -> None:
    def longest(tag: str) -> str:
        return f"{tag} " + "x" * (MAX_TEXT - len(tag) - 1)

    walk = raised("rochdale")
    engine = walk.engine
    request = raise_request(
        "rochdale", concern=longest("c"), desired_outcome=longest("d"), informal_evidence=longest("e")
    )
    decision = engine.raise_challenge(
        request, walk.by(Role.RAISER), walk.now, challenge_id="big", reference="RBS-9"
    )
    walk = Walk("rochdale", engine, decision.challenge, walk.now, decision.events)
    while True:
        stage = walk.policy.stage(walk.challenge.stage)
        walk = walk.then(Respond(longest("r")), walk.by(stage.challenged_side[0]))
        walk = walk.then(ProposeOutcome(longest("p")), walk.by(stage.raiser_side[0]))
        if stage.final:
            break
        target = walk.policy.stage(walk.challenge.stage + 1)
        fields = {f.id: longest("f") for f in target.entry_fields}
        walk = walk.then(
            Escalate(longest("s"), fields), walk.by((stage.escalated_by or stage.raiser_side)[0])
        )
    card = party_card(walk, walk.by(Role.RAISER_SENIOR_MANAGER))
    assert len(everything(card)) <= CARD_BUDGET
    assert SHORTENED_NOTE in readable(card)
    assert_valid_card(card)
    assert SHORTENED_NOTE not in readable(party_card(raised("rochdale"), walk.by(Role.RAISER)))


def test_a_challenge_with_very_many_entries_and_meetings_still_fits_on_one_card() -> None:
    """However many times the sides have written, and however many long meeting notes there are, the card
    keeps within Teams' size: the latest entries are shown, and the card says the rest are in the record."""
    from process.challenge import RecordMeeting

    walk = escalated_to("rochdale", 3)
    stage = walk.policy.stage(3)
    for n in range(150):
        walk = walk.then(Respond(f"Reply {n} 🙂 **not bold** Diolch."), walk.by(stage.challenged_side[0]))
    long = "Cyfarfod " + "y" * (MAX_TEXT - 9)
    for _ in range(6):
        walk = walk.then(
            RecordMeeting(walk.now.date(), long, long, long, long), walk.by(stage.raiser_side[0])
        )
    card = party_card(walk, walk.by(Role.RAISER_SENIOR_MANAGER))
    assert len(everything(card)) <= CARD_BUDGET
    shown = readable(card)
    assert SHORTENED_NOTE in shown and "Reply 149 🙂" in shown and "Reply 0 🙂" not in shown
    assert "earlier entries are kept in the challenge's record" in shown
    assert_valid_card(card)
