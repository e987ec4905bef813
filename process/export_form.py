"""A challenge as its partnership's own form: the document model, filled from the record.

The layout is the policy's (`export_form`: title, sections with headings, rows whose labels are the form's and
whose values come from named sources in the record); a policy without one gets `default_export_form`, made from
its form's words and its stages. `build_document` fills the layout from a challenge and the directory and gives
a `FormDocument`: plain values (text, ticked lists, written records), which `forms/` renders as DOCX and PDF.
Nothing here knows about a file format, and nothing is left out for length: the renderers flow long text onto
further pages.

Sources a row may name (see docs/POLICY.md):

- the challenge: `reference`, `partnership`, `procedure`, `raised_on`, `status`, `stage_now` (with a row's
  `stages`, those stages to tick, the current one ticked), `urgent`, `priority`, `linked_to`, `concern`,
  `desired_outcome`, `informal_evidence`, `issue_category` (the chosen one's label), `issue_categories` (the
  form's whole list, the chosen one ticked), `agreed_outcome`, `closed_on`, `blank` (left to fill by hand);
- the child: `child.name`, `child.date_of_birth`, `child.agency_reference`;
- agencies: `agency.raiser`, `agency.challenged`;
- a part's holder: `person.ROLE` (the name), `person.ROLE.job`, `person.ROLE.agency` (agency and team),
  `person.ROLE.contact` (email and telephone);
- a field recorded on the form or on escalating: `field.ID` (an `entry_fields` id of a stage);
- a stage (`N` or `current`): `stage.N.started`, `.due`, `.ended` (resolved or moved on), `.resolved` (the
  outcome agreed or recorded at closing), `.escalated` (the date it was escalated to), `.timescale`,
  `.responses` (the other side's written responses), `.written` (everything written at the stage),
  `.meetings` (meeting records), `.meeting_dates`, `.outcome` (the agreed outcome with its written
  confirmation: who proposed it and who confirmed it, when), `.parties` (who holds the stage's parts and is
  copied in).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, datetime
from typing import Literal
from zoneinfo import ZoneInfo

from process.challenge import Challenge, Entry, MeetingRecord, Status
from process.directory import Contact, Directory
from process.policy import ExportForm, ExportRow, ExportSection, Policy

# ----- the sources ---------------------------------------------------------------------------------------------

#: What a source gives: a short text on the label's line, a date, long text, a ticked list, or written records.
Kind = Literal["short", "date", "long", "ticks", "records"]

CHALLENGE_SOURCES: Mapping[str, Kind] = {
    "reference": "short",
    "partnership": "short",
    "procedure": "short",
    "raised_on": "date",
    "status": "short",
    "stage_now": "short",
    "urgent": "short",
    "priority": "short",
    "linked_to": "short",
    "concern": "long",
    "desired_outcome": "long",
    "informal_evidence": "long",
    "issue_category": "short",
    "issue_categories": "ticks",
    "agreed_outcome": "long",
    "closed_on": "date",
    "blank": "short",
    "child.name": "short",
    "child.date_of_birth": "date",
    "child.agency_reference": "short",
    "agency.raiser": "short",
    "agency.challenged": "short",
}
PERSON_PARTS: Mapping[str, Kind] = {"": "short", "job": "short", "agency": "short", "contact": "short"}
STAGE_PARTS: Mapping[str, Kind] = {
    "started": "date",
    "due": "date",
    "ended": "date",
    "resolved": "date",
    "escalated": "date",
    "timescale": "short",
    "responses": "records",
    "written": "records",
    "meetings": "records",
    "meeting_dates": "short",
    "outcome": "records",
    "parties": "long",
}


@dataclass(frozen=True)
class Source:
    """A parsed source: `what` is `challenge`, `person`, `field` or `stage`; `name` the source, role, field
    id or stage (`current` or a number); `part` what of it."""

    what: Literal["challenge", "person", "field", "stage"]
    name: str
    part: str
    kind: Kind


def parse_source(text: str) -> Source:
    """Read a row's source; ValueError saying what is wrong (and what would do) when it names nothing."""
    if text in CHALLENGE_SOURCES:
        return Source("challenge", text, "", CHALLENGE_SOURCES[text])
    head, _, rest = text.partition(".")
    if head == "person" and rest:
        role, _, part = rest.partition(".")
        if part in PERSON_PARTS and role:
            return Source("person", role, part, PERSON_PARTS[part])
        raise ValueError(
            f"unknown source {text!r}: a person source is person.ROLE or person.ROLE.(job|agency|contact)"
        )
    if head == "field" and rest:
        return Source("field", rest, "", "long")
    if head == "stage":
        number, _, part = rest.partition(".")
        if (number == "current" or number.isdigit()) and part in STAGE_PARTS:
            return Source("stage", number, part, STAGE_PARTS[part])
        raise ValueError(
            f"unknown source {text!r}: a stage source is stage.N.PART or stage.current.PART, PART one of "
            f"{', '.join(STAGE_PARTS)}"
        )
    known = ", ".join(CHALLENGE_SOURCES)
    raise ValueError(
        f"unknown source {text!r}: one of {known}, person.ROLE[.job|.agency|.contact], field.ID, stage.N.PART"
    )


def source_problem(policy: Policy, text: str) -> str | None:
    """Why `text` names nothing in `policy`'s record (an unknown role, stage or field), or None."""
    try:
        source = parse_source(text)
    except ValueError as error:
        return str(error)
    if source.what == "person" and source.name not in {r.id for r in policy.roles}:
        return f"source {text!r} names role {source.name!r}, which the policy does not declare in roles"
    if (
        source.what == "stage"
        and source.name != "current"
        and not 1 <= int(source.name) <= len(policy.stages)
    ):
        return f"source {text!r} names stage {source.name}, which does not exist"
    if source.what == "field":
        ids = {f.id for s in policy.stages for f in s.entry_fields}
        if source.name not in ids:
            have = ", ".join(sorted(ids)) or "none"
            return f"source {text!r} names field {source.name!r}, which no stage's entry_fields has (they have: {have})"
    return None


def export_form_problems(form: ExportForm, policy: Policy) -> list[tuple[str, str]]:
    """Every problem of an export form against its policy: (dotted path, reason)."""
    problems: list[tuple[str, str]] = []
    for i, section in enumerate(form.sections):
        where = f"export_form.sections.{i}"
        if section.columns and len(section.columns) < 2:
            problems.append(
                (f"{where}.columns", "a table needs at least 2 columns: the row's label and a value")
            )
        for j, row in enumerate(section.rows):
            at = f"{where}.rows.{j}"
            sources = [(f"{at}.source", row.source)] if row.source else []
            sources += [(f"{at}.cells.{k}", cell) for k, cell in enumerate(row.cells)]
            for path, text in sources:
                problem = source_problem(policy, text)
                if problem is not None:
                    problems.append((path, problem))
            if section.columns:
                if row.source is not None:
                    problems.append(
                        (f"{at}.source", "a row of a section with columns gives 'cells', not 'source'")
                    )
                elif len(row.cells) != len(section.columns) - 1:
                    problems.append(
                        (
                            f"{at}.cells",
                            f"{len(row.cells)} cells for {len(section.columns) - 1} columns after the label",
                        )
                    )
                if row.label is None:
                    problems.append((f"{at}.label", "a row of a table needs a label (its first column)"))
                continue
            if row.cells:
                problems.append((f"{at}.cells", "'cells' are for a section with columns; give 'source'"))
                continue
            if row.stages:
                if row.source != "stage_now":
                    problems.append((f"{at}.stages", "'stages' is for a stage_now row only"))
                for k, number in enumerate(row.stages):
                    if number > len(policy.stages):
                        problems.append((f"{at}.stages.{k}", f"stage {number} does not exist"))
            try:
                kind = parse_source(row.source or "").kind
            except ValueError:
                continue
            alone = section.heading is not None and len(section.rows) == 1
            if row.label is None and kind in ("short", "date", "long") and not alone:
                problems.append(
                    (
                        f"{at}.label",
                        f"the row of source {row.source!r} needs a label (only the one row of a section with a "
                        "heading goes without: the heading labels it)",
                    )
                )
    return problems


# ----- the default form ----------------------------------------------------------------------------------------


def default_export_form(policy: Policy) -> ExportForm:
    """The form of a policy that describes none: the raising form's words, then each stage's record."""
    words = policy.form
    child = [ExportRow(label=policy.child_fields.name_label, source="child.name")]
    if policy.child_fields.date_of_birth != "absent":
        child.append(ExportRow(label=words.date_of_birth_label, source="child.date_of_birth"))
    if policy.child_fields.agency_reference != "absent":
        child.append(ExportRow(label=words.agency_reference_label, source="child.agency_reference"))
    raiser, challenged = policy.raiser_role, policy.challenged_role
    information = [
        ExportRow(label="Reference", source="reference"),
        ExportRow(label="Raised on", source="raised_on"),
        ExportRow(label="Status", source="status"),
        *child,
        ExportRow(label=policy.role_title(raiser), source=f"person.{raiser}"),
        ExportRow(label="Agency", source="agency.raiser"),
        ExportRow(label=policy.role_title(challenged), source=f"person.{challenged}"),
        ExportRow(label="Agency challenged", source="agency.challenged"),
    ]
    if policy.issue_categories:
        information.append(ExportRow(label="Issue", source="issue_category"))
    concern = [
        ExportRow(label=words.concern_label, source="concern", style="box"),
        ExportRow(label=words.desired_outcome_label, source="desired_outcome", style="box"),
    ]
    if words.informal_evidence_label:
        concern.append(
            ExportRow(label=words.informal_evidence_label, source="informal_evidence", style="box")
        )
    sections = [ExportSection(heading="Information", rows=tuple(information))]
    sections.append(ExportSection(heading=words.title, rows=tuple(concern)))
    for stage in policy.stages:
        n = stage.number
        rows = [
            ExportRow(label="Started", source=f"stage.{n}.started"),
            ExportRow(label="Due", source=f"stage.{n}.due"),
            ExportRow(label=stage.response_label, source=f"stage.{n}.responses"),
        ]
        rows += [ExportRow(label=f.label, source=f"field.{f.id}", style="box") for f in stage.entry_fields]
        if stage.meeting is not None:
            rows.append(ExportRow(label=stage.meeting.name, source=f"stage.{n}.meetings"))
        rows += [
            ExportRow(label="Agreed outcome", source=f"stage.{n}.outcome"),
            ExportRow(label="Date resolved or moved on", source=f"stage.{n}.ended"),
        ]
        sections.append(ExportSection(heading=f"Stage {n}: {stage.name}", rows=tuple(rows)))
    return ExportForm(title=words.title, sections=tuple(sections))


def export_form_of(policy: Policy) -> ExportForm:
    return policy.export_form or default_export_form(policy)


# ----- the document --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Ticks:
    """A list of choices, each ticked or not (the form's issue categories, the stage of the challenge)."""

    items: tuple[tuple[str, bool], ...]


@dataclass(frozen=True)
class Record:
    """Something written in the record: a heading (whose, when), its facts (a meeting's attendees...) and text."""

    heading: str
    text: str = ""
    facts: tuple[tuple[str, str], ...] = ()


@dataclass(frozen=True)
class Records:
    items: tuple[Record, ...]


Value = str | Ticks | Records


@dataclass(frozen=True)
class Row:
    label: str | None
    value: Value
    style: Literal["line", "box"]


@dataclass(frozen=True)
class GridRow:
    label: str
    cells: tuple[Value, ...]


@dataclass(frozen=True)
class Section:
    heading: str | None
    note: str | None
    rows: tuple[Row, ...] = ()
    columns: tuple[str, ...] = ()
    grid: tuple[GridRow, ...] = ()


@dataclass(frozen=True)
class FormDocument:
    """The filled form, ready to render: nothing in it is a file format's."""

    title: str
    subtitle: str | None
    notice: str | None
    #: The line under the title: the reference, the partnership, when it was exported.
    byline: str
    reference: str
    #: When it was exported (the files' creation date).
    exported_at: datetime
    sections: tuple[Section, ...]
    footer: str | None


_ENTRY_TITLES = {
    "proposed_outcome": "Proposed agreed outcome",
    "confirmed_outcome": "Agreed outcome confirmed",
    "escalation_reason": "Reason for escalation",
    "start_reason": "Reason for starting at this stage",
    "step_done": "Step completed",
    "withdrawn": "Reason for withdrawing",
    "closed": "Outcome at closure",
}
_STATUS = {
    Status.OPEN: "Open at stage {n}",
    Status.RESOLVED: "Resolved at stage {n}",
    Status.WITHDRAWN: "Withdrawn at stage {n}",
    Status.CLOSED: "Closed at stage {n}",
}
_MONTHS = (
    "January",
    "February",
    "March",
    "April",
    "May",
    "June",
    "July",
    "August",
    "September",
    "October",
    "November",
    "December",
)


def _day(d: date) -> str:
    return f"{d.day} {_MONTHS[d.month - 1]} {d.year}"


class _Filler:
    """Fills sources from one challenge, with the directory's names and the partnership's local time."""

    def __init__(self, policy: Policy, challenge: Challenge, directory: Directory, zone: str) -> None:
        self.policy = policy
        self.c = challenge
        self.directory = directory
        self.zone = ZoneInfo(zone)

    def local_day(self, instant: datetime | None) -> str:
        return _day(instant.astimezone(self.zone).date()) if instant is not None else ""

    def local_moment(self, instant: datetime | None) -> str:
        if instant is None:
            return ""
        local = instant.astimezone(self.zone)
        return f"{_day(local.date())}, {local:%H:%M}"

    def name_of(self, person_id: str) -> str:
        if person_id == "system":
            return "the deadline clock"
        person = self.directory.people.get(person_id)
        if person is not None:
            return person.name
        contact = next((c for c in self.c.parties.values() if c.person_id == person_id), None)
        return contact.name if contact is not None else person_id

    def agency_name(self, agency_id: str) -> str:
        agency = self.directory.agencies.get(agency_id)
        return agency.name if agency is not None else agency_id

    # -- values --

    def value(self, text: str, row: ExportRow | None = None) -> Value:
        source = parse_source(text)
        if source.what == "challenge":
            return self.challenge_value(source.name, row)
        if source.what == "person":
            return self.person_value(self.c.parties.get(source.name), source.part)
        if source.what == "field":
            return self.c.fields.get(source.name, "")
        return self.stage_value(source.name, source.part)

    def challenge_value(self, name: str, row: ExportRow | None) -> Value:
        c, policy = self.c, self.policy
        if name == "issue_categories":
            return Ticks(tuple((cat.label, cat.id == c.issue_category) for cat in policy.issue_categories))
        if name == "stage_now" and row is not None and row.stages:
            return Ticks(tuple((f"Stage {n}", n == c.stage) for n in row.stages))
        simple: Mapping[str, object] = {
            "reference": c.reference,
            "partnership": policy.partnership,
            "procedure": policy.procedure,
            "raised_on": self.local_day(c.raised_at),
            "status": _STATUS[c.status].format(n=c.stage),
            "stage_now": f"Stage {c.stage}: {policy.stage(c.stage).name}",
            "urgent": "Yes" if c.urgent else "No",
            "priority": (p.label if (p := policy.priority(c.priority)) else ""),
            "linked_to": c.linked_to or "",
            "concern": c.concern,
            "desired_outcome": c.desired_outcome,
            "informal_evidence": c.informal_evidence or "",
            "issue_category": (cat.label if (cat := policy.category(c.issue_category)) else ""),
            "agreed_outcome": c.agreed_outcome or "",
            "closed_on": self.local_day(c.closed_at),
            "blank": "",
            "child.name": c.child.name,
            "child.date_of_birth": _day(c.child.date_of_birth) if c.child.date_of_birth else "",
            "child.agency_reference": c.child.agency_reference or "",
            "agency.raiser": self.agency_name(c.raiser_agency_id),
            "agency.challenged": self.agency_name(c.challenged_agency_id),
        }
        return str(simple[name])

    def person_value(self, contact: Contact | None, part: str) -> str:
        if contact is None:
            return ""
        person = self.directory.people.get(contact.person_id) if contact.person_id else None
        if part == "":
            return contact.name
        if part == "job":
            return (person.job_title or "") if person is not None else ""
        if part == "agency":
            if person is None:
                return ""
            team = f", {person.team}" if person.team else ""
            return f"{self.agency_name(person.agency_id)}{team}"
        return "; ".join(x for x in (contact.email, contact.phone) if x)

    def stage_value(self, which: str, part: str) -> Value:
        number = self.c.stage if which == "current" else int(which)
        records = [r for r in self.c.stages if r.number == number]
        record = records[-1] if records else None
        entries = [e for e in self.c.entries if e.stage == number]
        if part == "responses":
            return Records(tuple(self.entry_record(e, titled=False) for e in entries if e.kind == "response"))
        if part == "written":
            return Records(tuple(self.entry_record(e) for e in entries))
        if part == "meetings":
            return Records(tuple(self.meeting_record(m) for m in self.c.meetings if m.stage == number))
        if part == "meeting_dates":
            return ", ".join(_day(m.held_on) for m in self.c.meetings if m.stage == number)
        if part == "outcome":
            return self.outcome(entries)
        if part == "parties":
            return self.parties(number)
        if record is None:
            return ""
        if part == "started":
            return self.local_day(record.started_at)
        if part == "due":
            return self.local_moment(record.due_at)
        if part == "ended":
            return self.local_day(record.ended_at)
        if part == "resolved":
            return self.local_day(record.ended_at) if record.outcome in ("resolved", "closed") else ""
        if part == "escalated":
            before = [r for r in self.c.stages if r.number < number]
            return self.local_day(record.started_at) if before and before[-1].outcome == "escalated" else ""
        days = record.timescale_working_days
        return "" if days is None else f"{days} working day{'' if days == 1 else 's'}"

    def entry_title(self, entry: Entry) -> str:
        if entry.kind == "response":
            return self.policy.stage(entry.stage).response_label
        return _ENTRY_TITLES.get(entry.kind, entry.kind.replace("_", " ").capitalize())

    def entry_record(self, entry: Entry, *, titled: bool = True) -> Record:
        who = f"{self.name_of(entry.actor_id)}, {self.local_moment(entry.at)}"
        return Record(f"{self.entry_title(entry)}: {who}" if titled else who, entry.text)

    def meeting_record(self, meeting: MeetingRecord) -> Record:
        stage = self.policy.stage(meeting.stage)
        name = stage.meeting.name if stage.meeting is not None else "Meeting"
        facts = [("Attendees", meeting.attendees)]
        facts.append(("Key points", meeting.key_points))
        facts.append(("Actions agreed", meeting.actions_agreed))
        facts.append(("Timescales", meeting.timescales))
        facts.append(
            ("Recorded by", f"{self.name_of(meeting.recorded_by)}, {self.local_moment(meeting.recorded_at)}")
        )
        return Record(f"{name}, {_day(meeting.held_on)}", "", tuple(facts))

    def outcome(self, entries: list[Entry]) -> Records:
        """The agreed outcome with its written confirmation: proposed by whom and when, confirmed by whom and
        when (or recorded at closing)."""
        out: list[Record] = []
        proposed: Entry | None = None
        for entry in entries:
            if entry.kind == "proposed_outcome":
                proposed = entry
            elif entry.kind == "confirmed_outcome":
                facts = []
                if proposed is not None:
                    facts.append(
                        ("Proposed", f"{self.name_of(proposed.actor_id)}, {self.local_moment(proposed.at)}")
                    )
                facts.append(
                    ("Confirmed in writing", f"{self.name_of(entry.actor_id)}, {self.local_moment(entry.at)}")
                )
                out.append(Record("Agreed outcome", entry.text, tuple(facts)))
            elif entry.kind == "closed":
                facts = [("Recorded", f"{self.name_of(entry.actor_id)}, {self.local_moment(entry.at)}")]
                out.append(Record("Outcome at closure", entry.text, tuple(facts)))
        return Records(tuple(out))

    def parties(self, number: int) -> str:
        """Who holds the stage's parts and who is copied in, one a line, numbered as the forms number them."""
        stage = self.policy.stage(number)
        roles = [*stage.raiser_side, *stage.challenged_side, *stage.consult, *stage.informed]
        roles += list(self.policy.copied_in_at(number))
        lines: list[str] = []
        seen: set[tuple[str, str]] = set()
        for role in dict.fromkeys(roles):
            contact = self.c.parties.get(role)
            if contact is None or (contact.key, role) in seen:
                continue
            seen.add((contact.key, role))
            email = f" ({contact.email})" if contact.email else ""
            lines.append(f"{len(lines) + 1}. {self.policy.role_title(role)}: {contact.name}{email}")
        return "\n".join(lines)


#: The mark on a row the policy says is not on the partnership's form (`deployment: true`), and what it means.
DEPLOYMENT_MARK = "†"
DEPLOYMENT_NOTE = (
    f"{DEPLOYMENT_MARK} Not on the partnership's form: a row added when the form is filled from the record, so "
    "that nothing recorded at that point is left out. Its label is not the procedure's words."
)


def _style(row: ExportRow, value: Value) -> Literal["line", "box"]:
    if row.style is not None:
        return row.style
    kind = parse_source(row.source or "").kind
    return "line" if kind in ("short", "date") and not isinstance(value, Ticks | Records) else "box"


def build_document(
    policy: Policy,
    challenge: Challenge,
    directory: Directory,
    *,
    now: datetime,
    zone: str = "Europe/London",
) -> FormDocument:
    """The challenge as its partnership's form, every value from the record; `now` dates the export."""
    form = export_form_of(policy)
    fill = _Filler(policy, challenge, directory, zone)
    sections: list[Section] = []
    for section in form.sections:
        if section.columns:
            grid = tuple(
                GridRow(row.label or "", tuple(fill.value(cell) for cell in row.cells))
                for row in section.rows
            )
            sections.append(Section(section.heading, section.note, columns=section.columns, grid=grid))
            continue
        rows = []
        for row in section.rows:
            value = fill.value(row.source or "", row)
            label = f"{row.label} {DEPLOYMENT_MARK}" if row.deployment and row.label else row.label
            rows.append(Row(label, value, _style(row, value)))
        sections.append(Section(section.heading, section.note, rows=tuple(rows)))
    marked = any(row.deployment and row.label for section in form.sections for row in section.rows)
    footer = "\n\n".join(part for part in (form.footer, DEPLOYMENT_NOTE if marked else None) if part)
    return FormDocument(
        title=form.title or policy.form.title,
        subtitle=form.subtitle,
        notice=form.notice,
        byline=f"{challenge.reference} · {policy.partnership} · exported {fill.local_moment(now)}"
        + (
            f" · the child's details and everything written were erased on {fill.local_day(challenge.purged_at)}"
            " at the end of the retention period"
            if challenge.purged_at is not None
            else ""
        ),
        reference=challenge.reference,
        exported_at=now,
        sections=tuple(sections),
        footer=footer or None,
    )


def document_text(document: FormDocument) -> str:
    """Every word of the document in reading order, one item a line (for tests and plain-text checks)."""
    lines = [document.notice or "", document.title, document.subtitle or "", document.byline]

    def value_lines(value: Value) -> list[str]:
        if isinstance(value, Ticks):
            return [label for label, _ in value.items]
        if isinstance(value, Records):
            out: list[str] = []
            for record in value.items:
                out += [record.heading, *(f"{k}: {v}" for k, v in record.facts), record.text]
            return out
        return [value]

    for section in document.sections:
        lines += [section.heading or "", section.note or ""]
        lines += list(section.columns)
        for row in section.rows:
            lines += [row.label or "", *value_lines(row.value)]
        for grid_row in section.grid:
            lines.append(grid_row.label)
            for cell in grid_row.cells:
                lines += value_lines(cell)
    lines.append(document.footer or "")
    return "\n".join(line for line in lines if line)
