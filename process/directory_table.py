"""A partnership's directory as a spreadsheet: agencies, people, escalation contacts and partnership posts.

`challenge-bot directory import FILE.csv|FILE.xlsx` reads one file (docs/DIRECTORY.md): an XLSX workbook with
one sheet per kind (Agencies, People, Contacts, Posts), or one CSV whose `kind` column says which of the four
each row is. Every cell is checked and every problem is listed at once, each naming its row and column; a file
with any problem changes nothing.

The file is the whole directory of the partnerships it names: their agencies, people, contacts and posts that
the file does not list are removed; other partnerships' entries are kept as stored.
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

from email_validator import EmailNotValidError, validate_email

from process.directory import Agency, Contact, Directory, Person
from process.policy import Policy

#: The largest file read, and the most rows: a whole partnership has a few thousand people.
MAX_FILE_BYTES = 10 * 1024 * 1024
MAX_ROWS = 20_000
#: The longest cell; a name, an address or a note is far shorter.
MAX_CELL = 500
#: Longest id (ids are looked up as keys, `storage.db.could_be_key`).
MAX_ID = 64

KINDS = ("agency", "person", "contact", "post")

#: Each kind's columns, in the order the example files give them; `*` marks a required one.
COLUMNS: Mapping[str, tuple[str, ...]] = {
    "agency": ("id*", "name*", "partnership*", "safeguarding_lead", "note"),
    "person": (
        "id*",
        "name*",
        "agency*",
        "email",
        "job_title",
        "job_roles",
        "line_manager",
        "team",
        "phone",
        "aad_object_id",
        "tenant_id",
    ),
    "contact": ("agency*", "team", "stage*", "person", "name", "email", "phone", "note"),
    "post": ("partnership*", "post*", "person", "name", "email", "phone", "note"),
}

#: The sheet of each kind in a workbook (any letter case).
SHEETS: Mapping[str, str] = {"agencies": "agency", "people": "person", "contacts": "contact", "posts": "post"}

_SPACE = "\u00a0\u200b\u200c\u200d\u2060\ufeff"


class DirectoryFileError(ValueError):
    """The file cannot be read at all (its size, its encoding, its format); the message says why."""


@dataclass(frozen=True)
class Where:
    """A row of the file, as a person looking at it in Excel would find it."""

    row: int
    sheet: str | None = None

    def at(self, column: str | None = None, letter: str | None = None) -> str:
        place = f"sheet {self.sheet}, row {self.row}" if self.sheet else f"row {self.row}"
        if column is None:
            return place
        return f"{place}, column {column}" + (f" ({letter}{self.row})" if letter else "")


@dataclass
class Row:
    kind: str
    where: Where
    cells: dict[str, str]
    letters: dict[str, str] = field(default_factory=dict)

    def get(self, column: str) -> str | None:
        return self.cells.get(column) or None

    def at(self, column: str | None = None) -> str:
        return self.where.at(column, self.letters.get(column or ""))


@dataclass
class Table:
    """The rows of a file, and the problems found while reading them."""

    rows: list[Row] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)


# ----- reading ---------------------------------------------------------------------------------------------


def clean(value: object) -> str:
    """A cell as text: numbers as written (a whole float without its `.0`), Excel's stray spaces (leading,
    trailing, non-breaking, zero-width) removed."""
    if value is None:
        return ""
    if isinstance(value, bool):
        text = "TRUE" if value else "FALSE"
    elif isinstance(value, float) and value.is_integer():
        text = str(int(value))
    else:
        text = str(value)
    text = text.strip().strip(_SPACE).strip()
    return text.replace("\u00a0", " ")


def header_name(value: object) -> str:
    """`Job roles`, `job-roles` and ` JOB_ROLES ` all name the column `job_roles`."""
    return re.sub(r"[\s\-]+", "_", clean(value).lower())


def read_table(path: str | Path) -> Table:
    """Read a `.csv` or `.xlsx` directory file; `DirectoryFileError` when it cannot be read at all."""
    path = Path(path)
    try:
        size = path.stat().st_size
    except OSError as exc:
        raise DirectoryFileError(f"{path}: cannot be read ({exc.strerror or exc})") from exc
    if size > MAX_FILE_BYTES:
        raise DirectoryFileError(
            f"{path}: {size:,} bytes is more than the {MAX_FILE_BYTES // (1024 * 1024)} MB a directory file "
            "may be; split it by partnership"
        )
    suffix = path.suffix.lower()
    if suffix == ".csv":
        return read_csv(path.read_bytes())
    if suffix == ".xlsx":
        return read_xlsx(path)
    raise DirectoryFileError(f"{path}: give a .csv or .xlsx file (docs/DIRECTORY.md)")


def read_csv(data: bytes) -> Table:
    """One CSV, UTF-8 (a byte order mark is allowed), comma-, semicolon- or tab-separated, with a `kind`
    column saying which kind of entry each row is."""
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        raise DirectoryFileError(
            f"the file is not UTF-8 text (line {line}, byte {exc.start + 1}): in Excel, save it as "
            "'CSV UTF-8 (Comma delimited)'"
        ) from None
    if "\x00" in text:
        raise DirectoryFileError("the file holds NUL characters: it is not a CSV text file")
    first = text.split("\n", 1)[0]
    delimiter = max((",", ";", "\t"), key=first.count)
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter)
    table = Table()
    try:
        header = next(reader, None)
    except csv.Error as exc:
        raise DirectoryFileError(f"row 1: not CSV ({exc})") from None
    if header is None:
        raise DirectoryFileError("the file is empty: it needs a header row naming the columns")
    names = [header_name(h) for h in header]
    if "kind" not in names:
        raise DirectoryFileError(
            "row 1: no 'kind' column: a CSV directory says on each row whether it is an agency, person, "
            "contact or post (docs/DIRECTORY.md)"
        )
    known = {c.rstrip("*") for columns in COLUMNS.values() for c in columns} | {"kind"}
    _header_problems(names, known, Where(1), table.problems)
    try:
        for number, values in enumerate(reader, start=2):
            if number - 1 > MAX_ROWS:
                raise DirectoryFileError(f"more than {MAX_ROWS:,} rows: split the file by partnership")
            cells = {n: clean(v) for n, v in zip(names, values, strict=False) if n}
            if len(values) > len(names) and any(clean(v) for v in values[len(names) :]):
                table.problems.append(f"{Where(number).at()}: more cells than the header has columns")
            if not any(cells.values()):
                continue
            kind = cells.pop("kind", "").lower()
            if kind not in KINDS:
                table.problems.append(
                    f"{Where(number).at('kind')}: {kind!r} is not a kind: give one of {', '.join(KINDS)}"
                    if kind
                    else f"{Where(number).at('kind')}: empty: give one of {', '.join(KINDS)}"
                )
                continue
            row = Row(kind, Where(number), cells)
            own = {c.rstrip("*") for c in COLUMNS[kind]}
            for column, value in cells.items():
                if value and column in known and column not in own:
                    table.problems.append(f"{row.at(column)}: {_a(kind)} row has no {column}; leave it empty")
            table.rows.append(row)
    except csv.Error as exc:
        raise DirectoryFileError(f"row {reader.line_num}: not CSV ({exc})") from None
    return table


def read_xlsx(path: Path) -> Table:
    """An XLSX workbook with one sheet per kind (Agencies, People, Contacts, Posts), a header row on each."""
    from zipfile import BadZipFile

    from openpyxl import load_workbook
    from openpyxl.utils import get_column_letter

    try:
        workbook = load_workbook(path, read_only=True, data_only=False)
    except (BadZipFile, KeyError, OSError, ValueError) as exc:
        raise DirectoryFileError(f"{path}: not an Excel workbook (.xlsx) ({exc})") from None
    table = Table()
    try:
        seen = 0
        for sheet in workbook.worksheets:
            kind = SHEETS.get(clean(sheet.title).lower())
            if kind is None:
                table.problems.append(
                    f"sheet {sheet.title}: not a sheet of the directory: name the sheets "
                    f"{', '.join(s.capitalize() for s in SHEETS)}"
                )
                continue
            rows = sheet.iter_rows()
            header = next(rows, None)
            if header is None:
                continue
            names = [header_name(cell.value) for cell in header]
            own = {c.rstrip("*") for c in COLUMNS[kind]}
            _header_problems(names, own, Where(1, sheet.title), table.problems)
            for counted, cells in enumerate(rows, start=2):
                seen += 1
                if seen > MAX_ROWS:
                    raise DirectoryFileError(
                        f"{path}: more than {MAX_ROWS:,} rows: split the file by partnership"
                    )
                values: dict[str, str] = {}
                letters: dict[str, str] = {}
                # The sheet's own row number (an empty cell of a read-only sheet does not know it).
                number = next((r for c in cells if isinstance(r := getattr(c, "row", None), int)), counted)
                for index, (name, cell) in enumerate(zip(names, cells, strict=False)):
                    if not name or name not in own:
                        continue
                    letter = get_column_letter(index + 1)
                    letters[name] = letter
                    if getattr(cell, "data_type", None) == "f":
                        where = Where(number, sheet.title).at(name, letter)
                        table.problems.append(
                            f"{where}: a formula ({str(cell.value)[:40]}): type the value itself, or paste "
                            "it as values"
                        )
                        continue
                    values[name] = clean(cell.value)
                if not any(values.values()):
                    continue
                table.rows.append(Row(kind, Where(number, sheet.title), values, letters))
    finally:
        workbook.close()
    return table


def _header_problems(names: Sequence[str], known: set[str], where: Where, problems: list[str]) -> None:
    for index, name in enumerate(names):
        if name and name not in known:
            problems.append(
                f"{where.at()}: column {index + 1} is headed {name!r}, which is not a column of the directory "
                f"({', '.join(sorted(known))})"
            )
        if name and names.index(name) != index:
            problems.append(f"{where.at()}: the column {name!r} is given twice")


# ----- checking --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Plan:
    """What an import would make the whole directory, or the problems that stop it."""

    directory: Directory
    partnerships: frozenset[str]
    problems: tuple[str, ...]


def _is_email(value: str) -> bool:
    try:
        validate_email(value, check_deliverability=False)
    except EmailNotValidError:
        return False
    return True


def _stage_of(text: str) -> int | None:
    return int(text) if text.isdigit() else None


def plan_import(table: Table, stored: Directory, policies: Sequence[Policy]) -> Plan:
    """Check every row against the others, the stored directory and the policies; the directory the import
    makes (the file's partnerships as the file says, every other partnership as stored)."""
    problems = list(table.problems)
    by_policy = {p.id: p for p in policies}
    by_kind: dict[str, list[Row]] = {k: [r for r in table.rows if r.kind == k] for k in KINDS}

    def need(row: Row, column: str) -> str | None:
        value = row.get(column)
        if value is None:
            problems.append(f"{row.at(column)}: empty: {_a(row.kind)} needs its {column}")
        elif len(value) > MAX_CELL:
            problems.append(f"{row.at(column)}: {len(value)} characters; at most {MAX_CELL}")
            return None
        return value

    for row in table.rows:
        for column, value in row.cells.items():
            if len(value) > MAX_CELL:
                problems.append(f"{row.at(column)}: {len(value)} characters; at most {MAX_CELL}")
            elif (
                column in ("id", "agency", "line_manager", "person", "safeguarding_lead")
                and value
                and (len(value) > MAX_ID or not value.isprintable())
            ):
                problems.append(f"{row.at(column)}: an id has at most {MAX_ID} printable characters")
            if value and "\ufffd" in value:
                problems.append(f"{row.at(column)}: holds U+FFFD, a character that could not be read")

    def partnership(row: Row, column: str = "partnership") -> str | None:
        value = need(row, column)
        if value is not None and value not in by_policy:
            known = ", ".join(sorted(by_policy)) or "none: set POLICIES"
            problems.append(f"{row.at(column)}: {value!r} is not a partnership this bot serves ({known})")
            return None
        return value

    # The partnerships the file speaks for, and the stored entries of every other one, which stay.
    named = {v for r in by_kind["agency"] + by_kind["post"] if (v := r.get("partnership")) in by_policy}
    kept_agencies = {a.id: a for a in stored.agencies.values() if a.partnership_id not in named}
    kept_people = {p.id: p for p in stored.people.values() if p.agency_id in kept_agencies}

    agency_rows: dict[str, Row] = {}
    #: Agencies whose own row is refused (its problem is listed there): rows naming them are not told again
    #: that the agency is not on the file.
    refused_agencies: set[str] = set()
    for row in by_kind["agency"]:
        agency_id, name = need(row, "id"), need(row, "name")
        owner = partnership(row)
        if agency_id is None:
            continue
        refused_agencies.add(agency_id)
        if agency_id in agency_rows:
            problems.append(
                f"{row.at('id')}: agency {agency_id!r} is already on {agency_rows[agency_id].at()}"
            )
            continue
        if agency_id in kept_agencies:
            problems.append(
                f"{row.at('id')}: agency {agency_id!r} is stored for the partnership "
                f"{kept_agencies[agency_id].partnership_id!r}, which this file does not name"
            )
            continue
        if name is not None and owner is not None:
            agency_rows[agency_id] = row
    refused_agencies -= set(agency_rows)

    person_rows: dict[str, Row] = {}
    for row in by_kind["person"]:
        person_id = need(row, "id")
        need(row, "name")
        agency_id = need(row, "agency")
        if person_id is None:
            continue
        if person_id in person_rows:
            problems.append(
                f"{row.at('id')}: person {person_id!r} is already on {person_rows[person_id].at()}"
            )
            continue
        if person_id in kept_people:
            problems.append(
                f"{row.at('id')}: person {person_id!r} is stored for another partnership's agency "
                f"{kept_people[person_id].agency_id!r}, which this file does not name"
            )
            continue
        if agency_id is not None and agency_id not in agency_rows and agency_id not in refused_agencies:
            problems.append(f"{row.at('agency')}: agency {agency_id!r} is not on the file's agency rows")
        person_rows[person_id] = row

    everyone = set(person_rows) | set(kept_people)

    def person_ref(row: Row, column: str) -> str | None:
        value = row.get(column)
        if value is not None and value not in everyone:
            problems.append(f"{row.at(column)}: no person with the id {value!r}")
            return None
        return value

    def email(row: Row) -> str | None:
        value = row.get("email")
        if value is not None and not _is_email(value):
            problems.append(f"{row.at('email')}: {value!r} is not an email address")
            return None
        return value

    def policy_of_agency(agency_id: str | None) -> Policy | None:
        row = agency_rows.get(agency_id or "")
        return by_policy.get(row.get("partnership") or "") if row else None

    # People: emails and Teams ids unique, job roles the policy knows, line managers that exist, no cycles.
    people: list[Person] = []
    seen_email: dict[str, Row] = {}
    seen_aad: dict[str, Row] = {}
    for p in kept_people.values():
        if p.email:
            seen_email.setdefault(p.email.lower(), Row("person", Where(0, "stored"), {}))
    for person_id, row in person_rows.items():
        address = email(row)
        if address is not None:
            if address.lower() in seen_email:
                problems.append(
                    f"{row.at('email')}: {address!r} is also {_whose(seen_email[address.lower()])}"
                )
            seen_email.setdefault(address.lower(), row)
        aad = row.get("aad_object_id")
        if aad is not None:
            if aad.lower() in seen_aad:
                problems.append(
                    f"{row.at('aad_object_id')}: the Teams id {aad!r} is also on {seen_aad[aad.lower()].at()}"
                )
            seen_aad.setdefault(aad.lower(), row)
        manager = person_ref(row, "line_manager")
        if manager == person_id:
            problems.append(f"{row.at('line_manager')}: {person_id!r} cannot be their own line manager")
            manager = None
        roles = frozenset(clean(r) for r in re.split(r"[;,]", row.get("job_roles") or "") if clean(r))
        policy = policy_of_agency(row.get("agency"))
        if policy is not None:
            known = known_job_roles(policy)
            for role in sorted(roles - known):
                problems.append(
                    f"{row.at('job_roles')}: {role!r} is not a job role the {policy.short_name} policy uses "
                    f"({', '.join(sorted(known)) or 'it names none'})"
                )
        people.append(
            Person(
                id=person_id,
                name=row.get("name") or "",
                agency_id=row.get("agency") or "",
                email=address,
                job_title=row.get("job_title"),
                job_roles=roles,
                line_manager_id=manager,
                aad_object_id=aad,
                tenant_id=row.get("tenant_id"),
                phone=row.get("phone"),
                team=row.get("team"),
            )
        )
    managers = {p.id: p.line_manager_id for p in [*people, *kept_people.values()]}
    for person_id in person_rows:
        cycle = _cycle(person_id, managers)
        if cycle and cycle[0] == person_id and min(cycle) == person_id:
            row = person_rows[person_id]
            problems.append(
                f"{row.at('line_manager')}: line managers go round in a circle: {' -> '.join([*cycle, person_id])}"
            )
    directory_people = {p.id: p for p in [*people, *kept_people.values()]}

    def contact(row: Row) -> Contact | None:
        person_id, name, address = person_ref(row, "person"), row.get("name"), email(row)
        if row.get("person") is not None:
            if address is not None:
                problems.append(
                    f"{row.at('email')}: give a person or a mailbox (name and email), not both; the person's "
                    "own email is used"
                )
            found = directory_people.get(person_id or "")
            if found is None:
                return None
            return Contact(
                name=found.name,
                email=found.email,
                person_id=found.id,
                phone=row.get("phone") or found.phone,
                note=row.get("note"),
            )
        if name is None or row.get("email") is None:
            missing = "name" if name is None else "email"
            problems.append(f"{row.at(missing)}: empty: give a person's id, or a mailbox's name and email")
            return None
        if address is None:
            return None
        return Contact(name=name, email=address, phone=row.get("phone"), note=row.get("note"))

    # Escalation contacts, per agency, team and stage, in the file's order.
    stage_contacts: dict[str, dict[int, list[Contact]]] = {}
    team_contacts: dict[str, dict[str, dict[int, list[Contact]]]] = {}
    seen_contact: dict[tuple[str, str, int, str], Row] = {}
    for row in by_kind["contact"]:
        agency_id = need(row, "agency")
        stage_text = need(row, "stage")
        if agency_id is not None and agency_id not in agency_rows:
            if agency_id not in refused_agencies:
                problems.append(f"{row.at('agency')}: agency {agency_id!r} is not on the file's agency rows")
            agency_id = None
        stage = _stage_of(stage_text or "")
        policy = policy_of_agency(agency_id)
        if stage_text is not None and stage is None:
            problems.append(f"{row.at('stage')}: {stage_text!r} is not a stage number")
        elif stage is not None and policy is not None and not 1 <= stage <= len(policy.stages):
            problems.append(
                f"{row.at('stage')}: stage {stage} is not a stage of the {policy.short_name} policy "
                f"(1 to {len(policy.stages)})"
            )
            stage = None
        found = contact(row)
        if agency_id is None or stage is None or found is None:
            continue
        team = row.get("team") or ""
        key = (agency_id, team, stage, found.key)
        if key in seen_contact:
            problems.append(f"{row.at()}: the same contact is already on {seen_contact[key].at()}")
            continue
        seen_contact[key] = row
        table_ = team_contacts.setdefault(agency_id, {}).setdefault(team, {}) if team else None
        (table_ if table_ is not None else stage_contacts.setdefault(agency_id, {})).setdefault(
            stage, []
        ).append(found)

    # Partnership posts.
    posts: dict[tuple[str, str], list[Contact]] = {}
    seen_post: dict[tuple[str, str, str], Row] = {}
    for row in by_kind["post"]:
        owner = partnership(row)
        post = need(row, "post")
        policy = by_policy.get(owner or "")
        if policy is not None and post is not None:
            posts_known = {r.post for r in policy.roles if r.side == "partnership"}
            if post not in posts_known:
                problems.append(
                    f"{row.at('post')}: {post!r} is not a partnership post of the {policy.short_name} policy "
                    f"({', '.join(sorted(posts_known)) or 'it names none'})"
                )
                post = None
        found = contact(row)
        if owner is None or post is None or found is None:
            continue
        holder = (owner, post, found.key)
        if holder in seen_post:
            problems.append(f"{row.at()}: the same post holder is already on {seen_post[holder].at()}")
            continue
        seen_post[holder] = row
        posts.setdefault((owner, post), []).append(found)

    agencies: list[Agency] = []
    for agency_id, row in agency_rows.items():
        lead = person_ref(row, "safeguarding_lead")
        agencies.append(
            Agency(
                id=agency_id,
                name=row.get("name") or "",
                partnership_id=row.get("partnership") or "",
                safeguarding_lead_id=lead,
                escalation_note=row.get("note"),
                escalation_contacts={
                    s: tuple(c) for s, c in sorted(stage_contacts.get(agency_id, {}).items())
                },
                team_contacts={
                    team: {s: tuple(c) for s, c in sorted(stages.items())}
                    for team, stages in sorted(team_contacts.get(agency_id, {}).items())
                },
            )
        )
    kept_posts = {k: v for k, v in stored.partnership_roles.items() if k[0] not in named}
    directory = Directory.build(
        [*people, *kept_people.values()],
        [*agencies, *kept_agencies.values()],
        {**kept_posts, **{k: tuple(v) for k, v in posts.items()}},
    )
    return Plan(directory, frozenset(named), tuple(sorted(problems, key=_in_file_order)))


def _in_file_order(problem: str) -> tuple[int, int]:
    """Problems as one reads the file: the file's own first, then by sheet (in `SHEETS` order) and row."""
    found = re.match(r"(?:sheet (\w+), )?row (\d+)", problem)
    if found is None:
        return (-1, 0)
    sheets = [name.capitalize() for name in SHEETS]
    sheet = sheets.index(found[1]) if found[1] in sheets else 0
    return (sheet, int(found[2]))


def known_job_roles(policy: Policy) -> frozenset[str]:
    """The directory job roles a policy uses: who may raise (`raised_by`), and agency posts it looks for."""
    posts = {w.post for r in policy.roles for w in r.found if w.who == "agency_post" and w.post}
    return frozenset(policy.raised_by) | frozenset(posts)


def _a(kind: str) -> str:
    return f"an {kind}" if kind[0] in "aeiou" else f"a {kind}"


def _whose(row: Row) -> str:
    return "a stored person's" if row.where.row == 0 else f"on {row.at()}"


def _cycle(start: str, managers: Mapping[str, str | None]) -> list[str]:
    """The people from `start` round to `start` again through line managers, or [] when there is no circle."""
    path: list[str] = []
    seen: set[str] = set()
    current: str | None = start
    while current is not None and current not in seen:
        seen.add(current)
        path.append(current)
        current = managers.get(current)
    if current is None or current != start:
        return []
    return path


# ----- what changes ----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Changes:
    """What an import changes, by kind: ids added, changed (with the fields) and removed."""

    added: Mapping[str, tuple[str, ...]]
    changed: Mapping[str, tuple[str, ...]]
    removed: Mapping[str, tuple[str, ...]]

    @property
    def none(self) -> bool:
        return not any((*self.added.values(), *self.changed.values(), *self.removed.values()))

    def lines(self) -> list[str]:
        out: list[str] = []
        for kind in ("agencies", "people", "contacts", "posts"):
            for verb, found in (("added", self.added), ("changed", self.changed), ("removed", self.removed)):
                ids = found.get(kind, ())
                if ids:
                    out.append(f"{kind} {verb} ({len(ids)}): {', '.join(ids)}")
        return out


def _agency_facts(a: Agency) -> dict[str, Any]:
    return {
        "name": a.name,
        "partnership": a.partnership_id,
        "safeguarding_lead": a.safeguarding_lead_id,
        "note": a.escalation_note,
    }


def _person_facts(p: Person) -> dict[str, Any]:
    return {f.name: getattr(p, f.name) for f in fields(Person)}


def _contact_tables(directory: Directory, partnerships: Iterable[str]) -> dict[str, tuple[Contact, ...]]:
    wanted = set(partnerships)
    out: dict[str, tuple[Contact, ...]] = {}
    for a in directory.agencies.values():
        if a.partnership_id not in wanted:
            continue
        for stage, found in a.escalation_contacts.items():
            out[f"{a.id} stage {stage}"] = found
        for team, stages in a.team_contacts.items():
            for stage, found in stages.items():
                out[f"{a.id} team {team} stage {stage}"] = found
    return out


def changes(before: Directory, after: Directory, partnerships: Iterable[str]) -> Changes:
    """What replacing `before` with `after` changes in the partnerships named."""
    scope = set(partnerships)

    def agencies_of(d: Directory) -> dict[str, dict[str, Any]]:
        return {a.id: _agency_facts(a) for a in d.agencies.values() if a.partnership_id in scope}

    def people_of(d: Directory) -> dict[str, dict[str, Any]]:
        ids = {a.id for a in d.agencies.values() if a.partnership_id in scope}
        return {p.id: _person_facts(p) for p in d.people.values() if p.agency_id in ids}

    def posts_of(d: Directory) -> dict[str, tuple[Contact, ...]]:
        return {f"{k[0]} {k[1]}": v for k, v in d.partnership_roles.items() if k[0] in scope}

    added: dict[str, tuple[str, ...]] = {}
    changed: dict[str, tuple[str, ...]] = {}
    removed: dict[str, tuple[str, ...]] = {}
    pairs: list[tuple[str, Mapping[str, Any], Mapping[str, Any]]] = [
        ("agencies", agencies_of(before), agencies_of(after)),
        ("people", people_of(before), people_of(after)),
        ("contacts", _contact_tables(before, scope), _contact_tables(after, scope)),
        ("posts", posts_of(before), posts_of(after)),
    ]
    for kind, old, new in pairs:
        added[kind] = tuple(sorted(set(new) - set(old)))
        removed[kind] = tuple(sorted(set(old) - set(new)))
        differ: list[str] = []
        for key in sorted(set(old) & set(new)):
            if old[key] == new[key]:
                continue
            if isinstance(old[key], dict):
                what = sorted(f for f in new[key] if old[key].get(f) != new[key][f])
                differ.append(f"{key} ({', '.join(what)})")
            else:
                differ.append(key)
        changed[kind] = tuple(differ)
    return Changes(added, changed, removed)


# ----- writing -----------------------------------------------------------------------------------------------


def table_of(directory: Directory, partnerships: Iterable[str]) -> Table:
    """The rows of a file that would import the directory of `partnerships` as it is."""
    scope = set(partnerships)
    rows: list[Row] = []

    def add(kind: str, **cells: str | None) -> None:
        rows.append(Row(kind, Where(len(rows) + 2), {k: v for k, v in cells.items() if v}))

    def contact_cells(c: Contact) -> dict[str, str | None]:
        if c.person_id:
            person = directory.person(c.person_id)
            phone = c.phone if person is None or c.phone != person.phone else None
            return {"person": c.person_id, "phone": phone, "note": c.note}
        return {"name": c.name, "email": c.email, "phone": c.phone, "note": c.note}

    agencies = sorted(
        (a for a in directory.agencies.values() if a.partnership_id in scope), key=lambda a: a.id
    )
    for a in agencies:
        add(
            "agency",
            id=a.id,
            name=a.name,
            partnership=a.partnership_id,
            safeguarding_lead=a.safeguarding_lead_id,
            note=a.escalation_note,
        )
    ids = {a.id for a in agencies}
    for p in sorted((p for p in directory.people.values() if p.agency_id in ids), key=lambda p: p.id):
        add(
            "person",
            id=p.id,
            name=p.name,
            agency=p.agency_id,
            email=p.email,
            job_title=p.job_title,
            job_roles="; ".join(sorted(p.job_roles)),
            line_manager=p.line_manager_id,
            team=p.team,
            phone=p.phone,
            aad_object_id=p.aad_object_id,
            tenant_id=p.tenant_id,
        )
    for a in agencies:
        tables = [("", a.escalation_contacts), *sorted(a.team_contacts.items())]
        for team, stages in tables:
            for stage, found in sorted(stages.items()):
                for c in found:
                    add("contact", agency=a.id, team=team, stage=str(stage), **contact_cells(c))
    for (partnership_id, post), found in sorted(directory.partnership_roles.items()):
        if partnership_id in scope:
            for c in found:
                add("post", partnership=partnership_id, post=post, **contact_cells(c))
    return Table(rows)


def write_csv(table: Table) -> str:
    """The rows as one CSV text with a `kind` column (the CSV form of a directory file)."""
    columns = ["kind", *dict.fromkeys(c.rstrip("*") for cs in COLUMNS.values() for c in cs)]
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(columns)
    for row in table.rows:
        writer.writerow([row.kind if c == "kind" else row.cells.get(c, "") for c in columns])
    return out.getvalue()


def write_workbook(table: Table, path: str | Path) -> None:
    """The rows as an XLSX workbook, one sheet per kind with its columns (the workbook form of a CSV file).

    `python -m process.directory_table docs/examples/directory.csv directory.xlsx` makes the example workbook.
    """
    from openpyxl import Workbook

    workbook = Workbook()
    first = workbook.active
    if first is not None:
        workbook.remove(first)
    for sheet_name, kind in SHEETS.items():
        sheet = workbook.create_sheet(sheet_name.capitalize())
        columns = [c.rstrip("*") for c in COLUMNS[kind]]
        sheet.append(columns)
        for row in table.rows:
            if row.kind == kind:
                sheet.append([row.cells.get(c) or None for c in columns])
    workbook.save(path)


if __name__ == "__main__":
    import sys

    if len(sys.argv) != 3:
        sys.exit("usage: python -m process.directory_table FILE.csv OUT.xlsx")
    write_workbook(read_csv(Path(sys.argv[1]).read_bytes()), sys.argv[2])
