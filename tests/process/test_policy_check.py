"""`challenge-bot policy check`: every problem of a policy file, one per line, before it goes live."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml

from bot.cli import main
from process import check
from process.check import CHECKS, Problem, check_policy_file
from process.directory_file import DEMO_DIRECTORY
from process.policy import POLICY_DIR, shipped_policies

Change = Callable[[dict[str, Any]], object]


def _write(tmp_path: Path, base: str, change: Change, name: str = "ours.yaml") -> Path:
    data = yaml.safe_load((POLICY_DIR / f"{base}.yaml").read_text())
    change(data)
    path = tmp_path / name
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return path


def _lines(problems: list[Problem]) -> list[str]:
    return [str(p) for p in problems]


@pytest.mark.parametrize("name", shipped_policies())
def test_the_shipped_policies_have_no_problems_with_the_demo_directory(name: str) -> None:
    assert check_policy_file(POLICY_DIR / f"{name}.yaml", DEMO_DIRECTORY) == []
    assert check_policy_file(POLICY_DIR / f"{name}.yaml") == []


def test_every_schema_problem_is_listed_on_its_own_line_with_its_line_number(tmp_path: Path) -> None:
    def break_three_things(d: dict[str, Any]) -> None:
        d["nation"] = "FRA"
        d["stages"][1]["limit_working_days"] = "ten"
        d["stages"][2]["raiser_side"] = [7]
        del d["stages"][3]["name"]

    path = _write(tmp_path, "rochdale", break_three_things)
    problems = check_policy_file(path)
    fields = [p.field for p in problems]
    assert fields == ["nation", "stages.1.limit_working_days", "stages.2.raiser_side.0", "stages.3.name"]
    text = path.read_text().splitlines()
    for problem in problems:
        assert problem.file == str(path)
        assert ";" not in problem.reason
        line = int(problem.reason.rsplit("(line ", 1)[1].rstrip(")"))
        key = problem.field.split(".")[-1]
        if not key.isdigit() and key != "name":  # a missing field is reported at its stage
            assert text[line - 1].lstrip(" -").startswith(f"{key}:"), (problem, text[line - 1])
    assert "(got 7)" in problems[2].reason and "(got 'FRA')" in problems[0].reason
    assert str(problems[0]).startswith(f"{path}: field nation: Input should be")


def test_a_yaml_error_names_its_line(tmp_path: Path) -> None:
    path = tmp_path / "broken.yaml"
    path.write_text("id: ours\nstages:\n  - number: 1\n    name: [unclosed\n")
    (problem,) = check_policy_file(path)
    assert problem.field == "(top level)" and "not valid YAML at line 5" in problem.reason


def test_a_file_that_is_not_a_mapping_or_not_there(tmp_path: Path) -> None:
    path = tmp_path / "list.yaml"
    path.write_text("- one\n- two\n")
    assert "expected a mapping" in check_policy_file(path)[0].reason
    assert "cannot read the file" in check_policy_file(tmp_path / "missing.yaml")[0].reason


def test_a_key_given_twice_is_reported_with_both_lines(tmp_path: Path) -> None:
    path = tmp_path / "twice.yaml"
    source = (POLICY_DIR / "durham.yaml").read_text()
    path.write_text(source.replace("nation: ENG\n", "nation: ENG\nnation: WLS\n", 1))
    (problem,) = check_policy_file(path)
    assert problem.field == "nation" and "given twice" in problem.reason and "only the last" in problem.reason


def _stage(d: dict[str, Any], number: int) -> dict[str, Any]:
    stage: dict[str, Any] = d["stages"][number - 1]
    return stage


def _move_durhams_agencies(d: dict[str, Any]) -> None:
    for agency in d["agencies"]:
        if agency["partnership"] == "durham":
            agency["partnership"] = "elsewhere"


# Each semantic check, with a change to a shipped policy that should trip it (checked against the demo
# directory, or a changed copy of it), the field it should name and words of the reason.
SEMANTIC_CASES: list[tuple[Callable[..., object], str, Change, Change | None, str, str]] = [
    (
        check.raised_by_roles_exist,
        "durham",
        lambda d: d.update(raised_by=["iro", "social_worker"]),
        None,
        "raised_by.1",
        "no person in the directory has job role 'social_worker'; job roles in the directory: head_teacher, iro",
    ),
    (
        check.agency_posts_are_held,
        "rochdale",
        lambda d: d["roles"][5]["found"][0].update(post="headmistress"),
        None,
        "roles.5.found.0.post",
        "no person in the directory has job role 'headmistress'; its next way of finding",
    ),
    (
        check.partnership_roles_are_held,
        "durham",
        lambda d: (
            d["roles"].append(
                {
                    "id": "head_of_safeguarding",
                    "title": "Head of Safeguarding",
                    "side": "partnership",
                    "found": [{"who": "partnership_post"}],
                }
            ),
            _stage(d, 3).update(informed=["head_of_safeguarding"]),
        ),
        None,
        "stages.2.informed.0",
        "nobody could fill head_of_safeguarding",
    ),
    (
        check.acting_roles_are_people,
        "rochdale",
        lambda d: _stage(d, 4).update(raiser_side=["raiser_senior_manager", "partnership_admin"]),
        None,
        "stages.3.raiser_side.1",
        "only a mailbox (RBSCP Business Unit) holds partnership_admin",
    ),
    (
        check.acting_roles_are_people,
        "rochdale",
        lambda d: _stage(d, 4).update(closed_by=["independent_scrutineer", "partnership_admin"]),
        None,
        "stages.3.closed_by",
        "nobody could close stage 4",
    ),
    (
        check.partnership_has_agencies,
        "durham",
        lambda d: None,
        _move_durhams_agencies,
        "id",
        "no agencies of partnership 'durham'; its agencies belong to: elsewhere, rochdale",
    ),
    (
        check.informal_evidence_is_collected,
        "rochdale",
        lambda d: d.update(later_starts=[{"stage": 4, "when": "urgent"}]),
        None,
        "stages.2.requires_informal_evidence",
        "no challenge starts at this stage",
    ),
    (
        check.closed_by_only_on_the_final_stage,
        "durham",
        lambda d: _stage(d, 2).update(closed_by=["raiser"]),
        None,
        "stages.1.closed_by",
        "not the final stage",
    ),
    (
        check.stage_limits_fit_the_total,
        "durham",
        lambda d: d.update(total_limit_working_days=10),
        None,
        "total_limit_working_days",
        "add up to 16 working days (1 + 3 + 5 + 7), more than the total of 10",
    ),
    (
        check.entry_field_ids_are_unique,
        "durham",
        lambda d: _stage(d, 5)["entry_fields"].append({"id": "reasons_for_escalation", "label": "Again"}),
        None,
        "stages.4.entry_fields.1.id",
        "two entry fields with id 'reasons_for_escalation'",
    ),
]


@pytest.mark.parametrize(
    ("the_check", "base", "change", "directory_change", "field", "words"),
    SEMANTIC_CASES,
    ids=[f"{case[0].__name__}-{case[4]}" for case in SEMANTIC_CASES],
)
def test_each_semantic_check_finds_its_problem(
    tmp_path: Path,
    the_check: Callable[..., object],
    base: str,
    change: Change,
    directory_change: Change | None,
    field: str,
    words: str,
) -> None:
    path = _write(tmp_path, base, change)
    directory = yaml.safe_load(DEMO_DIRECTORY.read_text())
    if directory_change is not None:
        directory_change(directory)
    directory_file = tmp_path / "directory.yaml"
    directory_file.write_text(yaml.safe_dump(directory))
    problems = check_policy_file(path, directory_file)
    assert [p.field for p in problems] == [field], _lines(problems)
    (problem,) = problems
    for part in words.split("; "):
        assert part in problem.reason, problem.reason
    assert "(line " in problem.reason


def test_every_check_has_a_case() -> None:
    assert {case[0] for case in SEMANTIC_CASES} == set(CHECKS)


def test_checks_that_need_the_directory_are_skipped_without_one(tmp_path: Path) -> None:
    path = _write(tmp_path, "durham", lambda d: d.update(raised_by=["nobody_has_this"]))
    assert check_policy_file(path) == []
    assert len(check_policy_file(path, DEMO_DIRECTORY)) == 1


def test_a_mailbox_listed_before_a_person_is_reported(tmp_path: Path) -> None:
    directory = yaml.safe_load(DEMO_DIRECTORY.read_text())
    directory["partnership_roles"]["durham"]["executive"] = [
        {"name": "DSCP Executive", "email": "dscp.executive@example.org"},
        {"person": "jordan"},
    ]
    directory_file = tmp_path / "directory.yaml"
    directory_file.write_text(yaml.safe_dump(directory))
    (problem,) = check_policy_file(POLICY_DIR / "durham.yaml", directory_file)
    assert problem.field == "stages.4.challenged_side.0" and "list the person first" in problem.reason


def test_a_broken_directory_file_is_a_problem_of_that_file(tmp_path: Path) -> None:
    directory_file = tmp_path / "directory.yaml"
    directory_file.write_text("agencies: []\npeople: [{id: x, name: X, agency: nowhere}]\n")
    (problem,) = check_policy_file(POLICY_DIR / "durham.yaml", directory_file)
    assert problem.file == str(directory_file) and "nowhere" in problem.reason


def test_the_command_prints_each_problem_and_exits_1(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    def two_problems(d: dict[str, Any]) -> None:
        d["raised_by"] = ["social_worker"]
        _stage(d, 2)["closed_by"] = ["raiser"]

    path = _write(tmp_path, "durham", two_problems)
    assert main(["policy", "check", str(path), "--directory", str(DEMO_DIRECTORY)]) == 1
    out = capsys.readouterr().out.splitlines()
    assert [line.split(": ")[1] for line in out] == ["field raised_by.0", "field stages.1.closed_by"]
    assert all(line.startswith(f"{path}: field ") for line in out)


def test_the_command_says_no_problems_found_and_exits_0(capsys: pytest.CaptureFixture[str]) -> None:
    path = POLICY_DIR / "durham.yaml"
    assert main(["policy", "check", str(path), "--directory", str(DEMO_DIRECTORY)]) == 0
    out = capsys.readouterr().out
    assert out.startswith(f"{path}: no problems found (5 stages, ") and str(DEMO_DIRECTORY) in out


def test_a_retention_period_must_be_a_period_and_be_justified(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    bad = _write(
        tmp_path, "durham", lambda d: d.update(retention={"closed_for": "six years", "justification": "x"})
    )
    problems = check_policy_file(bad)
    assert [p.field for p in problems] == ["retention.closed_for", "retention.justification"]
    assert "(got 'six years')" in problems[0].reason and "at least 20 characters" in problems[1].reason
    assert "give a whole number of years or months, e.g. '6 years'" in problems[0].reason
    assert "pattern" not in problems[0].reason  # not the regular expression
    unexplained = _write(
        tmp_path, "durham", lambda d: d.update(retention={"closed_for": "6 years"}), "two.yaml"
    )
    assert [p.field for p in check_policy_file(unexplained)] == ["retention.justification"]
    good = _write(
        tmp_path,
        "durham",
        lambda d: d.update(
            retention={
                "closed_for": "75 years",
                "justification": "Kept as long as the child's social care file.",
            }
        ),
        "three.yaml",
    )
    assert main(["policy", "check", str(good)]) == 0
    assert "records kept 75 years after a challenge ends, then erased" in capsys.readouterr().out
    assert main(["policy", "check", "durham"]) == 0
    said = capsys.readouterr().out
    assert "no retention period: records are kept, nothing is erased" in said
    assert (
        "pattern alert: 3 challenges to one agency within 90 days, told to Business Manager for QRT, "
        "IRO Service Manager" in said
    )
    assert main(["policy", "check", "rochdale"]) == 0
    assert "no pattern alert" in capsys.readouterr().out


def test_the_command_runs_as_a_program(tmp_path: Path) -> None:
    path = _write(tmp_path, "rochdale", lambda d: d.update(nation="FRA", reference_prefix="x"))
    done = subprocess.run(
        [sys.executable, "-m", "bot", "policy", "check", str(path)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 1
    assert [line.split(": ")[1] for line in done.stdout.splitlines()] == [
        "field reference_prefix",
        "field nation",
    ]
    usage = subprocess.run(
        [sys.executable, "-m", "bot", "policy", "check"], capture_output=True, text=True, check=False
    )
    assert usage.returncode == 2 and "FILE" in usage.stderr


def test_a_pattern_alert_told_to_a_post_nobody_holds_is_a_problem(tmp_path: Path) -> None:
    data = yaml.safe_load((POLICY_DIR / "durham.yaml").read_text(encoding="utf-8"))
    data["pattern_alert"]["tell"] = ["executive", "qrt_business_manager"]
    policy = tmp_path / "ours.yaml"
    policy.write_text(yaml.safe_dump(data), encoding="utf-8")
    directory = yaml.safe_load(DEMO_DIRECTORY.read_text(encoding="utf-8"))
    del directory["partnership_roles"]["durham"]["qrt_business_manager"]
    directory_file = tmp_path / "directory.yaml"
    directory_file.write_text(yaml.safe_dump(directory), encoding="utf-8")
    problems = [str(p) for p in check_policy_file(policy, directory_file)]
    assert any(
        "nobody could fill qrt_business_manager" in p and "pattern_alert.tell.1" in p for p in problems
    ), problems


@pytest.mark.parametrize(
    ("tell", "reason"),
    [
        (["chief_executive"], "names role 'chief_executive', which the policy does not declare in roles"),
        (["raiser"], "names the raiser-side role 'raiser': a pattern is told to the partnership's own posts"),
    ],
)
def test_a_pattern_alert_telling_a_role_it_cannot_is_reported_at_its_field_and_line(
    tmp_path: Path, tell: list[str], reason: str
) -> None:
    path = _write(tmp_path, "durham", lambda d: d["pattern_alert"].update(tell=tell))
    problems = check_policy_file(path)
    assert [(p.field, p.reason.split(" (line ")[0]) for p in problems] == [("pattern_alert.tell.0", reason)]
    line = int(problems[0].reason.rsplit("(line ", 1)[1].rstrip(")"))
    assert tell[0] in path.read_text().splitlines()[line - 1]
