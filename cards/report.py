"""The monitoring report card (`report`): a partnership's figures over a chosen period, with the period and
partnership chosen on the card and Refresh to update it in place. Nothing on it names a child or quotes what
anyone wrote: references, stages, agencies, categories and counts only."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date

from cards import verbs
from cards.layout import Card, Element, card, choice_input, date_input, execute, facts, heading, section, text
from cards.text import plain
from process.monitoring import ENDINGS, LONDON, PRESETS, Statistics

#: How many rows of a long list (agencies, categories, Stage 3+ matters) the card shows; the CSV and the
#: dashboard have them all.
MAX_ROWS = 10


def _date(day: date) -> str:
    return f"{day.day} {day.strftime('%b %Y')}"


def _days(value: float | None) -> str:
    if value is None:
        return "none resolved"
    return f"{value:g} working day{'' if value == 1 else 's'}"


def report_card(
    stats: Statistics,
    *,
    partnerships: Sequence[tuple[str, str]],
    preset: str | None,
    since: str = "",
    until: str = "",
    notice: str | None = None,
) -> Card:
    """`stats` as a card; `partnerships` are the (id, name) pairs the person may choose from."""
    period = stats.period
    as_of = stats.as_of.astimezone(LONDON)
    body: list[Element] = []
    if notice:
        body.append(text(plain(notice), weight="Bolder", color="Attention"))
    body += [
        heading(f"Monitoring: {plain(stats.partnership)}", size="Medium"),
        text(
            f"{_date(period.since)} to {_date(period.last_day)}; open and overdue as at "
            f"{_date(as_of.date())}, {as_of.strftime('%H:%M')}. No child's details are shown.",
            subtle=True,
        ),
        facts(
            [
                ("Raised in the period", str(stats.raised)),
                ("Open", str(stats.open_total)),
                ("Overdue", str(stats.overdue)),
                ("Resolved", str(stats.ended_total("resolved") + stats.ended_total("closed"))),
                ("Withdrawn", str(stats.ended_total("withdrawn"))),
                ("Median time to resolution", _days(stats.median_working_days_to_resolution)),
                ("Stage 3 and beyond", str(len(stats.serious))),
            ]
        ),
        section("By stage: open (overdue); resolved, closed, withdrawn in the period"),
        facts(
            [
                (
                    f"{n}. {plain(name)}",
                    f"{stats.open_by_stage.get(n, 0)} open ({stats.overdue_by_stage.get(n, 0)} overdue); "
                    + ", ".join(f"{stats.ended.get(e, {}).get(n, 0)} {e}" for e in ENDINGS)
                    + f"; median {_days(stats.resolution_by_stage.get(n))}",
                )
                for n, name in sorted(stats.stage_names.items())
            ]
        ),
    ]
    body += _counts(
        "Challenged agencies (raised in the period)", [(c.label, c.count) for c in stats.by_agency]
    )
    body += _counts("Issue categories", [(c.label, c.count) for c in stats.by_category])
    body += _counts(
        f"Agencies challenged repeatedly ({sum(1 for _ in stats.repeated)})",
        [(r.agency, r.count) for r in stats.repeated],
    )
    body.append(section(f"Stage 3 and beyond ({len(stats.serious)})"))
    if stats.serious:
        body.append(
            facts(
                [
                    (
                        m.reference,
                        plain(f"stage {m.stage} ({m.status}), {m.agency}, raised {_date(m.raised_on)}"),
                    )
                    for m in stats.serious[-MAX_ROWS:]
                ]
            )
        )
        if len(stats.serious) > MAX_ROWS:
            body.append(text(f"The latest {MAX_ROWS} of {len(stats.serious)}.", subtle=True))
    else:
        body.append(text("None in this period.", subtle=True))
    body.append(section("Choose the period"))
    if len(partnerships) > 1:
        body.append(
            choice_input(
                "partnership",
                "Partnership",
                [(plain(name), pid) for pid, name in partnerships],
                value=stats.partnership_id,
            )
        )
    body += [
        choice_input(
            "period", "Period", list((title, value) for value, title in PRESETS), value=preset or ""
        ),
        date_input(
            "since", "Or from (first day; dates, when given, win over the period)", value=since or None
        ),
        date_input("until", "To (last day; empty: today)", value=until or None),
    ]
    data = {} if len(partnerships) > 1 else {"partnership": stats.partnership_id}
    return card(body, actions=[execute("Refresh", verbs.REPORT_REFRESH, data, style="positive")])


def _counts(title: str, rows: Sequence[tuple[str, int]]) -> list[Element]:
    out = [section(title)]
    if not rows:
        return [*out, text("None in this period.", subtle=True)]
    out.append(facts([(plain(label), str(count)) for label, count in rows[:MAX_ROWS]]))
    if len(rows) > MAX_ROWS:
        rest = sum(count for _, count in rows[MAX_ROWS:])
        out.append(text(f"And {len(rows) - MAX_ROWS} more with {rest} between them.", subtle=True))
    return out
