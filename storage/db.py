"""One database for the whole bot: a SQLite file by default, PostgreSQL when the URL says so.

`Database` owns the SQLAlchemy async engine and hands out transactions. Writes go through `transaction()`:
on SQLite it begins with `BEGIN IMMEDIATE`, so a writer waits its turn (busy timeout) instead of failing
half-way when it upgrades a read lock; on PostgreSQL it is an ordinary READ COMMITTED transaction, where a
compare-and-set `UPDATE` waits for a competing one and then sees its result. Reads go through `reading()`:
one consistent snapshot, so a challenge and its rows are always read at the same version.
"""

from __future__ import annotations

import asyncio
import logging
import re
import time
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sqlalchemy import Table, event, text
from sqlalchemy.engine import URL, Connection, make_url
from sqlalchemy.engine.interfaces import DBAPIConnection
from sqlalchemy.exc import ArgumentError, DisconnectionError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, create_async_engine
from sqlalchemy.pool import ConnectionPoolEntry

if TYPE_CHECKING:
    # A process imports the dialect (and driver) of its own database only: the other's is memory for nothing.
    import aiosqlite
    from sqlalchemy.dialects import postgresql, sqlite

log = logging.getLogger(__name__)

#: How long a SQLite writer waits for another writer before giving up ("database is locked").
SQLITE_BUSY_TIMEOUT_MS = 15_000

#: How long `ping()` waits for the database before reporting it unready.
PING_TIMEOUT_SECONDS = 3.0

_BEGIN_MODE = "challenge_bot_sqlite_begin"


class Database:
    """The engine and its transactions; make one per process with `Database.connect(url)`."""

    def __init__(self, engine: AsyncEngine) -> None:
        self.engine = engine
        self._writer: tuple[asyncio.AbstractEventLoop, asyncio.Lock] | None = None

    @classmethod
    async def connect(cls, url: str, *, schema: str | None = None, echo: bool = False) -> Database:
        """Open (lazily) the database at `url`; for SQLite, make the file's folder if it is missing.

        `schema` puts every table in that PostgreSQL schema (through `search_path`), e.g. to give each test
        run its own tables in a shared database.
        """
        parsed = parse_url(url)
        backend = parsed.get_backend_name()
        connect_args: dict[str, Any] = {}
        if backend == "sqlite":
            _make_sqlite_folder(parsed)
            if schema is not None:
                raise ValueError("a schema can only be chosen on PostgreSQL")
        else:
            settings = {"application_name": "challenge-bot"}
            if schema is not None:
                settings["search_path"] = schema
            connect_args["server_settings"] = settings
        engine = create_async_engine(
            parsed,
            echo=echo,
            # Pinged only after a rest (`_ping_after_rest`): a ping on every checkout cost a round trip on
            # every transaction, and a SQLite file cannot go away between checkouts.
            pool_pre_ping=False,
            connect_args=connect_args,
            # Statement parameters hold children's details; keep them out of error messages and logs.
            hide_parameters=True,
        )
        if backend == "sqlite":
            _configure_sqlite(engine)
        else:
            _ping_after_rest(engine)
        return cls(engine)

    @property
    def dialect(self) -> str:
        """`sqlite` or `postgresql`."""
        return self.engine.dialect.name

    @property
    def is_sqlite(self) -> bool:
        return self.dialect == "sqlite"

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[AsyncConnection]:
        """A write transaction: committed when the block ends, rolled back if it raises.

        On SQLite the writers of this process also take turns on an asyncio lock before `BEGIN IMMEDIATE`:
        SQLite has one writer at a time anyway, and a writer refused by it waits in SQLite's busy handler,
        which sleeps in steps (1, 2, 5, 10 ms...) rather than waking when the other commits. Writers in
        other processes still meet the busy timeout."""
        if not self.is_sqlite:
            async with self.engine.connect() as conn, conn.begin():
                yield conn
            return
        async with self._write_lock():
            async with self.engine.connect() as conn:
                await conn.execution_options(**{_BEGIN_MODE: "IMMEDIATE"})
                async with conn.begin():
                    yield conn

    def _write_lock(self) -> asyncio.Lock:
        """This process's SQLite write lock, for the running event loop (a lock belongs to one loop)."""
        loop = asyncio.get_running_loop()
        if self._writer is None or self._writer[0] is not loop:
            self._writer = (loop, asyncio.Lock())
        return self._writer[1]

    @asynccontextmanager
    async def reading(self) -> AsyncIterator[AsyncConnection]:
        """A read-only snapshot: every query in the block sees the same committed state."""
        async with self.engine.connect() as conn:
            if not self.is_sqlite:
                await conn.execution_options(isolation_level="REPEATABLE READ")
            async with conn.begin():
                yield conn

    async def forget_deleted(self) -> None:
        """After deleting children's details: on SQLite, copy the write-ahead log into the database file and
        empty it, so the deleted rows' old pages are not left in the log file (`secure_delete` has zeroed
        them in the file itself). A reader holding the log open can keep it from emptying; the next call
        does it. Nothing to do on PostgreSQL, whose own files the server manages."""
        if not self.is_sqlite:
            return
        async with self.engine.connect() as conn:
            busy = (await conn.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)")).one()[0]
        if busy:
            log.info("the SQLite write-ahead log was in use; its deleted pages go at the next checkpoint")

    async def ping(self) -> bool:
        """Whether the database answers a trivial query within a few seconds (for a readiness probe)."""
        try:
            async with asyncio.timeout(PING_TIMEOUT_SECONDS):
                async with self.engine.connect() as conn:
                    await conn.execute(text("SELECT 1"))
        except Exception as exc:  # any failure means "not ready"; the reason is logged once here
            log.warning("database ping failed: %s", type(exc).__name__)
            return False
        return True

    async def dispose(self) -> None:
        """Close every pooled connection; call once on shutdown."""
        await self.engine.dispose()


#: What no text column can hold: NUL (PostgreSQL's text refuses it) and halves of a surrogate pair (no UTF-8
#: text can hold one alone).
UNSTORABLE = re.compile("[\x00\ud800-\udfff]")


def could_be_key(key: str) -> bool:
    """Whether `key` could be a stored id or reference: not empty, at most 64 characters, and no control
    character (none is in any id or reference, and PostgreSQL's text cannot even hold NUL). Lookups answer
    None for anything else without asking the database."""
    return bool(key) and len(key) <= 64 and key.isprintable()


#: The async driver each database is used through; a URL naming the database alone gets it added.
ASYNC_DRIVERS = {
    "sqlite": "sqlite+aiosqlite",
    "postgresql": "postgresql+asyncpg",
    "postgres": "postgresql+asyncpg",
}


def upsert(conn: AsyncConnection, table: Table) -> postgresql.Insert | sqlite.Insert:
    """An INSERT into `table` that can say what to do when the key exists (`ON CONFLICT`, as both spell it)."""
    if conn.dialect.name == "postgresql":
        from sqlalchemy.dialects import postgresql

        return postgresql.insert(table)
    from sqlalchemy.dialects import sqlite

    return sqlite.insert(table)


def parse_url(url: str) -> URL:
    """Parse a database URL, adding the async driver if it names none (`postgres://` as some hosts write
    it included), with an error that says what a good URL looks like."""
    try:
        parsed = make_url(url)
    except ArgumentError as exc:
        raise ValueError(
            "DATABASE_URL is not a database URL; use sqlite+aiosqlite:///path/to/file.db or "
            "postgresql+asyncpg://user@host:5432/dbname"
        ) from exc
    driver = ASYNC_DRIVERS.get(parsed.drivername)
    if driver is not None:
        parsed = parsed.set(drivername=driver)
    elif parsed.drivername not in ASYNC_DRIVERS.values():
        raise ValueError(
            f"unsupported database driver {parsed.drivername!r}: use sqlite+aiosqlite:///path/to/file.db or "
            "postgresql+asyncpg://user@host:5432/dbname"
        )
    return parsed


def _make_sqlite_folder(url: URL) -> None:
    database = url.database
    if not database or database == ":memory:" or database.startswith("file:"):
        raise ValueError("SQLite needs a file path (sqlite+aiosqlite:///path/to/file.db), not memory")
    Path(database).expanduser().parent.mkdir(parents=True, exist_ok=True)


@cache
def _closing_connection_class() -> type[aiosqlite.Connection]:
    """aiosqlite's connection, made to stop its worker thread once; in a function, so that only a process
    on SQLite imports aiosqlite."""
    import aiosqlite

    class _AiosqliteConnection(aiosqlite.Connection):
        """An aiosqlite connection whose worker thread is told to stop once, so a close never waits
        forever.

        SQLAlchemy ends a connection it must discard (a query cancelled mid-way, say) with `terminate()`: a
        graceful `close()` in a shielded task, and, if the caller is cancelled again meanwhile, a forced
        `stop()`. aiosqlite's `close()` then asks the worker thread to stop a second time, in its `finally`,
        and awaits an answer the thread, already gone after the first request, never sends. That task could
        not end, not even when cancelled (its one cancellation spent on the first await), so the event loop
        could not shut down. Here a second request to stop is not queued: the first one already ends the
        thread.
        """

        def stop(self) -> asyncio.Future[Any] | None:
            if not self._running:
                return None
            return super().stop()

    return _AiosqliteConnection


#: A pooled PostgreSQL connection unused for longer than this is pinged before it is handed out.
PING_AFTER_REST_SECONDS = 1.0


def _ping_after_rest(engine: AsyncEngine) -> None:
    """Ping a connection before handing it out only if it has rested in the pool (SQLAlchemy's pessimistic
    disconnect handling, applied where it can matter): a server restarted or a connection cut while it
    rested is found by the ping and replaced before the turn uses it. A connection in steady use is not
    pinged; if the server goes away under it, the statement fails, the turn is answered with the apology,
    and SQLAlchemy invalidates the whole pool, so the next checkouts get fresh connections."""

    @event.listens_for(engine.sync_engine, "checkin")
    def _rested_from(_dbapi_connection: DBAPIConnection, record: ConnectionPoolEntry) -> None:
        record.info["checked_in_at"] = time.monotonic()

    @event.listens_for(engine.sync_engine, "checkout")
    def _ping_if_rested(dbapi_connection: DBAPIConnection, record: ConnectionPoolEntry, _proxy: Any) -> None:
        rested_since = record.info.get("checked_in_at")
        if rested_since is None or time.monotonic() - rested_since < PING_AFTER_REST_SECONDS:
            return
        try:
            alive = engine.dialect.do_ping(dbapi_connection)
        except Exception as error:
            raise DisconnectionError(f"a pooled connection did not answer: {type(error).__name__}") from error
        if alive is False:
            raise DisconnectionError("a pooled connection did not answer")


def _configure_sqlite(engine: AsyncEngine) -> None:
    """WAL, a busy timeout, foreign keys, SQLAlchemy (not the driver) in charge of BEGIN, and driver
    connections that always finish closing (`_AiosqliteConnection`)."""

    @event.listens_for(engine.sync_engine, "connect")
    def _on_connect(dbapi_connection: DBAPIConnection, record: ConnectionPoolEntry) -> None:
        driver = record.driver_connection
        import aiosqlite

        if type(driver) is aiosqlite.Connection:
            driver.__class__ = _closing_connection_class()
        # The driver's own implicit BEGIN (only before DML) would break snapshot reads and BEGIN IMMEDIATE.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute(f"PRAGMA busy_timeout = {SQLITE_BUSY_TIMEOUT_MS}")
        cursor.execute("PRAGMA journal_mode = WAL")
        cursor.execute("PRAGMA foreign_keys = ON")
        cursor.execute("PRAGMA synchronous = NORMAL")
        # Deleted rows (a child's details when an unfinished form ends) are overwritten with zeros, not left
        # readable in free pages of the file.
        cursor.execute("PRAGMA secure_delete = ON")
        cursor.close()

    @event.listens_for(engine.sync_engine, "begin")
    def _on_begin(conn: Connection) -> None:
        mode: Mapping[str, Any] = conn.get_execution_options()
        conn.exec_driver_sql(f"BEGIN {mode.get(_BEGIN_MODE, 'DEFERRED')}")
