"""Dates and deadlines as people read them: local time, weekday first, working days left or overdue.

Instants are stored in UTC and shown in the partnership calendar's timezone (Europe/London), e.g.
"Tue 24 Nov 2026, 17:00". Day and month names are written out here rather than taken from the machine's
locale, so a card reads the same wherever the bot runs.
"""

from __future__ import annotations

from datetime import date, datetime
from zoneinfo import ZoneInfo

from process.calendar import WorkingCalendar

_DAYS = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")
_MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")

DEFAULT_ZONE = "Europe/London"


def day(d: date, *, weekday: bool = True) -> str:
    """A date as "Tue 24 Nov 2026" (or "24 Nov 2026" without the weekday, for a date of birth)."""
    text = f"{d.day} {_MONTHS[d.month - 1]} {d.year}"
    return f"{_DAYS[d.weekday()]} {text}" if weekday else text


def moment(instant: datetime, zone: str = DEFAULT_ZONE) -> str:
    """An aware instant in local time, as "Tue 24 Nov 2026, 17:00"."""
    local = instant.astimezone(ZoneInfo(zone))
    return f"{day(local.date())}, {local:%H:%M}"


def time_left(calendar: WorkingCalendar, now: datetime, due: datetime) -> str:
    """How long is left before `due`, in the working days the procedures count in; overdue said plainly."""
    if now >= due:
        return f"Overdue since {moment(due, calendar.timezone)}"
    left = calendar.working_days_left(now, due)
    if left == 0:
        local = due.astimezone(ZoneInfo(calendar.timezone))
        return f"Due today at {local:%H:%M}"
    return "1 working day left" if left == 1 else f"{left} working days left"


def is_overdue(now: datetime, due: datetime | None) -> bool:
    return due is not None and now >= due
