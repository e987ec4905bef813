"""With an app id the endpoint verifies Bot Connector tokens: every bad token is a 401, never a 500.

No test leaves the machine: the OpenID metadata and signing keys come from a stand-in on 127.0.0.1 (the
SDK's `ChannelValidation.open_id_metadata_endpoint` is pointed at it), and the bot's own access token
comes from fake credentials instead of Microsoft Entra ID.
"""

from __future__ import annotations

import asyncio
import base64
import json
import threading
import time
from collections.abc import AsyncIterator, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import jwt
import pytest
from aiohttp.test_utils import TestClient
from botbuilder.core import ActivityHandler, TurnContext
from botbuilder.integration.aiohttp import CloudAdapter
from botframework.connector.auth import (
    AppCredentials,
    ChannelValidation,
    JwtTokenExtractor,
    ServiceClientCredentialsFactory,
)
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.hazmat.primitives.asymmetric.rsa import RSAPrivateKey
from jwt.algorithms import RSAAlgorithm

from bot.auth import CachingBotFrameworkAuthentication
from bot.config import Settings
from bot.errors import on_turn_error
from bot.server import build_adapter, create_app
from tests.fakes import FakeConnector, make_activity, post_activity, serve

APP_ID = "11111111-2222-3333-4444-555555555555"
SETTINGS = Settings(app_id=APP_ID, app_password="invented-password", host="0.0.0.0")
KEY_ID = "stand-in-key"


@pytest.fixture(scope="module")
def signing_key() -> RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


@pytest.fixture(scope="module")
def other_key() -> RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


class OpenIdStandIn:
    """The Bot Connector's OpenID metadata and key set, served from a thread on 127.0.0.1."""

    def __init__(self, public_jwk: dict[str, Any]) -> None:
        self.keys = [public_jwk]
        self.paths: list[str] = []
        self.delay_seconds = 0.0
        self.status = 200
        stand_in = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                stand_in.paths.append(self.path)
                time.sleep(stand_in.delay_seconds)
                port = self.server.server_address[1]
                if self.path.endswith("openidconfiguration"):
                    body: Any = {
                        "issuer": "https://api.botframework.com",
                        "jwks_uri": f"http://127.0.0.1:{port}/keys",
                    }
                else:
                    body = {"keys": stand_in.keys}
                payload = json.dumps(body).encode()
                self.send_response(stand_in.status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

            def log_message(self, format: str, *args: Any) -> None:
                return

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._thread = threading.Thread(target=self._server.serve_forever, args=(0.01,), daemon=True)
        self._thread.start()

    @property
    def metadata_url(self) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}/v1/.well-known/openidconfiguration"

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join()


@pytest.fixture
def openid(signing_key: RSAPrivateKey, monkeypatch: pytest.MonkeyPatch) -> Iterator[OpenIdStandIn]:
    jwk = json.loads(RSAAlgorithm.to_jwk(signing_key.public_key()))
    jwk.update(kid=KEY_ID, use="sig", endorsements=["msteams"])
    stand_in = OpenIdStandIn(jwk)
    monkeypatch.setattr(ChannelValidation, "open_id_metadata_endpoint", stand_in.metadata_url)
    monkeypatch.setattr(JwtTokenExtractor, "metadataCache", {})
    yield stand_in
    stand_in.stop()


class FakeAppCredentials(AppCredentials):
    """The bot's credentials towards the connector, with a fixed token instead of a call to Entra ID."""

    def __init__(self, app_id: str, oauth_scope: str, token_threads: list[int]) -> None:
        super().__init__(app_id=app_id, oauth_scope=oauth_scope)
        self._token_threads = token_threads

    def get_access_token(self, force_refresh: bool = False) -> str:
        self._token_threads.append(threading.get_ident())
        return "token-for-the-connector"


class FakeCredentialsFactory(ServiceClientCredentialsFactory):
    def __init__(self) -> None:
        self.token_threads: list[int] = []

    async def is_valid_app_id(self, app_id: str) -> bool:
        return app_id == APP_ID

    async def is_authentication_disabled(self) -> bool:
        return False

    async def create_credentials(
        self, app_id: str, oauth_scope: str, login_endpoint: str, validate_authority: bool
    ) -> AppCredentials:
        return FakeAppCredentials(app_id, oauth_scope, self.token_threads)


class EchoBot(ActivityHandler):
    async def on_message_activity(self, turn_context: TurnContext) -> None:
        await turn_context.send_activity(f"echo: {turn_context.activity.text}")


def channel_token(
    key: RSAPrivateKey,
    *,
    service_url: str,
    kid: str = KEY_ID,
    audience: str = APP_ID,
    issuer: str = "https://api.botframework.com",
    expires_in: int = 3600,
) -> str:
    now = int(time.time())
    claims = {
        "iss": issuer,
        "aud": audience,
        "serviceurl": service_url,
        "nbf": now - 60,
        "exp": now + expires_in,
    }
    return jwt.encode(claims, key, algorithm="RS256", headers={"kid": kid})


def unsigned_token(service_url: str) -> str:
    def part(data: dict[str, Any]) -> str:
        return base64.urlsafe_b64encode(json.dumps(data).encode()).rstrip(b"=").decode()

    now = int(time.time())
    header = {"alg": "none", "typ": "JWT", "kid": KEY_ID}
    claims = {
        "iss": "https://api.botframework.com",
        "aud": APP_ID,
        "serviceurl": service_url,
        "exp": now + 600,
    }
    return f"{part(header)}.{part(claims)}."


@pytest.fixture
async def client(openid: OpenIdStandIn) -> AsyncIterator[TestClient]:
    """The production adapter (real credentials factory); these tests never get as far as sending."""
    async with serve(create_app(SETTINGS, EchoBot(), adapter=build_adapter(SETTINGS))) as test_client:
        yield test_client


@pytest.fixture
def credentials() -> FakeCredentialsFactory:
    return FakeCredentialsFactory()


@pytest.fixture
async def sending_client(
    openid: OpenIdStandIn, credentials: FakeCredentialsFactory
) -> AsyncIterator[TestClient]:
    """Like `client`, but the bot can reply: its token towards the connector comes from fake credentials."""
    adapter = CloudAdapter(
        CachingBotFrameworkAuthentication(SETTINGS.to_sdk_config(), credentials_factory=credentials)
    )
    adapter.on_turn_error = on_turn_error
    async with serve(create_app(SETTINGS, EchoBot(), adapter=adapter)) as test_client:
        yield test_client


async def test_request_without_authorization_is_refused_with_401(
    client: TestClient, fake_connector: FakeConnector, openid: OpenIdStandIn
) -> None:
    response = await post_activity(client, make_activity("hi", service_url=fake_connector.service_url))

    assert response.status == 401
    assert response.headers["WWW-Authenticate"] == "Bearer"
    assert openid.paths == []
    assert fake_connector.requests == []


@pytest.mark.parametrize(
    "authorization",
    [
        pytest.param(lambda key, other, url: "Bearer not-a-jwt", id="garbage bearer"),
        pytest.param(lambda key, other, url: "Bearer a.b.c", id="three garbage parts"),
        pytest.param(lambda key, other, url: "Basic dXNlcjpwYXNz", id="basic scheme"),
        pytest.param(lambda key, other, url: "Bearer " + unsigned_token(url), id="alg none"),
        pytest.param(
            lambda key, other, url: "Bearer " + channel_token(other, service_url=url, kid="unknown-key"),
            id="unknown key id",
        ),
        pytest.param(
            lambda key, other, url: "Bearer " + channel_token(other, service_url=url),
            id="known kid, wrong key",
        ),
        pytest.param(
            lambda key, other, url: "Bearer " + channel_token(key, service_url=url, audience="someone-else"),
            id="another bot's token",
        ),
        pytest.param(
            lambda key, other, url: "Bearer " + channel_token(key, service_url=url, expires_in=-3600),
            id="expired",
        ),
        pytest.param(
            lambda key, other, url: "Bearer " + channel_token(key, service_url="https://elsewhere.example"),
            id="token for another service url",
        ),
        pytest.param(
            lambda key, other, url: (
                "Bearer " + channel_token(key, service_url=url, issuer="https://evil.example")
            ),
            id="foreign issuer",
        ),
    ],
)
async def test_bad_token_is_refused_with_401_never_500(
    client: TestClient,
    fake_connector: FakeConnector,
    signing_key: RSAPrivateKey,
    other_key: RSAPrivateKey,
    authorization: Any,
) -> None:
    url = fake_connector.service_url
    header = authorization(signing_key, other_key, url)

    response = await post_activity(
        client, make_activity("hi", service_url=url), headers={"Authorization": header}
    )

    assert response.status == 401
    assert fake_connector.requests == []


async def test_valid_token_is_accepted_and_the_reply_carries_the_bots_own_token(
    sending_client: TestClient,
    fake_connector: FakeConnector,
    signing_key: RSAPrivateKey,
    openid: OpenIdStandIn,
    credentials: FakeCredentialsFactory,
) -> None:
    url = fake_connector.service_url
    token = channel_token(signing_key, service_url=url)
    activity = make_activity("hello", service_url=url)

    response = await post_activity(sending_client, activity, headers={"Authorization": f"Bearer {token}"})

    assert response.status == 201
    assert fake_connector.sent_texts() == ["echo: hello"]
    assert fake_connector.requests[0].authorization == "Bearer token-for-the-connector"
    assert openid.paths == ["/v1/.well-known/openidconfiguration", "/keys"]
    assert credentials.token_threads[0] != threading.get_ident()  # first (costly) token fetch off the loop


async def test_signing_keys_are_fetched_without_blocking_the_event_loop(
    sending_client: TestClient,
    fake_connector: FakeConnector,
    signing_key: RSAPrivateKey,
    openid: OpenIdStandIn,
) -> None:
    openid.delay_seconds = 0.2  # per request: metadata, then keys
    ticks = 0

    async def tick() -> None:
        nonlocal ticks
        while True:
            await asyncio.sleep(0.01)
            ticks += 1

    ticker = asyncio.create_task(tick())
    token = channel_token(signing_key, service_url=fake_connector.service_url)
    response = await post_activity(
        sending_client,
        make_activity("hello", service_url=fake_connector.service_url),
        headers={"Authorization": f"Bearer {token}"},
    )
    ticker.cancel()

    assert response.status == 201
    assert ticks >= 15  # the loop kept turning through 0.4 s of key fetching


async def test_unknown_key_id_does_not_refetch_keys_within_the_hour(
    sending_client: TestClient,
    fake_connector: FakeConnector,
    signing_key: RSAPrivateKey,
    other_key: RSAPrivateKey,
    openid: OpenIdStandIn,
) -> None:
    url = fake_connector.service_url
    good = channel_token(signing_key, service_url=url)
    unknown = channel_token(other_key, service_url=url, kid="unknown-key")

    first = await post_activity(
        sending_client, make_activity("a", service_url=url), headers={"Authorization": f"Bearer {good}"}
    )
    second = await post_activity(
        sending_client, make_activity("b", service_url=url), headers={"Authorization": f"Bearer {unknown}"}
    )

    assert (first.status, second.status) == (201, 401)
    assert len(openid.paths) == 2


async def test_unreachable_signing_keys_give_503_not_500(
    client: TestClient, fake_connector: FakeConnector, signing_key: RSAPrivateKey, openid: OpenIdStandIn
) -> None:
    openid.status = 500
    token = channel_token(signing_key, service_url=fake_connector.service_url)

    response = await post_activity(
        client,
        make_activity("hi", service_url=fake_connector.service_url),
        headers={"Authorization": f"Bearer {token}"},
    )

    assert response.status == 503
    assert response.headers["Retry-After"] == "30"


async def test_local_mode_ignores_authorization_instead_of_fetching_keys(
    fake_connector: FakeConnector, openid: OpenIdStandIn
) -> None:
    async with serve(create_app(Settings(), EchoBot())) as test_client:
        response = await post_activity(
            test_client,
            make_activity("hi", service_url=fake_connector.service_url),
            headers={"Authorization": "Bearer not-a-jwt"},
        )

    assert response.status == 201
    assert fake_connector.sent_texts() == ["echo: hi"]
    assert openid.paths == []
