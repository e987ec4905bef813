"""The export form of a policy file (`export_form`) is checked like the rest: every source must name
something the record holds, every row that needs a label has one, a table's rows fit its columns; each problem
on its own line with its field and line, and the same file refused when loaded."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from process.check import check_policy_file
from process.export_form import default_export_form, parse_source, source_problem
from process.policy import POLICY_DIR, PolicyError, load_policy, shipped_policies


def _write(tmp_path: Path, base: str, change: Any) -> Path:
    data = yaml.safe_load((POLICY_DIR / f"{base}.yaml").read_text())
    change(data["export_form"])
    path = tmp_path / "ours.yaml"
    path.write_text(yaml.safe_dump(data, sort_keys=False, allow_unicode=True))
    return path


def test_every_problem_of_the_export_form_is_listed_at_its_field_and_line(tmp_path: Path) -> None:
    def break_it(form: dict[str, Any]) -> None:
        info = form["sections"][0]["rows"]
        info[1] = {"source": "person.raiser"}  # no label
        info[2]["source"] = "person.nobody"  # no such role
        info[4]["source"] = "stage.9.started"  # no such stage
        info[5]["source"] = "stage.2.finished"  # no such part
        info[6]["source"] = "colour"  # nothing at all
        form["sections"][6]["rows"][0]["source"] = "field.reasons"  # no such field

    path = _write(tmp_path, "durham", break_it)
    problems = check_policy_file(path)
    assert [p.field for p in problems] == [
        "export_form.sections.0.rows.1.label",
        "export_form.sections.0.rows.2.source",
        "export_form.sections.0.rows.4.source",
        "export_form.sections.0.rows.5.source",
        "export_form.sections.0.rows.6.source",
        "export_form.sections.6.rows.0.source",
    ]
    reasons = [p.reason for p in problems]
    assert "needs a label" in reasons[0]
    assert "role 'nobody'" in reasons[1]
    assert "stage 9, which does not exist" in reasons[2]
    assert "unknown source 'stage.2.finished'" in reasons[3] and "started, due, ended" in reasons[3]
    assert "unknown source 'colour'" in reasons[4]
    assert "field 'reasons'" in reasons[5] and "reasons_for_escalation" in reasons[5]
    lines = path.read_text().splitlines()
    for problem in problems:
        line = int(problem.reason.rsplit("(line ", 1)[1].rstrip(")"))
        assert "source" in lines[line - 1] or "label" in lines[line - 1], (problem, lines[line - 1])
    with pytest.raises(PolicyError, match="stage 9, which does not exist"):
        load_policy(path)


def test_a_tables_rows_must_fit_its_columns(tmp_path: Path) -> None:
    def break_it(form: dict[str, Any]) -> None:
        grid = form["sections"][-1]
        grid["rows"][0]["cells"] = ["stage.3.resolved"]
        grid["rows"][1] = {"label": "Stage 4", "source": "stage.4.resolved"}

    problems = check_policy_file(_write(tmp_path, "rochdale", break_it))
    assert [p.field for p in problems] == [
        "export_form.sections.7.rows.0.cells",
        "export_form.sections.7.rows.1.source",
    ]
    assert "1 cells for 2 columns" in problems[0].reason


def test_a_schema_problem_of_the_export_form_is_reported_at_its_field(tmp_path: Path) -> None:
    def break_it(form: dict[str, Any]) -> None:
        form["sections"][0]["rows"][0]["style"] = "wide"
        form["sections"][1]["rows"] = []

    problems = check_policy_file(_write(tmp_path, "durham", break_it))
    assert [p.field for p in problems] == [
        "export_form.sections.0.rows.0.style",
        "export_form.sections.1.rows",
    ]


@pytest.mark.parametrize("name", shipped_policies())
def test_the_default_form_of_every_shipped_policy_names_only_what_the_record_holds(name: str) -> None:
    policy = load_policy(name)
    form = default_export_form(policy)
    for section in form.sections:
        for row in section.rows:
            assert source_problem(policy, row.source or "") is None, row


def test_sources_are_read_as_documented() -> None:
    assert parse_source("stage.current.parties").part == "parties"
    assert parse_source("person.raiser.contact").name == "raiser"
    assert parse_source("field.x").kind == "long"
    for bad in ("stage.two.due", "stage.2", "person", "person.raiser.phone", "child.nickname", ""):
        with pytest.raises(ValueError, match="unknown source"):
            parse_source(bad)
