"""Deadline arithmetic and the engine's decisions, per call, against what a turn costs.

`WorkingCalendar.add_working_days` (process/calendar.py) is timed for n = 1, 5, 10, 20 and 60 working days from
random start dates over several years (so across year boundaries), for England and Wales and for Durham's
calendar (England with its closures), against numpy's `busday_offset` given the same holidays, one date per call
and a whole array at once; then the two are compared on random start dates and limits (a difference is a bug in
one of them and is printed). Then the engine's decision for one action (`Engine.apply`: respond, escalate, a
deadline passing; `Engine.due_action`, which the clock asks of each due challenge; raising one) is timed per
call. Everything is in-process and touches no database.

    .venv/bin/python bench/deadline_math.py [--calls 20000] [--checks 2000] [--json out.json]

numpy comes with the development extra (`pip install -e '.[dev]'`). Everyone in it is invented.
"""

from __future__ import annotations

import argparse
import json
import random
import statistics
import sys
import time
from collections.abc import Callable
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import holidays
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from process.calendar import WorkingCalendar, _bank_holidays
from process.challenge import SYSTEM, DeadlinePassed, Escalate, Respond
from process.engine import Engine, calendar_for
from process.policy import Role, load_policy
from tests.support.people import MONDAY_MORNING, holder, raise_request, role_directory

FIRST_YEAR, LAST_YEAR = 2024, 2032
LIMITS = (1, 5, 10, 20, 60)
#: What a turn costs, end to end, for comparison (docs/PERFORMANCE.md: `help` to a state-changing card action).
TURN_MS = (5.0, 30.0)


def percentile(samples: list[float], fraction: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, round(fraction * (len(ordered) - 1)))]


def numpy_calendar(calendar: WorkingCalendar) -> np.busdaycalendar:
    """The calendar's non-working weekdays as numpy sees them: the nation's bank holidays straight from the
    holidays package, and the calendar's closures (dated and yearly), for every year of the run and the next."""
    days: set[date] = set()
    for year in range(FIRST_YEAR - 1, LAST_YEAR + 2):
        days |= {
            d for d in holidays.country_holidays("GB", subdiv=calendar.nation, years=year) if d.year == year
        }
        days |= {d for d in calendar.closures if d.year == year}
        days |= {d for rule in calendar.yearly_closures for d in rule.days_in(year)}
    return np.busdaycalendar(weekmask="1111100", holidays=sorted(days))


def random_starts(rng: random.Random, count: int) -> list[date]:
    first = date(FIRST_YEAR, 1, 1).toordinal()
    last = date(LAST_YEAR, 12, 31).toordinal()
    return [date.fromordinal(rng.randint(first, last)) for _ in range(count)]


def per_call_us(run: Callable[[], Any], calls: int, batch: int = 200) -> tuple[float, float]:
    """Median and p99 of the per-call time, in microseconds, over batches of `batch` calls."""
    samples = []
    for _ in range(max(1, calls // batch)):
        start = time.perf_counter_ns()
        for _ in range(batch):
            run()
        samples.append((time.perf_counter_ns() - start) / batch / 1000)
    return statistics.median(samples), percentile(samples, 0.99)


def time_calendar(
    name: str, calendar: WorkingCalendar, calls: int, rng: random.Random
) -> list[dict[str, Any]]:
    oracle = numpy_calendar(calendar)
    starts = random_starts(rng, 4096)
    np_starts = [np.datetime64(d, "D") for d in starts]
    rows = []
    for n in LIMITS:
        i = 0

        def ours(n: int = n) -> date:
            nonlocal i
            i = (i + 1) & 4095
            return calendar.add_working_days(starts[i], n)

        j = 0

        def numpys(n: int = n) -> Any:
            nonlocal j
            j = (j + 1) & 4095
            return np.busday_offset(np_starts[j], n, roll="backward", busdaycal=oracle)

        ours_p50, ours_p99 = per_call_us(ours, calls)
        np_p50, np_p99 = per_call_us(numpys, calls)
        array = np.array(starts, dtype="datetime64[D]")
        t = time.perf_counter_ns()
        for _ in range(20):
            np.busday_offset(array, n, roll="backward", busdaycal=oracle)
        vector_us = (time.perf_counter_ns() - t) / 20 / array.size / 1000
        rows.append(
            {
                "calendar": name,
                "n": n,
                "ours_p50_us": ours_p50,
                "ours_p99_us": ours_p99,
                "numpy_p50_us": np_p50,
                "numpy_p99_us": np_p99,
                "numpy_array_per_date_us": vector_us,
            }
        )
    return rows


def cold_year_us(nation: str) -> float:
    """A new calendar's first call in a year nobody has asked about yet: the year's working days are worked
    out (the bank holidays looked up in the holidays package), then kept."""
    samples = []
    for year in range(2040, 2060):
        _bank_holidays.cache_clear()
        calendar = WorkingCalendar(nation)
        start = time.perf_counter_ns()
        calendar.add_working_days(date(year, 6, 1), 5)
        samples.append((time.perf_counter_ns() - start) / 1000)
    return statistics.median(samples)


def check(name: str, calendar: WorkingCalendar, checks: int, rng: random.Random) -> list[str]:
    """Where the calendar and numpy disagree, for random starts and limits (each a bug in one of them)."""
    oracle = numpy_calendar(calendar)
    starts = random_starts(rng, checks)
    wrong = []
    for start in starts:
        for n in (*LIMITS, rng.randint(0, 60)):
            ours = calendar.add_working_days(start, n)
            roll = "forward" if n == 0 else "backward"
            theirs = np.busday_offset(np.datetime64(start, "D"), n, roll=roll, busdaycal=oracle).astype(date)
            if ours != theirs:
                wrong.append(f"{name}: {start} + {n}: ours {ours}, numpy {theirs}")
    return wrong


def time_engine(calls: int) -> list[dict[str, Any]]:
    policy = load_policy("durham")
    engine = Engine(policy, role_directory(), calendar_for(policy))
    raiser = holder("durham", Role.RAISER)
    challenged = holder("durham", Role.CHALLENGED_PROFESSIONAL)
    request = raise_request("durham")
    raised = engine.raise_challenge(
        request, raiser, MONDAY_MORNING, challenge_id="c1", reference="DUR-2026-0001"
    )
    c = raised.challenge
    assert c.next_due_at is not None
    overdue = c.current.due_at + timedelta(minutes=1) if c.current.due_at else MONDAY_MORNING
    later = MONDAY_MORNING + timedelta(hours=1)
    actions: list[tuple[str, Callable[[], Any]]] = [
        (
            "raise a challenge (raise_challenge)",
            lambda: engine.raise_challenge(
                request, raiser, MONDAY_MORNING, challenge_id="c1", reference="DUR-1"
            ),
        ),
        (
            "respond (apply Respond)",
            lambda: engine.apply(c, Respond("We have booked a visit."), challenged, later),
        ),
        (
            "escalate (apply Escalate)",
            lambda: engine.apply(c, Escalate("No response at stage 1."), raiser, later),
        ),
        ("what the clock must do now (due_action)", lambda: engine.due_action(c, overdue)),
        (
            "a deadline passing (apply DeadlinePassed)",
            lambda: engine.apply(c, DeadlinePassed(), SYSTEM, overdue),
        ),
        (
            "which buttons a person has (allowed_actions)",
            lambda: engine.allowed_actions(c, challenged, later),
        ),
    ]
    rows = []
    for name, run in actions:
        run()
        p50, p99 = per_call_us(run, max(200, calls // 10), batch=20)
        rows.append({"decision": name, "p50_us": p50, "p99_us": p99})
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--calls", type=int, default=20_000, help="timed calls of each (calendar, n)")
    parser.add_argument("--checks", type=int, default=2_000, help="random start dates compared with numpy")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--json", help="write the figures to this file")
    args = parser.parse_args()
    rng = random.Random(args.seed)
    calendars = {
        "England": WorkingCalendar("ENG"),
        "Wales": WorkingCalendar("WLS"),
        "Durham (England, with its closures)": calendar_for(load_policy("durham")),
    }
    out: dict[str, Any] = {"calendar": [], "mismatches": [], "cold_year_us": {}, "engine": []}
    print(
        f"add_working_days against numpy.busday_offset, per call, {FIRST_YEAR}-{LAST_YEAR} starts (microseconds)"
    )
    print(
        f"{'calendar':<38} {'n':>3} {'ours p50':>9} {'p99':>7} {'numpy p50':>10} {'p99':>7} {'numpy array/date':>17}"
    )
    for name, calendar in calendars.items():
        for row in time_calendar(name, calendar, args.calls, rng):
            out["calendar"].append(row)
            print(
                f"{name:<38} {row['n']:>3} {row['ours_p50_us']:>9.2f} {row['ours_p99_us']:>7.2f} "
                f"{row['numpy_p50_us']:>10.2f} {row['numpy_p99_us']:>7.2f} {row['numpy_array_per_date_us']:>17.3f}"
            )
    for nation in ("ENG", "WLS"):
        out["cold_year_us"][nation] = cold_year_us(nation)
        print(
            f"first call in a year not yet worked out ({nation}): {out['cold_year_us'][nation]:.0f} us (once a year)"
        )
    checked = 0
    for name, calendar in calendars.items():
        out["mismatches"] += check(name, calendar, args.checks, rng)
        checked += args.checks * (len(LIMITS) + 1)
    print(f"\ncompared with numpy: {checked:,} (start, n) pairs, {len(out['mismatches'])} differences")
    for line in out["mismatches"][:50]:
        print("  " + line)
    print(
        f"\nthe engine's decision for one action (Durham), per call; a turn costs {TURN_MS[0]:g}-{TURN_MS[1]:g} ms"
    )
    for row in time_engine(args.calls):
        out["engine"].append(row)
        share = row["p50_us"] / 1000 / TURN_MS[0] * 100
        print(
            f"  {row['decision']:<48} p50 {row['p50_us']:8.1f} us  p99 {row['p99_us']:8.1f} us  "
            f"({share:.1f}% of a {TURN_MS[0]:g} ms turn)"
        )
    if args.json:
        Path(args.json).write_text(json.dumps(out, indent=2, default=str))
    if out["mismatches"]:
        sys.exit(1)


if __name__ == "__main__":
    main()
