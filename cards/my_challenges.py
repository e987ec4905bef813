"""A person's open challenges: which agency and professional each is about, its issue, what stage it is at,
when it is due and whose move it is.

Reference-level facts only (no child names), so the list is safe to glance at; "Show" opens the full card.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import datetime

from cards import inputs as ids
from cards import verbs
from cards.commands import raise_button
from cards.describe import is_awaited, stage_title
from cards.layout import Card, Element, action_set, card, columns, container, execute, heading, text
from cards.text import plain
from cards.times import is_overdue, moment, time_left
from process.calendar import WorkingCalendar
from process.challenge import Challenge
from process.directory import Directory
from process.policy import Policy

#: The most challenges listed on one card; Teams refuses cards much over 28 KB.
LIST_LIMIT = 30

EMPTY_TEXT = "You have no open challenges. Type raise to start one."


def my_challenges_card(
    rows: Sequence[tuple[Challenge, Policy]],
    *,
    viewer_id: str,
    calendar_for: Callable[[Policy], WorkingCalendar],
    now: datetime,
    whose_move: Callable[[Challenge], str],
    directory: Directory,
) -> Card:
    """Each open challenge in `rows`, soonest due first, with a Show button; a short note if none."""
    open_rows = [(c, p) for c, p in rows if c.is_open]
    if not open_rows:
        return card([heading("Your challenges", size="Medium"), text(EMPTY_TEXT)], actions=[raise_button()])
    far = datetime.max.replace(tzinfo=now.tzinfo)
    open_rows.sort(key=lambda row: (row[0].due_at or far, row[0].reference))
    body: list[Element] = [heading(f"Your open challenges ({len(open_rows)})", size="Medium")]
    for challenge, policy in open_rows[:LIST_LIMIT]:
        body.append(
            _row(challenge, policy, viewer_id, calendar_for(policy), now, whose_move(challenge), directory)
        )
    hidden = len(open_rows) - LIST_LIMIT
    if hidden > 0:
        body.append(
            text(f"{hidden} more not shown here: type show and a reference to open one.", subtle=True)
        )
    return card(body)


def _row(
    challenge: Challenge,
    policy: Policy,
    viewer_id: str,
    calendar: WorkingCalendar,
    now: datetime,
    move: str,
    directory: Directory,
) -> Element:
    title = plain(challenge.reference) + (" · urgent" if challenge.urgent else "")
    agency = directory.agency(challenge.challenged_agency_id)
    professional = challenge.parties.get(policy.challenged_role)
    category = policy.category(challenge.issue_category)
    about = " · ".join(
        part
        for part in (
            agency.name if agency else challenge.challenged_agency_id,
            professional.name if professional else "",
        )
        if part
    )
    lines: list[Element] = [
        text(title, weight="Bolder"),
        text(plain(f"Challenge to {about}"), spacing="None"),
    ]
    if challenge.issue_category:
        issue = category.label if category else challenge.issue_category
        lines.append(text(plain(f"Issue: {issue}"), spacing="None"))
    lines.append(text(plain(f"{policy.short_name} · {stage_title(policy, challenge.stage)}"), spacing="None"))
    due = challenge.due_at
    if due is None:
        lines.append(text("No time limit at this stage", spacing="None", subtle=True))
    else:
        lines.append(
            text(
                plain(f"Due {moment(due, calendar.timezone)} · {time_left(calendar, now, due)}"),
                spacing="None",
                color="Attention" if is_overdue(now, due) else None,
            )
        )
    yours = is_awaited(challenge, policy, viewer_id)
    lines.append(
        text(
            plain(f"Your move: {move}" if yours else f"Whose move: {move}"),
            spacing="None",
            weight="Bolder" if yours else None,
        )
    )
    show = execute("Show", verbs.SHOW, {ids.REFERENCE: challenge.reference}, inputs="none")
    return container(
        [columns((lines, "stretch"), ([action_set([show])], "auto"))], spacing="Medium", separator=True
    )
