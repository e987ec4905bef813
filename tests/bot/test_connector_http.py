"""The Bot Connector requests go out with aiohttp, signed, and fail the way the SDK's own requests fail."""

from __future__ import annotations

import socket
from typing import Any

import pytest
from botbuilder.schema import Activity, ActivityTypes
from botframework.connector.aio import ConnectorClient
from botframework.connector.auth import MicrosoftAppCredentials
from msrest.exceptions import ClientRequestError
from msrest.universal_http.async_requests import AsyncBasicRequestsHTTPSender

from bot.activity_body import use_activity_body_serializer
from bot.config import Settings
from bot.connector_http import AiohttpDriver, use_aiohttp
from bot.notifier import TeamsFailure, retry_after_of
from bot.server import build_adapter
from tests.fakes import FakeConnector


class InventedCredentials(MicrosoftAppCredentials):
    """Credentials of an invented app whose token is known without asking Microsoft."""

    def __init__(self) -> None:
        super().__init__("00000000-0000-0000-0000-00000000a990", "invented-password")

    def get_access_token(self, force_refresh: bool = False) -> str:
        return "invented-token"


def _client(service_url: str, credentials: Any) -> ConnectorClient:
    client = ConnectorClient(credentials, base_url=service_url)
    client.config.add_user_agent("Microsoft-BotFramework/3.1 (BotBuilder Python/4.17.0)")
    use_activity_body_serializer(client)
    use_aiohttp(client)
    return client


def _reply(text: str) -> Activity:
    return Activity(type=ActivityTypes.message, text=text)


async def test_a_reply_goes_out_signed_with_its_body_and_user_agent() -> None:
    async with FakeConnector() as connector:
        client = _client(connector.service_url, InventedCredentials())
        async with client:
            answer = await client.conversations.reply_to_activity(
                "a:one", "incoming-1", _reply("Diolch 🙂 **yes**")
            )
        (sent,) = connector.requests
    assert answer.id and sent.operation == "reply_to_activity"
    assert sent.authorization == "Bearer invented-token"
    assert sent.body["text"] == "Diolch 🙂 **yes**" and sent.body["type"] == "message"


async def test_without_an_app_id_nothing_is_signed() -> None:
    async with FakeConnector() as connector:
        client = _client(connector.service_url, MicrosoftAppCredentials("", ""))
        async with client:
            await client.conversations.send_to_conversation("a:one", _reply("hello"))
        (sent,) = connector.requests
    assert sent.authorization is None


async def test_a_429_is_the_sdks_error_with_its_retry_after() -> None:
    async with FakeConnector() as connector:
        connector.fail_next(429, retry_after=7)
        client = _client(connector.service_url, InventedCredentials())
        async with client:
            with pytest.raises(Exception) as caught:
                await client.conversations.send_to_conversation("a:one", _reply("hello"))
    failure = TeamsFailure.of(caught.value)
    assert failure.status == 429 and failure.code == "Http429"
    assert retry_after_of(caught.value) is not None and retry_after_of(caught.value).total_seconds() == 7


async def test_nobody_listening_is_a_request_error_to_retry() -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    client = _client(f"http://127.0.0.1:{port}/", InventedCredentials())
    async with client:
        with pytest.raises(ClientRequestError) as caught:
            await client.conversations.send_to_conversation("a:one", _reply("hello"))
    assert TeamsFailure.of(caught.value).status is None


async def test_the_bots_connector_clients_send_with_aiohttp() -> None:
    adapter = build_adapter(Settings())
    auth = adapter.bot_framework_authentication
    result = await auth.authenticate_request(Activity(), "")
    factory = auth.create_connector_factory(result.claims_identity)
    client = await factory.create("https://smba.example/emea/", None)
    assert isinstance(client.config.driver, AiohttpDriver)
    await auth.aclose()


async def test_with_a_proxy_in_the_environment_requests_go_the_sdks_way(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A proxy named in the environment is applied by the SDK's own `requests` path, as it always was."""
    monkeypatch.setenv("HTTPS_PROXY", "http://proxy.invalid:3128")
    monkeypatch.setenv("NO_PROXY", "127.0.0.1,localhost")
    taken: list[str] = []

    async def sdk_way(self: Any, request: Any, **options: Any) -> Any:
        taken.append(request.url)
        raise ClientRequestError("sent the SDK's way")

    monkeypatch.setattr(AsyncBasicRequestsHTTPSender, "send", sdk_way)
    async with FakeConnector() as connector:
        client = _client(connector.service_url, InventedCredentials())
        async with client:
            with pytest.raises(ClientRequestError):
                await client.conversations.send_to_conversation("a:one", _reply("hello"))
        assert connector.requests == []
    assert len(taken) == 1
