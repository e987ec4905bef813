"""The help card: the commands, and an answer to something the bot did not understand."""

from __future__ import annotations

from collections.abc import Sequence

from cards.commands import commands_facts, start_buttons
from cards.layout import Card, Element, card, heading, section, text
from cards.text import plain, shorten
from cards.welcome import GROUP_NOTE, guidance, immediate_risk_block
from process.policy import Policy

#: How much of an unrecognised message is quoted back.
QUOTE_LIMIT = 60


def help_card(
    policies: Sequence[Policy],
    *,
    unknown: str | None = None,
    chat_link: str | None = None,
    notice: str | None = None,
    reporting: bool = False,
) -> Card:
    """The commands; when `unknown` is given, it starts by saying that message was not understood, and a
    `notice` starts it with what became of the command typed. In a group chat or channel, `chat_link` opens
    the person's 1:1 chat with the bot, where challenges are raised. `reporting` (a partnership's post holder,
    in their 1:1 chat) lists `report` too."""
    body: list[Element] = []
    if notice is not None:
        body.append(text(plain(notice), weight="Bolder"))
    if unknown is not None:
        quoted = shorten(" ".join(unknown.split()), QUOTE_LIMIT)
        body.append(text(plain(f"I didn't understand '{quoted}'."), weight="Bolder"))
    body += [
        heading("What I can do", size="Medium"),
        commands_facts(policies, reporting=reporting),
        section("Before you start"),
        immediate_risk_block(policies),
    ]
    for policy in policies:
        body.append(
            text(plain(f"{policy.short_name}: {guidance(policy, 'not_for_complaints')}"), subtle=True)
        )
    if chat_link is not None:
        body.append(text(GROUP_NOTE, subtle=True))
    return card(body, actions=start_buttons(chat_link))
