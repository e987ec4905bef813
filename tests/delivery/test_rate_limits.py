"""The fake Bot Connector's rate limits (tests/fakes/rate_limits.py): Teams' published windows, on a clock the
tests move, and the fake answering 429 with `Retry-After` beyond them."""

from __future__ import annotations

import asyncio

import aiohttp
import pytest

from bot.notifier import PER_CONVERSATION_LIMITS, PER_TENANT_LIMITS, SlidingWindowLimiter
from tests.fakes import FakeConnector
from tests.fakes.rate_limits import (
    PER_APP_PER_TENANT,
    PER_BOT_PER_THREAD,
    RateLimits,
    SlidingWindows,
    Window,
    drain_time,
)


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def test_the_published_limits() -> None:
    assert [(w.seconds, w.count) for w in PER_BOT_PER_THREAD] == [(1, 7), (2, 8), (30, 60), (3600, 1800)]
    assert [(w.seconds, w.count) for w in PER_APP_PER_TENANT] == [(1, 50)]


def test_seven_in_a_second_then_429_with_the_wait_until_the_first_leaves_the_window() -> None:
    clock = Clock()
    limits = RateLimits(clock=clock)
    assert all(limits.check("a:chat", "t").allowed for _ in range(7))
    clock.now = 0.25
    refused = limits.check("a:chat", "t")
    assert not refused.allowed and refused.refused_by == "conversation"
    assert refused.wait == pytest.approx(0.75)
    assert refused.retry_after == 1
    # Exactly one second after the first seven: they have left the 1 s window (t - 1, t]; the 2 s window has
    # room for one more (8 per 2 s), and not two.
    clock.now = 1.0
    assert limits.check("a:chat", "t").allowed
    second = limits.check("a:chat", "t")
    assert not second.allowed and second.wait == pytest.approx(1.0)


def test_just_before_the_limit_leaves_it_is_still_refused() -> None:
    clock = Clock()
    limits = RateLimits(clock=clock)
    for _ in range(7):
        limits.check("a:chat", "t")
    clock.now = 0.999
    assert not limits.check("a:chat", "t").allowed
    clock.now = 1.0
    assert limits.check("a:chat", "t").allowed


def test_a_refused_request_is_not_counted() -> None:
    clock = Clock()
    limits = RateLimits(per_conversation=(Window(1, 2),), per_tenant=(Window(1, 100),), clock=clock)
    limits.check("c", "t")
    limits.check("c", "t")
    for _ in range(5):
        assert not limits.check("c", "t").allowed
    clock.now = 1.0
    assert limits.check("c", "t").allowed
    assert limits.check("c", "t").allowed


def test_sixty_per_thirty_seconds_and_retry_after_rounds_up() -> None:
    clock = Clock()
    limits = RateLimits(clock=clock)
    sent = 0
    while sent < 60:
        decision = limits.check("a:chat", "t")
        if decision.allowed:
            sent += 1
        else:
            clock.now += decision.wait
    assert clock.now == pytest.approx(14.0)  # 7 at even seconds, 1 at odd ones: the 60th at 14 s
    clock.now = 27.5
    refused = limits.check("a:chat", "t")
    # The first of the sixty went at 0 s: the 61st may go at 30 s.
    assert refused.wait == pytest.approx(2.5) and refused.retry_after == 3


def test_conversations_are_limited_apart_and_the_tenant_together() -> None:
    clock = Clock()
    limits = RateLimits(clock=clock)
    for i in range(50):
        assert limits.check(f"a:chat-{i}", "tenant-1").allowed
    refused = limits.check("a:chat-50", "tenant-1")
    assert not refused.allowed and refused.wait == pytest.approx(1.0) and refused.refused_by == "tenant"
    # Another tenant has its own 50 a second.
    assert limits.check("a:chat-50", "tenant-2").allowed


def test_windows_forget_what_is_older_than_the_longest() -> None:
    windows = SlidingWindows((Window(1, 1), Window(10, 3)))
    for at in (0.0, 1.0, 2.0):
        assert windows.earliest("k", at) == at
        windows.count("k", at)
    assert windows.earliest("k", 3.0) == 10.0
    assert windows.earliest("k", 10.0) == 10.0


def test_drain_time() -> None:
    assert drain_time([]) == 0.0
    assert drain_time([("c", "t")]) == 0.0
    # A fan-out of 1,000 one-to-one notifications in one tenant: 50 a second.
    assert drain_time((f"c{i}", "t") for i in range(1000)) == pytest.approx(19.0)
    # The same spread over four tenants: 250 each, 50 a second.
    assert drain_time((f"c{i}", f"t{i % 4}") for i in range(1000)) == pytest.approx(4.0)
    # Sixteen to one chat: 7 at once, 1 at 1 s (8 per 2 s), 7 at 2 s, the 16th at 3 s.
    assert drain_time([("c", "t")] * 16) == pytest.approx(3.0)
    # 1,800 to one chat: 60 in each 30 s (at the pace above), so the 1,800th at 29 * 30 + 14 s.
    assert drain_time([("c", "t")] * 1800) == pytest.approx(29 * 30 + 14)
    # and the 1,801st waits for the hour.
    assert drain_time([("c", "t")] * 1801) == pytest.approx(3600)


def test_the_bots_own_pacing_keeps_within_the_fakes_limits() -> None:
    """bot.notifier's limiter and this fake state Teams' limits apart; a send the bot paces is never refused."""
    clock = Clock()

    async def sleep(seconds: float) -> None:
        clock.now += seconds

    conversation = SlidingWindowLimiter(PER_CONVERSATION_LIMITS, monotonic=clock, sleep=sleep)
    tenant = SlidingWindowLimiter(PER_TENANT_LIMITS, monotonic=clock, sleep=sleep)
    limits = RateLimits(clock=clock)

    async def send_all() -> None:
        for i in range(200):
            chat = "a:busy" if i % 2 else f"a:chat-{i}"
            await conversation.acquire(chat)
            await tenant.acquire("t")
            assert limits.check(chat, "t").allowed, (i, clock.now)

    asyncio.run(send_all())


async def test_the_fake_connector_answers_429_with_retry_after_beyond_the_limits() -> None:
    clock = Clock()
    async with FakeConnector(RateLimits(clock=clock)) as connector, aiohttp.ClientSession() as http:
        url = f"{connector.service_url}/v3/conversations/a:chat/activities"
        body = {"type": "message", "text": "hi", "conversation": {"id": "a:chat", "tenantId": "tenant-1"}}
        statuses = []
        for _ in range(8):
            async with http.post(url, json=body) as response:
                statuses.append((response.status, response.headers.get("Retry-After")))
        clock.now = 1.0
        async with http.post(url, json=body) as response:
            statuses.append((response.status, response.headers.get("Retry-After")))
    assert statuses == [(200, None)] * 7 + [(429, "1"), (200, None)]
    refused = connector.rate_limited()
    assert len(refused) == 1 and refused[0].tenant_id == "tenant-1" and refused[0].at == 0.0
    assert len(connector.sent_activities()) == 8
    assert [r.at for r in connector.requests] == [0.0] * 8 + [1.0]


async def test_the_fake_connector_limits_a_tenant_across_conversations_and_creations() -> None:
    clock = Clock()
    limits = RateLimits(per_tenant=(Window(1, 3),), clock=clock)
    async with FakeConnector(limits) as connector, aiohttp.ClientSession() as http:
        create = {"members": [{"id": "29:someone"}], "tenantId": "tenant-1", "isGroup": False}
        async with http.post(f"{connector.service_url}/v3/conversations", json=create) as response:
            assert response.status == 201
        for chat in ("a:one", "a:two", "a:three"):
            body = {
                "type": "message",
                "conversation": {"id": chat},
                "channelData": {"tenant": {"id": "tenant-1"}},
            }
            url = f"{connector.service_url}/v3/conversations/{chat}/activities/incoming-1"
            async with http.post(url, json=body) as response:
                last = response.status
    assert last == 429
    assert [(r.operation, r.refused_by) for r in connector.rate_limited()] == [
        ("reply_to_activity", "tenant")
    ]
    assert [r.status for r in connector.replies_to("incoming-1")] == [200, 200, 429]
