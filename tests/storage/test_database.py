"""The database handle: no-setup SQLite, readiness pings, snapshot reads, and clear errors for bad URLs."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import event, text
from sqlalchemy.exc import IntegrityError

import storage.db
from storage.db import Database, parse_url
from tests.support.database import sqlite_url
from tests.support.directory import CHILD


async def test_connect_makes_the_sqlite_files_folder_and_pings(tmp_path: Path) -> None:
    path = tmp_path / "var" / "nested" / "challenge-bot.db"
    database = await Database.connect(sqlite_url(path))
    try:
        assert path.parent.is_dir()
        assert await database.ping()
        assert database.dialect == "sqlite" and database.is_sqlite
    finally:
        await database.dispose()


async def test_sqlite_connections_use_wal_a_busy_timeout_and_foreign_keys(sqlite_database: Database) -> None:
    async with sqlite_database.reading() as conn:
        assert (await conn.execute(text("PRAGMA journal_mode"))).scalar_one() == "wal"
        assert (await conn.execute(text("PRAGMA foreign_keys"))).scalar_one() == 1
        assert (await conn.execute(text("PRAGMA busy_timeout"))).scalar_one() >= 5000


async def test_ping_reports_an_unreachable_database_instead_of_raising() -> None:
    database = await Database.connect("postgresql+asyncpg://nobody@127.0.0.1:1/none")
    try:
        assert not await database.ping()
    finally:
        await database.dispose()


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("mysql+aiomysql://localhost/db", "unsupported database driver"),
        ("postgresql+psycopg2://localhost/db", "unsupported database driver"),
        ("sqlite+aiosqlite:///:memory:", "file path"),
        ("not a url", "DATABASE_URL"),
    ],
)
async def test_unusable_urls_are_refused_with_what_to_use(url: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        await Database.connect(url)


async def test_a_read_sees_one_snapshot_even_if_a_write_commits_meanwhile(database: Database) -> None:
    count = text("SELECT count(*) FROM reference_counters")
    async with database.reading() as reader:
        before = (await reader.execute(count)).scalar_one()
        async with database.transaction() as writer:
            await writer.execute(
                text("INSERT INTO reference_counters (prefix, year, last_number) VALUES ('DUR', 2026, 1)")
            )
        assert (await reader.execute(count)).scalar_one() == before
    async with database.reading() as reader:
        assert (await reader.execute(count)).scalar_one() == before + 1


async def test_a_failed_transaction_leaves_nothing_behind(database: Database) -> None:
    with pytest.raises(RuntimeError):
        async with database.transaction() as conn:
            await conn.execute(
                text("INSERT INTO reference_counters (prefix, year, last_number) VALUES ('DUR', 2026, 1)")
            )
            raise RuntimeError("something after the insert failed")
    async with database.reading() as conn:
        assert (await conn.execute(text("SELECT count(*) FROM reference_counters"))).scalar_one() == 0


@pytest.mark.parametrize(
    ("given", "used"),
    [
        ("postgres://bot@db.example:5432/bot", "postgresql+asyncpg://bot@db.example:5432/bot"),
        ("postgresql://bot@db.example/bot", "postgresql+asyncpg://bot@db.example/bot"),
        ("postgresql+asyncpg://bot@db.example/bot", "postgresql+asyncpg://bot@db.example/bot"),
        ("sqlite:////srv/bot/var/bot.db", "sqlite+aiosqlite:////srv/bot/var/bot.db"),
    ],
)
def test_urls_without_the_async_driver_get_it(given: str, used: str) -> None:
    assert parse_url(given).render_as_string(hide_password=False) == used


async def test_database_errors_never_carry_the_childs_details(database: Database) -> None:
    insert = text(
        "INSERT INTO child_details (challenge_id, name, date_of_birth, agency_reference) "
        "VALUES ('no-such-challenge', :name, :born, :ref)"
    )
    with pytest.raises(IntegrityError) as caught:  # no such challenge: the foreign key refuses it
        async with database.transaction() as conn:
            await conn.execute(
                insert,
                {
                    "name": CHILD.name,
                    "born": CHILD.date_of_birth.isoformat() if CHILD.date_of_birth else None,
                    "ref": CHILD.agency_reference,
                },
            )
    message = str(caught.value)
    assert "child_details" in message
    assert CHILD.name not in message and str(CHILD.agency_reference) not in message and "2018" not in message


async def test_a_discarded_sqlite_connection_cancelled_twice_leaves_no_task_that_cannot_end(
    sqlite_database: Database,
) -> None:
    """SQLAlchemy discards a connection with `terminate()`: a graceful close in a task of its own, and a
    forced stop if the caller is cancelled again meanwhile. The loop's shutdown then cancels that close too,
    as it cancels every task left; it must end, or the loop can never close (the suite hung this way)."""

    async def discard() -> None:
        async with sqlite_database.engine.connect() as conn:
            await conn.execute(text("SELECT 1"))
            await conn.invalidate()

    def graceful_close() -> asyncio.Task[Any] | None:
        for task in asyncio.all_tasks():
            coro = task.get_coro()
            if "graceful_close" in getattr(coro, "__qualname__", "") and getattr(coro, "cr_await", None):
                return task
        return None

    caller = asyncio.create_task(discard())
    loop = asyncio.get_running_loop()
    deadline = loop.time() + 5
    while (closing := graceful_close()) is None:
        assert loop.time() < deadline and not caller.done(), "the connection was never closed gracefully"
        await asyncio.sleep(0)
    caller.cancel()  # a second cancellation of the caller: terminate() forces the connection to stop
    closing.cancel()  # what asyncio.Runner.close() does to every task left when the loop shuts down
    done, _ = await asyncio.wait({caller, closing}, timeout=5)
    assert caller in done and closing in done, f"still pending: {closing!r}"


@pytest.mark.postgres
async def test_a_connection_cut_while_it_rested_is_replaced_before_a_turn_uses_it(
    postgres_database: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    """PostgreSQL connections are pinged only after a rest in the pool: one cut meanwhile (a server restart,
    a firewall) is found by the ping and replaced, so the read that follows never sees it."""
    monkeypatch.setattr(storage.db, "PING_AFTER_REST_SECONDS", 0.0)
    async with postgres_database.reading() as conn:
        backend = await conn.scalar(text("SELECT pg_backend_pid()"))
    killer = await Database.connect(parse_url(str(postgres_database.engine.url)).render_as_string(False))
    try:
        async with killer.transaction() as conn:
            assert await conn.scalar(text("SELECT pg_terminate_backend(:pid)"), {"pid": backend})
    finally:
        await killer.dispose()
    await asyncio.sleep(0.05)
    async with postgres_database.reading() as conn:
        assert await conn.scalar(text("SELECT pg_backend_pid()")) != backend


@pytest.mark.postgres
async def test_a_connection_in_steady_use_is_not_pinged(
    postgres_database: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(storage.db, "PING_AFTER_REST_SECONDS", 3600.0)
    pings: list[object] = []
    original = postgres_database.engine.dialect.do_ping
    monkeypatch.setattr(postgres_database.engine.dialect, "do_ping", lambda c: pings.append(c) or original(c))
    for _ in range(5):
        async with postgres_database.reading() as conn:
            await conn.execute(text("SELECT 1"))
    assert pings == []
    monkeypatch.setattr(storage.db, "PING_AFTER_REST_SECONDS", 0.0)
    async with postgres_database.reading() as conn:
        await conn.execute(text("SELECT 1"))
    assert len(pings) == 1


async def test_sqlite_writers_of_one_process_take_turns_without_meeting_the_busy_handler(
    sqlite_database: Database,
) -> None:
    """The second writer waits on the process's lock, not in SQLite's busy handler, and both commit."""
    first_in, first_may_end = asyncio.Event(), asyncio.Event()
    order: list[str] = []

    async def first() -> None:
        async with sqlite_database.transaction() as conn:
            await conn.execute(text("CREATE TABLE IF NOT EXISTS turns (who TEXT)"))
            await conn.execute(text("INSERT INTO turns VALUES ('first')"))
            order.append("first in")
            first_in.set()
            await first_may_end.wait()
        order.append("first done")

    async def second() -> None:
        await first_in.wait()
        async with sqlite_database.transaction() as conn:
            order.append("second in")
            await conn.execute(text("INSERT INTO turns VALUES ('second')"))

    begun: list[str] = []

    def record(_conn: Any, _cursor: Any, statement: str, *_: Any) -> None:
        if statement.startswith("BEGIN IMMEDIATE"):
            begun.append(statement)

    event.listen(sqlite_database.engine.sync_engine, "before_cursor_execute", record)
    try:
        tasks = [asyncio.create_task(first()), asyncio.create_task(second())]
        await first_in.wait()
        for _ in range(20):
            await asyncio.sleep(0.005)
        # The second is queued behind the first: it has not asked SQLite for the write lock at all.
        assert order == ["first in"] and len(begun) == 1
        first_may_end.set()
        await asyncio.gather(*tasks)
    finally:
        event.remove(sqlite_database.engine.sync_engine, "before_cursor_execute", record)
    assert len(begun) == 2
    assert order == ["first in", "first done", "second in"]
    async with sqlite_database.reading() as conn:
        assert (await conn.execute(text("SELECT who FROM turns ORDER BY rowid"))).scalars().all() == [
            "first",
            "second",
        ]


async def test_the_write_lock_follows_the_event_loop(tmp_path: Path) -> None:
    """A database used from a second event loop (a command run after another) gets a lock of that loop."""
    database = await Database.connect(f"sqlite+aiosqlite:///{tmp_path / 'loops.db'}")
    try:
        async with database.transaction() as conn:
            await conn.execute(text("CREATE TABLE t (x INTEGER)"))
        lock = database._write_lock()

        def in_another_loop() -> asyncio.Lock:
            async def other() -> asyncio.Lock:
                return database._write_lock()

            return asyncio.run(other())

        assert await asyncio.to_thread(in_another_loop) is not lock
    finally:
        await database.dispose()
