"""Connector and user-token clients are built once per service URL, not once per turn as the SDK does."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pytest
from botbuilder.core import ActivityHandler, TurnContext
from botbuilder.integration.aiohttp import CloudAdapter, ConfigurationBotFrameworkAuthentication
from botbuilder.schema import ConversationAccount, ConversationReference
from botframework.connector.aio import ConnectorClient
from botframework.connector.token_api.aio import TokenApiClient

from bot.auth import CachingBotFrameworkAuthentication
from bot.config import Settings
from bot.server import build_adapter, create_app
from tests.fakes import FakeConnector, make_activity, post_activity, serve

TURNS = 50


class EchoBot(ActivityHandler):
    async def on_message_activity(self, turn_context: TurnContext) -> None:
        await turn_context.send_activity(f"echo: {turn_context.activity.text}")


@dataclass
class Constructions:
    connector_clients: int = 0
    user_token_clients: int = 0


@pytest.fixture
def constructions(monkeypatch: pytest.MonkeyPatch) -> Constructions:
    """Counts every ConnectorClient and TokenApiClient (inside each user-token client) the process builds."""
    counts = Constructions()

    def counting(cls: type, field: str) -> None:
        original: Callable[..., None] = cls.__init__  # type: ignore[misc]

        def init(self: Any, *args: Any, **kwargs: Any) -> None:
            setattr(counts, field, getattr(counts, field) + 1)
            original(self, *args, **kwargs)

        monkeypatch.setattr(cls, "__init__", init)

    counting(ConnectorClient, "connector_clients")
    counting(TokenApiClient, "user_token_clients")
    return counts


async def run_turns(adapter: CloudAdapter, service_urls: list[str], turns: int) -> None:
    async with serve(create_app(Settings(), EchoBot(), adapter=adapter)) as client:
        for turn in range(turns):
            url = service_urls[turn % len(service_urls)]
            response = await post_activity(client, make_activity(f"turn {turn}", service_url=url))
            assert response.status == 201


async def test_caching_auth_builds_each_client_once_over_50_turns(
    fake_connector: FakeConnector, constructions: Constructions
) -> None:
    await run_turns(build_adapter(Settings()), [fake_connector.service_url], TURNS)

    assert len(fake_connector.sent_texts()) == TURNS
    assert constructions == Constructions(connector_clients=1, user_token_clients=1)


async def test_stock_sdk_authentication_builds_both_clients_every_turn(
    fake_connector: FakeConnector, constructions: Constructions
) -> None:
    stock = CloudAdapter(ConfigurationBotFrameworkAuthentication(Settings().to_sdk_config()))

    await run_turns(stock, [fake_connector.service_url], TURNS)

    assert len(fake_connector.sent_texts()) == TURNS
    assert constructions == Constructions(connector_clients=TURNS, user_token_clients=TURNS)


async def test_each_service_url_gets_its_own_connector_client(
    fake_connector: FakeConnector, constructions: Constructions
) -> None:
    emea, amer = fake_connector.service_url_for("/emea/"), fake_connector.service_url_for("/amer/")

    await run_turns(build_adapter(Settings()), [emea, amer], 20)

    paths = [request.path for request in fake_connector.requests]
    assert sum(path.startswith("/emea/v3/") for path in paths) == 10
    assert sum(path.startswith("/amer/v3/") for path in paths) == 10
    assert constructions == Constructions(connector_clients=2, user_token_clients=1)


async def test_proactive_messages_reuse_the_client_of_incoming_turns(
    fake_connector: FakeConnector, constructions: Constructions
) -> None:
    adapter = build_adapter(Settings())
    reference = ConversationReference(
        conversation=ConversationAccount(id="a:personal-alex-wilber"),
        service_url=fake_connector.service_url,
        channel_id="msteams",
    )

    async def remind(turn_context: TurnContext) -> None:
        await turn_context.send_activity("deadline tomorrow")

    async with serve(create_app(Settings(), EchoBot(), adapter=adapter)) as client:
        for turn in range(3):
            await post_activity(client, make_activity(f"turn {turn}", service_url=fake_connector.service_url))
        for _ in range(5):
            await adapter.continue_conversation(reference, remind, bot_app_id=None)

    assert fake_connector.sent_texts()[-5:] == ["deadline tomorrow"] * 5
    assert constructions == Constructions(connector_clients=1, user_token_clients=1)


async def test_clients_are_released_when_the_application_stops(
    fake_connector: FakeConnector, constructions: Constructions
) -> None:
    adapter = build_adapter(Settings())
    auth = adapter.bot_framework_authentication
    assert isinstance(auth, CachingBotFrameworkAuthentication)

    await run_turns(adapter, [fake_connector.service_url], 2)  # the app stops at the end: aclose()
    await run_turns(adapter, [fake_connector.service_url], 2)

    assert constructions == Constructions(connector_clients=2, user_token_clients=2)


async def test_least_recently_used_client_makes_room_beyond_the_limit(
    fake_connector: FakeConnector, constructions: Constructions
) -> None:
    auth = CachingBotFrameworkAuthentication(Settings().to_sdk_config(), max_cached_clients=2)
    adapter = CloudAdapter(auth)
    a, b, c = (fake_connector.service_url_for(prefix) for prefix in ("/a", "/b", "/c"))

    async with serve(create_app(Settings(), EchoBot(), adapter=adapter)) as client:
        for url in (a, b, a, c, a, b):  # c evicts b (a was used more recently); b comes back as a new client
            assert (await post_activity(client, make_activity("hi", service_url=url))).status == 201

    assert constructions.connector_clients == 4
