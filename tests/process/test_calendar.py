"""The working-day calendar: checked against numpy's business-day functions, by properties, and by dates
read off the real UK bank holiday calendars."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from functools import cache
from zoneinfo import ZoneInfo

import holidays
import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from process.calendar import CLOSURE_NAME, NATIONS, ClosureRule, WorkingCalendar, parse_closure

LONDON = ZoneInfo("Europe/London")
FIRST_YEAR, LAST_YEAR = 2000, 2040
# Random periods run up to about two years past LAST_YEAR; the oracle's holidays must cover them all.
ORACLE_YEARS = range(FIRST_YEAR - 1, LAST_YEAR + 4)


def christmas_closures(first_year: int, last_year: int) -> list[date]:
    """A partnership that shuts from 24 December to 1 January inclusive every year."""
    days: list[date] = []
    for year in range(first_year, last_year + 1):
        start = date(year, 12, 24)
        days.extend(start + timedelta(days=offset) for offset in range(9))
    return days


CLOSURES = [*christmas_closures(ORACLE_YEARS[0], ORACLE_YEARS[-1]), date(2031, 6, 13)]


def numpy_calendar(nation: str, closures: list[date]) -> np.busdaycalendar:
    """The same working days as numpy sees them, built straight from the holidays package."""
    bank = holidays.country_holidays("GB", subdiv=nation, years=ORACLE_YEARS)
    off = sorted({*bank.keys(), *closures})
    return np.busdaycalendar(weekmask="1111100", holidays=np.array(off, dtype="datetime64[D]"))


def random_dates(rng: np.random.Generator, count: int) -> np.ndarray:
    first = np.datetime64(date(FIRST_YEAR, 1, 1), "D")
    span = (date(LAST_YEAR, 12, 31) - date(FIRST_YEAR, 1, 1)).days
    return first + rng.integers(0, span + 1, size=count)


def as_date(day: np.datetime64) -> date:
    return date.fromisoformat(str(day))


ORACLE_CASES = [
    pytest.param(nation, closures, id=f"{nation}-{label}")
    for nation in NATIONS
    for label, closures in (("no-closures", []), ("christmas-closure", CLOSURES))
]


@pytest.mark.parametrize(("nation", "closures"), ORACLE_CASES)
def test_add_working_days_agrees_with_numpy_busday_offset(nation: str, closures: list[date]) -> None:
    calendar = WorkingCalendar(nation, closures=closures)
    oracle = numpy_calendar(nation, closures)
    rng = np.random.default_rng(sum(map(ord, nation)) + len(closures))
    starts = random_dates(rng, 3000)
    limits = rng.integers(0, 31, size=starts.size)
    # numpy rolls a non-working start first, then offsets. Rolling backward to the last working day on or
    # before the start and moving n from there is "the n-th working day strictly after"; n == 0 rolls forward.
    after = np.busday_offset(starts, limits, roll="backward", busdaycal=oracle)
    on_or_after = np.busday_offset(starts, 0, roll="forward", busdaycal=oracle)
    expected = np.where(limits == 0, on_or_after, after)

    mismatches = [
        (as_date(start), int(limit), as_date(want), got)
        for start, limit, want in zip(starts, limits, expected, strict=True)
        if (got := calendar.add_working_days(as_date(start), int(limit))) != as_date(want)
    ]

    assert mismatches == []


@pytest.mark.parametrize(("nation", "closures"), ORACLE_CASES)
def test_working_days_between_agrees_with_numpy_busday_count(nation: str, closures: list[date]) -> None:
    calendar = WorkingCalendar(nation, closures=closures)
    oracle = numpy_calendar(nation, closures)
    rng = np.random.default_rng(7 * sum(map(ord, nation)) + len(closures))
    starts = random_dates(rng, 3000)
    ends = starts + rng.integers(-40, 700, size=starts.size)
    one = np.timedelta64(1, "D")
    # numpy counts a <= w < b; the calendar counts a < w <= b, and never goes below zero.
    expected = np.maximum(np.busday_count(starts + one, ends + one, busdaycal=oracle), 0)

    mismatches = [
        (as_date(a), as_date(b), int(want), got)
        for a, b, want in zip(starts, ends, expected, strict=True)
        if (got := calendar.working_days_between(as_date(a), as_date(b))) != int(want)
    ]

    assert mismatches == []


@pytest.mark.parametrize(("nation", "closures"), ORACLE_CASES)
def test_is_working_day_agrees_with_numpy_is_busday_for_every_day(nation: str, closures: list[date]) -> None:
    calendar = WorkingCalendar(nation, closures=closures)
    oracle = numpy_calendar(nation, closures)
    days = np.arange(np.datetime64("2000-01-01"), np.datetime64("2041-01-01"))
    expected = np.is_busday(days, busdaycal=oracle)

    got = np.array([calendar.is_working_day(as_date(day)) for day in days])

    assert np.array_equal(got, expected)


CALENDARS = {nation: WorkingCalendar(nation) for nation in NATIONS}
CLOSING_CALENDARS = {nation: WorkingCalendar(nation, closures=CLOSURES) for nation in NATIONS}
YEARLY_CALENDARS = [
    WorkingCalendar(nation, closures=[parse_closure(entry) for entry in ("12-24..01-01", "02-29", "08-03")])
    for nation in NATIONS
]
any_calendar = st.sampled_from([*CALENDARS.values(), *CLOSING_CALENDARS.values(), *YEARLY_CALENDARS])
days = st.dates(min_value=date(1995, 1, 1), max_value=date(2060, 12, 31))
limits = st.integers(min_value=0, max_value=30)


@cache
def _bank_holidays_of(nation: str, year: int) -> frozenset[date]:
    return frozenset(d for d in holidays.country_holidays("GB", subdiv=nation, years=year) if d.year == year)


def _works_on(calendar: WorkingCalendar, day: date) -> bool:
    """Whether `day` is a working day, read off the holidays package and the closures, one day at a time."""
    closed = {d for rule in calendar.yearly_closures for d in rule.days_in(day.year)}
    return (
        day.weekday() < 5
        and day not in _bank_holidays_of(calendar.nation, day.year)
        and day not in calendar.closures
        and day not in closed
    )


@given(any_calendar, days, st.integers(min_value=0, max_value=70))
def test_add_working_days_agrees_with_counting_day_by_day(
    calendar: WorkingCalendar, start: date, n: int
) -> None:
    day = start
    if n == 0:
        while not _works_on(calendar, day):
            day += timedelta(days=1)
    left = n
    while left:
        day += timedelta(days=1)
        left -= _works_on(calendar, day)

    assert calendar.add_working_days(start, n) == day


@given(any_calendar, days, st.integers(min_value=1, max_value=30))
def test_nth_working_day_is_a_working_day_exactly_n_working_days_after(
    calendar: WorkingCalendar, start: date, n: int
) -> None:
    due = calendar.add_working_days(start, n)

    assert calendar.is_working_day(due)
    assert due > start
    assert calendar.working_days_between(start, due) == n
    assert calendar.working_days_between(start, due - timedelta(days=1)) == n - 1


@given(any_calendar, days)
def test_zero_working_days_is_the_day_itself_or_the_next_working_day(
    calendar: WorkingCalendar, start: date
) -> None:
    due = calendar.add_working_days(start, 0)

    assert calendar.is_working_day(due)
    assert due >= start
    assert (due == start) == calendar.is_working_day(start)
    assert calendar.working_days_between(start - timedelta(days=1), due - timedelta(days=1)) == 0


@given(any_calendar, days, days, days)
def test_working_days_between_adds_up_over_consecutive_periods(
    calendar: WorkingCalendar, first: date, second: date, third: date
) -> None:
    a, b, c = sorted((first, second, third))

    assert calendar.working_days_between(a, b) + calendar.working_days_between(b, c) == (
        calendar.working_days_between(a, c)
    )


@given(any_calendar, days, days)
def test_working_days_between_is_zero_when_the_end_is_not_after_the_start(
    calendar: WorkingCalendar, first: date, second: date
) -> None:
    a, b = sorted((first, second))

    assert calendar.working_days_between(b, a) == 0


@given(any_calendar, days, days, limits, limits)
def test_later_starts_and_longer_limits_are_never_due_earlier(
    calendar: WorkingCalendar, first: date, second: date, n: int, m: int
) -> None:
    a, b = sorted((first, second))
    shorter, longer = sorted((n, m))

    assert calendar.add_working_days(a, n) <= calendar.add_working_days(b, n)
    assert calendar.add_working_days(a, shorter) <= calendar.add_working_days(a, longer)
    if 1 <= shorter < longer:
        # n = 0 from a day off is the next working day, the same day as n = 1: only n >= 1 is strict.
        assert calendar.add_working_days(a, shorter) < calendar.add_working_days(a, longer)


@given(any_calendar, st.datetimes(min_value=datetime(1995, 1, 1), max_value=datetime(2060, 1, 1)), limits)
def test_due_at_is_the_due_time_in_london_on_the_nth_working_day_after_the_local_start_date(
    calendar: WorkingCalendar, naive_utc: datetime, n: int
) -> None:
    started = naive_utc.replace(tzinfo=UTC)

    due = calendar.due_at(started, n)

    assert due.utcoffset() == timedelta(0)
    local_due = due.astimezone(LONDON)
    assert local_due.time() == time(17, 0)
    assert local_due.date() == calendar.add_working_days(started.astimezone(LONDON).date(), n)


def test_working_days_are_weekdays_only() -> None:
    calendar = CALENDARS["ENG"]

    assert calendar.is_working_day(date(2026, 6, 5))  # a Friday
    assert not calendar.is_working_day(date(2026, 6, 6))  # Saturday
    assert not calendar.is_working_day(date(2026, 6, 7))  # Sunday
    assert calendar.is_working_day(date(2026, 6, 8))  # Monday


def test_england_does_not_work_good_friday_or_easter_monday() -> None:
    calendar = CALENDARS["ENG"]

    assert not calendar.is_working_day(date(2025, 4, 18))
    assert not calendar.is_working_day(date(2025, 4, 21))
    assert calendar.add_working_days(date(2025, 4, 17), 1) == date(2025, 4, 22)


def test_wales_has_the_same_working_days_as_england() -> None:
    day, last = date(1995, 1, 1), date(2060, 12, 31)
    while day <= last:
        assert CALENDARS["WLS"].is_working_day(day) == CALENDARS["ENG"].is_working_day(day), day
        day += timedelta(days=1)


def test_scotland_has_the_second_of_january_but_works_easter_monday() -> None:
    scotland, england = CALENDARS["SCT"], CALENDARS["ENG"]

    assert not scotland.is_working_day(date(2026, 1, 2))
    assert england.is_working_day(date(2026, 1, 2))
    assert not scotland.is_working_day(date(2026, 4, 3))  # Good Friday
    assert scotland.is_working_day(date(2026, 4, 6))  # Easter Monday
    assert not england.is_working_day(date(2026, 4, 6))


def test_scotland_moves_st_andrews_day_to_the_monday_when_it_falls_at_a_weekend() -> None:
    scotland, england = CALENDARS["SCT"], CALENDARS["ENG"]

    assert not scotland.is_working_day(date(2027, 11, 30))  # a Tuesday
    assert not scotland.is_working_day(date(2025, 12, 1))  # 30 Nov 2025 was a Sunday
    assert not scotland.is_working_day(date(2024, 12, 2))  # 30 Nov 2024 was a Saturday
    assert england.is_working_day(date(2025, 12, 1))
    assert england.is_working_day(date(2027, 11, 30))


def test_northern_ireland_has_st_patricks_day_and_the_twelfth() -> None:
    northern_ireland, england = CALENDARS["NIR"], CALENDARS["ENG"]

    assert not northern_ireland.is_working_day(date(2026, 3, 17))  # a Tuesday
    assert not northern_ireland.is_working_day(date(2027, 7, 12))  # a Monday
    assert not northern_ireland.is_working_day(date(2026, 7, 13))  # 12 Jul 2026 was a Sunday
    assert england.is_working_day(date(2026, 3, 17))
    assert england.is_working_day(date(2027, 7, 12))


@pytest.mark.parametrize("nation", NATIONS)
def test_the_queens_state_funeral_and_the_coronation_were_not_working_days(nation: str) -> None:
    calendar = CALENDARS[nation]

    assert not calendar.is_working_day(date(2022, 9, 19))
    assert not calendar.is_working_day(date(2023, 5, 8))
    assert calendar.add_working_days(date(2022, 9, 16), 1) == date(2022, 9, 20)


def test_closure_days_do_not_count() -> None:
    calendar = WorkingCalendar("ENG", closures=[date(2026, 6, 8)])

    assert not calendar.is_working_day(date(2026, 6, 8))
    assert calendar.add_working_days(date(2026, 6, 5), 1) == date(2026, 6, 9)
    assert calendar.working_days_between(date(2026, 6, 5), date(2026, 6, 12)) == 4


def test_add_working_days_counts_from_a_weekend_or_holiday_start_to_the_next_working_days() -> None:
    calendar = CALENDARS["ENG"]

    assert calendar.add_working_days(date(2026, 6, 6), 1) == date(2026, 6, 8)  # Saturday
    assert calendar.add_working_days(date(2026, 6, 6), 0) == date(2026, 6, 8)
    assert calendar.add_working_days(date(2026, 6, 5), 0) == date(2026, 6, 5)
    assert calendar.add_working_days(date(2026, 4, 3), 1) == date(2026, 4, 7)  # Good Friday


def test_add_working_days_crosses_several_years() -> None:
    calendar = CALENDARS["ENG"]

    assert calendar.add_working_days(date(2026, 12, 31), 1) == date(2027, 1, 4)
    far = calendar.add_working_days(date(2026, 1, 1), 600)
    assert calendar.working_days_between(date(2026, 1, 1), far) == 600
    assert far.year == 2028


def test_a_negative_limit_is_refused() -> None:
    with pytest.raises(ValueError, match="negative"):
        CALENDARS["ENG"].add_working_days(date(2026, 6, 5), -1)


def test_counting_past_the_last_supported_year_is_refused() -> None:
    with pytest.raises(OverflowError, match="9999"):
        CALENDARS["ENG"].add_working_days(date(9999, 12, 20), 30)


def test_an_unknown_nation_is_refused_naming_the_allowed_ones() -> None:
    with pytest.raises(ValueError, match="ENG, WLS, SCT, NIR"):
        WorkingCalendar("GB")


def test_an_unknown_timezone_is_refused() -> None:
    with pytest.raises(ValueError, match="timezone"):
        WorkingCalendar(timezone="Europe/Atlantis")


def test_a_due_time_with_its_own_timezone_is_refused() -> None:
    with pytest.raises(ValueError, match="due_time"):
        WorkingCalendar(due_time=time(17, 0, tzinfo=UTC))


def test_a_closure_given_as_a_datetime_is_refused() -> None:
    with pytest.raises(ValueError, match="not a date"):
        WorkingCalendar(closures=[datetime(2026, 12, 24, tzinfo=UTC)])


def test_a_naive_start_is_refused() -> None:
    with pytest.raises(ValueError, match="no timezone"):
        CALENDARS["ENG"].due_at(datetime(2026, 6, 5, 9, 0), 1)


def test_due_at_across_the_march_clock_change_is_five_pm_british_summer_time() -> None:
    calendar = CALENDARS["ENG"]

    # Clocks went forward on Sunday 29 March 2026.
    assert calendar.due_at(datetime(2026, 3, 27, 10, 0, tzinfo=LONDON), 1) == datetime(
        2026, 3, 30, 16, 0, tzinfo=UTC
    )
    assert calendar.due_at(datetime(2026, 3, 25, 10, 0, tzinfo=UTC), 5) == datetime(
        2026, 4, 1, 16, 0, tzinfo=UTC
    )


def test_due_at_across_the_october_clock_change_is_five_pm_greenwich_mean_time() -> None:
    calendar = CALENDARS["ENG"]

    # Clocks went back on Sunday 25 October 2026.
    assert calendar.due_at(datetime(2026, 10, 23, 10, 0, tzinfo=LONDON), 1) == datetime(
        2026, 10, 26, 17, 0, tzinfo=UTC
    )
    assert calendar.due_at(datetime(2026, 10, 21, 9, 0, tzinfo=UTC), 5) == datetime(
        2026, 10, 28, 17, 0, tzinfo=UTC
    )


def test_due_at_returns_an_aware_utc_instant() -> None:
    due = CALENDARS["ENG"].due_at(datetime(2026, 6, 5, 9, 0, tzinfo=UTC), 1)

    assert due.tzinfo is UTC


def test_a_stage_started_on_friday_evening_with_one_working_day_is_due_monday_at_five() -> None:
    due = CALENDARS["ENG"].due_at(datetime(2026, 6, 5, 19, 45, tzinfo=LONDON), 1)

    assert due == datetime(2026, 6, 8, 16, 0, tzinfo=UTC)
    assert due.astimezone(LONDON) == datetime(2026, 6, 8, 17, 0, tzinfo=LONDON)


def test_the_start_date_is_the_london_date_not_the_utc_date() -> None:
    calendar = CALENDARS["ENG"]
    # 23:30 UTC on Thursday 4 June 2026 is 00:30 on Friday in London.
    thursday_night_utc = datetime(2026, 6, 4, 23, 30, tzinfo=UTC)
    # 20:00 in New York on that Thursday is 01:00 on Friday in London.
    thursday_evening_new_york = datetime(2026, 6, 4, 20, 0, tzinfo=ZoneInfo("America/New_York"))

    assert calendar.local_date(thursday_night_utc) == date(2026, 6, 5)
    assert calendar.due_at(thursday_night_utc, 1) == datetime(2026, 6, 8, 16, 0, tzinfo=UTC)
    assert calendar.due_at(thursday_evening_new_york, 1) == datetime(2026, 6, 8, 16, 0, tzinfo=UTC)


def test_a_stage_started_on_christmas_eve_2026_with_three_working_days_is_due_on_new_years_eve() -> None:
    # Thu 24 Dec; Fri 25 Christmas Day; Mon 28 Boxing Day (substitute); Tue 29, Wed 30, Thu 31 count.
    started = datetime(2026, 12, 24, 11, 0, tzinfo=LONDON)

    assert CALENDARS["ENG"].due_at(started, 3) == datetime(2026, 12, 31, 17, 0, tzinfo=UTC)


def test_a_christmas_closure_pushes_the_christmas_eve_deadline_into_january() -> None:
    calendar = WorkingCalendar("ENG", closures=christmas_closures(2026, 2026))
    started = datetime(2026, 12, 24, 11, 0, tzinfo=LONDON)

    # Closed 24 Dec to Fri 1 Jan; Mon 4, Tue 5, Wed 6 Jan count.
    assert calendar.due_at(started, 3) == datetime(2027, 1, 6, 17, 0, tzinfo=UTC)


def test_scotland_loses_the_fourth_of_january_2027_to_the_new_year_holiday() -> None:
    # 2 Jan 2027 is a Saturday, so Scotland's New Year Holiday moves to Monday 4 January.
    started = date(2026, 12, 24)

    assert CALENDARS["ENG"].add_working_days(started, 4) == date(2027, 1, 4)
    assert CALENDARS["SCT"].add_working_days(started, 4) == date(2027, 1, 5)


def test_due_time_and_timezone_are_configurable() -> None:
    calendar = WorkingCalendar("ENG", due_time=time(12, 30), timezone="UTC")

    assert calendar.due_at(datetime(2026, 6, 4, 23, 30, tzinfo=UTC), 1) == datetime(
        2026, 6, 5, 12, 30, tzinfo=UTC
    )


def test_working_days_left_counts_down_to_zero_on_the_due_day_and_stays_there() -> None:
    calendar = CALENDARS["ENG"]
    due = datetime(2026, 6, 15, 16, 0, tzinfo=UTC)  # Monday 15 June, 17:00 in London

    assert calendar.working_days_left(datetime(2026, 6, 1, 9, 0, tzinfo=UTC), due) == 10
    assert calendar.working_days_left(datetime(2026, 6, 12, 9, 0, tzinfo=UTC), due) == 1
    assert calendar.working_days_left(datetime(2026, 6, 13, 9, 0, tzinfo=UTC), due) == 1
    assert calendar.working_days_left(datetime(2026, 6, 15, 9, 0, tzinfo=UTC), due) == 0
    assert calendar.working_days_left(datetime(2026, 6, 17, 9, 0, tzinfo=UTC), due) == 0


def test_holidays_between_names_the_weekday_holidays_and_closures_in_the_period() -> None:
    plain = CALENDARS["ENG"].holidays_between(date(2026, 12, 1), date(2027, 1, 10))
    closing = WorkingCalendar("ENG", closures=christmas_closures(2026, 2026)).holidays_between(
        date(2026, 12, 1), date(2027, 1, 10)
    )

    assert [day for day, _ in plain] == [date(2026, 12, 25), date(2026, 12, 28), date(2027, 1, 1)]
    assert "Christmas" in plain[0][1]
    assert "Boxing" in plain[1][1]
    assert "New Year" in plain[2][1]
    assert closing == [
        (date(2026, 12, 24), CLOSURE_NAME),
        plain[0],
        plain[1],
        (date(2026, 12, 29), CLOSURE_NAME),
        (date(2026, 12, 30), CLOSURE_NAME),
        (date(2026, 12, 31), CLOSURE_NAME),
        plain[2],
    ]


def test_holidays_between_includes_both_ends_and_is_empty_for_an_empty_period() -> None:
    calendar = CALENDARS["NIR"]

    assert [day for day, _ in calendar.holidays_between(date(2026, 3, 17), date(2026, 3, 17))] == [
        date(2026, 3, 17)
    ]
    assert calendar.holidays_between(date(2026, 3, 18), date(2026, 3, 17)) == []


# ----- yearly closures ----------------------------------------------------------------------------------------

CHRISTMAS_EVERY_YEAR = parse_closure("12-24..01-01")


@pytest.mark.parametrize(
    ("text", "rule"),
    [
        ("2026-12-29", ClosureRule((12, 29), (12, 29), 2026)),
        ("12-24", ClosureRule((12, 24), (12, 24))),
        ("12-24..01-01", ClosureRule((12, 24), (1, 1))),
        ("08-03..08-07", ClosureRule((8, 3), (8, 7))),
        (" 12-24 .. 01-01 ", ClosureRule((12, 24), (1, 1))),
        ("02-29", ClosureRule((2, 29), (2, 29))),
    ],
)
def test_a_closure_is_a_date_a_yearly_day_or_a_yearly_range(text: str, rule: ClosureRule) -> None:
    assert parse_closure(text) == rule
    assert parse_closure(str(rule)) == rule


@pytest.mark.parametrize(
    "text",
    [
        "13-01",
        "12-32",
        "02-30",
        "2027-02-29",
        "12-24..13-01",
        "12-24..",
        "29/12/2026",
        "20261229",
        "2026-12-24..2027-01-01",
        "Christmas",
        "",
    ],
)
def test_a_closure_that_is_no_known_pattern_is_refused_naming_the_entry(text: str) -> None:
    with pytest.raises(ValueError) as refused:
        parse_closure(text)

    assert str(refused.value) == (
        f"closure {text!r} is not a date like 2026-12-29, a yearly day like 12-24 "
        "or a yearly range like 12-24..01-01"
    )


@pytest.mark.parametrize("nation", NATIONS)
def test_a_yearly_christmas_range_closes_the_same_days_as_the_dates_of_every_year(nation: str) -> None:
    yearly = WorkingCalendar(nation, closures=[CHRISTMAS_EVERY_YEAR, date(2031, 6, 13)])
    dated = CLOSING_CALENDARS[nation]

    for ordinal in range(date(FIRST_YEAR, 1, 1).toordinal(), date(LAST_YEAR, 12, 31).toordinal() + 1):
        day = date.fromordinal(ordinal)
        assert yearly.is_working_day(day) == dated.is_working_day(day), day
    assert yearly.add_working_days(date(2026, 1, 1), 600) == dated.add_working_days(date(2026, 1, 1), 600)


@pytest.mark.parametrize("first_year", [2026, 2027])
def test_no_day_from_christmas_eve_to_new_years_day_is_a_working_day(first_year: int) -> None:
    calendar = WorkingCalendar("ENG", closures=[CHRISTMAS_EVERY_YEAR])
    christmas_eve = date(first_year, 12, 24)
    new_years_day = date(first_year + 1, 1, 1)

    assert calendar.working_days_between(christmas_eve - timedelta(days=1), new_years_day) == 0
    assert calendar.is_working_day(christmas_eve - timedelta(days=1))
    assert not any(calendar.is_working_day(christmas_eve + timedelta(days=n)) for n in range(9))


def test_a_yearly_christmas_range_moves_a_deadline_over_the_new_year_in_both_years() -> None:
    calendar = WorkingCalendar("ENG", closures=[CHRISTMAS_EVERY_YEAR])

    # Wed 23 Dec 2026: closed Thu 24 to Fri 1 Jan (Christmas Fri 25, Boxing Day Mon 28); Mon 4 Jan counts.
    assert calendar.add_working_days(date(2026, 12, 23), 1) == date(2027, 1, 4)
    # Thu 23 Dec 2027: closed Fri 24 to Sat 1 Jan; Mon 3 Jan 2028 is the New Year substitute bank holiday.
    assert calendar.add_working_days(date(2027, 12, 23), 1) == date(2028, 1, 4)
    # From inside the range, on either side of the new year.
    assert calendar.add_working_days(date(2026, 12, 30), 1) == date(2027, 1, 4)
    assert calendar.add_working_days(date(2027, 1, 1), 0) == date(2027, 1, 4)
    # After Fri 18 Dec to Fri 8 Jan: Mon 21, Tue 22, Wed 23 Dec, then Mon 4 to Fri 8 Jan.
    assert calendar.working_days_between(date(2026, 12, 18), date(2027, 1, 8)) == 8


def test_a_yearly_day_closes_that_day_every_year() -> None:
    calendar = WorkingCalendar("ENG", closures=[parse_closure("06-12")])

    assert not calendar.is_working_day(date(2026, 6, 12))  # a Friday
    assert not calendar.is_working_day(date(2029, 6, 12))  # a Tuesday
    assert calendar.is_working_day(date(2026, 6, 11))
    assert calendar.add_working_days(date(2026, 6, 11), 1) == date(2026, 6, 15)


def test_a_yearly_twenty_ninth_of_february_closes_a_day_only_in_leap_years() -> None:
    calendar = WorkingCalendar("ENG", closures=[parse_closure("02-29")])
    plain = CALENDARS["ENG"]

    assert not calendar.is_working_day(date(2028, 2, 29))  # a Tuesday
    assert not calendar.is_working_day(date(2024, 2, 29))  # a Thursday
    for year in (2025, 2026, 2027):
        start, end = date(year, 1, 1), date(year, 12, 31)
        assert calendar.working_days_between(start, end) == plain.working_days_between(start, end)
    assert calendar.add_working_days(date(2028, 2, 28), 1) == date(2028, 3, 1)


def test_a_range_ending_on_the_twenty_ninth_of_february_ends_on_the_twenty_eighth_in_other_years() -> None:
    calendar = WorkingCalendar("ENG", closures=[parse_closure("02-26..02-29")])

    assert [calendar.is_working_day(date(2027, 2, d)) for d in (25, 26)] == [True, False]
    assert calendar.is_working_day(date(2027, 3, 1))
    assert not calendar.is_working_day(date(2028, 2, 29))
    assert calendar.is_working_day(date(2028, 3, 1))


def test_dates_given_as_rules_or_as_dates_are_the_same_closures() -> None:
    calendar = WorkingCalendar("ENG", closures=[parse_closure("2026-06-08"), date(2026, 6, 9)])

    assert calendar.closures == frozenset({date(2026, 6, 8), date(2026, 6, 9)})
    assert calendar.yearly_closures == ()
    assert calendar.add_working_days(date(2026, 6, 5), 1) == date(2026, 6, 10)


def test_holidays_between_names_the_yearly_closure_days() -> None:
    dated = WorkingCalendar("ENG", closures=christmas_closures(2026, 2026))
    yearly = WorkingCalendar("ENG", closures=[CHRISTMAS_EVERY_YEAR])

    assert yearly.holidays_between(date(2026, 12, 1), date(2027, 1, 10)) == dated.holidays_between(
        date(2026, 12, 1), date(2027, 1, 10)
    )
    assert (date(2027, 12, 24), CLOSURE_NAME) in yearly.holidays_between(
        date(2027, 12, 1), date(2027, 12, 31)
    )


def test_a_closure_that_is_neither_a_date_nor_a_rule_is_refused() -> None:
    with pytest.raises(ValueError, match="not a date"):
        WorkingCalendar(closures=["12-24"])  # type: ignore[list-item]


# ----- limits in hours ----------------------------------------------------------------------------------------


def test_hours_are_clock_hours_so_48_hours_over_the_october_clock_change_are_48_real_hours() -> None:
    calendar = CALENDARS["ENG"]
    # Clocks went back at 02:00 BST on Sunday 25 October 2026: Saturday noon in London is 11:00 UTC.
    start = datetime(2026, 10, 24, 12, 0, tzinfo=LONDON)

    due = calendar.due_after_hours(start, 48)

    assert due == datetime(2026, 10, 26, 11, 0, tzinfo=UTC)
    assert due.tzinfo is UTC
    assert due - start == timedelta(hours=48)
    assert due.astimezone(LONDON).hour == 11  # the London clock shows an hour less than it started at


def test_hours_count_weekends_and_holidays_and_keep_utc_in_utc_out() -> None:
    calendar = WorkingCalendar("ENG", closures=[CHRISTMAS_EVERY_YEAR])
    start = datetime(2026, 12, 23, 16, 30, tzinfo=UTC)

    assert calendar.due_after_hours(start, 48) == datetime(2026, 12, 25, 16, 30, tzinfo=UTC)
    assert calendar.due_after_hours(start, 0) == start


def test_hours_refuse_a_naive_start_or_a_negative_limit() -> None:
    calendar = CALENDARS["ENG"]

    with pytest.raises(ValueError, match="no timezone"):
        calendar.due_after_hours(datetime(2026, 10, 24, 12, 0), 48)
    with pytest.raises(ValueError, match="negative"):
        calendar.due_after_hours(datetime(2026, 10, 24, 12, 0, tzinfo=UTC), -1)
