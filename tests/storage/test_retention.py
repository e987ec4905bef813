"""The retention purge: challenges ended longer ago than the partnership keeps them lose the child's details
and everything written, keep the anonymous facts, record the purge, and still verify; nothing else changes."""

from __future__ import annotations

import asyncio
import sqlite3
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select, text

from dialogs.service import change_mark
from process.challenge import (
    Challenge,
    ConfirmOutcome,
    Escalate,
    ProposeOutcome,
    RecordMeeting,
    Respond,
    Status,
    Withdraw,
)
from process.policy import Policy, Retention, Role, load_policy
from storage.chain import PURGED
from storage.challenges import ChallengeRepository
from storage.db import Database
from storage.retention import purge, purgeable
from storage.schema import (
    audit_anchors,
    audit_events,
    challenge_changes,
    challenge_stages,
    challenges,
    child_details,
    data_keys,
    metadata,
)
from storage.seal import ROW_COLUMNS, record_of
from storage.verify import CONTENT_CHANGED, verify
from tests.support.clock import FakeClock
from tests.support.directory import CHILD, MONDAY, engine_for, holder, raising

SIX_YEARS = Retention(
    closed_for="6 years", justification="Kept as long as the partnership keeps its case review records."
)
CONCERN = "Zephyrine's report was never shared."
ANSWER = "We sent it to Zephyrine's school."
REASON = "No reply from the agency, Zephyrine still waits."
WHY = "DSCP keeps records 6 years after a challenge ends"


def _policy() -> Policy:
    return load_policy("durham").model_copy(update={"retention": SIX_YEARS})


async def _ended(repo: ChallengeRepository, at: datetime, *, end: bool = True) -> Challenge:
    """A Durham challenge with something written at each turn, withdrawn at `at` (or left open)."""
    engine = engine_for("durham")
    c = (await repo.create("DUR", 2026, raising(engine, concern=CONCERN))).challenge
    steps: list[tuple[Any, Role]] = [
        (Respond(ANSWER), Role.CHALLENGED_PROFESSIONAL),
        (Escalate(REASON), Role.RAISER),
    ]
    if end:
        steps.append((Withdraw("Zephyrine moved away."), Role.RAISER))
    for hours, (action, role) in enumerate(steps, start=1):
        when = at - timedelta(hours=len(steps) - hours)
        decision = engine.apply(c, action, holder("durham", role), when)
        await repo.save(decision, c.version, change_mark(action, holder("durham", role)))
        c = decision.challenge
    return c


async def _everything(database: Database) -> str:
    """Every value of every table, as text, to look for words that should be gone."""
    out = []
    async with database.reading() as conn:
        for table in metadata.sorted_tables:
            for row in await conn.execute(select(table)):
                out.append(repr(tuple(row)))
    return "\n".join(out)


def _owner(table: Any) -> str:
    return "id" if table.name == "challenges" else "challenge_id"


async def _purge_all(database: Database, now: datetime) -> int:
    policy = _policy()
    assert policy.retention is not None
    cutoff = policy.retention.cutoff(now)
    erased = 0
    for item in await purgeable(database, "durham", cutoff):
        got = await purge(database, "durham", item.challenge_id, cutoff, now, WHY)
        assert got is not None
        erased += 1
    return erased


async def test_only_challenges_ended_longer_ago_than_the_period_are_purged(database: Database) -> None:
    repo = ChallengeRepository(database, clock=FakeClock(MONDAY))
    ended = MONDAY + timedelta(days=3)
    now = ended.replace(year=ended.year + 6)
    outside = await _ended(repo, ended - timedelta(seconds=1))  # ended just over six years ago
    inside = await _ended(repo, ended + timedelta(seconds=1))  # six years less a second
    still_open = await _ended(repo, ended - timedelta(days=30), end=False)
    assert outside.status is Status.WITHDRAWN and still_open.is_open
    cutoff = SIX_YEARS.cutoff(now)
    assert [p.reference for p in await purgeable(database, "durham", cutoff)] == [outside.reference]
    assert await purgeable(database, "rochdale", cutoff) == []

    before = await _everything(database)
    assert await _purge_all(database, now) == 1
    gone = await repo.get(outside.id)
    assert gone is not None and gone.purged_at == now
    assert gone.child.name == "" and gone.child.date_of_birth is None
    assert (gone.concern, gone.desired_outcome, gone.informal_evidence, gone.agreed_outcome) == (
        "",
        "",
        None,
        None,
    )
    assert all(e.text == "" for e in gone.entries) and len(gone.entries) == len(outside.entries)
    assert gone.fields == {} and all(s.reason is None for s in gone.stages)
    # The anonymous facts monitoring needs are kept.
    assert (gone.reference, gone.status, gone.stage, gone.challenged_agency_id, gone.issue_category) == (
        outside.reference,
        outside.status,
        outside.stage,
        outside.challenged_agency_id,
        outside.issue_category,
    )
    assert [(s.number, s.started_at, s.ended_at, s.outcome) for s in gone.stages] == [
        (s.number, s.started_at, s.ended_at, s.outcome) for s in outside.stages
    ]
    assert (gone.raised_at, gone.closed_at, gone.parties) == (
        outside.raised_at,
        outside.closed_at,
        outside.parties,
    )
    events = await repo.audit_events(outside.id)
    assert [e.kind for e in events][-1] == PURGED and events[-1].detail == {
        "erased_through": str(len(events) - 1)
    }
    assert all(e.summary == "" and e.detail == {} for e in events[:-1])
    assert WHY in events[-1].summary
    async with database.reading() as conn:
        digests = dict(
            (await conn.execute(select(challenge_changes.c.challenge_id, challenge_changes.c.digest))).all()
        )
    assert digests[outside.id] == "" and len(digests[inside.id]) == 64
    # The others are untouched.
    assert await repo.get(inside.id) == inside and await repo.get(still_open.id) == still_open
    async with database.reading() as conn:
        children = set((await conn.execute(select(child_details.c.challenge_id))).scalars())
    assert children == {inside.id, still_open.id}
    result = await verify(database)
    assert result.ok, result.breaks
    assert result.erased_events == len(events) - 1
    # The purge's anchor seals the purged record, without the child; the salt of the seals before it is gone,
    # so the child's digest they keep cannot be tested against guesses of the child's name and birth date.
    async with database.reading() as conn:
        salts = dict((await conn.execute(select(challenges.c.id, challenges.c.seal_salt))).all())
        sealed = (
            (
                await conn.execute(
                    select(audit_anchors.c.child_digest)
                    .where(audit_anchors.c.challenge_id == outside.id)
                    .order_by(audit_anchors.c.seq)
                )
            )
            .scalars()
            .all()
        )
    assert salts[outside.id] is None and len(salts[inside.id] or "") == 32
    assert sealed[-1] is None and all(sealed[:-1])
    guess = {
        "name": CHILD.name,
        "date_of_birth": CHILD.date_of_birth,
        "agency_reference": CHILD.agency_reference,
    }
    assert record_of(None, {n: None for n in ROW_COLUMNS}, [], [], guess).child not in sealed

    # No words are stored in the clear, before the purge or after it; the purged challenge keeps nothing
    # encrypted, and its data key is gone (crypto-shredded), while the two others keep theirs.
    everything = await _everything(database)
    for words in (ANSWER, REASON, CONCERN, CHILD.name):
        assert before.count(words) == 0 and everything.count(words) == 0, words
    assert before.count(outside.id) and everything.count("v1:") < before.count("v1:")
    async with database.reading() as conn:
        keyed = set((await conn.execute(select(data_keys.c.owner_id))).scalars())
        purged_rows = [
            repr(tuple(row))
            for table in (challenges, challenge_stages, audit_events, child_details)
            for row in await conn.execute(select(table).where(table.c[_owner(table)] == outside.id))
        ]
    assert outside.id not in keyed and {inside.id, still_open.id} <= keyed
    assert purged_rows and not any("v1:" in row for row in purged_rows)
    # What the others hold still reads back as written.
    assert (await repo.get(inside.id)) == inside
    # The purged record is sealed all the same: words put back by hand are found.
    async with database.transaction() as conn:
        await conn.execute(
            text("UPDATE challenges SET concern = :c WHERE id = :i"), {"c": CONCERN, "i": outside.id}
        )
    assert [b.how for b in (await verify(database)).breaks] == ["the challenge's row"]


async def test_purging_again_purges_nothing_new(database: Database) -> None:
    repo = ChallengeRepository(database, clock=FakeClock(MONDAY))
    c = await _ended(repo, MONDAY + timedelta(days=1))
    now = MONDAY.replace(year=2033)
    assert await _purge_all(database, now) == 1
    events = await repo.audit_events(c.id)
    assert await _purge_all(database, now + timedelta(days=1)) == 0
    cutoff = SIX_YEARS.cutoff(now)
    # A purge of a challenge already purged (two runs at once, say) does nothing.
    assert await purge(database, "durham", c.id, cutoff, now, WHY) is None
    assert await repo.audit_events(c.id) == events
    assert (await verify(database)).ok


async def test_two_purges_of_one_challenge_at_once_purge_it_once(database: Database) -> None:
    repo = ChallengeRepository(database, clock=FakeClock(MONDAY))
    c = await _ended(repo, MONDAY + timedelta(days=1))
    now = MONDAY.replace(year=2033)
    cutoff = SIX_YEARS.cutoff(now)
    results = await asyncio.gather(*(purge(database, "durham", c.id, cutoff, now, WHY) for _ in range(3)))
    done = [r for r in results if r is not None]
    assert results.count(None) == 2 and len(done) == 1 and done[0] >= 4
    assert [e.kind for e in await repo.audit_events(c.id)].count(PURGED) == 1
    assert (await verify(database)).ok


async def test_a_meeting_record_and_the_agreed_outcome_are_erased_too(database: Database) -> None:
    repo = ChallengeRepository(database, clock=FakeClock(MONDAY))
    engine = engine_for("rochdale")
    c = (
        await repo.create(
            "RBS",
            2026,
            raising(
                engine,
                concern=CONCERN,
                urgent=True,
                start_stage=3,
                informal_evidence="Zephyrine's practitioners met on 2 November.",
            ),
        )
    ).challenge
    senior = holder("rochdale", Role.CHALLENGED_SENIOR_MANAGER)
    at = MONDAY
    for action, who in (
        (Respond(ANSWER), senior),
        (
            RecordMeeting(MONDAY.date(), "Zephyrine's teachers", "Zephyrine's plan", "Write it", "Friday"),
            senior,
        ),
        (ProposeOutcome("Zephyrine's plan is rewritten."), senior),
        (ConfirmOutcome(), holder("rochdale", Role.RAISER_SENIOR_MANAGER)),
    ):
        at += timedelta(hours=1)
        decision = engine.apply(c, action, who, at)
        await repo.save(decision, c.version)
        c = decision.challenge
    assert c.meetings and c.status is Status.RESOLVED and c.agreed_outcome and c.informal_evidence
    policy = load_policy("rochdale").model_copy(update={"retention": SIX_YEARS})
    assert policy.retention is not None
    now = at.replace(year=at.year + 7)
    cutoff = policy.retention.cutoff(now)
    assert await purge(database, "rochdale", c.id, cutoff, now, WHY) is not None
    assert "Zephyrine" not in await _everything(database)
    gone = await repo.get(c.id)
    assert gone is not None and [(m.stage, m.held_on, m.attendees) for m in gone.meetings] == [
        (m.stage, m.held_on, "") for m in c.meetings
    ]
    assert (await verify(database)).ok


async def test_words_written_into_an_erased_event_are_found(database: Database) -> None:
    repo = ChallengeRepository(database, clock=FakeClock(MONDAY))
    c = await _ended(repo, MONDAY + timedelta(days=1))
    assert await _purge_all(database, MONDAY.replace(year=2033)) == 1
    async with database.transaction() as conn:
        await conn.execute(
            text("UPDATE audit_events SET summary = 'Invented words' WHERE challenge_id = :c AND seq = 2"),
            {"c": c.id},
        )
    found = (await verify(database)).breaks
    assert [(b.where, b.seq, b.what) for b in found] == [(c.reference, 2, CONTENT_CHANGED)]


async def test_words_erased_after_a_purge_outside_its_reach_are_found(database: Database) -> None:
    repo = ChallengeRepository(database, clock=FakeClock(MONDAY))
    c = await _ended(repo, MONDAY + timedelta(days=1))
    assert await _purge_all(database, MONDAY.replace(year=2033)) == 1
    last = len(await repo.audit_events(c.id))
    async with database.transaction() as conn:
        # The purge event itself is never erased: erasing it is tampering.
        await conn.execute(
            text("UPDATE audit_events SET salt = NULL, summary = '' WHERE challenge_id = :c AND seq = :s"),
            {"c": c.id, "s": last},
        )
    found = (await verify(database)).breaks
    # Without the purge event's word for it, the first event's words are gone with no purge to explain it.
    assert [(b.where, b.seq, b.what) for b in found] == [(c.reference, 1, CONTENT_CHANGED)]
    assert "no purge" in found[0].how and last > 1


@pytest.mark.parametrize("database", ["sqlite"], indirect=True)
async def test_on_sqlite_the_erased_words_are_not_left_in_the_files(database: Database) -> None:
    repo = ChallengeRepository(database, clock=FakeClock(MONDAY))
    await _ended(repo, MONDAY + timedelta(days=1))
    assert await _purge_all(database, MONDAY.replace(year=2033)) == 1
    await database.forget_deleted()
    path = Path(str(database.engine.url.database))
    stored = b"".join(p.read_bytes() for p in path.parent.glob(path.name + "*"))
    assert b"Zephyrine" not in stored and CHILD.name.encode() not in stored
    with sqlite3.connect(path) as conn:
        assert conn.execute("SELECT count(*) FROM audit_events").fetchone()[0] > 0


async def test_events_are_changed_by_the_purge_only(database: Database) -> None:
    """Between purges the chronology only grows: a later action appends, it never rewrites."""
    repo = ChallengeRepository(database, clock=FakeClock(MONDAY))
    engine = engine_for("durham")
    c = (await repo.create("DUR", 2026, raising(engine))).challenge
    async with database.reading() as conn:
        before = (await conn.execute(select(audit_events).order_by(audit_events.c.id))).all()
    decision = engine.apply(c, Respond(ANSWER), holder("durham", Role.CHALLENGED_PROFESSIONAL), MONDAY)
    await repo.save(decision, c.version)
    async with database.reading() as conn:
        after = (await conn.execute(select(audit_events).order_by(audit_events.c.id))).all()
        stages = (await conn.execute(select(challenge_stages))).all()
    assert after[: len(before)] == before and len(after) == len(before) + 1
    assert stages
