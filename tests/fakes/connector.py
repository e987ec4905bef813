"""A fake Bot Connector service: the `serviceUrl` a test's activities point at.

It listens on 127.0.0.1 (an ephemeral port), records every request the bot makes, answers the calls a bot
uses (send, reply, update, delete, create conversation) like the real service, and can be told to fail the
next requests with a given status, e.g. 429 with `Retry-After`, to exercise delivery retries. Given
`RateLimits` (tests/fakes/rate_limits.py), it enforces Teams' published limits as Teams does: a send, update
or delete beyond a conversation's windows, a create conversation beyond its member's, or any call beyond the
tenant's, is answered 429 with a `Retry-After` in whole seconds; every request is recorded with the time it
came (the limits' clock) and the status given, so the accepted and the refused can be counted.

Note for delivery tests (checked against this fake): botbuilder's connector client sends through `requests`
with msrest's retry policy, which on urllib3 2 retries PUT and DELETE (update, delete) up to 3 times on 429
and 5xx, honouring an integer `Retry-After` or else backing off 0.8 s, 1.6 s, 3.2 s; it never retries POST
(send, reply, create conversation), which fail at once with `ErrorResponseException` (the server's adapter,
bot/turn_replies.py, sends a turn's own replies again after a 429).
"""

from __future__ import annotations

import asyncio
import itertools
import json
import re
import time
from collections.abc import Callable
from dataclasses import dataclass
from types import TracebackType
from typing import Any

from aiohttp import web

from tests.fakes.rate_limits import RateLimits

_ROUTES: tuple[tuple[str, re.Pattern[str], str], ...] = (
    ("POST", re.compile(r"^/v3/conversations/?$"), "create_conversation"),
    ("POST", re.compile(r"^/v3/conversations/(?P<conversation>[^/]+)/activities/?$"), "send_to_conversation"),
    (
        "POST",
        re.compile(r"^/v3/conversations/(?P<conversation>[^/]+)/activities/(?P<activity>[^/]+)/?$"),
        "reply_to_activity",
    ),
    (
        "PUT",
        re.compile(r"^/v3/conversations/(?P<conversation>[^/]+)/activities/(?P<activity>[^/]+)/?$"),
        "update_activity",
    ),
    (
        "DELETE",
        re.compile(r"^/v3/conversations/(?P<conversation>[^/]+)/activities/(?P<activity>[^/]+)/?$"),
        "delete_activity",
    ),
)
_SENDS = frozenset({"send_to_conversation", "reply_to_activity"})
#: Operations on one conversation, counted in its windows.
_ON_CONVERSATION = _SENDS | {"update_activity", "delete_activity"}


@dataclass(frozen=True)
class RecordedRequest:
    """One request the bot made, and what the fake answered."""

    method: str
    path: str
    operation: str
    conversation_id: str | None
    activity_id: str | None
    body: Any
    status: int
    authorization: str | None
    #: The body as it came (an uploaded file's bytes), and its `Content-Range` header.
    raw: bytes = b""
    content_range: str | None = None
    #: When it came, on the fake's clock (the rate limits' clock when given), and the tenant it named.
    at: float = 0.0
    tenant_id: str | None = None
    #: The `Retry-After` answered with a 429 (planned or beyond the rate limits).
    retry_after: str | None = None
    #: Refused for going beyond the rate limits: which ("conversation" or "tenant"); None if not.
    refused_by: str | None = None

    @property
    def beyond_limits(self) -> bool:
        return self.refused_by is not None


@dataclass
class _PlannedFailure:
    status: int
    remaining: int
    retry_after: str | None
    body: Any


class FakeConnector:
    """The Bot Connector REST API as far as this bot uses it, on loopback, recording what it is sent.

    Any path prefix is accepted before `/v3/` (the Agents Playground's is `/_connector`), so
    `service_url_for("/a")` and `service_url_for("/b")` are two distinct service URLs served by one fake.
    """

    def __init__(self, rate_limits: RateLimits | None = None) -> None:
        self.requests: list[RecordedRequest] = []
        self.rate_limits = rate_limits
        self._clock: Callable[[], float] = rate_limits.clock if rate_limits is not None else time.monotonic
        self._failures: list[_PlannedFailure] = []
        self._ids = itertools.count(1)
        self._runner: web.AppRunner | None = None
        self._port: int | None = None
        self._arrived = asyncio.Event()
        self._released = asyncio.Event()
        self._released.set()
        #: Sends recorded and then left unanswered while `hold_sends` was in force.
        self.held = 0
        self._hold_which: Callable[[Any], bool] | None = None

    async def start(self) -> None:
        """Listen on 127.0.0.1 on a free port."""
        app = web.Application()
        app.router.add_route("*", "/{tail:.*}", self._handle)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        self._port = int(self._runner.addresses[0][1])

    async def close(self) -> None:
        """Stop listening."""
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def __aenter__(self) -> FakeConnector:
        await self.start()
        return self

    async def __aexit__(
        self, kind: type[BaseException] | None, error: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.close()

    @property
    def service_url(self) -> str:
        """The service URL to put in activities, without a trailing slash."""
        return self.service_url_for("")

    def service_url_for(self, prefix: str) -> str:
        """A service URL with a path prefix (e.g. "/emea"), served by this same fake."""
        if self._port is None:
            raise RuntimeError("the fake connector is not started")
        return f"http://127.0.0.1:{self._port}{prefix}"

    def fail_next(
        self, status: int, times: int = 1, *, retry_after: int | None = None, body: Any = None
    ) -> None:
        """Answer the next `times` requests (whatever they are) with `status`, after earlier planned ones."""
        if times < 1:
            raise ValueError("times must be at least 1")
        error_body = body if body is not None else {"error": {"code": f"Http{status}", "message": "planned"}}
        retry = None if retry_after is None else str(retry_after)
        self._failures.append(_PlannedFailure(status, times, retry, error_body))

    def hold_sends(self, which: Callable[[Any], bool] | None = None) -> None:
        """From now on, record each send (whose body `which` accepts, if given) as taken (status 200) and then
        never answer it until `release()`: a bot killed meanwhile had its message taken by Teams without
        learning so."""
        self._hold_which = which
        self._released.clear()

    def release(self) -> None:
        """Answer the held sends and hold no more."""
        self._released.set()

    def sent_activities(self) -> list[dict[str, Any]]:
        """Activities the bot posted (sends and replies) that the fake accepted, oldest first."""
        return [r.body for r in self.requests if r.operation in _SENDS and r.status < 300]

    def replies_to(self, activity_id: str) -> list[RecordedRequest]:
        """The replies the bot posted to the incoming activity `activity_id`, accepted or not, oldest first."""
        return [
            r
            for r in list(self.requests)
            if r.operation == "reply_to_activity" and r.activity_id == activity_id
        ]

    def rate_limited(self) -> list[RecordedRequest]:
        """The requests refused for going beyond the rate limits (not the planned failures)."""
        return [r for r in self.requests if r.beyond_limits]

    def upload_url(self, name: str) -> str:
        """An upload session's address for a file consent's `uploadInfo.uploadUrl`."""
        return f"{self.service_url}/upload/{name}"

    def uploads(self) -> list[RecordedRequest]:
        """The files PUT to upload sessions, oldest first."""
        return [r for r in self.requests if r.operation == "upload"]

    def sent_texts(self) -> list[str]:
        """The `text` of every accepted message the bot posted."""
        return [a.get("text", "") for a in self.sent_activities() if a.get("type") == "message"]

    async def wait_for_requests(self, count: int, within_seconds: float = 5.0) -> list[RecordedRequest]:
        """Wait until at least `count` requests have arrived (for sends made after the HTTP response)."""
        async with asyncio.timeout(within_seconds):
            while len(self.requests) < count:
                self._arrived.clear()
                await self._arrived.wait()
        return list(self.requests)

    async def _handle(self, request: web.Request) -> web.Response:
        raw = await request.read()
        try:
            body = json.loads(raw) if raw else None
        except ValueError:
            body = raw.decode("utf-8", "replace")
        operation, conversation_id, activity_id = _route(request.method, request.path)
        tenant_id = _tenant_of(body)
        at = self._clock()
        refused_by = None
        response = self._planned_failure()
        if response is None:
            refused_by, response = self._beyond_limits(operation, conversation_id, tenant_id, body)
            response = response or self._answer(operation, activity_id)
        recorded = RecordedRequest(
            method=request.method,
            path=request.path,
            operation=operation,
            conversation_id=conversation_id,
            activity_id=activity_id,
            body=body,
            status=response.status,
            authorization=request.headers.get("Authorization"),
            raw=raw,
            content_range=request.headers.get("Content-Range"),
            at=at,
            tenant_id=tenant_id,
            retry_after=response.headers.get("Retry-After"),
            refused_by=refused_by,
        )
        self.requests.append(recorded)
        self._arrived.set()
        if (
            operation in _SENDS
            and not self._released.is_set()
            and (self._hold_which is None or self._hold_which(body))
        ):
            self.held += 1
            await self._released.wait()
        return response

    def _beyond_limits(
        self, operation: str, conversation_id: str | None, tenant_id: str | None, body: Any
    ) -> tuple[str | None, web.Response | None]:
        if self.rate_limits is None or operation in ("unknown", "upload"):
            return None, None
        thread = conversation_id if operation in _ON_CONVERSATION else None
        if operation == "create_conversation":
            # A 1:1 chat is made with one member: its windows are that member's chat's.
            thread = "members:" + ",".join(sorted(_member_ids(body)))
        decision = self.rate_limits.check(thread, tenant_id or "unknown tenant")
        if decision.allowed:
            return None, None
        return decision.refused_by, web.json_response(
            {
                "error": {
                    "code": "TooManyRequests",
                    "message": f"beyond Teams' rate limits ({decision.refused_by})",
                }
            },
            status=429,
            headers={"Retry-After": str(decision.retry_after)},
        )

    def _planned_failure(self) -> web.Response | None:
        if not self._failures:
            return None
        failure = self._failures[0]
        failure.remaining -= 1
        if failure.remaining == 0:
            self._failures.pop(0)
        headers = {"Retry-After": failure.retry_after} if failure.retry_after is not None else None
        return web.json_response(failure.body, status=failure.status, headers=headers)

    def _answer(self, operation: str, activity_id: str | None) -> web.Response:
        if operation == "create_conversation":
            return web.json_response({"id": f"conversation-{next(self._ids)}"}, status=201)
        if operation in _SENDS:
            return web.json_response({"id": f"activity-{next(self._ids)}"})
        if operation == "update_activity":
            return web.json_response({"id": activity_id})
        if operation == "delete_activity":
            return web.Response(status=200)
        if operation == "upload":
            # A OneDrive upload session, as Teams' file consent gives one: the whole file in one PUT.
            return web.json_response({"id": f"file-{next(self._ids)}", "name": "uploaded"}, status=201)
        return web.json_response({"error": {"code": "NotFound", "message": "not emulated"}}, status=404)


def _tenant_of(body: Any) -> str | None:
    """The tenant an activity or conversation request names (its conversation's, or its channel data's)."""
    if not isinstance(body, dict):
        return None
    for holder in (body.get("conversation"), body):
        if isinstance(holder, dict) and isinstance(holder.get("tenantId"), str):
            return str(holder["tenantId"])
    channel_data = body.get("channelData")
    if isinstance(channel_data, dict) and isinstance(channel_data.get("tenant"), dict):
        tenant = channel_data["tenant"].get("id")
        return str(tenant) if isinstance(tenant, str) else None
    return None


def _member_ids(body: Any) -> list[str]:
    members = body.get("members") if isinstance(body, dict) else None
    if not isinstance(members, list):
        return []
    return [str(m.get("id")) for m in members if isinstance(m, dict)]


def _route(method: str, path: str) -> tuple[str, str | None, str | None]:
    """The connector operation a request is, with its ids, ignoring any prefix before `/v3/`."""
    start = path.find("/v3/")
    if start < 0:
        return ("upload", None, None) if method == "PUT" and "/upload/" in path else ("unknown", None, None)
    suffix = re.sub(r"/{2,}", "/", path[start:])
    for route_method, pattern, operation in _ROUTES:
        match = pattern.match(suffix)
        if route_method == method and match is not None:
            ids = match.groupdict()
            return operation, ids.get("conversation"), ids.get("activity")
    return "unknown", None, None
