"""`challenge-bot tick` works on the bot's own database, from any folder, and never makes an empty one.

Run from another folder, the default SQLite path names a file nobody made: the tick used to create an empty
database there, find nothing due and print zeros, as if the bot's challenges had nothing pending.
"""

from __future__ import annotations

import asyncio
import os
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from bot.wiring import TickError, require_existing_database
from storage.db import Database
from storage.migrate import upgrade_database

REPO = Path(__file__).resolve().parents[2]
SUMMARY = (
    "reminders=0 deadlines=0 conflicts=0 delivered=0 (teams=0 email=0) retried=0 failed=0 reported=0 "
    "emailed_instead_of_teams=0 drafts_expired=0"
)


def _tick(cwd: Path, env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    clean = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "TRIAL_CLOCK_FILE")}
    return subprocess.run(
        [sys.executable, "-m", "bot", "tick", *args],
        cwd=cwd,
        env={**clean, "PYTHONPATH": str(REPO), **env},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def _bot_database(path: Path) -> str:
    """A database the bot has used: migrated, so it has its tables."""
    url = f"sqlite+aiosqlite:///{path}"

    async def migrate() -> None:
        database = await Database.connect(url)
        try:
            await upgrade_database(database)
        finally:
            await database.dispose()

    asyncio.run(migrate())
    return url


def test_tick_in_a_folder_without_the_database_is_refused_and_creates_nothing(tmp_path: Path) -> None:
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    result = _tick(elsewhere, {})
    assert result.returncode == 2
    assert f"there is no database at {elsewhere / 'var' / 'challenge-bot.db'}" in result.stderr
    assert "DATABASE_URL" in result.stderr and "--create-database" in result.stderr
    assert "Traceback" not in result.stderr and result.stdout == ""
    assert list(elsewhere.iterdir()) == []


def test_tick_with_the_bots_absolute_database_url_works_from_any_folder(tmp_path: Path) -> None:
    url = _bot_database(tmp_path / "bot" / "challenge-bot.db")
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    result = _tick(elsewhere, {"DATABASE_URL": url}, "--now", "2026-11-24T17:00")
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == SUMMARY
    assert list(elsewhere.iterdir()) == []


def test_create_database_makes_a_new_one_when_asked(tmp_path: Path) -> None:
    result = _tick(tmp_path, {}, "--create-database", "--now", "2026-11-24T17:00")
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == SUMMARY
    assert (tmp_path / "var" / "challenge-bot.db").is_file()


def test_an_empty_file_a_database_without_tables_and_a_stranger_file_are_refused(tmp_path: Path) -> None:
    empty = tmp_path / "empty.db"
    empty.touch()
    no_tables = tmp_path / "no-tables.db"
    sqlite3.connect(no_tables).close()
    no_tables.touch()
    other = tmp_path / "notes.txt"
    other.write_text("not a database, but long enough to have a header of sixteen bytes\n" * 3)
    for path, reason in ((empty, "has no tables"), (no_tables, "has no tables"), (other, "not a SQLite")):
        with pytest.raises(TickError, match=reason):
            require_existing_database(f"sqlite+aiosqlite:///{path}")
    assert empty.stat().st_size == 0
    with pytest.raises(TickError, match="in-memory"):
        require_existing_database("sqlite+aiosqlite://")
    with pytest.raises(TickError, match="in-memory"):
        require_existing_database("sqlite+aiosqlite:///:memory:")
    # Another database server is the operator's to point at; nothing to check on disk.
    require_existing_database("postgresql+asyncpg://user@db.example/challenges")
