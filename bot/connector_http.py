"""The Bot Connector's HTTP requests made with aiohttp on the event loop.

The connector client msrest builds sends each request with `requests`, in a thread of the default executor:
for every reply and every notification, a hand-over to a thread and back, and the `requests` machinery, which
together took longer than the bot's own work for `help`. `AiohttpDriver` keeps everything msrest does before
the request (the credentials policy signs the `requests` session, the user agent, the JSON body) and makes
only the request itself with one pooled `aiohttp.ClientSession`, with the session's headers merged as
`requests` merges them, on one session shared by every client of the event loop. What it does not handle (uploads of files, proxies, client certificates, hooks)
goes the SDK's own way. Proxies set in the environment are read once, when the driver is made: asking for
them on every request, as aiohttp's `trust_env` does, costs two hand-overs to a thread per request.
"""

from __future__ import annotations

import asyncio
import ssl
import weakref
from typing import Any
from urllib.request import getproxies

import aiohttp
from msrest.exceptions import ClientRequestError
from msrest.universal_http import ClientRequest
from msrest.universal_http.aiohttp import AioHttpClientResponse
from msrest.universal_http.async_requests import AsyncBasicRequestsHTTPSender, AsyncRequestsHTTPSender
from requests.sessions import merge_setting
from requests.structures import CaseInsensitiveDict

#: What `AiohttpDriver` leaves to the SDK's own `requests` path.
_SDK_WAY = ("files", "proxies", "cert", "hooks")
#: Headers of a `requests` session that describe its own connection, not the request.
_CONNECTION_HEADERS = ("Connection",)


class AiohttpDriver(AsyncRequestsHTTPSender):
    """msrest's `requests` driver, sending with aiohttp instead of `requests` in a thread."""

    def __init__(self, config: Any) -> None:
        super().__init__(config)
        #: Proxies the environment names (HTTPS_PROXY...): with any, requests go the SDK's way, which applies
        #: them (and their exceptions) as it always has.
        self._env_proxies = bool(getproxies())


    async def send(self, request: ClientRequest, **kwargs: Any) -> Any:  # type: ignore[override]
        options = self._configure_send(request, **kwargs)
        if self._env_proxies or any(options.get(name) for name in _SDK_WAY):
            return await AsyncBasicRequestsHTTPSender.send(self, request, **options)
        session = options.pop("session", self.session)
        headers = merge_setting(options.get("headers"), session.headers, dict_class=CaseInsensitiveDict)
        for name in _CONNECTION_HEADERS:
            headers.pop(name, None)
        try:
            response = await shared_session().request(
                request.method,
                request.url,
                headers=dict(headers),
                data=options.get("data"),
                allow_redirects=bool(options.get("allow_redirects", True)),
                timeout=_timeout(options.get("timeout")),
                ssl=_ssl(options.get("verify", True)),
            )
            answer = AioHttpClientResponse(request, response)
            await answer.load_body()
        except (aiohttp.ClientError, TimeoutError) as error:
            raise ClientRequestError(f"Error occurred in request.: {type(error).__name__}: {error}") from error
        return answer



#: One HTTP session (one connection pool) per event loop for every connector client: a client per service URL
#: is kept only for the most recent ones, and one dropped must leave no session of its own behind.
_sessions: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, aiohttp.ClientSession] = (
    weakref.WeakKeyDictionary()
)


def shared_session() -> aiohttp.ClientSession:
    """The running event loop's session for Bot Connector requests, made on first use."""
    loop = asyncio.get_running_loop()
    session = _sessions.get(loop)
    if session is None or session.closed:
        session = aiohttp.ClientSession(trust_env=False, auto_decompress=True)
        _sessions[loop] = session
    return session


async def close_shared_session() -> None:
    """Close the running event loop's session (when the application stops)."""
    session = _sessions.pop(asyncio.get_running_loop(), None)
    if session is not None:
        await session.close()


def _timeout(value: Any) -> aiohttp.ClientTimeout:
    if isinstance(value, tuple):
        connect, read = value
        return aiohttp.ClientTimeout(sock_connect=connect, sock_read=read)
    return aiohttp.ClientTimeout(total=value)


def _ssl(verify: Any) -> Any:
    if verify is False:
        return False
    if isinstance(verify, str):
        return ssl.create_default_context(cafile=verify)
    return True


def use_aiohttp(client: Any) -> None:
    """Send a connector client's requests through `AiohttpDriver` (its pipeline's policies as the SDK makes
    them: `AsyncBfPipeline`, the SDK's own hook for another driver)."""
    from botframework.connector import AsyncBfPipeline

    client.config.driver = AiohttpDriver(client.config)
    client.config.pipeline = AsyncBfPipeline(client.config)
