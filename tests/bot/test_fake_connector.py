"""The fake Bot Connector answers like the real one and fails on request, for delivery tests to rely on."""

from __future__ import annotations

import asyncio

import aiohttp

from tests.fakes import FakeConnector


async def test_fake_connector_answers_each_operation_and_records_it(fake_connector: FakeConnector) -> None:
    base = fake_connector.service_url_for("/_connector")
    calls = [
        ("POST", "/v3/conversations", 201),
        ("POST", "/v3/conversations/a:1/activities", 200),
        ("POST", "/v3/conversations/a:1/activities/act-1", 200),
        ("PUT", "/v3/conversations/a:1/activities/act-1", 200),
        ("DELETE", "/v3/conversations/a:1/activities/act-1", 200),
        ("GET", "/v3/conversations/a:1/members", 404),
    ]
    async with aiohttp.ClientSession() as session:
        for method, path, status in calls:
            async with session.request(method, base + path, json={"type": "message"}) as response:
                assert response.status == status

    assert [r.operation for r in fake_connector.requests] == [
        "create_conversation",
        "send_to_conversation",
        "reply_to_activity",
        "update_activity",
        "delete_activity",
        "unknown",
    ]
    assert fake_connector.requests[2].conversation_id == "a:1"
    assert fake_connector.requests[2].activity_id == "act-1"
    assert fake_connector.requests[0].path == "/_connector/v3/conversations"


async def test_fake_connector_fails_the_next_requests_as_told_then_recovers(
    fake_connector: FakeConnector,
) -> None:
    fake_connector.fail_next(429, times=2, retry_after=3)
    fake_connector.fail_next(403)
    url = fake_connector.service_url + "/v3/conversations/a:1/activities"
    answers = []
    async with aiohttp.ClientSession() as session:
        for _ in range(4):
            async with session.post(url, json={"type": "message", "text": "hi"}) as response:
                answers.append((response.status, response.headers.get("Retry-After")))

    assert answers == [(429, "3"), (429, "3"), (403, None), (200, None)]
    assert fake_connector.sent_texts() == ["hi"]
    assert [r.status for r in fake_connector.requests] == [429, 429, 403, 200]


async def test_waiting_for_requests_returns_once_they_have_arrived(fake_connector: FakeConnector) -> None:
    async def send_later(session: aiohttp.ClientSession) -> None:
        await asyncio.sleep(0.05)
        url = fake_connector.service_url + "/v3/conversations/a:1/activities"
        async with session.post(url, json={"type": "message", "text": "later"}):
            pass

    async with aiohttp.ClientSession() as session:
        sender = asyncio.create_task(send_later(session))
        arrived = await fake_connector.wait_for_requests(1, within_seconds=2)
        await sender

    assert [r.body["text"] for r in arrived] == ["later"]
