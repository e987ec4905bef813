"""Teams delivery against the fake Bot Connector: cards in 1:1 chats, 429 with Retry-After, 403 to email."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from datetime import timedelta

from bot.config import Settings
from bot.mailer import Mailer
from bot.notifier import PER_CONVERSATION_LIMITS, SlidingWindowLimiter
from bot.server import build_adapter
from process.directory import Directory
from process.policy import Role
from storage.outbox import DeliveryStatus
from tests.delivery.conftest import Delivery, SmtpServer
from tests.fakes.activities import TENANT_ID
from tests.fakes.connector import FakeConnector
from tests.support.people import holder, raise_request, role_directory

CHALLENGED = holder("durham", Role.CHALLENGED_PROFESSIONAL)


def personal_reference(service_url: str, aad_object_id: str, conversation_id: str) -> dict[str, object]:
    """A personal chat's serialized reference, as the bot stores it when someone messages it."""
    return {
        "bot": {"id": "28:challenge-bot", "name": "Challenge bot"},
        "user": {"id": f"29:{aad_object_id}", "aadObjectId": aad_object_id},
        "conversation": {"id": conversation_id, "conversationType": "personal", "tenantId": TENANT_ID},
        "channelId": "msteams",
        "serviceUrl": service_url,
    }


async def raised_with_teams(
    delivery_factory: Callable[..., Delivery],
    connector: FakeConnector,
    smtp: SmtpServer,
    directory: Directory | None = None,
) -> tuple[Delivery, str]:
    d = delivery_factory(
        teams_adapter=build_adapter(Settings()), mailer=Mailer(smtp.settings()), directory=directory
    )
    await d.conversations.save(
        personal_reference(connector.service_url, "aad-durham-challenged", "a:challenged")
    )
    decision = await d.service.raise_challenge(
        holder("durham", Role.RAISER), "durham", raise_request("durham")
    )
    return d, decision.challenge.id


async def test_challenged_professional_gets_the_action_card_in_their_teams_chat(
    delivery_factory: Callable[..., Delivery], fake_connector: FakeConnector, smtp_server: SmtpServer
) -> None:
    d, challenge_id = await raised_with_teams(delivery_factory, fake_connector, smtp_server)
    report = await d.notifier.drain()

    sent = fake_connector.sent_activities()
    assert [r.conversation_id for r in fake_connector.requests] == ["a:challenged"]
    assert sent[0]["attachments"][0]["contentType"] == "application/vnd.microsoft.card.adaptive"
    items = await d.outbox.for_challenge(challenge_id)
    by_person = {i.notification.recipient.person_id: i for i in items}
    assert by_person[CHALLENGED].channel == "teams"
    assert by_person[CHALLENGED].status is DeliveryStatus.DELIVERED
    # Everyone else has no Teams chat with the bot: email.
    assert report.delivered_teams == 1 and report.delivered_email == len(items) - 1
    assert {i.status for i in items} == {DeliveryStatus.DELIVERED}


async def test_teams_429_is_retried_after_the_retry_after_it_gave(
    delivery_factory: Callable[..., Delivery], fake_connector: FakeConnector, smtp_server: SmtpServer
) -> None:
    d, challenge_id = await raised_with_teams(delivery_factory, fake_connector, smtp_server)
    fake_connector.fail_next(429, retry_after=7)
    start = d.clock.now
    first = await d.notifier.drain()

    assert first.retried == 1 and first.delivered_teams == 0
    row = next(
        i
        for i in await d.outbox.for_challenge(challenge_id)
        if i.notification.recipient.person_id == CHALLENGED
    )
    assert row.status is DeliveryStatus.PENDING and row.next_attempt_at == start + timedelta(seconds=7)
    assert row.last_error is not None and "429" in row.last_error

    d.clock.now = start + timedelta(seconds=6)
    assert (await d.notifier.drain()).delivered == 0  # not before Retry-After
    d.clock.now = start + timedelta(seconds=7)
    second = await d.notifier.drain()
    assert second.delivered_teams == 1
    assert [r.status for r in fake_connector.requests] == [429, 200]


async def test_teams_403_marks_the_chat_stale_and_falls_back_to_email(
    delivery_factory: Callable[..., Delivery], fake_connector: FakeConnector, smtp_server: SmtpServer
) -> None:
    d, challenge_id = await raised_with_teams(delivery_factory, fake_connector, smtp_server)
    fake_connector.fail_next(403)
    await d.notifier.drain()

    row = next(
        i
        for i in await d.outbox.for_challenge(challenge_id)
        if i.notification.recipient.person_id == CHALLENGED
    )
    assert row.status is DeliveryStatus.DELIVERED and row.channel == "email"
    assert "challenged@durham.example" in [rcpt for rcpts, _ in smtp_server.messages for rcpt in rcpts]
    stored = await d.conversations.get("a:challenged")
    assert stored is not None and stored.stale
    assert await d.conversations.for_user("aad-durham-challenged") is None


async def test_a_person_known_by_aad_id_and_tenant_gets_a_new_one_to_one_chat(
    delivery_factory: Callable[..., Delivery], fake_connector: FakeConnector, smtp_server: SmtpServer
) -> None:
    base = role_directory()
    line_manager = holder("durham", Role.CHALLENGED_LINE_MANAGER)
    people = dict(base.people)
    people[CHALLENGED] = replace(people[CHALLENGED], tenant_id=TENANT_ID)
    people[line_manager] = replace(
        people[line_manager], aad_object_id="aad-durham-challenged-lm", tenant_id=TENANT_ID
    )
    directory = Directory(people, base.agencies, base.partnership_roles)
    d, challenge_id = await raised_with_teams(delivery_factory, fake_connector, smtp_server, directory)
    await d.notifier.drain()

    # The line manager is told of the challenge at stage 1 only if the policy says so; force a breach to
    # reach them: the deadline passes and Durham escalates to the challenged line manager.
    d.clock.now = d.clock.now + timedelta(days=2, hours=8)
    report = await d.scheduler.run_once()
    assert report.deadlines == 1
    operations = [r.operation for r in fake_connector.requests]
    assert "create_conversation" in operations
    created = await d.conversations.for_user("aad-durham-challenged-lm")
    assert created is not None and created["serviceUrl"] == fake_connector.service_url
    row = next(
        i
        for i in await d.outbox.for_challenge(challenge_id)
        if i.notification.recipient.person_id == line_manager
    )
    assert row.channel == "teams"


async def test_rate_limiter_keeps_a_conversation_within_teams_published_limits() -> None:
    now = [0.0]

    async def sleep(seconds: float) -> None:
        now[0] += seconds

    limiter = SlidingWindowLimiter(PER_CONVERSATION_LIMITS, monotonic=lambda: now[0], sleep=sleep)
    sent: list[float] = []
    for _ in range(70):
        await limiter.acquire("a:conversation")
        sent.append(now[0])

    for window, limit in PER_CONVERSATION_LIMITS:
        busiest = max(sum(1 for t in sent if start <= t < start + window) for start in sent)
        assert busiest <= limit, (window, busiest)
    assert sent[6] == 0.0 and sent[7] == 1.0  # 7 at once, the 8th a second later
    assert sent[60] >= 30.0  # 60 per 30 seconds
