"""Delivery a turn sets off waits until the turn has its answer, and is never lost or doubled."""

from __future__ import annotations

import pytest
from botbuilder.core import ActivityHandler, TurnContext

from bot.after_answer import after_answer, answering
from bot.config import Settings
from bot.server import build_adapter, create_app
from tests.fakes import FakeConnector, make_activity, post_activity, serve


def test_outside_a_turn_the_call_runs_at_once() -> None:
    calls: list[str] = []
    after_answer(lambda: calls.append("woken"))
    assert calls == ["woken"]


def test_inside_a_turn_the_call_waits_for_its_end_and_runs_once() -> None:
    calls: list[str] = []

    def wake() -> None:
        calls.append("woken")

    with answering():
        after_answer(wake)
        after_answer(wake)  # two changes in one turn: one wake
        calls.append("answered")
    assert calls == ["answered", "woken"]
    after_answer(wake)
    assert calls == ["answered", "woken", "woken"]


def test_a_turn_that_fails_still_runs_what_it_held() -> None:
    calls: list[str] = []
    with pytest.raises(RuntimeError), answering():
        after_answer(lambda: calls.append("woken"))
        raise RuntimeError("the turn failed after its change was stored")
    assert calls == ["woken"]


class ChangingBot(ActivityHandler):
    """Stores a change (it says), then answers: the wake it asks for must come after the answer."""

    def __init__(self, calls: list[str]) -> None:
        self.calls = calls

    async def on_message_activity(self, turn_context: TurnContext) -> None:
        after_answer(lambda: self.calls.append("woken"))
        await turn_context.send_activity("Done.")
        self.calls.append("answered")


async def test_the_served_turn_answers_before_what_it_woke_runs() -> None:
    calls: list[str] = []
    async with FakeConnector() as connector:
        app = create_app(Settings(), ChangingBot(calls), adapter=build_adapter(Settings()))
        async with serve(app) as client:
            response = await post_activity(
                client, make_activity("respond", service_url=connector.service_url)
            )
            assert response.status == 201
            assert connector.sent_texts() == ["Done."]
    assert calls == ["answered", "woken"]
