"""The challenge repository: exact round trips, gap-free references, and lookups, on SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio
from dataclasses import replace
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import func, select

from process.challenge import (
    SYSTEM,
    ChildDetails,
    ConfirmOutcome,
    ConfirmTimescale,
    DeadlinePassed,
    Decision,
    Escalate,
    HandOver,
    ProposeOutcome,
    ProposeTimescale,
    RecordMeeting,
    Refused,
    Remind,
    Respond,
    Status,
    Withdraw,
)
from process.engine import Engine
from process.policy import Role
from storage.challenges import ChallengeRepository, format_reference
from storage.db import Database
from storage.outbox import DeliveryStatus, Outbox
from storage.schema import (
    audit_events,
    challenge_parties,
    challenge_stages,
    challenges,
    child_details,
    outbox,
)
from tests.support.directory import MONDAY, engine_for, holder, pid, raising


async def _count(db: Database, table: object) -> int:
    async with db.reading() as conn:
        return int((await conn.execute(select(func.count()).select_from(table))).scalar_one())  # type: ignore[arg-type]


async def _apply(
    repo: ChallengeRepository, engine: Engine, challenge_id: str, action: object, actor: str, now: datetime
) -> Decision:
    """Apply an action as the bot does (read, decide, save with the version read); check the round trip."""
    before = await repo.get(challenge_id)
    assert before is not None
    decision = engine.apply(before, action, actor, now)  # type: ignore[arg-type]
    await repo.save(decision, before.version)
    assert await repo.get(challenge_id) == decision.challenge
    return decision


async def test_rochdale_urgent_challenge_round_trips_every_field_through_each_stage(
    repo: ChallengeRepository,
) -> None:
    engine = engine_for("rochdale")
    created = await repo.create(
        "RBS",
        2026,
        raising(
            engine,
            urgent=True,
            start_stage=3,
            informal_evidence="Practitioners met on 2 November; the plan was not agreed.",
        ),
    )
    c = created.challenge
    assert await repo.get(c.id) == c
    senior = holder("rochdale", Role.CHALLENGED_SENIOR_MANAGER)
    raiser_senior = holder("rochdale", Role.RAISER_SENIOR_MANAGER)
    now = MONDAY + timedelta(hours=2)
    await _apply(repo, engine, c.id, ProposeTimescale(8, "Both agencies need a week."), senior, now)
    proposed = await repo.get(c.id)
    assert proposed is not None and proposed.timescale_proposal is not None
    await _apply(repo, engine, c.id, ConfirmTimescale(), raiser_senior, now)
    await _apply(repo, engine, c.id, Respond("We will review the plan with the family."), senior, now)
    await _apply(
        repo,
        engine,
        c.id,
        RecordMeeting(
            held_on=date(2026, 11, 23),
            attendees="Both senior managers; Head of Safeguarding",
            key_points="The plan's actions were unclear.",
            actions_agreed="Rewrite the plan.",
            timescales="Within five working days.",
        ),
        senior,
        now,
    )
    escalated = await _apply(
        repo,
        engine,
        c.id,
        Escalate(
            "The plan was not rewritten.",
            {"stage_3_steps": "Multi-agency discussion held.", "unresolved_elements": "The plan itself."},
        ),
        raiser_senior,
        now + timedelta(days=1),
    )
    final = await _apply(
        repo,
        engine,
        c.id,
        ProposeOutcome("The plan is rewritten by Friday."),
        raiser_senior,
        now + timedelta(days=2),
    )
    stored = await repo.get(c.id)
    assert stored == final.challenge
    assert stored is not None
    # Every optional part is present, so the equality above covered it.
    assert stored.proposal is not None and stored.meetings and stored.entries and stored.fields
    assert stored.informal_evidence and stored.urgent and stored.awaiting is not None
    assert len(stored.stages) == 2 and stored.stages[0].ended_at is not None and stored.stages[0].reason
    assert stored.stages[0].timescale_working_days == 8
    assert escalated.challenge.stage == 4 == stored.stage
    assert (
        stored.version == 7
    )  # created, proposed and confirmed a timescale, responded, met, escalated, proposed
    assert all(
        t.tzinfo is not None for t in (stored.raised_at, stored.stages[-1].started_at, stored.proposal.at)
    )


async def test_durham_challenge_round_trips_a_resolution_and_an_outside_professional(
    repo: ChallengeRepository,
) -> None:
    engine = engine_for("durham")
    created = await repo.create(
        "DUR",
        2026,
        raising(
            engine,
            child=ChildDetails(name="Robin Inventedchild"),
            challenged_person_id=None,
            challenged_name="Pat Outsideagency",
            challenged_email="pat.outside@elsewhere.example",
        ),
    )
    c = created.challenge
    assert await repo.get(c.id) == c
    assert c.child.date_of_birth is None and c.parties[Role.CHALLENGED_PROFESSIONAL].person_id is None
    raiser = holder("durham", Role.RAISER)
    # The outside professional is not in the directory, so the line manager's side confirms at stage 2.
    escalated = await _apply(repo, engine, c.id, Escalate("No answer."), raiser, MONDAY + timedelta(hours=1))
    manager = holder("durham", Role.CHALLENGED_LINE_MANAGER)
    await _apply(
        repo, engine, c.id, ProposeOutcome("Report by Thursday."), manager, MONDAY + timedelta(hours=2)
    )
    resolved = await _apply(repo, engine, c.id, ConfirmOutcome(), raiser, MONDAY + timedelta(hours=3))
    stored = await repo.get(c.id)
    assert stored == resolved.challenge
    assert stored is not None and stored.status is Status.RESOLVED
    assert stored.agreed_outcome == "Report by Thursday." and stored.closed_at is not None
    assert stored.next_due_at is None and stored.awaiting is None and stored.proposal is None
    assert escalated.challenge.stage == 2


async def test_clock_actions_round_trip_reminded_and_breached_stages(repo: ChallengeRepository) -> None:
    engine = engine_for("durham")
    c = (await repo.create("DUR", 2026, raising(engine))).challenge
    assert c.next_due_at is not None
    reminded = await _apply(repo, engine, c.id, Remind(), SYSTEM, c.next_due_at)
    assert reminded.challenge.current.reminded
    due = reminded.challenge.current.due_at
    assert due is not None
    breached = await _apply(repo, engine, c.id, DeadlinePassed(), SYSTEM, due)
    stored = await repo.get(c.id)
    assert stored == breached.challenge
    assert (
        stored is not None and stored.stages[0].breached and stored.stage == 1 and stored.next_due_at is None
    )


async def test_instants_come_back_as_the_same_instant_in_utc(repo: ChallengeRepository) -> None:
    london = ZoneInfo("Europe/London")
    summer = datetime(2026, 7, 1, 9, 30, 15, 123456, tzinfo=london)
    engine = engine_for("durham")
    c = (await repo.create("DUR", 2026, raising(engine, now=summer))).challenge
    stored = await repo.get(c.id)
    assert stored is not None
    assert stored.raised_at == summer and stored.raised_at.utcoffset() == timedelta(0)
    assert stored.raised_at.hour == 8 and stored.raised_at.microsecond == 123456


async def test_hand_over_round_trips_the_new_party(repo: ChallengeRepository) -> None:
    engine = engine_for("durham")
    c = (await repo.create("DUR", 2026, raising(engine))).challenge
    raiser = holder("durham", Role.RAISER)
    decision = await _apply(
        repo, engine, c.id, HandOver(Role.RAISER, pid("durham", "raiser_colleague"), "Leave"), raiser, MONDAY
    )
    assert decision.challenge.parties[Role.RAISER].person_id == pid("durham", "raiser_colleague")
    assert [x.id for x in await repo.list_for_person(raiser)] == []
    assert [x.id for x in await repo.list_for_person(pid("durham", "raiser_colleague"))] == [c.id]


async def test_references_count_up_per_prefix_and_year(repo: ChallengeRepository) -> None:
    durham, rochdale = engine_for("durham"), engine_for("rochdale")
    made = [
        (await repo.create("DUR", 2026, raising(durham))).challenge.reference,
        (await repo.create("DUR", 2026, raising(durham))).challenge.reference,
        (await repo.create("RBS", 2026, raising(rochdale))).challenge.reference,
        (await repo.create("DUR", 2027, raising(durham))).challenge.reference,
        (await repo.create("DUR", 2026, raising(durham))).challenge.reference,
    ]
    assert made == ["DUR-2026-0001", "DUR-2026-0002", "RBS-2026-0001", "DUR-2027-0001", "DUR-2026-0003"]
    assert format_reference("DUR", 2026, 12345) == "DUR-2026-12345"


async def test_refused_challenge_writes_nothing_and_uses_no_reference(
    repo: ChallengeRepository, database: Database
) -> None:
    engine = engine_for("durham")
    first = await repo.create("DUR", 2026, raising(engine))
    with pytest.raises(Refused, match="issues on the form"):
        await repo.create("DUR", 2026, raising(engine, issue_category="not_a_category"))
    # Durham challenges are raised by the IRO; the professional's line manager is refused.
    with pytest.raises(Refused):
        await repo.create("DUR", 2026, raising(engine, by="professional_manager"))
    assert await _count(database, challenges) == 1 and await _count(database, child_details) == 1
    assert await _count(database, challenge_parties) == len(first.challenge.parties)
    assert await _count(database, challenge_stages) == 1
    assert await _count(database, audit_events) == len(first.events)
    assert await _count(database, outbox) == len(first.notifications)
    assert (await repo.create("DUR", 2026, raising(engine))).challenge.reference == "DUR-2026-0002"


async def test_concurrent_creates_get_distinct_gap_free_references(repo: ChallengeRepository) -> None:
    engine = engine_for("durham")
    good = [raising(engine) for _ in range(9)]
    bad = [raising(engine, concern="   ") for _ in range(3)]
    results = await asyncio.gather(
        *(
            repo.create("DUR", 2026, build)
            for build in [*good[:3], bad[0], *good[3:6], bad[1], bad[2], *good[6:]]
        ),
        return_exceptions=True,
    )
    refused = [r for r in results if isinstance(r, Refused)]
    references = sorted(r.challenge.reference for r in results if isinstance(r, Decision))
    assert len(refused) == 3
    assert references == [f"DUR-2026-{n:04d}" for n in range(1, 10)]


async def test_get_by_reference_ignores_letter_case_and_spaces(repo: ChallengeRepository) -> None:
    engine = engine_for("durham")
    c = (await repo.create("DUR", 2026, raising(engine))).challenge
    assert await repo.get_by_reference("  dur-2026-0001 ") == c
    assert await repo.get_by_reference("DUR-2026-0002") is None
    assert await repo.get("no-such-id") is None


async def test_list_for_person_finds_every_party_newest_first_and_open_only_by_default(
    repo: ChallengeRepository,
) -> None:
    engine = engine_for("durham")
    older = (await repo.create("DUR", 2026, raising(engine, now=MONDAY))).challenge
    newer = (await repo.create("DUR", 2026, raising(engine, now=MONDAY + timedelta(hours=1)))).challenge
    other = (await repo.create("RBS", 2026, raising(engine_for("rochdale")))).challenge
    raiser = holder("durham", Role.RAISER)
    await _apply(
        repo, engine, older.id, Withdraw("Resolved informally."), raiser, MONDAY + timedelta(hours=2)
    )
    business_manager = holder("durham", Role.BUSINESS_MANAGER)
    assert [c.id for c in await repo.list_for_person(business_manager)] == [newer.id]
    assert [c.id for c in await repo.list_for_person(business_manager, open_only=False)] == [
        newer.id,
        older.id,
    ]
    assert [c.id for c in await repo.list_for_person(business_manager, open_only=False, limit=1)] == [
        newer.id
    ]
    assert [c.id for c in await repo.list_for_person(holder("rochdale", Role.RAISER))] == [other.id]
    assert await repo.list_for_person("nobody") == []


async def test_audit_events_come_back_in_order(repo: ChallengeRepository) -> None:
    engine = engine_for("durham")
    created = await repo.create("DUR", 2026, raising(engine))
    c = created.challenge
    responded = await _apply(
        repo,
        engine,
        c.id,
        Respond("Report attached."),
        holder("durham", Role.CHALLENGED_PROFESSIONAL),
        MONDAY,
    )
    escalated = await _apply(
        repo,
        engine,
        c.id,
        Escalate("Report incomplete."),
        holder("durham", Role.RAISER),
        MONDAY + timedelta(hours=1),
    )
    expected = [*created.events, *responded.events, *escalated.events]
    assert await repo.audit_events(c.id) == expected
    assert [e.kind for e in expected] == ["raised", "responded", "escalated"]
    assert await repo.audit_events("no-such-id") == []


async def test_create_queues_the_decisions_notifications(repo: ChallengeRepository, outbox: Outbox) -> None:
    engine = engine_for("durham")
    created = await repo.create("DUR", 2026, raising(engine))
    items = await outbox.for_challenge(created.challenge.id)
    assert [item.notification for item in items] == list(created.notifications)
    assert {item.status for item in items} == {DeliveryStatus.PENDING}
    assert all(item.created_at == MONDAY and item.attempts == 0 for item in items)


async def test_save_refuses_a_decision_that_does_not_advance_the_version(repo: ChallengeRepository) -> None:
    engine = engine_for("durham")
    created = await repo.create("DUR", 2026, raising(engine))
    with pytest.raises(ValueError, match="version"):
        await repo.save(created, created.challenge.version)


async def test_naive_datetimes_are_refused(repo: ChallengeRepository) -> None:
    engine = engine_for("durham")
    created = await repo.create("DUR", 2026, raising(engine))
    c = created.challenge
    naive = replace(c, version=2, closed_at=datetime(2026, 11, 23, 12, 0))
    with pytest.raises(Exception, match="aware"):
        await repo.save(Decision(naive, (), ()), 1)
    assert await repo.get(c.id) == c
