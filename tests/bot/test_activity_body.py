"""Outgoing activities and invoke answers are the SDK's own JSON, value for value, however they are made."""

from __future__ import annotations

import copy
import enum
from datetime import UTC, datetime
from typing import Any

import pytest
from botbuilder.core import ActivityHandler, CardFactory, MessageFactory, TurnContext, serializer_helper
from botbuilder.schema import (
    Activity,
    AdaptiveCardInvokeResponse,
    Attachment,
    ChannelAccount,
    ConversationAccount,
    HeroCard,
    InvokeResponse,
)
from botframework.connector import models
from msrest.serialization import Serializer

from bot.activity_body import ActivityBodySerializer, is_plain_json
from bot.config import Settings
from bot.server import build_adapter, create_app, invoke_body
from cards.help import help_card
from cards.welcome import welcome_card
from dialogs.replies import ShownCard
from process.policy import load_policy, shipped_policies
from tests.fakes import FakeConnector, make_activity, post_activity, serve

POLICIES = [load_policy(name) for name in shipped_policies()]
MODELS = {k: v for k, v in models.__dict__.items() if isinstance(v, type)}


class Colour(enum.StrEnum):
    GREEN = "green"


STRANGE: dict[str, Any] = {
    "type": "AdaptiveCard",
    "version": "1.5",
    "body": [
        {"type": "TextBlock", "text": "Gwenllïan’s **cais** 🙂 \ud800 <b>", "wrap": True, "maxLines": None},
        {
            "type": "FactSet",
            "facts": [{"title": "", "value": "x" * 5000}],
            "spacing": 1.5,
            "separator": False,
        },
        {"type": "Container", "items": [[], {}, [None, 0, -1, 1e300]]},
    ],
}


def _activity(*contents: Any) -> Activity:
    activity = MessageFactory.text("")
    activity.text = None
    activity.attachments = [
        Attachment(content_type="application/vnd.microsoft.card.adaptive", content=c) for c in contents
    ]
    activity.conversation = ConversationAccount(id="a:1", conversation_type="personal", tenant_id="t")
    activity.from_property = ChannelAccount(id="28:bot")
    activity.recipient = ChannelAccount(id="29:someone", aad_object_id="aad")
    activity.reply_to_id = "incoming-1"
    activity.timestamp = datetime(2026, 12, 1, 9, 30, tzinfo=UTC)
    return activity


@pytest.mark.parametrize(
    "contents",
    [
        (help_card(POLICIES),),
        (welcome_card(POLICIES), help_card(POLICIES, unknown="¯\\_(ツ)_/¯")),
        (STRANGE,),
        # Not plain JSON: these go the SDK's way, with the same result.
        ({"type": "AdaptiveCard", "colour": Colour.GREEN},),
        ({"type": "AdaptiveCard", "at": datetime(2026, 12, 1, tzinfo=UTC)},),
        ({"type": "AdaptiveCard", 1: "numeric key"},),
        (HeroCard(title="A hero card model"),),
    ],
    ids=["help", "two cards", "strange text", "enum", "datetime", "numeric key", "model"],
)
def test_an_activity_posts_as_the_sdk_would_post_it(contents: tuple[Any, ...]) -> None:
    activity = _activity(*contents)
    assert ActivityBodySerializer(MODELS).body(activity, "Activity") == Serializer(MODELS).body(
        activity, "Activity"
    )


def test_only_json_values_count_as_plain() -> None:
    assert is_plain_json(help_card(POLICIES)) and is_plain_json(STRANGE)
    assert not is_plain_json({"a": [Colour.GREEN]})
    assert not is_plain_json({"a": (1, 2)})
    assert not is_plain_json({"a": {2: "b"}})


def test_an_activity_without_attachments_is_unchanged() -> None:
    activity = _activity(STRANGE)
    activity.attachments = None
    activity.text = "plain words"
    assert ActivityBodySerializer(MODELS).body(activity, "Activity") == Serializer(MODELS).body(
        activity, "Activity"
    )


class HelpBot(ActivityHandler):
    async def on_message_activity(self, turn_context: TurnContext) -> None:
        card = CardFactory.adaptive_card(help_card(POLICIES))
        await turn_context.send_activity(MessageFactory.attachment(card))


async def test_the_served_bot_posts_its_card_unchanged_to_the_connector(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    used: list[str] = []
    original = ActivityBodySerializer.body

    def counting(self: ActivityBodySerializer, data: Any, data_type: str, **kwargs: Any) -> Any:
        used.append(data_type)
        return original(self, data, data_type, **kwargs)

    monkeypatch.setattr(ActivityBodySerializer, "body", counting)
    async with FakeConnector() as connector:
        async with serve(create_app(Settings(), HelpBot(), adapter=build_adapter(Settings()))) as client:
            response = await post_activity(client, make_activity("help", service_url=connector.service_url))
            assert response.status == 201
        (sent,) = connector.sent_activities()
    assert sent["attachments"][0]["content"] == help_card(POLICIES)
    assert sent["type"] == "message" and sent["replyToId"]
    assert used == ["Activity"]


@pytest.mark.parametrize(
    "body",
    [
        AdaptiveCardInvokeResponse(
            status_code=200, type="application/vnd.microsoft.card.adaptive", value=STRANGE
        ),
        AdaptiveCardInvokeResponse(
            status_code=200, type="application/vnd.microsoft.card.adaptive", value=None
        ),
        AdaptiveCardInvokeResponse(
            status_code=400, type="application/vnd.microsoft.error", value={"code": "x"}
        ),
        InvokeResponse(status=200, body={"a": 1}),
        AdaptiveCardInvokeResponse(
            status_code=200,
            type="application/vnd.microsoft.card.adaptive",
            value={"type": "AdaptiveCard", "at": datetime(2026, 12, 1, tzinfo=UTC)},
        ),
    ],
    ids=["card", "no card", "error", "other model", "card not plain JSON"],
)
def test_an_invoke_answer_is_the_sdks_json(body: Any) -> None:
    assert invoke_body(body) == serializer_helper(body)


def test_the_schema_declares_no_constraints_so_skipping_their_walk_skips_nothing() -> None:
    constrained = [name for name, model in MODELS.items() if getattr(model, "_validation", None)]
    assert constrained == []


def test_a_shown_card_is_shared_by_the_sdks_copies_not_copied() -> None:
    card = ShownCard(help_card(POLICIES))
    activity = MessageFactory.attachment(CardFactory.adaptive_card(card))
    copied = copy.deepcopy(activity)
    assert copied is not activity and copied.attachments[0] is not activity.attachments[0]
    assert copied.attachments[0].content is card and card == help_card(POLICIES)
