"""The pattern alert's card and email: valid, in London time, references only, and safe with strange names."""

from __future__ import annotations

import json
from datetime import UTC, datetime

from cards.pattern import pattern_alert_card, pattern_alert_text
from process.policy import load_policy
from tests.cardcheck import assert_valid_card

DURHAM = load_policy("durham")
REFERENCES = ("DUR-2026-0001", "DUR-2026-0004", "DUR-2026-0009")
START = datetime(2026, 6, 1, 8, 30, tzinfo=UTC)  # 09:30 in London (summer time)
END = datetime(2026, 7, 14, 16, 0, tzinfo=UTC)


def test_the_card_is_valid_and_names_the_agency_window_rule_and_references() -> None:
    card = pattern_alert_card(DURHAM, "Health Visiting Service", REFERENCES, START, END)
    assert_valid_card(card)
    words = json.dumps(card, ensure_ascii=False)
    assert "Repeated challenges to Health Visiting Service" in words
    assert "3 challenges were raised with Health Visiting Service between Mon 1 Jun 2026, 09:30 and " in words
    assert (
        "3 or more challenges to one agency within 90 days (the partnership's setting in its policy)" in words
    )
    assert all(reference in words for reference in REFERENCES)


def test_the_email_lists_the_references() -> None:
    subject, body = pattern_alert_text(DURHAM, "Ysgol Gymraeg Aberllyn 🌻", REFERENCES, START, END)
    assert subject == "DSCP: 3 challenges to Ysgol Gymraeg Aberllyn 🌻 since Mon 1 Jun 2026"
    assert body.splitlines()[2:6] == ["The challenges:", *(f"  {r}" for r in REFERENCES)]


def test_an_agency_name_with_markdown_shows_as_written_on_the_card() -> None:
    card = pattern_alert_card(DURHAM, "**Bold** [link](https://example.org)", REFERENCES, START, END)
    assert_valid_card(card)
    assert "**Bold**" not in json.dumps(card) and "\\\\*\\\\*Bold" in json.dumps(card)


def test_the_card_says_the_post_holder_may_open_every_challenge_it_lists() -> None:
    # Only the partnership's posts are told (the policy refuses any other role), and they may see every
    # challenge of their partnership: the card must not suggest they can open only those they take part in.
    words = json.dumps(pattern_alert_card(DURHAM, "Health Visiting Service", REFERENCES, START, END))
    assert "Type show and a reference in your 1:1 chat with me to see any of them." in words
    assert "take part in" not in words
