"""`challenge-bot report --csv`: the figures as a tidy CSV, safe to open in a spreadsheet."""

from __future__ import annotations

import asyncio
import csv
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from bot.cli import main
from bot.report_csv import HEADER, safe_cell
from process.calendar import WorkingCalendar
from process.directory import Agency, Directory
from process.policy import load_policy
from storage.db import Database
from storage.directory import DirectoryStore
from storage.migrate import upgrade
from tests.support.monitoring_seed import seed_challenges

HOSTILE = '=HYPERLINK("http://evil.example","Click")'


def test_cells_that_a_spreadsheet_would_run_are_made_text() -> None:
    for bad in ("=1+1", "+1", "-2", "@SUM(A1)", "\tx", "\rx"):
        assert safe_cell(bad) == "'" + bad
    for fine in ("Invented Health Trust", "Ysgol Gymraeg Llanfair", "3", "", "🙂"):
        assert safe_cell(fine) == fine


async def _prepare(url: str) -> None:
    await upgrade(url)
    database = await Database.connect(url)
    try:
        directory = Directory.build(
            [],
            [
                Agency("health", HOSTILE, "durham"),
                Agency("school", "Ysgol Gymraeg Llanfair – ŵ ŷ", "durham"),
                Agency("police", "@Police", "durham"),
            ],
        )
        await DirectoryStore(database).replace_all(directory)
        now = datetime.now(UTC)
        await seed_challenges(
            database,
            load_policy("durham"),
            WorkingCalendar("ENG"),
            count=120,
            agencies=["health", "school", "police"],
            raiser_agency="la",
            first=now - timedelta(days=300),
            now=now,
        )
    finally:
        await database.dispose()


def test_the_csv_opens_as_a_tidy_table_with_no_formula(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path / 'bot.db'}"
    asyncio.run(_prepare(url))
    monkeypatch.setenv("DATABASE_URL", url)
    out = tmp_path / "figures.csv"
    since = (datetime.now(UTC) - timedelta(days=365)).date().isoformat()
    assert main(["report", "--since", since, "--partnership", "durham", "--csv", str(out)]) == 0
    raw = out.read_bytes()
    assert raw.startswith(b"\xef\xbb\xbf")  # Excel reads UTF-8 only with the mark
    with out.open(encoding="utf-8-sig", newline="") as f:
        table = list(csv.reader(f))
    assert tuple(table[0]) == HEADER
    body = table[1:]
    assert all(len(r) == len(HEADER) for r in body)
    assert not any(cell.startswith(("=", "+", "-", "@")) for r in body for cell in r[3:6])
    items = {r[5] for r in body}
    assert "'" + HOSTILE in items and "'@Police" in items and "Ysgol Gymraeg Llanfair – ŵ ŷ" in items
    raised = {r[5]: int(r[7]) for r in body if r[3] == "raised" and r[4] == "agency"}
    total = next(int(r[7]) for r in body if r[3] == "raised" and r[4] == "total")
    assert sum(raised.values()) == total > 50
    assert {r[0] for r in body} == {"durham"} and {r[1] for r in body} == {since}
    weeks = [r for r in body if r[3] == "overdue_at_week_end"]
    assert 52 <= len(weeks) <= 54 and all(r[6] for r in weeks)
    # No child data could be in it: the seeded rows have none, and no free text is read.
    assert "invented concern" not in raw.decode("utf-8-sig").lower()


def test_bad_dates_and_unknown_partnerships_are_usage_errors(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path / 'bot.db'}"
    asyncio.run(_prepare(url))
    monkeypatch.setenv("DATABASE_URL", url)
    with pytest.raises(SystemExit) as exit_:
        main(["report", "--since", "last April", "--csv", "-"])
    assert exit_.value.code == 2 and "is not a date" in capsys.readouterr().err
    assert main(["report", "--since", "2026-04-01", "--partnership", "nowhere", "--csv", "-"]) == 2
    assert "no partnership 'nowhere'" in capsys.readouterr().err
    assert main(["report", "--since", "2026-04-01", "--until", "2026-03-01", "--csv", "-"]) == 2
    assert "must end after it starts" in capsys.readouterr().err
    for unwritable in (tmp_path / "no-such-folder" / "figures.csv", tmp_path):
        assert main(["report", "--since", "2026-04-01", "--csv", str(unwritable)]) == 2
        assert f"cannot write {unwritable}" in capsys.readouterr().err
    monkeypatch.setenv("DATABASE_URL", f"sqlite+aiosqlite:///{tmp_path / 'none.db'}")
    assert main(["report", "--since", "2026-04-01", "--csv", "-"]) == 2
    assert not (tmp_path / "none.db").exists()
