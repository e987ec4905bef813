"""What a served bot leaves unloaded until it is needed: Alembic (only to migrate), the form renderers
(fpdf2, python-docx and what they bring, only to export), smtplib (only to send mail), the `holidays`
package (until a working day is first counted), dateutil (a retention purge's), and the other database's
dialect and driver (a process uses one). Each takes memory an idle process need not hold (docs/PERFORMANCE.md,
*Memory*); these tests guard which modules are loaded, not how much memory they take, and that the features
needing them still load them."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
import uuid
from pathlib import Path

import pytest
from alembic import command
from sqlalchemy import make_url
from sqlalchemy.engine import Connection

from bench.memory import LAUNCHER  # `python -m bot` as `-m` runs it, listing its modules at exit
from storage.crypto import KEY_ENV, generate_key
from storage.db import Database
from storage.migrate import (
    alembic_config,
    current_revision,
    ensure_schema,
    head_revision,
    shipped_head,
    upgrade,
)
from tests.support.database import PostgresTarget, sqlite_url

REPO = Path(__file__).resolve().parents[2]

#: Top-level packages a served, idle bot must not have imported.
LAZY = (
    "alembic",
    "mako",
    "fpdf",
    "docx",
    "fontTools",
    "PIL",
    "numpy",
    "lxml",
    "smtplib",
    "statistics",
    "holidays",
    "dateutil",
)

#: What only the other database needs: a bot on SQLite loads none of POSTGRESQL_ONLY, and the other way round.
POSTGRESQL_ONLY = {"asyncpg", "sqlalchemy.dialects.postgresql"}
SQLITE_ONLY = {"aiosqlite", "sqlite3", "_sqlite3", "sqlalchemy.dialects.sqlite"}



def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _python(code: str, env: dict[str, str] | None = None) -> str:
    done = subprocess.run(
        [sys.executable, "-c", code],
        cwd=REPO,
        env={**os.environ, "PYTHONPATH": str(REPO), **(env or {})},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    return done.stdout


def _loaded_by_served_bot(tmp_path: Path, database_url: str) -> set[str]:
    """Serve the bot until /readyz answers, stop it, and return the modules it had loaded."""
    listing = tmp_path / "modules.txt"
    port = _free_port()
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith(("SMTP_", "Microsoft", "DIRECTORY_FILE"))},
        "PYTHONPATH": str(REPO),
        "DATABASE_URL": database_url,
        "PORT": str(port),
        "MODULES_OUT": str(listing),
        KEY_ENV: os.environ.get(KEY_ENV) or generate_key(),
    }
    env.pop("TRIAL_CLOCK_FILE", None)
    with (tmp_path / "bot.log").open("wb") as log:
        process = subprocess.Popen(
            [sys.executable, "-c", LAUNCHER], cwd=REPO, env=env, stdout=log, stderr=subprocess.STDOUT
        )
    try:
        deadline = time.monotonic() + 90
        while True:
            assert process.poll() is None, (tmp_path / "bot.log").read_text()
            assert time.monotonic() < deadline, "the bot did not become ready"
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/readyz", timeout=2) as response:
                    if response.status == 200:
                        break
            except OSError:
                time.sleep(0.2)
    finally:
        process.send_signal(signal.SIGTERM)
        process.wait(30)
    return set(listing.read_text().split("\n"))


def _top_level(modules: set[str]) -> set[str]:
    return {name.split(".")[0] for name in modules}


async def test_a_served_bot_on_a_current_database_loads_neither_alembic_nor_the_form_renderers(
    tmp_path: Path,
) -> None:
    url = sqlite_url(tmp_path / "bot.db")
    await upgrade(url)
    loaded = _loaded_by_served_bot(tmp_path, url)
    assert {"botbuilder.core", "sqlalchemy", "bot.wiring", "dialogs.export"} <= loaded, "the listing is whole"
    assert _top_level(loaded) & set(LAZY) == set()
    assert SQLITE_ONLY <= loaded
    assert loaded & POSTGRESQL_ONLY == set()


@pytest.mark.postgres
async def test_a_served_bot_on_postgresql_loads_neither_sqlite_nor_its_dialect(
    tmp_path: Path, postgres_target: PostgresTarget
) -> None:
    # The bot takes only a URL: a role of its own, whose schema (named as it) is first on its search path.
    name = f"t_{uuid.uuid4().hex[:16]}"
    admin = await Database.connect(postgres_target.url)
    try:
        async with admin.transaction() as conn:
            await conn.exec_driver_sql(f'CREATE ROLE "{name}" LOGIN')
            await conn.exec_driver_sql(f'CREATE SCHEMA "{name}" AUTHORIZATION "{name}"')
        url = make_url(postgres_target.url).set(username=name, password=None)
        rendered = url.render_as_string(hide_password=False)
        await upgrade(rendered)
        loaded = _loaded_by_served_bot(tmp_path, rendered)
    finally:
        async with admin.transaction() as conn:
            await conn.exec_driver_sql(f'DROP SCHEMA IF EXISTS "{name}" CASCADE')
            await conn.exec_driver_sql(f'DROP ROLE IF EXISTS "{name}"')
        await admin.dispose()
    assert {"botbuilder.core", "bot.wiring", "dialogs.export"} <= loaded, "the listing is whole"
    assert POSTGRESQL_ONLY <= loaded
    assert loaded & SQLITE_ONLY == set()
    assert _top_level(loaded) & set(LAZY) == set()


def test_the_form_renderers_are_imported_when_a_file_is_made() -> None:
    found = _python(
        "import sys\n"
        "from datetime import UTC, datetime\n"
        "import forms\n"
        "from process.export_form import build_document\n"
        "from tests.forms import scenario\n"
        "document = build_document(*scenario.full('durham'), now=datetime(2027, 1, 15, 9, tzinfo=UTC))\n"
        "before = {m.split('.')[0] for m in sys.modules}\n"
        "pdf = forms.render(document, 'pdf')\n"
        "docx = forms.render(document, 'docx')\n"
        "after = {m.split('.')[0] for m in sys.modules}\n"
        "print('fpdf' in before, 'docx' in before, 'fpdf' in after, 'docx' in after)\n"
        "print(pdf[:5], docx[:2])\n"
    )
    assert found.splitlines() == ["False False True True", "b'%PDF-' b'PK'"]


def test_the_bank_holidays_are_imported_when_a_working_day_is_first_counted() -> None:
    found = _python(
        "import sys\n"
        "from datetime import date\n"
        "from process.calendar import WorkingCalendar\n"
        "calendar = WorkingCalendar('ENG')\n"
        "before = 'holidays' in sys.modules\n"
        "due = calendar.add_working_days(date(2026, 12, 24), 1)\n"
        "print(before, 'holidays' in sys.modules, due)\n"
    )
    # 25 and 28 December 2026 are bank holidays in England (Boxing Day, a Saturday, is substituted).
    assert found.split() == ["False", "True", "2026-12-29"]


def test_the_shipped_head_read_from_the_files_is_alembics() -> None:
    assert shipped_head() is not None
    assert shipped_head() == head_revision()


def _revision(folder: Path, name: str, revision: str, down: str) -> None:
    (folder / f"{name}.py").write_text(
        f'"""A migration."""\n\nrevision = "{revision}"\ndown_revision = {down}\n'
    )


@pytest.mark.parametrize(
    ("files", "head"),
    [
        ([("a", "0001", "None"), ("b", "0002", '"0001"')], "0002"),
        ([("a", "0001", "None"), ("b", "0002", '"0001"'), ("c", "0003", '"0001"')], None),
        (
            [
                ("a", "0001", "None"),
                ("b", "0002", '"0001"'),
                ("c", "0003", '"0001"'),
                ("m", "0004", '("0002", "0003")'),
            ],
            "0004",
        ),
        ([("a", "0001", "None"), ("b", "0002", "REVISIONS[0]")], None),
        ([], None),
    ],
    ids=["a chain", "two heads", "merged", "not a literal", "none"],
)
def test_shipped_head_finds_one_head_or_leaves_it_to_alembic(
    tmp_path: Path, files: list[tuple[str, str, str]], head: str | None
) -> None:
    for name, revision, down in files:
        _revision(tmp_path, name, revision, down)
    assert shipped_head(tmp_path) == head


async def test_start_up_on_a_current_database_does_not_import_alembic(tmp_path: Path) -> None:
    url = sqlite_url(tmp_path / "bot.db")
    await upgrade(url)
    found = _python(
        "import asyncio, sys\n"
        "from storage.migrate import ensure_schema\n"
        f"asyncio.run(ensure_schema({url!r}))\n"
        "print('alembic' in sys.modules)\n"
    )
    assert found.split() == ["False"]


async def test_start_up_on_an_older_sqlite_database_still_migrates_it(tmp_path: Path) -> None:
    url = sqlite_url(tmp_path / "bot.db")
    database = await Database.connect(url)

    def to_0007(conn: Connection) -> None:
        config = alembic_config()
        config.attributes["connection"] = conn
        command.upgrade(config, "0007")

    try:
        async with database.transaction() as conn:
            await conn.run_sync(to_0007)
        assert await current_revision(database) == "0007"
        await ensure_schema(url)
        assert await current_revision(database) == head_revision()
    finally:
        await database.dispose()


async def test_start_up_on_a_database_at_an_unknown_revision_is_refused_by_alembic(tmp_path: Path) -> None:
    url = sqlite_url(tmp_path / "bot.db")
    await upgrade(url)
    database = await Database.connect(url)
    try:
        async with database.transaction() as conn:
            await conn.exec_driver_sql("UPDATE alembic_version SET version_num = 'not-shipped'")
        assert await current_revision(database) == "not-shipped"
    finally:
        await database.dispose()
    # An unknown revision is Alembic's to refuse, as it was before start-up read the version itself.
    with pytest.raises(Exception, match="not-shipped"):
        await ensure_schema(url)
