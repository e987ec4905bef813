"""The clock storage stamps rows with; injectable so tests can fix the time.

A trial (`scripts/try.sh`) runs the bot and `challenge-bot tick` against one `SharedClock`: the real clock plus
an offset kept in a small file, which `tick --advance 3d` or `tick --now ...` only ever increases. The running
bot reads the file on every call (a `stat`, and a read only when it changed), so anything it dates after a
tick is dated after the tick's reminders and escalations, and the history reads in order.
"""

from __future__ import annotations

import fcntl
import json
import logging
import os
import tempfile
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

Clock = Callable[[], datetime]

log = logging.getLogger(__name__)


def utc_now() -> datetime:
    """The real clock, in UTC."""
    return datetime.now(UTC)


class ClockError(ValueError):
    """The shared clock cannot be moved as asked (backwards, or its file is unreadable); the message says why."""


class SharedClock:
    """Real time plus a stored offset that only grows, shared by every process given the same file.

    The file holds `{"offset_seconds": ...}`; a missing file is an offset of zero (the real clock). It is
    replaced atomically, and moves are serialised with a lock beside it, so two ticks at once cannot lose one.
    """

    def __init__(self, path: Path, real: Clock = utc_now) -> None:
        self.path = Path(path)
        self._real = real
        self._seen: tuple[int, int, int] | None = None
        self._offset = timedelta(0)

    def __call__(self) -> datetime:
        return self._real() + self.offset()

    def offset(self) -> timedelta:
        """How far ahead of the real clock the trial is; the last good value if the file is unreadable."""
        try:
            status = os.stat(self.path)
        except FileNotFoundError:
            return self._offset
        key = (status.st_ino, status.st_mtime_ns, status.st_size)
        if key != self._seen:
            try:
                offset = self._read()
            except ClockError as error:
                log.warning("%s; keeping the shared clock's last offset", error)
                return self._offset
            # Forward only, even if someone edits the file by hand.
            self._offset = max(self._offset, offset)
            self._seen = key
        return self._offset

    def advance(self, by: timedelta) -> datetime:
        """Move the clock forward by `by` (zero or more) and return the new instant."""
        if by < timedelta(0):
            raise ClockError("the shared clock only moves forward: give a positive duration")
        with self._locked():
            offset = self._read_or_zero() + by
            self._write(offset)
        return self._real() + offset

    def move_to(self, at: datetime) -> datetime:
        """Move the clock to `at`, refused (`ClockError`) if that is before the clock's present instant."""
        if at.tzinfo is None:
            raise ClockError("give the instant with its time zone, e.g. 2026-12-31T10:00:00+00:00")
        with self._locked():
            current = self._read_or_zero()
            real = self._real()
            if at < real + current:
                raise ClockError(
                    f"the trial's clock is already at {_iso(real + current)}, after {_iso(at)}; it only moves "
                    "forward, so everything stays in the order it happened. Give a later instant or --advance"
                )
            self._write(at - real)
        return at

    def _read(self) -> timedelta:
        try:
            data = json.loads(self.path.read_text(encoding="utf-8"))
            return timedelta(seconds=float(data["offset_seconds"]))
        except FileNotFoundError:
            return timedelta(0)
        except (OSError, ValueError, TypeError, KeyError, OverflowError) as error:
            raise ClockError(f"the shared clock file {self.path} cannot be read ({error})") from None

    def _read_or_zero(self) -> timedelta:
        return max(self._read(), timedelta(0))

    def _write(self, offset: timedelta) -> None:
        text = json.dumps({"offset_seconds": offset.total_seconds(), "moved_at": _iso(self._real())})
        handle, temporary = tempfile.mkstemp(dir=self.path.parent, prefix=f".{self.path.name}.")
        try:
            with os.fdopen(handle, "w", encoding="utf-8") as out:
                out.write(text + "\n")
            os.replace(temporary, self.path)
        except BaseException:
            Path(temporary).unlink(missing_ok=True)
            raise

    def _locked(self) -> _FileLock:
        return _FileLock(self.path.with_name(self.path.name + ".lock"))


class _FileLock:
    """An exclusive `flock` on a lock file for the length of a `with` block."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._fd: int | None = None

    def __enter__(self) -> _FileLock:
        self._fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        fcntl.flock(self._fd, fcntl.LOCK_EX)
        return self

    def __exit__(self, *_exc: object) -> None:
        if self._fd is not None:
            fcntl.flock(self._fd, fcntl.LOCK_UN)
            os.close(self._fd)
            self._fd = None


def _iso(at: datetime) -> str:
    return at.astimezone(UTC).isoformat(timespec="seconds")
