"""A plain message card, for refusals and apologies that a person can act on."""

from __future__ import annotations

from cards import layout
from cards.text import plain


def message_card(title: str, text: str) -> layout.Card:
    """A titled message; both parts are escaped, since a refusal may quote what a person typed."""
    return layout.card([layout.heading(plain(title), size="Medium"), layout.text(plain(text))])
