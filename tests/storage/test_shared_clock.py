"""The trial's shared clock: one offset in a file, seen by every process, and only ever increased."""

from __future__ import annotations

import threading
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from storage.clock import ClockError, SharedClock

REAL = datetime(2026, 11, 30, 9, 0, tzinfo=UTC)


def fixed() -> datetime:
    return REAL


def test_without_a_file_the_shared_clock_is_the_real_clock(tmp_path: Path) -> None:
    clock = SharedClock(tmp_path / "clock.json", real=fixed)
    assert clock() == REAL
    assert not (tmp_path / "clock.json").exists()


def test_a_move_made_by_one_process_is_seen_by_another_on_its_next_call(tmp_path: Path) -> None:
    running_bot = SharedClock(tmp_path / "clock.json", real=fixed)
    assert running_bot() == REAL
    tick = SharedClock(tmp_path / "clock.json", real=fixed)
    assert tick.advance(timedelta(days=3)) == REAL + timedelta(days=3)
    assert running_bot() == REAL + timedelta(days=3)
    tick.advance(timedelta(hours=2))
    assert running_bot() == REAL + timedelta(days=3, hours=2)


def test_moving_to_an_instant_before_the_clock_is_refused_and_changes_nothing(tmp_path: Path) -> None:
    clock = SharedClock(tmp_path / "clock.json", real=fixed)
    clock.move_to(REAL + timedelta(days=5))
    with pytest.raises(ClockError, match="only moves forward"):
        clock.move_to(REAL + timedelta(days=4))
    assert clock() == REAL + timedelta(days=5)
    assert clock.move_to(REAL + timedelta(days=5)) == REAL + timedelta(days=5)
    with pytest.raises(ClockError, match="forward"):
        clock.advance(timedelta(seconds=-1))
    with pytest.raises(ClockError, match="time zone"):
        clock.move_to(datetime(2027, 1, 1))  # a naive instant
    assert clock() == REAL + timedelta(days=5)


def test_an_instant_earlier_than_the_real_clock_is_refused_too(tmp_path: Path) -> None:
    clock = SharedClock(tmp_path / "clock.json", real=fixed)
    with pytest.raises(ClockError, match="already at 2026-11-30T09:00:00"):
        clock.move_to(REAL - timedelta(minutes=1))


def test_the_running_clock_never_goes_back_even_if_the_file_is_edited_or_spoiled(tmp_path: Path) -> None:
    path = tmp_path / "clock.json"
    clock = SharedClock(path, real=fixed)
    SharedClock(path, real=fixed).advance(timedelta(days=2))
    assert clock() == REAL + timedelta(days=2)
    path.write_text('{"offset_seconds": 0}\n')
    assert clock() == REAL + timedelta(days=2)
    path.write_text("not json at all, and longer than before")
    assert clock() == REAL + timedelta(days=2)
    with pytest.raises(ClockError, match="cannot be read"):
        SharedClock(path, real=fixed).advance(timedelta(days=1))


def test_moves_at_the_same_moment_are_all_kept(tmp_path: Path) -> None:
    path = tmp_path / "clock.json"
    start = threading.Barrier(8)

    def advance() -> None:
        start.wait()
        for _ in range(5):
            SharedClock(path, real=fixed).advance(timedelta(hours=1))

    threads = [threading.Thread(target=advance) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert SharedClock(path, real=fixed)() == REAL + timedelta(hours=40)


def test_reading_the_clock_is_cheap_when_nothing_moved(tmp_path: Path) -> None:
    clock = SharedClock(tmp_path / "clock.json")
    clock.advance(timedelta(days=1))
    calls = 20_000
    started = time.perf_counter()
    for _ in range(calls):
        clock()
    per_call = (time.perf_counter() - started) / calls
    # A stat and a cached offset: a few microseconds; far below a database round trip.
    assert per_call < 200e-6, per_call
