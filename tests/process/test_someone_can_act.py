"""A mailbox is told; a person acts. Whatever the directory holds, each side of every stage of every shipped
procedure has a person who can act, and the raising side is told plainly when a part has nobody.

Directory shapes: every part held by a person; the challenged agency reached only through mailboxes, its
professional with no manager recorded; and a raiser with no manager and no safeguarding lead recorded.
"""

from __future__ import annotations

import pytest

from process.challenge import Challenge, Escalate, HandOver, Refused, Respond, Side, TakePart
from process.engine import Engine
from process.policy import Role, load_policy, shipped_policies
from tests.support.people import MONDAY_MORNING, holder, raise_request, role_directory

DIRECTORY = role_directory()

SHAPES = {
    "people": lambda p: ({}, holder(p, Role.RAISER)),
    "mailboxes, no manager": lambda p: (
        {"challenged_agency_id": f"{p}_c", "challenged_person_id": f"{p}_lone"},
        holder(p, Role.RAISER),
    ),
    "raiser with no manager": lambda p: ({}, f"{p}_solo"),
    "nobody recorded on either side": lambda p: (
        {"challenged_agency_id": f"{p}_c", "challenged_person_id": f"{p}_lone"},
        f"{p}_solo",
    ),
}

CASES = [(p, shape) for p in shipped_policies() for shape in SHAPES]


def _walk(engine: Engine, partnership: str, shape: str) -> list[tuple[Challenge, tuple[str, ...]]]:
    """The challenge at each stage, escalated by someone who acts for the raising side, with the kinds of the
    events each stage's start recorded."""
    changes, raiser = SHAPES[shape](partnership)
    decision = engine.raise_challenge(
        raise_request(partnership, **changes), raiser, MONDAY_MORNING, challenge_id="c", reference="T-1"
    )
    walked = [(decision.challenge, tuple(e.kind for e in decision.events))]
    policy = engine.policy
    while (nxt := policy.next_stage(walked[-1][0].stage)) is not None:
        c = walked[-1][0]
        stage = policy.stage(c.stage)
        if stage.escalated_by:
            escalator = c.parties[stage.escalated_by[0]].person_id
        else:
            escalator = engine.acting(c, Side.RAISER)[0].contact.person_id
        assert escalator is not None
        fields = {f.id: "Steps taken and what is unresolved." for f in nxt.entry_fields}
        decision = engine.apply(c, Escalate("Unresolved.", fields), escalator, MONDAY_MORNING)
        walked.append((decision.challenge, tuple(e.kind for e in decision.events)))
    return walked


@pytest.mark.parametrize(("partnership", "shape"), CASES)
def test_each_side_of_every_stage_has_a_person_who_can_act(partnership: str, shape: str) -> None:
    engine = Engine(load_policy(partnership), DIRECTORY)
    for challenge, kinds in _walk(engine, partnership, shape):
        for side in Side:
            actors = engine.acting(challenge, side)
            assert actors, (challenge.stage, side)
            assert all(a.contact.person_id is not None for a in actors), (challenge.stage, side, actors)
        # A part nobody (or only a mailbox) holds is recorded at the stage's start, saying who acts instead.
        assert kinds.count("part_vacant") == len(engine.vacancies(challenge)), (challenge.stage, kinds)


@pytest.mark.parametrize(("partnership", "shape"), CASES)
def test_a_mailbox_never_holds_a_part_that_acts_when_a_person_can_be_found(
    partnership: str, shape: str
) -> None:
    engine = Engine(load_policy(partnership), DIRECTORY)
    for challenge, _ in _walk(engine, partnership, shape):
        stage = engine.policy.stage(challenge.stage)
        for role in (*stage.raiser_side, *stage.challenged_side):
            holder_ = challenge.parties.get(role)
            if holder_ is not None and holder_.person_id is None:
                # Only a mailbox could be found: the part is vacant and someone stands in.
                assert role in engine.vacancies(challenge)


def test_rochdale_stage_3_against_mailbox_contacts_has_a_senior_manager_who_can_respond() -> None:
    # The demo's contact table (every Rochdale contact is a mailbox) must not leave "who can respond" empty.
    engine = Engine(load_policy("rochdale"), DIRECTORY)
    request = raise_request(
        "rochdale",
        urgent=True,
        start_stage=3,
        informal_evidence="Two calls, no change.",
        **{
            "challenged_agency_id": "rochdale_c",
            "challenged_person_id": "rochdale_lone",
        },
    )
    c = engine.raise_challenge(
        request, holder("rochdale", Role.RAISER), MONDAY_MORNING, challenge_id="c", reference="T-1"
    ).challenge
    assert Role.CHALLENGED_SENIOR_MANAGER in engine.vacancies(c)
    # The professional, with nobody above them recorded, stands in; the mailbox is told, never asked.
    (actor,) = engine.acting(c, Side.CHALLENGED)
    assert actor.contact.person_id == "rochdale_lone" and actor.standing_in
    responded = engine.apply(c, Respond("We are reviewing it."), "rochdale_lone", MONDAY_MORNING)
    assert responded.challenge.entries[-1].actor_id == "rochdale_lone"


def test_the_agencys_lead_takes_a_part_only_a_mailbox_holds_and_a_clerk_cannot() -> None:
    engine = Engine(load_policy("rochdale"), DIRECTORY)
    request = raise_request(
        "rochdale", challenged_agency_id="rochdale_c", challenged_person_id="rochdale_lone"
    )
    c = engine.raise_challenge(
        request, holder("rochdale", Role.RAISER), MONDAY_MORNING, challenge_id="c", reference="T-1"
    ).challenge
    c = engine.apply(c, Escalate("Unresolved."), holder("rochdale", Role.RAISER), MONDAY_MORNING).challenge
    assert c.parties[Role.CHALLENGED_LINE_MANAGER].person_id is None  # the contact table's mailbox
    # Two parts act at stage 2 on that side and only the mailbox was found: the agency's lead may take them.
    assert engine.takeable_roles(c, "rochdale_c_lead") == (Role.CHALLENGED_LINE_MANAGER,)
    assert engine.takeable_roles(c, "rochdale_c_clerk") == ()
    assert engine.takeable_roles(c, "rochdale_outsider") == ()
    with pytest.raises(Refused, match="no part in this challenge for you to take"):
        engine.apply(c, TakePart(Role.CHALLENGED_LINE_MANAGER), "rochdale_c_clerk", MONDAY_MORNING)
    taken = engine.apply(c, TakePart(Role.CHALLENGED_LINE_MANAGER), "rochdale_c_lead", MONDAY_MORNING)
    c = taken.challenge
    assert c.parties[Role.CHALLENGED_LINE_MANAGER].person_id == "rochdale_c_lead"
    assert [a.contact.person_id for a in engine.acting(c, Side.CHALLENGED)] == ["rochdale_c_lead"]
    told = {n.recipient.person_id or n.recipient.email for n in taken.notifications}
    assert {"rochdale_raiser_lm", "inbox2@rochdale-c.example"} <= told
    # Taking it twice is not possible: the part now has a person.
    with pytest.raises(Refused):
        engine.apply(c, TakePart(Role.CHALLENGED_LINE_MANAGER), "rochdale_c_lead", MONDAY_MORNING)


def test_a_stand_in_can_hand_a_vacant_part_to_the_right_colleague() -> None:
    engine = Engine(load_policy("rochdale"), DIRECTORY)
    c = engine.raise_challenge(
        raise_request("rochdale"), "rochdale_solo", MONDAY_MORNING, challenge_id="c", reference="T-1"
    ).challenge
    c = engine.apply(c, Escalate("Unresolved."), "rochdale_solo", MONDAY_MORNING).challenge
    # Nobody manages Sol: the raiser's line manager's part is vacant and Sol stands in for it.
    assert Role.RAISER_LINE_MANAGER in engine.vacancies(c)
    assert (Role.RAISER_LINE_MANAGER, "vacant") in engine.handable_roles(c, "rochdale_solo")
    c = engine.apply(
        c,
        HandOver(Role.RAISER_LINE_MANAGER, "rochdale_d_deputy", "Covering."),
        "rochdale_solo",
        MONDAY_MORNING,
    ).challenge
    assert [a.contact.person_id for a in engine.acting(c, Side.RAISER)] == ["rochdale_d_deputy"]
