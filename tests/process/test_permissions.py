"""Every stage x action x role, allowed and refused, for both procedures.

The expected permissions are written here from the procedures themselves (not read from the policy files),
so a policy file or engine that drifts from the seeds fails these tests.
"""

from __future__ import annotations

import itertools
from dataclasses import replace
from datetime import timedelta

import pytest

from process.challenge import (
    Action,
    ActionKind,
    Challenge,
    Close,
    ConfirmOutcome,
    Escalate,
    HandOver,
    ProposeOutcome,
    ProposeTimescale,
    RecordMeeting,
    Refused,
    Respond,
    Withdraw,
)
from process.engine import PERSON_ACTIONS, Engine
from process.policy import Role, load_policy
from tests.support.people import MONDAY_MORNING, ROLE_HOLDERS, holder, raise_request, role_directory

R = Role

# Who acts on each side at each stage, as the procedures say.
PROCEDURES = {
    "durham": {
        "stages": {
            1: ({R.RAISER}, {R.CHALLENGED_PROFESSIONAL}),
            2: ({R.RAISER}, {R.CHALLENGED_LINE_MANAGER}),
            3: ({R.RAISER, R.BUSINESS_MANAGER}, {R.CHALLENGED_SAFEGUARDING_LEAD}),
            # Stage 4 is "a further meeting" with the agency; the procedure names no senior manager.
            4: ({R.RAISER, R.BUSINESS_MANAGER}, {R.CHALLENGED_SAFEGUARDING_LEAD}),
            5: ({R.BUSINESS_MANAGER, R.RAISER}, {R.EXECUTIVE}),
        },
        "meetings": {3: set(), 4: set()},
        # 5.4: the Business Manager considers escalation to the Executive.
        "escalated_by": {4: {R.BUSINESS_MANAGER}},
        "closed_by": {R.EXECUTIVE, R.BUSINESS_MANAGER},
        "agreed_timescales": False,
        "either_side_escalates": False,
        "entry_fields": {5: {"reasons_for_escalation": "The agency has not attended three conferences."}},
    },
    "rochdale": {
        "stages": {
            1: ({R.RAISER}, {R.CHALLENGED_PROFESSIONAL}),
            2: ({R.RAISER_LINE_MANAGER}, {R.CHALLENGED_LINE_MANAGER}),
            3: ({R.RAISER_SENIOR_MANAGER}, {R.CHALLENGED_SENIOR_MANAGER}),
            4: ({R.RAISER_SENIOR_MANAGER}, {R.CHALLENGED_SENIOR_MANAGER}),
        },
        # The chair, and at stage 4 those who close it (the Business Manager explores it with the Executive).
        "meetings": {
            3: {R.HEAD_OF_SAFEGUARDING},
            4: {R.INDEPENDENT_SCRUTINEER, R.BUSINESS_MANAGER},
        },
        "closed_by": {R.BUSINESS_MANAGER, R.INDEPENDENT_SCRUTINEER},
        "agreed_timescales": True,
        "either_side_escalates": True,
        "entry_fields": {
            4: {
                "stage_3_steps": "A multi-agency discussion was held.",
                "unresolved_elements": "School transport.",
            }
        },
    },
}


def expected_actions(
    partnership: str, stage: int, roles: set[Role], *, proposal_side: str | None
) -> set[ActionKind]:
    spec = PROCEDURES[partnership]
    raiser_side, challenged_side = spec["stages"][stage]
    final = stage == max(spec["stages"])
    on_raiser, on_challenged = bool(roles & raiser_side), bool(roles & challenged_side)
    side = "challenged" if on_challenged else "raiser" if on_raiser else None
    allowed: set[ActionKind] = set()
    if side == "challenged":
        allowed.add(ActionKind.RESPOND)
    if side:
        allowed.add(ActionKind.PROPOSE_OUTCOME)
        if proposal_side is not None and side != proposal_side:
            allowed.add(ActionKind.CONFIRM_OUTCOME)
        if spec["agreed_timescales"]:
            allowed.add(ActionKind.PROPOSE_TIMESCALE)
    escalators = spec.get("escalated_by", {}).get(stage)  # type: ignore[attr-defined]
    if escalators is not None:
        if roles & escalators:
            allowed.add(ActionKind.ESCALATE)
    elif not final and (side == "raiser" or (side and spec["either_side_escalates"])):
        allowed.add(ActionKind.ESCALATE)
    if stage in spec["meetings"] and (side or roles & spec["meetings"][stage]):
        allowed.add(ActionKind.RECORD_MEETING)
    if R.RAISER in roles:
        allowed.add(ActionKind.WITHDRAW)
    if roles:
        allowed.add(ActionKind.HAND_OVER)
    if final and roles & spec["closed_by"]:
        allowed.add(ActionKind.CLOSE)
    return allowed


def engine_for(partnership: str) -> Engine:
    return Engine(load_policy(partnership), role_directory())


def at_stage(engine: Engine, partnership: str, stage: int) -> Challenge:
    """A challenge walked up to `stage` by escalations, each by the raiser side's first person."""
    decision = engine.raise_challenge(
        raise_request(partnership),
        holder(partnership, R.RAISER),
        MONDAY_MORNING,
        challenge_id="c1",
        reference="T-1",
    )
    challenge = decision.challenge
    fields = PROCEDURES[partnership]["entry_fields"]
    for target in range(2, stage + 1):
        raiser_side = sorted(PROCEDURES[partnership]["stages"][target - 1][0])
        escalators = load_policy(partnership).stage(target - 1).escalated_by
        actor = holder(partnership, escalators[0] if escalators else raiser_side[0])
        action = Escalate("No resolution at this stage.", fields.get(target, {}))
        challenge = engine.apply(challenge, action, actor, MONDAY_MORNING).challenge
    assert challenge.stage == stage
    return challenge


def action_for(kind: ActionKind, partnership: str, actor_roles: set[Role], stage: int) -> Action:
    today = MONDAY_MORNING.date()
    if kind is ActionKind.HAND_OVER:
        role = sorted(actor_roles)[0] if actor_roles else R.CHALLENGED_PROFESSIONAL
        if role in load_policy(partnership).partnership_roles:
            to = f"{partnership}_unit_colleague"
        elif role.startswith("raiser"):
            to = f"{partnership}_raiser_colleague"
        else:
            to = f"{partnership}_challenged_colleague"
        return HandOver(role, to)
    fields = PROCEDURES[partnership]["entry_fields"].get(stage + 1, {})
    return {
        ActionKind.RESPOND: Respond("The report will be sent by Friday."),
        ActionKind.PROPOSE_OUTCOME: ProposeOutcome("Report shared with the family by Friday 17:00."),
        ActionKind.CONFIRM_OUTCOME: ConfirmOutcome(),
        ActionKind.ESCALATE: Escalate("Still no report.", fields),
        ActionKind.PROPOSE_TIMESCALE: ProposeTimescale(5),
        ActionKind.RECORD_MEETING: RecordMeeting(
            today, "Both agencies", "Report delays", "Send report", "5 days"
        ),
        ActionKind.WITHDRAW: Withdraw("Resolved by phone."),
        ActionKind.CLOSE: Close("The Executive asked the agency for an improvement plan."),
    }[kind]


CASES = [(partnership, stage) for partnership, spec in PROCEDURES.items() for stage in spec["stages"]]


def roles_by_person(partnership: str) -> dict[str, set[Role]]:
    declared = {r.id for r in load_policy(partnership).roles}
    people: dict[str, set[Role]] = {f"{partnership}_outsider": set()}
    for role in ROLE_HOLDERS:
        if role in declared:
            people.setdefault(holder(partnership, role), set()).add(role)
    return people


@pytest.mark.parametrize(("partnership", "stage"), CASES)
@pytest.mark.parametrize("with_proposal", [False, True])
def test_allowed_actions_match_the_procedure(partnership: str, stage: int, with_proposal: bool) -> None:
    engine = engine_for(partnership)
    challenge = at_stage(engine, partnership, stage)
    proposal_side = None
    if with_proposal:
        proposer = holder(partnership, sorted(PROCEDURES[partnership]["stages"][stage][1])[0])
        challenge = engine.apply(
            challenge, ProposeOutcome("Agreed plan."), proposer, MONDAY_MORNING
        ).challenge
        proposal_side = "challenged"
    for person, roles in roles_by_person(partnership).items():
        expected = expected_actions(partnership, stage, roles, proposal_side=proposal_side)
        assert set(engine.allowed_actions(challenge, person, MONDAY_MORNING)) == expected, (
            person,
            sorted(roles),
        )


@pytest.mark.parametrize(("partnership", "stage"), CASES)
def test_every_action_by_every_role_is_applied_or_refused_as_the_procedure_says(
    partnership: str, stage: int
) -> None:
    engine = engine_for(partnership)
    base = at_stage(engine, partnership, stage)
    proposer = holder(partnership, sorted(PROCEDURES[partnership]["stages"][stage][1])[0])
    with_proposal = engine.apply(base, ProposeOutcome("Agreed plan."), proposer, MONDAY_MORNING).challenge
    later = MONDAY_MORNING + timedelta(hours=1)
    # A confirmation needs a proposal, taking a part a vacancy, and neither procedure has steps: each is
    # tested on its own.
    unprepared = (ActionKind.CONFIRM_TIMESCALE, ActionKind.TAKE_PART, ActionKind.COMPLETE_STEP)
    person_actions = [k for k in PERSON_ACTIONS if k not in unprepared]
    for (person, roles), kind in itertools.product(roles_by_person(partnership).items(), person_actions):
        challenge = with_proposal if kind is ActionKind.CONFIRM_OUTCOME else base
        proposal_side = "challenged" if kind is ActionKind.CONFIRM_OUTCOME else None
        allowed = kind in expected_actions(partnership, stage, roles, proposal_side=proposal_side)
        action = action_for(kind, partnership, roles, stage)
        if allowed:
            decision = engine.apply(challenge, action, person, later)
            assert decision.challenge.version == challenge.version + 1, (person, kind)
            assert decision.events, (person, kind)
        else:
            with pytest.raises(Refused) as refused:
                engine.apply(challenge, action, person, later)
            assert refused.value.reason.endswith("."), refused.value.reason


@pytest.mark.parametrize("partnership", ["durham", "rochdale"])
def test_nothing_can_be_done_on_a_withdrawn_challenge(partnership: str) -> None:
    engine = engine_for(partnership)
    challenge = at_stage(engine, partnership, 1)
    raiser = holder(partnership, R.RAISER)
    withdrawn = engine.apply(challenge, Withdraw("Sorted out by phone."), raiser, MONDAY_MORNING).challenge
    for person in roles_by_person(partnership):
        assert engine.allowed_actions(withdrawn, person, MONDAY_MORNING) == ()
    with pytest.raises(Refused) as refused:
        engine.apply(
            withdrawn, Respond("late"), holder(partnership, R.CHALLENGED_PROFESSIONAL), MONDAY_MORNING
        )
    assert refused.value.code == "closed"


def test_a_party_holding_two_roles_acts_for_the_side_that_acts_at_the_stage() -> None:
    engine = engine_for("durham")
    challenge = at_stage(engine, "durham", 3)
    # The business manager also covers for the raiser: they are on the raiser side either way.
    bm = holder("durham", R.BUSINESS_MANAGER)
    doubled = replace(
        challenge, parties={**challenge.parties, R.RAISER: challenge.parties[R.BUSINESS_MANAGER]}
    )
    assert ActionKind.WITHDRAW in engine.allowed_actions(doubled, bm, MONDAY_MORNING)
    assert ActionKind.RESPOND not in engine.allowed_actions(doubled, bm, MONDAY_MORNING)


# ----- who may know of a challenge at all ---------------------------------------------------------------------

#: Who knows of a challenge raised by `{p}_raiser` (agency a) against `{p}_challenged` (agency b), at every
#: stage: the parties, the partnership's post holders, the agencies' leads and the managers up each line.
INVOLVED = {
    "raiser",
    "raiser_lm",
    "raiser_sm",
    "raiser_sl",
    "challenged",
    "challenged_lm",
    "challenged_sm",
    "challenged_sl",
    "bm",
    "admin",
    "hos",
    "scrutineer",
    "executive",
    "qrt",
}
#: Who does not: colleagues with no part, the partnership unit's other staff, other agencies' people.
STRANGERS = {
    "raiser_colleague",
    "challenged_colleague",
    "outsider",
    "unit_colleague",
    "lone",
    "c_lead",
    "c_clerk",
    "solo",
    "d_deputy",
}


@pytest.mark.parametrize(("partnership", "stage"), CASES)
def test_only_those_the_procedure_involves_may_know_of_a_challenge(partnership: str, stage: int) -> None:
    engine = engine_for(partnership)
    challenge = at_stage(engine, partnership, stage)
    other = "rochdale" if partnership == "durham" else "durham"
    for suffix in INVOLVED:
        assert engine.may_see(challenge, f"{partnership}_{suffix}"), suffix
    for suffix in STRANGERS | INVOLVED:
        # Nobody of the other partnership, not even its business manager, nor anyone unknown.
        assert not engine.may_see(challenge, f"{other}_{suffix}"), f"{other}_{suffix}"
    for suffix in STRANGERS:
        assert not engine.may_see(challenge, f"{partnership}_{suffix}"), suffix
    assert not engine.may_see(challenge, "not-in-the-directory")
    assert not engine.may_see(challenge, None)
    assert not engine.may_see(challenge, "system")
    # Someone who acted on it (and handed their part over) knows of it already.
    assert engine.may_see(challenge, f"{partnership}_raiser_colleague", has_acted=True)


def test_the_mailbox_agencys_lead_may_know_of_a_challenge_to_it_and_its_clerk_may_not() -> None:
    # The agency reached through mailboxes: its safeguarding lead may take the vacant parts, so knows of it.
    engine = engine_for("rochdale")
    request = raise_request(
        "rochdale", challenged_agency_id="rochdale_c", challenged_person_id="rochdale_lone"
    )
    challenge = engine.raise_challenge(
        request, holder("rochdale", R.RAISER), MONDAY_MORNING, challenge_id="c2", reference="T-2"
    ).challenge
    assert engine.may_see(challenge, "rochdale_c_lead")
    assert not engine.may_see(challenge, "rochdale_c_clerk")


# ----- refusals in the procedure's words --------------------------------------------------------------------


def test_escalating_out_of_turn_names_who_decides_in_the_procedures_words() -> None:
    durham = engine_for("durham")
    challenge = at_stage(durham, "durham", 1)
    with pytest.raises(Refused) as refused:
        durham.apply(
            challenge, Escalate("Please."), holder("durham", R.CHALLENGED_PROFESSIONAL), MONDAY_MORNING
        )
    # 5.2: "The IRO will decide as to whether this can be resolved informally and if not will instigate Stage 2."
    assert refused.value.reason == (
        "Under the DSCP procedure, at stage 1 (Informal discussion) escalation is for the IRO (Riley Raiser) "
        "to decide."
    )
    rochdale = engine_for("rochdale")
    challenge = at_stage(rochdale, "rochdale", 2)
    with pytest.raises(Refused) as refused:
        rochdale.apply(challenge, Escalate("Please."), holder("rochdale", R.RAISER), MONDAY_MORNING)
    # "the concern should be referred by each worker to their respective line manager": either side.
    assert refused.value.reason == (
        "Under the RBSCP procedure, at stage 2 (Line Manager to Line Manager) escalation is for either side "
        "to decide: the raiser's line manager (Lee Raiserline) or the practitioner's line manager "
        "(Morgan Challengedline)."
    )


#: The parts each procedure names, in its own words (Durham: sections 4-5 and the Compliance Challenge Form;
#: Rochdale: the stages, the contact table and the Resolution Notice).
PROCEDURE_ROLE_TITLES = {
    "durham": {
        "IRO",
        "Professional",
        "Line Manager",
        "Agency Safeguarding Lead",
        "DSCP Business Manager",
        "Business Manager for QRT",
        "DSCP Executive",
        "IRO Service Manager",  # 5.5: "the IRO Service Manager would consider escalating the issue"
    },
}


@pytest.mark.parametrize("partnership", sorted(PROCEDURE_ROLE_TITLES))
def test_role_titles_are_the_procedures_own(partnership: str) -> None:
    titles = {role.title for role in load_policy(partnership).roles}
    assert titles <= PROCEDURE_ROLE_TITLES[partnership], titles - PROCEDURE_ROLE_TITLES[partnership]
