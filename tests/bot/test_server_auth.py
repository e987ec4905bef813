"""With an app id the endpoint verifies Bot Connector tokens: every bad token is a 401, never a 500.

No test leaves the machine: the OpenID metadata and signing keys come from a stand-in on 127.0.0.1 (the
SDK's `ChannelValidation.open_id_metadata_endpoint` is pointed at it), and the bot's own access token
comes from fake credentials instead of Microsoft Entra ID.
"""

from __future__ import annotations

import asyncio
import base64
import json
import logging
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
        self.hanging = False
        self._released = threading.Event()
        stand_in = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                stand_in.paths.append(self.path)
                time.sleep(stand_in.delay_seconds)
                if stand_in.hanging:
                    stand_in._released.wait(30)
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

    def release(self) -> None:
        """End the hang: requests held so far, and any later ones, are answered."""
        self.hanging = False
        self._released.set()

    def stop(self) -> None:
        self.release()
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
    # These tests are about tokens, not outages: wait for a (deliberately slow) stand-in longer than the
    # production second, so a loaded machine cannot turn a slow fetch into a 503.
    adapter = CloudAdapter(
        CachingBotFrameworkAuthentication(
            SETTINGS.to_sdk_config(), credentials_factory=credentials, key_wait_seconds=5.0
        )
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


# ----- when the signing keys cannot be had ---------------------------------------------------------------

CONCURRENT = 8


async def post_with_token(client: TestClient, url: str, token: str) -> int:
    response = await post_activity(
        client, make_activity("hi", service_url=url), headers={"Authorization": f"Bearer {token}"}
    )
    await response.read()
    return response.status


async def test_a_hanging_key_endpoint_gets_every_concurrent_request_its_503_within_seconds(
    client: TestClient, fake_connector: FakeConnector, signing_key: RSAPrivateKey, openid: OpenIdStandIn
) -> None:
    openid.hanging = True
    url = fake_connector.service_url
    token = channel_token(signing_key, service_url=url)

    try:
        started = time.monotonic()
        first = await asyncio.gather(*(post_with_token(client, url, token) for _ in range(CONCURRENT)))
        first_seconds = time.monotonic() - started
        started = time.monotonic()
        second = await asyncio.gather(*(post_with_token(client, url, token) for _ in range(CONCURRENT)))
        second_seconds = time.monotonic() - started
        paths = list(openid.paths)
    finally:
        openid.release()  # so the fetch's worker thread ends before the test's event loop closes

    # Before: each request ran its own 10 s fetch behind one lock (10, 20, 30 ... s). Now one fetch is in
    # flight for all of them and each waits at most a second for it.
    assert first == [503] * CONCURRENT and second == [503] * CONCURRENT
    assert first_seconds < 3.0, f"{CONCURRENT} requests took {first_seconds:.2f} s"
    assert second_seconds < 3.0, f"{CONCURRENT} more requests took {second_seconds:.2f} s"
    assert paths == ["/v1/.well-known/openidconfiguration"]  # one fetch, still hanging


async def test_once_the_hanging_fetch_completes_requests_are_verified(
    sending_client: TestClient,
    fake_connector: FakeConnector,
    signing_key: RSAPrivateKey,
    openid: OpenIdStandIn,
) -> None:
    openid.hanging = True
    url = fake_connector.service_url
    token = channel_token(signing_key, service_url=url)
    waiting = asyncio.gather(*(post_with_token(sending_client, url, token) for _ in range(CONCURRENT)))
    await asyncio.sleep(0.3)
    openid.release()

    statuses = await waiting

    assert statuses == [201] * CONCURRENT
    assert openid.paths == ["/v1/.well-known/openidconfiguration", "/keys"]


async def test_a_failed_fetch_is_remembered_and_later_requests_get_503_without_fetching(
    client: TestClient, fake_connector: FakeConnector, signing_key: RSAPrivateKey, openid: OpenIdStandIn
) -> None:
    openid.status = 500
    url = fake_connector.service_url
    token = channel_token(signing_key, service_url=url)

    first = await post_with_token(client, url, token)
    started = time.monotonic()
    later = await asyncio.gather(*(post_with_token(client, url, token) for _ in range(CONCURRENT)))
    later_seconds = time.monotonic() - started

    assert first == 503
    assert later == [503] * CONCURRENT
    assert later_seconds < 3.0
    assert openid.paths == ["/v1/.well-known/openidconfiguration"]  # the failure was not retried


class ManualClock:
    """A monotonic clock the test moves by hand (the key cache's ages), so no test waits hours."""

    def __init__(self) -> None:
        self.now = 1_000.0

    def __call__(self) -> float:
        return self.now

    def advance(self, hours: float) -> None:
        self.now += hours * 3600


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock()


@pytest.fixture
async def clocked_client(
    openid: OpenIdStandIn, credentials: FakeCredentialsFactory, clock: ManualClock
) -> AsyncIterator[TestClient]:
    auth = CachingBotFrameworkAuthentication(
        SETTINGS.to_sdk_config(), credentials_factory=credentials, clock=clock, key_wait_seconds=5.0
    )
    adapter = CloudAdapter(auth)
    adapter.on_turn_error = on_turn_error
    async with serve(create_app(SETTINGS, EchoBot(), adapter=adapter)) as test_client:
        yield test_client


async def test_held_keys_keep_verifying_through_a_failed_refresh_until_the_stated_limit(
    clocked_client: TestClient,
    fake_connector: FakeConnector,
    signing_key: RSAPrivateKey,
    openid: OpenIdStandIn,
    clock: ManualClock,
    caplog: pytest.LogCaptureFixture,
) -> None:
    url = fake_connector.service_url
    token = channel_token(signing_key, service_url=url)
    assert await post_with_token(clocked_client, url, token) == 201  # keys fetched at hour 0
    openid.status = 500

    clock.advance(25)  # a refresh is due (24 h) and fails
    with caplog.at_level(logging.WARNING, logger="bot.signing_keys"):
        during_outage = await post_with_token(clocked_client, url, token)
        await _until(lambda: "could not refresh" in caplog.text)
    clock.advance(47.9 - 25)  # still within 24 h past the refresh time
    late = await post_with_token(clocked_client, url, token)
    clock.advance(0.2)  # 48.1 h after the fetch: past the limit
    too_late = await post_with_token(clocked_client, url, token)

    assert (during_outage, late, too_late) == (201, 201, 503)
    assert "verifying with the keys fetched 25.0 hours ago, for at most 23.0 hours more" in caplog.text
    assert fake_connector.sent_texts() == ["echo: hi"] * 3


async def test_a_token_naming_a_key_not_held_gets_503_during_an_outage_not_401(
    clocked_client: TestClient,
    fake_connector: FakeConnector,
    signing_key: RSAPrivateKey,
    other_key: RSAPrivateKey,
    openid: OpenIdStandIn,
    clock: ManualClock,
) -> None:
    url = fake_connector.service_url
    assert await post_with_token(clocked_client, url, channel_token(signing_key, service_url=url)) == 201
    openid.status = 500
    clock.advance(2)  # past the hour after which an unknown key may cause a refresh

    rotated = await post_with_token(clocked_client, url, channel_token(other_key, service_url=url, kid="new"))
    held = await post_with_token(clocked_client, url, channel_token(signing_key, service_url=url))

    assert (rotated, held) == (503, 201)


async def _until(condition: Any, seconds: float = 5.0) -> None:
    """Wait for something a background task does (the refresh runs after the request is answered)."""
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        await asyncio.sleep(0.01)
