"""Each change is all or nothing, and of two actions on the same version exactly one is applied."""

from __future__ import annotations

import asyncio
from collections.abc import Iterable
from dataclasses import replace
from datetime import datetime, timedelta

import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection

import storage.challenges
from process.challenge import Challenge, Decision, Notification, Respond, Withdraw
from process.engine import Engine
from process.policy import Role
from storage.challenges import ChallengeRepository
from storage.db import Database
from storage.errors import ConflictError, NotFound
from storage.outbox import Outbox
from tests.support.database import until_blocked_by
from tests.support.directory import MONDAY, engine_for, holder, raising


async def _raised(repo: ChallengeRepository) -> tuple[Engine, Challenge]:
    engine = engine_for("durham")
    return engine, (await repo.create("DUR", 2026, raising(engine))).challenge


async def _queued(outbox: Outbox, challenge_id: str) -> list[Notification]:
    return [item.notification for item in await outbox.for_challenge(challenge_id)]


def _two_decisions(engine: Engine, c: Challenge) -> tuple[Decision, Decision]:
    """The professional responds while the raiser withdraws, both looking at the same card."""
    now = MONDAY + timedelta(hours=1)
    respond = engine.apply(
        c, Respond("The report is attached."), holder("durham", Role.CHALLENGED_PROFESSIONAL), now
    )
    withdraw = engine.apply(c, Withdraw("Sorted out by phone."), holder("durham", Role.RAISER), now)
    return respond, withdraw


async def test_second_action_on_the_same_version_gets_a_readable_conflict(
    repo: ChallengeRepository, outbox: Outbox
) -> None:
    engine, c = await _raised(repo)
    raised_notifications = await _queued(outbox, c.id)
    respond, withdraw = _two_decisions(engine, c)
    await repo.save(respond, c.version)
    with pytest.raises(ConflictError) as caught:
        await repo.save(withdraw, c.version)
    assert caught.value.current_version == 2 and caught.value.challenge_id == c.id
    assert str(caught.value) == "Someone else updated DUR-2026-0001 just now; here is the current card."
    assert await repo.get(c.id) == respond.challenge
    kinds = [e.kind for e in await repo.audit_events(c.id)]
    assert kinds == ["raised", "responded"]
    assert await _queued(outbox, c.id) == [*raised_notifications, *respond.notifications]


async def test_two_simultaneous_saves_from_one_version_apply_exactly_once(repo: ChallengeRepository) -> None:
    engine, c = await _raised(repo)
    respond, withdraw = _two_decisions(engine, c)
    results = await asyncio.gather(
        repo.save(respond, c.version), repo.save(withdraw, c.version), return_exceptions=True
    )
    conflicts = [r for r in results if isinstance(r, ConflictError)]
    assert len(conflicts) == 1 and results.count(None) == 1
    winner = respond if results[0] is None else withdraw
    assert await repo.get(c.id) == winner.challenge
    assert len(await repo.audit_events(c.id)) == 2


async def test_a_save_waiting_on_an_uncommitted_save_sees_it_and_conflicts(
    repo: ChallengeRepository, database: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The first save is held open inside its transaction, after its UPDATE; the second really waits for it
    (on PostgreSQL we see it blocked on the first's row lock) and, once it commits, is refused."""
    engine, c = await _raised(repo)
    respond, withdraw = _two_decisions(engine, c)
    first_inside = asyncio.Event()
    release = asyncio.Event()
    first_pid: list[int] = []
    real_enqueue = storage.challenges.enqueue

    async def held_enqueue(
        conn: AsyncConnection, notifications: Iterable[Notification], now: datetime, **keys: int | None
    ) -> None:
        if not first_inside.is_set():
            if database.dialect == "postgresql":
                first_pid.append(int((await conn.execute(text("SELECT pg_backend_pid()"))).scalar_one()))
            first_inside.set()
            await release.wait()
        await real_enqueue(conn, notifications, now, **keys)

    monkeypatch.setattr(storage.challenges, "enqueue", held_enqueue)
    first = asyncio.create_task(repo.save(respond, c.version))
    await asyncio.wait_for(first_inside.wait(), 10)
    second = asyncio.create_task(repo.save(withdraw, c.version))
    if database.dialect == "postgresql":
        await until_blocked_by(database, first_pid[0])
    else:
        await asyncio.sleep(0.3)
    assert not second.done(), "the second save must wait for the first one's transaction"
    release.set()
    await asyncio.wait_for(first, 10)
    with pytest.raises(ConflictError) as caught:
        await asyncio.wait_for(second, 20)
    assert caught.value.current_version == 2
    assert await repo.get(c.id) == respond.challenge


async def test_saving_a_challenge_that_is_not_stored_is_not_found(repo: ChallengeRepository) -> None:
    engine, c = await _raised(repo)
    respond, _ = _two_decisions(engine, c)
    ghost = replace(respond.challenge, id="not-stored")
    events = tuple(replace(e, challenge_id="not-stored") for e in respond.events)
    with pytest.raises(NotFound):
        await repo.save(Decision(ghost, events, ()), c.version)


async def test_failure_after_the_challenge_update_stores_neither_state_nor_notifications(
    repo: ChallengeRepository, outbox: Outbox, monkeypatch: pytest.MonkeyPatch
) -> None:
    engine, c = await _raised(repo)
    queued_before = await outbox.for_challenge(c.id)
    respond, _ = _two_decisions(engine, c)

    async def broken_enqueue(
        conn: AsyncConnection, notifications: Iterable[Notification], now: datetime, **keys: int | None
    ) -> None:
        raise RuntimeError("the outbox insert failed")

    monkeypatch.setattr(storage.challenges, "enqueue", broken_enqueue)
    with pytest.raises(RuntimeError, match="outbox insert failed"):
        await repo.save(respond, c.version)
    assert await repo.get(c.id) == c
    assert [e.kind for e in await repo.audit_events(c.id)] == ["raised"]
    assert await outbox.for_challenge(c.id) == queued_before
    monkeypatch.undo()
    await repo.save(respond, c.version)
    assert await repo.get(c.id) == respond.challenge


async def test_failure_while_creating_stores_nothing_and_keeps_the_reference(
    repo: ChallengeRepository, monkeypatch: pytest.MonkeyPatch
) -> None:
    engine = engine_for("durham")

    async def broken_enqueue(
        conn: AsyncConnection, notifications: Iterable[Notification], now: datetime, **keys: int | None
    ) -> None:
        raise RuntimeError("the outbox insert failed")

    monkeypatch.setattr(storage.challenges, "enqueue", broken_enqueue)
    with pytest.raises(RuntimeError):
        await repo.create("DUR", 2026, raising(engine))
    assert await repo.get_by_reference("DUR-2026-0001") is None
    monkeypatch.undo()
    created = await repo.create("DUR", 2026, raising(engine))
    assert created.challenge.reference == "DUR-2026-0001"
