"""A partnership's professional challenge procedure, as data.

Each partnership ships one YAML file (see `process/policies/` and `docs/POLICY.md`). The file is validated when
it is loaded, so a malformed procedure is refused at start-up with the file, the field and the reason, never
half-applied later.

Roles are data too: each policy declares the parts people play in one of its challenges (their titles, which
side they are on, and how the directory finds the person), so a procedure with its own role names needs no
code. A policy that declares no roles gets `STANDARD_ROLES`, the parts both shipped procedures name.
"""

from __future__ import annotations

import re
from datetime import date, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

if TYPE_CHECKING:
    from dateutil.relativedelta import relativedelta

POLICY_DIR = Path(__file__).parent / "policies"

#: A role's id, as a policy declares it (`raiser`, `challenged_line_manager`, `head_of_safeguarding`...).
RoleId = str

_ID = r"^[a-z0-9_]+$"


class Role:
    """The ids of the standard roles (see `STANDARD_ROLES`); a policy may declare others of its own."""

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


class PolicyError(ValueError):
    """A policy file that cannot be used; the message names the file, the field and the reason."""


class _Model(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


RoleSide = Literal["raiser", "challenged", "partnership"]
Whose = Literal["raiser", "challenged"]


class FindBy(_Model):
    """One way of finding who holds a role, tried in the order a role lists them.

    - `raiser`: the person raising the challenge; `challenged`: the professional challenged.
    - `line_manager`: `levels` up the line-manager chain of the raiser or the challenged professional (`of`).
    - `safeguarding_lead`: the safeguarding lead of the raiser's or the challenged agency (`of`).
    - `agency_post`: the person of that agency whose directory job roles include `post` (e.g. every school's
      `head_teacher`).
    - `partnership_post`: the partnership's own post named `post` in the directory (default: the role's id).
    - `escalation_contact`: the agency's escalation contact for stage `stage` (the contact table).
    - `named`: whoever the raiser names on the form for this role (optional there), e.g. the child's lead
      professional or conference chair, who is in no agency's line of the challenge.
    """

    who: Literal[
        "named",
        "raiser",
        "challenged",
        "line_manager",
        "safeguarding_lead",
        "agency_post",
        "partnership_post",
        "escalation_contact",
    ]
    of: Whose | None = None
    levels: Annotated[int, Field(ge=1, le=5)] = 1
    post: Annotated[str, Field(pattern=_ID)] | None = None
    stage: Annotated[int, Field(ge=1, le=20)] | None = None

    @model_validator(mode="after")
    def _complete(self) -> FindBy:
        if self.who in ("line_manager", "safeguarding_lead", "agency_post", "escalation_contact"):
            if self.of is None:
                raise ValueError(f"'{self.who}' needs 'of': raiser or challenged")
        elif self.of is not None:
            raise ValueError(f"'{self.who}' takes no 'of'")
        if self.who == "agency_post" and self.post is None:
            raise ValueError("'agency_post' needs 'post': the directory job role to look for")
        if self.who == "escalation_contact" and self.stage is None:
            raise ValueError("'escalation_contact' needs 'stage': whose contact-table entry to use")
        if self.levels != 1 and self.who != "line_manager":
            raise ValueError("'levels' is for 'line_manager' only")
        return self


class RoleSpec(_Model):
    """A part people play in a challenge: its id, the title cards show, its side, and how it is found."""

    id: Annotated[str, Field(pattern=_ID)]
    title: Annotated[str, Field(min_length=1, max_length=80)]
    side: RoleSide
    found: Annotated[tuple[FindBy, ...], Field(min_length=1)]

    @model_validator(mode="after")
    def _side_matches(self) -> RoleSpec:
        bases = [way.who for way in self.found if way.who in ("raiser", "challenged")]
        if bases and len(self.found) > 1:
            raise ValueError(f"a role found as the '{bases[0]}' is found that way only")
        for way in self.found:
            whose = way.of or (way.who if way.who in ("raiser", "challenged") else None)
            if self.side == "partnership" and way.who not in ("partnership_post", "named"):
                raise ValueError("a partnership role is found as a 'partnership_post' or 'named'")
            if self.side != "partnership" and way.who == "partnership_post":
                raise ValueError(
                    f"a {self.side}-side role is found in its own agency, not as a partnership post"
                )
            if whose is not None and whose != self.side:
                raise ValueError(f"a {self.side}-side role cannot be found from the {whose}'s side")
        return self

    @property
    def post(self) -> str:
        """The directory's post of a partnership role (its own id unless it says otherwise)."""
        return next((w.post for w in self.found if w.who == "partnership_post" and w.post), self.id)


def _way(who: str, **more: Any) -> FindBy:
    return FindBy(who=who, **more)


#: The parts both shipped procedures name, for a policy that declares no `roles` of its own.
STANDARD_ROLES: tuple[RoleSpec, ...] = (
    RoleSpec(id=Role.RAISER, title="Raiser", side="raiser", found=(_way("raiser"),)),
    RoleSpec(
        id=Role.RAISER_LINE_MANAGER,
        title="Raiser's line manager",
        side="raiser",
        found=(_way("line_manager", of="raiser"), _way("escalation_contact", of="raiser", stage=2)),
    ),
    RoleSpec(
        id=Role.RAISER_SENIOR_MANAGER,
        title="Raiser's senior manager",
        side="raiser",
        found=(_way("line_manager", of="raiser", levels=2), _way("escalation_contact", of="raiser", stage=3)),
    ),
    RoleSpec(
        id=Role.RAISER_SAFEGUARDING_LEAD,
        title="Raiser's safeguarding lead",
        side="raiser",
        found=(_way("safeguarding_lead", of="raiser"), _way("escalation_contact", of="raiser", stage=3)),
    ),
    RoleSpec(
        id=Role.CHALLENGED_PROFESSIONAL,
        title="Professional challenged",
        side="challenged",
        found=(_way("challenged"),),
    ),
    RoleSpec(
        id=Role.CHALLENGED_LINE_MANAGER,
        title="Professional's line manager",
        side="challenged",
        found=(_way("line_manager", of="challenged"), _way("escalation_contact", of="challenged", stage=2)),
    ),
    RoleSpec(
        id=Role.CHALLENGED_SENIOR_MANAGER,
        title="Agency senior manager",
        side="challenged",
        found=(
            _way("line_manager", of="challenged", levels=2),
            _way("escalation_contact", of="challenged", stage=3),
        ),
    ),
    RoleSpec(
        id=Role.CHALLENGED_SAFEGUARDING_LEAD,
        title="Agency safeguarding lead",
        side="challenged",
        found=(
            _way("safeguarding_lead", of="challenged"),
            _way("escalation_contact", of="challenged", stage=3),
        ),
    ),
    *(
        RoleSpec(id=role_id, title=title, side="partnership", found=(_way("partnership_post"),))
        for role_id, title in (
            (Role.BUSINESS_MANAGER, "Partnership business manager"),
            (Role.PARTNERSHIP_ADMIN, "Partnership admin"),
            (Role.HEAD_OF_SAFEGUARDING, "Head of Safeguarding"),
            (Role.INDEPENDENT_SCRUTINEER, "Independent Scrutineer"),
            (Role.EXECUTIVE, "Partnership Executive"),
            (Role.QRT_BUSINESS_MANAGER, "Business Manager for QRT"),
        )
    ),
)


class IssueCategory(_Model):
    id: Annotated[str, Field(pattern=_ID)]
    label: Annotated[str, Field(min_length=1)]


class FormField(_Model):
    """A field of the partnership's form that a stage records."""

    id: Annotated[str, Field(pattern=_ID)]
    label: Annotated[str, Field(min_length=1)]
    kind: Literal["text", "date"] = "text"
    required: bool = True


class Meeting(_Model):
    """A meeting a stage may hold, e.g. Rochdale's multi-agency discussion."""

    name: Annotated[str, Field(min_length=1)]
    chair: RoleId | None = None


class CopyIn(_Model):
    """A role copied in on every challenge from a stage onwards (Durham's QRT business manager).

    `updates: stage_changes` tells them when a challenge is raised, changes stage and ends; `updates: all` also
    sends every response, proposal, agreed timescale and meeting record (Rochdale: "updated until the matter
    is resolved").
    """

    role: RoleId
    from_stage: Annotated[int, Field(ge=1)]
    updates: Literal["stage_changes", "all"] = "stage_changes"


class LaterStart(_Model):
    """A stage a challenge may be raised straight at, and on what condition.

    `urgent`: the raiser says resolution is urgent (Rochdale: "Go straight to Stage 3-4"); `recurring`: the
    issue is reoccurring after a resolved challenge to the same agency about the same issue (Durham 5.4), which
    the new challenge is linked to; `with_reason`: on the condition `label` names (e.g. a chair's skip-ahead
    after consulting their manager), with the raiser's reason recorded.
    """

    stage: Annotated[int, Field(ge=2)]
    when: Literal["urgent", "recurring", "with_reason"]
    #: For `with_reason`: the condition in the procedure's words ("after consulting your manager"); the
    #: raiser gives the reason, which is recorded.
    label: Annotated[str, Field(min_length=1, max_length=200)] | None = None

    @model_validator(mode="after")
    def _labelled(self) -> LaterStart:
        if (self.when == "with_reason") != (self.label is not None):
            raise ValueError("a 'with_reason' later start needs a label (the condition), and only it has one")
        return self


class PatternAlert(_Model):
    """Who is told when one agency receives `challenges` challenges within `within_days` days (Durham 5.5:
    "data collection to identify if repeated forms are being sent to a particular agency").

    The numbers are the partnership's setting, not a procedure's words. A pattern is told once: the next alert
    for the same agency needs a further `challenges` raised after the last one counted. Withdrawn challenges
    are not counted unless `count_withdrawn`.
    """

    challenges: Annotated[int, Field(ge=2, le=1000)]
    within_days: Annotated[int, Field(ge=1, le=3660)]
    tell: Annotated[tuple[RoleId, ...], Field(min_length=1)]
    count_withdrawn: bool = False
    #: What the procedure says happens next, in its own words, shown on the alert (Durham 5.5: "the IRO
    #: Service Manager would consider escalating the issue to the DSCP Business Manager").
    guidance: Annotated[str, Field(min_length=1, max_length=1000)] | None = None


class Priority(_Model):
    """A priority the raiser chooses, which can set a stage's time limit (e.g. high 2, low 10 working days)."""

    id: Annotated[str, Field(pattern=_ID)]
    label: Annotated[str, Field(min_length=1)]


class Step(_Model):
    """A step inside a stage, with its owner and its own time ("the chair sends the form within 3 working
    days; the line manager answers within 10 of receiving it"): each step's time runs from the step before's
    completion (the first from the stage's start), in working days or clock hours."""

    id: Annotated[str, Field(pattern=_ID)]
    name: Annotated[str, Field(min_length=1)]
    owner: RoleId
    within_working_days: Annotated[int, Field(ge=1, le=60)] | None = None
    within_hours: Annotated[int, Field(ge=1, le=24 * 30)] | None = None

    @model_validator(mode="after")
    def _one_limit(self) -> Step:
        if (self.within_working_days is None) == (self.within_hours is None):
            raise ValueError(f"step {self.id} needs one of within_working_days or within_hours")
        return self


class Stage(_Model):
    """One stage. Its time limit is one of: `limit_working_days`; `limit_hours` (clock hours, "within 48
    hours"); `limit_by_priority` (working days for each of the policy's priorities); or none (`null`)."""

    number: Annotated[int, Field(ge=1)]
    name: Annotated[str, Field(min_length=1)]
    description: Annotated[str, Field(min_length=1)]
    limit_working_days: Annotated[int, Field(ge=1, le=60)] | None = None
    limit_hours: Annotated[int, Field(ge=1, le=24 * 30)] | None = None
    limit_by_priority: dict[Annotated[str, Field(pattern=_ID)], Annotated[int, Field(ge=1, le=60)]] | None = (
        None
    )
    timescale: Literal["fixed", "agreed"] = "fixed"
    raiser_side: Annotated[tuple[RoleId, ...], Field(min_length=1)]
    challenged_side: Annotated[tuple[RoleId, ...], Field(min_length=1)]
    consult: tuple[RoleId, ...] = ()
    informed: tuple[RoleId, ...] = ()
    response_label: Annotated[str, Field(min_length=1)] = "Response"
    requires_informal_evidence: bool = False
    entry_fields: tuple[FormField, ...] = ()
    meeting: Meeting | None = None
    final: bool = False
    closed_by: tuple[RoleId, ...] = ()
    #: Steps inside the stage, each with its owner and time; the stage is due as its current step is.
    steps: tuple[Step, ...] = ()
    #: Who may escalate from this stage, when not the policy's `escalated_by` (Durham 5.4: the Business Manager
    #: considers escalation to the Executive).
    escalated_by: tuple[RoleId, ...] = ()
    #: `both_sides` (default): one side proposes the outcome, the other confirms it. `raiser_side`: the raising
    #: side decides it alone (Durham 5.2: "The IRO will decide as to whether this can be resolved informally").
    outcome_decided_by: Literal["both_sides", "raiser_side"] = "both_sides"

    @model_validator(mode="after")
    def _final_stage_is_closed_by_someone(self) -> Stage:
        if self.final and not self.closed_by:
            raise ValueError("a final stage must say who closes it (closed_by)")
        limits = [
            name
            for name in ("limit_working_days", "limit_hours", "limit_by_priority")
            if getattr(self, name) is not None
        ]
        if len(limits) > 1:
            raise ValueError(f"stage {self.number} gives {' and '.join(limits)}: give one time limit")
        if self.limit_by_priority is not None and not self.limit_by_priority:
            raise ValueError(f"stage {self.number}'s limit_by_priority needs at least 1 priority")
        if self.steps and limits:
            raise ValueError(f"stage {self.number} has steps, which give its time: drop {limits[0]}")
        ids = [step.id for step in self.steps]
        if len(set(ids)) != len(ids):
            raise ValueError(f"stage {self.number}'s step ids must be unique")
        if self.timescale == "agreed" and self.limit_working_days is None:
            raise ValueError("an agreed timescale needs limit_working_days as its cap")
        both = sorted(set(self.raiser_side) & set(self.challenged_side))
        if both:
            raise ValueError(f"role {', '.join(both)} is on both sides of stage {self.number}")
        return self

    def roles_used(self) -> dict[str, tuple[RoleId, ...]]:
        """Every role the stage names, by the field that names it."""
        return {
            "raiser_side": self.raiser_side,
            "challenged_side": self.challenged_side,
            "consult": self.consult,
            "informed": self.informed,
            "closed_by": self.closed_by,
            "meeting.chair": (self.meeting.chair,) if self.meeting and self.meeting.chair else (),
            "steps.owner": tuple(step.owner for step in self.steps),
            "escalated_by": self.escalated_by,
        }


class ChildFields(_Model):
    """Which child-identifying fields the partnership's form asks for, and what it calls them.

    `absent` means the form does not ask (Durham's form has a family name only), so the bot does not either.
    """

    name_label: Annotated[str, Field(min_length=1)]
    date_of_birth: Literal["required", "optional", "absent"]
    agency_reference: Literal["required", "optional", "absent"]


class FormWording(_Model):
    """The words of the partnership's own form: its title and the labels of what the raiser writes."""

    title: Annotated[str, Field(min_length=1)] = "Professional challenge form"
    concern_label: Annotated[str, Field(min_length=1)] = "The concern"
    desired_outcome_label: Annotated[str, Field(min_length=1)] = "The outcome you would like to see"
    agency_reference_label: Annotated[str, Field(min_length=1)] = "Agency reference number"
    date_of_birth_label: Annotated[str, Field(min_length=1)] = "Date of birth"
    informal_evidence_label: Annotated[str, Field(min_length=1)] | None = None
    urgent_note: Annotated[str, Field(min_length=1)] = (
        "If it is urgent, telephone the person you are challenging as well: do not wait for a reply to a "
        "message."
    )

    @property
    def form_name(self) -> str:
        return self.title


class ExportRow(_Model):
    """A row of the exported form: the form's own label, and where its value comes from in the record.

    `source` names one value (`child.name`, `stage.2.due`, `field.reasons_for_escalation`...; the list is in
    `process.export_form.SOURCES` and docs/POLICY.md); in a section with `columns`, `cells` names one source per
    column after the first, which is the row's label. `style` lays the value out on the label's `line` or in a
    `box` under it (default: by the source). `stages` lists the stages a `stage_now` row offers to tick.
    """

    label: Annotated[str, Field(min_length=1, max_length=300)] | None = None
    source: Annotated[str, Field(min_length=1, max_length=100)] | None = None
    cells: tuple[Annotated[str, Field(min_length=1, max_length=100)], ...] = ()
    style: Literal["line", "box"] | None = None
    stages: tuple[Annotated[int, Field(ge=1)], ...] = ()
    #: The row is not on the partnership's form: its label is this deployment's own words (marked as such on
    #: the exported form), added so that something the record holds is not left out.
    deployment: bool = False

    @model_validator(mode="after")
    def _one_source(self) -> ExportRow:
        if (self.source is None) == (not self.cells):
            raise ValueError("a row of the export form gives either 'source' or 'cells' (in a section with columns)")
        return self


class ExportSection(_Model):
    """A section of the exported form: an optional heading and note, then its rows; with `columns`, a table
    whose first column is each row's label."""

    heading: Annotated[str, Field(min_length=1, max_length=300)] | None = None
    note: Annotated[str, Field(min_length=1, max_length=500)] | None = None
    columns: tuple[Annotated[str, Field(min_length=1, max_length=300)], ...] = ()
    rows: Annotated[tuple[ExportRow, ...], Field(min_length=1)]


class ExportForm(_Model):
    """The partnership's own form as a document filled from the record (`challenge-bot export`): its title
    (default: `form.title`), a notice printed above it ("MUST BE SENT/STORED SECURELY"), its sections in
    order and a closing line."""

    title: Annotated[str, Field(min_length=1, max_length=200)] | None = None
    subtitle: Annotated[str, Field(min_length=1, max_length=200)] | None = None
    notice: Annotated[str, Field(min_length=1, max_length=300)] | None = None
    sections: Annotated[tuple[ExportSection, ...], Field(min_length=1)]
    footer: Annotated[str, Field(min_length=1, max_length=1000)] | None = None


#: Texts a policy carries that a deployment may have written itself rather than taken from the procedure.
GuidanceText = Literal["immediate_risk", "not_for_complaints", "issue_categories"]


class Retention(_Model):
    """How long a challenge's record is kept once it has ended, and the partnership's documented reason.

    After `closed_for` (e.g. "6 years") from its end (resolved, withdrawn or closed), `challenge-bot retention
    purge` erases the child's details and everything people wrote, keeping the anonymous facts monitoring
    needs. A policy without it keeps every record: nothing is erased.
    """

    closed_for: str
    justification: Annotated[str, Field(min_length=20, max_length=2000)]

    @field_validator("closed_for")
    @classmethod
    def _a_period(cls, value: str) -> str:
        if not re.fullmatch(r"[1-9][0-9]{0,2} (year|years|month|months)", value):
            raise ValueError("give a whole number of years or months, e.g. '6 years' or '18 months'")
        return value

    @property
    def said(self) -> str:
        """`closed_for` as a sentence says it, whether the policy wrote "1 years" or "6 month"."""
        number, unit = self.closed_for.split()
        return f"{number} {unit.rstrip('s')}{'' if number == '1' else 's'}"

    @property
    def period(self) -> relativedelta:
        from dateutil.relativedelta import relativedelta  # here: only a retention purge needs it

        number, unit = self.closed_for.split()
        return (
            relativedelta(years=int(number)) if unit.startswith("year") else relativedelta(months=int(number))
        )

    def cutoff(self, now: datetime) -> datetime:
        """Challenges that ended before this instant have been closed longer than the period."""
        instant: datetime = now - self.period
        return instant


class Policy(_Model):
    """One partnership's whole procedure; `stages` are in order, starting at 1."""

    id: Annotated[str, Field(pattern=_ID)]
    partnership: Annotated[str, Field(min_length=1)]
    short_name: Annotated[str, Field(min_length=1)]
    procedure: Annotated[str, Field(min_length=1)]
    reference_prefix: Annotated[str, Field(pattern=r"^[A-Z]{2,5}$")]
    nation: Literal["ENG", "WLS", "SCT", "NIR"]
    closures: tuple[str, ...] = ()
    due_time: Annotated[str, Field(pattern=r"^([01][0-9]|2[0-3]):[0-5][0-9]$")] = "17:00"
    total_limit_working_days: Annotated[int, Field(ge=1, le=260)] | None = None
    roles: tuple[RoleSpec, ...] = STANDARD_ROLES
    raised_by: tuple[str, ...] = ()
    escalated_by: Literal["raiser_side", "either_side"] = "raiser_side"
    later_starts: tuple[LaterStart, ...] = ()
    #: Priorities the raiser chooses from, when a stage's limit depends on it (`limit_by_priority`).
    priorities: tuple[Priority, ...] = ()
    on_deadline_passed: Literal["escalate", "ask_raiser"] = "ask_raiser"
    reminder_working_days_before: Annotated[int, Field(ge=0, le=10)] = 1
    #: Whether those a stage consults get every update (`all`: Rochdale's "consulted and updated throughout")
    #: or only the stage's start, reminders, missed deadlines and end (`stage_changes`).
    consult_updates: Literal["stage_changes", "all"] = "stage_changes"
    final_stage_notify: tuple[RoleId, ...] = ()
    copy_in: tuple[CopyIn, ...] = ()
    child_fields: ChildFields
    form: FormWording = FormWording()
    #: The form exported from the record (`process.export_form`); without it, one made from the form's words
    #: and the stages.
    export_form: ExportForm | None = None
    issue_categories: tuple[IssueCategory, ...] = ()
    immediate_risk: Annotated[str, Field(min_length=1)]
    not_for_complaints: Annotated[str, Field(min_length=1)]
    #: Which of the texts above are the deployment's own words, not the procedure's (shown as such).
    deployment_text: tuple[GuidanceText, ...] = ()
    stages: Annotated[tuple[Stage, ...], Field(min_length=1)]
    #: Told when one agency receives many challenges in a short time (the partnership's own numbers).
    pattern_alert: PatternAlert | None = None
    #: How long ended challenges are kept before their words are erased; None keeps them (nothing erased).
    retention: Retention | None = None

    @field_validator("closures", mode="before")
    @classmethod
    def _dates_as_text(cls, value: Any) -> Any:
        """`closures: [2026-12-29]` written without quotes is read by YAML as a date: take it as the text."""
        if isinstance(value, list | tuple):
            return [v.isoformat() if isinstance(v, date) else v for v in value]
        return value

    @model_validator(mode="after")
    def _stages_are_consistent(self) -> Policy:
        numbers = [s.number for s in self.stages]
        if numbers != list(range(1, len(numbers) + 1)):
            raise ValueError(f"stages must be numbered 1, 2, 3... in order; found {numbers}")
        finals = [s.number for s in self.stages if s.final]
        if finals != [numbers[-1]]:
            raise ValueError("exactly the last stage must be marked final")
        for start in self.later_starts:
            if start.stage not in numbers:
                raise ValueError(f"later_starts names stage {start.stage}, which does not exist")
        for c in self.copy_in:
            if c.from_stage not in numbers:
                raise ValueError(f"copy_in names stage {c.from_stage}, which does not exist")
        for what, ids in (
            ("issue category", [c.id for c in self.issue_categories]),
            ("priority", [p.id for p in self.priorities]),
            ("later start", [f"{s.stage} {s.when}" for s in self.later_starts]),
        ):
            if len(set(ids)) != len(ids):
                raise ValueError(f"{what} ids must be unique")
        for way in (w for r in self.roles for w in r.found):
            if way.stage is not None and way.stage > len(self.stages):
                raise ValueError(f"an escalation_contact names stage {way.stage}, which does not exist")
        challenged = {r.id for r in self.roles if r.side == "challenged"}
        for stage in self.stages:
            for role in stage.closed_by:
                if role in challenged:
                    raise ValueError(
                        f"stage {stage.number}'s closed_by names {role!r}: the side challenged does not close "
                        "its own challenge"
                    )
        for d in self.closures:
            _check_closure(d)
        priorities = {p.id for p in self.priorities}
        for stage in self.stages:
            if stage.limit_by_priority is not None and set(stage.limit_by_priority) != priorities:
                raise ValueError(
                    f"stage {stage.number}'s limit_by_priority must give a limit for each of the priorities "
                    f"({', '.join(sorted(priorities)) or 'none declared'})"
                )
        if self.priorities and not any(s.limit_by_priority for s in self.stages):
            raise ValueError("priorities are declared but no stage's limit_by_priority uses them")
        self._roles_are_consistent()
        if self.export_form is not None:
            _check_export_form(self)
        return self

    def _roles_are_consistent(self) -> None:
        declared = [r.id for r in self.roles]
        if len(set(declared)) != len(declared):
            raise ValueError("role ids must be unique")
        for base in ("raiser", "challenged"):
            holders = [r.id for r in self.roles if r.found[0].who == base]
            if len(holders) != 1:
                raise ValueError(f"exactly one role must be found first as the '{base}'; found {holders}")
        known = set(declared)
        used: list[tuple[str, RoleId]] = [(f"copy_in.{j}.role", c.role) for j, c in enumerate(self.copy_in)]
        used += [(f"final_stage_notify.{j}", r) for j, r in enumerate(self.final_stage_notify)]
        if self.pattern_alert is not None:
            used += [(f"pattern_alert.tell.{j}", r) for j, r in enumerate(self.pattern_alert.tell)]
        for i, stage in enumerate(self.stages):
            for where, roles in stage.roles_used().items():
                used += [(f"stages.{i}.{where}.{j}", r) for j, r in enumerate(roles)]
        for where, role in used:
            if role not in known:
                raise ValueError(f"{where} names role {role!r}, which the policy does not declare in roles")
        for j, role in enumerate(self.pattern_alert.tell if self.pattern_alert else ()):
            if self.role(role).side != "partnership":
                raise ValueError(
                    f"pattern_alert.tell.{j} names the {self.role(role).side}-side role {role!r}: a pattern is "
                    "told to the partnership's own posts"
                )
        for stage in self.stages:
            for side, roles in (("raiser", stage.raiser_side), ("challenged", stage.challenged_side)):
                for role in roles:
                    if self.role(role).side not in (side, "partnership"):
                        raise ValueError(
                            f"stage {stage.number} puts the {self.role(role).side}-side role {role!r} on the "
                            f"{side} side"
                        )

    def stage(self, number: int) -> Stage:
        """The stage numbered `number`; KeyError if the procedure has no such stage."""
        if 1 <= number <= len(self.stages):
            return self.stages[number - 1]
        raise KeyError(f"{self.short_name} has no stage {number}")

    @property
    def final_stage(self) -> Stage:
        return self.stages[-1]

    def role(self, role_id: RoleId) -> RoleSpec:
        """The declared role `role_id`; KeyError if the policy has none."""
        for spec in self.roles:
            if spec.id == role_id:
                return spec
        raise KeyError(f"{self.short_name} declares no role {role_id!r}")

    def role_title(self, role_id: RoleId) -> str:
        """The title cards show for a role; an id the policy no longer declares is shown in words."""
        try:
            return self.role(role_id).title
        except KeyError:
            return role_id.replace("_", " ").capitalize()  # e.g. "Agency escalation contact"

    @property
    def raiser_role(self) -> RoleId:
        """The role of the person who raised the challenge."""
        return next(r.id for r in self.roles if r.found[0].who == "raiser")

    @property
    def challenged_role(self) -> RoleId:
        """The role of the professional challenged."""
        return next(r.id for r in self.roles if r.found[0].who == "challenged")

    @property
    def partnership_roles(self) -> frozenset[RoleId]:
        return frozenset(r.id for r in self.roles if r.side == "partnership")

    @property
    def urgent_start_stages(self) -> tuple[int, ...]:
        """Stages an urgent challenge may be raised at."""
        return tuple(s.stage for s in self.later_starts if s.when == "urgent")

    @property
    def named_roles(self) -> tuple[RoleSpec, ...]:
        """Roles the raiser names on the form (a `named` way of finding them)."""
        return tuple(r for r in self.roles if any(w.who == "named" for w in r.found))

    @property
    def reasoned_starts(self) -> tuple[LaterStart, ...]:
        """Later starts on a stated condition, with the raiser's reason recorded."""
        return tuple(s for s in self.later_starts if s.when == "with_reason")

    @property
    def recurring_start_stages(self) -> tuple[int, ...]:
        """Stages a reoccurring issue may be raised straight at."""
        return tuple(s.stage for s in self.later_starts if s.when == "recurring")

    def category(self, category_id: str) -> IssueCategory | None:
        return next((c for c in self.issue_categories if c.id == category_id), None)

    def copied_in_at(self, stage_number: int, *, every_update: bool = False) -> tuple[RoleId, ...]:
        """Roles copied in on a challenge at `stage_number`: on stage changes, or (every_update) on everything."""
        return tuple(
            c.role
            for c in self.copy_in
            if stage_number >= c.from_stage and (not every_update or c.updates == "all")
        )

    def stage_start_label(self, stage: int, start: LaterStart | None = None) -> str:
        """How the procedure words a later start: "when urgent", "when the issue is reoccurring", or its label."""
        start = start or next((s for s in self.later_starts if s.stage == stage), None)
        if start is None:
            return ""
        if start.when == "urgent":
            return "when urgent"
        if start.when == "recurring":
            return "when the issue is reoccurring"
        return start.label or ""

    def priority(self, priority_id: str | None) -> Priority | None:
        return next((p for p in self.priorities if p.id == priority_id), None)

    def next_stage(self, number: int) -> Stage | None:
        """The stage after `number`, or None at the final stage."""
        return self.stages[number] if number < len(self.stages) else None


def _check_closure(text: str) -> None:
    """A closure is a date (2026-12-29), a yearly day (12-24) or a yearly range (12-24..01-01)."""
    from process.calendar import parse_closure

    parse_closure(text)


def _check_export_form(policy: Policy) -> None:
    """The export form names only what the record holds (`process.export_form.export_form_problems`)."""
    from process.export_form import export_form_problems

    assert policy.export_form is not None
    problems = export_form_problems(policy.export_form, policy)
    if problems:
        raise ValueError("; ".join(f"{path}: {reason}" for path, reason in problems))


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
    except UnicodeDecodeError as exc:
        raise PolicyError(f"{path}: not UTF-8 text (byte {exc.start}); save it as UTF-8") from exc
    except (yaml.YAMLError, ValueError) as exc:  # ValueError: a date like 2026-02-30
        raise PolicyError(f"{path}: not valid YAML: {exc}") from exc
    if not isinstance(data, dict):
        raise PolicyError(f"{path}: expected a mapping of policy fields at the top level")
    try:
        return Policy.model_validate(data)
    except ValidationError as exc:
        problems = "; ".join(_problem(err, data) for err in exc.errors())
        raise PolicyError(f"{path}: {problems}") from exc


def _problem(error: Any, data: dict[str, Any]) -> str:
    """One schema error as `field PATH: reason`; a check of the whole file whose message starts with the
    field it is about (`pattern_alert.tell.0 names role ...`) is put at that field."""
    reason = str(error["msg"]).removeprefix("Value error, ")
    where = ".".join(str(p) for p in error["loc"])
    if not where:
        head, _, rest = reason.partition(" ")
        head = head.removesuffix(":")
        if "." in head and head.split(".")[0] in data and rest:
            return f"field {head}: {rest}"
        where = "(top level)"
    return f"field {where}: {reason}"


def shipped_policies() -> tuple[str, ...]:
    """Names of the policies that ship with the product."""
    return tuple(sorted(p.stem for p in POLICY_DIR.glob("*.yaml")))
