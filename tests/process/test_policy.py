"""Policies as data: the shipped procedures say what the seeds say; a malformed file is refused clearly."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from process.directory_file import DEMO_DIRECTORY, DirectoryError, load_directory_file
from process.policy import STANDARD_ROLES, PolicyError, Role, load_policy, shipped_policies


def test_durham_has_five_stages_within_the_forms_16_working_days() -> None:
    durham = load_policy("durham")
    assert [(s.number, s.limit_working_days) for s in durham.stages] == [
        (1, 1),
        (2, 3),
        (3, 5),
        (4, 7),
        (5, None),
    ]
    assert sum(s.limit_working_days or 0 for s in durham.stages) == durham.total_limit_working_days == 16
    assert durham.stage(5).final and durham.stage(5).entry_fields[0].label == "Reasons for escalation to DSCP"
    assert durham.copied_in_at(1) == (Role.QRT_BUSINESS_MANAGER,)
    assert durham.raised_by == ("iro",) and durham.urgent_start_stages == ()
    assert [c.label for c in durham.issue_categories][-1] == "Other" and len(durham.issue_categories) == 6


def test_rochdale_has_four_agreed_stages_capped_at_10_working_days() -> None:
    rochdale = load_policy("rochdale")
    assert [(s.number, s.limit_working_days, s.timescale) for s in rochdale.stages] == [
        (n, 10, "agreed") for n in (1, 2, 3, 4)
    ]
    assert rochdale.urgent_start_stages == (3, 4)
    assert rochdale.copied_in_at(2) == () and rochdale.copied_in_at(3) == (Role.PARTNERSHIP_ADMIN,)
    for stage in rochdale.stages:
        assert set(stage.consult) == {Role.RAISER_SAFEGUARDING_LEAD, Role.CHALLENGED_SAFEGUARDING_LEAD}
    assert (
        rochdale.stage(3).meeting is not None and rochdale.stage(3).meeting.chair == Role.HEAD_OF_SAFEGUARDING
    )
    assert Role.INDEPENDENT_SCRUTINEER in rochdale.stage(4).informed
    assert "EHASH" in rochdale.immediate_risk and "complaints" in rochdale.not_for_complaints
    # From Stage 3 the partnership is "updated until the matter is resolved": every update, not only stages.
    assert rochdale.copied_in_at(3, every_update=True) == (Role.PARTNERSHIP_ADMIN,)
    # The Resolution Notice has no issue categories and says nothing of complaints: both are the deployment's.
    assert set(rochdale.deployment_text) == {"issue_categories", "not_for_complaints"}
    assert rochdale.form.title == "RBSCP Resolution Notice"


def test_each_shipped_policy_declares_its_own_roles_with_the_procedures_titles() -> None:
    durham, rochdale = load_policy("durham"), load_policy("rochdale")
    assert durham.role_title(durham.raiser_role) == "IRO"
    assert durham.role_title(Role.BUSINESS_MANAGER) == "DSCP Business Manager"
    assert rochdale.role_title(rochdale.raiser_role) == "Raising practitioner"
    for policy in (durham, rochdale):
        assert policy.roles is not STANDARD_ROLES
        used = {r for stage in policy.stages for roles in stage.roles_used().values() for r in roles}
        assert used <= {r.id for r in policy.roles}


def test_durham_asks_only_what_its_form_asks_and_puts_a_passed_deadline_to_the_iro() -> None:
    durham = load_policy("durham")
    assert (durham.child_fields.date_of_birth, durham.child_fields.agency_reference) == ("absent", "absent")
    assert durham.on_deadline_passed == "ask_raiser"
    assert durham.recurring_start_stages == (3,) and durham.urgent_start_stages == ()
    assert durham.deployment_text == ("immediate_risk",)


def test_a_procedure_with_its_own_role_names_loads(tmp_path: Path) -> None:
    data = yaml.safe_load(Path("process/policies/durham.yaml").read_text())
    data["roles"][0] = {
        "id": "referrer",
        "title": "Referring clinician",
        "side": "raiser",
        "found": [{"who": "raiser"}],
    }
    for stage in data["stages"]:
        stage["raiser_side"] = ["referrer" if r == "raiser" else r for r in stage["raiser_side"]]
    # The export form names the part by its id too ("IRO": person.raiser).
    data["export_form"]["sections"][0]["rows"][1]["source"] = "person.referrer"
    path = tmp_path / "ours.yaml"
    path.write_text(yaml.safe_dump(data))
    policy = load_policy(path)
    assert policy.raiser_role == "referrer" and policy.role_title("referrer") == "Referring clinician"


def test_shipped_policies_are_listed() -> None:
    assert shipped_policies() == ("durham", "rochdale")


def _write(tmp_path: Path, change) -> Path:  # type: ignore[no-untyped-def]
    data = yaml.safe_load(Path("process/policies/rochdale.yaml").read_text())
    change(data)
    path = tmp_path / "ours.yaml"
    path.write_text(yaml.safe_dump(data))
    return path


@pytest.mark.parametrize(
    ("change", "field", "reason"),
    [
        (lambda d: d["stages"][1].update(limit_working_days="ten"), "stages.1.limit_working_days", "integer"),
        (lambda d: d.update(nation="FRA"), "nation", "ENG"),
        (
            lambda d: d["stages"][0].update(raiser_side=["boss"]),
            "stages.0.raiser_side.0",
            "names role 'boss'",
        ),
        (
            lambda d: d["stages"][0].update(challenged_side=["raiser"]),
            "stages.0",
            "on both sides",
        ),
        (
            lambda d: d["roles"][0].update(found=[{"who": "line_manager"}]),
            "roles.0.found.0",
            "needs 'of'",
        ),
        (
            lambda d: d["stages"][1].update(raiser_side=["challenged_senior_manager"]),
            "(top level)",
            "challenged-side role 'challenged_senior_manager' on the raiser side",
        ),
        (lambda d: d["stages"].pop(1), "(top level)", "numbered 1, 2, 3"),
        (lambda d: d.update(later_starts=[{"stage": 7, "when": "urgent"}]), "(top level)", "stage 7, which"),
        (lambda d: d.update(later_starts=[{"stage": 1, "when": "urgent"}]), "later_starts.0.stage", "2"),
        (lambda d: d.update(closures=["29/12/2026"]), "(top level)", "closure '29/12/2026' is not a date"),
        (lambda d: d["stages"][3].update(final=False), "(top level)", "last stage must be marked final"),
        (lambda d: d.update(surprise=True), "surprise", "Extra inputs"),
        (lambda d: d.pop("immediate_risk"), "immediate_risk", "required"),
    ],
)
def test_a_malformed_policy_is_refused_with_file_field_and_reason(
    tmp_path: Path,
    change,
    field: str,
    reason: str,  # type: ignore[no-untyped-def]
) -> None:
    path = _write(tmp_path, change)
    with pytest.raises(PolicyError) as refused:
        load_policy(path)
    message = str(refused.value)
    assert str(path) in message and f"field {field}" in message and reason in message


def test_a_partnership_can_ship_its_own_policy_file(tmp_path: Path) -> None:
    path = _write(tmp_path, lambda d: d.update(id="ours", reference_prefix="OUR", closures=["2026-12-29"]))
    assert load_policy(path).reference_prefix == "OUR"


def test_closures_may_be_dates_yearly_days_and_yearly_ranges(tmp_path: Path) -> None:
    closures = ["2026-06-08", "08-03", "12-24..01-01"]
    path = _write(tmp_path, lambda d: d.update(closures=closures))

    assert load_policy(path).closures == tuple(closures)


@pytest.mark.parametrize("entry", ["13-01", "12-24..13-01", "2026-02-30", "24 Dec"])
def test_a_closure_that_is_no_known_pattern_is_refused_naming_the_entry(tmp_path: Path, entry: str) -> None:
    path = _write(tmp_path, lambda d: d.update(closures=["12-24", entry]))

    with pytest.raises(PolicyError) as refused:
        load_policy(path)

    message = str(refused.value)
    assert str(path) in message
    assert (
        f"closure {entry!r} is not a date like 2026-12-29, a yearly day like 12-24 "
        "or a yearly range like 12-24..01-01"
    ) in message


def test_unknown_policy_name_lists_the_shipped_ones() -> None:
    with pytest.raises(PolicyError, match="durham, rochdale"):
        load_policy("atlantis")


def test_policy_file_that_is_not_yaml_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text("stages: [unclosed")
    with pytest.raises(PolicyError, match="not valid YAML"):
        load_policy(path)


def test_demo_directory_matches_the_playground_mock_users() -> None:
    directory = load_directory_file(DEMO_DIRECTORY)
    alex = directory.person_by_aad("00000000-0000-0000-0000-0000000000020")
    assert alex is not None and alex.name == "Alex Wilber" and "iro" in alex.job_roles
    assert directory.line_manager(directory.person("megan")).name == "Adele Vance"  # type: ignore[union-attr]


def test_directory_file_with_a_dangling_line_manager_is_refused(tmp_path: Path) -> None:
    data = yaml.safe_load(DEMO_DIRECTORY.read_text())
    data["people"][0]["line_manager"] = "ghost"
    path = tmp_path / "dir.yaml"
    path.write_text(yaml.safe_dump(data))
    with pytest.raises(DirectoryError, match="person 'alex' names person 'ghost'"):
        load_directory_file(path)


@pytest.mark.parametrize(
    ("change", "words"),
    [
        (lambda d: d["stages"][3].update(closed_by=["challenged_professional"]), "does not close its own"),
        (
            lambda d: d["roles"][1].update(
                found=[{"who": "line_manager", "of": "raiser", "levels": 3}, {"who": "raiser"}]
            ),
            "found that way only",
        ),
        (
            lambda d: d["stages"][0].update(limit_working_days=None, timescale="fixed", limit_by_priority={}),
            "at least 1",
        ),
        (
            lambda d: d.update(
                priorities=[{"id": "high", "label": "High"}, {"id": "high", "label": "Again"}]
            ),
            "priority ids must be unique",
        ),
        (
            lambda d: d["roles"][2]["found"].__setitem__(
                1, {"who": "escalation_contact", "of": "raiser", "stage": 1000}
            ),
            "less than or equal to 20",
        ),
        (
            lambda d: d["roles"][2]["found"].__setitem__(
                1, {"who": "escalation_contact", "of": "raiser", "stage": 9}
            ),
            "stage 9, which does not exist",
        ),
        (lambda d: d.update(total_limit_working_days=1_000_000_000_000), "less than or equal to 260"),
        (lambda d: d.update(closures=["01-01..12-31"]), "too few working days"),
        (
            lambda d: d.update(later_starts=[{"stage": 3, "when": "urgent"}, {"stage": 3, "when": "urgent"}]),
            "unique",
        ),
    ],
)
def test_a_policy_that_would_misbehave_is_refused(tmp_path: Path, change, words: str) -> None:  # type: ignore[no-untyped-def]
    path = _write(tmp_path, change)
    with pytest.raises(PolicyError, match=words):
        load_policy(path)


def test_closure_dates_may_be_written_without_quotes(tmp_path: Path) -> None:
    path = tmp_path / "ours.yaml"
    text = Path("process/policies/rochdale.yaml").read_text(encoding="utf-8")
    path.write_text(
        text.replace("due_time:", "closures: [2026-12-29, 12-24]\ndue_time:", 1), encoding="utf-8"
    )
    assert load_policy(path).closures == ("2026-12-29", "12-24")


def test_files_that_are_not_utf8_or_hold_impossible_dates_are_refused_clearly(tmp_path: Path) -> None:
    from process.check import check_policy_file
    from process.simulate import ScenarioError, load_scenario

    unknown = _write(
        tmp_path,
        lambda d: d.update(
            export_form={"sections": [{"rows": [{"label": "Child", "source": "child.nickname"}]}]}
        ),
    )
    with pytest.raises(PolicyError) as raised:
        load_policy(unknown)
    assert f"{unknown}: field export_form.sections.0.rows.0.source: unknown source 'child.nickname'" in str(
        raised.value
    )
    latin = tmp_path / "latin.yaml"
    latin.write_bytes(b"id: x\n\xff\n")
    with pytest.raises(PolicyError):
        load_policy(latin)
    (problem,) = check_policy_file(latin)
    assert "UTF-8" in problem.reason
    with pytest.raises(ScenarioError):
        load_scenario(latin)
    impossible = tmp_path / "feb.yaml"
    impossible.write_text("id: x\nclosures: [2026-02-30]\n")
    with pytest.raises(PolicyError):
        load_policy(impossible)
    (problem,) = check_policy_file(impossible)
    assert "not valid YAML" in problem.reason
    with pytest.raises(DirectoryError):
        load_directory_file(latin)


def test_a_directory_giving_one_person_id_twice_is_refused(tmp_path: Path) -> None:
    data = yaml.safe_load(DEMO_DIRECTORY.read_text())
    data["people"].append(dict(data["people"][1], name="Other Nurse"))
    path = tmp_path / "directory.yaml"
    path.write_text(yaml.safe_dump(data))
    with pytest.raises(DirectoryError, match="person id 'megan' is given twice"):
        load_directory_file(path)


@pytest.mark.parametrize(
    ("alert", "words"),
    [
        (
            {"challenges": 1, "within_days": 30, "tell": ["partnership_business_manager"]},
            "greater than or equal to 2",
        ),
        (
            {"challenges": 3, "within_days": 0, "tell": ["partnership_business_manager"]},
            "greater than or equal to 1",
        ),
        ({"challenges": 3, "within_days": 30, "tell": []}, "at least 1 item"),
        (
            {"challenges": 3, "within_days": 30, "tell": ["nobody_declared"]},
            "field pattern_alert.tell.0: names role",
        ),
        ({"challenges": 3, "within_days": 30, "tell": ["raiser"]}, "told to the partnership's own posts"),
    ],
)
def test_a_pattern_alert_must_count_and_tell_partnership_posts(
    tmp_path: Path, alert: dict[str, object], words: str
) -> None:
    path = _write(tmp_path, lambda d: d.update(pattern_alert=alert))
    with pytest.raises(PolicyError, match=words):
        load_policy(path)


def test_a_pattern_alert_is_optional_and_rochdale_sets_none() -> None:
    assert load_policy("rochdale").pattern_alert is None
    durham = load_policy("durham").pattern_alert
    assert durham is not None and (durham.challenges, durham.within_days) == (3, 90)
    assert durham.tell == ("qrt_business_manager", "iro_service_manager") and not durham.count_withdrawn


def test_a_file_that_cannot_be_loaded_says_which_field_and_why_in_plain_words(tmp_path: Path) -> None:
    """What the bot (at start-up) and `policy simulate` say: the field a whole-file check is about, without
    pydantic's "Value error" prefix, and a file that is not UTF-8 said so."""
    path = _write(
        tmp_path,
        lambda d: d.update(pattern_alert={"challenges": 3, "within_days": 30, "tell": ["nobody_declared"]}),
    )
    with pytest.raises(PolicyError) as raised:
        load_policy(path)
    assert str(raised.value) == (
        f"{path}: field pattern_alert.tell.0: names role 'nobody_declared', which the policy does not "
        "declare in roles"
    )
    unknown = _write(
        tmp_path,
        lambda d: d.update(
            export_form={"sections": [{"rows": [{"label": "Child", "source": "child.nickname"}]}]}
        ),
    )
    with pytest.raises(PolicyError) as raised:
        load_policy(unknown)
    assert f"{unknown}: field export_form.sections.0.rows.0.source: unknown source 'child.nickname'" in str(
        raised.value
    )
    latin = tmp_path / "latin.yaml"
    latin.write_bytes("id: durham\npartnership: Caf\u00e9\n".encode("latin-1"))
    with pytest.raises(PolicyError, match=r"latin.yaml: not UTF-8 text \(byte 27\); save it as UTF-8$"):
        load_policy(latin)
