"""The monitoring report card: valid Adaptive Card JSON, every figure, long lists cut, names shown as typed."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

from cards.report import MAX_ROWS, report_card
from process.calendar import WorkingCalendar
from process.directory import Agency, Directory
from process.monitoring import ChallengeFacts, Period, StageSpan, Statistics, compute
from process.policy import load_policy
from tests.cardcheck import assert_valid_card
from tests.teams.harness import texts, walk

DURHAM = load_policy("durham")
NOW = datetime(2026, 11, 30, 12, tzinfo=UTC)
PERIOD = Period(date(2026, 1, 1), date(2026, 12, 1))


def _stats(count: int, agencies: list[Agency]) -> Statistics:
    rows = []
    for i in range(count):
        raised = datetime(2026, 2, 2, 10, tzinfo=UTC) + timedelta(days=i)
        spans = tuple(
            StageSpan(
                n,
                raised + timedelta(days=n - 1),
                raised + timedelta(days=n),
                None if n == 3 else raised + timedelta(days=n),
                None,
            )
            for n in (1, 2, 3)
        )
        rows.append(
            ChallengeFacts(
                f"DUR-2026-{i:04d}",
                "durham",
                "open",
                3,
                raised,
                None,
                agencies[i % len(agencies)].id,
                "other",
                spans,
            )
        )
    directory = Directory.build([], agencies)
    return compute(rows, DURHAM, WorkingCalendar("ENG"), directory, PERIOD, NOW)


def test_an_empty_partnership() -> None:
    stats = _stats(0, [Agency("a", "A", "durham")])
    card = report_card(stats, partnerships=[("durham", DURHAM.partnership)], preset="12m")
    assert_valid_card(card)
    shown = texts(card)
    assert "Median time to resolution\nnone resolved" in shown and shown.count("None in this period.") == 4
    assert not any(n.get("id") == "partnership" for n in walk(card))  # one partnership: nothing to choose


def test_many_agencies_and_matters_are_cut_and_names_are_shown_as_typed() -> None:
    agencies = [Agency(f"a{i}", f"**Agency** [{i}](http://x)", "durham") for i in range(MAX_ROWS + 5)]
    stats = _stats(60, agencies)
    card = report_card(
        stats, partnerships=[("durham", "Durham"), ("rochdale", "Rochdale")], preset="12m", notice="Heads up."
    )
    assert_valid_card(card)
    shown = texts(card)
    assert "\\*\\*Agency\\*\\* \\[0\\]\\(http://x\\)" in shown and "**Agency**" not in shown
    assert "And 5 more with" in shown and f"The latest {MAX_ROWS} of 60." in shown
    assert "DUR-2026-0059" in shown and "DUR-2026-0049" not in shown
    assert "3. DSCP Business Manager and Agency Safeguarding Lead" in shown
    assert shown.startswith("Heads up.")


def test_the_moment_of_the_figures_is_written_as_the_period_is_in_london_time() -> None:
    directory = Directory.build([], [Agency("a", "A", "durham")])
    for now, said in (
        (datetime(2026, 11, 3, 9, 5, tzinfo=UTC), "as at 3 Nov 2026, 09:05."),
        (datetime(2026, 7, 3, 9, 5, tzinfo=UTC), "as at 3 Jul 2026, 10:05."),  # British Summer Time
    ):
        stats = compute([], DURHAM, WorkingCalendar("ENG"), directory, PERIOD, now)
        shown = texts(report_card(stats, partnerships=[("durham", DURHAM.partnership)], preset="12m"))
        assert f"1 Jan 2026 to 30 Nov 2026; open and overdue {said}" in shown
