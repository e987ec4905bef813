"""Run a written scenario through the real engine: a partnership tests its policy file before it goes live.

A scenario (YAML, see docs/SCENARIOS.md) raises one challenge as a person at an instant, then has people act
at later instants and lets time pass. Each step goes through `Engine` exactly as the bot would send it, and the
deadline clock runs in between at the instants it is due, so reminders and passed deadlines appear when they
would in production. The result is a timeline (JSON) of what happened, who was asked to act and who was told,
and which steps the procedure refused; `expect:` blocks in the scenario turn it into a test.

Actions are built from the scenario generically: a step's `do:` names an `ActionKind`, the class comes from
`ACTION_KINDS`, and the step's other keys fill the class's fields, converted by their annotations. An action
added to `process.challenge` can be written in a scenario without any change here.
"""

from __future__ import annotations

import dataclasses
import types
import typing
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from enum import Enum
from pathlib import Path
from typing import Any, TypeVar, Union
from zoneinfo import ZoneInfo

import yaml

from process.challenge import (
    ACTION_KINDS,
    SYSTEM,
    AuditEvent,
    Challenge,
    Decision,
    Notification,
    RaiseRequest,
    Refused,
)
from process.directory import Directory
from process.engine import Engine
from process.policy import Policy

_T = TypeVar("_T")

#: Scenario instants without an offset are London local time, and every instant is shown in both zones.
LONDON = ZoneInfo("Europe/London")

_SCENARIO_KEYS = ("title", "policy", "reference", "raise", "steps", "expect")
_STEP_KEYS = ("at", "by", "do", "note", "expect")
_RAISE_KEYS = ("at", "by", "note", "expect")


class ScenarioError(ValueError):
    """A scenario that cannot be run as written; `problems` lists each mistake with where it is."""

    def __init__(self, path: str, problems: Sequence[str]) -> None:
        super().__init__("\n".join(f"{path}: {p}" for p in problems))
        self.problems = tuple(problems)


class BadValue(ValueError):
    """One mistake in one value of a scenario."""


# ----- reading values -------------------------------------------------------------------------------------------


def parse_instant(value: object) -> datetime:
    """An instant as written in a scenario: ISO 8601 with an offset (`2026-03-02T09:00:00+00:00`, `...Z`), or
    without one as London local time (`2026-03-02 09:00`). Returned in UTC."""
    if isinstance(value, datetime):
        parsed = value
    elif isinstance(value, date):
        raise BadValue(f"{value.isoformat()} is a day; give the time too, e.g. {value.isoformat()} 09:00")
    elif isinstance(value, str):
        text = value.strip()
        if len(text) <= 10:
            try:
                day = date.fromisoformat(text)
            except ValueError:
                raise BadValue(
                    f"{text!r} is not an instant; write e.g. 2026-03-02 09:00 (London time)"
                ) from None
            raise BadValue(f"{day.isoformat()} is a day; give the time too, e.g. {day.isoformat()} 09:00")
        try:
            parsed = datetime.fromisoformat(text.replace("Z", "+00:00").replace("z", "+00:00"))
        except ValueError:
            raise BadValue(f"{text!r} is not an instant; write e.g. 2026-03-02 09:00 (London time)") from None
    else:
        raise BadValue(f"{value!r} is not an instant; write e.g. 2026-03-02 09:00 (London time)")
    if parsed.tzinfo is None or parsed.utcoffset() is None:
        first, second = parsed.replace(tzinfo=LONDON, fold=0), parsed.replace(tzinfo=LONDON, fold=1)
        if first.utcoffset() != second.utcoffset():
            raise BadValue(
                f"{parsed.isoformat(sep=' ')} is skipped or repeated when London's clocks change; give the "
                "offset, e.g. +00:00 or +01:00"
            )
        parsed = first
    return parsed.astimezone(UTC)


def _is_union(hint: object) -> bool:
    return typing.get_origin(hint) in (Union, types.UnionType)


def convert(value: object, hint: Any, where: str) -> object:
    """`value` from YAML as the annotated type `hint`: text, numbers, yes/no, dates, instants, enums, mappings,
    tuples and nested dataclasses; anything else is passed on as given."""
    origin = typing.get_origin(hint)
    args = typing.get_args(hint)
    if hint is Any or hint is object:
        return value
    if _is_union(hint):
        if value is None and type(None) in args:
            return None
        errors: list[str] = []
        for option in (a for a in args if a is not type(None)):
            try:
                return convert(value, option, where)
            except BadValue as exc:
                errors.append(str(exc))
        raise BadValue(errors[0] if errors else f"{where}: cannot be {value!r}")
    if value is None:
        raise BadValue(f"{where}: a value is needed")
    if isinstance(hint, type) and issubclass(hint, Enum):
        try:
            return hint(value)
        except ValueError:
            known = ", ".join(str(m.value) for m in hint)
            raise BadValue(f"{where}: {value!r} is not one of {known}") from None
    if hint is bool:
        if not isinstance(value, bool):
            raise BadValue(f"{where}: write true or false, not {value!r}")
        return value
    if hint is int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise BadValue(f"{where}: {value!r} is not a whole number")
        return value
    if hint is str:
        if isinstance(value, datetime | date):
            return value.isoformat()
        if isinstance(value, bool) or not isinstance(value, str | int | float):
            raise BadValue(f"{where}: {value!r} is not text")
        return str(value)
    if hint is datetime:
        try:
            return parse_instant(value)
        except BadValue as exc:
            raise BadValue(f"{where}: {exc}") from None
    if hint is date:
        if isinstance(value, date) and not isinstance(value, datetime):
            return value
        try:
            return date.fromisoformat(str(value))
        except ValueError:
            raise BadValue(f"{where}: {value!r} is not a date like 2026-03-02") from None
    if origin in (Mapping, dict) or hint in (Mapping, dict):
        if not isinstance(value, dict):
            raise BadValue(f"{where}: expected a mapping of names to values")
        key_hint, value_hint = args if len(args) == 2 else (Any, Any)
        return {
            convert(k, key_hint, f"{where}.{k}"): convert(v, value_hint, f"{where}.{k}")
            for k, v in value.items()
        }
    if origin in (tuple, list, Sequence, frozenset, set):
        if not isinstance(value, list):
            raise BadValue(f"{where}: expected a list")
        item_hint = args[0] if args else Any
        items = [convert(v, item_hint, f"{where}.{i}") for i, v in enumerate(value)]
        if origin is list:
            return items
        return frozenset(items) if origin in (frozenset, set) else tuple(items)
    if isinstance(hint, type) and dataclasses.is_dataclass(hint):
        if not isinstance(value, dict):
            raise BadValue(
                f"{where}: expected the fields of {hint.__name__}: {', '.join(_field_names(hint))}"
            )
        return build(hint, value, where)
    return value


def _field_names(cls: type) -> list[str]:
    return [f.name for f in dataclasses.fields(cls)]


def build(cls: type, values: Mapping[str, object], where: str) -> Any:
    """An instance of dataclass `cls` from a scenario's mapping, each field converted by its annotation."""
    hints = typing.get_type_hints(cls)
    names = _field_names(cls)
    unknown = [k for k in values if k not in names]
    if unknown:
        raise BadValue(
            f"{where}: {', '.join(map(str, unknown))} is not a field of {cls.__name__}; its fields: "
            f"{', '.join(names) or 'none'}"
        )
    kwargs: dict[str, object] = {}
    for f in dataclasses.fields(cls):
        if f.name in values:
            kwargs[f.name] = convert(values[f.name], hints[f.name], f"{where}.{f.name}")
        elif f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING:
            raise BadValue(f"{where}: {f.name} is needed ({cls.__name__})")
    return cls(**kwargs)


def action_classes() -> dict[str, type[object]]:
    """The action class for each `do:` value, from `ACTION_KINDS`."""
    return {kind.value: cls for cls, kind in ACTION_KINDS.items()}


# ----- the scenario -----------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Step:
    """One step: number 0 raises the challenge; later ones act (`action`) or let time pass (`action` None)."""

    number: int
    at: datetime
    label: str
    by: str | None = None
    action: object | None = None
    request: RaiseRequest | None = None
    note: str | None = None
    expect: Mapping[str, object] = field(default_factory=dict)


@dataclass(frozen=True)
class Scenario:
    path: str
    title: str
    policy_id: str
    reference: str | None
    raising: Step
    steps: tuple[Step, ...]
    expect: Mapping[str, object]


def _mapping(value: object, where: str) -> dict[str, object]:
    if not isinstance(value, dict):
        raise BadValue(f"{where}: expected a mapping of keys to values")
    return {str(k): v for k, v in value.items()}


#: What `expect:` may check, and the type each is written as (a list may be given as one item); the meaning
#: of each is in docs/SCENARIOS.md.
_EXPECT_TYPES: dict[str, Any] = {
    "status": str,
    "stage": int,
    "awaiting": str | None,
    "due_at": datetime | None,
    "next_due_at": datetime | None,
    "timescale_working_days": int | None,
    "asked_to_act_includes": list[str],
    "asked_to_act_excludes": list[str],
    "told_includes": list[str],
    "told_excludes": list[str],
    "happened_includes": list[str],
    "refused": bool,
    "refusal_code": str,
    "refusals": int,
}


def _expect(value: object, where: str) -> dict[str, object]:
    if value is None:
        return {}
    expect = _mapping(value, where)
    unknown = [k for k in expect if k not in _EXPECT_TYPES]
    if unknown:
        raise BadValue(f"{where}: {', '.join(unknown)} cannot be expected; known: {', '.join(_EXPECT_TYPES)}")
    out: dict[str, object] = {}
    for key, wanted in expect.items():
        hint = _EXPECT_TYPES[key]
        if typing.get_origin(hint) is list and not isinstance(wanted, list):
            wanted = [wanted]
        out[key] = convert(wanted, hint, f"{where}.{key}")
    return out


def _note(values: Mapping[str, object]) -> str | None:
    note = values.get("note")
    return None if note is None else str(note)


class _Problems(list[str]):
    """Mistakes found while reading a scenario; each part is read on its own so all are reported."""

    def attempt(self, read: Callable[[], _T]) -> _T | None:
        try:
            return read()
        except BadValue as exc:
            self.append(str(exc))
            return None


def _instant_at(values: Mapping[str, object], key: str, where: str, what: str) -> datetime:
    if values.get(key) is None:
        raise BadValue(f"{where}: needs {key} ({what})")
    try:
        return parse_instant(values[key])
    except BadValue as exc:
        raise BadValue(f"{where}.{key}: {exc}") from None


def _who(values: Mapping[str, object], where: str) -> str:
    if values.get("by") is None:
        raise BadValue(f"{where}: needs by (the person id, or email, of who acts)")
    return str(values["by"])


def _raise_step(values: dict[str, object], problems: _Problems) -> Step | None:
    where = "raise"
    fields = {k: v for k, v in values.items() if k not in _RAISE_KEYS}
    at = problems.attempt(lambda: _instant_at(values, "at", where, "when it is raised"))
    by = problems.attempt(lambda: _who(values, where))
    request = problems.attempt(lambda: build(RaiseRequest, fields, where))
    expect = problems.attempt(lambda: _expect(values.get("expect"), f"{where}.expect"))
    if at is None or by is None or request is None or expect is None:
        return None
    return Step(number=0, at=at, label="raise", by=by, request=request, note=_note(values), expect=expect)


def _step(number: int, values: dict[str, object], problems: _Problems) -> Step | None:
    where = f"step {number}"
    expect = problems.attempt(lambda: _expect(values.get("expect"), f"{where}.expect"))
    if "wait_until" in values:
        extra = [k for k in values if k not in ("wait_until", "note", "expect")]
        if extra:
            problems.append(
                f"{where}: a wait_until step has only note and expect besides; found {', '.join(extra)}"
            )
        until = problems.attempt(
            lambda: _instant_at(values, "wait_until", where, "the instant to wait until")
        )
        if until is None or expect is None or extra:
            return None
        label = f"wait until {until.astimezone(LONDON).isoformat()}"
        return Step(number=number, at=until, label=label, note=_note(values), expect=expect)
    at = problems.attempt(lambda: _instant_at(values, "at", where, "when the person acts"))
    by = problems.attempt(lambda: _who(values, where))
    kinds = action_classes()
    kind = values.get("do")
    cls = kinds.get(str(kind)) if kind is not None else None
    if cls is None:
        problems.append(
            f"{where}: needs do (an action: {', '.join(kinds)}) or wait_until"
            if kind is None
            else f"{where}: do {kind!r} is not an action; actions: {', '.join(kinds)}"
        )
        return None
    arguments = {k: v for k, v in values.items() if k not in _STEP_KEYS}
    action = problems.attempt(lambda: build(cls, arguments, where))
    if at is None or by is None or action is None or expect is None:
        return None
    return Step(
        number=number,
        at=at,
        label=f"{kind} by {by}",
        by=by,
        action=action,
        note=_note(values),
        expect=expect,
    )


def load_scenario(path: str | Path) -> Scenario:
    """Read and check a scenario file; `ScenarioError` lists every mistake found."""
    path = Path(path)
    name = str(path)
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise ScenarioError(name, [f"cannot read the file: {exc.strerror or exc}"]) from None
    except UnicodeDecodeError as exc:
        raise ScenarioError(name, [f"not UTF-8 text (byte {exc.start}); save it as UTF-8"]) from None
    except ValueError as exc:  # PyYAML reads 2026-02-30 as a date and fails outside YAMLError
        raise ScenarioError(name, [f"not valid YAML: {exc}"]) from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        at = f" at line {mark.line + 1}" if mark is not None else ""
        raise ScenarioError(name, [f"not valid YAML{at}: {getattr(exc, 'problem', None) or exc}"]) from None
    problems = _Problems()
    if not isinstance(raw, dict):
        raise ScenarioError(name, ["expected a mapping with policy, raise and steps"])
    data = {str(k): v for k, v in raw.items()}
    unknown = [k for k in data if k not in _SCENARIO_KEYS]
    if unknown:
        problems.append(f"{', '.join(unknown)} is not a scenario key; keys: {', '.join(_SCENARIO_KEYS)}")
    if not data.get("policy"):
        problems.append("policy: name the id of the policy the scenario is for (e.g. durham)")
    raise_values = problems.attempt(lambda: _mapping(data.get("raise"), "raise"))
    raising = None if raise_values is None else _raise_step(raise_values, problems)
    steps: list[Step] = []
    raw_steps = data.get("steps") or []
    if not isinstance(raw_steps, list):
        problems.append("steps: expected a list of steps")
        raw_steps = []
    for number, values in enumerate(raw_steps, start=1):
        if not isinstance(values, dict):
            problems.append(f"step {number}: expected a mapping of keys to values")
            continue
        step = _step(number, {str(k): v for k, v in values.items()}, problems)
        if step is not None:
            steps.append(step)
    expect = problems.attempt(lambda: _expect(data.get("expect"), "expect")) or {}
    previous = raising
    for step in steps:
        if previous is not None and step.at < previous.at:
            problems.append(
                f"step {step.number}: {step.at.astimezone(LONDON).isoformat()} is before the step before it "
                f"({previous.at.astimezone(LONDON).isoformat()}); steps go forward in time"
            )
        previous = step
    if problems or raising is None:
        raise ScenarioError(name, problems)
    reference = data.get("reference")
    return Scenario(
        path=name,
        title=str(data.get("title") or path.stem),
        policy_id=str(data["policy"]),
        reference=None if reference is None else str(reference),
        raising=raising,
        steps=tuple(steps),
        expect=expect,
    )


# ----- the output -------------------------------------------------------------------------------------------------


def instant(value: datetime | None) -> dict[str, str] | None:
    """An instant in UTC and in London time, both ISO 8601 with their offsets."""
    if value is None:
        return None
    return {"utc": value.astimezone(UTC).isoformat(), "london": value.astimezone(LONDON).isoformat()}


def plain(value: object) -> object:
    """A value of the engine as JSON: instants in both zones, enums as their values, dataclasses as objects."""
    if isinstance(value, datetime):
        return instant(value)
    if isinstance(value, Enum):
        return value.value
    if isinstance(value, date):
        return value.isoformat()
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: plain(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, Mapping):
        return {str(plain(k)): plain(v) for k, v in value.items()}
    if isinstance(value, tuple | list | set | frozenset):
        return [plain(v) for v in value]
    if value is None or isinstance(value, str | int | float | bool):
        return value
    return str(value)


def _recipient(n: Notification) -> dict[str, object]:
    return {
        "roles": list(n.roles),
        "name": n.recipient.name,
        "person_id": n.recipient.person_id,
        "email": n.recipient.email,
        "notification": n.kind.value,
    }


def _matches(n: Notification, who: str) -> bool:
    wanted = who.strip().lower()
    return wanted in ((n.recipient.person_id or "").lower(), (n.recipient.email or "").lower())


@dataclass
class _Entry:
    """One line of the timeline, with the engine's own values kept for the expectations."""

    step: int
    at: datetime
    actor: str
    action: str
    note: str | None = None
    events: tuple[AuditEvent, ...] = ()
    notifications: tuple[Notification, ...] = ()
    refused: Refused | None = None


@dataclass(frozen=True)
class SimulationResult:
    """The timeline as JSON-ready data, and every expectation that did not hold (empty: all held)."""

    output: dict[str, object]
    failures: tuple[str, ...]

    @property
    def ok(self) -> bool:
        return not self.failures


class _Run:
    def __init__(self, policy: Policy, directory: Directory, scenario: Scenario) -> None:
        self.policy = policy
        self.directory = directory
        self.scenario = scenario
        self.engine = Engine(policy, directory)
        self.challenge: Challenge | None = None
        self.entries: list[_Entry] = []
        self.timeline: list[dict[str, object]] = []
        self.expectations: list[dict[str, object]] = []
        self.failures: list[str] = []
        self.skipped: list[int] = []

    # ----- acting -----

    def actor_id(self, by: str) -> str:
        """A person id as given, or the id of the person with that email."""
        if by == SYSTEM or self.directory.person(by) is not None or "@" not in by:
            return by
        person = self.directory.person_by_email(by)
        return person.id if person is not None else by

    def record(self, entry: _Entry, roles_before: frozenset[str]) -> None:
        self.entries.append(entry)
        c = self.challenge
        person = self.directory.person(entry.actor)
        roles = roles_before or (frozenset(c.roles_of(entry.actor)) if c else frozenset())
        line: dict[str, object] = {
            "step": entry.step,
            "at": instant(entry.at),
            "by": {
                "id": entry.actor,
                "name": "the deadline clock" if entry.actor == SYSTEM else (person.name if person else None),
                "roles": sorted(roles),
            },
            "action": entry.action,
        }
        if entry.note:
            line["note"] = entry.note
        line["refused"] = (
            None if entry.refused is None else {"reason": entry.refused.reason, "code": entry.refused.code}
        )
        line["happened"] = [{"kind": e.kind, "summary": e.summary} for e in entry.events]
        line["asked_to_act"] = [_recipient(n) for n in entry.notifications if n.action_needed]
        line["told"] = [_recipient(n) for n in entry.notifications if not n.action_needed]
        line.update(self.state())
        self.timeline.append(line)

    def state(self) -> dict[str, object]:
        c = self.challenge
        if c is None:
            return {
                "status": None,
                "stage": None,
                "awaiting": None,
                "due_at": None,
                "next_due_at": None,
                "stages": [],
            }
        return {
            "status": c.status.value,
            "stage": c.stage,
            "awaiting": c.awaiting.value if c.awaiting else None,
            "due_at": instant(c.due_at),
            "next_due_at": instant(c.next_due_at),
            "stages": [self.stage_record(r) for r in c.stages],
        }

    def stage_record(self, record: object) -> object:
        data = plain(record)
        if isinstance(data, dict) and isinstance(data.get("number"), int):
            number = data["number"]
            name = self.policy.stage(number).name if 1 <= number <= len(self.policy.stages) else None
            return {"number": number, "name": name, **{k: v for k, v in data.items() if k != "number"}}
        return data

    def take(self, step: Step, action: object, actor: str, at: datetime, kind: str) -> bool:
        """Apply one action; a refusal is recorded, not raised. True when it was applied."""
        c = self.challenge
        assert c is not None
        roles = frozenset(c.roles_of(actor))
        entry = _Entry(
            step.number, at, actor, kind, step.note if actor != SYSTEM or step.action is None else None
        )
        try:
            decision: Decision = self.engine.apply(c, action, actor, at)  # type: ignore[arg-type]
        except Refused as exc:
            entry.refused = exc
            self.record(entry, roles)
            return False
        self.challenge = decision.challenge
        entry.events, entry.notifications = decision.events, decision.notifications
        self.record(entry, roles)
        return True

    def run_clock(self, step: Step, until: datetime) -> None:
        """Apply every clock action due up to `until`, each at the instant it falls due."""
        for _ in range(1000):
            c = self.challenge
            if c is None or not c.is_open or c.next_due_at is None or c.next_due_at > until:
                return
            at = c.next_due_at
            action = self.engine.due_action(c, at)
            if action is None:
                return
            if not self.take(step, action, SYSTEM, at, ACTION_KINDS[type(action)].value):
                return
        raise RuntimeError("the deadline clock did not settle after 1000 actions")

    def raise_challenge(self, step: Step) -> bool:
        assert step.request is not None and step.by is not None
        actor = self.actor_id(step.by)
        entry = _Entry(0, step.at, actor, "raise", step.note)
        reference = self.scenario.reference or f"{self.policy.reference_prefix}-SIM-0001"
        try:
            decision = self.engine.raise_challenge(
                step.request, actor, step.at, challenge_id="simulated-1", reference=reference
            )
        except Refused as exc:
            entry.refused = exc
            self.record(entry, frozenset())
            return False
        self.challenge = decision.challenge
        entry.events, entry.notifications = decision.events, decision.notifications
        self.record(entry, frozenset())
        return True

    # ----- expectations -----

    def check(self, expect: Mapping[str, object], own: list[_Entry], where: str) -> None:
        c = self.challenge
        asked = [n for e in own for n in e.notifications if n.action_needed]
        told = [n for e in own for n in e.notifications if not n.action_needed]
        refusals = [e.refused for e in own if e.refused is not None]
        for key, wanted in expect.items():
            found: object
            ok: bool
            if key in ("asked_to_act_includes", "asked_to_act_excludes", "told_includes", "told_excludes"):
                pool = asked if key.startswith("asked") else told
                people = [str(w) for w in (wanted if isinstance(wanted, list) else [wanted])]
                present = [w for w in people if any(_matches(n, w) for n in pool)]
                found = sorted({n.recipient.person_id or n.recipient.email or n.recipient.name for n in pool})
                ok = present == people if key.endswith("includes") else not present
            elif key == "happened_includes":
                kinds = [str(w) for w in (wanted if isinstance(wanted, list) else [wanted])]
                found = [ev.kind for e in own for ev in e.events]
                ok = all(k in found for k in kinds)
            elif key == "refused":
                found = bool(refusals)
                ok = found == wanted
            elif key == "refusal_code":
                found = refusals[0].code if refusals else None
                ok = found == wanted
            elif key == "refusals":
                found = sum(1 for e in self.entries if e.refused is not None)
                ok = found == wanted
            elif c is None:
                found, ok = "no challenge (it was not raised)", False
            elif key == "status":
                found = c.status.value
                ok = found == wanted
            elif key == "stage":
                found = c.stage
                ok = found == wanted
            elif key == "awaiting":
                found = c.awaiting.value if c.awaiting else None
                ok = found == wanted
            elif key in ("due_at", "next_due_at"):
                value = c.due_at if key == "due_at" else c.next_due_at
                found = instant(value)
                ok = value == wanted
            else:  # timescale_working_days
                found = c.current.timescale_working_days
                ok = found == wanted
            shown = instant(wanted) if isinstance(wanted, datetime) else wanted
            self.expectations.append(
                {"where": where, "key": key, "expected": shown, "found": found, "ok": ok}
            )
            if not ok:
                self.failures.append(
                    f"{self.scenario.path}: {where}: expected {key} {_show(shown)}, found {_show(found)}"
                )

    def not_run(self, expect: Mapping[str, object], where: str) -> None:
        for key, wanted in expect.items():
            shown = instant(wanted) if isinstance(wanted, datetime) else wanted
            self.expectations.append(
                {"where": where, "key": key, "expected": shown, "found": None, "ok": False}
            )
            self.failures.append(
                f"{self.scenario.path}: {where}: expected {key} {_show(shown)}, but the step did not run: the "
                "challenge was not raised"
            )

    # ----- the whole scenario -----

    def run(self) -> SimulationResult:
        s = self.scenario
        raised = self.raise_challenge(s.raising)
        self.check(s.raising.expect, self.entries[-1:], "raise")
        last_own: list[_Entry] = self.entries[-1:]
        for step in s.steps:
            where = f"step {step.number} ({step.label})"
            if not raised:
                self.skipped.append(step.number)
                self.not_run(step.expect, where)
                continue
            if step.action is None:
                before = len(self.entries)
                self.run_clock(step, step.at)
                own = self.entries[before:]
            else:
                assert step.by is not None
                self.run_clock(step, step.at)
                actor = self.actor_id(step.by)
                kind = ACTION_KINDS[type(step.action)].value
                self.take(step, step.action, actor, step.at, kind)
                own = self.entries[-1:]
            self.check(step.expect, own, where)
            last_own = own
        self.check(s.expect, last_own, "end")
        return SimulationResult(self.output(), tuple(self.failures))

    def output(self) -> dict[str, object]:
        c = self.challenge
        refusals = [
            {
                "step": e.step,
                "at": instant(e.at),
                "by": e.actor,
                "action": e.action,
                "reason": e.refused.reason,
                "code": e.refused.code,
            }
            for e in self.entries
            if e.refused is not None
        ]
        final: dict[str, object] | None = None
        if c is not None:
            final = {
                "reference": c.reference,
                **self.state(),
                "agreed_outcome": c.agreed_outcome,
                "closed_at": instant(c.closed_at),
                "parties": {
                    role: {"name": who.name, "person_id": who.person_id, "email": who.email}
                    for role, who in c.parties.items()
                },
            }
        return {
            "scenario": self.scenario.path,
            "title": self.scenario.title,
            "policy": self.policy.id,
            "procedure": self.policy.procedure,
            "timeline": self.timeline,
            "refusals": refusals,
            "final": final,
            "skipped_steps": self.skipped,
            "expectations": self.expectations,
            "ok": not self.failures,
        }


def _show(value: object) -> str:
    if isinstance(value, dict) and "london" in value:
        return str(value["london"])
    return repr(value) if isinstance(value, str) else str(value)


def simulate(policy: Policy, directory: Directory, scenario: Scenario) -> SimulationResult:
    """Run `scenario` through the engine of `policy` and `directory`."""
    if scenario.policy_id != policy.id:
        raise ScenarioError(
            scenario.path,
            [f"policy: the scenario is for {scenario.policy_id!r}, the policy file is {policy.id!r}"],
        )
    # Roles are the policy's own: a step naming a role the policy does not declare is a mistake in the file.
    known = [r.id for r in policy.roles]
    wrong = [
        f"step {step.number}.role: {role!r} is not one of {', '.join(known)}"
        for step in scenario.steps
        if isinstance(role := getattr(step.action, "role", None), str) and role not in known
    ]
    if wrong:
        raise ScenarioError(scenario.path, wrong)
    return _Run(policy, directory, scenario).run()


def simulate_files(
    policy_file: str | Path, directory_file: str | Path, scenario_file: str | Path
) -> SimulationResult:
    """Load the three files and run the scenario; `PolicyError`, `DirectoryError` or `ScenarioError` when one
    of them cannot be used."""
    from process.directory_file import load_directory_file
    from process.policy import load_policy

    policy = load_policy(policy_file)
    directory = load_directory_file(directory_file)
    return simulate(policy, directory, load_scenario(scenario_file))
