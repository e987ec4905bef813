"""Showing a card to the person in front of us, whether they typed or pressed a button.

A button press (`Action.Execute`) arrives as an `adaptiveCard/action` invoke and is answered with a card that
replaces the one pressed, in place; a typed message is answered with a new card in the chat. Dialogs call
`show_card` and need not know which.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from botbuilder.core import CardFactory, MessageFactory, TurnContext
from botbuilder.schema import ActivityTypes

INVOKE_CARD_KEY = "challenge_bot.invoke_card"
CARD_ACTION_INVOKE = "adaptiveCard/action"

#: Largest card action payload accepted (all inputs together); larger ones are refused, not truncated.
MAX_ACTION_DATA_CHARS = 64 * 1024


@dataclass(frozen=True)
class CardAction:
    """A button press: its verb, and the card's data merged with the person's inputs (as Teams sends them)."""

    verb: str
    data: dict[str, Any] = field(default_factory=dict)

    def text(self, key: str) -> str:
        """An input's text; anything that is not text (a forged payload) reads as empty."""
        value = self.data.get(key)
        return value if isinstance(value, str) else ""

    @property
    def version(self) -> int | None:
        value = self.data.get("version")
        return value if isinstance(value, int) and not isinstance(value, bool) else None


class ShownCard(dict[str, Any]):
    """A card as it is sent. Nothing changes a card once it is shown, so the copies botbuilder makes of each
    outgoing activity (deep, to protect the caller's object) may share it rather than copy it node by node,
    which for a challenge card took longer than reading the challenge."""

    def __deepcopy__(self, memo: dict[int, Any]) -> ShownCard:
        return self


def is_card_action(context: TurnContext) -> bool:
    activity = context.activity
    return bool(activity.type == ActivityTypes.invoke and activity.name == CARD_ACTION_INVOKE)


def card_action(context: TurnContext) -> CardAction | None:
    """The button press in this turn, or None if the activity is not a well-formed `Action.Execute`."""
    if not is_card_action(context):
        return None
    value = context.activity.value
    action = value.get("action") if isinstance(value, dict) else None
    if not isinstance(action, dict):
        return None
    verb = action.get("verb")
    data = action.get("data") or {}
    if not isinstance(verb, str) or not verb or len(verb) > 64 or not isinstance(data, dict):
        return None
    if len(repr(data)) > MAX_ACTION_DATA_CHARS:
        return None
    return CardAction(verb=verb, data=dict(data))


async def show_card(context: TurnContext, card: dict[str, Any]) -> None:
    """Answer the person with `card`: in place of the pressed card, or as a new message."""
    shown = ShownCard(card)
    if is_card_action(context):
        context.turn_state[INVOKE_CARD_KEY] = shown
        return
    await context.send_activity(MessageFactory.attachment(CardFactory.adaptive_card(shown)))


def shown_card(context: TurnContext) -> dict[str, Any] | None:
    """The card `show_card` set aside for this invoke's response."""
    card = context.turn_state.get(INVOKE_CARD_KEY)
    return card if isinstance(card, dict) else None
