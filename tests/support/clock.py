"""A clock for tests: stands still until the test moves it. Pass it wherever code takes `clock=`."""

from __future__ import annotations

from datetime import datetime, timedelta


class FakeClock:
    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **delta: float) -> datetime:
        """Move on by `timedelta(**delta)` and return the new time."""
        self.now += timedelta(**delta)
        return self.now
