"""The notification outbox: leased claims, expiry after a crash, retries, failures, no row claimed twice."""

from __future__ import annotations

import asyncio
from datetime import timedelta

import pytest

from storage.challenges import ChallengeRepository
from storage.db import Database
from storage.outbox import DeliveryStatus, Outbox, OutboxItem, claim_outbox
from tests.support.clock import FakeClock
from tests.support.directory import engine_for, raising


async def _queue(repo: ChallengeRepository, challenges: int = 1) -> list[int]:
    """Raise `challenges` challenges (each queues several notifications); the ids of all queued rows."""
    engine = engine_for("durham")
    outbox = Outbox(repo.db)
    ids: list[int] = []
    for _ in range(challenges):
        created = await repo.create("DUR", 2026, raising(engine))
        ids += [item.id for item in await outbox.for_challenge(created.challenge.id)]
    return ids


def _ids(items: list[OutboxItem]) -> list[int]:
    return [item.id for item in items]


async def test_a_claim_leases_every_ready_row_to_one_worker(
    repo: ChallengeRepository, outbox: Outbox, clock: FakeClock
) -> None:
    queued = await _queue(repo)
    assert len(queued) >= 2
    now = clock.advance(minutes=1)
    claimed = await outbox.claim("worker-1", now, limit=100, lease_seconds=60)
    assert _ids(claimed) == queued
    for item in claimed:
        assert item.status is DeliveryStatus.SENDING and item.attempts == 1
        assert item.claimed_by == "worker-1" and item.claimed_until == now + timedelta(seconds=60)
    assert await outbox.claim("worker-2", now, limit=100, lease_seconds=60) == []


async def test_claims_take_the_oldest_rows_first_up_to_the_limit(
    repo: ChallengeRepository, outbox: Outbox, clock: FakeClock
) -> None:
    first = await _queue(repo)
    clock.advance(minutes=5)
    second = await _queue(repo)
    now = clock.advance(minutes=1)
    assert _ids(await outbox.claim("w", now, limit=len(first))) == first
    assert _ids(await outbox.claim("w", now, limit=100)) == second
    assert await outbox.claim("w", now, limit=0) == []


async def test_rows_queued_later_than_now_are_not_claimed(
    repo: ChallengeRepository, outbox: Outbox, clock: FakeClock
) -> None:
    earlier = clock.now - timedelta(seconds=1)
    await _queue(repo)
    assert await outbox.claim("w", earlier) == []


async def test_a_lapsed_lease_is_claimed_again_and_the_late_worker_loses_it(
    repo: ChallengeRepository, outbox: Outbox, clock: FakeClock
) -> None:
    queued = await _queue(repo)
    now = clock.now
    crashed = await outbox.claim("worker-1", now, lease_seconds=60)
    assert await outbox.claim("worker-2", now + timedelta(seconds=59)) == []
    later = now + timedelta(seconds=60)
    retaken = await outbox.claim("worker-2", later, lease_seconds=60)
    assert _ids(retaken) == _ids(crashed) == queued
    assert {item.attempts for item in retaken} == {2}
    item = retaken[0]
    assert not await outbox.mark_delivered(item.id, "worker-1", later, "teams")
    assert await outbox.mark_delivered(item.id, "worker-2", later, "teams")
    stored = {x.id: x for x in await outbox.for_challenge(item.notification.challenge_id)}[item.id]
    assert stored.status is DeliveryStatus.DELIVERED and stored.channel == "teams"
    assert stored.delivered_at == later and stored.claimed_until is None
    assert item.id not in _ids(await outbox.claim("worker-3", later + timedelta(hours=1)))


async def test_a_retry_waits_until_its_time_and_keeps_the_error(
    repo: ChallengeRepository, outbox: Outbox, clock: FakeClock
) -> None:
    await _queue(repo)
    now = clock.now
    item = (await outbox.claim("w", now, limit=1))[0]
    retry_at = now + timedelta(minutes=5)
    assert await outbox.mark_retry(item.id, "w", now, retry_at, "Teams answered 429")
    assert item.id not in _ids(await outbox.claim("w", now + timedelta(minutes=4), limit=100))
    again = await outbox.claim("w", retry_at, limit=100)
    retried = {x.id: x for x in again}[item.id]
    assert retried.attempts == 2 and retried.last_error == "Teams answered 429"
    assert not await outbox.mark_retry(item.id, "someone-else", retry_at, retry_at, "not mine")


async def test_a_failed_row_is_kept_and_never_claimed_again(
    repo: ChallengeRepository, outbox: Outbox, clock: FakeClock
) -> None:
    await _queue(repo)
    now = clock.now
    item = (await outbox.claim("w", now, limit=1))[0]
    assert await outbox.mark_failed(item.id, "w", now, "x" * 5000)
    stored = {x.id: x for x in await outbox.for_challenge(item.notification.challenge_id)}[item.id]
    assert stored.status is DeliveryStatus.FAILED and len(stored.last_error or "") == 2000
    assert item.id not in _ids(await outbox.claim("w", now + timedelta(days=30), limit=100))
    assert not await outbox.mark_delivered(item.id, "w", now, "email")


async def test_many_workers_claiming_at_once_never_share_a_row(
    repo: ChallengeRepository, outbox: Outbox, clock: FakeClock
) -> None:
    queued = await _queue(repo, challenges=4)
    now = clock.now

    async def worker(name: str) -> list[int]:
        mine: list[int] = []
        while batch := await outbox.claim(name, now, limit=3, lease_seconds=300):
            mine += _ids(batch)
        return mine

    claimed = await asyncio.gather(*(worker(f"worker-{n}") for n in range(6)))
    everything = [row for rows in claimed for row in rows]
    assert sorted(everything) == sorted(queued)
    assert len(set(everything)) == len(everything)


@pytest.mark.postgres
async def test_postgresql_claims_skip_rows_locked_by_an_unfinished_claim(
    postgres_database: Database, clock: FakeClock
) -> None:
    repo = ChallengeRepository(postgres_database, clock=clock)
    outbox = Outbox(postgres_database)
    queued = await _queue(repo, challenges=2)
    now = clock.now
    async with postgres_database.transaction() as held:
        first = await claim_outbox(held, "worker-a", now, limit=3, lease_seconds=60)
        # worker-a has not committed: its rows are locked. worker-b must skip them, not wait for them.
        second = await asyncio.wait_for(outbox.claim("worker-b", now, limit=100, lease_seconds=60), 5)
        assert len(first) == 3
        assert not set(_ids(first)) & set(_ids(second))
        assert sorted(_ids(first) + _ids(second)) == sorted(queued)
    assert await outbox.claim("worker-c", now, limit=100) == []


async def test_next_attempt_at_is_when_the_soonest_unsent_row_becomes_claimable(
    repo: ChallengeRepository, outbox: Outbox, clock: FakeClock
) -> None:
    assert await outbox.next_attempt_at() is None
    queued_at = clock.now
    await _queue(repo)
    assert await outbox.next_attempt_at() == queued_at
    now = clock.advance(minutes=1)
    claimed = await outbox.claim("w", now, lease_seconds=60)
    assert await outbox.next_attempt_at() == now + timedelta(seconds=60)
    retry_at = now + timedelta(seconds=30)
    assert await outbox.mark_retry(claimed[0].id, "w", now, retry_at, "Teams answered 502")
    assert await outbox.next_attempt_at() == retry_at
    for item in claimed[1:]:
        assert await outbox.mark_delivered(item.id, "w", now, "teams")
    assert await outbox.mark_failed(claimed[0].id, "w", now, "gave up") is False
    (again,) = await outbox.claim("w", retry_at)
    assert await outbox.mark_failed(again.id, "w", retry_at, "gave up")
    assert await outbox.next_attempt_at() is None
