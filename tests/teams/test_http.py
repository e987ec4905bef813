"""The whole bot behind its real HTTP endpoint, with a fake Bot Connector recording what it sends back."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestClient

from bot.config import Settings
from bot.server import build_application
from cards import verbs as v
from process.directory_file import DEMO_DIRECTORY
from tests.cardcheck import assert_valid_card
from tests.fakes.activities import make_activity, post_activity, serve
from tests.fakes.connector import FakeConnector
from tests.teams.harness import DURHAM_FORM_STEPS, execute_data, texts

ALEX = "00000000-0000-0000-0000-0000000000020"
MEGAN = "00000000-0000-0000-0000-0000000000021"


class Teams:
    """Posts activities as Teams would, for a person, and reads the bot's answers."""

    def __init__(self, client: TestClient, connector: FakeConnector) -> None:
        self.client = client
        self.connector = connector

    def activity(self, who: str, **kw: Any) -> dict[str, Any]:
        name = {ALEX: "Alex Wilber", MEGAN: "Megan Bowen"}[who]
        return make_activity(
            service_url=self.connector.service_url,
            from_id=f"29:{who}",
            from_name=name,
            aad_object_id=who,
            conversation_id=f"a:personal-{who}",
            **kw,
        )

    async def say(self, who: str, text: str) -> dict[str, Any]:
        before = len(self.connector.sent_activities())
        response = await post_activity(self.client, self.activity(who, text=text))
        assert response.status < 300, await response.text()
        sent = self.connector.sent_activities()[before:]
        assert sent, "the bot answered nothing"
        return sent[-1]["attachments"][0]["content"]

    async def press(
        self, who: str, verb: str, data: dict[str, Any], **inputs: Any
    ) -> tuple[int, dict[str, Any]]:
        value = {
            "action": {"type": "Action.Execute", "verb": verb, "data": {**data, **inputs}},
            "trigger": "manual",
        }
        activity = self.activity(
            who, text=None, activity_type="invoke", name="adaptiveCard/action", value=value
        )
        response = await post_activity(self.client, activity)
        body = await response.json()
        return response.status, body


@pytest.fixture
async def teams(tmp_path: Path, fake_connector: FakeConnector) -> AsyncIterator[Teams]:
    settings = Settings(
        database_url=f"sqlite+aiosqlite:///{tmp_path / 'bot.db'}", directory_file=DEMO_DIRECTORY
    )
    app = await build_application(settings)
    async with serve(app) as client:
        yield Teams(client, fake_connector)


async def _eventually(connector: FakeConnector, operation: str, seconds: float = 5.0) -> Any:
    """The first request of `operation` the bot sends; delivery runs after the commit, in the background."""
    deadline = asyncio.get_running_loop().time() + seconds
    while asyncio.get_running_loop().time() < deadline:
        found = [r for r in connector.requests if r.operation == operation]
        if found:
            return found[0]
        await asyncio.sleep(0.02)
    raise AssertionError(f"no {operation}; the bot sent {[r.operation for r in connector.requests]}")


async def _raise(teams: Teams) -> dict[str, Any]:
    card = await teams.say(ALEX, "raise")
    for step, inputs in DURHAM_FORM_STEPS:
        data = execute_data(card, v.RAISE_NEXT)
        assert data["step"] == step
        status, body = await teams.press(ALEX, v.RAISE_NEXT, data, **inputs)
        assert status == 200, body
        card = body["value"]
    status, body = await teams.press(ALEX, v.RAISE_CONFIRM, execute_data(card, v.RAISE_CONFIRM))
    assert status == 200 and body["type"] == "application/vnd.microsoft.card.adaptive"
    return body["value"]


async def test_install_posts_the_welcome_card_to_the_connector(teams: Teams) -> None:
    install = teams.activity(ALEX, text=None, activity_type="conversationUpdate")
    install["membersAdded"] = [{"id": install["recipient"]["id"]}]
    response = await post_activity(teams.client, install)
    assert response.status < 300
    await teams.connector.wait_for_requests(1)
    card = teams.connector.sent_activities()[-1]["attachments"][0]["content"]
    assert_valid_card(card)
    assert "immediate risk" in texts(card)


async def test_help_over_http(teams: Teams) -> None:
    card = await teams.say(ALEX, "help")
    assert "my challenges" in texts(card)


async def test_full_raise_then_the_professional_is_told_and_acts(teams: Teams) -> None:
    card = await _raise(teams)
    assert "DUR-2026-0001" in texts(card)
    # Megan has no chat with the bot yet: the bot creates one and posts her the notification there.
    created = await _eventually(teams.connector, "create_conversation")
    assert created.body["members"][0]["aadObjectId"] == MEGAN
    await teams.say(MEGAN, "my challenges")
    status, body = await teams.press(MEGAN, v.SHOW, {"reference": "DUR-2026-0001"})
    her_card = body["value"]
    status, body = await teams.press(MEGAN, v.RESPOND, execute_data(her_card, v.RESPOND), text="Sent today.")
    assert status == 200 and "Sent today." in texts(body["value"])


async def test_forged_and_replayed_actions_change_nothing(teams: Teams) -> None:
    card = await _raise(teams)
    data = execute_data(card, v.WITHDRAW)
    # Megan forges Alex's withdraw button: refused, nothing changes.
    status, body = await teams.press(MEGAN, v.WITHDRAW, data, withdraw_reason="Forged by the other side.")
    assert status == 200 and "Only the person who raised" in texts(body["value"])
    status, body = await teams.press(ALEX, v.ESCALATE, data, reason="No answer.")
    assert "Stage 2" in texts(body["value"])
    status, body = await teams.press(ALEX, v.ESCALATE, data, reason="Pressed again on the old card.")
    assert "out of date" in texts(body["value"])
    status, body = await teams.press(ALEX, v.REFRESH, data)
    assert "Stage 2 of 5" in texts(body["value"]) and "Stage 4 of 5" not in texts(body["value"])


@pytest.mark.parametrize(
    ("body", "headers", "status"),
    [
        (b"{not json", {"Content-Type": "application/json"}, 400),
        (b'{"text": "no type"}', {"Content-Type": "application/json"}, 400),
        (b"[1, 2]", {"Content-Type": "application/json"}, 400),
        (b"x" * (300 * 1024), {"Content-Type": "application/json"}, 413),
    ],
)
async def test_bad_requests_get_a_4xx_never_a_500(
    teams: Teams, body: bytes, headers: dict[str, str], status: int
) -> None:
    response = await teams.client.post("/api/messages", data=body, headers=headers)
    assert response.status == status
    assert (await teams.client.get("/healthz")).status == 200


async def test_readiness_reports_the_database(teams: Teams) -> None:
    assert (await teams.client.get("/readyz")).status == 200
