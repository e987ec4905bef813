"""Nothing that identifies the child is stored, logged or emailed in the clear.

A whole Rochdale challenge about an invented child is worked through Teams cards (the test harness): raised with
informal evidence, a timescale proposed with a note, answered, escalated twice with reasons, a meeting recorded
at stage 3, every notification emailed through a test SMTP server; two raising forms are left unfinished with
the child's details typed. Then the raw bytes of the SQLite file and its write-ahead log (read before any
checkpoint), a `pg_dump` of the PostgreSQL database, the logs captured at DEBUG and every email are searched for
the child's name, its parts, the date of birth (ISO, dd/mm/yyyy, "d Month yyyy") and the agency reference, in
UTF-8 and JSON-escaped: none may be found. The same search finds them all in what the bot shows the raiser
(the decrypted record), so it cannot pass by looking for the wrong thing.

The agency reference's keyed hash is used once: the raiser's review card names their own open challenge about
a child with the same reference, and a stranger's never does.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import shutil
import subprocess
import uuid
from collections.abc import AsyncIterator, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import make_url, text

from bot.config import Settings
from bot.mailer import Mailer
from bot.notifier import Notifier
from bot.wiring import Runtime, build_runtime
from cards import verbs as v
from process.directory_file import DEMO_DIRECTORY
from storage.db import Database
from storage.migrate import upgrade
from storage.outbox import Outbox
from tests.delivery.conftest import SmtpServer
from tests.support.database import POSTGRES_URL, postgres_unavailable
from tests.teams.harness import Person, texts, verbs

#: Monday 23 November 2026, 10:00 GMT.
NOW = datetime(2026, 11, 23, 10, 0, tzinfo=UTC)

GIVEN, FAMILY = "Gwenllïan", "Ŵyn-Treharne"
NAME = f"{GIVEN} {FAMILY}"
REFERENCE = "LA-7Q4-91Z3"
CHILD_INPUTS = {"child_name": NAME, "date_of_birth": "2017-03-09", "agency_reference": REFERENCE}

#: Everything that would identify the child, as it could be written.
NEEDLES: dict[str, tuple[str, ...]] = {
    "name": (NAME, GIVEN, FAMILY, "Gwenll", "Treharne"),
    "date of birth": ("2017-03-09", "09/03/2017", "9/3/2017", "9 March 2017", "09 March 2017", "9 Mar 2017"),
    "agency reference": (REFERENCE, REFERENCE.lower()),
}

RUTH = "00000000-0000-0000-0000-0000000000026"
TESS = "00000000-0000-0000-0000-0000000000027"
DEV = "00000000-0000-0000-0000-0000000000028"
CARLA = "00000000-0000-0000-0000-0000000000029"
OMAR = "00000000-0000-0000-0000-0000000000032"
PG_DUMP = "/usr/bin/pg_dump"


def forms(needle: str) -> set[bytes]:
    """How a word can appear in stored bytes: UTF-8, and JSON-escaped (non-ASCII as \\uXXXX)."""
    return {needle.encode("utf-8"), json.dumps(needle)[1:-1].encode("ascii")}


def found_in(haystack: bytes) -> dict[str, int]:
    """How many times each needle occurs in `haystack`, in any of its forms (only those found)."""
    counts: dict[str, int] = {}
    for group in NEEDLES.values():
        for needle in group:
            n = sum(haystack.count(form) for form in forms(needle))
            if n:
                counts[needle] = n
    return counts


@dataclass
class Scenario:
    runtime: Runtime
    smtp: SmtpServer
    shown: list[dict[str, Any]]


def _people(runtime: Runtime) -> dict[str, Person]:
    return {
        "ruth": Person(runtime.bot, "Ruth Okafor", RUTH),
        "tess": Person(runtime.bot, "Tess Morgan", TESS),
        "dev": Person(runtime.bot, "Dev Mistry", DEV),
        "carla": Person(runtime.bot, "Carla Jones", CARLA),
        "omar": Person(runtime.bot, "Omar Aziz", OMAR),
    }


async def _to_review(person: Person, *, concern: str) -> dict[str, Any]:
    await person.say_card("raise")
    await person.press_on(person.last_card, v.RAISE_NEXT, policy_id="rochdale")
    await person.press_on(person.last_card, v.RAISE_NEXT, **CHILD_INPUTS)
    await person.press_on(
        person.last_card, v.RAISE_NEXT, challenged_agency_id="rochdale_school", challenged_person_id="omar"
    )
    await person.press_on(
        person.last_card,
        v.RAISE_NEXT,
        issue_category="procedures_not_applied",
        concern=concern,
        desired_outcome=f"A referral for {GIVEN} to EHASH today.",
    )
    return await person.press_on(
        person.last_card,
        v.RAISE_NEXT,
        urgent="false",
        start_stage="1",
        informal_evidence=f"Spoke to the class teacher about {NAME} on 9 March 2017's birthday list.",
    )


async def _work_through(runtime: Runtime, smtp: SmtpServer) -> list[dict[str, Any]]:
    """The whole scenario; the cards shown to the people, in order."""
    people = _people(runtime)
    ruth, tess, omar, dev, carla = (people[n] for n in ("ruth", "tess", "omar", "dev", "carla"))
    notifier = Notifier(
        runtime.service, Outbox(runtime.database), teams=None, mailer=Mailer(smtp.settings()), worker_id="t"
    )
    shown: list[dict[str, Any]] = []

    review = await _to_review(ruth, concern=f"{NAME} (born 09/03/2017, {REFERENCE}) has not been referred.")
    assert v.RAISE_CONFIRM in verbs(review), texts(review)
    assert "You already have" not in texts(review)
    card = await ruth.press_on(review, v.RAISE_CONFIRM)
    assert "RBS-2026-0001" in texts(card), texts(card)
    shown.append(card)
    await notifier.drain()

    card = await ruth.press_on(card, v.TIMESCALE, working_days="3", note=f"Agreed with Omar for {GIVEN}.")
    await notifier.drain()
    theirs = await omar.press(v.SHOW, {"reference": "RBS-2026-0001"})
    theirs = await omar.press_on(theirs, v.RESPOND, text=f"We spoke to {NAME}'s mother; {REFERENCE} noted.")
    shown.append(theirs)
    await notifier.drain()

    card = await ruth.press(v.SHOW, {"reference": "RBS-2026-0001"})
    card = await ruth.press_on(card, v.ESCALATE, reason=f"No referral made for {GIVEN} Ŵyn-Treharne yet.")
    assert "Stage 2" in texts(card), texts(card)
    await notifier.drain()
    card = await dev.press(v.SHOW, {"reference": "RBS-2026-0001"})
    card = await dev.press_on(card, v.ESCALATE, reason=f"Still nothing for {NAME} (9 March 2017).")
    assert "Stage 3" in texts(card), texts(card)
    await notifier.drain()
    card = await carla.press(v.SHOW, {"reference": "RBS-2026-0001"})
    card = await carla.press_on(
        card,
        v.MEETING,
        held_on="2026-11-23",
        attendees="Carla Jones, Helen Price",
        key_points=f"{NAME}, born 2017-03-09, agency reference {REFERENCE}: referral still missing.",
        actions_agreed=f"Refer {GIVEN} today.",
        timescales="Today.",
    )
    shown.append(card)
    await notifier.drain()

    # Two raising forms left unfinished with the child's details typed: the raiser's own second one, whose
    # review names her open challenge about the same child, and a colleague's (a stranger to it), whose does not.
    again = await _to_review(ruth, concern=f"A second worry about {GIVEN}.")
    assert (
        "You already have an open challenge about a child with this agency reference: RBS-2026-0001"
        in texts(again)
    )
    stranger = await _to_review(tess, concern=f"Tess's worry about {GIVEN}.")
    assert v.RAISE_CONFIRM in verbs(stranger) and "RBS-2026-0001" not in texts(stranger)
    assert "You already have" not in texts(stranger)
    shown += [again, card]
    assert smtp.messages, "the escalations were emailed"
    return shown


@pytest.fixture
async def sqlite_runtime(tmp_path: Path) -> AsyncIterator[Runtime]:
    settings = Settings(
        database_url=f"sqlite+aiosqlite:///{tmp_path / 'bot.db'}", directory_file=DEMO_DIRECTORY
    )
    built = await build_runtime(settings)
    yield built
    await built.database.dispose()


@dataclass(frozen=True)
class PostgresDatabase:
    url: str
    name: str


@pytest.fixture
async def postgres_database_of_its_own() -> AsyncIterator[PostgresDatabase]:
    """A new PostgreSQL database (dropped afterwards), so its whole `public` schema can be dumped."""
    name = f"t_scan_{uuid.uuid4().hex[:12]}"
    admin = await Database.connect(POSTGRES_URL)
    try:
        try:
            async with admin.engine.connect() as conn:
                await conn.execution_options(isolation_level="AUTOCOMMIT")
                await conn.execute(text(f'CREATE DATABASE "{name}"'))
        except Exception as exc:
            postgres_unavailable(f"{type(exc).__name__}: {exc}")
        url = make_url(POSTGRES_URL).set(database=name).render_as_string(hide_password=False)
        yield PostgresDatabase(url, name)
    finally:
        async with admin.engine.connect() as conn:
            await conn.execution_options(isolation_level="AUTOCOMMIT")
            await conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        await admin.dispose()


def _prepare(runtime: Runtime) -> None:
    runtime.service.clock = lambda: NOW
    runtime.service.repository.clock = runtime.service.clock
    runtime.service.email = True


def _scan(label: str, data: bytes, report: dict[str, dict[str, int]]) -> None:
    report[label] = found_in(data)


def _database_files(folder: Path) -> dict[str, bytes]:
    """The SQLite database's files (the database, its write-ahead log and shared memory, any journal)."""
    return {p.name: p.read_bytes() for p in sorted(folder.iterdir()) if p.name.startswith("bot.db")}


def _logs(caplog: pytest.LogCaptureFixture) -> bytes:
    return "\n".join(
        f"{r.name} {r.levelname} {r.getMessage()} {r.exc_text or ''}" for r in caplog.records
    ).encode("utf-8", "surrogatepass")


def _emails(smtp: SmtpServer) -> Iterable[tuple[str, bytes]]:
    for n, (to, message) in enumerate(smtp.messages, start=1):
        yield f"email {n} to {', '.join(to)}", message.as_bytes()


def _plain_record(shown: list[dict[str, Any]]) -> bytes:
    """What the bot showed (decrypted): the cards' JSON (escaped) and their words (UTF-8)."""
    return b"\n".join(
        [json.dumps(card).encode("ascii") for card in shown] + [texts(card).encode("utf-8") for card in shown]
    )


def _assert_the_scan_can_find_them(shown: list[dict[str, Any]]) -> dict[str, int]:
    found = found_in(_plain_record(shown))
    for group, needles in NEEDLES.items():
        assert any(n in found for n in needles), f"the scan finds no {group} even in the decrypted record"
    for needle in (NAME, GIVEN, FAMILY, REFERENCE, "2017-03-09", "09/03/2017", "9 March 2017"):
        assert needle in found, needle
    return found


async def test_the_childs_details_are_nowhere_in_the_sqlite_files_logs_or_emails(
    sqlite_runtime: Runtime, smtp_server: SmtpServer, caplog: pytest.LogCaptureFixture, tmp_path: Path
) -> None:
    caplog.set_level(logging.DEBUG)
    _prepare(sqlite_runtime)
    shown = await _work_through(sqlite_runtime, smtp_server)
    report: dict[str, dict[str, int]] = {}
    # The database's files as they are now, before any checkpoint: the log holds the latest pages.
    files = _database_files(tmp_path)
    assert {"bot.db", "bot.db-wal"} <= set(files)
    sizes = {name: len(data) for name, data in files.items()}
    assert sizes["bot.db-wal"] > 0, "the write-ahead log holds pages not yet checkpointed"
    for name, data in files.items():
        _scan(name, data, report)
    _scan("logs (DEBUG)", _logs(caplog), report)
    for label, data in _emails(smtp_server):
        _scan(label, data, report)
    decrypted = _assert_the_scan_can_find_them(shown)
    print(f"scanned {sizes}, {len(caplog.records)} log records, {len(smtp_server.messages)} emails: {report}")
    print(f"the same scan of the decrypted record: {decrypted}")
    assert report == {label: {} for label in report}
    assert len(report) == len(files) + 1 + len(smtp_server.messages)


@pytest.mark.postgres
async def test_the_childs_details_are_nowhere_in_a_pg_dump_logs_or_emails(
    postgres_database_of_its_own: PostgresDatabase,
    smtp_server: SmtpServer,
    caplog: pytest.LogCaptureFixture,
) -> None:
    if shutil.which(PG_DUMP) is None:
        pytest.fail(f"{PG_DUMP} is needed to dump the PostgreSQL database")
    caplog.set_level(logging.DEBUG)
    target = postgres_database_of_its_own
    await upgrade(target.url)
    runtime = await build_runtime(Settings(database_url=target.url, directory_file=DEMO_DIRECTORY))
    try:
        _prepare(runtime)
        shown = await _work_through(runtime, smtp_server)
    finally:
        await runtime.database.dispose()
    where = make_url(POSTGRES_URL)
    dumped = await asyncio.to_thread(
        subprocess.run,
        [
            PG_DUMP,
            "-h",
            where.host or "127.0.0.1",
            "-p",
            str(where.port or 5432),
            "-U",
            where.username or "postgres",
            "-n",
            "public",
            "--no-owner",
            target.name,
        ],
        capture_output=True,
        check=False,
        env={**os.environ, "PGCONNECT_TIMEOUT": "10"},
    )
    assert dumped.returncode == 0, dumped.stderr.decode()
    dump = dumped.stdout
    assert b"COPY public.child_details" in dump and b"v1:" in dump
    report: dict[str, dict[str, int]] = {}
    _scan("pg_dump -n public", dump, report)
    _scan("logs (DEBUG)", _logs(caplog), report)
    for label, data in _emails(smtp_server):
        _scan(label, data, report)
    decrypted = _assert_the_scan_can_find_them(shown)
    print(
        f"scanned pg_dump ({len(dump)} bytes), {len(caplog.records)} log records, {len(smtp_server.messages)} emails: {report}"
    )
    print(f"the same scan of the decrypted record: {decrypted}")
    assert report == {label: {} for label in report}
