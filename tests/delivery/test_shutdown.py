"""Stopping the deadline clock with the app: a pass in progress finishes its queries, and shutdown is bounded."""

from __future__ import annotations

import asyncio
import logging
import sqlite3
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import closing, contextmanager
from datetime import datetime

import pytest
from aiohttp import web

from bot.scheduler import Scheduler, TickReport
from tests.delivery.conftest import Delivery


@contextmanager
def write_lock_held(delivery: Delivery) -> Iterator[sqlite3.Connection]:
    """Another process's write transaction on the bot's SQLite file: the clock's next write waits for it."""
    path = delivery.database.engine.url.database
    assert path is not None
    with closing(sqlite3.connect(path, isolation_level=None)) as other:
        other.execute("BEGIN IMMEDIATE")
        try:
            yield other
        finally:
            if other.in_transaction:
                other.rollback()


class Passes:
    """How the scheduler's passes went: "started", then "finished" or "cancelled" part-way."""

    def __init__(self, scheduler: Scheduler) -> None:
        self.outcomes: list[str] = []
        self.first_started = asyncio.Event()
        run_once = scheduler.run_once

        async def recorded(now: datetime | None = None) -> TickReport:
            self.outcomes.append("started")
            self.first_started.set()
            try:
                report = await run_once(now)
            except asyncio.CancelledError:
                self.outcomes.append("cancelled")
                raise
            self.outcomes.append("finished")
            return report

        scheduler.run_once = recorded  # type: ignore[method-assign]


def others() -> set[asyncio.Task[object]]:
    return {task for task in asyncio.all_tasks() if task is not asyncio.current_task() and not task.done()}


async def started(scheduler: Scheduler) -> AsyncIterator[None]:
    """The clock started as the app starts it; the iterator's next step stops it as the app's cleanup does."""
    context = scheduler.cleanup_ctx(web.Application())
    await anext(context)
    return context


async def test_shutdown_lets_a_pass_waiting_on_the_database_finish_instead_of_cancelling_it_mid_query(
    delivery_factory: Callable[..., Delivery],
) -> None:
    d = delivery_factory()
    passes = Passes(d.scheduler)
    with write_lock_held(d) as other:
        context = await started(d.scheduler)
        await asyncio.wait_for(passes.first_started.wait(), timeout=5)
        await asyncio.sleep(0.2)  # the pass is now inside its first write, waiting for the lock
        shutdown = asyncio.create_task(anext(context, None))
        await asyncio.sleep(0.3)
        assert not shutdown.done(), "shutdown did not wait for the pass in progress"
        other.rollback()
        await asyncio.wait_for(shutdown, timeout=5)
    assert passes.outcomes == ["started", "finished"]
    assert not others()


async def test_shutdown_is_bounded_when_a_pass_does_not_end_and_nothing_is_left_running_after(
    delivery_factory: Callable[..., Delivery], caplog: pytest.LogCaptureFixture
) -> None:
    d = delivery_factory()
    d.scheduler.stop_grace_seconds = 0.2
    passes = Passes(d.scheduler)
    loop = asyncio.get_running_loop()
    with write_lock_held(d):
        context = await started(d.scheduler)
        await asyncio.wait_for(passes.first_started.wait(), timeout=5)
        await asyncio.sleep(0.2)
        began = loop.time()
        with caplog.at_level(logging.WARNING, logger="bot.scheduler"):
            await asyncio.wait_for(anext(context, None), timeout=5)
        took = loop.time() - began
    assert took < 1.0
    assert "still running 0.2 s after shutdown began; cancelling it" in caplog.text
    # Once the other writer lets go, what the cancelled pass left (its connection's close) ends too.
    if left := others():
        _, left = await asyncio.wait(left, timeout=10)
    assert not left, left
    assert passes.outcomes == ["started", "cancelled"]
