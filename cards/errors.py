"""A plain message card, for refusals and apologies that a person can act on."""

from __future__ import annotations

from cards import layout
from cards.text import plain


def message_card(title: str, text: str) -> layout.Card:
    """A titled message; both parts are escaped, since a refusal may quote what a person typed."""
    return layout.card([layout.heading(plain(title), size="Medium"), layout.text(plain(text))])


#: What anyone is told about a challenge they may not know of, and about a reference that does not exist: the
#: same words, so that nobody learns which references exist.
NOT_FOUND_TITLE = "Not found"
NOT_FOUND_TEXT = (
    "I found no challenge of yours with that reference. Type my challenges to see the challenges you have "
    "a part in."
)


def not_found_card() -> layout.Card:
    """The one answer for a challenge that does not exist or that the person may not know of."""
    return message_card(NOT_FOUND_TITLE, NOT_FOUND_TEXT)


def chat_card(title: str, text: str, chat_link: str) -> layout.Card:
    """A message with a button opening the person's 1:1 chat with the bot."""
    card = message_card(title, text)
    card["actions"] = [layout.open_url("Open our 1:1 chat", chat_link)]
    return card
