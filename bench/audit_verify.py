"""How fast `challenge-bot audit verify` checks the chronology: events verified per second.

Fills a fresh SQLite file (or `--database`, migrated first; on PostgreSQL give an empty database or schema) with
`--challenges` Durham challenges of `--events` events each, written as the bot writes them (each challenge
raised by the engine and stored in one transaction, its chain and its partnership's anchor included), then
times `storage.verify.verify` over everything, and over one challenge by reference. Run from the repository
root:

    .venv/bin/python bench/audit_verify.py --challenges 1000 --events 10
    .venv/bin/python bench/audit_verify.py --database postgresql+asyncpg://postgres@127.0.0.1:5432/test \
        --schema bench_audit
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import tempfile
import time
from dataclasses import replace
from datetime import timedelta
from pathlib import Path
from uuid import uuid4

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from sqlalchemy import text

from process.challenge import AuditEvent, Decision
from storage.challenges import ChallengeRepository
from storage.db import Database
from storage.migrate import upgrade
from storage.verify import verify
from tests.support.directory import MONDAY, engine_for, raising


async def fill(database: Database, challenges: int, events: int) -> None:
    repo = ChallengeRepository(database)
    engine = engine_for("durham")
    for n in range(challenges):
        raise_one = raising(engine, now=MONDAY + timedelta(minutes=n), challenge_id=str(uuid4()))

        def build(reference: str, raise_one=raise_one) -> Decision:  # type: ignore[no-untyped-def]
            decision: Decision = raise_one(reference)
            first = decision.events[0]
            more = tuple(
                AuditEvent(
                    first.challenge_id,
                    first.at + timedelta(hours=i),
                    first.actor_id,
                    1,
                    "responded",
                    f"Response recorded at stage 1 ({i})",
                    {"text": f"An answer of about the length people write, number {i}. " * 3},
                )
                for i in range(1, events - len(decision.events) + 1)
            )
            return replace(decision, events=(*decision.events, *more))

        await repo.create("DUR", 2026, build)


async def run(url: str, schema: str | None, challenges: int, events: int, rounds: int) -> None:
    if schema is not None:
        admin = await Database.connect(url)
        async with admin.transaction() as conn:
            await conn.execute(text(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE'))
            await conn.execute(text(f'CREATE SCHEMA "{schema}"'))
        await admin.dispose()
    await upgrade(url, schema=schema)
    database = await Database.connect(url, schema=schema)
    try:
        started = time.perf_counter()
        await fill(database, challenges, events)
        print(f"filled {challenges} challenges in {time.perf_counter() - started:.1f} s ({database.dialect})")
        timings = []
        for _ in range(rounds):
            started = time.perf_counter()
            result = await verify(database)
            timings.append(time.perf_counter() - started)
            assert result.ok, result.breaks
        best, median = min(timings), statistics.median(timings)
        print(
            f"verify all: {result.events} events of {result.challenges} challenges, "
            f"{result.partnerships['durham'][0]} anchors: median {median:.2f} s "
            f"({result.events / median:,.0f} events/s), best {best:.2f} s ({result.events / best:,.0f} events/s)"
        )
        one = []
        for _ in range(rounds * 5):
            started = time.perf_counter()
            assert (await verify(database, "DUR-2026-0500")).ok
            one.append(time.perf_counter() - started)
        print(
            f"verify one challenge (and its partnership's chain): median {1000 * statistics.median(one):.1f} ms"
        )
    finally:
        if schema is not None:
            async with database.transaction() as conn:
                await conn.execute(text(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE'))
        await database.dispose()


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--challenges", type=int, default=1000)
    parser.add_argument("--events", type=int, default=10, help="events per challenge (at least 1)")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--database", help="a database URL (default: a new SQLite file)")
    parser.add_argument("--schema", help="PostgreSQL: the schema to make, fill and drop afterwards")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        url = args.database or f"sqlite+aiosqlite:///{Path(folder) / 'bench.db'}"
        asyncio.run(run(url, args.schema, args.challenges, max(args.events, 1), args.rounds))


if __name__ == "__main__":
    main()
