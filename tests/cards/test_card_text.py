"""The small pieces every card relies on: safe text, local times and deadlines, verbs and input ids."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from cards import inputs as ids
from cards import verbs
from cards.layout import card, text
from cards.text import plain, shorten
from cards.times import day, moment, time_left
from process.challenge import ActionKind
from process.engine import PERSON_ACTIONS, calendar_for
from process.policy import load_policy
from tests.cardcheck import assert_valid_card
from tests.cards.scenarios import unescape

CALENDAR = calendar_for(load_policy("durham"))


@pytest.mark.parametrize(
    ("typed", "escaped"),
    [
        ("[click here](https://evil.example)", r"\[click here\]\(https://evil.example\)"),
        ("![img](https://evil.example/x.png)", r"!\[img\]\(https://evil.example/x.png\)"),
        ("**bold** and _italic_", r"\*\*bold\*\* and \_italic\_"),
        ("# Heading", r"\# Heading"),
        ("> quoted", r"\> quoted"),
        ("- item\n+ item\n* item", "\\- item\n\\+ item\n\\* item"),
        ("  - indented item", r"  \- indented item"),
        ("1. first\n2. second", "1\\. first\n2\\. second"),
        ("1) first", r"1\) first"),
        ("`code`", r"\`code\`"),
        ("<b>bold</b> <https://evil.example>", r"\<b\>bold\</b\> \<https://evil.example\>"),
        (r"C:\path\[x]", r"C:\\path\\\[x\]"),
        ("line one\r\nline two\rline three", "line one\nline two\nline three"),
        ("bell\x07 and nul\x00 gone\ttab kept", "bell and nul gone\ttab kept"),
    ],
)
def test_plain_escapes_markdown_that_would_change_what_is_shown(typed: str, escaped: str) -> None:
    assert plain(typed) == escaped


@pytest.mark.parametrize(
    "typed",
    [
        "Riley Raiser's report - due 24.11.2026, costs 5-10 + 3.",
        "Stage 3 - Senior Manager to Senior Manager",
        "Ordinary words, numbers 12.5 and an email a.b@example.org",
        "",
    ],
)
def test_plain_leaves_ordinary_text_alone(typed: str) -> None:
    assert plain(typed) == typed


@pytest.mark.parametrize(
    "typed", ["[x](y) **z** # h", "- a\n1. b\n> c", "\\[not a link](z)", "<script>alert(1)</script>"]
)
def test_escaped_text_reads_back_exactly_as_typed(typed: str) -> None:
    assert unescape(plain(typed)) == typed


def test_escaped_text_is_a_valid_card() -> None:
    assert_valid_card(card([text(plain("[x](javascript:alert(1)) <img src=x> **b**\n# h\n- l"))]))


def test_shorten_cuts_with_an_ellipsis_only_when_needed() -> None:
    assert shorten("short", 10) == "short"
    assert shorten("a longer sentence here", 10) == "a longer…"
    assert len(shorten("x" * 100, 10)) == 10


def test_times_are_shown_in_london_time_across_the_clock_change() -> None:
    assert moment(datetime(2026, 11, 24, 17, 0, tzinfo=UTC)) == "Tue 24 Nov 2026, 17:00"
    assert moment(datetime(2026, 6, 2, 16, 0, tzinfo=UTC)) == "Tue 2 Jun 2026, 17:00"
    assert day(datetime(2019, 3, 14).date(), weekday=False) == "14 Mar 2019"


def test_time_left_counts_working_days_and_says_overdue_plainly() -> None:
    due = datetime(2026, 11, 26, 17, 0, tzinfo=UTC)  # Thursday
    assert time_left(CALENDAR, datetime(2026, 11, 23, 10, 0, tzinfo=UTC), due) == "3 working days left"
    assert time_left(CALENDAR, datetime(2026, 11, 25, 10, 0, tzinfo=UTC), due) == "1 working day left"
    assert time_left(CALENDAR, datetime(2026, 11, 26, 9, 0, tzinfo=UTC), due) == "Due today at 17:00"
    assert time_left(CALENDAR, due, due) == "Overdue since Thu 26 Nov 2026, 17:00"
    friday = datetime(2026, 11, 27, 17, 0, tzinfo=UTC)
    saturday = datetime(2026, 11, 28, 12, 0, tzinfo=UTC)
    monday = datetime(2026, 11, 30, 17, 0, tzinfo=UTC)
    assert time_left(CALENDAR, saturday, monday) == "1 working day left"
    assert time_left(CALENDAR, saturday, friday) == "Overdue since Fri 27 Nov 2026, 17:00"


def test_christmas_bank_holidays_do_not_count_as_working_days_left() -> None:
    due = datetime(2026, 12, 29, 17, 0, tzinfo=UTC)  # Tuesday; Fri 25 and Mon 28 Dec are bank holidays
    assert time_left(CALENDAR, datetime(2026, 12, 24, 10, 0, tzinfo=UTC), due) == "1 working day left"


def test_every_person_action_has_its_own_verb() -> None:
    assert set(verbs.ACTION_VERBS) == set(PERSON_ACTIONS)
    assert len(set(verbs.ACTION_VERBS.values())) == len(PERSON_ACTIONS)
    assert ActionKind.REMIND not in verbs.ACTION_VERBS
    assert verbs.ACTION_VERBS[ActionKind.HAND_OVER] == "challenge.handover"


def test_action_inputs_are_read_back_under_the_engines_field_names() -> None:
    data = {"challengeId": "c1", "version": 3}
    assert ids.action_inputs(verbs.PROPOSE, {**data, "proposed_outcome": "Plan"}) == {**data, "text": "Plan"}
    assert ids.action_inputs(verbs.WITHDRAW, {**data, "withdraw_reason": "Sorted"}) == {
        **data,
        "reason": "Sorted",
    }
    assert ids.action_inputs(
        verbs.HAND_OVER, {"role": "raiser", "to_person_id": "p", "handover_note": "n"}
    ) == {
        "role": "raiser",
        "to_person_id": "p",
        "note": "n",
    }
    assert ids.action_inputs(verbs.RESPOND, {**data, "text": "Reply"}) == {**data, "text": "Reply"}
    assert ids.raise_entry_id("stage_3_steps") == "entry_stage_3_steps"
