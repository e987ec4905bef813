"""The signing-key cache on its own: one fetch for everyone, a bounded wait, failures remembered, stale keys
kept up to the stated limit. The key endpoint is a fake that hangs, fails or answers when told; the clock is
moved by hand."""

from __future__ import annotations

import asyncio
import logging
import time
from datetime import timedelta

import pytest

from bot.errors import AuthenticationUnavailable
from bot.signing_keys import (
    FAILURE_MEMORY_SECONDS,
    REFRESH_AFTER,
    STALE_LIMIT,
    UNKNOWN_KEY_REFRESH_AFTER,
    SigningKey,
    SigningKeyCache,
)

OLD = [{"kid": "old", "kty": "RSA"}]
NEW = [{"kid": "new", "kty": "RSA"}]


class Clock:
    def __init__(self) -> None:
        self.now = 5_000.0

    def __call__(self) -> float:
        return self.now

    def advance(self, by: timedelta | float) -> None:
        self.now += by.total_seconds() if isinstance(by, timedelta) else by


class KeyEndpoint:
    """A fake key endpoint: answers `keys`, fails, or hangs until released; counts fetches in flight."""

    def __init__(self) -> None:
        self.keys: list[SigningKey] = OLD
        self.failing = False
        self.released = asyncio.Event()
        self.released.set()
        self.fetches = 0
        self.in_flight = 0
        self.most_in_flight = 0

    def hang(self) -> None:
        self.released.clear()

    async def fetch(self) -> list[SigningKey]:
        self.fetches += 1
        self.in_flight += 1
        self.most_in_flight = max(self.most_in_flight, self.in_flight)
        try:
            await self.released.wait()
            if self.failing:
                raise OSError("key endpoint down")
            return list(self.keys)
        finally:
            self.in_flight -= 1


@pytest.fixture
def endpoint() -> KeyEndpoint:
    return KeyEndpoint()


@pytest.fixture
def clock() -> Clock:
    return Clock()


def cache_for(endpoint: KeyEndpoint, clock: Clock, wait_seconds: float = 0.5) -> SigningKeyCache:
    return SigningKeyCache(endpoint.fetch, clock=clock, wait_seconds=wait_seconds)


async def outcome(cache: SigningKeyCache, key_id: str = "old") -> str:
    try:
        keys = await cache.keys_for(key_id)
    except AuthenticationUnavailable:
        return "503"
    return ",".join(key["kid"] for key in keys)


def test_the_stated_limits() -> None:
    assert REFRESH_AFTER == timedelta(hours=24)
    assert UNKNOWN_KEY_REFRESH_AFTER == timedelta(hours=1)
    assert STALE_LIMIT == timedelta(hours=24)
    assert FAILURE_MEMORY_SECONDS == 30.0


async def test_concurrent_requests_share_one_fetch(endpoint: KeyEndpoint, clock: Clock) -> None:
    cache = cache_for(endpoint, clock, wait_seconds=5.0)
    endpoint.hang()

    waiting = asyncio.gather(*(outcome(cache) for _ in range(50)))
    await asyncio.sleep(0.05)
    endpoint.released.set()

    assert await waiting == ["old"] * 50
    assert (endpoint.fetches, endpoint.most_in_flight) == (1, 1)


async def test_a_hanging_endpoint_answers_every_waiting_request_within_the_wait(
    endpoint: KeyEndpoint, clock: Clock
) -> None:
    cache = cache_for(endpoint, clock, wait_seconds=0.5)
    endpoint.hang()

    started = time.monotonic()
    first = await asyncio.gather(*(outcome(cache) for _ in range(50)))
    later = await asyncio.gather(*(outcome(cache) for _ in range(50)))
    elapsed = time.monotonic() - started

    assert first == ["503"] * 50 and later == ["503"] * 50
    assert elapsed < 3.0, f"100 requests in two waves took {elapsed:.2f} s"
    assert (endpoint.fetches, endpoint.most_in_flight) == (1, 1)
    endpoint.released.set()
    await cache.aclose()


async def test_a_failed_fetch_is_remembered_for_30_seconds(endpoint: KeyEndpoint, clock: Clock) -> None:
    cache = cache_for(endpoint, clock)
    endpoint.failing = True

    first = await outcome(cache)
    clock.advance(FAILURE_MEMORY_SECONDS - 1)
    meanwhile = await asyncio.gather(*(outcome(cache) for _ in range(20)))
    fetches_meanwhile = endpoint.fetches
    clock.advance(1)
    endpoint.failing = False
    afterwards = await outcome(cache)

    assert first == "503" and meanwhile == ["503"] * 20
    assert fetches_meanwhile == 1
    assert (afterwards, endpoint.fetches) == ("old", 2)


async def test_held_keys_verify_through_failed_refreshes_with_a_warning_until_the_limit(
    endpoint: KeyEndpoint, clock: Clock, caplog: pytest.LogCaptureFixture
) -> None:
    cache = cache_for(endpoint, clock)
    assert await outcome(cache) == "old"
    endpoint.failing = True

    with caplog.at_level(logging.WARNING, logger="bot.signing_keys"):
        clock.advance(REFRESH_AFTER + timedelta(hours=1))
        during = await outcome(cache)  # answered at once; the refresh runs behind it
        await asyncio.sleep(0.01)
        clock.advance(REFRESH_AFTER + STALE_LIMIT - timedelta(hours=25, seconds=1))
        last_moment = await outcome(cache)
        await asyncio.sleep(0.01)
        clock.advance(2)
        past_the_limit = await outcome(cache)  # the refresh just before failed: no new fetch
        clock.advance(FAILURE_MEMORY_SECONDS)
        next_try = await outcome(cache)

    assert (during, last_moment, past_the_limit, next_try) == ("old", "old", "503", "503")
    assert endpoint.fetches == 4
    warnings = [record.getMessage() for record in caplog.records]
    assert "verifying with the keys fetched 25.0 hours ago, for at most 23.0 hours more" in warnings[0]
    assert "requests are answered 503 until a fetch succeeds" in warnings[-1]


async def test_a_successful_refresh_replaces_the_keys(endpoint: KeyEndpoint, clock: Clock) -> None:
    cache = cache_for(endpoint, clock)
    assert await outcome(cache) == "old"
    endpoint.keys = NEW

    clock.advance(REFRESH_AFTER)
    still_old = await outcome(cache)  # the held key still verifies while the refresh runs
    await asyncio.sleep(0)
    await asyncio.sleep(0)
    renewed = await outcome(cache, "new")

    assert (still_old, renewed, endpoint.fetches) == ("old", "new", 2)


async def test_an_unknown_key_refreshes_at_most_hourly_and_gets_503_while_the_endpoint_is_down(
    endpoint: KeyEndpoint, clock: Clock
) -> None:
    cache = cache_for(endpoint, clock)
    assert await outcome(cache) == "old"

    within_the_hour = await outcome(cache, "new")  # keys are handed over; the token's verification fails
    clock.advance(UNKNOWN_KEY_REFRESH_AFTER)
    endpoint.failing = True
    during_outage = await outcome(cache, "new")
    held_key = await outcome(cache, "old")

    assert (within_the_hour, during_outage, held_key) == ("old", "503", "old")
    assert endpoint.fetches == 2
