"""Small builders for the Adaptive Card elements the bot's cards are made of (schema 1.5, as in Teams).

Every card module composes these, so the JSON shape of a heading, a fact list or a button is written once.
Builders take text that is already safe: callers pass what a person typed through `cards.text.plain` first.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any, Literal

Element = dict[str, Any]
Card = dict[str, Any]

SCHEMA = "http://adaptivecards.io/schemas/adaptive-card.json"
VERSION = "1.5"

Color = Literal["Default", "Dark", "Light", "Accent", "Good", "Warning", "Attention"]
ContainerStyle = Literal["default", "emphasis", "good", "attention", "warning", "accent"]


def card(
    body: Sequence[Element],
    *,
    actions: Sequence[Element] = (),
    refresh: Element | None = None,
) -> Card:
    """A whole card, full width in Teams (long text reads badly at Teams' narrow default width)."""
    out: Card = {
        "type": "AdaptiveCard",
        "$schema": SCHEMA,
        "version": VERSION,
        "msteams": {"width": "Full"},
        "body": list(body),
    }
    if actions:
        out["actions"] = list(actions)
    if refresh is not None:
        out["refresh"] = refresh
    return out


def text(
    value: str,
    *,
    size: Literal["Small", "Default", "Medium", "Large", "ExtraLarge"] | None = None,
    weight: Literal["Lighter", "Default", "Bolder"] | None = None,
    color: Color | None = None,
    subtle: bool = False,
    spacing: Literal["None", "Small", "Default", "Medium", "Large", "ExtraLarge"] | None = None,
    separator: bool = False,
    style: Literal["heading"] | None = None,
    element_id: str | None = None,
) -> Element:
    """A wrapping TextBlock; `value` must already be escaped if it holds anything a person typed."""
    out: Element = {"type": "TextBlock", "text": value, "wrap": True}
    if element_id:
        out["id"] = element_id
    if style:
        out["style"] = style
    if size:
        out["size"] = size
    if weight:
        out["weight"] = weight
    if color:
        out["color"] = color
    if subtle:
        out["isSubtle"] = True
    if spacing:
        out["spacing"] = spacing
    if separator:
        out["separator"] = True
    return out


def heading(value: str, *, size: Literal["Medium", "Large", "ExtraLarge"] = "Large") -> Element:
    """The card's title, marked as a heading for screen readers."""
    return text(value, size=size, weight="Bolder", style="heading")


def section(title: str) -> Element:
    """A small bold title above a group of facts or text, with a separator line above it."""
    return text(title, weight="Bolder", spacing="Medium", separator=True)


def facts(pairs: Iterable[tuple[str, str]]) -> Element:
    """A FactSet; titles are this package's own words, values must already be escaped."""
    return {"type": "FactSet", "facts": [{"title": title, "value": value} for title, value in pairs]}


def container(
    items: Sequence[Element],
    *,
    style: ContainerStyle | None = None,
    spacing: str | None = None,
    separator: bool = False,
) -> Element:
    out: Element = {"type": "Container", "items": list(items)}
    if style:
        out["style"] = style
    if spacing:
        out["spacing"] = spacing
    if separator:
        out["separator"] = True
    return out


def columns(*cols: tuple[Sequence[Element], str]) -> Element:
    """A ColumnSet from (items, width) pairs; width is "auto", "stretch" or a weight such as "2"."""
    return {
        "type": "ColumnSet",
        "columns": [
            {"type": "Column", "width": width, "items": list(items), "verticalContentAlignment": "Center"}
            for items, width in cols
        ],
    }


def action_set(actions: Sequence[Element]) -> Element:
    return {"type": "ActionSet", "actions": list(actions)}


def execute(
    title: str,
    verb: str,
    data: Mapping[str, Any],
    *,
    inputs: Literal["auto", "none"] = "auto",
    style: Literal["default", "positive", "destructive"] | None = None,
) -> Element:
    """An Action.Execute (Universal Actions): Teams sends `verb`, `data` and, with "auto", the inputs."""
    out: Element = {
        "type": "Action.Execute",
        "title": title,
        "verb": verb,
        "data": dict(data),
        "associatedInputs": inputs,
    }
    if style:
        out["style"] = style
    return out


def open_url(title: str, url: str) -> Element:
    """A button that opens a link (in Teams, a deep link opens the chat or app it names)."""
    return {"type": "Action.OpenUrl", "title": title, "url": url}


def show_card(title: str, body: Sequence[Element], actions: Sequence[Element]) -> Element:
    """An Action.ShowCard: a button that unfolds a small form with its own submit button."""
    return {
        "type": "Action.ShowCard",
        "title": title,
        "card": {"type": "AdaptiveCard", "body": list(body), "actions": list(actions)},
    }


def error_text(message: str) -> Element:
    """A validation message in red, placed right under the input it is about."""
    return text(message, color="Attention", size="Small", spacing="None")


def text_input(
    input_id: str,
    label: str,
    *,
    value: str | None = None,
    multiline: bool = False,
    max_length: int | None = None,
    placeholder: str | None = None,
    required: bool = False,
    error_message: str | None = None,
    email: bool = False,
) -> Element:
    """An Input.Text with a visible label; a required one carries the message shown when it is empty."""
    out: Element = {"type": "Input.Text", "id": input_id, "label": label}
    if multiline:
        out["isMultiline"] = True
    if max_length is not None:
        out["maxLength"] = max_length
    if placeholder:
        out["placeholder"] = placeholder
    if value:
        out["value"] = value
    if email:
        out["style"] = "Email"
    _required(out, required, error_message or f"Please fill in: {label}")
    return out


def date_input(
    input_id: str,
    label: str,
    *,
    value: str | None = None,
    minimum: str | None = None,
    maximum: str | None = None,
    required: bool = False,
    error_message: str | None = None,
) -> Element:
    """An Input.Date; Teams sends the chosen date as YYYY-MM-DD."""
    out: Element = {"type": "Input.Date", "id": input_id, "label": label}
    if value:
        out["value"] = value
    if minimum:
        out["min"] = minimum
    if maximum:
        out["max"] = maximum
    _required(out, required, error_message or f"Please choose a date: {label}")
    if error_message:
        # Also shown when the date is outside `min`/`max`, which Teams checks before sending anything.
        out["errorMessage"] = error_message
    return out


def number_input(
    input_id: str,
    label: str,
    *,
    value: int | None = None,
    minimum: int | None = None,
    maximum: int | None = None,
    required: bool = False,
    error_message: str | None = None,
) -> Element:
    out: Element = {"type": "Input.Number", "id": input_id, "label": label}
    if value is not None:
        out["value"] = value
    if minimum is not None:
        out["min"] = minimum
    if maximum is not None:
        out["max"] = maximum
    _required(out, required, error_message or f"Please give a number: {label}")
    return out


def choice_input(
    input_id: str,
    label: str,
    choices: Sequence[tuple[str, str]],
    *,
    value: str | None = None,
    style: Literal["compact", "expanded", "filtered"] = "compact",
    placeholder: str | None = None,
    required: bool = False,
    error_message: str | None = None,
) -> Element:
    """An Input.ChoiceSet from (title, value) pairs; "filtered" lets a person type to narrow a long list."""
    out: Element = {
        "type": "Input.ChoiceSet",
        "id": input_id,
        "label": label,
        "style": style,
        "choices": [{"title": title, "value": choice} for title, choice in choices],
    }
    if value and any(choice == value for _, choice in choices):
        out["value"] = value
    if placeholder:
        out["placeholder"] = placeholder
    _required(out, required, error_message or f"Please choose: {label}")
    return out


def toggle_input(
    input_id: str, label: str, title: str, *, on: bool, value_on: str, value_off: str
) -> Element:
    return {
        "type": "Input.Toggle",
        "id": input_id,
        "label": label,
        "title": title,
        "value": value_on if on else value_off,
        "valueOn": value_on,
        "valueOff": value_off,
    }


def _required(element: Element, required: bool, message: str) -> None:
    if required:
        element["isRequired"] = True
        element["errorMessage"] = message
