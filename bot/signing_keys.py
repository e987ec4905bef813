"""The Bot Connector's signing keys for one OpenID metadata URL: fetched once for everyone, kept through outages.

Microsoft's SDKs refresh these keys every 24 hours, and at most hourly when a token names a key they do not
hold; this cache keeps those rules and adds what they lack when the key endpoint is down or hanging:

- one fetch at a time, shared by every request that needs it (single flight); a request waits for it at
  most `wait_seconds` (1 s) and is then answered 503, while the fetch goes on for the next request;
- a failed fetch is remembered for `failure_memory_seconds` (30 s): meanwhile requests that need new keys
  are answered 503 at once, without another fetch;
- keys already held keep verifying tokens while a refresh fails, with a warning, for up to
  `stale_limit` (24 hours) past their normal refresh time, so for at most 48 hours after they were
  fetched; after that, requests are answered 503 until a fetch succeeds.

A token naming a key not held always needs a fetch (the keys may have been rotated); it gets its 503 while
the endpoint is down, since no held key can verify it.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable
from datetime import timedelta
from typing import Any

from bot.errors import AuthenticationUnavailable

log = logging.getLogger(__name__)

SigningKey = dict[str, Any]
FetchKeys = Callable[[], Awaitable[list[SigningKey]]]
Clock = Callable[[], float]

#: How long fetched keys are used before a refresh is due (the SDKs' rule).
REFRESH_AFTER = timedelta(hours=24)
#: How often a token naming an unknown key may cause a refresh (the SDKs' rule).
UNKNOWN_KEY_REFRESH_AFTER = timedelta(hours=1)
#: How long past REFRESH_AFTER held keys still verify tokens while refreshes fail.
STALE_LIMIT = timedelta(hours=24)
#: How long a failed fetch is remembered: no new fetch, and an immediate 503 for requests needing one.
FAILURE_MEMORY_SECONDS = 30.0
#: How long a request waits for a fetch in flight before it is answered 503.
WAIT_SECONDS = 1.0


class SigningKeyCache:
    """The signing keys of one metadata URL; `keys_for(kid)` gives the keys to verify a token with."""

    def __init__(
        self,
        fetch: FetchKeys,
        *,
        clock: Clock = time.monotonic,
        wait_seconds: float = WAIT_SECONDS,
        failure_memory_seconds: float = FAILURE_MEMORY_SECONDS,
        refresh_after: timedelta = REFRESH_AFTER,
        unknown_key_refresh_after: timedelta = UNKNOWN_KEY_REFRESH_AFTER,
        stale_limit: timedelta = STALE_LIMIT,
    ) -> None:
        self._fetch = fetch
        self._clock = clock
        self._wait_seconds = wait_seconds
        self._failure_memory = failure_memory_seconds
        self._refresh_after = refresh_after.total_seconds()
        self._unknown_key_refresh_after = unknown_key_refresh_after.total_seconds()
        self._usable_for = (refresh_after + stale_limit).total_seconds()
        self._keys: list[SigningKey] = []
        self._fetched_at: float | None = None
        self._failed_at: float | None = None
        self._in_flight: asyncio.Task[None] | None = None

    async def keys_for(self, key_id: str) -> list[SigningKey]:
        """The keys to verify a token signed with `key_id`, refreshed if due.

        Raises `AuthenticationUnavailable` (answered 503) when no usable keys can be had within
        `wait_seconds`; never waits longer than that.
        """
        if not self._refresh_due(key_id):
            return self._keys
        if not self._failed_recently():
            fetch = self._start_fetch()
            if not self._usable(key_id):
                try:
                    await asyncio.wait_for(asyncio.shield(fetch), self._wait_seconds)
                except TimeoutError:
                    raise AuthenticationUnavailable(
                        "the Bot Connector's signing keys are still being fetched"
                    ) from None
                if not self._refresh_due(key_id):
                    return self._keys  # just fetched; a key still unknown makes the token invalid (401)
        if self._usable(key_id):
            return self._keys
        raise AuthenticationUnavailable("the Bot Connector's signing keys could not be fetched")

    async def aclose(self) -> None:
        """Stop waiting for a fetch in flight, so none outlives the application."""
        fetch = self._in_flight
        if fetch is not None:
            fetch.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await fetch

    def _age(self) -> float | None:
        return None if self._fetched_at is None else self._clock() - self._fetched_at

    def _holds(self, key_id: str) -> bool:
        return any(key.get("kid") == key_id for key in self._keys)

    def _refresh_due(self, key_id: str) -> bool:
        age = self._age()
        if age is None or age >= self._refresh_after:
            return True
        return not self._holds(key_id) and age >= self._unknown_key_refresh_after

    def _usable(self, key_id: str) -> bool:
        """Held keys can verify this token: the key is held and not past the stale limit."""
        age = self._age()
        return age is not None and age < self._usable_for and self._holds(key_id)

    def _failed_recently(self) -> bool:
        return self._failed_at is not None and self._clock() - self._failed_at < self._failure_memory

    def _start_fetch(self) -> asyncio.Task[None]:
        if self._in_flight is None:
            self._in_flight = asyncio.get_running_loop().create_task(self._refresh())
        return self._in_flight

    async def _refresh(self) -> None:
        """One fetch; its outcome is recorded here, so a fetch nobody waits for still counts."""
        try:
            keys = await self._fetch()
        except Exception as error:
            self._failed_at = self._clock()
            age = self._age()
            if age is not None and age < self._usable_for:
                log.warning(
                    "could not refresh the Bot Connector's signing keys (%s); verifying with the keys "
                    "fetched %.1f hours ago, for at most %.1f hours more",
                    type(error).__name__,
                    age / 3600,
                    (self._usable_for - age) / 3600,
                )
            else:
                log.warning(
                    "could not fetch the Bot Connector's signing keys (%s); requests are answered 503 "
                    "until a fetch succeeds",
                    type(error).__name__,
                )
        else:
            self._keys = keys
            self._fetched_at = self._clock()
            self._failed_at = None
        finally:
            self._in_flight = None
