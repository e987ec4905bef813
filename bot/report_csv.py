"""`challenge-bot report`: the monitoring figures as a tidy CSV for spreadsheets.

One row per figure: partnership, period, measure, dimension, item, week or month, value. A pivot table or a
filter in Excel or LibreOffice makes any of the card's and dashboard's tables from it. Text that came from the
directory or a policy (agency names, categories, stage names) and starts with a character a spreadsheet
reads as a formula (= + - @, a tab or a carriage return) is prefixed with an apostrophe, so opening the file
never runs one. The file is UTF-8 with a byte order mark, which Excel needs to read accents and Welsh.
"""

from __future__ import annotations

import argparse
import asyncio
import csv
import sys
from collections.abc import Iterator, Sequence
from dataclasses import replace
from datetime import timedelta
from pathlib import Path
from typing import IO

from process.monitoring import Period, PeriodError, Statistics

HEADER = ("partnership", "period_start", "period_end", "measure", "dimension", "item", "when", "value")
_FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")

Row = tuple[str, str, str, str, str, str, str, str]


def safe_cell(value: str) -> str:
    """`value` as a spreadsheet shows it, never as a formula (OWASP's CSV injection advice)."""
    return "'" + value if value.startswith(_FORMULA_STARTS) else value


def _number(value: float | int | None) -> str:
    if value is None:
        return ""
    return f"{value:g}" if isinstance(value, float) else str(value)


def rows(stats: Statistics) -> Iterator[Row]:
    """The figures of `stats`, one per row."""
    base = (stats.partnership_id, stats.period.since.isoformat(), stats.period.last_day.isoformat())

    def row(measure: str, dimension: str, item: str, when: str, value: float | int | None) -> Row:
        return (*base, measure, dimension, safe_cell(item), when, _number(value))

    stage_label = {n: f"{n}. {name}" for n, name in stats.stage_names.items()}
    yield row("raised", "total", "", "", stats.raised)
    yield row("open", "total", "", "", stats.open_total)
    yield row("overdue", "total", "", "", stats.overdue)
    yield row("median_working_days_to_resolution", "total", "", "", stats.median_working_days_to_resolution)
    for n in sorted(stats.stage_names):
        yield row("open", "stage", stage_label[n], "", stats.open_by_stage.get(n, 0))
        yield row("overdue", "stage", stage_label[n], "", stats.overdue_by_stage.get(n, 0))
        for ending, counts in stats.ended.items():
            yield row(ending, "stage", stage_label[n], "", counts.get(n, 0))
        yield row(
            "median_working_days_to_resolution", "stage", stage_label[n], "", stats.resolution_by_stage.get(n)
        )
    for t in stats.stage_times:
        yield row("stages_ended", "stage", stage_label[t.stage], "", t.count)
        yield row("median_working_days_in_stage", "stage", stage_label[t.stage], "", t.median_working_days)
        yield row("stages_ended_past_due", "stage", stage_label[t.stage], "", t.past_due)
    for c in stats.by_agency:
        yield row("raised", "agency", c.label, "", c.count)
    for c in stats.by_category:
        yield row("raised", "issue_category", c.label, "", c.count)
    for r in stats.repeated:
        yield row("repeated_challenges", "agency", r.agency, "", r.count)
        for month, count in r.by_month.items():
            yield row("repeated_challenges", "agency", r.agency, month, count)
    for m in stats.serious:
        yield row(
            "stage_3_plus_highest_stage", "reference", m.reference, m.raised_on.isoformat(), m.highest_stage
        )
    for w in stats.weeks:
        for n in sorted(stats.stage_names):
            yield row(
                "open_at_week_end", "stage", stage_label[n], w.starts.isoformat(), w.open_by_stage.get(n, 0)
            )
        yield row("overdue_at_week_end", "total", "", w.starts.isoformat(), w.overdue)


def write_csv(out: IO[str], statistics: Sequence[Statistics]) -> int:
    """Write the header and every figure of `statistics`; the number of rows written."""
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(HEADER)
    written = 0
    for stats in statistics:
        for r in rows(stats):
            writer.writerow(r)
            written += 1
    return written


def run_report(args: argparse.Namespace) -> int:
    """`challenge-bot report --since DATE [--until DATE] [--partnership ID] --csv FILE|-`."""
    from bot.config import Settings
    from bot.wiring import TickError, make_service, open_database, require_existing_database
    from dialogs.monitoring import Monitoring
    from storage.monitoring import MonitoringStore

    settings = Settings.from_env()
    try:
        require_existing_database(settings.database_url, can_create=False)
    except TickError as error:
        print(f"challenge-bot report: {error}", file=sys.stderr)
        return 2

    async def figures() -> list[Statistics]:
        database = await open_database(replace(settings, directory_file=None))
        try:
            service = make_service(settings, database)
            monitoring = Monitoring(service, MonitoringStore(database))
            until = (args.until or monitoring.today()) + timedelta(days=1)
            period = Period(args.since, until)
            wanted = [args.partnership] if args.partnership else list(service.policies)
            unknown = [p for p in wanted if p not in service.policies]
            if unknown:
                served = ", ".join(service.policies)
                raise PeriodError(f"no partnership {unknown[0]!r} is served here (served: {served})")
            return [await monitoring.statistics(p, period) for p in wanted]
        finally:
            await database.dispose()

    try:
        statistics = asyncio.run(figures())
    except PeriodError as error:
        print(f"challenge-bot report: {error}", file=sys.stderr)
        return 2
    if args.csv == "-":
        count = write_csv(sys.stdout, statistics)
    else:
        try:
            with Path(args.csv).open("w", encoding="utf-8-sig", newline="") as out:
                count = write_csv(out, statistics)
        except OSError as error:
            print(
                f"challenge-bot report: cannot write {args.csv}: {error.strerror or error}", file=sys.stderr
            )
            return 2
        print(f"wrote {count} rows to {args.csv}", file=sys.stderr)
    return 0
