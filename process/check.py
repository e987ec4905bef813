"""Check a partnership's policy file before it goes live: every problem at once, each with where it is.

`load_policy` stops at the first unusable file; this module reads the file the same way but reports every YAML
and schema problem on its own line, with the line of the file it is on, and then asks questions the schema
cannot: is every role a stage uses held by someone in the directory, can the people who must act do so in
Teams, does each setting have the effect it seems to have. Each semantic check is a small function over the
policy and (when given) the directory, listed in `CHECKS`; adding one is adding a function to that list.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NamedTuple

import yaml
from pydantic import ValidationError

from process.directory import Directory
from process.directory_file import DirectoryError, load_directory_file
from process.export_form import export_form_problems
from process.policy import POLICY_DIR, ExportForm, Policy, RoleId, Stage

TOP_LEVEL = "(top level)"


@dataclass(frozen=True)
class Problem:
    """One thing wrong with a policy file: the file, the field (a dotted path, list items counted from 0) and
    why; the reason ends with the file's line number where it is known."""

    file: str
    field: str
    reason: str

    def __str__(self) -> str:
        return f"{self.file}: field {self.field}: {self.reason}"


class Finding(NamedTuple):
    """What a check reports: the field's dotted path and the reason."""

    field: str
    reason: str


#: A semantic check: the policy and the directory (None when not given) in, findings out.
Check = Callable[[Policy, Directory | None], Iterable[Finding]]


@dataclass(frozen=True)
class CheckResult:
    """Every problem found, and the policy when the file could be read at all."""

    file: str
    problems: tuple[Problem, ...]
    policy: Policy | None


def _join(*parts: object) -> str:
    return ".".join(str(p) for p in parts)


def _stage_title(policy: Policy, index: int) -> str:
    stage = policy.stages[index]
    return f"stage {stage.number} ({stage.name})"


def _roles(roles: Iterable[RoleId]) -> str:
    return ", ".join(sorted(roles))


# ----- where each role is used --------------------------------------------------------------------------------


class RoleUse(NamedTuple):
    role: RoleId
    field: str
    side: bool  # on a side of a stage: the holder is asked to act there


def role_uses(policy: Policy) -> Iterator[RoleUse]:
    """Every place the policy names a role, in file order, and whether it is on a side of a stage."""
    for i, stage in enumerate(policy.stages):
        for name, roles, side in (
            ("raiser_side", stage.raiser_side, True),
            ("challenged_side", stage.challenged_side, True),
            ("consult", stage.consult, False),
            ("informed", stage.informed, False),
            ("closed_by", stage.closed_by, False),
        ):
            for j, role in enumerate(roles):
                yield RoleUse(role, _join("stages", i, name, j), side)
        if stage.meeting is not None and stage.meeting.chair is not None:
            yield RoleUse(stage.meeting.chair, _join("stages", i, "meeting", "chair"), False)
    for j, role in enumerate(policy.final_stage_notify):
        yield RoleUse(role, _join("final_stage_notify", j), False)
    for j, copy in enumerate(policy.copy_in):
        yield RoleUse(copy.role, _join("copy_in", j, "role"), False)
    for j, role in enumerate(policy.pattern_alert.tell if policy.pattern_alert else ()):
        yield RoleUse(role, _join("pattern_alert", "tell", j), False)


def _uses_by_role(policy: Policy, *, sides_only: bool = False) -> dict[RoleId, list[str]]:
    found: dict[RoleId, list[str]] = {}
    for use in role_uses(policy):
        if use.side or not sides_only:
            found.setdefault(use.role, []).append(use.field)
    return found


def _also(fields: list[str]) -> str:
    """The other places a role is used, after the first (which is the problem's field)."""
    return f"; also used at {', '.join(fields[1:])}" if len(fields) > 1 else ""


# ----- the checks ----------------------------------------------------------------------------------------------


def raised_by_roles_exist(policy: Policy, directory: Directory | None) -> Iterator[Finding]:
    """A job role in `raised_by` that nobody in the directory has: nobody could raise a challenge as it."""
    if directory is None:
        return
    held = {role for person in directory.people.values() for role in person.job_roles}
    existing = ", ".join(sorted(held)) if held else "none (nobody has job_roles)"
    for j, role in enumerate(policy.raised_by):
        if role not in held:
            yield Finding(
                _join("raised_by", j),
                f"no person in the directory has job role {role!r}, so nobody could raise a challenge as "
                f"one; job roles in the directory: {existing}",
            )


def partnership_roles_are_held(policy: Policy, directory: Directory | None) -> Iterator[Finding]:
    """A partnership-wide role the policy uses that the directory gives to nobody in this partnership."""
    if directory is None:
        return
    listed = sorted(post for (pid, post) in directory.partnership_roles if pid == policy.id)
    have = (
        f"partnership_roles for {policy.id} lists: {', '.join(listed)}"
        if listed
        else f"the directory has no partnership_roles for {policy.id}"
    )
    for role, fields in _uses_by_role(policy).items():
        named = any(w.who == "named" for w in policy.role(role).found)
        if (
            role in policy.partnership_roles
            and not named
            and not directory.partnership_contacts(policy.id, policy.role(role).post)
        ):
            yield Finding(
                fields[0],
                f"nobody could fill {role}: no contact holds it for {policy.id} in the directory "
                f"({have}){_also(fields)}",
            )


def _mailbox_only(policy: Policy, directory: Directory, role: RoleId) -> str | None:
    """Why a partnership role goes to a mailbox (None: a person holds it, or it is not a partnership role,
    or nobody holds it, which `partnership_roles_are_held` reports)."""
    contacts = (
        directory.partnership_contacts(policy.id, policy.role(role).post)
        if role in policy.partnership_roles
        else ()
    )
    if not contacts or contacts[0].person_id is not None:
        return None
    if any(c.person_id for c in contacts):
        return (
            f"the first contact listed for {role} ({contacts[0].name}), who is given the role, is a "
            "mailbox; list the person first"
        )
    return f"only a mailbox ({contacts[0].name}) holds {role}"


def acting_roles_are_people(policy: Policy, directory: Directory | None) -> Iterator[Finding]:
    """A role that must act but goes to a mailbox, which can be emailed but cannot act in Teams.

    Every role on a side of a stage is asked to act there, so each must be a person. The roles in a final
    stage's `closed_by` are alternatives: at least one of them must be a person.
    """
    if directory is None:
        return
    for role, fields in _uses_by_role(policy, sides_only=True).items():
        why = _mailbox_only(policy, directory, role)
        if why is not None:
            yield Finding(
                fields[0],
                f"{why}, but the role is on a side of a stage, where it is asked to act, and a mailbox can "
                f"only be emailed{_also(fields)}",
            )
    for i, stage in enumerate(policy.stages):
        whys = [_mailbox_only(policy, directory, role) for role in stage.closed_by]
        if whys and all(whys):
            yield Finding(
                _join("stages", i, "closed_by"),
                f"nobody could close {_stage_title(policy, i)}: {'; '.join(w for w in whys if w)}",
            )


def agency_posts_are_held(policy: Policy, directory: Directory | None) -> Iterator[Finding]:
    """A role found as an agency post (e.g. `head_teacher`) that no person in the directory holds: that way
    of finding it can never find anyone, so the role falls through to its next way, or stays vacant."""
    if directory is None:
        return
    held = {role for person in directory.people.values() for role in person.job_roles}
    for i, spec in enumerate(policy.roles):
        for j, way in enumerate(spec.found):
            if way.who == "agency_post" and way.post not in held:
                fallback = (
                    "its next way of finding" if j + 1 < len(spec.found) else "nobody: the part stays vacant"
                )
                yield Finding(
                    _join("roles", i, "found", j, "post"),
                    f"no person in the directory has job role {way.post!r}, so {spec.id} is never found this "
                    f"way and goes to {fallback}",
                )


def partnership_has_agencies(policy: Policy, directory: Directory | None) -> Iterator[Finding]:
    """A directory without any agency of this partnership: no challenge could name the agency challenged."""
    if directory is None:
        return
    if not any(a.partnership_id == policy.id for a in directory.agencies.values()):
        known = sorted({a.partnership_id for a in directory.agencies.values()})
        yield Finding(
            "id",
            f"the directory has no agencies of partnership {policy.id!r}, so no challenge could name the "
            f"agency challenged; its agencies belong to: {', '.join(known) or 'none'}",
        )


def informal_evidence_is_collected(policy: Policy, directory: Directory | None) -> Iterator[Finding]:
    """`requires_informal_evidence` on a stage no challenge starts at: the form asks for the evidence of
    informal challenge only when raising, so a stage reached by escalation never gets it."""
    starts = {1, *(start.stage for start in policy.later_starts)}
    for i, stage in enumerate(policy.stages):
        if stage.requires_informal_evidence and stage.number not in starts:
            yield Finding(
                _join("stages", i, "requires_informal_evidence"),
                f"{_stage_title(policy, i)} requires evidence of informal challenge, but the form collects "
                "it only when a challenge is raised and no challenge starts at this stage; add "
                f"stage {stage.number} to later_starts or drop the requirement",
            )


def closed_by_only_on_the_final_stage(policy: Policy, directory: Directory | None) -> Iterator[Finding]:
    """`closed_by` on a stage that is not final: challenges are closed at the final stage only."""
    for i, stage in enumerate(policy.stages):
        if stage.closed_by and not stage.final:
            yield Finding(
                _join("stages", i, "closed_by"),
                f"{_stage_title(policy, i)} is not the final stage, and a challenge is closed only at the "
                "final stage; earlier stages end by agreeing the outcome or escalating",
            )


def stage_limits_fit_the_total(policy: Policy, directory: Directory | None) -> Iterator[Finding]:
    """Fixed stage limits that add up to more than the total the procedure promises (the welcome card says
    the total). Agreed timescales are caps, which may add up to more."""
    total = policy.total_limit_working_days
    fixed = [s.limit_working_days for s in policy.stages if s.timescale == "fixed" and s.limit_working_days]
    if total is not None and sum(fixed) > total:
        yield Finding(
            "total_limit_working_days",
            f"the fixed stage limits add up to {sum(fixed)} working days "
            f"({' + '.join(str(n) for n in fixed)}), more than the total of {total}",
        )


def entry_field_ids_are_unique(policy: Policy, directory: Directory | None) -> Iterator[Finding]:
    """Two entry fields of one stage with the same id: only one of them could be recorded."""
    for i, stage in enumerate(policy.stages):
        seen: set[str] = set()
        for j, form_field in enumerate(stage.entry_fields):
            if form_field.id in seen:
                yield Finding(
                    _join("stages", i, "entry_fields", j, "id"),
                    f"{_stage_title(policy, i)} has two entry fields with id {form_field.id!r}",
                )
            seen.add(form_field.id)


CHECKS: tuple[Check, ...] = (
    raised_by_roles_exist,
    agency_posts_are_held,
    partnership_roles_are_held,
    acting_roles_are_people,
    partnership_has_agencies,
    informal_evidence_is_collected,
    closed_by_only_on_the_final_stage,
    stage_limits_fit_the_total,
    entry_field_ids_are_unique,
)


# ----- reading the file ----------------------------------------------------------------------------------------


def policy_path(name_or_path: str | Path) -> Path:
    """A policy file's path: as given, or a shipped policy's by name (`durham`)."""
    path = Path(name_or_path)
    if not path.exists() and path.suffix not in (".yaml", ".yml") and (POLICY_DIR / f"{path}.yaml").is_file():
        return POLICY_DIR / f"{path}.yaml"
    return path


class _Lines:
    """The line each dotted path starts on, from the YAML node tree."""

    def __init__(self, root: yaml.Node | None) -> None:
        self.root = root

    def of(self, path: Iterable[object]) -> int | None:
        node = self.root
        if node is None:
            return None
        for part in path:
            child: yaml.Node | None = None
            if isinstance(node, yaml.MappingNode):
                child = next((v for k, v in reversed(node.value) if k.value == str(part)), None)
            elif (
                isinstance(node, yaml.SequenceNode) and isinstance(part, int) and 0 <= part < len(node.value)
            ):
                child = node.value[part]
            if child is None:
                break
            node = child
        return int(node.start_mark.line) + 1

    def of_field(self, field: str) -> int | None:
        if field == TOP_LEVEL:
            return None
        return self.of(int(p) if p.isdigit() else p for p in field.split("."))


def _at_line(reason: str, line: int | None) -> str:
    return f"{reason} (line {line})" if line is not None else reason


def _duplicate_keys(node: yaml.Node | None, path: tuple[str, ...] = ()) -> Iterator[Finding]:
    """Keys given twice in one mapping: YAML keeps the last silently, so the first is ignored."""
    if isinstance(node, yaml.MappingNode):
        seen: dict[str, int] = {}
        for key, value in node.value:
            name = str(key.value)
            line = int(key.start_mark.line) + 1
            if name in seen:
                yield Finding(
                    _join(*path, name) if path else name,
                    f"given twice (lines {seen[name]} and {line}); only the last is used",
                )
            seen.setdefault(name, line)
            yield from _duplicate_keys(value, (*path, name))
    elif isinstance(node, yaml.SequenceNode):
        for i, item in enumerate(node.value):
            yield from _duplicate_keys(item, (*path, str(i)))


def _schema_reason(error: Any) -> str:
    message = str(error["msg"]).removeprefix("Value error, ")
    value = error.get("input")
    if error["type"] != "missing" and isinstance(value, str | int | float | bool):
        return f"{message} (got {value!r})"
    return message


def _whole_file_error(reason: str, data: dict[str, Any]) -> tuple[str, str]:
    """A check of the whole file (roles used where they are declared...) reported at the field its message
    starts with (`pattern_alert.tell.0 names role 'x', ...`), else at the top level."""
    head, _, rest = reason.partition(" ")
    head = head.removesuffix(":")
    if "." in head and head.split(".")[0] in data and rest:
        return head, rest
    return TOP_LEVEL, reason


def _export_form_findings(data: dict[str, Any]) -> list[Finding] | None:
    """The export form's own problems, each at its field, when it is all that is wrong with the file (None
    otherwise: the schema's errors are reported as they are)."""
    if "export_form" not in data:
        return None
    try:
        policy = Policy.model_validate({k: v for k, v in data.items() if k != "export_form"})
    except ValidationError:
        return None
    try:
        form = ExportForm.model_validate(data["export_form"])
    except ValidationError as exc:
        return [
            Finding(_join("export_form", *error["loc"]) if error["loc"] else "export_form", _schema_reason(error))
            for error in exc.errors()
        ]
    return [Finding(path, reason) for path, reason in export_form_problems(form, policy)]


def check_policy(path: str | Path, directory: Directory | str | Path | None = None) -> CheckResult:
    """Read `path` and report every problem; `directory` (a loaded one or a directory file) adds the checks
    that need to know who is who."""
    path = policy_path(path)
    file = str(path)

    def problem(field: str, reason: str, line: int | None = None) -> Problem:
        return Problem(file, field, _at_line(reason, line))

    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        return CheckResult(file, (problem(TOP_LEVEL, f"cannot read the file: {exc.strerror or exc}"),), None)
    except UnicodeDecodeError as exc:
        return CheckResult(
            file, (problem(TOP_LEVEL, f"not UTF-8 text (byte {exc.start}); save it as UTF-8"),), None
        )
    try:
        root = yaml.compose(text, Loader=yaml.SafeLoader)
        data = yaml.safe_load(text)
    except ValueError as exc:  # PyYAML reads 2026-02-30 as a date and fails outside YAMLError
        return CheckResult(file, (problem(TOP_LEVEL, f"not valid YAML: {exc}"),), None)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        what = getattr(exc, "problem", None) or str(exc)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark is not None else ""
        return CheckResult(file, (problem(TOP_LEVEL, f"not valid YAML{where}: {what}"),), None)
    lines = _Lines(root)
    problems = [problem(f.field, f.reason) for f in _duplicate_keys(root)]
    if not isinstance(data, dict):
        problems.append(problem(TOP_LEVEL, "expected a mapping of policy fields at the top level"))
        return CheckResult(file, tuple(problems), None)
    try:
        policy = Policy.model_validate(data)
    except ValidationError as exc:
        separate = _export_form_findings(data)
        if separate is not None:
            problems += [problem(f.field, f.reason, lines.of_field(f.field)) for f in separate]
            return CheckResult(file, tuple(problems), None)
        errors = exc.errors()
        for error in errors:
            loc = error["loc"]
            if error["type"] == "too_short" and any(e["loc"][: len(loc)] == loc != e["loc"] for e in errors):
                continue  # a list left empty only because its items are wrong: the items are reported
            if not loc:
                field, reason = _whole_file_error(_schema_reason(error), data)
                problems.append(problem(field, reason, lines.of_field(field)))
                continue
            problems.append(problem(_join(*loc), _schema_reason(error), lines.of(loc)))
        return CheckResult(file, tuple(problems), None)
    loaded: Directory | None
    if isinstance(directory, str | Path):
        try:
            loaded = load_directory_file(directory)
        except DirectoryError as exc:
            problems.append(Problem(str(directory), TOP_LEVEL, f"the directory cannot be used: {exc}"))
            return CheckResult(file, tuple(problems), policy)
    else:
        loaded = directory
    for check in CHECKS:
        for finding in check(policy, loaded):
            problems.append(problem(finding.field, finding.reason, lines.of_field(finding.field)))
    return CheckResult(file, tuple(problems), policy)


def check_policy_file(path: str | Path, directory: Directory | str | Path | None = None) -> list[Problem]:
    """Every problem with the policy file at `path` (empty when it is fit to go live)."""
    return list(check_policy(path, directory).problems)


def _limit(stage: Stage) -> str:
    """A stage's time limit in a few words: "3 working days", "agreed, at most 10", "48 hours", "open"."""
    if stage.steps:
        return (
            "in steps ("
            + ", then ".join(
                f"{s.within_hours} hours" if s.within_hours else f"{s.within_working_days} working days"
                for s in stage.steps
            )
            + ")"
        )
    if stage.limit_hours is not None:
        return f"{stage.limit_hours} hours"
    if stage.limit_by_priority is not None:
        return "by priority (" + ", ".join(f"{k} {v}" for k, v in stage.limit_by_priority.items()) + ")"
    if stage.limit_working_days is None:
        return "open"
    days = f"{stage.limit_working_days} working day{'' if stage.limit_working_days == 1 else 's'}"
    return f"agreed, at most {days}" if stage.timescale == "agreed" else days


def summary(policy: Policy, directory: str | Path | None = None) -> str:
    """What a file that passed holds, in one parenthesis: stages, timescales, who raises, urgent starts."""
    parts = [f"{len(policy.stages)} stages", "limits: " + "; ".join(_limit(s) for s in policy.stages)]
    if policy.total_limit_working_days is not None:
        parts.append(f"{policy.total_limit_working_days} working days in all")
    parts.append(f"{len(policy.issue_categories)} issue categories")
    parts.append(f"raised by {', '.join(policy.raised_by)}" if policy.raised_by else "raised by anyone")
    for start in policy.later_starts:
        parts.append(f"{'urgent' if start.when == 'urgent' else 'reoccurring'} start at stage {start.stage}")
    alert = policy.pattern_alert
    parts.append(
        f"pattern alert: {alert.challenges} challenges to one agency within {alert.within_days} days, told to "
        + ", ".join(policy.role_title(role) for role in alert.tell)
        if alert is not None
        else "no pattern alert"
    )
    parts.append(
        f"records kept {policy.retention.said} after a challenge ends, then erased"
        if policy.retention is not None
        else "no retention period: records are kept, nothing is erased"
    )
    parts.append(f"checked against {directory}" if directory is not None else "no directory given")
    return ", ".join(parts)
