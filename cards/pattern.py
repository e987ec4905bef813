"""The pattern alert: one agency has received the policy's number of challenges within its days.

References only, never child data or what anyone wrote: it goes to the partnership's posts (the business
manager), who look at the challenges themselves. The numbers are the partnership's setting in its policy.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from zoneinfo import ZoneInfo

from cards.layout import Card, Element, card, facts, heading, section, text
from cards.text import plain
from cards.times import DEFAULT_ZONE, day, moment
from process.policy import Policy


def _words(policy: Policy, agency_name: str, count: int, start: datetime, end: datetime) -> tuple[str, str]:
    setting = policy.pattern_alert
    subject = f"{policy.short_name}: {count} challenges to {agency_name} since {day(start.astimezone(ZoneInfo(DEFAULT_ZONE)).date())}"
    happened = f"{count} challenges were raised with {agency_name} between {moment(start)} and {moment(end)}."
    if setting is not None:
        happened += (
            f" {policy.short_name} asks to be told of {setting.challenges} or more challenges to one agency "
            f"within {setting.within_days} days (the partnership's setting in its policy)."
        )
    return subject, happened


def _guidance(policy: Policy) -> list[Element]:
    """What the procedure says happens next, as its own words, when the policy gives them."""
    setting = policy.pattern_alert
    if setting is None or setting.guidance is None:
        return []
    return [section("What the procedure says"), text(plain(setting.guidance))]


def pattern_alert_card(
    policy: Policy,
    agency_name: str,
    references: Sequence[str],
    window_start: datetime,
    window_end: datetime,
) -> Card:
    """The card in the 1:1 chat of a person the policy's `pattern_alert.tell` names."""
    _subject, happened = _words(policy, plain(agency_name), len(references), window_start, window_end)
    return card(
        [
            heading(f"Repeated challenges to {plain(agency_name)}", size="Medium"),
            text(happened),
            section("The challenges"),
            facts([(str(i), plain(ref)) for i, ref in enumerate(references, start=1)]),
            *_guidance(policy),
            text(
                "Type show and a reference in your 1:1 chat with me to see any of them. You are told of this pattern "
                "once; a further alert comes only if as many more challenges follow.",
                subtle=True,
                size="Small",
            ),
        ]
    )


def pattern_alert_text(
    policy: Policy,
    agency_name: str,
    references: Sequence[str],
    window_start: datetime,
    window_end: datetime,
) -> tuple[str, str]:
    """The (subject, body) of the email for a mailbox, or for a person Teams cannot reach."""
    subject, happened = _words(policy, agency_name, len(references), window_start, window_end)
    lines = [
        happened,
        "",
        "The challenges:",
        *(f"  {ref}" for ref in references),
        "",
        *(
            [f"What the procedure says: {setting.guidance}", ""]
            if (setting := policy.pattern_alert) is not None and setting.guidance is not None
            else []
        ),
        "You are told of this pattern once; a further alert comes only if as many more challenges follow.",
    ]
    return subject, "\n".join(lines) + "\n"
