"""The monitoring figures: exact arithmetic on hand-made facts, and the same figures read from SQLite and
PostgreSQL (through the engine for a few challenges, and seeded in the hundreds against a naive count)."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest

from process.calendar import WorkingCalendar
from process.challenge import ConfirmOutcome, Escalate, ProposeOutcome, Withdraw
from process.directory import Agency, Directory
from process.monitoring import (
    ChallengeFacts,
    Period,
    PeriodError,
    StageSpan,
    compute,
    months_back,
    parse_period,
    partnerships_of,
    preset_period,
)
from process.policy import Role, load_policy
from storage.challenges import ChallengeRepository
from storage.db import Database
from storage.monitoring import MonitoringStore
from tests.support.clock import FakeClock
from tests.support.directory import MONDAY, engine_for, holder, invented_directory, pid, raising
from tests.support.monitoring_seed import seed_challenges

DURHAM = load_policy("durham")
CALENDAR = WorkingCalendar("ENG")
DIRECTORY = Directory.build(
    [],
    [Agency("health", "Invented Health Trust", "durham"), Agency("school", "Invented School", "durham")],
)


def at(day: int, hour: int = 10, month: int = 11) -> datetime:
    return datetime(2026, month, day, hour, tzinfo=UTC)


def facts(
    ref: str,
    spans: list[tuple[int, datetime, datetime | None, datetime | None]],
    *,
    status: str = "open",
    agency: str = "health",
    category: str = "lack_of_report",
    policy: str = "durham",
) -> ChallengeFacts:
    stages = tuple(StageSpan(n, s, d, e, None) for n, s, d, e in spans)
    closed = stages[-1].ended_at if status != "open" else None
    return ChallengeFacts(
        ref, policy, status, stages[-1].number, stages[0].started_at, closed, agency, category, stages
    )


NOVEMBER = Period(date(2026, 11, 1), date(2026, 12, 1))
NOW = at(30, 12)


def test_open_overdue_ended_and_median_over_a_month() -> None:
    rows = [
        # Open at stage 1, due on the 3rd, so overdue now.
        facts("DUR-1", [(1, at(2), at(3, 17), None)]),
        # Escalated to 2, open, not yet due.
        facts("DUR-2", [(1, at(23), at(24, 17), at(24)), (2, at(24), at(30, 17), None)]),
        # Resolved at 2: raised Mon 2nd, resolved Fri 6th: 4 working days.
        facts("DUR-3", [(1, at(2), at(3, 17), at(3)), (2, at(3), at(6, 17), at(6))], status="resolved"),
        # Resolved at 1 in 2 working days (Mon 9th to Wed 11th), against the school.
        facts(
            "DUR-4", [(1, at(9), at(10, 17), at(11))], status="resolved", agency="school", category="other"
        ),
        # Withdrawn: counted as ended, not in the time to resolution.
        facts("DUR-5", [(1, at(16), at(17, 17), at(17))], status="withdrawn"),
        # Resolved in October: outside the period altogether.
        facts("DUR-6", [(1, at(1, month=10), None, at(2, month=10))], status="resolved"),
        # Another partnership's challenge.
        facts("ROC-1", [(1, at(2), at(3, 17), None)], policy="rochdale"),
        # Reached stage 3 and was resolved there, 8 working days (Mon 2nd to Thu 12th).
        facts(
            "DUR-7",
            [(1, at(2), None, at(3)), (2, at(3), None, at(5)), (3, at(5), at(12, 17), at(12))],
            status="resolved",
            agency="school",
        ),
    ]
    stats = compute(rows, DURHAM, CALENDAR, DIRECTORY, NOVEMBER, NOW)
    assert stats.as_of == NOW
    assert stats.open_by_stage == {1: 1, 2: 1}
    assert stats.overdue_by_stage == {1: 1}
    assert stats.raised == 6
    assert stats.ended == {"resolved": {2: 1, 1: 1, 3: 1}, "closed": {}, "withdrawn": {1: 1}}
    assert stats.median_working_days_to_resolution == 4.0  # of 4, 2 and 8
    assert stats.resolution_by_stage[1] == 2.0 and stats.resolution_by_stage[3] == 8.0
    assert [(c.key, c.count) for c in stats.by_agency] == [("health", 4), ("school", 2)]
    assert next((c.label, c.count) for c in stats.by_category) == ("Lack of report", 5)
    assert [m.reference for m in stats.serious] == ["DUR-7"]
    assert stats.serious[0].agency == "Invented School" and stats.serious[0].highest_stage == 3
    assert [(r.agency_id, r.count, r.by_month["2026-11"]) for r in stats.repeated] == [
        ("health", 4, 4),
        ("school", 2, 2),
    ]
    stage_one = stats.stage_times[0]
    assert (stage_one.stage, stage_one.count, stage_one.past_due) == (1, 5, 1)  # DUR-4 ended after its due


def test_the_weekly_series_counts_what_was_open_and_overdue_at_each_weeks_end() -> None:
    rows = [
        facts("DUR-1", [(1, at(2), at(3, 17), None)]),
        facts("DUR-2", [(1, at(10), at(11, 17), at(11)), (2, at(11), at(20, 17), at(25))], status="resolved"),
    ]
    stats = compute(rows, DURHAM, CALENDAR, DIRECTORY, NOVEMBER, NOW)
    weeks = {w.starts: (dict(w.open_by_stage), w.overdue) for w in stats.weeks}
    # Weeks start on Monday; the first is the one holding 1 November (a Sunday).
    assert next(iter(weeks)) == date(2026, 10, 26)
    assert weeks[date(2026, 10, 26)] == ({}, 0)
    assert weeks[date(2026, 11, 2)] == ({1: 1}, 1)
    assert weeks[date(2026, 11, 9)] == ({1: 1, 2: 1}, 1)
    assert weeks[date(2026, 11, 16)] == ({1: 1, 2: 1}, 2)  # DUR-2's stage 2 was due on the 20th
    assert weeks[date(2026, 11, 23)] == ({1: 1}, 1)
    assert weeks[date(2026, 11, 30)] == ({1: 1}, 1)  # the last point is now


def test_an_empty_partnership_has_zeros_and_no_medians() -> None:
    stats = compute([], DURHAM, CALENDAR, DIRECTORY, NOVEMBER, NOW)
    assert stats.open_total == 0 and stats.overdue == 0 and stats.raised == 0
    assert stats.median_working_days_to_resolution is None
    assert stats.by_agency == () and stats.serious == () and stats.repeated == ()
    assert all(w.overdue == 0 and not w.open_by_stage for w in stats.weeks)
    assert stats.as_json()["open"] == {"total": 0, "byStage": {str(n): 0 for n in range(1, 6)}}


def test_periods_people_choose() -> None:
    today = date(2026, 11, 30)
    assert preset_period("12m", today) == Period(date(2025, 12, 1), date(2026, 12, 1))
    assert preset_period("fy", today) == Period(date(2026, 4, 1), date(2026, 12, 1))
    assert preset_period("last_fy", date(2026, 2, 3)) == Period(date(2024, 4, 1), date(2025, 4, 1))
    assert months_back(date(2026, 3, 31), 1) == date(2026, 2, 28)
    assert parse_period(None, "2026-04-01", "2026-04-30", today) == Period(date(2026, 4, 1), date(2026, 5, 1))
    assert parse_period("", "", "", today) == preset_period("12m", today)
    for bad in [
        ("x", None, None),
        (None, "2026-13-01", None),
        (None, "2026-05-01", "2026-04-01"),
        (None, "", "2026-04-01"),
        (None, "0001-01-01", None),
        (None, "2000-01-01", "2026-01-01"),
        (None, "🙂", None),
        (None, "2026-04-01\ud800", None),
    ]:
        with pytest.raises(PeriodError):
            parse_period(*bad, today)


def test_only_post_holders_see_a_partnerships_figures() -> None:
    directory = invented_directory()
    manager = holder("durham", Role.BUSINESS_MANAGER)
    assert partnerships_of(directory, manager, ["durham", "rochdale"]) == ("durham",)
    assert partnerships_of(directory, pid("durham", "raiser"), ["durham", "rochdale"]) == ()
    assert partnerships_of(directory, None, ["durham"]) == ()
    assert partnerships_of(directory, manager, ["rochdale"]) == ()


async def test_figures_from_challenges_stored_through_the_engine(database: Database) -> None:
    clock = FakeClock(MONDAY)
    repo = ChallengeRepository(database, clock=clock)
    engine = engine_for("durham")
    raiser = holder("durham", Role.RAISER)
    manager = holder("durham", Role.CHALLENGED_LINE_MANAGER)
    resolved = (await repo.create("DUR", 2026, raising(engine))).challenge
    for action, who, hours in [
        (Escalate("No answer."), raiser, 1),
        (ProposeOutcome("Report by Thursday."), manager, 2),
        (ConfirmOutcome(), raiser, 3),
    ]:
        current = await repo.get(resolved.id)
        assert current is not None
        await repo.save(engine.apply(current, action, who, MONDAY + timedelta(hours=hours)), current.version)
    withdrawn = (await repo.create("DUR", 2026, raising(engine))).challenge
    await repo.save(engine.apply(withdrawn, Withdraw("Sorted."), raiser, MONDAY + timedelta(hours=1)), 1)
    still_open = (await repo.create("DUR", 2026, raising(engine))).challenge

    period = Period(date(2026, 11, 1), date(2026, 12, 1))
    read = await MonitoringStore(database).facts(["durham"], period.start, period.end)
    assert sorted(f.reference for f in read) == sorted(c.reference for c in (resolved, withdrawn, still_open))
    # No child data and no free text among the facts read.
    text = repr(read)
    assert "Robin" not in text and "EX-000123" not in text and "health assessment" not in text
    now = MONDAY + timedelta(days=3)
    stats = compute(read, DURHAM, CALENDAR, invented_directory(), period, now)
    assert stats.raised == 3
    assert stats.open_by_stage == {1: 1} and stats.overdue_by_stage == {1: 1}  # stage 1 is due in 1 day
    assert stats.ended["resolved"] == {2: 1} and stats.ended["withdrawn"] == {1: 1}
    assert stats.median_working_days_to_resolution == 0.0  # resolved the day it was raised
    assert [(c.label, c.count) for c in stats.by_agency] == [("Invented Health Trust", 3)]
    assert stats.serious == ()
    assert await MonitoringStore(database).facts([], period.start, period.end) == []


async def test_hundreds_of_seeded_challenges_agree_with_a_naive_count(database: Database) -> None:
    now = datetime(2026, 11, 30, 12, tzinfo=UTC)
    await seed_challenges(
        database,
        DURHAM,
        CALENDAR,
        count=300,
        agencies=["health", "school"],
        raiser_agency="la",
        first=now - timedelta(days=500),
        now=now,
    )
    period = preset_period("12m", date(2026, 11, 30))
    read = await MonitoringStore(database).facts(["durham"], period.start, period.end)
    stats = compute(read, DURHAM, CALENDAR, DIRECTORY, period, now)
    assert 150 < len(read) < 300  # some ended before the period began
    # Naively: each week's end, which challenges were open and at which stage.
    for week in stats.weeks:
        sample = min(Period(week.starts, week.starts + timedelta(days=7)).end, now)
        spans = [s for f in read if (s := f.span_at(sample)) is not None]
        expected: dict[int, int] = {}
        for s in spans:
            expected[s.number] = expected.get(s.number, 0) + 1
        assert dict(week.open_by_stage) == expected
        assert week.overdue == sum(1 for s in spans if s.due_at is not None and s.due_at < sample)
    assert stats.open_total == sum(stats.weeks[-1].open_by_stage.values())
    assert stats.raised == sum(c.count for c in stats.by_agency) == sum(c.count for c in stats.by_category)
    assert stats.raised == sum(1 for f in read if f.raised_at >= period.start)
    assert sum(r.count for r in stats.repeated) == stats.raised  # two agencies, each challenged many times
    assert all(m.highest_stage >= 3 for m in stats.serious) and stats.serious
