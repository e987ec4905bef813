"""The bot in a group chat or a channel: it answers there, keeps challenges (which name a child) to the 1:1
chat, and links to that chat rather than leaving a dead end in place of the welcome card's guidance."""

from __future__ import annotations

from typing import Any

import pytest
from botbuilder.schema import Activity

from bot.teams_bot import one_to_one_chat_link
from bot.wiring import Runtime
from cards import verbs as v
from tests.cardcheck import assert_valid_card
from tests.teams.harness import BOT, Person, texts, verbs, walk
from tests.teams.test_conversation import ALEX, alex, raise_durham

CHAT_LINK = "https://teams.microsoft.com/l/chat/0/0?users=28:challenge-bot"
WHERE = {
    "group chat": {"conversation_id": "19:group@thread.v2", "conversation_type": "groupChat"},
    "channel": {"conversation_id": "19:general@thread.tacv2", "conversation_type": "channel"},
}
IMMEDIATE_RISK = "A child at immediate risk is not a challenge."


def links(card: dict[str, Any]) -> list[str]:
    return [n["url"] for n in walk(card) if n.get("type") == "Action.OpenUrl"]


def in_(runtime: Runtime, where: str) -> Person:
    return alex(runtime, **WHERE[where])


def test_the_link_opens_a_1_to_1_chat_with_the_bot() -> None:
    # Teams' deep link to a chat with a bot names it by its id, 28:<app id>.
    assert one_to_one_chat_link("28:0b1c-app") == "https://teams.microsoft.com/l/chat/0/0?users=28:0b1c-app"
    assert one_to_one_chat_link(None) == "https://teams.microsoft.com/l/chat/0/0"


@pytest.mark.parametrize("where", WHERE)
async def test_installed_in_a_group_the_welcome_card_links_to_the_1_to_1_chat(
    runtime: Runtime, where: str
) -> None:
    (card,) = await in_(runtime, where).install()
    assert_valid_card(card)
    assert IMMEDIATE_RISK in texts(card)
    assert links(card) == [CHAT_LINK] and v.RAISE_START not in verbs(card)


@pytest.mark.parametrize("where", WHERE)
async def test_raise_a_challenge_pressed_in_a_group_keeps_the_welcome_guidance(
    runtime: Runtime, where: str
) -> None:
    # A welcome card posted before this change still has the Execute button: pressing it gives the welcome
    # card back (immediate-risk route first), its button now a link to the 1:1 chat.
    card = await in_(runtime, where).press(v.RAISE_START, {})
    assert_valid_card(card)
    assert IMMEDIATE_RISK in texts(card)
    assert links(card) == [CHAT_LINK]


@pytest.mark.parametrize("where", WHERE)
@pytest.mark.parametrize("typed", ["help", "raise", "my challenges", "cancel", "what is this"])
async def test_typed_commands_are_answered_in_a_group(runtime: Runtime, where: str, typed: str) -> None:
    await raise_durham(alex(runtime))
    cards = await in_(runtime, where).say(typed)
    assert len(cards) == 1
    card = cards[0]
    assert_valid_card(card)
    assert links(card) == [CHAT_LINK]
    assert "DUR-2026-0001" not in str(card)  # a list of one's challenges is not for the group
    assert v.RAISE_START not in verbs(card)


@pytest.mark.parametrize(
    "typed", ["<at>Professional challenge</at> help", "<at>Professional challenge</at>&nbsp;help\n"]
)
async def test_a_command_after_an_at_mention_is_answered_in_a_group(runtime: Runtime, typed: str) -> None:
    # In a group chat or channel Teams sends the bot only messages that @mention it, the mention in the text.
    person = in_(runtime, "group chat")
    activity = Activity().deserialize(
        {
            "type": "message",
            "text": typed,
            "from": {"id": f"29:{ALEX}", "name": "Alex Wilber", "aadObjectId": ALEX},
            "entities": [
                {"type": "mention", "text": "<at>Professional challenge</at>", "mentioned": BOT.serialize()}
            ],
        }
    )
    replies = await person._turn(activity)
    cards = [a.content for r in replies for a in (r.attachments or [])]
    assert len(cards) == 1
    words = texts(cards[0])
    assert "What I can do" in words and "didn't understand" not in words
    assert links(cards[0]) == [CHAT_LINK]


async def test_show_without_a_reference_says_how_to_use_it(runtime: Runtime) -> None:
    person = alex(runtime)
    for typed in ("show", "show   "):
        card = await person.say_card(typed)
        assert_valid_card(card)
        words = texts(card)
        assert "Not found" not in words
        assert "Type show and the challenge's reference, for example: show DUR-2026-0042." in words
