"""The bot's HTTP endpoint, end to end: real aiohttp server, real CloudAdapter, a fake Bot Connector."""

from __future__ import annotations

import json
import logging
import sys
from collections.abc import AsyncIterator
from types import SimpleNamespace
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient
from botbuilder.core import ActivityHandler, InvokeResponse, TurnContext
from botbuilder.schema import AdaptiveCardInvokeResponse, ConversationAccount, ConversationReference

from bot import server
from bot.config import Settings
from bot.errors import APOLOGY, CHALLENGE_ID_TURN_STATE_KEY, describe_exception
from bot.server import ADAPTER_KEY, build_adapter, build_application, create_app
from storage.crypto import KEY_ENV, KEY_FILE_ENV
from tests.fakes import FakeConnector, make_activity, post_activity, serve

SECRET_TEXT = "Jamie Invented-Child born 01/02/2019"


class EchoBot(ActivityHandler):
    """Echoes messages; fails on request; answers card actions with a card, as the Teams handler will."""

    async def on_message_activity(self, turn_context: TurnContext) -> None:
        text = turn_context.activity.text or ""
        if text.startswith("fail"):
            turn_context.turn_state[CHALLENGE_ID_TURN_STATE_KEY] = "ch-42"
            raise RuntimeError(f"could not handle {text}")
        await turn_context.send_activity(f"echo: {text}")

    async def on_invoke_activity(self, turn_context: TurnContext) -> InvokeResponse:
        data = turn_context.activity.value["action"]["data"]
        if data.get("fail"):
            raise ValueError(f"bad card data {data}")
        card = {"type": "AdaptiveCard", "version": "1.5", "body": [{"type": "TextBlock", "text": "done"}]}
        return InvokeResponse(
            status=200,
            body=AdaptiveCardInvokeResponse(
                status_code=200, type="application/vnd.microsoft.card.adaptive", value=card
            ),
        )


@pytest.fixture
async def client(fake_connector: FakeConnector) -> AsyncIterator[TestClient]:
    async with serve(create_app(Settings(max_body_bytes=4096), EchoBot())) as test_client:
        yield test_client


async def test_message_gets_its_echo_reply_at_the_connector(
    client: TestClient, fake_connector: FakeConnector
) -> None:
    activity = make_activity("hello there", service_url=fake_connector.service_url)

    response = await post_activity(client, activity)

    assert response.status == 201
    [reply] = fake_connector.requests
    assert reply.operation == "reply_to_activity"
    assert reply.conversation_id == activity["conversation"]["id"]
    assert reply.activity_id == activity["id"]
    assert reply.body["text"] == "echo: hello there"
    assert reply.authorization is None  # local mode: no app id, no token


async def test_malformed_json_is_refused_with_400(client: TestClient, fake_connector: FakeConnector) -> None:
    response = await client.post(
        "/api/messages", data=b'{"type": "message", "text": ', headers={"Content-Type": "application/json"}
    )

    assert response.status == 400
    assert "not valid JSON" in await response.text()
    assert fake_connector.requests == []


@pytest.mark.parametrize("body", [[{"type": "message"}], "message", 42, None])
async def test_json_that_is_not_an_object_is_refused_with_400(client: TestClient, body: Any) -> None:
    response = await client.post(
        "/api/messages", data=json.dumps(body).encode(), headers={"Content-Type": "application/json"}
    )

    assert response.status == 400
    assert "JSON object" in await response.text()


@pytest.mark.parametrize("activity_type", [None, "", 5])
async def test_activity_without_a_type_is_refused_with_400(
    client: TestClient, fake_connector: FakeConnector, activity_type: Any
) -> None:
    activity = make_activity("hi", service_url=fake_connector.service_url)
    if activity_type is None:
        del activity["type"]
    else:
        activity["type"] = activity_type

    response = await post_activity(client, activity)

    assert response.status == 400
    assert "no type" in await response.text()
    assert fake_connector.requests == []


async def test_activity_that_breaks_the_schema_is_refused_with_400(
    client: TestClient, fake_connector: FakeConnector
) -> None:
    activity = make_activity("hi", service_url=fake_connector.service_url)
    activity["timestamp"] = "not a time"

    response = await post_activity(client, activity)

    assert response.status == 400
    assert fake_connector.requests == []


@pytest.mark.parametrize("content_type", ["text/plain", "application/x-www-form-urlencoded", None])
async def test_wrong_content_type_is_refused_with_415(client: TestClient, content_type: str | None) -> None:
    headers = {"Content-Type": content_type} if content_type else {}
    body = json.dumps({"type": "message"}).encode()

    response = await client.post(
        "/api/messages", data=body, headers=headers, skip_auto_headers=["Content-Type"]
    )

    assert response.status == 415


async def test_body_over_the_limit_is_refused_with_413_by_its_length(
    client: TestClient, fake_connector: FakeConnector
) -> None:
    activity = make_activity("x" * 5000, service_url=fake_connector.service_url)

    response = await post_activity(client, activity)

    assert response.status == 413
    assert "4096 bytes" in await response.text()
    assert fake_connector.requests == []


async def test_body_over_the_limit_is_refused_with_413_while_streaming(
    client: TestClient, fake_connector: FakeConnector
) -> None:
    payload = json.dumps(make_activity("x" * 5000, service_url=fake_connector.service_url)).encode()

    async def chunks() -> AsyncIterator[bytes]:
        for start in range(0, len(payload), 1000):
            yield payload[start : start + 1000]

    response = await client.post("/api/messages", data=chunks(), headers={"Content-Type": "application/json"})

    assert response.status == 413
    assert fake_connector.requests == []


async def test_failing_turn_apologises_answers_201_and_logs_ids_without_text(
    client: TestClient, fake_connector: FakeConnector, caplog: pytest.LogCaptureFixture
) -> None:
    activity = make_activity(f"fail {SECRET_TEXT}", service_url=fake_connector.service_url)

    with caplog.at_level(logging.ERROR, logger="bot.turn"):
        response = await post_activity(client, activity)

    assert response.status == 201
    assert fake_connector.sent_texts() == [APOLOGY]
    [record] = [r for r in caplog.records if r.name == "bot.turn"]
    logged = record.getMessage()
    assert "challenge=ch-42" in logged
    assert "builtins.RuntimeError at" in logged
    assert "test_server.py" in logged  # where it failed
    assert record.exc_info is None
    assert SECRET_TEXT not in caplog.text
    assert "Jamie" not in caplog.text


async def test_failing_card_action_gets_a_200_error_response_naming_the_challenge_in_the_log(
    client: TestClient, fake_connector: FakeConnector, caplog: pytest.LogCaptureFixture
) -> None:
    value = {
        "action": {
            "type": "Action.Execute",
            "verb": "respond",
            "data": {"challengeId": "ch-7", "fail": SECRET_TEXT},
        }
    }
    activity = make_activity(
        None,
        service_url=fake_connector.service_url,
        activity_type="invoke",
        name="adaptiveCard/action",
        value=value,
    )

    with caplog.at_level(logging.ERROR, logger="bot.turn"):
        response = await post_activity(client, activity)

    assert response.status == 200
    assert await response.json() == {
        "statusCode": 500,
        "type": "application/vnd.microsoft.error",
        "value": {"code": "InternalError", "message": APOLOGY},
    }
    assert fake_connector.sent_texts() == [APOLOGY]
    assert "activity=invoke/adaptiveCard/action" in caplog.text
    assert "challenge=ch-7" in caplog.text
    assert SECRET_TEXT not in caplog.text


async def test_card_action_invoke_response_is_returned_as_the_sdk_gives_it(
    client: TestClient, fake_connector: FakeConnector
) -> None:
    value = {"action": {"type": "Action.Execute", "verb": "respond", "data": {"challengeId": "ch-7"}}}
    activity = make_activity(
        None,
        service_url=fake_connector.service_url,
        activity_type="invoke",
        name="adaptiveCard/action",
        value=value,
    )

    response = await post_activity(client, activity)

    assert response.status == 200
    body = await response.json()
    assert body["statusCode"] == 200
    assert body["type"] == "application/vnd.microsoft.card.adaptive"
    assert body["value"]["body"][0]["text"] == "done"
    assert fake_connector.requests == []


async def test_challenge_id_in_card_submit_data_is_logged_and_free_text_is_not(
    fake_connector: FakeConnector, caplog: pytest.LogCaptureFixture
) -> None:
    class FailingBot(ActivityHandler):
        async def on_message_activity(self, turn_context: TurnContext) -> None:
            raise KeyError(turn_context.activity.value["reason"])

    activity = make_activity(
        None, service_url=fake_connector.service_url, value={"challengeId": "ch-9", "reason": SECRET_TEXT}
    )
    async with serve(create_app(Settings(), FailingBot())) as test_client:
        with caplog.at_level(logging.ERROR, logger="bot.turn"):
            response = await post_activity(test_client, activity)

    assert response.status == 201
    assert "challenge=ch-9" in caplog.text
    assert "builtins.KeyError" in caplog.text
    assert SECRET_TEXT not in caplog.text


async def test_text_that_is_not_an_id_is_not_logged_as_a_challenge_id(
    fake_connector: FakeConnector, caplog: pytest.LogCaptureFixture
) -> None:
    class FailingBot(ActivityHandler):
        async def on_message_activity(self, turn_context: TurnContext) -> None:
            raise RuntimeError("boom")

    activity = make_activity(None, service_url=fake_connector.service_url, value={"challengeId": SECRET_TEXT})
    async with serve(create_app(Settings(), FailingBot())) as test_client:
        with caplog.at_level(logging.ERROR, logger="bot.turn"):
            await post_activity(test_client, activity)

    assert "challenge=-" in caplog.text
    assert SECRET_TEXT not in caplog.text


async def test_failed_proactive_turn_is_raised_to_its_caller_without_an_apology(
    fake_connector: FakeConnector,
) -> None:
    adapter = build_adapter(Settings())
    reference = ConversationReference(
        conversation=ConversationAccount(id="a:personal-alex-wilber"),
        service_url=fake_connector.service_url,
        channel_id="msteams",
    )

    async def deliver(turn_context: TurnContext) -> None:
        raise ConnectionError("delivery failed")

    with pytest.raises(ConnectionError):
        await adapter.continue_conversation(reference, deliver, bot_app_id=None)
    assert fake_connector.requests == []


async def test_apology_that_cannot_be_sent_is_logged_and_the_request_still_answered(
    client: TestClient, fake_connector: FakeConnector, caplog: pytest.LogCaptureFixture
) -> None:
    fake_connector.fail_next(403)
    activity = make_activity("fail again", service_url=fake_connector.service_url)

    with caplog.at_level(logging.ERROR, logger="bot.turn"):
        response = await post_activity(client, activity)

    assert response.status == 201
    assert [r.status for r in fake_connector.requests] == [403]
    assert "could not send the apology" in caplog.text


async def test_healthz_answers_ok(client: TestClient) -> None:
    response = await client.get("/healthz")

    assert response.status == 200
    assert await response.json() == {"status": "ok"}


@pytest.mark.parametrize(("ready", "status"), [(True, 200), (False, 503)])
async def test_readyz_follows_the_ready_check(ready: bool, status: int) -> None:
    async def check() -> bool:
        return ready

    async with serve(create_app(Settings(), EchoBot(), ready_check=check)) as test_client:
        response = await test_client.get("/readyz")
        body = await response.json()

    assert response.status == status
    assert body["status"] == ("ready" if ready else "not ready")


async def test_readyz_is_503_when_the_ready_check_raises() -> None:
    async def check() -> bool:
        raise OSError("database unreachable")

    async with serve(create_app(Settings(), EchoBot(), ready_check=check)) as test_client:
        response = await test_client.get("/readyz")

    assert response.status == 503


async def test_readyz_without_a_ready_check_is_ready() -> None:
    async with serve(create_app(Settings(), EchoBot())) as test_client:
        response = await test_client.get("/readyz")

    assert response.status == 200


async def test_app_exposes_its_adapter_for_proactive_messages(fake_connector: FakeConnector) -> None:
    adapter = build_adapter(Settings())
    app = create_app(Settings(), EchoBot(), adapter=adapter)
    reference = ConversationReference(
        conversation=ConversationAccount(id="a:personal-alex-wilber"),
        service_url=fake_connector.service_url,
        channel_id="msteams",
    )

    async def say_hello(turn_context: TurnContext) -> None:
        await turn_context.send_activity("a reminder")

    await app[ADAPTER_KEY].continue_conversation(reference, say_hello, bot_app_id=None)

    assert app[ADAPTER_KEY] is adapter
    assert fake_connector.sent_texts() == ["a reminder"]


def test_exception_description_names_types_and_places_but_not_messages() -> None:
    try:
        try:
            raise KeyError(SECRET_TEXT)
        except KeyError as inner:
            raise RuntimeError(f"wrapped {SECRET_TEXT}") from inner
    except RuntimeError as error:
        described = describe_exception(error)

    assert described.startswith("builtins.RuntimeError at ")
    assert "caused by builtins.KeyError" in described
    assert "test_server.py" in described
    assert SECRET_TEXT not in described


async def test_served_application_runs_the_runtimes_hooks_and_readiness(
    fake_connector: FakeConnector, monkeypatch: pytest.MonkeyPatch
) -> None:
    events: list[str] = []

    async def ready() -> bool:
        return False

    async def on_startup(app: web.Application) -> None:
        events.append("startup")

    async def resource(app: web.Application) -> AsyncIterator[None]:
        events.append("open")
        yield
        events.append("close")

    async def build_runtime(settings: Settings) -> SimpleNamespace:
        return SimpleNamespace(
            bot=EchoBot(), ready_check=ready, on_startup=[on_startup], cleanup_ctx=[resource], monitoring=None
        )

    monkeypatch.setitem(sys.modules, "bot.wiring", SimpleNamespace(build_runtime=build_runtime))

    app = await build_application(Settings())
    async with serve(app) as test_client:
        readiness = await test_client.get("/readyz")
        reply = await post_activity(test_client, make_activity("hi", service_url=fake_connector.service_url))

    assert (readiness.status, reply.status) == (503, 201)
    assert fake_connector.sent_texts() == ["echo: hi"]
    assert events == ["open", "startup", "close"]


def test_run_server_in_local_mode_listens_on_loopback_and_warns(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    listened: dict[str, Any] = {}

    def run_app(app: Any, *, host: str, port: int, print: Any) -> None:
        listened.update(host=host, port=port)
        app.close()  # the coroutine that would build the application

    for name in ("MicrosoftAppId", "MicrosoftAppPassword", "HOST"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("PORT", "3999")
    monkeypatch.setattr(server.web, "run_app", run_app)

    with caplog.at_level(logging.WARNING, logger="bot.server"):
        assert server.run_server() == 0

    assert listened == {"host": "127.0.0.1", "port": 3999}
    assert "Requests are NOT authenticated" in caplog.text


def test_run_server_refuses_a_bad_configuration_with_status_2(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setenv("PORT", "eighty")

    with caplog.at_level(logging.ERROR, logger="bot.server"):
        assert server.run_server() == 2

    assert "configuration: PORT='eighty' is not a whole number" in caplog.text


async def test_a_host_logging_at_debug_never_gets_the_databases_values(
    tmp_path: Any, caplog: pytest.LogCaptureFixture
) -> None:
    """A root logger set to DEBUG before the bot starts: the drivers' loggers are held at INFO, so a value
    written to the database (here an invented child's name) is in no log record."""
    from sqlalchemy import text

    from storage.db import Database

    secret = "Tegwen Inventedchild"
    names = server.VALUE_LOGGERS
    before = {name: logging.getLogger(name).level for name in names}
    caplog.set_level(logging.DEBUG)
    try:
        server.configure_logging()
        database = await Database.connect(f"sqlite+aiosqlite:///{tmp_path / 'logged.db'}")
        try:
            async with database.transaction() as conn:
                await conn.execute(text("CREATE TABLE t (v TEXT)"))
                await conn.execute(text("INSERT INTO t VALUES (:v)"), {"v": secret})
                assert (await conn.execute(text("SELECT v FROM t"))).scalar_one() == secret
        finally:
            await database.dispose()
        logging.getLogger("bot.probe").debug("the host's own DEBUG records are still captured")
        assert [r for r in caplog.records if r.name == "bot.probe"]
        assert not [r for r in caplog.records if secret in caplog.handler.format(r)]
        # Without the cap the same statements would have been logged with their values.
        logging.getLogger("aiosqlite").setLevel(logging.DEBUG)
        database = await Database.connect(f"sqlite+aiosqlite:///{tmp_path / 'logged.db'}")
        try:
            async with database.reading() as conn:
                await conn.execute(text("SELECT v FROM t WHERE v = :v"), {"v": secret})
        finally:
            await database.dispose()
        assert [r for r in caplog.records if secret in caplog.handler.format(r)], "the check can fail"
    finally:
        for name, level in before.items():
            logging.getLogger(name).setLevel(level)


def test_a_deployment_without_a_data_encryption_key_refuses_to_start(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    def run_app(app: Any, *, host: str, port: int, print: Any) -> None:
        app.close()
        raise AssertionError("it must not serve")

    for name in (KEY_ENV, KEY_FILE_ENV):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("MicrosoftAppId", "11111111-2222-3333-4444-555555555555")
    monkeypatch.setenv("MicrosoftAppPassword", "invented-secret")
    monkeypatch.setattr(server.web, "run_app", run_app)

    with caplog.at_level(logging.ERROR, logger="bot.server"):
        assert server.run_server() == 2

    assert f"no data encryption key: set {KEY_ENV}" in caplog.text and KEY_FILE_ENV in caplog.text
    assert "will not start" in caplog.text
