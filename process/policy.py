"""A partnership's professional challenge procedure, as data.

Each partnership ships one YAML file (see `process/policies/`). The file is validated when it is loaded, so a
malformed procedure is refused at start-up with the file, the field and the reason, never half-applied later.
"""

from __future__ import annotations

from enum import StrEnum
from pathlib import Path
from typing import Annotated, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

POLICY_DIR = Path(__file__).parent / "policies"


class Role(StrEnum):
    """The parts people play in one challenge, in the procedures' own words."""

    RAISER = "raiser"
    RAISER_LINE_MANAGER = "raiser_line_manager"
    RAISER_SENIOR_MANAGER = "raiser_senior_manager"
    RAISER_SAFEGUARDING_LEAD = "raiser_safeguarding_lead"
    CHALLENGED_PROFESSIONAL = "challenged_professional"
    CHALLENGED_LINE_MANAGER = "challenged_line_manager"
    CHALLENGED_SENIOR_MANAGER = "challenged_senior_manager"
    CHALLENGED_SAFEGUARDING_LEAD = "challenged_safeguarding_lead"
    BUSINESS_MANAGER = "partnership_business_manager"
    PARTNERSHIP_ADMIN = "partnership_admin"
    HEAD_OF_SAFEGUARDING = "head_of_safeguarding"
    INDEPENDENT_SCRUTINEER = "independent_scrutineer"
    EXECUTIVE = "executive"
    QRT_BUSINESS_MANAGER = "qrt_business_manager"


#: Roles held for the whole partnership (from its directory), not for one side of a challenge.
PARTNERSHIP_ROLES: frozenset[Role] = frozenset(
    {
        Role.BUSINESS_MANAGER,
        Role.PARTNERSHIP_ADMIN,
        Role.HEAD_OF_SAFEGUARDING,
        Role.INDEPENDENT_SCRUTINEER,
        Role.EXECUTIVE,
        Role.QRT_BUSINESS_MANAGER,
    }
)

ROLE_TITLES: dict[Role, str] = {
    Role.RAISER: "Raiser",
    Role.RAISER_LINE_MANAGER: "Raiser's line manager",
    Role.RAISER_SENIOR_MANAGER: "Raiser's senior manager",
    Role.RAISER_SAFEGUARDING_LEAD: "Raiser's safeguarding lead",
    Role.CHALLENGED_PROFESSIONAL: "Professional challenged",
    Role.CHALLENGED_LINE_MANAGER: "Professional's line manager",
    Role.CHALLENGED_SENIOR_MANAGER: "Agency senior manager",
    Role.CHALLENGED_SAFEGUARDING_LEAD: "Agency safeguarding lead",
    Role.BUSINESS_MANAGER: "Partnership business manager",
    Role.PARTNERSHIP_ADMIN: "Partnership admin",
    Role.HEAD_OF_SAFEGUARDING: "Head of Safeguarding",
    Role.INDEPENDENT_SCRUTINEER: "Independent Scrutineer",
    Role.EXECUTIVE: "Partnership Executive",
    Role.QRT_BUSINESS_MANAGER: "Business Manager for QRT",
}


class PolicyError(ValueError):
    """A policy file that cannot be used; the message names the file, the field and the reason."""


class _Model(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class IssueCategory(_Model):
    id: Annotated[str, Field(pattern=r"^[a-z0-9_]+$")]
    label: Annotated[str, Field(min_length=1)]


class FormField(_Model):
    """A field of the partnership's form that a stage records."""

    id: Annotated[str, Field(pattern=r"^[a-z0-9_]+$")]
    label: Annotated[str, Field(min_length=1)]
    kind: Literal["text", "date"] = "text"
    required: bool = True


class Meeting(_Model):
    """A meeting a stage may hold, e.g. Rochdale's multi-agency discussion."""

    name: Annotated[str, Field(min_length=1)]
    chair: Role | None = None


class CopyIn(_Model):
    """A role copied in on every challenge from a stage onwards (Durham's QRT business manager)."""

    role: Role
    from_stage: Annotated[int, Field(ge=1)]


class Stage(_Model):
    number: Annotated[int, Field(ge=1)]
    name: Annotated[str, Field(min_length=1)]
    description: Annotated[str, Field(min_length=1)]
    limit_working_days: Annotated[int, Field(ge=1, le=60)] | None
    timescale: Literal["fixed", "agreed"] = "fixed"
    raiser_side: Annotated[tuple[Role, ...], Field(min_length=1)]
    challenged_side: Annotated[tuple[Role, ...], Field(min_length=1)]
    consult: tuple[Role, ...] = ()
    informed: tuple[Role, ...] = ()
    response_label: Annotated[str, Field(min_length=1)] = "Response"
    requires_informal_evidence: bool = False
    entry_fields: tuple[FormField, ...] = ()
    meeting: Meeting | None = None
    final: bool = False
    closed_by: tuple[Role, ...] = ()

    @model_validator(mode="after")
    def _final_stage_is_closed_by_someone(self) -> Stage:
        if self.final and not self.closed_by:
            raise ValueError("a final stage must say who closes it (closed_by)")
        if self.timescale == "agreed" and self.limit_working_days is None:
            raise ValueError("an agreed timescale needs limit_working_days as its cap")
        return self


class ChildFields(_Model):
    """Which child-identifying fields the partnership's form asks for, and what it calls them."""

    name_label: Annotated[str, Field(min_length=1)]
    date_of_birth: Literal["required", "optional"]
    agency_reference: Literal["required", "optional"]


class Policy(_Model):
    """One partnership's whole procedure; `stages` are in order, starting at 1."""

    id: Annotated[str, Field(pattern=r"^[a-z0-9_]+$")]
    partnership: Annotated[str, Field(min_length=1)]
    short_name: Annotated[str, Field(min_length=1)]
    procedure: Annotated[str, Field(min_length=1)]
    reference_prefix: Annotated[str, Field(pattern=r"^[A-Z]{2,5}$")]
    nation: Literal["ENG", "WLS", "SCT", "NIR"]
    closures: tuple[str, ...] = ()
    due_time: Annotated[str, Field(pattern=r"^([01][0-9]|2[0-3]):[0-5][0-9]$")] = "17:00"
    total_limit_working_days: Annotated[int, Field(ge=1)] | None = None
    raised_by: tuple[str, ...] = ()
    escalated_by: Literal["raiser_side", "either_side"] = "raiser_side"
    urgent_start_stages: tuple[int, ...] = ()
    on_deadline_passed: Literal["escalate", "ask_raiser"] = "ask_raiser"
    reminder_working_days_before: Annotated[int, Field(ge=0, le=10)] = 1
    final_stage_notify: tuple[Role, ...] = ()
    copy_in: tuple[CopyIn, ...] = ()
    child_fields: ChildFields
    issue_categories: Annotated[tuple[IssueCategory, ...], Field(min_length=1)]
    immediate_risk: Annotated[str, Field(min_length=1)]
    not_for_complaints: Annotated[str, Field(min_length=1)]
    stages: Annotated[tuple[Stage, ...], Field(min_length=1)]

    @model_validator(mode="after")
    def _stages_are_consistent(self) -> Policy:
        numbers = [s.number for s in self.stages]
        if numbers != list(range(1, len(numbers) + 1)):
            raise ValueError(f"stages must be numbered 1, 2, 3... in order; found {numbers}")
        finals = [s.number for s in self.stages if s.final]
        if finals != [numbers[-1]]:
            raise ValueError("exactly the last stage must be marked final")
        for n in self.urgent_start_stages:
            if n not in numbers or n == 1:
                raise ValueError(f"urgent_start_stages names stage {n}, which is not a later stage")
        for c in self.copy_in:
            if c.from_stage not in numbers:
                raise ValueError(f"copy_in names stage {c.from_stage}, which does not exist")
        ids = [c.id for c in self.issue_categories]
        if len(set(ids)) != len(ids):
            raise ValueError("issue category ids must be unique")
        for d in self.closures:
            _check_closure(d)
        return self

    def stage(self, number: int) -> Stage:
        """The stage numbered `number`; KeyError if the procedure has no such stage."""
        if 1 <= number <= len(self.stages):
            return self.stages[number - 1]
        raise KeyError(f"{self.short_name} has no stage {number}")

    @property
    def final_stage(self) -> Stage:
        return self.stages[-1]

    def category(self, category_id: str) -> IssueCategory | None:
        return next((c for c in self.issue_categories if c.id == category_id), None)

    def copied_in_at(self, stage_number: int) -> tuple[Role, ...]:
        """Roles copied in on a challenge that is at `stage_number`."""
        return tuple(c.role for c in self.copy_in if stage_number >= c.from_stage)


def _check_closure(text: str) -> None:
    """A closure is a date (2026-12-29), a yearly day (12-24) or a yearly range (12-24..01-01)."""
    from process.calendar import parse_closure

    parse_closure(text)


def load_policy(name_or_path: str | Path) -> Policy:
    """Load a shipped policy by name (`durham`) or a partnership's own file by path.

    Raises `PolicyError` naming the file, the field and the reason when the file cannot be used.
    """
    path = Path(name_or_path)
    if path.suffix not in (".yaml", ".yml"):
        path = POLICY_DIR / f"{name_or_path}.yaml"
    if not path.is_file():
        known = ", ".join(sorted(p.stem for p in POLICY_DIR.glob("*.yaml")))
        raise PolicyError(f"{path}: no such policy file (shipped policies: {known})")
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as exc:
        raise PolicyError(f"{path}: not valid YAML: {exc}") from exc
    if not isinstance(data, dict):
        raise PolicyError(f"{path}: expected a mapping of policy fields at the top level")
    try:
        return Policy.model_validate(data)
    except ValidationError as exc:
        problems = "; ".join(
            f"field {'.'.join(str(p) for p in err['loc']) or '(top level)'}: {err['msg']}"
            for err in exc.errors()
        )
        raise PolicyError(f"{path}: {problems}") from exc


def shipped_policies() -> tuple[str, ...]:
    """Names of the policies that ship with the product."""
    return tuple(sorted(p.stem for p in POLICY_DIR.glob("*.yaml")))
