"""The endpoint's body rules: UTF-8 JSON objects only, uncompressed, answered with a 4xx that says why.

Each case here answered 500 (or reached the bot with a lone surrogate in it) before the body was read and
parsed once, by the server, under these rules.
"""

from __future__ import annotations

import asyncio
import gzip
import json
import logging
import zlib
from collections.abc import AsyncIterator
from typing import Any

import pytest
from aiohttp.test_utils import TestClient
from botbuilder.core import ActivityHandler, TurnContext

from bot.config import Settings
from bot.request_body import MAX_JSON_DEPTH
from bot.server import create_app
from tests.fakes import FakeConnector, make_activity, serve

JSON = {"Content-Type": "application/json"}


class RecordingBot(ActivityHandler):
    """Echoes messages and keeps every activity it was given, to see what reached a bot."""

    def __init__(self) -> None:
        self.seen: list[Any] = []

    async def on_turn(self, turn_context: TurnContext) -> None:
        self.seen.append(turn_context.activity)
        await super().on_turn(turn_context)

    async def on_message_activity(self, turn_context: TurnContext) -> None:
        await turn_context.send_activity(f"echo: {turn_context.activity.text}")


@pytest.fixture
def bot() -> RecordingBot:
    return RecordingBot()


@pytest.fixture
async def client(fake_connector: FakeConnector, bot: RecordingBot) -> AsyncIterator[TestClient]:
    async with serve(create_app(Settings(max_body_bytes=64 * 1024), bot)) as test_client:
        yield test_client


def activity_text(fake_connector: FakeConnector, text: str = "hello") -> str:
    return json.dumps(make_activity(text, service_url=fake_connector.service_url))


@pytest.mark.parametrize(
    ("encoding", "reason"),
    [
        ("utf-16", "not UTF-8"),  # with its byte order mark
        ("utf-32", "not UTF-8"),
        ("utf-16-le", "not valid JSON"),  # no mark: ASCII with NULs between is valid UTF-8, but not JSON
    ],
)
async def test_a_body_that_is_not_utf8_is_refused_with_400(
    client: TestClient, fake_connector: FakeConnector, bot: RecordingBot, encoding: str, reason: str
) -> None:
    body = activity_text(fake_connector).encode(encoding)

    response = await client.post("/api/messages", data=body, headers=JSON)

    assert response.status == 400
    assert reason in await response.text()
    assert bot.seen == []


@pytest.mark.parametrize(
    ("charset", "encoding"),
    [("utf-16", "utf-16-le"), ("UTF-16", "utf-8"), ("latin-1", "utf-8"), ("nope", "utf-8")],
)
async def test_a_declared_charset_other_than_utf8_is_refused_with_415(
    client: TestClient, fake_connector: FakeConnector, bot: RecordingBot, charset: str, encoding: str
) -> None:
    body = activity_text(fake_connector).encode(encoding)

    response = await client.post(
        "/api/messages", data=body, headers={"Content-Type": f"application/json; charset={charset}"}
    )

    assert response.status == 415
    assert "UTF-8" in await response.text()
    assert bot.seen == []


@pytest.mark.parametrize(
    ("prefix", "content_type"),
    [
        (b"\xef\xbb\xbf", "application/json"),
        (b"", "application/json; charset=UTF-8"),
        (b"", "application/json; charset=utf8"),
    ],
)
async def test_utf8_with_a_bom_or_a_utf8_charset_is_accepted(
    client: TestClient, fake_connector: FakeConnector, prefix: bytes, content_type: str
) -> None:
    body = prefix + activity_text(fake_connector, "héllo 😀").encode()

    response = await client.post("/api/messages", data=body, headers={"Content-Type": content_type})

    assert response.status == 201
    assert fake_connector.sent_texts() == ["echo: héllo 😀"]


@pytest.mark.parametrize(
    ("encoding", "compress"),
    [
        ("gzip", lambda body: body),
        ("deflate", lambda body: body),
        ("gzip", gzip.compress),
        ("deflate", zlib.compress),
        ("br", lambda body: body),
        ("gzip, identity", lambda body: body),
    ],
)
async def test_a_compressed_body_is_refused_with_415_and_no_traceback(
    client: TestClient,
    fake_connector: FakeConnector,
    bot: RecordingBot,
    caplog: pytest.LogCaptureFixture,
    encoding: str,
    compress: Any,
) -> None:
    body = compress(activity_text(fake_connector).encode())

    with caplog.at_level(logging.INFO):
        response = await client.post(
            "/api/messages", data=body, headers={**JSON, "Content-Encoding": encoding}
        )
        health = await client.get("/healthz")

    assert response.status == 415
    assert "Content-Encoding" in await response.text()
    assert health.status == 200
    assert bot.seen == []
    assert [r for r in caplog.records if r.exc_info or r.levelno >= logging.ERROR] == []


async def test_bytes_of_an_encoded_surrogate_are_refused_with_400(
    client: TestClient, fake_connector: FakeConnector, bot: RecordingBot
) -> None:
    # What json.dumps(..., ensure_ascii=False).encode("utf-8", "surrogatepass") gives: not UTF-8 at all.
    body = activity_text(fake_connector, "MARK").encode().replace(b"MARK", b"\xed\xa0\x80")

    response = await client.post("/api/messages", data=body, headers=JSON)

    assert response.status == 400
    assert bot.seen == []


async def test_lone_surrogates_are_replaced_before_any_bot_sees_them(
    client: TestClient, fake_connector: FakeConnector, bot: RecordingBot
) -> None:
    activity = make_activity("raise \ud800 now", service_url=fake_connector.service_url)
    activity["from"]["name"] = "Alex \udfff"
    activity["value"] = {"child_name": ["Robin \ud800"], "\ud800key": {"nested": "\udc00"}}
    body = json.dumps(activity)  # ASCII with JSON escapes: "\ud800"
    assert "\\ud800" in body

    response = await client.post("/api/messages", data=body, headers=JSON)

    assert response.status == 201
    [seen] = bot.seen
    assert seen.text == "raise \ufffd now"
    assert seen.from_property.name == "Alex \ufffd"
    assert seen.value == {"child_name": ["Robin \ufffd"], "\ufffdkey": {"nested": "\ufffd"}}
    assert fake_connector.sent_texts() == ["echo: raise \ufffd now"]


async def test_nul_characters_are_replaced_before_any_bot_sees_them(
    client: TestClient, fake_connector: FakeConnector, bot: RecordingBot
) -> None:
    # JSON allows "\u0000"; PostgreSQL's text cannot hold it, so a reference or id carrying one failed the turn.
    activity = make_activity("show DUR-2026-0001\u0000", service_url=fake_connector.service_url)
    activity["value"] = {"challengeId": "x\u0000", "\u0000": ["\u0000"]}
    body = json.dumps(activity)
    assert "\\u0000" in body

    response = await client.post("/api/messages", data=body, headers=JSON)

    assert response.status == 201
    [seen] = bot.seen
    assert seen.text == "show DUR-2026-0001\ufffd"
    assert seen.value == {"challengeId": "x\ufffd", "\ufffd": ["\ufffd"]}


async def test_escaped_surrogate_pairs_stay_the_character_they_encode(
    client: TestClient, fake_connector: FakeConnector, bot: RecordingBot
) -> None:
    body = activity_text(fake_connector, "smile").replace("smile", "\\ud83d\\ude00")

    response = await client.post("/api/messages", data=body, headers=JSON)

    assert response.status == 201
    assert bot.seen[0].text == "😀"


@pytest.mark.parametrize(
    "body",
    [
        pytest.param(b'{"type": "message", "value": NaN}', id="NaN"),
        pytest.param(b'{"type": "message", "value": -Infinity}', id="Infinity"),
        pytest.param(b'{"type": "message", "text": ' + b"9" * 5000 + b"}", id="5000-digit number"),
        pytest.param(
            b'{"type": "message", "value": ' + b"[" * 100_000 + b"]" * 100_000 + b"}", id="deep lists"
        ),
        pytest.param(b"", id="empty"),
    ],
)
async def test_json_that_python_could_misread_is_refused_with_400(
    fake_connector: FakeConnector, bot: RecordingBot, body: bytes
) -> None:
    async with serve(create_app(Settings(max_body_bytes=1024 * 1024), bot)) as big_client:
        response = await big_client.post("/api/messages", data=body, headers=JSON)

    assert response.status == 400
    assert bot.seen == []


async def test_json_nested_deeper_than_the_limit_is_refused_and_at_the_limit_accepted(
    client: TestClient, fake_connector: FakeConnector, bot: RecordingBot
) -> None:
    def nested(depth: int) -> dict[str, Any]:
        activity = make_activity("deep", service_url=fake_connector.service_url)
        value: Any = "bottom"
        for _ in range(depth - 1):  # the activity itself is the first level
            value = {"a": value}
        activity["value"] = value
        return activity

    refused = await client.post("/api/messages", data=json.dumps(nested(MAX_JSON_DEPTH + 1)), headers=JSON)
    accepted = await client.post("/api/messages", data=json.dumps(nested(MAX_JSON_DEPTH)), headers=JSON)

    assert refused.status == 400
    assert f"nested more than {MAX_JSON_DEPTH}" in await refused.text()
    assert accepted.status == 201


@pytest.mark.parametrize(
    ("field", "value", "reason"),
    [
        ("serviceUrl", None, "serviceUrl"),
        ("serviceUrl", "ftp://elsewhere", "serviceUrl"),
        ("serviceUrl", "https://smba.example/\u0000", "serviceUrl"),
        ("serviceUrl", "https://smba.example/a b", "serviceUrl"),
        ("serviceUrl", "https://", "serviceUrl"),
        ("channelId", None, "channel"),
        ("conversation", None, "conversation"),
        ("conversation", {"id": ""}, "conversation"),
        ("conversation", {"id": "a:caf\u00e9"}, "conversation"),
        ("conversation", {"id": "a:x\r\nX-Injected: 1"}, "conversation"),
        ("from", None, "who sent it"),
        ("from", {"name": "no id"}, "who sent it"),
        ("recipient", None, "whom it is for"),
    ],
)
async def test_an_activity_that_cannot_be_answered_is_refused_with_400(
    client: TestClient, fake_connector: FakeConnector, bot: RecordingBot, field: str, value: Any, reason: str
) -> None:
    activity = make_activity("hi", service_url=fake_connector.service_url)
    activity[field] = value

    response = await client.post("/api/messages", data=json.dumps(activity), headers=JSON)

    assert response.status == 400
    assert reason in await response.text()
    assert bot.seen == []


async def _first_line_after(client: TestClient, head: bytes) -> bytes:
    reader, writer = await asyncio.open_connection(client.host, client.port)
    try:
        writer.write(head)
        await writer.drain()
        return await asyncio.wait_for(reader.readline(), timeout=10)
    finally:
        writer.close()


@pytest.mark.parametrize(
    ("headers", "status"),
    [
        (b"Content-Type: application/json\r\nContent-Length: 999999999\r\n", b"413"),
        (b"Content-Type: text/plain\r\nContent-Length: 10\r\n", b"415"),
        (b"Content-Type: application/json\r\nContent-Encoding: gzip\r\nContent-Length: 10\r\n", b"415"),
        (b"Content-Type: application/json\r\nContent-Length: 10\r\n", b"100"),
    ],
)
async def test_expect_100_continue_is_answered_after_the_headers_are_checked(
    client: TestClient, headers: bytes, status: bytes
) -> None:
    # A client that waits for "100 Continue" before sending the body is refused before it sends a byte of it.
    head = b"POST /api/messages HTTP/1.1\r\nHost: bot\r\nExpect: 100-continue\r\n" + headers + b"\r\n"
    line = await _first_line_after(client, head)
    assert line.split()[1] == status, line


async def test_an_unknown_expectation_is_refused_with_417(client: TestClient) -> None:
    head = (
        b"POST /api/messages HTTP/1.1\r\nHost: bot\r\nExpect: something-else\r\n"
        b"Content-Type: application/json\r\nContent-Length: 2\r\n\r\n"
    )
    assert (await _first_line_after(client, head)).split()[1] == b"417"


async def test_an_abandoned_upload_is_logged_in_one_line(
    client: TestClient, caplog: pytest.LogCaptureFixture
) -> None:
    head = b"POST /api/messages HTTP/1.1\r\nHost: bot\r\nContent-Type: application/json\r\nContent-Length: 1000\r\n\r\n"
    with caplog.at_level(logging.DEBUG):
        _, writer = await asyncio.open_connection(client.host, client.port)
        writer.write(head + b'{"type": "mess')
        await writer.drain()
        await asyncio.sleep(0.1)
        writer.close()
        for _ in range(100):
            if "request abandoned" in caplog.text:
                break
            await asyncio.sleep(0.02)

    [line] = [r for r in caplog.records if "abandoned" in r.getMessage()]
    assert line.levelno == logging.INFO
    assert [r for r in caplog.records if r.exc_info] == []
    assert (await client.get("/healthz")).status == 200


@pytest.mark.parametrize(
    "raw",
    [
        pytest.param(b"Transfer-Encoding: chunked\r\n\r\nzz\r\n{}\r\n0\r\n\r\n", id="bad chunk size"),
        pytest.param(b"Content-Length: -5\r\n\r\n{}", id="negative length"),
        pytest.param(b"Bad Header\r\nContent-Length: 2\r\n\r\n{}", id="bad header line"),
    ],
)
async def test_http_that_cannot_be_parsed_gets_400_and_one_log_line(
    client: TestClient, caplog: pytest.LogCaptureFixture, raw: bytes
) -> None:
    head = b"POST /api/messages HTTP/1.1\r\nHost: bot\r\nContent-Type: application/json\r\n"
    with caplog.at_level(logging.INFO):
        reader, writer = await asyncio.open_connection(client.host, client.port)
        writer.write(head + raw)
        await writer.drain()
        status_line = await asyncio.wait_for(reader.readline(), 5)
        writer.close()

    assert status_line.split()[1] == b"400"
    assert [r for r in caplog.records if r.exc_info] == []
    [line] = [r for r in caplog.records if r.name == "bot.server"]
    assert (
        line.getMessage()
        == "HTTP request refused by aiohttp (BadHttpMessage, 400): Error handling request from 127.0.0.1"
    )
