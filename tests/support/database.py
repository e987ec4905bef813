"""Migrated databases for tests, as pytest fixtures: a SQLite file, a PostgreSQL schema, or each in turn.

`tests/conftest.py` imports the fixtures, so every test package can ask for:

- `database`: a `storage.db.Database`, once on SQLite and once on PostgreSQL (the test runs twice);
- `sqlite_database` / `postgres_database`: one backend only;
- `postgres_target`: the URL and schema of this run's migrated PostgreSQL tables (to open more engines);
- `empty_postgres_schema`: a fresh, empty PostgreSQL schema (for migration tests).

`query_plan(database, run, marker)` shows which indexes a statement that some code runs would use.

Each test starts with empty tables. PostgreSQL is `TEST_POSTGRES_URL` (default: the machine's server on
127.0.0.1:5432, database `test`); every test run works in its own schema (dropped afterwards), because other
runs may share the database. When PostgreSQL cannot be reached its tests are skipped, except under `CI=true`,
where they fail: CI must prove both databases.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import pytest
from sqlalchemy import event, make_url, text
from sqlalchemy.engine import Connection

from storage.db import Database
from storage.migrate import upgrade
from storage.schema import metadata

POSTGRES_URL = os.environ.get("TEST_POSTGRES_URL", "postgresql+asyncpg://postgres@127.0.0.1:5432/test")

T = TypeVar("T")


@dataclass(frozen=True)
class PostgresTarget:
    """Where this test run's PostgreSQL tables are: pass both to `Database.connect(url, schema=schema)`."""

    url: str
    schema: str


def sqlite_url(path: Path) -> str:
    return f"sqlite+aiosqlite:///{path}"


def run_async(make: Callable[[], Awaitable[T]]) -> T:
    """Run a coroutine to completion from synchronous (session) fixture code, on a loop of its own."""

    async def main() -> T:
        return await make()

    with ThreadPoolExecutor(max_workers=1) as pool:
        return pool.submit(asyncio.run, main()).result()


def in_ci() -> bool:
    """Whether this run is CI's (CI=true), where a test that cannot run must fail rather than skip: the one
    place the tests decide it (the end-to-end harness and the office-suite check ask here too)."""
    return os.environ.get("CI", "").lower() == "true"


def skip_unless_ci(message: str) -> None:
    """Skip with `message`, or under CI=true fail with it: CI must run every test."""
    if in_ci():
        pytest.fail(f"{message} (CI=true: this test must run)", pytrace=False)
    pytest.skip(message)


def postgres_unavailable(reason: str) -> None:
    """Skip, or under CI=true fail: CI must run the PostgreSQL tests."""
    where = make_url(POSTGRES_URL).render_as_string(hide_password=True)
    skip_unless_ci(f"PostgreSQL at {where} is not usable: {reason}")


async def create_schema(url: str = POSTGRES_URL) -> str:
    """Create a new, empty schema with a random name and return its name."""
    name = f"t_{uuid.uuid4().hex[:16]}"
    admin = await Database.connect(url)
    try:
        async with admin.transaction() as conn:
            await conn.execute(text(f'CREATE SCHEMA "{name}"'))
    finally:
        await admin.dispose()
    return name


async def drop_schema(name: str, url: str = POSTGRES_URL) -> None:
    admin = await Database.connect(url)
    try:
        async with admin.transaction() as conn:
            await conn.execute(text(f'DROP SCHEMA IF EXISTS "{name}" CASCADE'))
    finally:
        await admin.dispose()


async def reachable(url: str) -> str | None:
    """None if PostgreSQL answers at `url`, else why not."""
    probe = await Database.connect(url)
    try:
        async with asyncio.timeout(10):
            async with probe.engine.connect() as conn:
                await conn.execute(text("SELECT 1"))
    except Exception as exc:
        return f"{type(exc).__name__}: {exc}"
    finally:
        await probe.dispose()
    return None


@pytest.fixture(scope="session")
def postgres_target() -> Iterator[PostgresTarget]:
    """This run's schema on the test PostgreSQL, migrated to the newest revision."""
    problem = run_async(lambda: reachable(POSTGRES_URL))
    if problem is not None:
        postgres_unavailable(problem)
    schema = run_async(lambda: create_schema(POSTGRES_URL))
    try:
        run_async(lambda: upgrade(POSTGRES_URL, schema=schema))
        yield PostgresTarget(POSTGRES_URL, schema)
    finally:
        run_async(lambda: drop_schema(schema, POSTGRES_URL))


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A migrated SQLite file, copied for each test (faster than migrating every time)."""
    path = tmp_path_factory.mktemp("sqlite-template") / "template.db"
    run_async(lambda: upgrade(sqlite_url(path)))
    return path


@pytest.fixture
async def sqlite_database(sqlite_template: Path, tmp_path: Path) -> AsyncIterator[Database]:
    """A migrated, empty SQLite database in a file of its own."""
    path = tmp_path / "db" / "challenge-bot.db"
    path.parent.mkdir()
    shutil.copyfile(sqlite_template, path)
    database = await Database.connect(sqlite_url(path))
    try:
        yield database
    finally:
        await database.dispose()


@pytest.fixture
async def postgres_database(postgres_target: PostgresTarget) -> AsyncIterator[Database]:
    """The run's migrated PostgreSQL schema, emptied before the test."""
    database = await Database.connect(postgres_target.url, schema=postgres_target.schema)
    tables = ", ".join(f'"{table.name}"' for table in metadata.sorted_tables)
    async with database.transaction() as conn:
        await conn.execute(text(f"TRUNCATE {tables} RESTART IDENTITY CASCADE"))
    try:
        yield database
    finally:
        await database.dispose()


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def database(request: pytest.FixtureRequest) -> Database:
    """The test runs once on SQLite and once on PostgreSQL."""
    fixture = "sqlite_database" if request.param == "sqlite" else "postgres_database"
    found: Database = request.getfixturevalue(fixture)
    return found


@pytest.fixture
async def empty_postgres_schema(postgres_target: PostgresTarget) -> AsyncIterator[PostgresTarget]:
    """A new schema with no tables at all, dropped after the test."""
    schema = await create_schema(postgres_target.url)
    try:
        yield PostgresTarget(postgres_target.url, schema)
    finally:
        await drop_schema(schema, postgres_target.url)


async def query_plan(database: Database, run: Callable[[], Awaitable[Any]], marker: str) -> str:
    """The query plan of the one statement containing `marker` that `run()` executes, with its real
    parameters: SQLite's `EXPLAIN QUERY PLAN`, or PostgreSQL's `EXPLAIN`.

    PostgreSQL is told not to scan tables sequentially where it has any other way (its cost estimates would
    prefer a scan of a test-sized table), so the plan names an index exactly when the query can use it.
    """
    seen: list[tuple[str, Any]] = []

    def record(
        conn: Connection, cursor: Any, statement: str, parameters: Any, context: Any, many: bool
    ) -> None:
        if marker in statement:
            seen.append((statement, parameters))

    event.listen(database.engine.sync_engine, "before_cursor_execute", record)
    try:
        await run()
    finally:
        event.remove(database.engine.sync_engine, "before_cursor_execute", record)
    assert len(seen) == 1, f"expected one statement containing {marker!r}, saw {len(seen)}"
    statement, parameters = seen[0]
    async with database.reading() as conn:
        if database.is_sqlite:
            rows = await conn.exec_driver_sql(f"EXPLAIN QUERY PLAN {statement}", parameters)
            return "\n".join(str(row[-1]) for row in rows)
        await conn.execute(text("SET LOCAL enable_seqscan = off"))
        rows = await conn.exec_driver_sql(f"EXPLAIN {statement}", parameters)
        return "\n".join(str(row[0]) for row in rows)


async def until_blocked_by(database: Database, pid: int) -> None:
    """Wait (up to 10 s) until some PostgreSQL backend is blocked on a lock held by backend `pid`."""
    async with asyncio.timeout(10):
        while True:
            async with database.engine.connect() as conn:
                waiting = (
                    await conn.execute(
                        text("SELECT count(*) FROM pg_stat_activity WHERE :pid = ANY(pg_blocking_pids(pid))"),
                        {"pid": pid},
                    )
                ).scalar_one()
            if waiting:
                return
            await asyncio.sleep(0.02)
