"""`directory import`: a spreadsheet replaces the directory of the partnerships it names, or nothing changes.

Every test runs on SQLite and on PostgreSQL. The example file is docs/examples/directory.csv (invented people).
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from openpyxl import Workbook, load_workbook

import process.directory_table as directory_table
from bot.directory_import import import_directory
from dialogs.service import ChallengeService
from process.directory import Directory
from process.directory_table import read_csv, write_workbook
from process.policy import load_policy
from storage.challenges import ChallengeRepository
from storage.db import Database
from storage.directory import DirectoryChanged, DirectoryStore
from tests.support.people import raise_request, role_directory

EXAMPLE = Path(__file__).resolve().parents[2] / "docs" / "examples" / "directory.csv"
POLICIES = [load_policy("durham"), load_policy("rochdale")]
HEADER = EXAMPLE.read_text(encoding="utf-8").splitlines()[0]
COLUMNS = HEADER.split(",")


def csv_text(*rows: dict[str, str]) -> str:
    """A CSV with the example's header and the given cells (by column name)."""
    lines = [HEADER]
    for cells in rows:
        assert set(cells) <= set(COLUMNS), set(cells) - set(COLUMNS)
        lines.append(",".join(_quoted(cells.get(c, "")) for c in COLUMNS))
    return "\n".join(lines) + "\n"


def _quoted(value: str) -> str:
    return '"' + value.replace('"', '""') + '"' if any(ch in value for ch in ',"\n') else value


def example_lines(*, without: tuple[str, ...] = ()) -> list[str]:
    """The example file's lines, leaving out rows whose second cell (the id) is in `without`."""
    lines = EXAMPLE.read_text(encoding="utf-8").splitlines()
    return [line for line in lines if line.split(",")[1] not in without or line == lines[0]]


def write(tmp_path: Path, name: str, text: str | bytes) -> Path:
    path = tmp_path / name
    if isinstance(text, bytes):
        path.write_bytes(text)
    else:
        path.write_text(text, encoding="utf-8")
    return path


async def run(database: Database, path: Path, *, dry_run: bool = False) -> list[str]:
    report = await import_directory(database, POLICIES, path, dry_run=dry_run)
    return report.lines(dry_run=dry_run)


async def test_the_example_imports_and_a_second_import_changes_nothing(database: Database) -> None:
    store = DirectoryStore(database)
    first = await import_directory(database, POLICIES, EXAMPLE)
    assert first.written and not first.problems
    assert first.generation == 1
    directory = await store.load()
    assert directory.person("hos_family") is not None
    assert directory.person("hos_family").name == "Siân Llewellyn"  # type: ignore[union-attr]
    assert directory.line_manager(directory.person("sw_amira")).id == "tm_owen"  # type: ignore[union-attr]
    police = directory.agency("police")
    assert police is not None and "telephone call" in (police.escalation_note or "")
    (ppu,) = directory.stage_contacts("police", 1)
    assert ppu.person_id is None and ppu.email == "public.protection@example.org"  # a mailbox
    assert ppu.phone == "0100 000 0101" and ppu.note == "Must include a telephone call"
    assert directory.stage_contacts("csc", 3, team="family_support")[0].person_id == "hos_family"
    assert (
        directory.partnership_contacts("rochdale", "partnership_business_manager")[0].person_id == "bm_nadia"
    )
    assert directory.person("bm_nadia").line_manager_id is None  # type: ignore[union-attr]  # no manager

    again = await import_directory(database, POLICIES, EXAMPLE)
    assert not again.written and again.changes is not None and again.changes.none
    assert again.lines(dry_run=False) == [
        "the directory of rochdale is already as the file says: nothing to change"
    ]
    assert await store.generation() == 1
    assert await store.load() == directory


async def test_a_dry_run_lists_the_changes_by_kind_and_writes_nothing(
    database: Database, tmp_path: Path
) -> None:
    store = DirectoryStore(database)
    await import_directory(database, POLICIES, EXAMPLE)
    lines = example_lines(without=("teacher_rhys",))
    lines = [line.replace("Owen Price", "Owen Prys") for line in lines]
    lines.append(
        "person,sw_new,Nel Newydd,,csc,family_support,,,,nel@example.org,,Social Worker,,tm_owen,,,,"
    )
    path = write(tmp_path, "next.csv", "\n".join(lines) + "\n")
    before = await store.load()

    out = await run(database, path, dry_run=True)
    assert out[0].startswith("dry run: these changes to the directory of rochdale would be made")
    assert "  people added (1): sw_new" in out
    assert "  people changed (1): tm_owen (name)" in out
    assert "  people removed (1): teacher_rhys" in out
    assert await store.load() == before and await store.generation() == 1

    out = await run(database, path)
    assert out[0] == "the directory of rochdale was changed (generation 2):"
    after = await store.load()
    assert after.person("teacher_rhys") is None and after.person("sw_new") is not None


async def test_other_partnerships_are_kept_as_stored(database: Database) -> None:
    store = DirectoryStore(database)
    await store.replace_all(role_directory())
    report = await import_directory(database, POLICIES, EXAMPLE)
    assert report.written, report.problems
    loaded = await store.load()
    durham = role_directory(("durham",))
    assert {p for p in loaded.people if p.startswith("durham_")} == set(durham.people)
    assert loaded.partnership_contacts(
        "durham", "partnership_business_manager"
    ) == durham.partnership_contacts("durham", "partnership_business_manager")
    assert not any(p.startswith("rochdale_") for p in loaded.people)  # the file is Rochdale's whole directory
    assert "rochdale agencies removed" not in " ".join(report.lines(dry_run=False))
    assert any(
        line.startswith("  agencies removed") and "rochdale_a" in line for line in report.lines(dry_run=False)
    )


async def test_the_workbook_form_imports_the_same_directory(database: Database, tmp_path: Path) -> None:
    workbook = tmp_path / "directory.xlsx"
    write_workbook(read_csv(EXAMPLE.read_bytes()), workbook)
    assert (await import_directory(database, POLICIES, workbook)).written
    from_workbook = await DirectoryStore(database).load()
    assert (await import_directory(database, POLICIES, EXAMPLE)).changes.none  # type: ignore[union-attr]
    assert from_workbook.people["dsl_school"].name == "Ffion Morgan 🌻"


async def test_every_problem_is_listed_with_its_row_and_column_and_nothing_is_written(
    database: Database, tmp_path: Path
) -> None:
    store = DirectoryStore(database)
    text = csv_text(
        {"kind": "agency", "id": "a1", "name": "Agency One", "partnership": "rochdale"},
        {"kind": "agency", "id": "a1", "name": "Agency Again", "partnership": "rochdale"},  # row 3
        {"kind": "agency", "id": "a2", "name": "Nowhere", "partnership": "atlantis"},  # row 4
        {"kind": "person", "id": "p1", "name": "Pat", "agency": "a9"},  # row 5: unknown agency
        {"kind": "person", "id": "p2", "name": "Bo", "agency": "a1", "email": "not an email"},  # row 6
        {"kind": "person", "id": "p3", "name": "Cy", "agency": "a1", "line_manager": "ghost"},  # row 7
        {"kind": "person", "id": "p4", "name": "Di", "agency": "a1", "line_manager": "p4"},  # row 8
        {"kind": "person", "id": "p5", "name": "Ed", "agency": "a1", "line_manager": "p6"},  # row 9
        {"kind": "person", "id": "p6", "name": "Fi", "agency": "a1", "line_manager": "p5"},  # row 10
        {"kind": "person", "id": "p5", "name": "Ed Again", "agency": "a1"},  # row 11
        {"kind": "person", "id": "p7", "name": "", "agency": "a1"},  # row 12
        {
            "kind": "person",
            "id": "p8",
            "name": "Gu",
            "agency": "a1",
            "job_roles": "head_teacher; wizard",
        },  # 13
        {"kind": "contact", "agency": "a1", "stage": "7", "name": "Inbox", "email": "in@example.org"},  # 14
        {"kind": "contact", "agency": "a1", "stage": "two", "person": "p2"},  # row 15
        {"kind": "contact", "agency": "a1", "stage": "1", "name": "No Address"},  # row 16
        {"kind": "post", "partnership": "rochdale", "post": "wizard", "person": "p2"},  # row 17
        {"kind": "widget", "id": "w"},  # row 18
        {"kind": "agency", "id": "a3", "name": "Three", "partnership": "rochdale", "stage": "2"},  # row 19
    )
    out = await run(database, write(tmp_path, "bad.csv", text))
    expected = [
        r"row 3, column id: agency 'a1' is already on row 2",
        r"row 4, column partnership: 'atlantis' is not a partnership this bot serves \(durham, rochdale\)",
        r"row 5, column agency: agency 'a9' is not on the file's agency rows",
        r"row 6, column email: 'not an email' is not an email address",
        r"row 7, column line_manager: no person with the id 'ghost'",
        r"row 8, column line_manager: 'p4' cannot be their own line manager",
        r"row 9, column line_manager: line managers go round in a circle: p5 -> p6 -> p5",
        r"row 11, column id: person 'p5' is already on row 9",
        r"row 12, column name: empty: a person needs its name",
        r"row 13, column job_roles: 'wizard' is not a job role the RBSCP policy uses \(head_teacher\)",
        r"row 14, column stage: stage 7 is not a stage of the RBSCP policy \(1 to 4\)",
        r"row 15, column stage: 'two' is not a stage number",
        r"row 16, column email: empty: give a person's id, or a mailbox's name and email",
        r"row 17, column post: 'wizard' is not a partnership post of the RBSCP policy",
        r"row 18, column kind: 'widget' is not a kind",
        r"row 19, column stage: an agency row has no stage; leave it empty",
    ]
    for pattern in expected:
        assert any(re.match(pattern, line) for line in out), (pattern, out)
    # In the file's order, so they can be fixed from the top down.
    rows = [int(m[1]) for line in out if (m := re.match(r"row (\d+),", line))]
    assert rows == sorted(rows) and len(rows) >= len(expected)
    assert out[-1] == f"{len(out) - 1} problems: nothing was written"
    assert await store.load() == Directory.build([], []) and await store.generation() == 0


async def test_an_agency_row_in_error_is_reported_once_not_on_every_row_naming_it(
    database: Database, tmp_path: Path
) -> None:
    """A partnership mistyped on an agency's row: its people and contacts are not told the agency is missing
    from the file, which it is not, and which would send a business manager looking for the wrong row."""
    text = csv_text(
        {"kind": "agency", "id": "a1", "name": "Agency One", "partnership": "rochdale"},
        {"kind": "agency", "id": "a2", "name": "Agency Two", "partnership": "rochdal"},  # row 3
        {"kind": "person", "id": "p1", "name": "Pat", "agency": "a1"},
        {"kind": "person", "id": "p2", "name": "Bo", "agency": "a2"},  # row 5
        {"kind": "contact", "agency": "a2", "stage": "1", "person": "p1"},  # row 6
        {"kind": "person", "id": "p3", "name": "Cy", "agency": "a9"},  # row 7: truly missing
    )
    out = await run(database, write(tmp_path, "bad.csv", text))
    assert out == [
        "row 3, column partnership: 'rochdal' is not a partnership this bot serves (durham, rochdale)",
        "row 7, column agency: agency 'a9' is not on the file's agency rows",
        "2 problems: nothing was written",
    ]


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"kind,id,name\nagency,a,Caf\xe9\n", "not UTF-8 text (line 2, byte 26)"),
        # A lone surrogate written as UTF-8 bytes (as some tools do) is not UTF-8 either.
        (b"kind,id,name\nagency,a,\xed\xa0\x80\n", "not UTF-8 text (line 2"),
        (b"", "the file is empty"),
        (b"id,name\na,b\n", "no 'kind' column"),
    ],
)
async def test_files_that_cannot_be_read_say_why(
    database: Database, tmp_path: Path, data: bytes, message: str
) -> None:
    out = await run(database, write(tmp_path, "file.csv", data))
    assert message in out[0] and out[-1] == "1 problem: nothing was written"


async def test_a_bom_excel_spaces_and_semicolons_are_read_as_meant(
    database: Database, tmp_path: Path
) -> None:
    text = (
        "\ufeffKind;ID;Name;Partnership;Agency;Email;Line manager\n"
        "agency; a1 ;Asiantaeth Gymraeg\u00a0;rochdale;;;\n"
        "person;p1;\u00a0Gwenllian ap Dafydd ;;a1;gwen@example.org ;\n"
        "person;p2;Tomos 🚀;;a1;;p1\u200b\n"
        ";;;;;;\n"
    )
    report = await import_directory(database, POLICIES, write(tmp_path, "excel.csv", text))
    assert report.written, report.problems
    directory = await DirectoryStore(database).load()
    assert directory.agency("a1").name == "Asiantaeth Gymraeg"  # type: ignore[union-attr]
    assert directory.person("p1").name == "Gwenllian ap Dafydd"  # type: ignore[union-attr]
    assert directory.person("p1").email == "gwen@example.org"  # type: ignore[union-attr]
    assert directory.person("p2").line_manager_id == "p1"  # type: ignore[union-attr]


async def test_formula_cells_in_a_workbook_are_refused(database: Database, tmp_path: Path) -> None:
    path = tmp_path / "formula.xlsx"
    write_workbook(read_csv(EXAMPLE.read_bytes()), path)
    workbook = load_workbook(path)
    workbook["People"]["D3"] = '=LOWER("OWEN.PRICE@EXAMPLE.ORG")'
    workbook["People"]["A5"] = None  # an empty cell first in its row
    workbook.save(path)
    out = await run(database, path)
    assert any(line.startswith("sheet People, row 3, column email (D3): a formula (=LOWER(") for line in out)
    assert "sheet People, row 5, column id (A5): empty: a person needs its id" in out
    # Sheet by sheet (Agencies, People, Contacts, Posts), row by row.
    assert out[0].startswith("sheet Agencies, row 2, column safeguarding_lead (D2): no person")
    people = [line for line in out if line.startswith("sheet People")]
    assert people.index(next(p for p in people if "row 3" in p)) < people.index(
        next(p for p in people if "row 5" in p)
    )
    assert await DirectoryStore(database).generation() == 0


async def test_a_workbook_with_a_stranger_sheet_or_column_is_refused(
    database: Database, tmp_path: Path
) -> None:
    path = tmp_path / "odd.xlsx"
    workbook = Workbook()
    sheet = workbook.active
    assert sheet is not None
    sheet.title = "Agencies"
    sheet.append(["id", "name", "partnership", "colour"])
    sheet.append(["a1", "One", "rochdale", "blue"])
    workbook.create_sheet("Sheet2").append(["x"])
    workbook.save(path)
    out = await run(database, path)
    assert any("sheet Agencies, row 1: column 4 is headed 'colour'" in line for line in out)
    assert any(line.startswith("sheet Sheet2: not a sheet of the directory") for line in out)


async def test_huge_files_are_refused_with_the_limit(
    database: Database, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(directory_table, "MAX_ROWS", 3)
    rows = [{"kind": "agency", "id": f"a{i}", "name": "A", "partnership": "rochdale"} for i in range(5)]
    out = await run(database, write(tmp_path, "many.csv", csv_text(*rows)))
    assert out[0] == "more than 3 rows: split the file by partnership"
    monkeypatch.setattr(directory_table, "MAX_FILE_BYTES", 100)
    out = await run(database, write(tmp_path, "big.csv", csv_text(*rows)))
    assert "is more than the 0 MB a directory file may be" in out[0] or "bytes is more than" in out[0]


async def test_a_person_with_a_part_in_an_open_challenge_is_not_removed(
    database: Database, tmp_path: Path
) -> None:
    store = DirectoryStore(database)
    await import_directory(database, POLICIES, EXAMPLE)

    async def load() -> Directory:
        return await store.load()

    service = ChallengeService(POLICIES, ChallengeRepository(database), load)
    request = raise_request("rochdale", challenged_agency_id="school", challenged_person_id="teacher_rhys")
    raised = (await service.raise_challenge("sw_amira", "rochdale", request)).challenge
    before = await store.load()

    path = write(tmp_path, "gone.csv", "\n".join(example_lines(without=("teacher_rhys",))) + "\n")
    out = await run(database, path, dry_run=True)
    assert out[0] == (
        "person 'teacher_rhys' (Rhys ap Gwilym) is not in the file but holds a part in open challenges: "
        f"{raised.reference} (challenged professional); hand their part over first, or keep them in the file"
    )
    assert (await run(database, path))[-1].endswith("nothing was written")
    # Someone with two parts in one challenge: the reference once, with both parts.
    stored = await service.find(raised.id)
    assert stored is not None
    ids = [p.person_id for p in stored.parties.values() if p.person_id]
    holder = next(i for i in ids if ids.count(i) > 1)
    lines = [
        line.replace(f",{holder},", ",,") if line.split(",")[0] == "person" else line
        for line in example_lines(without=(holder,))
        if not (line.split(",")[0] == "contact" and holder in line.split(","))
    ]
    out = await run(database, write(tmp_path, "two.csv", "\n".join(lines) + "\n"), dry_run=True)
    (line,) = [line for line in out if line.startswith(f"person {holder!r}")]
    assert line.count(raised.reference) == 1, line
    no_school = [
        line for line in example_lines() if ",school," not in line and "school" not in line.split(",")[1]
    ]
    out = await run(database, write(tmp_path, "no_school.csv", "\n".join(no_school) + "\n"))
    assert any(
        line.startswith("agency 'school' (Bryn Celyn Primary School) is not in the file") for line in out
    )
    assert await store.load() == before
    # The raiser and the challenged still see their challenge.
    for person in ("sw_amira", "teacher_rhys"):
        assert await service.visible(raised.reference, before.person(person)) is not None


async def test_a_directory_changed_since_it_was_read_is_not_overwritten(database: Database) -> None:
    store = DirectoryStore(database)
    await store.replace_all(role_directory(("durham",)))
    read_at = await store.generation()
    await store.replace_all(role_directory())  # another import in between
    with pytest.raises(DirectoryChanged):
        await store.replace_all(Directory.build([], []), expected_generation=read_at)
    assert await store.load() == role_directory() and await store.generation() == read_at + 1
