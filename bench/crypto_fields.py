"""What encryption at rest adds to a card action, and how fast `challenge-bot keys rotate` re-wraps data keys.

Part 1, per card action (no database): a card action reads the challenge (its row, child's details, stages
decrypted) and saves the change (row, child's details, stages and one new event encrypted, the action's keyed
digest, the keyed hash of the agency reference). Timed on a Rochdale challenge worked to stage 3 (entries,
reasons, a meeting), `--rounds` times, median and 95th percentile; the unwrap of its data key is timed apart
(the cache spares it on every read after the first).

Part 2, rotation: `--challenges` challenges raised as the bot raises them (each with its data key), on a fresh
SQLite file and on PostgreSQL (`--postgres URL`, a schema of its own, dropped after), then every data key
re-wrapped under a new key-encryption key by `bot.keys.rotate`, in its batches of 200. Run from the repository
root:

    .venv/bin/python bench/crypto_fields.py --rounds 2000 --challenges 1000
    .venv/bin/python bench/crypto_fields.py --postgres postgresql+asyncpg://postgres@127.0.0.1:5432/test
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import sys
import tempfile
import time
import uuid
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from sqlalchemy import text

from bot.keys import key_counts, rotate
from dialogs.service import change_mark
from process.challenge import ChildDetails, Escalate, Respond
from process.policy import Role
from storage import crypto
from storage.challenges import ChallengeRepository, _child_columns, _columns, keyed_digest
from storage.crypto import CHALLENGE, DataKey, Keyring, configure
from storage.db import Database
from storage.migrate import upgrade
from storage.protected import (
    challenge_row,
    child_row,
    event_words,
    plain_challenge_row,
    plain_child_row,
    plain_stage_reason,
    stage_reason,
)
from tests.support.directory import MONDAY, engine_for, holder, raising

CHILD = ChildDetails("Gwenllïan Ŵyn-Treharne", MONDAY.date().replace(year=2017), "LA-7Q4-91Z3")


def _key(byte: int) -> Keyring:
    return Keyring(bytes([byte]) * 32)


def _worked_challenge() -> Any:
    engine = engine_for("rochdale")
    c = raising(engine, child=CHILD, concern="Gwenllïan's referral was not made. " * 4)(
        "RBS-2026-0001"
    ).challenge
    for hours, (action, role) in enumerate(
        [
            (Respond("We spoke to her mother and will refer this week. " * 3), Role.CHALLENGED_PROFESSIONAL),
            (Escalate("No referral made in the agreed time. " * 2), Role.RAISER),
        ],
        1,
    ):
        c = engine.apply(c, action, holder("rochdale", role), MONDAY + timedelta(hours=hours)).challenge
    return c


def _time(run: Callable[[], object], rounds: int) -> tuple[float, float]:
    taken = []
    for _ in range(rounds):
        start = time.perf_counter()
        run()
        taken.append(time.perf_counter() - start)
    taken.sort()
    return statistics.median(taken) * 1e6, taken[int(len(taken) * 0.95)] * 1e6


def per_action(rounds: int) -> None:
    c = _worked_challenge()
    key = DataKey(c.id, os.urandom(32))
    lookup = DataKey("lookup", os.urandom(32))
    row, child = _columns(c), _child_columns(c)
    stages = [(n, s.reason) for n, s in enumerate(c.stages)]
    summary, detail = "Escalated to stage 2", {"reason": "No referral made in the agreed time. " * 2}
    stored_row = challenge_row(key, row)
    stored_child = child_row(key, "child_details", child)
    stored_stages = [(n, stage_reason(key, n, r)) for n, r in stages]
    mark = change_mark(Respond("An answer."), "someone").digest

    def read() -> None:
        plain_challenge_row(key, stored_row)
        plain_child_row(key, "child_details", stored_child)
        for n, r in stored_stages:
            plain_stage_reason(key, n, r)

    def write() -> None:
        challenge_row(key, row)
        child_row(key, "child_details", child)
        for n, r in stages:
            stage_reason(key, n, r)
        event_words(key, 7, summary, detail)
        keyed_digest(key, mark)
        crypto.reference_hmac(lookup, child["agency_reference"])

    ring = _key(1)
    kek_id, wrapped = ring.wrap(key.key, CHALLENGE, c.id)
    read_med, read_p95 = _time(read, rounds)
    write_med, write_p95 = _time(write, rounds)
    unwrap_med, unwrap_p95 = _time(lambda: ring.unwrap(kek_id, wrapped, CHALLENGE, c.id), rounds)
    size = sum(len(str(v)) for v in stored_row.values() if isinstance(v, str) and v.startswith("v1:"))
    print(f"per card action, {rounds} rounds (microseconds, median / p95):")
    print(f"  read (decrypt row, child, {len(stages)} stages): {read_med:.0f} / {read_p95:.0f}")
    print(
        f"  save (encrypt row, child, stages, one event; keyed digest and hash): {write_med:.0f} / {write_p95:.0f}"
    )
    print(
        f"  unwrap a data key (first read of a challenge by a process): {unwrap_med:.0f} / {unwrap_p95:.0f}"
    )
    print(f"  the row's ciphertext: {size} characters")


async def _fill(database: Database, challenges: int) -> float:
    repo = ChallengeRepository(database)
    engine = engine_for("rochdale")
    start = time.perf_counter()
    for n in range(challenges):
        await repo.create(
            "RBS",
            2026,
            raising(engine, now=MONDAY + timedelta(minutes=n), challenge_id=str(uuid.uuid4()), child=CHILD),
        )
    return time.perf_counter() - start


async def rotation(url: str, challenges: int, *, schema: str | None = None) -> None:
    configure(_key(1))
    if schema is not None:
        admin = await Database.connect(url)
        async with admin.transaction() as conn:
            await conn.execute(text(f'CREATE SCHEMA "{schema}"'))
        await admin.dispose()
    try:
        await upgrade(url, schema=schema)
        database = await Database.connect(url, schema=schema)
        try:
            filled = await _fill(database, challenges)
            new = Keyring(bytes([2]) * 32, (bytes([1]) * 32,))
            configure(new)
            before = sum((await key_counts(database, new)).by_kek.values())
            done = await rotate(database, new)
            again = await rotate(database, new)
            print(
                f"{database.dialect}: {challenges} challenges raised in {filled:.1f} s; "
                f"{done.rewrapped} of {before} data keys re-wrapped in {done.seconds:.2f} s "
                f"({done.rewrapped / done.seconds:.0f} keys/s, {done.batches} batches); a second run re-wrapped "
                f"{again.rewrapped}"
            )
        finally:
            await database.dispose()
    finally:
        if schema is not None:
            admin = await Database.connect(url)
            async with admin.transaction() as conn:
                await conn.execute(text(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE'))
            await admin.dispose()
        configure(None)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rounds", type=int, default=2000)
    parser.add_argument("--challenges", type=int, default=1000)
    parser.add_argument("--postgres", metavar="URL", help="also time rotation on this PostgreSQL database")
    args = parser.parse_args()
    per_action(args.rounds)
    with tempfile.TemporaryDirectory() as folder:
        asyncio.run(rotation(f"sqlite+aiosqlite:///{Path(folder) / 'bench.db'}", args.challenges))
    if args.postgres:
        asyncio.run(rotation(args.postgres, args.challenges, schema=f"bench_rotate_{uuid.uuid4().hex[:8]}"))


if __name__ == "__main__":
    main()
