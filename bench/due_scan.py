"""How long the deadline clock takes to find what is due, against the number of challenges stored.

Seeds a throwaway database (a temporary SQLite file, or a private schema on PostgreSQL, dropped afterwards)
with 10k, 100k and 1M challenges (the sizes given; each size adds to the one before), 10% of them open with
deadlines spread over the next 30 days and a handful due now, the closed ones with their history (stages,
parties, five chronology events, five delivered notifications, data keys, a pattern told now and then). The due ones
are real challenges raised through the repository; the rest are copies of a real challenge's rows (their
encrypted columns are opaque bytes of realistic size that no query here reads).

Then it times, through the real storage functions, every query one pass of the clock runs
(`bot.scheduler.Scheduler.run_once`: expire drafts, claim due challenges until none is left, give back the
ones with nothing to do, look for patterns, claim the outbox) and the "when to wake next" computation
(`Scheduler.next_wake`), each alone and the whole step as the scheduler calls it (applying the clock's
actions and delivering are left out: they cost per due item, not per stored one), and prints each
statement's plan: `EXPLAIN (ANALYZE, BUFFERS)` on PostgreSQL (writes rolled back), `EXPLAIN QUERY PLAN` on
SQLite.

    .venv/bin/python bench/due_scan.py --sizes 10000,100000,1000000 --database both [--json out.json]

Everyone in it is invented.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import re
import sqlite3
import statistics
import sys
import tempfile
import time
import uuid
from abc import ABC, abstractmethod
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from storage.crypto import KEY_ENV, generate_key

os.environ.setdefault(KEY_ENV, generate_key())

import asyncpg
from sqlalchemy import event, make_url, text, update

from bot.notifier import DrainReport
from bot.scheduler import DUE_LEASE_SECONDS, Scheduler
from dialogs.patterns import PatternWatch
from dialogs.service import ChallengeService
from process.patterns import looked_back
from process.policy import load_policy
from storage.challenges import ChallengeRepository
from storage.db import Database
from storage.drafts import DraftStore
from storage.migrate import upgrade
from storage.outbox import Outbox
from storage.patterns import PatternStore
from storage.schema import challenges
from tests.support.directory import engine_for, invented_directory, raising

POSTGRES_URL = os.environ.get("TEST_POSTGRES_URL", "postgresql+asyncpg://postgres@127.0.0.1:5432/test")

#: The instant the clock looks from: a Tuesday morning.
NOW = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)
#: Challenges due now (real ones, raised through the repository), whatever the size.
DUE_NOW = 20
OPEN_SHARE = 0.10
#: Of each 300 closed challenges of the pattern-watching partnership, one completed a pattern that was told.
PATTERN_EVERY = 300
WORKER = "bench-clock"


def percentile(samples: list[float], fraction: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, round(fraction * (len(ordered) - 1)))]


# ----- seeding -------------------------------------------------------------------------------------------


@dataclass
class Template:
    """A real challenge's rows, as the driver reads and writes them, keyed by table."""

    columns: dict[str, list[str]]
    rows: dict[str, list[tuple[Any, ...]]]


TABLES = ("challenges", "child_details", "challenge_parties", "challenge_stages", "audit_events", "outbox")
OWNER_COLUMN = {"challenges": "id", "data_keys": "owner_id"}


def _uuid(rng: random.Random) -> str:
    return str(uuid.UUID(int=rng.getrandbits(128), version=4))


@dataclass
class Seeder:
    """Makes the rows of `count` challenges numbered from `start`, in the driver's own types."""

    template: Template
    sqlite: bool
    rng: random.Random = field(default_factory=lambda: random.Random(7))

    def _time(self, instant: datetime) -> Any:
        # What each driver stores for an instant: SQLite naive UTC text, asyncpg an aware datetime.
        return instant.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S.%f") if self.sqlite else instant

    def batches(
        self, start: int, count: int, size: int = 100_000
    ) -> Iterator[dict[str, list[tuple[Any, ...]]]]:
        for first in range(start, start + count, size):
            yield self._batch(first, min(size, start + count - first))

    def _batch(self, first: int, count: int) -> dict[str, list[tuple[Any, ...]]]:
        t = self.template
        out: dict[str, list[tuple[Any, ...]]] = {
            name: [] for name in (*TABLES, "data_keys", "pattern_alerts")
        }
        col = {name: {c: i for i, c in enumerate(cols)} for name, cols in t.columns.items()}
        rng = self.rng
        for number in range(first, first + count):
            cid = _uuid(rng)
            is_open = rng.random() < OPEN_SHARE
            policy = "durham" if number % 2 == 0 else "rochdale"
            if is_open:
                # Raised over the last year, none in the last hour (a pass after a raise is timed apart).
                raised = NOW - timedelta(seconds=rng.uniform(3600, 365 * 86400))
                due = NOW + timedelta(seconds=rng.uniform(3600, 30 * 86400))
                status, closed = "open", None
            else:
                raised = NOW - timedelta(seconds=rng.uniform(60 * 86400, 10 * 365 * 86400))
                due = None
                status = rng.choice(("resolved", "closed", "closed", "withdrawn"))
                closed = raised + timedelta(days=rng.uniform(5, 50))
            row = list(t.rows["challenges"][0])
            c = col["challenges"]
            row[c["id"]] = cid
            row[c["reference"]] = f"{'DUR' if policy == 'durham' else 'RBS'}-{raised.year}-{number:07d}"
            row[c["policy_id"]] = policy
            row[c["status"]] = status
            row[c["raised_at"]] = self._time(raised)
            row[c["updated_at"]] = self._time(closed or raised)
            row[c["closed_at"]] = self._time(closed) if closed else None
            row[c["next_due_at"]] = self._time(due) if due else None
            row[c["draft_id"]] = None
            row[c["version"]] = 1 if is_open else 6
            out["challenges"].append(tuple(row))
            for name in ("child_details", "challenge_parties", "challenge_stages"):
                i = col[name]["challenge_id"]
                for r in t.rows[name]:
                    copy = list(r)
                    copy[i] = cid
                    out[name].append(tuple(copy))
            key = list(t.rows["data_keys"][0])
            key[col["data_keys"]["owner_id"]] = cid
            out["data_keys"].append(tuple(key))
            # The chronology: the raise, then (closed) responses, an escalation, the close.
            events = t.rows["audit_events"]
            e = col["audit_events"]
            for seq in range(1, (2 if is_open else 5) + 1):
                ev = list(events[min(seq - 1, len(events) - 1)])
                ev[e["challenge_id"]] = cid
                ev[e["seq"]] = seq
                ev[e["at"]] = self._time(raised + timedelta(days=seq - 1))
                out["audit_events"].append(tuple(ev))
            # Notifications, all delivered long ago (an open challenge's too: only those due now are not).
            o = col["outbox"]
            for n in range(2 if is_open else 5):
                ob = list(t.rows["outbox"][n % len(t.rows["outbox"])])
                at = self._time(raised + timedelta(days=n // 3, minutes=1))
                ob[o["challenge_id"]] = cid
                ob[o["status"]] = "delivered"
                ob[o["created_at"]] = ob[o["updated_at"]] = ob[o["next_attempt_at"]] = at
                ob[o["delivered_at"]] = at
                ob[o["claimed_by"]] = "earlier-clock"
                ob[o["claimed_until"]] = None
                ob[o["channel"]] = "teams"
                ob[o["attempts"]] = 1
                out["outbox"].append(tuple(ob))
            if policy == "durham" and not is_open and number % PATTERN_EVERY == 0:
                out["pattern_alerts"].append(
                    (
                        "durham",
                        "durham_b",
                        cid,
                        self._time(raised - timedelta(days=40)),
                        self._time(raised),
                        json.dumps(["DUR-0000-0001", "DUR-0000-0002", "DUR-0000-0003"]),
                        json.dumps(["Invented Manager (QRT Business Manager)"]),
                        self._time(raised),
                    )
                )
        return out


PATTERN_COLUMNS = (
    "policy_id",
    "agency_id",
    "trigger_challenge_id",
    "window_start",
    "window_end",
    "refs",
    "told",
    "created_at",
)


def _insert_columns(template: Template, name: str) -> list[str]:
    if name == "pattern_alerts":
        return list(PATTERN_COLUMNS)
    return template.columns[name]


class Target(ABC):
    """One database: its URL for the bot's code, and raw driver access for seeding."""

    kind: str

    @abstractmethod
    async def create(self) -> None:
        """Make the database and migrate it to the newest schema."""

    @abstractmethod
    async def drop(self) -> None:
        """Remove the database (its file, or its schema)."""

    @abstractmethod
    async def database(self) -> Database:
        """The bot's own `Database` on it."""

    @abstractmethod
    async def template(self, challenge_id: str) -> Template:
        """The rows of one real challenge, to be copied for the others."""

    @abstractmethod
    async def insert(self, template: Template, batch: dict[str, list[tuple[Any, ...]]]) -> None:
        """Insert a batch of copied rows, in one transaction."""

    @abstractmethod
    async def finish_seed(self) -> None:
        """Leave the database as a running bot would find it once seeding is done."""

    @abstractmethod
    async def size(self) -> str:
        """How much room the database takes, for the report."""


def _drop_serial(template: Template) -> None:
    """Serial ids are the database's to give."""
    for name in ("audit_events", "outbox"):
        cols = template.columns[name]
        if "id" in cols:
            i = cols.index("id")
            template.columns[name] = [c for c in cols if c != "id"]
            template.rows[name] = [r[:i] + r[i + 1 :] for r in template.rows[name]]


def _remove_files(path: Path) -> None:
    for suffix in ("", "-wal", "-shm"):
        Path(f"{path}{suffix}").unlink(missing_ok=True)


def _write(path: str, content: str) -> None:
    Path(path).write_text(content)


class SqliteTarget(Target):
    kind = "sqlite"

    def __init__(self, folder: Path) -> None:
        self.path = folder / "due-scan.db"
        self.url = f"sqlite+aiosqlite:///{self.path}"
        self._seeding: sqlite3.Connection | None = None

    async def create(self) -> None:
        await upgrade(self.url)

    async def drop(self) -> None:
        _remove_files(self.path)

    async def database(self) -> Database:
        return await Database.connect(self.url)

    def _raw(self) -> sqlite3.Connection:
        conn = sqlite3.connect(self.path, isolation_level=None)
        conn.execute("PRAGMA journal_mode = WAL")
        return conn

    async def template(self, challenge_id: str) -> Template:
        conn = self._raw()
        columns, rows = {}, {}
        for name in (*TABLES, "data_keys"):
            where = "owner_id" if name == "data_keys" else ("id" if name == "challenges" else "challenge_id")
            cur = conn.execute(f"SELECT * FROM {name} WHERE {where} = ?", (challenge_id,))
            columns[name] = [d[0] for d in cur.description]
            rows[name] = [tuple(r) for r in cur.fetchall()]
        conn.close()
        template = Template(columns, rows)
        _drop_serial(template)
        return template

    async def insert(self, template: Template, batch: dict[str, list[tuple[Any, ...]]]) -> None:
        if self._seeding is None:
            self._seeding = self._raw()
            # Seeding only: no fsync, and one connection whose cache holds the indexes the random ids go into.
            self._seeding.execute("PRAGMA synchronous = OFF")
            self._seeding.execute("PRAGMA cache_size = -3000000")
        conn = self._seeding
        conn.execute("BEGIN")
        for name, rows in batch.items():
            if not rows:
                continue
            cols = _insert_columns(template, name)
            conn.executemany(
                f"INSERT INTO {name} ({', '.join(cols)}) VALUES ({', '.join('?' * len(cols))})", rows
            )
        conn.execute("COMMIT")

    async def finish_seed(self) -> None:
        if self._seeding is not None:
            self._seeding.close()
            self._seeding = None
        conn = self._raw()
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        conn.close()

    async def size(self) -> str:
        return f"{self.path.stat().st_size / 1e6:.0f} MB"


class PostgresTarget(Target):
    kind = "postgresql"

    def __init__(self, url: str) -> None:
        self.url = url
        self.schema = f"bench_due_{uuid.uuid4().hex[:12]}"
        parsed = make_url(url)
        self.dsn = parsed.set(drivername="postgresql").render_as_string(hide_password=False)

    async def _connect(self, schema: bool = True) -> asyncpg.Connection:
        settings = {"search_path": self.schema} if schema else {}
        return await asyncpg.connect(self.dsn, server_settings=settings)

    async def create(self) -> None:
        conn = await self._connect(schema=False)
        await conn.execute(f'CREATE SCHEMA "{self.schema}"')
        await conn.close()
        await upgrade(self.url, schema=self.schema)

    async def drop(self) -> None:
        conn = await self._connect(schema=False)
        await conn.execute(f'DROP SCHEMA IF EXISTS "{self.schema}" CASCADE')
        await conn.close()

    async def database(self) -> Database:
        return await Database.connect(self.url, schema=self.schema)

    async def template(self, challenge_id: str) -> Template:
        conn = await self._connect()
        columns, rows = {}, {}
        for name in (*TABLES, "data_keys"):
            where = "owner_id" if name == "data_keys" else ("id" if name == "challenges" else "challenge_id")
            stmt = await conn.prepare(f"SELECT * FROM {name} WHERE {where} = $1")
            columns[name] = [a.name for a in stmt.get_attributes()]
            rows[name] = [tuple(r) for r in await stmt.fetch(challenge_id)]
        await conn.close()
        template = Template(columns, rows)
        _drop_serial(template)
        return template

    async def insert(self, template: Template, batch: dict[str, list[tuple[Any, ...]]]) -> None:
        conn = await self._connect()
        async with conn.transaction():
            for name, rows in batch.items():
                if rows:
                    await conn.copy_records_to_table(
                        name, records=rows, columns=_insert_columns(template, name), schema_name=self.schema
                    )
        await conn.close()

    async def finish_seed(self) -> None:
        conn = await self._connect()
        await conn.execute("VACUUM ANALYZE")
        await conn.close()

    async def size(self) -> str:
        conn = await self._connect()
        total = await conn.fetchval(
            "SELECT sum(pg_total_relation_size(c.oid)) FROM pg_class c JOIN pg_namespace n "
            "ON n.oid = c.relnamespace WHERE n.nspname = $1 AND c.relkind = 'r'",
            self.schema,
        )
        await conn.close()
        return f"{int(total or 0) / 1e6:.0f} MB"


async def seed_real(db: Database) -> tuple[str, list[str]]:
    """The template challenge and the ones due now, raised through the repository; a few drafts."""
    repo = ChallengeRepository(db, clock=lambda: NOW - timedelta(days=3))
    engine = engine_for("durham")
    template = await repo.create("DUR", 2026, raising(engine, now=NOW - timedelta(days=3)))
    due: list[str] = []
    for _ in range(DUE_NOW):
        decision = await repo.create("DUR", 2026, raising(engine, now=NOW - timedelta(days=3)))
        due.append(decision.challenge.id)
    async with db.transaction() as conn:
        # The template is never due; the others fell due in the last hour.
        await conn.execute(
            text("UPDATE challenges SET next_due_at = :at WHERE id = :id"),
            {"at": NOW + timedelta(days=400), "id": template.challenge.id},
        )
        for n, cid in enumerate(due):
            await conn.execute(
                text("UPDATE challenges SET next_due_at = :at WHERE id = :id"),
                {"at": NOW - timedelta(minutes=3 * n + 1), "id": cid},
            )
        # Their notifications went out when they were raised.
        await conn.execute(
            text("UPDATE outbox SET status = 'delivered', delivered_at = :at, claimed_until = NULL"),
            {"at": NOW - timedelta(days=3)},
        )
    drafts = DraftStore(db)
    for n in range(60):
        draft, _ = await drafts.start(
            f"bench-person-{n}", "child", NOW - timedelta(hours=n), timedelta(days=7)
        )
        if n % 3 == 0:
            await drafts.cancel(draft.id, draft.person_id, NOW - timedelta(hours=n) + timedelta(minutes=5))
    return template.challenge.id, due


# ----- timing --------------------------------------------------------------------------------------------


class ClaimOnlyNotifier:
    """The notifier's part of a pass that finds work: its outbox claim (nothing is sent)."""

    def __init__(self, db: Database) -> None:
        self.outbox = Outbox(db)

    async def drain(self, now: datetime | None = None) -> DrainReport:
        report = DrainReport()
        while await self.outbox.claim(WORKER, now or NOW, 50, 120.0):
            pass
        return report


class FindingScheduler(Scheduler):
    """`Scheduler` as it runs, but a claimed challenge is given back rather than advanced."""

    async def _advance(self, challenge_id: str, now: datetime, report: Any) -> bool:
        return False


@dataclass
class Measured:
    name: str
    rows: int
    p50_ms: float
    p99_ms: float
    statements: list[str]
    plans: list[str]


class Recorder:
    """The statements (with their parameters) the database is sent while recording."""

    def __init__(self, db: Database) -> None:
        self.db = db
        self.seen: list[tuple[str, Any]] = []
        self.on = False
        event.listen(db.engine.sync_engine, "before_cursor_execute", self._record)

    def _record(
        self, conn: Any, cursor: Any, statement: str, parameters: Any, context: Any, many: bool
    ) -> None:
        if self.on and not statement.lstrip().upper().startswith(("BEGIN", "PRAGMA", "SELECT 1", "SET ")):
            self.seen.append((statement, parameters))

    async def capture(self, run: Callable[[], Awaitable[Any]]) -> list[tuple[str, Any]]:
        self.seen, self.on = [], True
        try:
            await run()
        finally:
            self.on = False
        unique: dict[str, tuple[str, Any]] = {}
        for statement, parameters in self.seen:
            unique.setdefault(statement, (statement, parameters))
        return list(unique.values())

    async def plan(self, statement: str, parameters: Any) -> str:
        async with self.db.engine.connect() as conn:
            trans = await conn.begin()
            try:
                if self.db.is_sqlite:
                    rows = await conn.exec_driver_sql(f"EXPLAIN QUERY PLAN {statement}", parameters)
                    return "\n".join(str(row[-1]) for row in rows)
                rows = await conn.exec_driver_sql(
                    f"EXPLAIN (ANALYZE, BUFFERS, COSTS OFF) {statement}", parameters
                )
                return "\n".join(str(row[0]) for row in rows)
            finally:
                await trans.rollback()


async def measure(
    recorder: Recorder,
    name: str,
    run: Callable[[], Awaitable[Any]],
    repeats: int,
    *,
    reset: Callable[[], Awaitable[Any]] | None = None,
    rows: Callable[[Any], int] = lambda r: len(r) if isinstance(r, list | dict) else int(r is not None),
    plans: bool = True,
) -> Measured:
    samples: list[float] = []
    found = 0
    for n in range(repeats + 3):
        if reset is not None:
            await reset()
        start = time.perf_counter()
        result = await run()
        elapsed = (time.perf_counter() - start) * 1000
        if n >= 3:  # the first few warm the caches and the statement cache
            samples.append(elapsed)
        found = rows(result)
    if reset is not None:
        await reset()
    statements = await recorder.capture(run)
    if reset is not None:
        await reset()
    shown = [await recorder.plan(s, p) for s, p in statements] if plans else []
    if reset is not None:
        await reset()
    return Measured(
        name,
        found,
        statistics.median(samples),
        percentile(samples, 0.99),
        [" ".join(s.split()) for s, _ in statements],
        shown,
    )


async def time_queries(db: Database, due: list[str], repeats: int) -> list[Measured]:
    repo = ChallengeRepository(db, clock=lambda: NOW)
    durham, rochdale = load_policy("durham"), load_policy("rochdale")
    directory = invented_directory()

    async def load_directory() -> Any:
        return directory

    service = ChallengeService([durham, rochdale], repo, load_directory, clock=lambda: NOW)
    drafts = DraftStore(db)
    outbox = Outbox(db)
    patterns = PatternStore(db)
    watch = PatternWatch(service, patterns)
    scheduler = FindingScheduler(
        service,
        ClaimOnlyNotifier(db),  # type: ignore[arg-type]
        worker_id=WORKER,
        drafts=drafts,
        patterns=watch,
    )
    recorder = Recorder(db)
    setting = durham.pattern_alert
    assert setting is not None
    since = looked_back(setting, NOW)

    async def unclaim() -> None:
        # Only the due ones are ever claimed; by id, so that undoing a claim reads no other row.
        async with db.transaction() as conn:
            await conn.execute(
                update(challenges)
                .where(challenges.c.id.in_(due))
                .values(due_claimed_by=None, due_claimed_until=None)
            )

    async def unclaim_and_forget() -> None:
        await unclaim()
        watch._looked.clear()  # as if a challenge had just been raised

    async def claim_all() -> None:
        await unclaim()
        await repo.claim_due(WORKER, NOW, 100, DUE_LEASE_SECONDS)

    out = [
        await measure(
            recorder,
            "drafts: expire and delete ended (DraftStore.purge)",
            lambda: drafts.purge(NOW),
            repeats,
            rows=lambda r: r.expired,
        ),
        await measure(
            recorder,
            f"claim due challenges, {len(due)} due (claim_due, rows loaded)",
            lambda: repo.claim_due(WORKER, NOW, 100, DUE_LEASE_SECONDS),
            repeats,
            reset=unclaim,
        ),
        await measure(
            recorder,
            "claim due challenges, none left (the pass's last claim_due)",
            lambda: repo.claim_due(WORKER, NOW, 100, DUE_LEASE_SECONDS),
            repeats,
            reset=claim_all,
        ),
        await measure(
            recorder,
            "give back one claim (release_due)",
            lambda: repo.release_due(due[0], WORKER),
            repeats,
            rows=lambda r: 0,
        ),
        await measure(
            recorder,
            "pattern watch: raised since (PatternStore.raised_since)",
            lambda: patterns.raised_since("durham", since),
            repeats,
        ),
        await measure(
            recorder,
            "pattern watch: newest raise (PatternStore.newest_raised)",
            lambda: patterns.newest_raised("durham"),
            repeats,
        ),
        await measure(
            recorder,
            "pattern watch: last triggers (PatternStore.last_triggers)",
            lambda: patterns.last_triggers("durham", since),
            repeats,
        ),
        await measure(
            recorder, "outbox claim, nothing ready (Outbox.claim)", lambda: outbox.claim(WORKER, NOW), repeats
        ),
        await measure(
            recorder,
            "next wake: soonest open deadline (ChallengeRepository.next_due_at)",
            repo.next_due_at,
            repeats,
        ),
        await measure(
            recorder,
            "next wake: soonest outbox attempt (Outbox.next_attempt_at)",
            outbox.next_attempt_at,
            repeats,
        ),
        await measure(
            recorder,
            "whole pass as the scheduler runs it, nothing advanced (run_once)",
            lambda: scheduler.run_once(NOW),
            max(10, repeats // 4),
            reset=unclaim,
            rows=lambda r: 0,
            plans=False,
        ),
        await measure(
            recorder,
            "whole pass after a raise (the pattern watch reads its look-back)",
            lambda: scheduler.run_once(NOW),
            max(10, repeats // 4),
            reset=unclaim_and_forget,
            rows=lambda r: 0,
            plans=False,
        ),
        await measure(
            recorder,
            "whole next-wake computation (next_wake)",
            scheduler.next_wake,
            repeats,
            rows=lambda r: int(r is not None),
            plans=False,
        ),
    ]
    await unclaim()
    return out


def _short(plan: str) -> str:
    """A plan with its long lists of ids cut short."""
    return re.sub(r"'\{[^}]{60,}\}'", "'{...}'", plan)


# ----- the run -------------------------------------------------------------------------------------------


async def run_database(
    target: Target, sizes: list[int], repeats: int, show_plans: bool
) -> list[dict[str, Any]]:
    results: list[dict[str, Any]] = []
    await target.create()
    try:
        db = await target.database()
        try:
            template_id, due = await seed_real(db)
        finally:
            await db.dispose()
        template = await target.template(template_id)
        seeder = Seeder(template, sqlite=target.kind == "sqlite")
        stored = 0
        for size in sizes:
            started = time.perf_counter()
            for batch in seeder.batches(stored, size - stored):
                await target.insert(template, batch)
            await target.finish_seed()
            seeded = time.perf_counter() - started
            print(
                f"\n== {target.kind}: {size:,} challenges stored (seeded {size - stored:,} in {seeded:.0f} s; "
                f"{await target.size()})",
                flush=True,
            )
            stored = size
            db = await target.database()
            try:
                measured = await time_queries(db, due, repeats)
            finally:
                await db.dispose()
            for m in measured:
                print(f"  {m.name:<72} p50 {m.p50_ms:7.2f} ms  p99 {m.p99_ms:7.2f} ms  rows {m.rows}")
            if show_plans:
                for m in measured:
                    for statement, plan in zip(m.statements, m.plans, strict=False):
                        print(f"\n  -- {m.name}\n  {statement[:300]}")
                        print("    " + _short(plan).replace("\n", "\n    "))
            results.append(
                {
                    "database": target.kind,
                    "stored": size,
                    "seed_seconds": round(seeded, 1),
                    "queries": [m.__dict__ for m in measured],
                }
            )
    finally:
        await target.drop()
    return results


async def main_async(args: argparse.Namespace) -> None:
    sizes = sorted(int(s) for s in args.sizes.split(","))
    results: list[dict[str, Any]] = []
    kinds = ["sqlite", "postgresql"] if args.database == "both" else [args.database]
    with tempfile.TemporaryDirectory(prefix="due-scan-") as folder:
        for kind in kinds:
            target: Target = (
                SqliteTarget(Path(folder)) if kind == "sqlite" else PostgresTarget(args.postgres_url)
            )
            results += await run_database(target, sizes, args.repeats, not args.no_plans)
    if args.json:
        _write(args.json, json.dumps(results, indent=2, default=str))


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--sizes", default="10000,100000,1000000", help="challenges stored, comma-separated")
    parser.add_argument("--database", choices=("sqlite", "postgresql", "both"), default="both")
    parser.add_argument("--postgres-url", default=POSTGRES_URL)
    parser.add_argument("--repeats", type=int, default=200, help="timed calls of each query")
    parser.add_argument("--no-plans", action="store_true", help="leave the query plans out")
    parser.add_argument("--json", help="write the figures and plans to this file")
    asyncio.run(main_async(parser.parse_args()))


if __name__ == "__main__":
    main()
