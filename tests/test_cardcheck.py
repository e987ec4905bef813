"""The card-checking harness itself: Teams cards pass clean; broken cards fail with a helpful message."""

from __future__ import annotations

import json
import subprocess
import time
from pathlib import Path
from typing import Any

import pytest

from tests.cardcheck import SCRIPT, CardValidator, assert_valid_card, validate_card


def _card(
    body: list[dict[str, Any]], actions: list[dict[str, Any]] | None = None, **extra: Any
) -> dict[str, Any]:
    card: dict[str, Any] = {"type": "AdaptiveCard", "version": "1.5", "body": body, **extra}
    if actions is not None:
        card["actions"] = actions
    return card


def _teams_challenge_card() -> dict[str, Any]:
    """Shaped like the bot's own cards: full width, refreshed per user, answered with Action.Execute."""
    return _card(
        [
            {
                "type": "TextBlock",
                "text": "Professional challenge PC-0042",
                "size": "Large",
                "weight": "Bolder",
            },
            {"type": "TextBlock", "text": "Stage 2 — line manager's response due 14 March", "wrap": True},
            {
                "type": "FactSet",
                "facts": [{"title": "Raised by", "value": "Alex Wilber, Northshire IRO service"}],
            },
            {
                "type": "ColumnSet",
                "columns": [
                    {"type": "Column", "width": "auto", "items": [{"type": "TextBlock", "text": "Agency"}]},
                    {
                        "type": "Column",
                        "width": "stretch",
                        "items": [{"type": "TextBlock", "text": "Health"}],
                    },
                ],
            },
            {
                "type": "Table",
                "columns": [{"width": 1}, {"width": 2}],
                "rows": [
                    {
                        "type": "TableRow",
                        "cells": [
                            {"type": "TableCell", "items": [{"type": "TextBlock", "text": "Stage 1"}]},
                            {"type": "TableCell", "items": [{"type": "TextBlock", "text": "Not resolved"}]},
                        ],
                    }
                ],
            },
            {
                "type": "Input.Text",
                "id": "response",
                "label": "Your response",
                "isMultiline": True,
                "isRequired": True,
                "errorMessage": "Say how your agency will respond",
            },
            {
                "type": "Input.ChoiceSet",
                "id": "outcome",
                "label": "Outcome",
                "style": "expanded",
                "choices": [
                    {"title": "Resolved", "value": "resolved"},
                    {"title": "Escalate", "value": "escalate"},
                ],
            },
            {"type": "Input.Date", "id": "meeting", "label": "Meeting date"},
            {
                "type": "Container",
                "selectAction": {"type": "Action.Execute", "verb": "open", "data": {"challengeId": 42}},
                "items": [{"type": "TextBlock", "text": "Open the full record"}],
            },
        ],
        [
            {
                "type": "Action.Execute",
                "title": "Send response",
                "verb": "respond",
                "data": {"challengeId": 42, "version": 3},
                "associatedInputs": "auto",
            },
            {
                "type": "Action.Submit",
                "title": "Help",
                "data": {"msteams": {"type": "messageBack", "text": "help"}},
            },
            {
                "type": "Action.OpenUrl",
                "title": "Procedure",
                "url": "https://northshire-scp.example/procedure",
            },
            {
                "type": "Action.ShowCard",
                "title": "Withdraw",
                "card": {"type": "AdaptiveCard", "body": [{"type": "TextBlock", "text": "Withdraw it?"}]},
            },
            {"type": "Action.ToggleVisibility", "title": "Details", "targetElements": ["meeting"]},
        ],
        msteams={"width": "Full"},
        refresh={
            "action": {"type": "Action.Execute", "verb": "refresh", "data": {"challengeId": 42}},
            "userIds": ["00000000-0000-0000-0000-0000000000020"],
        },
    )


def test_a_teams_flavoured_card_with_universal_actions_is_clean() -> None:
    assert validate_card(_teams_challenge_card()) == []


def test_action_execute_parses_without_events() -> None:
    card = _card(
        [{"type": "TextBlock", "text": "x"}], [{"type": "Action.Execute", "title": "Go", "verb": "go"}]
    )

    assert validate_card(card) == []


def test_people_picker_choice_set_is_accepted_as_teams_renders_it() -> None:
    picker = {
        "type": "Input.ChoiceSet",
        "id": "challenged",
        "label": "Who is the challenge to?",
        "choices": [],
        "choices.data": {"type": "Data.Query", "dataset": "graph.microsoft.com/users"},
    }

    assert validate_card(_card([picker])) == []


def test_choice_set_with_no_choices_and_no_query_is_refused() -> None:
    (problem,) = validate_card(_card([{"type": "Input.ChoiceSet", "id": "c", "label": "C", "choices": []}]))

    assert problem.startswith("Validation/CollectionCantBeEmpty") and 'Input.ChoiceSet "c"' in problem


@pytest.mark.parametrize(
    ("card", "expected"),
    [
        (_card([{"type": "Foo"}]), 'Parse/UnknownElementType: Unknown element type "Foo"'),
        (
            _card([], [{"type": "Action.Bar", "title": "x"}]),
            'Parse/UnknownActionType: Unknown action type "Action.Bar"',
        ),
        (
            _card(
                [
                    {"type": "Input.Text", "id": "why", "label": "A"},
                    {"type": "Input.Text", "id": "why", "label": "B"},
                ]
            ),
            'Validation/DuplicateId: Duplicate Id "why"',
        ),
        (
            _card([{"type": "Input.Text", "label": "No id"}]),
            "Validation/PropertyCantBeNull: All inputs must have a unique Id",
        ),
        (
            _card([{"type": "TextBlock", "text": "x", "size": "Huge"}]),
            'Invalid value "Huge" for property "size"',
        ),
        (
            {**_card([]), "version": "1.6"},
            "UnsupportedCardVersion: The specified card version (1.6) is not supported",
        ),
        (_card([{"type": "Carousel", "pages": []}]), 'Unknown element type "Carousel"'),
        (
            _card([{"type": "Input.Text", "id": "a", "label": "A", "labelPosition": "inline"}]),
            'Property "labelPosition" is supported in version 1.6, but you are using version 1.5',
        ),
        (
            _card([{"type": "Input.Text", "id": "a", "isRequired": True}]),
            "Validation/RequiredInputsShouldHaveLabel",
        ),
        (
            _card([], refresh={"action": {"type": "Action.Submit", "title": "x"}}),
            'Action type "Action.Submit" is not allowed in this context',
        ),
        (_card([], [{"type": "Action.OpenUrl", "title": "x"}]), 'Property "url" must be set'),
        ({"version": "1.5", "body": []}, 'Root/MissingCardType: "type" must be "AdaptiveCard"'),
        ({"type": "AdaptiveCard", "body": []}, 'Root/PropertyCantBeNull: "version" must be set'),
    ],
    ids=[
        "unknown-element",
        "unknown-action",
        "duplicate-input-id",
        "input-without-id",
        "value-outside-enum",
        "card-version-above-1.5",
        "element-from-1.6",
        "property-from-1.6",
        "required-input-without-label",
        "submit-as-refresh-action",
        "open-url-without-url",
        "missing-card-type",
        "missing-version",
    ],
)
def test_broken_card_is_reported_with_what_is_wrong(card: dict[str, Any], expected: str) -> None:
    problems = validate_card(card)

    assert any(expected in problem for problem in problems), problems


def test_assert_valid_card_fails_listing_each_problem_and_the_card() -> None:
    card = _card(
        [
            {"type": "Foo"},
            {"type": "Input.Text", "id": "x"},
            {"type": "Input.Toggle", "id": "x", "title": "t"},
        ]
    )

    with pytest.raises(AssertionError) as failure:
        assert_valid_card(card)

    message = str(failure.value)
    assert "Adaptive Card has 2 problem(s) (adaptivecards 3.0.6, schema 1.5)" in message
    assert 'Unknown element type "Foo"' in message
    assert 'Duplicate Id "x"' in message
    assert '"type": "Input.Toggle"' in message


def test_assert_valid_card_passes_a_clean_card() -> None:
    assert_valid_card(_teams_challenge_card())


def test_fixture_gives_the_shared_validator(card_validator: CardValidator) -> None:
    assert card_validator.validate(_card([{"type": "TextBlock", "text": "Témoin — “quoted” ✓"}])) == []
    assert card_validator.library_version == "3.0.6"
    assert card_validator.target_version == "1.5"


def test_a_non_object_card_is_a_problem_not_a_crash() -> None:
    assert validate_card([{"type": "AdaptiveCard"}]) == ["Root: the card must be a JSON object"]  # type: ignore[arg-type]


def test_a_closed_validator_starts_again_on_the_next_card() -> None:
    validator = CardValidator()
    try:
        assert validator.validate(_card([{"type": "Foo"}])) != []
        validator.close()
        assert validator.validate(_card([])) == []
    finally:
        validator.close()


def test_hundreds_of_cards_are_checked_in_well_under_a_second_each() -> None:
    cards = [_teams_challenge_card() for _ in range(300)]
    validate_card(cards[0])

    started = time.perf_counter()
    results = [validate_card(card) for card in cards]
    elapsed = time.perf_counter() - started

    assert all(problems == [] for problems in results)
    assert elapsed / len(cards) < 0.05, f"{elapsed / len(cards) * 1000:.1f} ms a card"


def test_script_checks_card_files_from_the_command_line(tmp_path: Path) -> None:
    good, bad = tmp_path / "good.json", tmp_path / "bad.json"
    good.write_text(json.dumps(_teams_challenge_card()))
    bad.write_text(json.dumps(_card([{"type": "Foo"}])))

    result = subprocess.run(
        ["node", str(SCRIPT), str(good), str(bad)], capture_output=True, text=True, timeout=60, check=False
    )

    assert result.returncode == 1
    assert f"{good}: clean" in result.stdout
    assert f"{bad}: 1 problem(s)" in result.stdout
