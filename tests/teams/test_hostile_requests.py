"""Requests the Teams bot itself once answered with a 5xx or a failed turn, through its real endpoint."""

from __future__ import annotations

import json
import logging
import sqlite3
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestClient

from bot.config import Settings
from bot.server import build_application
from cards import verbs as v
from process.directory_file import DEMO_DIRECTORY
from storage.crypto import CHALLENGE, key_of
from storage.db import Database
from tests.fakes.activities import make_activity, post_activity, serve
from tests.fakes.connector import FakeConnector
from tests.teams.harness import execute_data, texts

ALEX = "00000000-0000-0000-0000-0000000000020"


@pytest.fixture
async def client(tmp_path: Path, fake_connector: FakeConnector) -> AsyncIterator[TestClient]:
    settings = Settings(
        database_url=f"sqlite+aiosqlite:///{tmp_path / 'bot.db'}", directory_file=DEMO_DIRECTORY
    )
    async with serve(await build_application(settings)) as test_client:
        yield test_client


def alex(fake_connector: FakeConnector, **kw: Any) -> dict[str, Any]:
    return make_activity(
        service_url=fake_connector.service_url,
        from_id=f"29:{ALEX}",
        aad_object_id=ALEX,
        conversation_id=f"a:personal-{ALEX}",
        **kw,
    )


@pytest.mark.parametrize(
    "name",
    [
        "healthCheck",
        "composeExtension/query",
        "composeExtension/submitAction",
        "task/fetch",
        "signin/verifyState",
        "config/fetch",
        None,
    ],
)
async def test_an_invoke_the_bot_does_not_support_gets_an_empty_200(
    client: TestClient, fake_connector: FakeConnector, name: str | None
) -> None:
    activity = alex(fake_connector, text=None, activity_type="invoke", name=name, value={"anything": 1})

    response = await post_activity(client, activity)

    assert response.status == 200
    assert await response.read() == b""
    assert fake_connector.requests == []


async def test_members_added_with_a_null_member_still_welcomes_and_fails_nothing(
    client: TestClient, fake_connector: FakeConnector, caplog: pytest.LogCaptureFixture
) -> None:
    install = alex(fake_connector, text=None, activity_type="conversationUpdate")
    install["membersAdded"] = [None, {}, {"id": install["recipient"]["id"]}]

    with caplog.at_level(logging.ERROR):
        response = await post_activity(client, install)

    assert response.status == 201
    [welcome] = fake_connector.sent_activities()
    assert "immediate risk" in texts(welcome["attachments"][0]["content"])
    assert [r for r in caplog.records if r.name == "bot.turn"] == []


async def press(
    client: TestClient, fake_connector: FakeConnector, verb: str, data: dict[str, Any]
) -> dict[str, Any]:
    """Press a raising-form button as Alex and return the card that replaces it; the JSON goes out ASCII, so
    "\\ud800" travels as an escape."""
    value = {"action": {"type": "Action.Execute", "verb": verb, "data": data}, "trigger": "manual"}
    activity = alex(
        fake_connector, text=None, activity_type="invoke", name="adaptiveCard/action", value=value
    )
    response = await client.post(
        "/api/messages", data=json.dumps(activity), headers={"Content-Type": "application/json"}
    )
    assert response.status == 200, await response.text()
    body = await response.json()
    assert body["type"] == "application/vnd.microsoft.card.adaptive", body
    card: dict[str, Any] = body["value"]
    return card


async def test_a_lone_surrogate_in_a_raised_challenge_is_stored_as_a_replacement_character(
    client: TestClient, fake_connector: FakeConnector, tmp_path: Path
) -> None:
    card = await press(client, fake_connector, v.RAISE_START, {})
    for inputs in [
        {"policy_id": "durham"},
        {"child_name": "Robin \ud800Inventedchild", "date_of_birth": "2018-05-02"},
        {"challenged_agency_id": "health_visiting", "challenged_person_id": "megan"},
        {"issue_category": "lack_of_report", "concern": "No report \udfff.", "desired_outcome": "A report."},
    ]:
        card = await press(
            client, fake_connector, v.RAISE_NEXT, {**execute_data(card, v.RAISE_NEXT), **inputs}
        )
    assert "Robin \ufffdInventedchild" in texts(card)
    raised = await press(client, fake_connector, v.RAISE_CONFIRM, execute_data(card, v.RAISE_CONFIRM))

    assert "DUR-2026-0001" in texts(raised)
    with sqlite3.connect(tmp_path / "bot.db") as db:
        [(challenge_id, name)] = db.execute("SELECT challenge_id, name FROM child_details").fetchall()
        [(concern,)] = db.execute("SELECT concern FROM challenges").fetchall()
    database = await Database.connect(f"sqlite+aiosqlite:///{tmp_path / 'bot.db'}")
    try:
        async with database.reading() as conn:
            key = await key_of(conn, CHALLENGE, challenge_id)
    finally:
        await database.dispose()
    assert key is not None
    # Stored encrypted; as written, once decrypted.
    assert key.plain_text("child_details.name", name) == "Robin \ufffdInventedchild"
    assert key.plain_text("challenges.concern", concern) == "No report \ufffd."
