"""Who has been told of a change, and how: for the person who made it, and on the parties' challenge card.

Only what the outbox records is said: "told" once Teams or the mail server accepted the message, "to be told"
while it waits, "could not be told" once delivery was given up. Names only (of professionals and mailboxes),
never the child's details; these words appear only on a party's card in their own 1:1 chat.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Literal

from cards.layout import Element, text
from cards.text import and_list, plain
from cards.times import moment

Progress = Literal["told", "pending", "failed"]
CHANNEL_WORDS = {"teams": "Teams", "email": "email"}


@dataclass(frozen=True)
class Telling:
    """One person or mailbox being told of a change, and how far that has got."""

    name: str
    progress: Progress
    #: How they were told ("teams", "email"), or for one still to be told, the way tried first (None: the
    #: directory gives no way to reach them).
    channel: str | None
    at: datetime | None = None
    #: For one who could not be told: who a report of it was sent to (the outbox's report rows, chosen by
    #: `process.delivery.report_recipients`), and of those, whom it has reached.
    report_to: tuple[str, ...] = ()
    report_reached: tuple[str, ...] = ()
    #: For one still to be told only by email: this service has no email set up, so email cannot reach them.
    no_email: bool = False


def told_notice(tellings: Sequence[Telling]) -> str:
    """One or two sentences on who is told of the change just made: "2 to be told: Charlie Challenged
    (Teams), Business Manager for QRT (email). This card shows when each has been told."."""
    if not tellings:
        return "Nobody else needs to be told of this."
    told = [t for t in tellings if t.progress == "told"]
    pending = [t for t in tellings if t.progress == "pending" and not t.no_email]
    no_email = [t for t in tellings if t.progress == "pending" and t.no_email]
    failed = [t for t in tellings if t.progress == "failed"]
    parts: list[str] = []
    if told:
        parts.append(f"Told: {_names(told)}.")
    if pending:
        parts.append(f"{len(pending)} to be told: {_names(pending)}.")
    if no_email:
        parts.append(
            f"Cannot be told by email, as this service has no email set up: {', '.join(t.name for t in no_email)}"
            "; please reach them another way."
        )
    if failed:
        parts.append(
            "Could not be told: " + "; ".join(f"{t.name} ({_report_words(t)})" for t in failed) + "."
        )
    if pending:
        parts.append("This card shows when each has been told.")
    return " ".join(parts)


def told_section(tellings: Sequence[Telling], zone: str) -> list[Element]:
    """The card's list of who has been told of the latest change, and who is still to be told."""
    if not tellings:
        return []
    out: list[Element] = [text("Who has been told of the latest change", weight="Bolder", spacing="Medium")]
    for t in tellings:
        out.append(text(plain(f"{t.name}: {_progress(t, zone)}"), spacing="None"))
    return out


def _names(tellings: Sequence[Telling]) -> str:
    return ", ".join(
        f"{t.name} ({CHANNEL_WORDS.get(t.channel or '', 'no Teams or email known')})" for t in tellings
    )


def _progress(t: Telling, zone: str) -> str:
    if t.progress == "told":
        how = "in Teams" if t.channel == "teams" else "by email"
        return f"told {how}" + (f", {moment(t.at, zone)}" if t.at is not None else "")
    if t.progress == "failed":
        if t.report_reached:
            return f"could not be told; {and_list(t.report_reached)} told of it, to reach them another way"
        return f"could not be told; {_report_words(t)}"
    if t.no_email:
        return "cannot be told by email: this service has no email set up; reach them another way"
    if t.channel is None:
        return "not told yet: the directory has no Teams account or email address for them"
    return f"not told yet ({CHANNEL_WORDS.get(t.channel, t.channel)})"


def _report_words(t: Telling) -> str:
    if t.report_to:
        return f"a report goes to {and_list(t.report_to)}"
    return "nobody could be sent a report of it: please make sure they know another way"
