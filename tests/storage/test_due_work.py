"""What falls due: only open challenges due by then, claimed by one scheduler at a time."""

from __future__ import annotations

import asyncio
from datetime import datetime, timedelta

import pytest
from sqlalchemy import update

from process.challenge import SYSTEM, Challenge, Withdraw
from process.policy import Role
from storage.challenges import ChallengeRepository, claim_due_challenges
from storage.db import Database
from storage.schema import challenges
from tests.support.clock import FakeClock
from tests.support.directory import MONDAY, engine_for, holder, raising


async def _raise(repo: ChallengeRepository, partnership: str = "durham", at: datetime = MONDAY) -> Challenge:
    engine = engine_for(partnership)
    return (await repo.create(engine.policy.reference_prefix, 2026, raising(engine, now=at))).challenge


def _due(c: Challenge) -> datetime:
    assert c.next_due_at is not None
    return c.next_due_at


async def test_due_before_returns_only_open_challenges_due_by_then_soonest_first(
    repo: ChallengeRepository, database: Database
) -> None:
    first = await _raise(repo, at=MONDAY)
    second = await _raise(repo, at=MONDAY + timedelta(days=1))
    later = await _raise(repo, "rochdale", at=MONDAY)
    withdrawn = await _raise(repo, at=MONDAY)
    engine = engine_for("durham")
    decision = engine.apply(withdrawn, Withdraw("Agreed by phone."), holder("durham", Role.RAISER), MONDAY)
    await repo.save(decision, withdrawn.version)
    closed_but_dated = await _raise(repo, at=MONDAY)
    async with database.transaction() as conn:  # a closed challenge whose due instant was left behind
        await conn.execute(
            update(challenges).where(challenges.c.id == closed_but_dated.id).values(status="closed")
        )
    assert _due(first) < _due(second) < _due(later)

    async def ids(instant: datetime, limit: int = 100) -> list[str]:
        return [c.id for c in await repo.due_before(instant, limit)]

    assert await ids(_due(first) - timedelta(microseconds=1)) == []
    assert await ids(_due(first)) == [first.id]
    assert await ids(_due(second)) == [first.id, second.id]
    assert await ids(_due(later)) == [first.id, second.id, later.id]
    assert await ids(_due(later), limit=1) == [first.id]
    assert (await repo.due_before(_due(first)))[0] == first


async def test_a_claimed_challenge_is_skipped_by_other_schedulers_until_its_lease_ends(
    repo: ChallengeRepository,
) -> None:
    c = await _raise(repo)
    at = _due(c)
    claimed = await repo.claim_due("scheduler-1", at, lease_seconds=60)
    assert claimed == [c]
    assert await repo.claim_due("scheduler-2", at + timedelta(seconds=59)) == []
    assert await repo.claim_due("scheduler-2", at + timedelta(seconds=60)) == [c]


async def test_a_released_claim_can_be_taken_at_once(repo: ChallengeRepository) -> None:
    c = await _raise(repo)
    at = _due(c)
    assert [x.id for x in await repo.claim_due("scheduler-1", at)] == [c.id]
    await repo.release_due(c.id, "scheduler-2")  # not theirs to release
    assert await repo.claim_due("scheduler-2", at) == []
    await repo.release_due(c.id, "scheduler-1")
    assert [x.id for x in await repo.claim_due("scheduler-2", at)] == [c.id]


async def test_saving_the_clocks_action_ends_the_claim(repo: ChallengeRepository) -> None:
    engine = engine_for("durham")
    c = await _raise(repo)
    reminder_at = _due(c)
    (claimed,) = await repo.claim_due("scheduler-1", reminder_at, lease_seconds=3600)
    action = engine.due_action(claimed, reminder_at)
    assert action is not None
    decision = engine.apply(claimed, action, SYSTEM, reminder_at)
    await repo.save(decision, claimed.version)
    deadline = _due(decision.challenge)
    assert deadline > reminder_at
    assert await repo.claim_due("scheduler-2", reminder_at) == []
    assert [x.id for x in await repo.claim_due("scheduler-2", deadline)] == [c.id]


async def test_many_schedulers_claiming_at_once_share_out_the_due_challenges(
    repo: ChallengeRepository,
) -> None:
    raised = [await _raise(repo, at=MONDAY + timedelta(minutes=n)) for n in range(6)]
    at = max(_due(c) for c in raised)

    async def scheduler(name: str) -> list[str]:
        return [c.id for c in await repo.claim_due(name, at, limit=2)]

    claims = await asyncio.gather(*(scheduler(f"scheduler-{n}") for n in range(5)))
    everything = [cid for ids in claims for cid in ids]
    assert sorted(everything) == sorted(c.id for c in raised)


@pytest.mark.postgres
async def test_postgresql_schedulers_skip_challenges_locked_by_an_unfinished_claim(
    postgres_database: Database, clock: FakeClock
) -> None:
    repo = ChallengeRepository(postgres_database, clock=clock)
    first = await _raise(repo, at=MONDAY)
    second = await _raise(repo, at=MONDAY + timedelta(days=1))
    at = _due(second)
    assert _due(first) < at
    async with postgres_database.transaction() as held:
        assert await claim_due_challenges(held, "scheduler-a", at, limit=1, lease_seconds=60) == [first.id]
        other = await asyncio.wait_for(repo.claim_due("scheduler-b", at), 5)
        assert [c.id for c in other] == [second.id]
    assert await repo.claim_due("scheduler-c", at) == []
