"""`challenge-bot policy simulate`: scenarios run through the real engine, with the clock, as a JSON timeline.

The facts of each shipped scenario (stages, deadlines, who is asked to act) are its own `expect:` blocks, so a
change to the engine's behaviour is answered by updating the scenario file; here the tests hold the JSON's
shape, the exit codes and the rules of the scenario format.
"""

from __future__ import annotations

import itertools
import json
import re
import subprocess
import sys
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from enum import StrEnum
from pathlib import Path
from typing import Any

import pytest
import yaml

from bot.cli import main
from process import challenge
from process.directory_file import DEMO_DIRECTORY, load_directory_file
from process.policy import POLICY_DIR, Role, load_policy
from process.simulate import (
    BadValue,
    ScenarioError,
    SimulationResult,
    load_scenario,
    parse_instant,
    simulate,
)

SCENARIOS = Path(__file__).parents[2] / "process" / "scenarios"
SHIPPED = sorted(SCENARIOS.glob("*.yaml"))

TOP_KEYS = {
    "scenario",
    "title",
    "policy",
    "procedure",
    "timeline",
    "refusals",
    "final",
    "skipped_steps",
    "expectations",
    "ok",
}
ENTRY_KEYS = {
    "step",
    "at",
    "by",
    "action",
    "refused",
    "happened",
    "asked_to_act",
    "told",
    "status",
    "stage",
    "awaiting",
    "due_at",
    "next_due_at",
    "stages",
}
RECIPIENT_KEYS = {"roles", "name", "person_id", "email", "notification"}
STAGE_KEYS = {"number", "name", "started_at", "due_at", "timescale_working_days", "ended_at", "outcome"}


def _run(path: Path) -> SimulationResult:
    scenario = load_scenario(path)
    policy = load_policy(scenario.policy_id)
    return simulate(policy, load_directory_file(DEMO_DIRECTORY), scenario)


def _instant(value: Any) -> datetime:
    assert set(value) == {"utc", "london"}
    utc, london = datetime.fromisoformat(value["utc"]), datetime.fromisoformat(value["london"])
    assert utc.utcoffset() == timedelta(0) and london.utcoffset() in (timedelta(0), timedelta(hours=1))
    assert utc == london
    return utc


def _check_shape(out: dict[str, Any]) -> None:
    assert set(out) == TOP_KEYS
    assert out["timeline"], "a scenario has at least the raising in its timeline"
    previous = None
    for entry in out["timeline"]:
        assert ENTRY_KEYS <= set(entry) <= ENTRY_KEYS | {"note"}
        at = _instant(entry["at"])
        assert previous is None or at >= previous, "the timeline runs forward"
        previous = at
        assert set(entry["by"]) == {"id", "name", "roles"}
        if entry["refused"] is not None:
            assert set(entry["refused"]) == {"reason", "code"} and entry["refused"]["reason"]
            assert entry["happened"] == [] and entry["asked_to_act"] == [] and entry["told"] == []
        else:
            assert entry["happened"] and all(set(h) == {"kind", "summary"} for h in entry["happened"])
        for who in entry["asked_to_act"] + entry["told"]:
            assert set(who) == RECIPIENT_KEYS and who["roles"] and (who["person_id"] or who["email"])
        for key in ("due_at", "next_due_at"):
            if entry[key] is not None:
                _instant(entry[key])
        for record in entry["stages"]:
            assert STAGE_KEYS <= set(record)
            _instant(record["started_at"])
            if record["due_at"] is not None:
                _instant(record["due_at"])
    for refusal in out["refusals"]:
        assert set(refusal) == {"step", "at", "by", "action", "reason", "code"}
    assert len(out["refusals"]) == sum(1 for e in out["timeline"] if e["refused"])
    for expectation in out["expectations"]:
        assert set(expectation) == {"where", "key", "expected", "found", "ok"}
    assert out["ok"] == all(e["ok"] for e in out["expectations"])


def _clock_acts_when_due(out: dict[str, Any]) -> None:
    """Every action of the clock happens exactly at the instant the challenge said it was next due."""
    timeline = out["timeline"]
    for before, entry in itertools.pairwise(timeline):
        if entry["by"]["id"] == "system" and entry["refused"] is None:
            assert before["next_due_at"] == entry["at"], (before, entry)


def test_scenarios_ship_for_both_procedures() -> None:
    names = {p.stem for p in SHIPPED}
    assert {
        "durham_resolved_at_stage_2",
        "durham_untouched",
        "rochdale_urgent_stage_3",
        "rochdale_agreed_timescale",
    } <= names


@pytest.mark.parametrize("path", SHIPPED, ids=[p.stem for p in SHIPPED])
def test_each_shipped_scenario_holds_its_expectations(path: Path) -> None:
    result = _run(path)
    assert result.failures == ()
    out = result.output
    _check_shape(out)
    _clock_acts_when_due(out)
    json.dumps(out)  # all of it is JSON
    assert len(out["expectations"]) >= 5, "a shipped scenario states what should happen"
    assert out["final"] is not None and out["skipped_steps"] == []
    raw = yaml.safe_load(path.read_text())
    assert raw["raise"]["child"]["name"] == "Testcase", "the child in a scenario is invented"
    assert {"at", "by"} <= set(raw["raise"])


@pytest.mark.parametrize("path", SHIPPED, ids=[p.stem for p in SHIPPED])
def test_each_shipped_scenario_runs_through_the_command(path: Path) -> None:
    policy = yaml.safe_load(path.read_text())["policy"]
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "bot",
            "policy",
            "simulate",
            str(POLICY_DIR / f"{policy}.yaml"),
            "--directory",
            str(DEMO_DIRECTORY),
            "--scenario",
            str(path),
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert done.stderr == ""
    out = json.loads(done.stdout)
    _check_shape(out)
    assert out["ok"] is True and out["policy"] == policy
    assert done.stdout.startswith('{\n  "scenario": ')  # indented by 2


def _scenario(tmp_path: Path, data: dict[str, Any], name: str = "scenario.yaml") -> Path:
    path = tmp_path / name
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return path


def _durham(**raise_changes: Any) -> dict[str, Any]:
    return {
        "policy": "durham",
        "raise": {
            "at": "2026-03-02 09:30",
            "by": "alex",
            "challenged_agency_id": "health_visiting",
            "challenged_person_id": "megan",
            "issue_category": "lack_of_report",
            "concern": "No report.",
            "desired_outcome": "A report.",
            "child": {"name": "Testcase"},
            **raise_changes,
        },
        "steps": [],
    }


def _simulate(path: Path, capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    code = main(
        [
            "policy",
            "simulate",
            str(POLICY_DIR / "durham.yaml"),
            "--directory",
            str(DEMO_DIRECTORY),
            "--scenario",
            str(path),
        ]
    )
    out, err = capsys.readouterr()
    return code, out, err


def test_an_expectation_that_fails_exits_1_and_says_which(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    data = _durham()
    data["steps"] = [
        {"at": "2026-03-02 10:00", "by": "megan", "do": "respond", "text": "Soon.", "expect": {"stage": 4}},
    ]
    data["expect"] = {"status": "withdrawn", "refusals": 0}
    code, out, err = _simulate(_scenario(tmp_path, data), capsys)
    assert code == 1
    result = json.loads(out)
    assert result["ok"] is False
    assert [(e["where"], e["key"], e["ok"]) for e in result["expectations"]] == [
        ("step 1 (respond by megan)", "stage", False),
        ("end", "status", False),
        ("end", "refusals", True),
    ]
    failures = err.splitlines()
    assert len(failures) == 2
    assert failures[0].startswith(
        f"{tmp_path / 'scenario.yaml'}: step 1 (respond by megan): expected stage 4, "
    )
    assert failures[1].startswith(f"{tmp_path / 'scenario.yaml'}: end: expected status 'withdrawn', found ")


def test_a_refusal_is_recorded_and_the_scenario_goes_on(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    data = _durham()
    data["steps"] = [
        {
            "at": "2026-03-02 10:00",
            "by": "megan",
            "do": "escalate",
            "reason": "Not mine to do.",
            "expect": {"refused": True},
        },
        {
            "at": "2026-03-02 10:05",
            "by": "meganb@example.com",
            "do": "respond",
            "text": "Report on its way.",
            "expect": {"refused": False},
        },
    ]
    data["expect"] = {"refusals": 1}
    code, out, _ = _simulate(_scenario(tmp_path, data), capsys)
    assert code == 0
    result = json.loads(out)
    _check_shape(result)
    refused, answered = result["timeline"][1], result["timeline"][2]
    assert refused["refused"] is not None and answered["refused"] is None
    assert answered["by"]["id"] == "megan" and answered["by"]["name"] == "Megan Bowen"  # found by email
    assert [r["step"] for r in result["refusals"]] == [1]


def test_a_refused_raise_skips_the_steps_and_their_expectations_fail(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    data = _durham(by="someone-not-in-the-directory", expect={"refused": True})
    data["steps"] = [{"wait_until": "2026-03-10 17:00", "expect": {"stage": 2}}]
    data["expect"] = {"refusals": 1}
    code, out, err = _simulate(_scenario(tmp_path, data), capsys)
    result = json.loads(out)
    assert code == 1 and result["skipped_steps"] == [1] and result["final"] is None
    assert [e["ok"] for e in result["expectations"]] == [True, False, True]
    assert err.count("\n") == 1 and "step 1 (wait until" in err and "the challenge was not raised" in err
    assert result["timeline"][0]["by"] == {"id": "someone-not-in-the-directory", "name": None, "roles": []}
    _check_shape(result)


def test_wait_until_runs_the_clock_at_each_due_instant(tmp_path: Path) -> None:
    data = _durham()
    data["steps"] = [{"wait_until": "2026-04-30 17:00"}]
    out = _run(_scenario(tmp_path, data)).output
    clock = [e for e in out["timeline"] if e["by"]["id"] == "system"]
    assert clock and all(e["step"] == 1 for e in clock)
    _clock_acts_when_due(out)
    assert out["final"]["next_due_at"] is None or _instant(out["final"]["next_due_at"]) > datetime(
        2026, 4, 30, 16, tzinfo=UTC
    )


def test_the_clock_also_runs_before_a_person_acts(tmp_path: Path) -> None:
    data = _durham()
    data["steps"] = [{"at": "2026-03-20 10:00", "by": "alex", "do": "withdraw", "reason": "Report received."}]
    out = _run(_scenario(tmp_path, data)).output
    assert out["timeline"][0]["by"]["id"] == "alex"
    assert out["timeline"][-1]["action"] == "withdraw"
    assert any(e["by"]["id"] == "system" for e in out["timeline"][1:-1])
    _clock_acts_when_due(out)


def test_the_scenario_must_be_for_the_policy_given(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    data = _durham()
    data["policy"] = "rochdale"
    code, out, err = _simulate(_scenario(tmp_path, data), capsys)
    assert code == 2 and out == "" and "the scenario is for 'rochdale', the policy file is 'durham'" in err


def test_every_mistake_in_a_scenario_is_listed_and_exits_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    data = _durham(at="2026-03-29 01:30", child={"name": "Testcase", "date_of_birth": "last spring"})
    data["colour"] = "blue"
    data["steps"] = [
        {"at": "2026-03-02", "by": "megan", "do": "reply"},
        {"at": "2026-03-03 10:00", "by": "alex", "do": "escalate", "reasons": "typo"},
        {"at": "2026-03-03 10:00", "by": "alex", "do": "propose_timescale", "working_days": "five"},
        {"wait_until": "2026-03-04 10:00", "by": "alex"},
    ]
    data["expect"] = {"colour": "red"}
    code, out, err = _simulate(_scenario(tmp_path, data), capsys)
    assert code == 2 and out == ""
    for words in (
        "colour is not a scenario key",
        "raise.at: 2026-03-29 01:30:00 is skipped or repeated when London's clocks change",
        "raise.child.date_of_birth: 'last spring' is not a date",
        "step 1.at: 2026-03-02 is a day; give the time too",
        "step 1: do 'reply' is not an action; actions: respond, ",
        "step 2: reasons is not a field of Escalate; its fields: reason, fields",
        "step 3.working_days: 'five' is not a whole number",
        "step 4: a wait_until step has only note and expect besides; found by",
        "expect: colour cannot be expected",
    ):
        assert words in err, (words, err)


def test_a_role_the_policy_does_not_declare_is_a_mistake_in_the_scenario(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    data = _durham()
    data["steps"] = [
        {"at": "2026-03-05 10:00", "by": "adele", "do": "hand_over", "role": "boss", "to_person_id": "isaiah"}
    ]
    code, out, err = _simulate(_scenario(tmp_path, data), capsys)
    assert code == 2 and out == ""
    assert "step 1.role: 'boss' is not one of raiser, challenged_professional, " in err


def test_steps_go_forward_in_time(tmp_path: Path) -> None:
    data = _durham()
    data["steps"] = [
        {"wait_until": "2026-03-05 17:00"},
        {"at": "2026-03-04 10:00", "by": "alex", "do": "withdraw", "reason": "Too late."},
    ]
    with pytest.raises(
        ScenarioError, match=re.escape("step 2: 2026-03-04T10:00:00+00:00 is before the step before it")
    ):
        load_scenario(_scenario(tmp_path, data))


def test_instants_naive_are_london_time_and_offsets_are_kept() -> None:
    assert parse_instant("2026-07-01 09:00") == datetime(2026, 7, 1, 8, tzinfo=UTC)  # BST
    assert parse_instant("2026-01-05 09:00") == datetime(2026, 1, 5, 9, tzinfo=UTC)  # GMT
    assert parse_instant("2026-07-01T09:00:00+00:00") == datetime(2026, 7, 1, 9, tzinfo=UTC)
    assert parse_instant("2026-07-01T09:00:00Z") == datetime(2026, 7, 1, 9, tzinfo=UTC)
    assert parse_instant(datetime(2026, 7, 1, 9)) == datetime(2026, 7, 1, 8, tzinfo=UTC)  # YAML's own
    for bad in ("2026-10-25 01:30", "2026-03-29 01:30", "2026-07-01", date(2026, 7, 1), "soon", 7):
        with pytest.raises(BadValue):
            parse_instant(bad)


class _NewKind(StrEnum):
    NUDGE = "nudge"


@dataclass(frozen=True)
class Nudge:
    """An action the engine does not know yet, with a field of every kind a scenario converts."""

    text: str
    held_on: date
    days: int
    role: Role
    fields: Mapping[str, str] = field(default_factory=dict)
    urgent: bool = False
    named: str | None = None
    also: tuple[Role, ...] = ()


def test_a_new_action_class_is_written_in_a_scenario_without_changes(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(challenge.ACTION_KINDS, Nudge, _NewKind.NUDGE)  # type: ignore[index]
    data = _durham()
    data["steps"] = [
        {
            "at": "2026-03-02 10:00",
            "by": "alex",
            "do": "nudge",
            "text": 42,
            "held_on": "2026-03-02",
            "days": 3,
            "role": "raiser_line_manager",
            "fields": {"why": "because"},
            "urgent": True,
            "also": ["raiser", "executive"],
        }
    ]
    (step,) = load_scenario(_scenario(tmp_path, data)).steps
    assert step.action == Nudge(
        text="42",
        held_on=date(2026, 3, 2),
        days=3,
        role=Role.RAISER_LINE_MANAGER,
        fields={"why": "because"},
        urgent=True,
        also=(Role.RAISER, Role.EXECUTIVE),
    )
    data["steps"][0].pop("days")
    with pytest.raises(ScenarioError, match="step 1: days is needed"):
        load_scenario(_scenario(tmp_path, data))
