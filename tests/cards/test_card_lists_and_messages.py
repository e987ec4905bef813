"""The welcome, help and message cards, and a person's list of open challenges."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from cards import verbs
from cards.describe import whose_move
from cards.errors import message_card
from cards.help import help_card
from cards.my_challenges import EMPTY_TEXT, my_challenges_card
from cards.welcome import welcome_card
from process.challenge import Challenge
from process.engine import calendar_for
from process.policy import Retention, Role
from tests.cardcheck import assert_valid_card
from tests.cards.scenarios import (
    DIRECTORY,
    POLICIES,
    PRIVATE_STRINGS,
    all_states,
    button_actions,
    escalated_to,
    everything,
    raised,
    readable,
)

BOTH = list(POLICIES.values())


def test_welcome_says_what_the_bot_is_for_and_puts_immediate_risk_first() -> None:
    card = welcome_card(BOTH)
    assert_valid_card(card)
    words = readable(card)
    risk = card["body"][2]
    assert risk["type"] == "Container" and risk["style"] == "attention"
    risk_words = readable(risk)
    assert "A child at immediate risk is not a challenge." in risk_words
    for policy in BOTH:
        assert " ".join(policy.immediate_risk.split()) in " ".join(risk_words.split())
        assert " ".join(policy.not_for_complaints.split()) in " ".join(words.split())
    assert "Rochdale EHASH, 01706 925 879" in risk_words
    for command in ("help", "raise", "my challenges", "show <reference>", "cancel"):
        assert f"{command}: " in words
    assert "references start DUR- or RBS-" in words
    assert [(a["title"], a["verb"]) for a in card["actions"]] == [("Raise a challenge", verbs.RAISE_START)]


def test_welcome_for_one_partnership_speaks_of_its_procedure_only() -> None:
    words = readable(welcome_card([POLICIES["rochdale"]]))
    assert "Rochdale Borough Safeguarding Children Partnership" in words
    assert "Durham" not in words


def test_welcome_says_how_long_records_are_kept_only_as_each_policy_says() -> None:
    words = readable(welcome_card(BOTH))
    # Neither shipped procedure sets a retention period, so the card says records are kept.
    assert (
        "DSCP: records are kept. No retention period is set by Durham Safeguarding Children Partnership's "
        "procedure, so nothing is erased automatically."
    ) in words
    assert "RBSCP: records are kept." in words
    own = POLICIES["rochdale"].model_copy(
        update={
            "retention": Retention(
                closed_for="7 years", justification="Agreed by the RBSCP executive on 1 May 2026."
            )
        }
    )
    card = welcome_card([own])
    assert_valid_card(card)
    assert (
        "RBSCP: a challenge's child details and everything written in it are erased 7 years after it ends. "
        "Rochdale Borough Safeguarding Children Partnership's reason: Agreed by the RBSCP executive on 1 May "
        "2026."
    ) in readable(card)
    assert "records are kept." not in readable(card)


def test_help_lists_the_commands() -> None:
    card = help_card(BOTH)
    assert_valid_card(card)
    words = readable(card)
    assert "I didn't understand" not in words
    for command in ("help", "raise", "my challenges", "show <reference>", "cancel"):
        assert f"{command}: " in words
    assert verbs.RAISE_START in {a["verb"] for a in card["actions"]}


def test_help_for_an_unknown_message_quotes_it_shortened_and_escaped_first() -> None:
    typed = "[click](https://evil.example) " + "please " * 20
    card = help_card(BOTH, unknown=typed)
    assert_valid_card(card)
    first = card["body"][0]["text"]
    assert first.startswith(r"I didn't understand '\[click\]\(https://evil.example\) please")
    quoted = readable({"body": [card["body"][0]]}).removeprefix("I didn't understand '").removesuffix("'.")
    assert len(quoted) == 60 and quoted.endswith("…")


def test_message_card_escapes_what_it_quotes() -> None:
    card = message_card("Not permitted", "Only the **raiser** can [withdraw](x).")
    assert_valid_card(card)
    assert readable(card) == "Not permitted\nOnly the **raiser** can [withdraw](x)."
    assert card["body"][1]["text"] == r"Only the \*\*raiser\*\* can \[withdraw\]\(x\)."


def _list(challenges: list[Challenge], viewer: str, now: datetime) -> dict[str, Any]:
    return my_challenges_card(
        [(c, POLICIES[c.policy_id]) for c in challenges],
        viewer_id=viewer,
        calendar_for=calendar_for,
        now=now,
        whose_move=lambda c: whose_move(c, POLICIES[c.policy_id]),
        directory=DIRECTORY,
    )


def test_my_challenges_lists_open_ones_soonest_due_first_with_a_show_button() -> None:
    states = dict(all_states())
    durham_2 = escalated_to("durham", 2)
    rochdale_1 = raised("rochdale")
    resolved = states["durham: stage 1 resolved"]
    viewer = "durham_raiser"
    now = durham_2.now
    card = _list([rochdale_1.challenge, durham_2.challenge, resolved.challenge], viewer, now)
    assert_valid_card(card)
    shows = [a for a in button_actions(card) if a["verb"] == verbs.SHOW]
    assert [a["data"] for a in shows] == [{"reference": "DUR-2026-0042"}, {"reference": "RBS-2026-0042"}]
    words = readable(card)
    assert "Your open challenges (2)" in words
    assert "DSCP · Stage 2 of 5 — Line Manager" in words
    assert "Due Thu 26 Nov 2026, 17:00 · 3 working days left" in words
    assert "Whose move: Morgan Challengedline (Line Manager), to respond" in words
    assert "RBSCP · Stage 1 of 4 — Practitioner to Practitioner" in words
    # Which agency and professional each is about, and the issue, in the form's words.
    assert "Challenge to Challenged Agency · Charlie Challenged" in words
    assert "Issue: Lack of report" in words
    assert "Issue: Safeguarding arrangements and procedures not being appropriately applied" in words
    for private in PRIVATE_STRINGS:
        assert private not in everything(card)


def test_my_challenges_marks_the_viewers_own_move_and_overdue_stages() -> None:
    walk = escalated_to("durham", 2)
    due = walk.challenge.due_at
    assert due is not None
    card = _list([walk.challenge], walk.by(Role.CHALLENGED_LINE_MANAGER), due + timedelta(hours=1))
    assert_valid_card(card)
    words = readable(card)
    assert "Your move: Morgan Challengedline (Line Manager), to respond" in words
    overdue = next(e for e in card["body"][1]["items"][0]["columns"][0]["items"] if "Overdue" in e["text"])
    assert overdue["color"] == "Attention"
    assert "Overdue since Thu 26 Nov 2026, 17:00" in overdue["text"]


def test_my_challenges_with_none_open_says_how_to_start() -> None:
    resolved = dict(all_states())["durham: stage 1 resolved"]
    card = _list([resolved.challenge], "durham_raiser", resolved.now)
    assert_valid_card(card)
    assert EMPTY_TEXT == "You have no open challenges. Type raise to start one."
    assert EMPTY_TEXT in readable(card)
    assert card["actions"][0]["verb"] == verbs.RAISE_START
    assert_valid_card(_list([], "durham_raiser", resolved.now))


def test_words_the_procedure_does_not_contain_are_marked_as_this_services_own() -> None:
    from cards.welcome import welcome_card
    from process.policy import load_policy

    durham, rochdale = load_policy("durham"), load_policy("rochdale")
    words = " ".join(readable(welcome_card([durham, rochdale])).split())
    # Durham's procedure names no immediate-risk route; Rochdale's (EHASH) is its own words.
    assert "This service's guidance: the DSCP procedure does not say this." in words
    assert " ".join(rochdale.immediate_risk.split()) + " (This service" not in words
    # Durham's complaints line is the procedure's (section 3); Rochdale's is not.
    assert "This service's guidance: the RBSCP procedure does not say this." in words


def test_the_retention_period_is_said_in_good_english_however_the_policy_spells_it() -> None:
    # The policy's pattern lets "1 years" and "6 month" through: the card says "1 year" and "6 months".
    for written, said in (
        ("1 years", "1 year after"),
        ("6 month", "6 months after"),
        ("1 month", "1 month after"),
    ):
        own = POLICIES["rochdale"].model_copy(
            update={
                "retention": Retention(
                    closed_for=written, justification="Agreed by the RBSCP executive on 1 May 2026."
                )
            }
        )
        assert f"erased {said} it ends" in readable(welcome_card([own]))
