"""Delivery a turn sets off waits until the turn has its answer, and is never lost or doubled."""

from __future__ import annotations

import asyncio

import pytest
from botbuilder.core import ActivityHandler, TurnContext

from bot.after_answer import after_answer, answering, turns_answered, turns_being_answered
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


async def test_background_work_waits_for_the_turn_being_answered() -> None:
    order: list[str] = []
    turn_may_end = asyncio.Event()

    async def turn() -> None:
        with answering():
            order.append("turn begins")
            await turn_may_end.wait()
            order.append("turn answered")

    async def background() -> None:
        await turns_answered(within=30)
        order.append("background goes on")

    await turns_answered(within=30)  # nobody is being answered: no wait
    answering_task = asyncio.create_task(turn())
    await asyncio.sleep(0)
    assert turns_being_answered() == 1
    waiting = asyncio.create_task(background())
    for _ in range(5):
        await asyncio.sleep(0)
    assert order == ["turn begins"]
    turn_may_end.set()
    await asyncio.gather(answering_task, waiting)
    assert order == ["turn begins", "turn answered", "background goes on"]
    assert turns_being_answered() == 0


async def test_background_work_is_never_held_up_for_longer_than_a_moment() -> None:
    never = asyncio.Event()

    async def endless_turn() -> None:
        with answering():
            await never.wait()

    stuck = asyncio.create_task(endless_turn())
    await asyncio.sleep(0)
    try:
        await asyncio.wait_for(turns_answered(within=0.01), timeout=5)  # returns by itself
    finally:
        stuck.cancel()
        with pytest.raises(asyncio.CancelledError):
            await stuck
    assert turns_being_answered() == 0


async def test_a_turns_own_work_never_waits_for_turns() -> None:
    other_may_end = asyncio.Event()

    async def other_turn() -> None:
        with answering():
            await other_may_end.wait()

    other = asyncio.create_task(other_turn())
    await asyncio.sleep(0)
    with answering():
        await asyncio.wait_for(turns_answered(within=30), timeout=5)
    other_may_end.set()
    await other
