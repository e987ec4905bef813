"""Three procedures of our own invention, each written in the policy schema with no code of its own, checked
and simulated as a partnership would before going live (docs/examples/)."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest

from process.check import check_policy_file
from process.directory_file import load_directory_file
from process.engine import Engine
from process.policy import load_policy
from process.simulate import simulate_files

EXAMPLES = Path("docs/examples")
DIRECTORY = EXAMPLES / "directory.yaml"
SCENARIOS = sorted((EXAMPLES / "scenarios").glob("*.yaml"))


@pytest.mark.parametrize("name", ["northshire", "westmere", "eastbrook"])
def test_each_invented_procedure_passes_the_check_against_its_directory(name: str) -> None:
    assert check_policy_file(EXAMPLES / "policies" / f"{name}.yaml", DIRECTORY) == []


@pytest.mark.parametrize("scenario", SCENARIOS, ids=[s.stem for s in SCENARIOS])
def test_each_invented_scenario_holds_its_expectations(scenario: Path) -> None:
    policy = EXAMPLES / "policies" / f"{scenario.stem.split('_')[0]}.yaml"
    result = simulate_files(policy, DIRECTORY, scenario)
    assert result.failures == ()


def test_northshire_names_its_own_roles() -> None:
    policy = load_policy(EXAMPLES / "policies" / "northshire.yaml")
    assert policy.raiser_role == "referrer" and policy.challenged_role == "case_holder"
    assert policy.role_title("agency_dsl") == "Designated safeguarding lead"


def test_westmere_stage_1_is_48_clock_hours_and_stage_2_follows_the_priority() -> None:
    policy = load_policy(EXAMPLES / "policies" / "westmere.yaml")
    engine = Engine(policy, load_directory_file(DIRECTORY))
    from process.challenge import ChildDetails, Escalate, RaiseRequest, Refused
    from tests.support.people import MONDAY_MORNING

    def raised(priority: str | None):  # type: ignore[no-untyped-def]
        request = RaiseRequest(
            child=ChildDetails("Testcase", MONDAY_MORNING.date() - timedelta(days=3000)),
            challenged_agency_id="wsm_police",
            challenged_person_id="wsm_officer",
            concern="Late actions.",
            desired_outcome="Actions done.",
            priority=priority,
        )
        return engine.raise_challenge(request, "wsm_nurse", MONDAY_MORNING, challenge_id="c", reference="W-1")

    with pytest.raises(Refused, match="Choose the priority"):
        raised(None)
    for priority, days in (("high", 2), ("medium", 5), ("low", 10)):
        c = raised(priority).challenge
        assert c.current.due_at == MONDAY_MORNING + timedelta(hours=48)
        c = engine.apply(c, Escalate("No agreement."), "wsm_nurse", MONDAY_MORNING).challenge
        assert c.current.due_at == engine.calendar.due_at(MONDAY_MORNING, days)


def test_a_chair_may_start_later_with_the_reason_recorded() -> None:
    from cards.raise_form import raise_step_card, validate_raise_step
    from process.challenge import ChildDetails, RaiseRequest, Refused
    from tests.cards.scenarios import readable
    from tests.support.people import MONDAY_MORNING

    policy = load_policy(EXAMPLES / "policies" / "northshire.yaml")
    directory = load_directory_file(DIRECTORY)
    engine = Engine(policy, directory)

    def request(**more: object) -> RaiseRequest:
        return RaiseRequest(
            child=ChildDetails("Testcase"),
            challenged_agency_id="nsh_school",
            challenged_person_id="nsh_teacher",
            issue_category="plan_actions",
            concern="Actions late.",
            desired_outcome="Actions done.",
            start_stage=3,
            **more,  # type: ignore[arg-type]
        )

    with pytest.raises(Refused, match="the chair has consulted their manager"):
        engine.raise_challenge(request(), "nsh_worker", MONDAY_MORNING, challenge_id="c", reference="N-1")
    decision = engine.raise_challenge(
        request(start_reason="Discussed with my manager on Monday; the plan is stalled."),
        "nsh_worker",
        MONDAY_MORNING,
        challenge_id="c",
        reference="N-1",
    )
    c = decision.challenge
    assert c.stage == 3 and c.entries[0].kind == "start_reason"
    assert "(the chair has consulted their manager)" in decision.events[0].summary
    # The form offers the start with its condition, and asks for the reason.
    card = raise_step_card(
        "urgency",
        policies=[policy],
        policy=policy,
        directory=directory,
        values={},
        errors={},
        step_number=4,
        step_count=5,
    )
    assert "(the chair has consulted their manager)" in readable(card)
    errors = validate_raise_step(
        "urgency", {"start_stage": "3"}, policy=policy, directory=directory, today=MONDAY_MORNING.date()
    )
    assert "start_reason" in errors
