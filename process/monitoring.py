"""Monitoring a partnership's challenges: the figures of the `report` card, the CSV and the dashboard.

Pure arithmetic over `ChallengeFacts`, the anonymous facts of a challenge (its reference, stage history,
challenged agency and issue category): no child's name, date of birth or case reference, and no free text,
goes in or comes out. `storage.monitoring` reads the facts; everything here is a function of them, the
policy (stage names, issue categories, working-day calendar) and the directory's agency names.

A period is two local dates (Europe/London) [since, until): from `since` 00:00 to `until` 00:00. Figures
"now" (open by stage, overdue) are taken at the end of the period, or now if the period has not ended.
"""

from __future__ import annotations

import calendar as month_calendar
from bisect import bisect_left, bisect_right
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from process.calendar import WorkingCalendar
from process.directory import Directory
from process.policy import Policy

LONDON = ZoneInfo("Europe/London")

#: The longest period asked about at once (the weekly series has one point per week).
MAX_PERIOD_DAYS = 366 * 5 + 1
#: The stage from which a challenge is a "Stage 3+ matter" (Rochdale: "RBSCP will monitor Stage 3 challenges").
SERIOUS_STAGE = 3
#: How many challenges to one agency within the period make "repeated challenges" (Durham 5.5).
REPEATED_AT = 2
#: Endings that record an outcome (counted in the time to resolution); a withdrawal ends without one.
OUTCOME_ENDINGS = ("resolved", "closed")
ENDINGS = ("resolved", "closed", "withdrawn")


class PeriodError(ValueError):
    """A period that cannot be reported on; the message says why, in words for the person who chose it."""


@dataclass(frozen=True)
class Period:
    """Local dates [since, until)."""

    since: date
    until: date

    def __post_init__(self) -> None:
        if self.until <= self.since:
            raise PeriodError("The period must end after it starts.")
        if (self.until - self.since).days > MAX_PERIOD_DAYS:
            raise PeriodError("Choose a period of at most five years.")

    @property
    def start(self) -> datetime:
        return _local_midnight(self.since)

    @property
    def end(self) -> datetime:
        return _local_midnight(self.until)

    @property
    def last_day(self) -> date:
        return self.until - timedelta(days=1)


def _local_midnight(day: date) -> datetime:
    return datetime.combine(day, time(0), tzinfo=LONDON).astimezone(UTC)


def months_back(today: date, months: int) -> date:
    """The same day `months` months before `today` (the month's last day when it has fewer days)."""
    total = today.year * 12 + today.month - 1 - months
    year, month = divmod(total, 12)
    month += 1
    return date(year, month, min(today.day, month_calendar.monthrange(year, month)[1]))


#: The periods offered on the card and the dashboard: (value, title).
PRESETS: tuple[tuple[str, str], ...] = (
    ("3m", "Last 3 months"),
    ("6m", "Last 6 months"),
    ("12m", "Last 12 months"),
    ("fy", "This financial year (from 1 April)"),
    ("last_fy", "Last financial year"),
    ("24m", "Last 2 years"),
)
DEFAULT_PRESET = "12m"


def preset_period(preset: str, today: date) -> Period:
    """The period a preset names, ending with today (the last financial year ends on 31 March)."""
    tomorrow = today + timedelta(days=1)
    if preset in ("3m", "6m", "12m", "24m"):
        return Period(months_back(tomorrow, int(preset[:-1])), tomorrow)
    april = date(today.year if today.month >= 4 else today.year - 1, 4, 1)
    if preset == "fy":
        return Period(april, tomorrow)
    if preset == "last_fy":
        return Period(date(april.year - 1, 4, 1), april)
    raise PeriodError("Choose one of the periods offered.")


def parse_period(preset: str | None, since: str | None, until: str | None, today: date) -> Period:
    """The period a person chose: both dates (YYYY-MM-DD, `until` inclusive as people say it) if given,
    else the preset, else the last 12 months. Raises `PeriodError` with words for the person."""
    since_text = (since or "").strip()
    until_text = (until or "").strip()
    if since_text or until_text:
        try:
            first = date.fromisoformat(since_text) if since_text else None
            last = date.fromisoformat(until_text) if until_text else today
        except ValueError:
            raise PeriodError("Give dates as YYYY-MM-DD, for example 2026-04-01.") from None
        if first is None:
            raise PeriodError("Give the first day of the period as well as the last.")
        if first.year < 2000 or last.year > 9998:
            raise PeriodError("Give dates between the year 2000 and 9998.")
        return Period(first, last + timedelta(days=1))
    return preset_period((preset or DEFAULT_PRESET).strip() or DEFAULT_PRESET, today)


@dataclass(frozen=True)
class StageSpan:
    """One stage of a challenge as it ran: no text, only when."""

    number: int
    started_at: datetime
    due_at: datetime | None
    ended_at: datetime | None
    outcome: str | None


@dataclass(frozen=True)
class ChallengeFacts:
    """The anonymous facts of one challenge that monitoring needs."""

    reference: str
    policy_id: str
    status: str
    stage: int
    raised_at: datetime
    closed_at: datetime | None
    challenged_agency_id: str
    issue_category: str
    stages: tuple[StageSpan, ...]

    @property
    def highest_stage(self) -> int:
        return max((s.number for s in self.stages), default=self.stage)

    def span_at(self, instant: datetime) -> StageSpan | None:
        """The stage running at `instant`, if the challenge was open then."""
        if self.raised_at > instant or (self.closed_at is not None and self.closed_at <= instant):
            return None
        for span in self.stages:
            if span.started_at <= instant and (span.ended_at is None or span.ended_at > instant):
                return span
        return None


@dataclass(frozen=True)
class Count:
    """A count for one value of a dimension (an agency, an issue category)."""

    key: str
    label: str
    count: int


@dataclass(frozen=True)
class StageTime:
    """Working days the stages numbered `stage` took, of those that ended within the period."""

    stage: int
    count: int
    median_working_days: float | None
    longest_working_days: int | None
    past_due: int


@dataclass(frozen=True)
class Matter:
    """A challenge at Stage 3 or beyond: its reference and where it stands (no child data, no text)."""

    reference: str
    status: str
    stage: int
    highest_stage: int
    agency: str
    category: str
    raised_on: date


@dataclass(frozen=True)
class Repeated:
    """An agency challenged `count` times within the period, with the count per month."""

    agency_id: str
    agency: str
    count: int
    by_month: Mapping[str, int]


@dataclass(frozen=True)
class Week:
    """One point of the weekly series: open challenges by stage and overdue, at the week's end."""

    starts: date
    open_by_stage: Mapping[int, int]
    overdue: int


@dataclass(frozen=True)
class Statistics:
    """Every figure of the monitoring report for one partnership and one period."""

    partnership_id: str
    partnership: str
    period: Period
    as_of: datetime
    stage_names: Mapping[int, str]
    raised: int
    open_by_stage: Mapping[int, int]
    overdue_by_stage: Mapping[int, int]
    ended: Mapping[str, Mapping[int, int]]
    median_working_days_to_resolution: float | None
    resolution_by_stage: Mapping[int, float | None]
    stage_times: tuple[StageTime, ...]
    by_agency: tuple[Count, ...]
    by_category: tuple[Count, ...]
    serious: tuple[Matter, ...]
    repeated: tuple[Repeated, ...]
    weeks: tuple[Week, ...]
    months: tuple[str, ...] = field(default=())

    @property
    def open_total(self) -> int:
        return sum(self.open_by_stage.values())

    @property
    def overdue(self) -> int:
        return sum(self.overdue_by_stage.values())

    def ended_total(self, ending: str) -> int:
        return sum(self.ended.get(ending, {}).values())

    def as_json(self) -> dict[str, Any]:
        """Plain JSON for the dashboard (keys are strings; dates ISO)."""
        stages = sorted(self.stage_names)
        return {
            "partnership": {"id": self.partnership_id, "name": self.partnership},
            "period": {"since": self.period.since.isoformat(), "until": self.period.last_day.isoformat()},
            "asOf": self.as_of.isoformat(),
            "stages": [{"number": n, "name": self.stage_names[n]} for n in stages],
            "raised": self.raised,
            "open": {
                "total": self.open_total,
                "byStage": {str(n): self.open_by_stage.get(n, 0) for n in stages},
            },
            "overdue": {
                "total": self.overdue,
                "byStage": {str(n): self.overdue_by_stage.get(n, 0) for n in stages},
            },
            "ended": {
                ending: {str(n): self.ended.get(ending, {}).get(n, 0) for n in stages} for ending in ENDINGS
            },
            "medianWorkingDaysToResolution": self.median_working_days_to_resolution,
            "resolutionByStage": {str(n): self.resolution_by_stage.get(n) for n in stages},
            "stageTimes": [
                {
                    "stage": t.stage,
                    "count": t.count,
                    "medianWorkingDays": t.median_working_days,
                    "longestWorkingDays": t.longest_working_days,
                    "pastDue": t.past_due,
                }
                for t in self.stage_times
            ],
            "byAgency": [{"id": c.key, "name": c.label, "count": c.count} for c in self.by_agency],
            "byCategory": [{"id": c.key, "name": c.label, "count": c.count} for c in self.by_category],
            "serious": [
                {
                    "reference": m.reference,
                    "status": m.status,
                    "stage": m.stage,
                    "highestStage": m.highest_stage,
                    "agency": m.agency,
                    "category": m.category,
                    "raisedOn": m.raised_on.isoformat(),
                }
                for m in self.serious
            ],
            "repeated": [
                {"id": r.agency_id, "agency": r.agency, "count": r.count, "byMonth": dict(r.by_month)}
                for r in self.repeated
            ],
            "months": list(self.months),
            "weeks": [
                {
                    "starts": w.starts.isoformat(),
                    "openByStage": {str(n): w.open_by_stage.get(n, 0) for n in stages},
                    "overdue": w.overdue,
                }
                for w in self.weeks
            ],
        }


def partnerships_of(directory: Directory, person_id: str | None, served: Iterable[str]) -> tuple[str, ...]:
    """The partnerships (of those `served`) in which `person_id` holds a post (business manager, admin,
    executive...), in the order served: whose monitoring figures they may see."""
    if not person_id:
        return ()
    held = {
        partnership
        for (partnership, _post), contacts in directory.partnership_roles.items()
        if any(contact.person_id == person_id for contact in contacts)
    }
    return tuple(p for p in served if p in held)


def compute(
    facts: Sequence[ChallengeFacts],
    policy: Policy,
    calendar: WorkingCalendar,
    directory: Directory,
    period: Period,
    now: datetime,
) -> Statistics:
    """The figures for `policy`'s partnership over `period`; `facts` may hold other challenges too (those of
    other partnerships, raised after the period, ended before it), which are left out here."""
    start, end = period.start, period.end
    as_of = min(end, now)
    stage_names = {s.number: s.name for s in policy.stages}
    mine = [f for f in facts if f.policy_id == policy.id and f.raised_at < end]
    # Challenges that were open at some moment of the period.
    active = [f for f in mine if f.closed_at is None or f.closed_at >= start]
    raised_in = [f for f in mine if f.raised_at >= start]

    open_by_stage: Counter[int] = Counter()
    overdue_by_stage: Counter[int] = Counter()
    for f in active:
        span = f.span_at(as_of)
        if span is not None:
            open_by_stage[span.number] += 1
            if span.due_at is not None and span.due_at < as_of:
                overdue_by_stage[span.number] += 1

    ended: dict[str, Counter[int]] = {ending: Counter() for ending in ENDINGS}
    to_resolution: list[int] = []
    resolution_at: dict[int, list[int]] = defaultdict(list)
    for f in active:
        if f.closed_at is None or not start <= f.closed_at < end or f.status not in ended:
            continue
        ended[f.status][f.stage] += 1
        if f.status in OUTCOME_ENDINGS:
            days = _working_days(calendar, f.raised_at, f.closed_at)
            to_resolution.append(days)
            resolution_at[f.stage].append(days)

    stage_days: dict[int, list[int]] = defaultdict(list)
    stage_late: Counter[int] = Counter()
    for f in active:
        for span in f.stages:
            if span.ended_at is not None and start <= span.ended_at < end:
                stage_days[span.number].append(_working_days(calendar, span.started_at, span.ended_at))
                if span.due_at is not None and span.ended_at > span.due_at:
                    stage_late[span.number] += 1
    stage_times = tuple(
        StageTime(
            stage=n,
            count=len(stage_days[n]),
            median_working_days=_median(stage_days[n]),
            longest_working_days=max(stage_days[n]) if stage_days[n] else None,
            past_due=stage_late[n],
        )
        for n in sorted(stage_names)
    )

    agency_name = _agency_names(directory)
    category_label = {c.id: c.label for c in policy.issue_categories}
    agency_counts = Counter(f.challenged_agency_id for f in raised_in)
    by_agency = tuple(
        Count(a, agency_name(a), n)
        for a, n in sorted(agency_counts.items(), key=lambda i: (-i[1], agency_name(i[0])))
    )
    category_counts = Counter(f.issue_category for f in raised_in)
    by_category = tuple(
        Count(c, category_label.get(c, c or "Not given"), n)
        for c, n in sorted(category_counts.items(), key=lambda i: (-i[1], category_label.get(i[0], i[0])))
    )

    serious = tuple(
        Matter(
            reference=f.reference,
            status=f.status,
            stage=f.stage,
            highest_stage=_highest_before(f, end),
            agency=agency_name(f.challenged_agency_id),
            category=category_label.get(f.issue_category, f.issue_category or "Not given"),
            raised_on=f.raised_at.astimezone(LONDON).date(),
        )
        for f in sorted(active, key=lambda f: (f.raised_at, f.reference))
        if _highest_before(f, end) >= SERIOUS_STAGE
    )

    months = _months(period)
    per_month: dict[str, Counter[str]] = defaultdict(Counter)
    for f in raised_in:
        per_month[f.challenged_agency_id][f.raised_at.astimezone(LONDON).strftime("%Y-%m")] += 1
    repeated = tuple(
        Repeated(a, agency_name(a), n, {m: per_month[a].get(m, 0) for m in months})
        for a, n in sorted(agency_counts.items(), key=lambda i: (-i[1], agency_name(i[0])))
        if n >= REPEATED_AT
    )

    return Statistics(
        partnership_id=policy.id,
        partnership=policy.partnership,
        period=period,
        as_of=as_of,
        stage_names=stage_names,
        raised=len(raised_in),
        open_by_stage=dict(open_by_stage),
        overdue_by_stage=dict(overdue_by_stage),
        ended={ending: dict(counts) for ending, counts in ended.items()},
        median_working_days_to_resolution=_median(to_resolution),
        resolution_by_stage={n: _median(resolution_at[n]) for n in sorted(stage_names)},
        stage_times=stage_times,
        by_agency=by_agency,
        by_category=by_category,
        serious=serious,
        repeated=repeated,
        weeks=_weekly(active, period, as_of, sorted(stage_names)),
        months=months,
    )


def _working_days(calendar: WorkingCalendar, a: datetime, b: datetime) -> int:
    return calendar.working_days_between(calendar.local_date(a), calendar.local_date(b))


def _median(values: Sequence[int]) -> float | None:
    from statistics import median  # here: the served bot loads this module, and needs it only on a request

    return float(median(values)) if values else None


def _highest_before(f: ChallengeFacts, end: datetime) -> int:
    return max((s.number for s in f.stages if s.started_at < end), default=f.stage)


def _agency_names(directory: Directory) -> Callable[[str], str]:
    def name(agency_id: str) -> str:
        agency = directory.agency(agency_id)
        return agency.name if agency is not None else agency_id

    return name


def _months(period: Period) -> tuple[str, ...]:
    out: list[str] = []
    year, month = period.since.year, period.since.month
    while date(year, month, 1) < period.until:
        out.append(f"{year:04d}-{month:02d}")
        year, month = (year + 1, 1) if month == 12 else (year, month + 1)
    return tuple(out)


def _weekly(
    active: Sequence[ChallengeFacts], period: Period, as_of: datetime, stages: Sequence[int]
) -> tuple[Week, ...]:
    """Open by stage and overdue at the end of each week (Monday to Sunday) of the period, the last point
    at `as_of`; every stage span adds one over the sample instants it covers (difference arrays, so a
    few thousand challenges over five years stay quick)."""
    monday = period.since - timedelta(days=period.since.weekday())
    starts: list[date] = []
    samples: list[datetime] = []
    day = monday
    while day < period.until:
        sample = min(_local_midnight(day + timedelta(days=7)), as_of)
        if _local_midnight(day) > as_of:
            break
        starts.append(day)
        samples.append(sample)
        day += timedelta(days=7)
    count = len(samples)
    open_diff = {n: [0] * (count + 1) for n in stages}
    late_diff = [0] * (count + 1)
    for f in active:
        for span in f.stages:
            if span.number not in open_diff:
                continue
            stop = span.ended_at
            if f.closed_at is not None and (stop is None or f.closed_at < stop):
                stop = f.closed_at
            # Samples s with started_at <= s < stop.
            first = bisect_left(samples, span.started_at)
            last = bisect_left(samples, stop) if stop is not None else count
            if first < last:
                open_diff[span.number][first] += 1
                open_diff[span.number][last] -= 1
            if span.due_at is not None:
                # Overdue at s when due_at < s as well.
                late_first = max(first, bisect_right(samples, span.due_at))
                if late_first < last:
                    late_diff[late_first] += 1
                    late_diff[last] -= 1
    weeks: list[Week] = []
    running = dict.fromkeys(stages, 0)
    late = 0
    for i, starts_on in enumerate(starts):
        for n in stages:
            running[n] += open_diff[n][i]
        late += late_diff[i]
        weeks.append(Week(starts_on, {n: running[n] for n in stages if running[n]}, late))
    return tuple(weeks)
