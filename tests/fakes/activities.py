"""Activities as Teams would post them, and a way to post them to an aiohttp application under test."""

from __future__ import annotations

import itertools
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from typing import Any

from aiohttp import ClientResponse, web
from aiohttp.test_utils import TestClient, TestServer

# The Agents Playground's invented tenant and people, so tests and the Playground agree on ids.
TENANT_ID = "00000000-0000-0000-0000-0000000000001"
ALEX_AAD_OBJECT_ID = "00000000-0000-0000-0000-0000000000020"
BOT_ID = "28:00000000-0000-0000-0000-00000000b075"

_activity_ids = itertools.count(1)


def make_activity(
    text: str | None = "hello",
    *,
    service_url: str,
    from_id: str = "29:alex-wilber",
    from_name: str = "Alex Wilber",
    aad_object_id: str = ALEX_AAD_OBJECT_ID,
    conversation_id: str = "a:personal-alex-wilber",
    conversation_type: str = "personal",
    activity_type: str = "message",
    name: str | None = None,
    value: Any = None,
    channel_id: str = "msteams",
    tenant_id: str = TENANT_ID,
) -> dict[str, Any]:
    """A JSON activity from a person in Teams to the bot; a message unless `activity_type` says otherwise."""
    activity: dict[str, Any] = {
        "type": activity_type,
        "id": f"incoming-{next(_activity_ids)}",
        "timestamp": datetime.now(UTC).isoformat(),
        "serviceUrl": service_url,
        "channelId": channel_id,
        "from": {"id": from_id, "name": from_name, "aadObjectId": aad_object_id},
        "conversation": {"id": conversation_id, "conversationType": conversation_type, "tenantId": tenant_id},
        "recipient": {"id": BOT_ID, "name": "Challenge bot"},
        "channelData": {"tenant": {"id": tenant_id}},
        "locale": "en-GB",
    }
    if text is not None:
        activity["text"] = text
    if name is not None:
        activity["name"] = name
    if value is not None:
        activity["value"] = value
    return activity


async def post_activity(
    client: TestClient,
    activity: Mapping[str, Any],
    *,
    headers: Mapping[str, str] | None = None,
    path: str = "/api/messages",
) -> ClientResponse:
    """POST an activity as JSON to the application, as the Bot Connector does."""
    return await client.post(path, json=dict(activity), headers=dict(headers or {}))


@asynccontextmanager
async def serve(app: web.Application) -> AsyncIterator[TestClient]:
    """Run `app` on 127.0.0.1 (ephemeral port) with startup and cleanup hooks, and a client for it."""
    client: TestClient = TestClient(TestServer(app, host="127.0.0.1"))
    await client.start_server()
    try:
        yield client
    finally:
        await client.close()
