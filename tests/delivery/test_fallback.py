"""What Teams answers, and what the notifier does about it: retry only what Microsoft's guidance for bots says
to retry, email whoever Teams cannot reach, and report once a notification nobody could deliver.

The fake Bot Connector answers with each status and Teams error code of the guidance's table ("Status codes
from bot conversational APIs"); a real SMTP server on loopback takes the email.
"""

from __future__ import annotations

import asyncio
import logging
import random
from collections.abc import Callable
from dataclasses import replace
from datetime import timedelta

import pytest

from bot.config import Settings
from bot.mailer import Mailer
from bot.notifier import BASE_BACKOFF, MAX_ATTEMPTS, MAX_BACKOFF, MAX_TEAMS_ATTEMPTS, retry_after_of
from bot.server import build_adapter
from process.challenge import NotificationKind
from process.directory import Directory
from process.policy import Role
from storage.db import Database
from storage.outbox import DeliveryStatus, OutboxItem
from tests.delivery.conftest import Delivery, MovableClock, SmtpServer, build_delivery
from tests.delivery.test_teams import personal_reference
from tests.fakes.connector import FakeConnector
from tests.support.people import MONDAY_MORNING, holder, raise_request, role_directory

CHALLENGED = holder("durham", Role.CHALLENGED_PROFESSIONAL)
RAISER = holder("durham", Role.RAISER)
ADMIN = holder("durham", Role.PARTNERSHIP_ADMIN)


def error_body(code: str) -> dict[str, object]:
    return {"error": {"code": code, "message": "invented for the test"}}


def without_email(person_id: str, directory: Directory | None = None) -> Directory:
    """The directory with no email address for `person_id`, as a person or in a partnership post."""
    base = directory or role_directory()
    people = dict(base.people)
    people[person_id] = replace(people[person_id], email=None)
    posts = {
        key: tuple(replace(c, email=None) if c.person_id == person_id else c for c in contacts)
        for key, contacts in base.partnership_roles.items()
    }
    return Directory(people, base.agencies, posts)


async def raised(
    d: Delivery, connector: FakeConnector, *, service_url: str | None = None, times: int = 1
) -> list[str]:
    """`times` Durham challenges against the professional, who has a Teams chat with the bot."""
    await d.conversations.save(
        personal_reference(service_url or connector.service_url, "aad-durham-challenged", "a:challenged")
    )
    ids = []
    for _ in range(times):
        decision = await d.service.raise_challenge(RAISER, "durham", raise_request("durham"))
        ids.append(decision.challenge.id)
    return ids


def make(delivery_factory: Callable[..., Delivery], smtp: SmtpServer, **options: object) -> Delivery:
    return delivery_factory(
        teams_adapter=build_adapter(Settings()), mailer=Mailer(smtp.settings()), **options
    )


async def row_for(d: Delivery, challenge_id: str, person_id: str) -> OutboxItem:
    items = await d.outbox.for_challenge(challenge_id)
    return next(i for i in items if i.notification.recipient.person_id == person_id and i.report_of is None)


def emailed_to(smtp: SmtpServer, address: str) -> list[str]:
    return [str(m["Subject"]) for rcpts, m in smtp.messages if address in rcpts]


#: Answers the guidance says to retry with backoff.
RETRIED = [
    (412, "PreconditionFailed"),
    (429, "Throttled"),
    (502, "ServiceError"),
    (503, "ServiceUnavailable"),
    (504, "GatewayTimeout"),
]
#: Answers it says not to retry: the person is emailed at once; 403/404 also stop posting to the chat.
NOT_RETRIED = [
    (400, "BadArgument", False),
    (401, "BotNotRegistered", False),
    (403, "BotDisabledByAdmin", True),
    (403, "BotNotInConversationRoster", True),
    (403, "ConversationBlockedByUser", True),
    (403, "ForbiddenOperationException", True),
    (404, "ConversationNotFound", True),
    (413, "MessageSizeTooBig", False),
    (500, "ServiceError", False),
]


@pytest.mark.parametrize(("status", "code"), RETRIED, ids=[f"{s}-{c}" for s, c in RETRIED])
async def test_teams_answers_the_guidance_says_to_retry_are_retried_later_and_logged_with_their_code(
    delivery_factory: Callable[..., Delivery],
    fake_connector: FakeConnector,
    smtp_server: SmtpServer,
    caplog: pytest.LogCaptureFixture,
    status: int,
    code: str,
) -> None:
    d = make(delivery_factory, smtp_server)
    [challenge_id] = await raised(d, fake_connector)
    fake_connector.fail_next(status, body=error_body(code))
    with caplog.at_level(logging.INFO, logger="bot.notifier"):
        report = await d.notifier.drain()

    row = await row_for(d, challenge_id, CHALLENGED)
    assert row.status is DeliveryStatus.PENDING and row.attempts == 1
    assert row.last_error is not None and f"Teams answered {status} ({code})" in row.last_error
    assert f"{status} ({code})" in caplog.text
    assert report.retried == 1 and report.fell_back_to_email == 0
    assert emailed_to(smtp_server, "challenged@durham.example") == []
    assert len(fake_connector.requests) == 1
    stored = await d.conversations.get("a:challenged")
    assert stored is not None and not stored.stale

    d.clock.now = row.next_attempt_at
    assert (await d.notifier.drain()).delivered_teams == 1
    assert (await row_for(d, challenge_id, CHALLENGED)).channel == "teams"


@pytest.mark.parametrize(
    ("status", "code", "stale"), NOT_RETRIED, ids=[f"{s}-{c}" for s, c, _ in NOT_RETRIED]
)
async def test_teams_answers_the_guidance_says_not_to_retry_go_straight_to_email(
    delivery_factory: Callable[..., Delivery],
    fake_connector: FakeConnector,
    smtp_server: SmtpServer,
    caplog: pytest.LogCaptureFixture,
    status: int,
    code: str,
    stale: bool,
) -> None:
    d = make(delivery_factory, smtp_server)
    [challenge_id] = await raised(d, fake_connector)
    fake_connector.fail_next(status, body=error_body(code))
    with caplog.at_level(logging.INFO, logger="bot.notifier"):
        report = await d.notifier.drain()

    row = await row_for(d, challenge_id, CHALLENGED)
    assert row.status is DeliveryStatus.DELIVERED and row.channel == "email" and row.attempts == 1
    assert len(emailed_to(smtp_server, "challenged@durham.example")) == 1
    assert report.fell_back_to_email == 1 and report.retried == 0
    assert f"Teams answered {status} ({code})" in caplog.text
    assert [r.status for r in fake_connector.requests] == [status]  # Teams was asked once, not again
    stored = await d.conversations.get("a:challenged")
    assert stored is not None and stored.stale is stale


async def test_no_answer_from_teams_is_retried_like_an_outage(
    delivery_factory: Callable[..., Delivery], fake_connector: FakeConnector, smtp_server: SmtpServer
) -> None:
    d = make(delivery_factory, smtp_server)
    # A service URL where nothing listens: the connection is refused, there is no status to go by.
    closed = FakeConnector()
    await closed.start()
    dead_url = closed.service_url
    await closed.close()
    [challenge_id] = await raised(d, fake_connector, service_url=dead_url)
    report = await d.notifier.drain()

    row = await row_for(d, challenge_id, CHALLENGED)
    assert report.retried == 1 and row.status is DeliveryStatus.PENDING
    assert row.last_error is not None and "no answer from Teams" in row.last_error


async def test_invalid_bot_api_host_is_retried_once_through_the_gcc_host_which_is_then_kept(
    delivery_factory: Callable[..., Delivery], fake_connector: FakeConnector, smtp_server: SmtpServer
) -> None:
    gcc = fake_connector.service_url_for("/gcc")
    d = make(delivery_factory, smtp_server, gcc_service_url=gcc)
    [challenge_id] = await raised(d, fake_connector)
    fake_connector.fail_next(403, body=error_body("InvalidBotApiHost"))
    report = await d.notifier.drain()

    assert [(r.path.startswith("/gcc/"), r.status) for r in fake_connector.requests] == [
        (False, 403),
        (True, 200),
    ]
    assert report.delivered_teams == 1 and report.fell_back_to_email == 0
    assert (await row_for(d, challenge_id, CHALLENGED)).channel == "teams"
    stored = await d.conversations.get("a:challenged")
    assert stored is not None and stored.service_url == gcc and not stored.stale


async def test_invalid_bot_api_host_from_the_gcc_host_too_falls_back_to_email(
    delivery_factory: Callable[..., Delivery], fake_connector: FakeConnector, smtp_server: SmtpServer
) -> None:
    gcc = fake_connector.service_url_for("/gcc")
    d = make(delivery_factory, smtp_server, gcc_service_url=gcc)
    [challenge_id] = await raised(d, fake_connector)
    fake_connector.fail_next(403, times=2, body=error_body("InvalidBotApiHost"))
    await d.notifier.drain()

    assert len(fake_connector.requests) == 2  # once each host, never a loop
    row = await row_for(d, challenge_id, CHALLENGED)
    assert row.channel == "email"


async def test_after_teams_retries_run_out_the_person_is_emailed_with_bounded_jittered_backoff(
    delivery_factory: Callable[..., Delivery], fake_connector: FakeConnector, smtp_server: SmtpServer
) -> None:
    d = make(delivery_factory, smtp_server, rng=random.Random(13))
    [challenge_id] = await raised(d, fake_connector)
    fake_connector.fail_next(503, times=100, body=error_body("ServiceUnavailable"))
    delays: list[timedelta] = []
    for _ in range(MAX_TEAMS_ATTEMPTS + 3):
        await d.notifier.drain()
        row = await row_for(d, challenge_id, CHALLENGED)
        if row.status is not DeliveryStatus.PENDING:
            break
        delays.append(row.next_attempt_at - d.clock.now)
        d.clock.now = row.next_attempt_at

    assert row.status is DeliveryStatus.DELIVERED and row.channel == "email"
    assert row.attempts == MAX_TEAMS_ATTEMPTS
    assert len(fake_connector.requests) == MAX_TEAMS_ATTEMPTS
    assert len(emailed_to(smtp_server, "challenged@durham.example")) == 1
    assert len(delays) == MAX_TEAMS_ATTEMPTS - 1
    for attempt, delay in enumerate(delays, start=1):
        base = min(BASE_BACKOFF * 2 ** (attempt - 1), MAX_BACKOFF)
        assert base * 0.8 <= delay <= base * 1.2, (attempt, delay)
    assert len(set(delays)) == len(delays)  # jittered, not a fixed ladder


async def test_a_retry_after_longer_than_the_backoff_cap_is_capped(
    delivery_factory: Callable[..., Delivery], fake_connector: FakeConnector, smtp_server: SmtpServer
) -> None:
    d = make(delivery_factory, smtp_server)
    [challenge_id] = await raised(d, fake_connector)
    fake_connector.fail_next(429, retry_after=10 * 24 * 3600, body=error_body("Throttled"))
    start = d.clock.now
    await d.notifier.drain()
    row = await row_for(d, challenge_id, CHALLENGED)
    assert row.next_attempt_at == start + MAX_BACKOFF


async def test_without_an_email_address_teams_is_retried_until_the_attempts_run_out(
    delivery_factory: Callable[..., Delivery], fake_connector: FakeConnector, smtp_server: SmtpServer
) -> None:
    d = make(delivery_factory, smtp_server, directory=without_email(CHALLENGED))
    [challenge_id] = await raised(d, fake_connector)
    fake_connector.fail_next(503, times=100)
    for _ in range(MAX_ATTEMPTS + 2):
        await d.notifier.drain()
        row = await row_for(d, challenge_id, CHALLENGED)
        if row.status is not DeliveryStatus.PENDING:
            break
        d.clock.now = row.next_attempt_at
    assert row.status is DeliveryStatus.FAILED and row.attempts == MAX_ATTEMPTS
    assert len(fake_connector.requests) == MAX_ATTEMPTS


async def test_an_undeliverable_notification_is_reported_once_to_the_raiser_and_the_partnership_admin(
    delivery_factory: Callable[..., Delivery], fake_connector: FakeConnector, smtp_server: SmtpServer
) -> None:
    d = make(delivery_factory, smtp_server, directory=without_email(CHALLENGED))
    [challenge_id] = await raised(d, fake_connector)
    fake_connector.fail_next(403, body=error_body("ConversationBlockedByUser"))
    first = await d.notifier.drain()

    failed = await row_for(d, challenge_id, CHALLENGED)
    assert failed.status is DeliveryStatus.FAILED
    assert failed.last_error is not None and "ConversationBlockedByUser" in failed.last_error
    reports = [i for i in await d.outbox.for_challenge(challenge_id) if i.report_of == failed.id]
    assert first.failed == 1 and first.reports_queued == 2
    assert sorted(r.notification.recipient.person_id or "" for r in reports) == [ADMIN, RAISER]
    assert {r.notification.kind for r in reports} == {NotificationKind.DELIVERY_FAILED}
    assert {r.status for r in reports} == {DeliveryStatus.DELIVERED}  # the same pass delivered them

    # Nothing more to do however often the notifier runs: reported once.
    d.clock.now += timedelta(days=3)
    again = await d.notifier.drain()
    assert again.reports_queued == 0 and again.failed == 0
    for address in ("raiser@durham.example", "admin@durham.example"):
        [subject] = emailed_to(smtp_server, address)[-1:]
        assert "could not be delivered to Charlie Challenged" in subject
        assert sum("could not be delivered" in s for s in emailed_to(smtp_server, address)) == 1
    body = next(
        m.get_payload(decode=True).decode()
        for rcpts, m in smtp_server.messages
        if "admin@durham.example" in rcpts and "could not be delivered" in str(m["Subject"])
    )
    assert "Charlie Challenged could not be told" in body and "ConversationBlockedByUser" in body
    assert "Jordan Testchild" not in body and "\\" not in body


async def test_a_report_that_cannot_be_delivered_is_not_itself_reported(
    delivery_factory: Callable[..., Delivery], fake_connector: FakeConnector, smtp_server: SmtpServer
) -> None:
    # Nobody can be emailed: the professional, the raiser and the partnership admin have no address.
    directory = without_email(ADMIN, without_email(RAISER, without_email(CHALLENGED)))
    d = make(delivery_factory, smtp_server, directory=directory)
    [challenge_id] = await raised(d, fake_connector)
    fake_connector.fail_next(404, body=error_body("ConversationNotFound"))
    for _ in range(3):
        await d.notifier.drain()
        d.clock.now += timedelta(days=1)

    items = await d.outbox.for_challenge(challenge_id)
    failed = await row_for(d, challenge_id, CHALLENGED)
    reports = [i for i in items if i.report_of is not None]
    assert {r.report_of for r in reports} == {failed.id}  # reports of the first failure only
    assert len(reports) == 2 and {r.status for r in reports} == {DeliveryStatus.FAILED}
    assert not [i for i in items if i.report_of in {r.id for r in reports}]


async def test_racing_notifiers_report_each_undeliverable_notification_exactly_once(
    database: Database, fake_connector: FakeConnector, smtp_server: SmtpServer
) -> None:
    clock = MovableClock()
    directory = without_email(CHALLENGED)
    first = build_delivery(
        database,
        clock,
        directory=directory,
        teams_adapter=build_adapter(Settings()),
        mailer=Mailer(smtp_server.settings()),
        worker_id="worker-1",
    )
    second = build_delivery(
        database,
        clock,
        directory=directory,
        teams_adapter=build_adapter(Settings()),
        mailer=Mailer(smtp_server.settings()),
        worker_id="worker-2",
    )
    ids = await raised(first, fake_connector, times=6)
    fake_connector.fail_next(403, times=6, body=error_body("ConversationBlockedByUser"))
    reports = await asyncio.gather(first.notifier.drain(), second.notifier.drain())

    assert sum(r.failed for r in reports) == 6 and sum(r.reports_queued for r in reports) == 12
    for challenge_id in ids:
        failed = await row_for(first, challenge_id, CHALLENGED)
        told = [i for i in await first.outbox.for_challenge(challenge_id) if i.report_of == failed.id]
        assert len(told) == 2, challenge_id


async def test_a_worker_whose_lease_ran_out_cannot_report_a_failure_a_second_time(
    database: Database,
) -> None:
    clock = MovableClock()
    d = build_delivery(database, clock, directory=without_email(CHALLENGED))
    decision = await d.service.raise_challenge(RAISER, "durham", raise_request("durham"))
    [slow] = [
        i
        for i in await d.outbox.claim("slow", clock.now, 100, lease_seconds=60)
        if i.notification.recipient.person_id == CHALLENGED
    ]
    clock.now += timedelta(seconds=61)
    [fast] = [
        i
        for i in await d.outbox.claim("fast", clock.now, 100, lease_seconds=60)
        if i.notification.recipient.person_id == CHALLENGED
    ]
    report = replace(
        slow.notification,
        kind=NotificationKind.DELIVERY_FAILED,
        recipient=decision.challenge.parties["raiser"],
    )
    assert await d.outbox.mark_failed(fast.id, "fast", clock.now, "unreachable", [report])
    assert not await d.outbox.mark_failed(slow.id, "slow", clock.now, "unreachable", [report])
    reports = [i for i in await d.outbox.for_challenge(decision.challenge.id) if i.report_of == slow.id]
    assert len(reports) == 1


async def test_a_person_with_a_teams_identity_but_no_chat_with_the_bot_is_emailed(
    delivery_factory: Callable[..., Delivery], fake_connector: FakeConnector, smtp_server: SmtpServer
) -> None:
    # The professional has an AAD id but never talked to the bot, and no tenant is known to create a chat in.
    d = make(delivery_factory, smtp_server)
    decision = await d.service.raise_challenge(RAISER, "durham", raise_request("durham"))
    report = await d.notifier.drain()

    row = await row_for(d, decision.challenge.id, CHALLENGED)
    assert row.status is DeliveryStatus.DELIVERED and row.channel == "email"
    assert row.last_error is None and fake_connector.requests == []
    assert report.fell_back_to_email == 1


class _Answer:
    def __init__(self, retry_after: str) -> None:
        self.headers = {"Retry-After": retry_after}


class _Refused(Exception):
    def __init__(self, retry_after: str) -> None:
        super().__init__("429")
        self.response = _Answer(retry_after)


@pytest.mark.parametrize(
    ("header", "wait"),
    [
        ("7", timedelta(seconds=7)),
        ("-3", timedelta(0)),
        ("1e300", MAX_BACKOFF),
        ("inf", None),
        ("nan", None),
        ("soon", None),
        ("Mon, 23 Nov 2026 10:00:30 GMT", timedelta(seconds=30)),
        ("Mon, 23 Nov 2026 09:00:00 GMT", timedelta(0)),
        ("Tue, 01 Dec 2026 10:00:00 GMT", MAX_BACKOFF),
    ],
)
def test_retry_after_is_read_as_seconds_or_a_date_and_kept_within_bounds(
    header: str, wait: timedelta | None
) -> None:
    assert retry_after_of(_Refused(header), MONDAY_MORNING) == wait
