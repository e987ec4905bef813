"""The working-day calendar that every stage deadline is counted in.

Procedures give their time limits in working days: Monday to Friday, less the bank holidays of the
partnership's nation (England, Wales, Scotland and Northern Ireland differ) and less the partnership's own
closure days. A deadline falls at a set local time (17:00 by default) and is stored as a UTC instant.

A closure is a single date (`2026-12-29`), a day every year (`12-24`) or a span of days every year
(`12-24..01-01`, which may run over the new year). A few procedures give a limit in hours instead ("within
48 hours"); those are clock hours, counted by `due_after_hours`.
"""

from __future__ import annotations

import re
from bisect import bisect_left, bisect_right
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from functools import lru_cache
from types import MappingProxyType
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

NATIONS: tuple[str, ...] = ("ENG", "WLS", "SCT", "NIR")
"""The UK nations whose bank holidays a calendar can follow, as the `holidays` package's GB subdivisions."""

CLOSURE_NAME = "Partnership closure"
"""How a closure day is named where holidays are listed for a person."""

_SATURDAY = 5

_LEAP_YEAR = 2000
"""A leap year, to check a yearly day: 02-29 is a real day, just not in every year."""

_ISO_DATE = re.compile(r"^(\d{4})-(\d{2})-(\d{2})$")
_YEARLY_DAY = re.compile(r"^(\d{2})-(\d{2})$")
_YEARLY_RANGE = re.compile(r"^(\d{2})-(\d{2})\s*\.\.\s*(\d{2})-(\d{2})$")


def _is_weekday(ordinal: int) -> bool:
    """Monday to Friday, from a proleptic Gregorian ordinal (day 1, 1 January of year 1, was a Monday)."""
    return (ordinal - 1) % 7 < _SATURDAY


@lru_cache(maxsize=1024)
def _bank_holidays(nation: str, year: int) -> Mapping[date, str]:
    """The nation's bank holidays in one year, looked up once and shared by every calendar of that nation."""
    # Imported on the first lookup, not with this module: the package holds every country's calendar (about
    # 4 MB of a process), and a bot that has not yet counted a working day has no need of it.
    import holidays

    found = holidays.country_holidays("GB", subdiv=nation, years=year)
    return MappingProxyType({day: name for day, name in found.items() if day.year == year})


#: The longest span a yearly closure may cover: a partnership closes for a holiday, not for a season.
_LONGEST_YEARLY_CLOSURE = 31


@dataclass(frozen=True, slots=True)
class ClosureRule:
    """Days a partnership is closed: one date, or a day or span of days that comes back every year.

    `first` and `last` are (month, day) and both are closed. With a `year` the rule is that one date (so
    `first == last`); without one it applies every year, and when `last` comes before `first` in the year
    the span runs over the new year (12-24..01-01 closes the last week of one year and 1 January of the
    next). A yearly 29 February closes nothing in a year that has none.
    """

    first: tuple[int, int]
    last: tuple[int, int]
    year: int | None = None

    def __post_init__(self) -> None:
        if self.year is not None:
            if self.first != self.last:
                raise ValueError(f"A closure on a date in {self.year} is one day, not a span.")
            date(self.year, *self.first)
        else:
            for month, day in (self.first, self.last):
                date(_LEAP_YEAR, month, day)
            start, end = date(_LEAP_YEAR, *self.first), date(_LEAP_YEAR, *self.last)
            span = (end - start).days + 1 if end >= start else (end - start).days + 367
            if span > _LONGEST_YEARLY_CLOSURE:
                raise ValueError(
                    f"A yearly closure of {span} days leaves too few working days; keep each to "
                    f"{_LONGEST_YEARLY_CLOSURE} days."
                )

    def __str__(self) -> str:
        """The rule as it is written in a policy file."""
        if self.year is not None:
            return date(self.year, *self.first).isoformat()
        first = f"{self.first[0]:02d}-{self.first[1]:02d}"
        if self.first == self.last:
            return first
        return f"{first}..{self.last[0]:02d}-{self.last[1]:02d}"

    @property
    def fixed_date(self) -> date | None:
        """The one date closed, for a rule that is not yearly."""
        return date(self.year, *self.first) if self.year is not None else None

    def days_in(self, year: int) -> Iterator[date]:
        """The days of `year` that this rule closes, in order."""
        if self.year is not None:
            if self.year == year:
                yield date(year, *self.first)
            return
        first = _on_or_after(year, self.first)
        last = _on_or_before(year, self.last)
        if self.first <= self.last:
            spans = [(first, last)]
        else:
            spans = [(date(year, 1, 1).toordinal(), last), (first, date(year, 12, 31).toordinal())]
        for start, end in spans:
            for ordinal in range(start, end + 1):
                yield date.fromordinal(ordinal)


def _on_or_after(year: int, month_day: tuple[int, int]) -> int:
    """The ordinal of the day in `year`, or of 1 March for 29 February in a year without one."""
    try:
        return date(year, *month_day).toordinal()
    except ValueError:
        return date(year, 3, 1).toordinal()


def _on_or_before(year: int, month_day: tuple[int, int]) -> int:
    """The ordinal of the day in `year`, or of 28 February for 29 February in a year without one."""
    try:
        return date(year, *month_day).toordinal()
    except ValueError:
        return date(year, 2, 28).toordinal()


def parse_closure(text: str) -> ClosureRule:
    """A closure as written in a policy: `2026-12-29`, `12-24` (every year) or `12-24..01-01` (every year).

    Raises ValueError naming the entry when it is none of these or names a day that does not exist.
    """
    entry = text.strip()
    try:
        if match := _ISO_DATE.match(entry):
            year, month, day = (int(part) for part in match.groups())
            return ClosureRule((month, day), (month, day), year)
        if match := _YEARLY_DAY.match(entry):
            month, day = (int(part) for part in match.groups())
            return ClosureRule((month, day), (month, day))
        if match := _YEARLY_RANGE.match(entry):
            m1, d1, m2, d2 = (int(part) for part in match.groups())
            return ClosureRule((m1, d1), (m2, d2))
    except ValueError as exc:
        if "too few working days" in str(exc):
            raise ValueError(f"closure {text!r}: {exc}") from None
    raise ValueError(
        f"closure {text!r} is not a date like 2026-12-29, a yearly day like 12-24 "
        "or a yearly range like 12-24..01-01"
    )


class WorkingCalendar:
    """Counts working days and turns a stage's time limit into the instant it is due.

    Each year's working days are worked out once, as a sorted list of day ordinals, so that adding or
    counting working days is a couple of binary searches rather than a walk through the days.
    """

    __slots__ = ("_closures", "_due_time", "_nation", "_timezone", "_working", "_yearly", "_zone")

    def __init__(
        self,
        nation: str = "ENG",
        closures: Iterable[date | ClosureRule] = (),
        due_time: time = time(17, 0),
        timezone: str = "Europe/London",
    ) -> None:
        if nation not in NATIONS:
            raise ValueError(f"Unknown nation {nation!r}: use one of {', '.join(NATIONS)}.")
        closure_days: set[date] = set()
        yearly: list[ClosureRule] = []
        for closure in closures:
            if isinstance(closure, ClosureRule):
                if closure.fixed_date is not None:
                    closure_days.add(closure.fixed_date)
                elif closure not in yearly:
                    yearly.append(closure)
            elif isinstance(closure, datetime) or not isinstance(closure, date):
                raise ValueError(
                    f"Closure {closure!r} is not a date: give closure days as dates without a time, "
                    "or as ClosureRule (see parse_closure)."
                )
            else:
                closure_days.add(closure)
        if due_time.tzinfo is not None:
            raise ValueError(
                "due_time must be a local time without a timezone: the calendar's timezone applies."
            )
        try:
            zone = ZoneInfo(timezone)
        except (ZoneInfoNotFoundError, ValueError) as error:
            raise ValueError(
                f"Unknown timezone {timezone!r}: use an IANA name such as 'Europe/London'."
            ) from error
        self._nation = nation
        self._closures = frozenset(closure_days)
        self._yearly = tuple(yearly)
        self._due_time = due_time
        self._timezone = timezone
        self._zone = zone
        self._working: dict[int, tuple[int, ...]] = {}

    def __repr__(self) -> str:
        return (
            f"WorkingCalendar(nation={self._nation!r}, closures={len(self._closures)} days, "
            f"yearly_closures={[str(rule) for rule in self._yearly]!r}, "
            f"due_time={self._due_time.isoformat()!r}, timezone={self._timezone!r})"
        )

    @property
    def nation(self) -> str:
        """The nation whose bank holidays this calendar follows."""
        return self._nation

    @property
    def closures(self) -> frozenset[date]:
        """The partnership's own closure days given as dates."""
        return self._closures

    @property
    def yearly_closures(self) -> tuple[ClosureRule, ...]:
        """The partnership's closure days that come back every year."""
        return self._yearly

    def _closed_in(self, year: int) -> frozenset[date]:
        """The days of `year` that the yearly closures close."""
        return frozenset(day for rule in self._yearly for day in rule.days_in(year))

    @property
    def due_time(self) -> time:
        """The local time of day at which a stage falls due."""
        return self._due_time

    @property
    def timezone(self) -> str:
        """The IANA name of the timezone that local dates and due times are taken in."""
        return self._timezone

    def _working_days(self, year: int) -> tuple[int, ...]:
        """The ordinals of the year's working days, in order, computed on first use."""
        days = self._working.get(year)
        if days is None:
            bank = _bank_holidays(self._nation, year)
            closed = self._closed_in(year)
            first = date(year, 1, 1).toordinal()
            last = date(year, 12, 31).toordinal()
            days = tuple(
                ordinal
                for ordinal in range(first, last + 1)
                if _is_weekday(ordinal)
                and (day := date.fromordinal(ordinal)) not in bank
                and day not in self._closures
                and day not in closed
            )
            self._working[year] = days
        return days

    def is_working_day(self, d: date) -> bool:
        """Whether `d` counts towards a time limit: a weekday, not a bank holiday, not a closure day."""
        days = self._working_days(d.year)
        ordinal = d.toordinal()
        index = bisect_left(days, ordinal)
        return index < len(days) and days[index] == ordinal

    def add_working_days(self, d: date, n: int) -> date:
        """The n-th working day strictly after `d`, whatever kind of day `d` is.

        With n == 0 this is `d` itself when it is a working day, else the next working day.
        """
        if n < 0:
            raise ValueError(f"A number of working days cannot be negative (got {n}).")
        year = d.year
        days = self._working_days(year)
        ordinal = d.toordinal()
        index = bisect_left(days, ordinal) if n == 0 else bisect_right(days, ordinal) + n - 1
        while index >= len(days):
            index -= len(days)
            year += 1
            if year > date.max.year:
                raise OverflowError(f"{n} working days after {d.isoformat()} is past the year 9999.")
            days = self._working_days(year)
        return date.fromordinal(days[index])

    def _working_days_up_to(self, d: date) -> int:
        """How many working days of `d`'s year fall on or before `d`."""
        return bisect_right(self._working_days(d.year), d.toordinal())

    def working_days_between(self, a: date, b: date) -> int:
        """The number of working days w with a < w <= b; 0 when b is not after a."""
        if b <= a:
            return 0
        count = self._working_days_up_to(b) - self._working_days_up_to(a)
        for year in range(a.year, b.year):
            count += len(self._working_days(year))
        return count

    def local_date(self, instant: datetime) -> date:
        """The date that an aware instant falls on in the calendar's timezone."""
        _require_aware(instant)
        return instant.astimezone(self._zone).date()

    def due_at(self, started: datetime, n: int) -> datetime:
        """When a stage started at `started` with a limit of n working days is due, as an aware UTC instant.

        The limit counts from the local date the stage started on, whatever the time of day, and ends at the
        calendar's due time on the n-th working day after it, in local time across clock changes.
        """
        due_day = self.add_working_days(self.local_date(started), n)
        local = datetime.combine(due_day, self._due_time, tzinfo=self._zone)
        return local.astimezone(UTC)

    def due_after_hours(self, start: datetime, hours: int) -> datetime:
        """The instant `hours` clock hours after `start`, as an aware UTC instant.

        For limits a procedure gives in hours ("within 48 hours"): real elapsed hours, counted in UTC, so
        weekends, bank holidays and closures count and a clock change neither adds nor takes an hour.
        """
        _require_aware(start)
        if hours < 0:
            raise ValueError(f"A number of hours cannot be negative (got {hours}).")
        return start.astimezone(UTC) + timedelta(hours=hours)

    def working_days_left(self, now: datetime, due: datetime) -> int:
        """Working days from today up to the due day, for cards: 1 the working day before, 0 on the day.

        Counted as `working_days_between` the local dates of `now` and `due`; 0 once the due day has come
        or passed (whether a stage is overdue is told by comparing the instants, not by this count).
        """
        return self.working_days_between(self.local_date(now), self.local_date(due))

    def holidays_between(self, start: date, end: date) -> list[tuple[date, str]]:
        """The weekdays from `start` to `end` inclusive that do not count, with the holiday's name.

        These are the bank holidays of the nation (as named by the `holidays` package) and the closure days
        (named `CLOSURE_NAME`) that fall Monday to Friday: the days a person needs to see to understand why
        a deadline moved. Weekends are left out, even when a holiday falls on one.
        """
        found: list[tuple[date, str]] = []
        for ordinal in range(start.toordinal(), end.toordinal() + 1):
            if not _is_weekday(ordinal):
                continue
            day = date.fromordinal(ordinal)
            name = _bank_holidays(self._nation, day.year).get(day)
            if name is not None:
                found.append((day, name))
            elif not self.is_working_day(day):
                # A weekday that is no bank holiday and does not count is a closure day (dated or yearly).
                found.append((day, CLOSURE_NAME))
        return found


def _require_aware(instant: datetime) -> None:
    """Refuses naive datetimes, whose moment is ambiguous and would silently take the server's timezone."""
    if instant.tzinfo is None or instant.utcoffset() is None:
        raise ValueError(
            f"{instant.isoformat()} has no timezone: pass an aware datetime (for example in UTC)."
        )
