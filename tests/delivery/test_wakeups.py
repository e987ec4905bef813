"""The scheduler wakes for outbox work another instance scheduled, and new 1:1 chats find their tenant's
service URL with one query."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta

from bot.config import Settings
from bot.mailer import Mailer
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
