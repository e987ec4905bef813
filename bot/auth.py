"""Bot Framework authentication that is fast per turn, never blocks the event loop, and refuses with 401.

botbuilder 4.17.1 builds a new connector client and a new user-token client for every turn; msrest spends
most of a turn's time building their retry policies, and each new set of credentials starts with an empty
token cache. This subclass keeps the clients (and so their credentials, tokens and pooled connections) per
app id, service URL and audience. It also fetches the channel's signing keys (through `SigningKeyCache`:
one fetch for all waiting requests, a bounded wait, stale keys kept through an outage) and the bot's own
access token in a worker thread, where the SDK would call `requests` on the event loop, and turns every
kind of bad token into a `PermissionError` (401) where the SDK lets some escape as 500s.
"""

from __future__ import annotations

import asyncio
import logging
import time
import weakref
from collections import OrderedDict
from datetime import datetime
from logging import Logger
from typing import Any

import jwt
import requests
from botbuilder.integration.aiohttp import (
    ConfigurationBotFrameworkAuthentication,
    ConfigurationServiceClientCredentialFactory,
)
from botbuilder.schema import Activity
from botframework.connector import HttpClientFactory
from botframework.connector.aio import ConnectorClient
from botframework.connector.auth import (
    AppCredentials,
    AuthenticateRequestResult,
    AuthenticationConfiguration,
    AuthenticationConstants,
    ChannelValidation,
    ClaimsIdentity,
    ConnectorFactory,
    EmulatorValidation,
    JwtTokenExtractor,
    ServiceClientCredentialsFactory,
    SkillValidation,
    UserTokenClient,
)

from bot.activity_body import use_activity_body_serializer
from bot.connector_http import close_shared_session, use_aiohttp
from bot.errors import AuthenticationUnavailable
from bot.signing_keys import WAIT_SECONDS, Clock, SigningKeyCache

log = logging.getLogger(__name__)

ConnectorKey = tuple[str | None, str, str | None]

# Settings that send the SDK to other clouds or key endpoints; with any of them set the SDK fetches its keys.
_NON_PUBLIC_CLOUD_SETTINGS = (
    "CHANNEL_SERVICE",
    "TO_BOT_FROM_CHANNEL_OPENID_METADATA_URL",
    "TO_BOT_FROM_EMULATOR_OPENID_METADATA_URL",
)
_TOKEN_WARM_INTERVAL_SECONDS = 300.0


class CachingBotFrameworkAuthentication(ConfigurationBotFrameworkAuthentication):  # type: ignore[misc]
    """`ConfigurationBotFrameworkAuthentication` that reuses clients and maps every auth failure to 401.

    Clients are created on first use and kept (least recently used first out beyond `max_cached_clients`);
    `aclose()` releases their connections when the application stops. Signing keys are pre-fetched off the
    event loop for the public cloud (what `Settings` configures); with `CHANNEL_SERVICE` or custom metadata
    URLs in the configuration the SDK fetches them itself. Without an app id (local mode) nothing is
    authenticated and an `Authorization` header is ignored rather than checked against Microsoft's keys.
    """

    def __init__(
        self,
        configuration: Any,
        *,
        credentials_factory: ServiceClientCredentialsFactory | None = None,
        auth_configuration: AuthenticationConfiguration | None = None,
        http_client_factory: HttpClientFactory | None = None,
        logger: Logger | None = None,
        key_fetch_timeout_seconds: float = 10.0,
        key_wait_seconds: float = WAIT_SECONDS,
        clock: Clock = time.monotonic,
        max_cached_clients: int = 64,
    ) -> None:
        self._credentials_factory: ServiceClientCredentialsFactory = (
            credentials_factory or ConfigurationServiceClientCredentialFactory(configuration)
        )
        super().__init__(
            configuration,
            credentials_factory=self._credentials_factory,
            auth_configuration=auth_configuration,
            http_client_factory=http_client_factory,
            logger=logger,
        )
        self._prefetch_keys = not any(
            getattr(configuration, name, None) for name in _NON_PUBLIC_CLOUD_SETTINGS
        )
        self._key_fetch_timeout = key_fetch_timeout_seconds
        self._max_cached_clients = max_cached_clients
        self._connector_clients: OrderedDict[ConnectorKey, ConnectorClient] = OrderedDict()
        self._user_token_clients: OrderedDict[str | None, UserTokenClient] = OrderedDict()
        self._token_warmed_at: weakref.WeakKeyDictionary[AppCredentials, float] = weakref.WeakKeyDictionary()
        self._clock = clock
        self._key_wait_seconds = key_wait_seconds
        self._signing_keys: dict[str, SigningKeyCache] = {}

    async def authenticate_request(self, activity: Activity, auth_header: str) -> AuthenticateRequestResult:
        """Verify the request's token; any failure is a `PermissionError`, which CloudAdapter answers 401.

        Raises `AuthenticationUnavailable` when the signing keys cannot be fetched (the server answers 503).
        """
        if await self._credentials_factory.is_authentication_disabled():
            auth_header = ""
        else:
            await self._check_token_shape_and_keys(auth_header)
        try:
            result = await super().authenticate_request(activity, auth_header)
        except PermissionError:
            raise
        except requests.RequestException as error:
            raise AuthenticationUnavailable(
                "the Bot Connector's signing keys could not be fetched"
            ) from error
        except Exception as error:
            log.info("request refused: token not valid (%s)", type(error).__name__)
            raise PermissionError("Unauthorized: the token is not valid") from error
        result.connector_factory = self.create_connector_factory(result.claims_identity)
        return result

    def create_connector_factory(self, claims_identity: ClaimsIdentity) -> ConnectorFactory:
        """A factory handing out this instance's cached connector clients, for turns and proactive sends."""
        return _CachingConnectorFactory(
            self, super().create_connector_factory(claims_identity), _app_id_of(claims_identity)
        )

    async def create_user_token_client(self, claims_identity: ClaimsIdentity) -> UserTokenClient:
        """The user-token client for the claims' app id, built once."""
        app_id = _app_id_of(claims_identity)
        client = self._user_token_clients.get(app_id)
        if client is None:
            built = await super().create_user_token_client(claims_identity)
            client = self._user_token_clients.setdefault(app_id, built)
            _trim(self._user_token_clients, self._max_cached_clients)
        else:
            self._user_token_clients.move_to_end(app_id)
        return client

    async def aclose(self) -> None:
        """Close the cached connector clients' HTTP sessions and forget every cached client."""
        for cache in self._signing_keys.values():
            await cache.aclose()
        clients = list(self._connector_clients.values())
        self._connector_clients.clear()
        self._user_token_clients.clear()
        self._token_warmed_at.clear()
        for client in clients:
            await client.__aexit__(None, None, None)
        await close_shared_session()

    async def _connector_client(
        self, inner: ConnectorFactory, app_id: str | None, service_url: str, audience: str | None
    ) -> ConnectorClient:
        # The SDK reads "no audience" (proactive turns) as the channel's scope; one client serves both.
        audience = audience or self.get_originating_audience()
        key: ConnectorKey = (app_id, service_url, audience)
        client = self._connector_clients.get(key)
        if client is None:
            built = await inner.create(service_url, audience)
            use_activity_body_serializer(built)
            use_aiohttp(built)
            # Another turn may have built one meanwhile; keep the first so all turns share one session.
            client = self._connector_clients.setdefault(key, built)
            _trim(self._connector_clients, self._max_cached_clients)
        else:
            self._connector_clients.move_to_end(key)
        await self._warm_access_token(client)
        return client

    async def _warm_access_token(self, client: ConnectorClient) -> None:
        """Get the bot's access token in a thread now and then, so msrest finds it cached on the loop."""
        credentials = client.config.credentials
        if not isinstance(credentials, AppCredentials) or not credentials.microsoft_app_id:
            return
        if credentials.microsoft_app_id == AuthenticationConstants.ANONYMOUS_SKILL_APP_ID:
            return
        now = time.monotonic()
        warmed_at = self._token_warmed_at.get(credentials)
        if warmed_at is not None and now - warmed_at < _TOKEN_WARM_INTERVAL_SECONDS:
            return
        self._token_warmed_at[credentials] = now
        try:
            await asyncio.to_thread(credentials.get_access_token)
        except Exception as error:
            # The send that follows will fail and be reported by the turn's error handler.
            log.warning("could not get the bot's access token (%s)", type(error).__name__)
            self._token_warmed_at.pop(credentials, None)

    async def _check_token_shape_and_keys(self, auth_header: str) -> None:
        """Refuse what cannot be a Bot Connector token; make sure its signing key is known, off the loop."""
        scheme, _, token = (auth_header or "").partition(" ")
        if scheme != "Bearer" or not token or " " in token:
            raise PermissionError("Unauthorized: a Bearer token is required")
        try:
            header = jwt.get_unverified_header(token)
            claims = jwt.decode(token, options={"verify_signature": False})
        except jwt.PyJWTError as error:
            raise PermissionError("Unauthorized: the bearer token is not a JWT") from error
        if header.get("alg") not in AuthenticationConstants.ALLOWED_SIGNING_ALGORITHMS:
            raise PermissionError("Unauthorized: token signing algorithm not allowed")
        key_id = header.get("kid")
        if not isinstance(key_id, str) or not key_id:
            raise PermissionError("Unauthorized: the token names no signing key")
        if not self._prefetch_keys:
            return
        url = _metadata_url(claims)
        cache = self._signing_keys.get(url)
        if cache is None:
            cache = self._signing_keys[url] = SigningKeyCache(
                lambda: asyncio.to_thread(_fetch_signing_keys, url, self._key_fetch_timeout),
                clock=self._clock,
                wait_seconds=self._key_wait_seconds,
            )
        keys = await cache.keys_for(key_id)
        # Hand the SDK the keys this cache decided on, marked fresh so it never refreshes them itself (it
        # would do so with blocking calls on the event loop).
        metadata = JwtTokenExtractor.get_open_id_metadata(url)
        metadata.keys = keys
        metadata.last_updated = datetime.now()


class _CachingConnectorFactory(ConnectorFactory):  # type: ignore[misc]
    """The SDK's connector factory for one identity, answering from its owner's client cache."""

    def __init__(self, owner: CachingBotFrameworkAuthentication, inner: ConnectorFactory, app_id: str | None):
        self._owner = owner
        self._inner = inner
        self._app_id = app_id

    async def create(self, service_url: str, audience: str | None = None) -> ConnectorClient:
        return await self._owner._connector_client(self._inner, self._app_id, service_url, audience)


def _app_id_of(claims_identity: ClaimsIdentity) -> str | None:
    """The bot's app id as the SDK reads it: the audience of a channel token, else the appid claim."""
    claims = claims_identity.claims or {}
    value = claims.get(AuthenticationConstants.AUDIENCE_CLAIM)
    value = value or claims.get(AuthenticationConstants.APP_ID_CLAIM)
    return str(value) if value else None


def _metadata_url(claims: dict[str, Any]) -> str:
    """The OpenID metadata the SDK will read for this token (public cloud): emulator/skill or channel."""
    emulator_issuers = EmulatorValidation.TO_BOT_FROM_EMULATOR_TOKEN_VALIDATION_PARAMETERS.issuer
    if claims.get("iss") in emulator_issuers or SkillValidation.is_skill_claim(claims):
        return str(AuthenticationConstants.TO_BOT_FROM_EMULATOR_OPENID_METADATA_URL)
    channel = ChannelValidation.open_id_metadata_endpoint
    return str(channel or AuthenticationConstants.TO_BOT_FROM_CHANNEL_OPENID_METADATA_URL)


def _fetch_signing_keys(metadata_url: str, timeout: float) -> list[dict[str, Any]]:
    """Blocking: read the OpenID metadata, then its key set. Runs in a worker thread."""
    try:
        metadata = requests.get(metadata_url, timeout=timeout)
        metadata.raise_for_status()
        keys_response = requests.get(metadata.json()["jwks_uri"], timeout=timeout)
        keys_response.raise_for_status()
        keys = keys_response.json()["keys"]
    except (requests.RequestException, ValueError, KeyError, TypeError) as error:
        raise AuthenticationUnavailable("the Bot Connector's signing keys could not be fetched") from error
    if not isinstance(keys, list) or not all(isinstance(key, dict) for key in keys):
        raise AuthenticationUnavailable("the Bot Connector's key set is not a list of keys")
    return keys


def _trim(cache: OrderedDict[Any, Any], limit: int) -> None:
    while len(cache) > limit:
        cache.popitem(last=False)
