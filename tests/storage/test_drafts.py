"""Raising forms (drafts): one open per person, changed compare-and-set, raised once, expired and purged."""

from __future__ import annotations

import asyncio
from datetime import timedelta

import pytest
from sqlalchemy import insert, select
from sqlalchemy.exc import IntegrityError

from storage.challenges import ChallengeRepository
from storage.db import Database
from storage.drafts import DraftChild, DraftStore
from storage.errors import AlreadyRaised, DraftNotCurrent
from storage.schema import challenges, draft_child_details, raise_drafts
from tests.support.clock import FakeClock
from tests.support.directory import engine_for, raising

DAY = timedelta(hours=24)
CHILD = DraftChild(name="Tegan Draftchild", date_of_birth="2019-03-14", agency_reference="D-55")


async def test_one_challenge_per_draft_is_enforced_by_the_database(
    database: Database, repo: ChallengeRepository
) -> None:
    raised = await repo.create("DUR", 2026, raising(engine_for("durham")))
    async with database.transaction() as conn:
        row = (await conn.execute(select(challenges).where(challenges.c.id == raised.challenge.id))).one()
        await conn.execute(challenges.update().where(challenges.c.id == row.id).values(draft_id="draft-1"))
    copy = {**row._asdict(), "id": "another", "reference": "DUR-2026-0099", "draft_id": "draft-1"}
    with pytest.raises(IntegrityError):
        async with database.transaction() as conn:
            await conn.execute(insert(challenges).values(**copy))


async def test_ten_raises_of_one_draft_at_once_store_one_challenge(
    database: Database, repo: ChallengeRepository, clock: FakeClock
) -> None:
    drafts = DraftStore(database)
    draft, _ = await drafts.start("raiser", "child", clock(), DAY)
    engine = engine_for("durham")
    results = await asyncio.gather(
        *(repo.create("DUR", 2026, raising(engine), draft_id=draft.id, draft_revision=0) for _ in range(10)),
        return_exceptions=True,
    )
    made = [r for r in results if not isinstance(r, BaseException)]
    already = [r for r in results if isinstance(r, AlreadyRaised)]
    assert len(made) == 1 and len(already) == 9, results
    assert {a.challenge_id for a in already} == {made[0].challenge.id}
    assert await repo.raised_from(draft.id) == made[0].challenge.id
    # References stay gap-free: the refused raises used no number.
    assert (await repo.create("DUR", 2026, raising(engine))).challenge.reference == "DUR-2026-0002"


async def test_a_draft_that_moved_on_or_ended_is_not_raised_from(
    database: Database, repo: ChallengeRepository, clock: FakeClock
) -> None:
    drafts = DraftStore(database)
    draft, _ = await drafts.start("raiser", "review", clock(), DAY)
    moved = await drafts.advance(draft, verb="raise.back", step="issue", answers={}, child=CHILD, now=clock())
    assert moved is not None
    with pytest.raises(DraftNotCurrent):
        await repo.create("DUR", 2026, raising(engine_for("durham")), draft_id=draft.id, draft_revision=0)
    assert await drafts.cancel(draft.id, "raiser", clock())
    with pytest.raises(DraftNotCurrent):
        await repo.create("DUR", 2026, raising(engine_for("durham")), draft_id=draft.id, draft_revision=1)
    assert await repo.get_by_reference("DUR-2026-0001") is None


async def test_raising_a_draft_deletes_it_with_its_childs_details(
    database: Database, repo: ChallengeRepository, clock: FakeClock
) -> None:
    drafts = DraftStore(database)
    draft, _ = await drafts.start("raiser", "child", clock(), DAY)
    moved = await drafts.advance(
        draft, verb="raise.next", step="review", answers={}, child=CHILD, now=clock()
    )
    assert moved is not None
    await repo.create("DUR", 2026, raising(engine_for("durham")), draft_id=draft.id, draft_revision=1)
    async with database.reading() as conn:
        assert (await conn.execute(select(draft_child_details))).all() == []
        assert (await conn.execute(select(raise_drafts))).all() == []


async def test_of_two_changes_from_one_revision_one_is_stored(database: Database, clock: FakeClock) -> None:
    drafts = DraftStore(database)
    draft, new = await drafts.start("raiser", "child", clock(), DAY)
    assert new
    first, second = await asyncio.gather(
        drafts.advance(
            draft, verb="raise.next", step="challenged", answers={"a": "1"}, child=CHILD, now=clock()
        ),
        drafts.advance(
            draft,
            verb="raise.next",
            step="challenged",
            answers={"a": "2"},
            child=DraftChild(name="Other"),
            now=clock(),
        ),
    )
    assert (first is None) != (second is None)
    stored = await drafts.get(draft.id)
    assert stored is not None and stored.revision == 1
    assert stored == (first or second)


async def test_one_open_draft_per_person_even_when_started_at_once(
    database: Database, clock: FakeClock
) -> None:
    drafts = DraftStore(database)
    started = await asyncio.gather(*(drafts.start("raiser", "process", clock(), DAY) for _ in range(6)))
    assert len({draft.id for draft, _ in started}) == 1
    assert sum(new for _, new in started) == 1
    other, _ = await drafts.start("someone_else", "process", clock(), DAY)
    assert other.id != started[0][0].id


async def test_expired_drafts_lose_their_answers_then_their_rows(
    database: Database, clock: FakeClock
) -> None:
    drafts = DraftStore(database)
    draft, _ = await drafts.start("raiser", "child", clock(), DAY)
    await drafts.advance(
        draft, verb="raise.next", step="challenged", answers={"concern": "x"}, child=CHILD, now=clock()
    )
    clock.advance(hours=23)
    assert (await drafts.purge(clock())).expired == 0
    clock.advance(hours=1)
    report = await drafts.purge(clock())
    assert report.expired == 1 and report.deleted == 0
    ended = await drafts.get(draft.id)
    assert (
        ended is not None
        and ended.status == "expired"
        and ended.answers == {}
        and ended.child == DraftChild()
    )
    async with database.reading() as conn:
        assert (await conn.execute(select(draft_child_details))).all() == []
    clock.advance(days=30)
    assert (await drafts.purge(clock())).deleted == 1
    async with database.reading() as conn:
        assert (await conn.execute(select(raise_drafts))).all() == []


async def test_restarting_a_draft_twice_gives_the_same_new_draft(
    database: Database, clock: FakeClock
) -> None:
    drafts = DraftStore(database)
    draft, _ = await drafts.start("raiser", "process", clock(), DAY)
    first = await drafts.restart(draft.id, "raiser", "process", clock(), DAY)
    second = await drafts.restart(draft.id, "raiser", "process", clock(), DAY)
    assert first is not None and first == second and first.replaces == draft.id
    # Someone else cannot end or restart it.
    assert await drafts.restart(first.id, "intruder", "process", clock(), DAY) is None
    assert not await drafts.cancel(first.id, "intruder", clock())
