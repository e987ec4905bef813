"""The scheduler wakes for outbox work another instance scheduled, and new 1:1 chats find their tenant's
service URL with one query."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import datetime, timedelta

import pytest

from bot.after_answer import answering
from bot.config import Settings
from bot.mailer import Mailer
from bot.scheduler import TickReport
from bot.server import build_adapter
from process.policy import Role
from storage.conversations import ConversationStore
from storage.db import Database
from tests.delivery.conftest import Delivery, MovableClock, SmtpServer
from tests.delivery.test_teams import personal_reference
from tests.fakes.activities import TENANT_ID
from tests.fakes.connector import FakeConnector
from tests.support.people import holder, raise_request


async def test_a_retry_another_instance_scheduled_wakes_this_scheduler(
    delivery_factory: Callable[..., Delivery], fake_connector: FakeConnector, smtp_server: SmtpServer
) -> None:
    first = delivery_factory(
        teams_adapter=build_adapter(Settings()), mailer=Mailer(smtp_server.settings()), worker_id="bot-1"
    )
    await first.conversations.save(
        personal_reference(fake_connector.service_url, "aad-durham-challenged", "a:challenged")
    )
    await first.service.raise_challenge(holder("durham", Role.RAISER), "durham", raise_request("durham"))
    fake_connector.fail_next(429, retry_after=7)
    start = first.clock.now
    assert (await first.notifier.drain()).retried == 1

    second = delivery_factory(mailer=Mailer(smtp_server.settings()), worker_id="bot-2")
    # Without the outbox's next attempt it would sleep until Durham's 17:00 reminder.
    assert await second.scheduler.next_wake() == start + timedelta(seconds=7)


async def test_the_outbox_has_no_next_attempt_once_everything_is_delivered(
    delivery_factory: Callable[..., Delivery], smtp_server: SmtpServer
) -> None:
    d = delivery_factory(mailer=Mailer(smtp_server.settings()))
    assert await d.outbox.next_attempt_at() is None
    await d.service.raise_challenge(holder("durham", Role.RAISER), "durham", raise_request("durham"))
    assert await d.outbox.next_attempt_at() == d.clock.now
    await d.notifier.drain()
    assert await d.outbox.next_attempt_at() is None


async def test_service_url_for_tenant_is_the_newest_live_conversation_in_that_tenant(
    sqlite_database: Database, clock: MovableClock
) -> None:
    store = ConversationStore(sqlite_database, clock=clock)
    assert await store.service_url_for_tenant(TENANT_ID) is None
    await store.save(personal_reference("https://smba.example/emea/", "aad-one", "a:one"))
    clock.now += timedelta(minutes=1)
    await store.save(personal_reference("https://smba.example/uk/", "aad-two", "a:two"))
    other = personal_reference("https://smba.example/amer/", "aad-three", "a:three")
    other["conversation"] = {"id": "a:three", "conversationType": "personal", "tenantId": "other-tenant"}
    clock.now += timedelta(minutes=1)
    await store.save(other)

    assert await store.service_url_for_tenant(TENANT_ID) == "https://smba.example/uk/"
    assert await store.service_url_for_tenant("other-tenant") == "https://smba.example/amer/"
    await store.mark_stale("a:two")
    assert await store.service_url_for_tenant(TENANT_ID) == "https://smba.example/emea/"
    await store.mark_stale("a:one")
    assert await store.service_url_for_tenant(TENANT_ID) is None


async def test_a_wake_delivers_and_leaves_due_work_to_the_passes_the_clock_wakes_for(
    delivery_factory: Callable[..., Delivery], smtp_server: SmtpServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A committed change wakes the scheduler to deliver only, and so does a notification's next attempt; a
    whole pass runs first, and whenever a reminder or deadline has come due, however often it is woken."""
    d = delivery_factory(mailer=Mailer(smtp_server.settings()))
    scheduler = d.scheduler
    passes: list[str] = []
    ran = asyncio.Event()
    instants: list[datetime | None] = [None, None]  # the next reminder or deadline, the next outbox attempt

    async def whole(now: datetime | None = None) -> TickReport:
        passes.append("whole")
        ran.set()
        return TickReport()

    async def delivery(now: datetime | None = None) -> TickReport:
        passes.append("delivery")
        ran.set()
        return TickReport()

    async def next_instants() -> tuple[datetime | None, datetime | None]:
        return instants[0], instants[1]

    monkeypatch.setattr(scheduler, "run_once", whole)
    monkeypatch.setattr(scheduler, "deliver_once", delivery)
    monkeypatch.setattr(scheduler, "_next_instants", next_instants)

    async def woken() -> None:
        ran.clear()
        scheduler.wake()
        await asyncio.wait_for(ran.wait(), timeout=10)

    async def passes_for_a_while() -> list[str]:
        start = len(passes)
        await asyncio.sleep(0.3)  # the sleeps are 50 ms while an instant is past: several passes
        return passes[start:]

    task = asyncio.create_task(scheduler.run())
    try:
        await asyncio.wait_for(ran.wait(), timeout=10)
        await woken()
        await woken()
        assert passes == ["whole", "delivery", "delivery"]
        # A notification waiting (the change's own, or a retry): the passes it wakes only deliver.
        instants[1] = d.clock.now - timedelta(seconds=5)
        await woken()
        later = await passes_for_a_while()
        assert later and set(later) == {"delivery"}
        # A deadline has come due: the next pass, whatever woke it, is whole.
        instants[0] = d.clock.now - timedelta(seconds=1)
        await woken()
        assert "whole" in await passes_for_a_while()
    finally:
        await scheduler.stop(task)


async def test_delivery_gives_way_to_a_turn_being_answered_and_then_delivers(
    delivery_factory: Callable[..., Delivery], smtp_server: SmtpServer
) -> None:
    """A person waiting for their card comes first: the notifier waits for the turn being answered (for a
    moment at most), then delivers everything."""
    d = delivery_factory(mailer=Mailer(smtp_server.settings()))
    await d.service.raise_challenge(holder("durham", Role.RAISER), "durham", raise_request("durham"))
    turn_may_end = asyncio.Event()

    async def turn() -> None:
        with answering():
            await turn_may_end.wait()

    answering_turn = asyncio.create_task(turn())
    await asyncio.sleep(0)
    draining = asyncio.create_task(d.notifier.drain())
    for _ in range(10):
        await asyncio.sleep(0)
    assert not draining.done() and smtp_server.messages == []
    turn_may_end.set()
    await answering_turn
    report = await asyncio.wait_for(draining, timeout=30)
    assert report.delivered >= 1 and len(smtp_server.messages) == report.delivered_email
