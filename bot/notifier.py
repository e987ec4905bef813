"""Delivers the outbox: each queued notification to its recipient in Teams, or else by email.

Delivery happens after the change that caused it has committed (the outbox row was written in the same
transaction). A row is claimed with a lease, sent, and marked delivered only after Teams or the mail server
accepted it; a worker that dies mid-send leaves a lease that runs out, so another claims the row. Logs carry
challenge ids and outbox ids only, never child data.

Teams: a person's stored personal conversation is continued; for a person the bot has no conversation with
but whose AAD object id and tenant are known, a 1:1 conversation is created (through a service URL the bot
already uses in that tenant). What Teams answers is handled as Microsoft's guidance for bots says ("Status
codes from bot conversational APIs", "Optimize your bot with rate limiting"): 412, 429, 502, 503 and 504 are
retried with exponential backoff and jitter (429 after its `Retry-After`); nothing else is retried. 403 and
404 (bot blocked, disabled or uninstalled, conversation gone) mark the reference stale. 403
`InvalidBotApiHost` (a government-cloud tenant called through the public host) is retried once at once
through the GCC host, which is then kept as the conversation's service URL. Every failure is logged with
Teams' error code as well as the HTTP status.

Email is the fallback: for mailboxes and people without Teams, when Teams refuses, and when Teams has been
retried `MAX_TEAMS_ATTEMPTS` times. A notification that cannot be delivered at all is reported, once, to the
raiser and to the partnership's admin mailbox (or its business manager); a report that fails is not reported.
Email carries no child data (`cards.notification.notification_text`).
"""

from __future__ import annotations

import asyncio
import bisect
import logging
import math
import random
import time
from collections import deque
from collections.abc import Awaitable, Callable, Sequence
from contextvars import ContextVar
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from email.utils import parsedate_to_datetime
from typing import Any, Protocol

from botbuilder.core import CardFactory, MessageFactory, TurnContext
from botbuilder.schema import Activity, ChannelAccount, ConversationParameters, ConversationReference
from sqlalchemy.exc import SQLAlchemyError

from bot.after_answer import turns_answered
from bot.mailer import Mailer, MailError
from cards.notification import (
    delivery_failed_card,
    delivery_failed_text,
    notification_card,
    notification_text,
)
from cards.pattern import pattern_alert_card, pattern_alert_text
from dialogs.service import ChallengeService
from process.challenge import Challenge, Notification, NotificationKind
from process.delivery import NO_ADDRESS, NO_MAILER, NOT_IN_TEAMS, report_recipients
from process.directory import Directory, Person
from storage.conversations import ConversationStore
from storage.outbox import Outbox, OutboxItem
from storage.patterns import PatternAlertRecord, PatternStore

log = logging.getLogger(__name__)

# Teams' published limits for bots (Microsoft Learn, "Optimize your bot with rate limiting and best practices
# in Teams"): per bot per conversation 7 messages a second, 8 per 2 s, 60 per 30 s and 1,800 per hour; per app
# per tenant 50 requests a second. We stay inside them rather than rely on 429s.
PER_CONVERSATION_LIMITS: tuple[tuple[float, int], ...] = ((1.0, 7), (2.0, 8), (30.0, 60), (3600.0, 1800))
PER_TENANT_LIMITS: tuple[tuple[float, int], ...] = ((1.0, 50),)

#: Retries back off exponentially from this, with jitter, up to `MAX_BACKOFF`.
BASE_BACKOFF = timedelta(seconds=30)
MAX_BACKOFF = timedelta(hours=1)
#: After this many attempts a notification is marked failed (about a day of retries at the cap).
MAX_ATTEMPTS = 12
#: After this many attempts at Teams, a person with an email address is emailed instead (about 15 minutes).
MAX_TEAMS_ATTEMPTS = 5
#: A delivery the database would not record (it went away: restarted, failed over) is recorded again after
#: this pause, doubling up to `RECORD_RETRY_MAX_PAUSE`, for at most half the row's lease: unrecorded, the row
#: would be claimed again when its lease ran out and the person told twice.
RECORD_RETRY_FIRST_PAUSE = 0.2
RECORD_RETRY_MAX_PAUSE = 5.0
#: A 429 without a usable `Retry-After` waits this long.
DEFAULT_RETRY_AFTER = timedelta(seconds=5)

#: The statuses Microsoft's guidance says to retry, with exponential backoff (429: after `Retry-After`).
#: 500 (`ServiceError`) is "No" in its table, and a bot "must avoid retrying status codes that aren't
#: specified". No answer at all (a network error or timeout) has no status; it is retried like a 503.
RETRY_STATUSES = frozenset({412, 429, 502, 503, 504})
#: Answers meaning this conversation cannot be posted to until the person talks to the bot again: the
#: guidance says to stop posting to it (403: blocked, disabled by the admin, uninstalled; 404: gone).
STALE_STATUSES = frozenset({403, 404})
#: The host a government-cloud (GCC) tenant's conversations must be called through; Teams answers the
#: public host's call with 403 `InvalidBotApiHost`.
GCC_SERVICE_URL = "https://smba.infra.gcc.teams.microsoft.com"
INVALID_BOT_API_HOST = "InvalidBotApiHost"

#: How often at most a notifier reads again how many instances are delivering (`Outbox.delivering_workers`).
SHARE_REFRESH_SECONDS = 0.25


class _Slot:
    """One of `Notifier`'s `concurrency` places, held by one delivery until it is ready to send to Teams."""

    def __init__(self, places: asyncio.Semaphore) -> None:
        self.places = places
        self.held = False

    async def take(self) -> None:
        await self.places.acquire()
        self.held = True

    def give_up(self) -> None:
        if self.held:
            self.held = False
            self.places.release()


#: The place the current task's delivery holds, if any: given up once the message is made and waits for Teams'
#: limits, so that a message held back by its conversation or its tenant keeps no other from being made.
_DELIVERY_SLOT: ContextVar[_Slot | None] = ContextVar("delivery_slot", default=None)

Clock = Callable[[], datetime]
Sleep = Callable[[float], Awaitable[None]]


class SlidingWindowLimiter:
    """Keeps the sends per key within several (window seconds, count) limits at once, waiting when needed.

    A send is counted when it is let go, and counted again from when Teams has answered it (`settle`): Teams
    counts it when it arrives, which is later by as much as the process had other things to do, and a
    window reckoned from the answer keeps that wait out of the next window's count. Reckoned from the
    letting go, a window's sends would arrive spread out and overlap the next window's in Teams' count,
    which then answers 429.
    """

    def __init__(
        self,
        limits: Sequence[tuple[float, int]],
        *,
        monotonic: Callable[[], float] = time.monotonic,
        sleep: Sleep = asyncio.sleep,
    ) -> None:
        self._published = tuple(limits)
        self.limits = self._published
        self._longest = max(window for window, _ in self.limits)
        self._sent: dict[str, deque[float]] = {}
        self._locks: dict[str, asyncio.Lock] = {}
        self._monotonic = monotonic
        self._sleep = sleep

    def wait_needed(self, key: str) -> float:
        """Seconds until one more send for `key` keeps within every limit (0: now)."""
        now = self._monotonic()
        sent = self._sent.get(key)
        if not sent:
            return 0.0
        while sent and sent[0] <= now - self._longest:
            sent.popleft()
        wait = 0.0
        for window, count in self.limits:
            inside = [t for t in sent if t > now - window]
            if len(inside) >= count:
                wait = max(wait, inside[-count] + window - now)
        return wait

    async def acquire(self, key: str) -> float:
        """Wait until `key` may send, then count the send; the instant it was counted at, for `settle`."""
        async with self.turn(key):
            await self.wait(key)
            return self.count(key)

    def turn(self, key: str) -> asyncio.Lock:
        """The lock senders for `key` queue on, first come first served."""
        return self._locks.setdefault(key, asyncio.Lock())

    async def wait(self, key: str) -> None:
        """Sleep until one more send for `key` keeps within every limit (hold `turn(key)` meanwhile)."""
        while (wait := self.wait_needed(key)) > 0:
            await self._sleep(wait)

    def count(self, key: str) -> float:
        """Count a send for `key` let go now; returns the instant it was counted at, for `settle`."""
        at = self._monotonic()
        self._sent.setdefault(key, deque()).append(at)
        return at

    def settle(self, key: str, counted_at: float) -> None:
        """The send counted at `counted_at` was answered: count it from now instead."""
        sent = self._sent.get(key)
        if not sent:
            return
        try:
            sent.remove(counted_at)
        except ValueError:  # already out of every window
            return
        bisect.insort(sent, self._monotonic())

    def share(self, parts: int, rank: int = 0) -> None:
        """Keep to part `rank` (from 0) of `parts` equal parts of each limit, for instances that share a budget:
        the parts are whole sends and add up to the limit (50 in 4: 13, 13, 12, 12), and none is nothing.
        The published limits are kept in `published`."""
        parts = max(parts, 1)
        self.limits = tuple(
            (window, max(count // parts + (1 if rank % parts < count % parts else 0), 1))
            for window, count in self.published
        )

    @property
    def published(self) -> tuple[tuple[float, int], ...]:
        return self._published


class TeamsUnreachable(Exception):
    """The person cannot be messaged in Teams: no reference or identity, or Teams refused in a way the
    guidance says not to retry (4xx, 500)."""


class TeamsRetryLater(Exception):
    """Teams did not take the message now (412, 429, 502-504, network); try again after `retry_after`, if
    given."""

    def __init__(self, message: str, retry_after: timedelta | None = None) -> None:
        super().__init__(message)
        self.retry_after = retry_after


@dataclass(frozen=True)
class TeamsFailure:
    """What a failed Bot Connector call answered: the HTTP status and Teams' error code, when there were."""

    status: int | None
    code: str | None
    error: BaseException

    @classmethod
    def of(cls, error: BaseException) -> TeamsFailure:
        return cls(_status_of(error), _code_of(error), error)

    def __str__(self) -> str:
        if self.status is None:
            return f"no answer from Teams ({type(self.error).__name__})"
        return f"Teams answered {self.status}" + (f" ({self.code})" if self.code else "")


class ProactiveAdapter(Protocol):
    """The two CloudAdapter calls proactive messages need."""

    async def continue_conversation(
        self,
        reference: ConversationReference,
        callback: Callable[[TurnContext], Awaitable[None]],
        bot_app_id: str,
    ) -> Any: ...

    async def create_conversation(
        self,
        bot_app_id: str,
        callback: Callable[[TurnContext], Awaitable[None]],
        conversation_parameters: ConversationParameters,
        channel_id: str,
        service_url: str,
        audience: str | None = None,
    ) -> Any: ...


class TeamsChannel:
    """Sends one activity to a person's 1:1 chat with the bot, creating the chat when it must."""

    def __init__(
        self,
        adapter: ProactiveAdapter,
        conversations: ConversationStore,
        app_id: str | None,
        *,
        per_conversation: SlidingWindowLimiter | None = None,
        per_tenant: SlidingWindowLimiter | None = None,
        gcc_service_url: str = GCC_SERVICE_URL,
    ) -> None:
        self.adapter = adapter
        self.conversations = conversations
        self.app_id = app_id
        self.per_conversation = per_conversation or SlidingWindowLimiter(PER_CONVERSATION_LIMITS)
        self.per_tenant = per_tenant or SlidingWindowLimiter(PER_TENANT_LIMITS)
        self.gcc_service_url = gcc_service_url

    async def send(self, person: Person, activity: Activity) -> None:
        """Deliver `activity` to `person`; raises `TeamsUnreachable` or `TeamsRetryLater` when it cannot."""
        if not person.aad_object_id:
            raise TeamsUnreachable("no Teams identity (AAD object id) in the directory")
        stored = await self.conversations.for_user(person.aad_object_id)
        if stored is not None:
            reference = ConversationReference().deserialize(stored)
            conversation_id = str(reference.conversation.id)
            answered = await self._throttle(conversation_id, person.tenant_id or _tenant_of(stored))
            try:
                failure = await self._continue(reference, activity)
            finally:
                answered()
            if self._wrong_host(failure, reference.service_url):
                # The guidance: update the conversation's service URL to the GCC host and retry the request.
                log.warning("conversation %s: %s; retrying through the GCC host", conversation_id, failure)
                reference.service_url = self.gcc_service_url
                await self.conversations.save({**stored, "serviceUrl": self.gcc_service_url})
                failure = await self._continue(reference, activity)
            if failure is None:
                return
            if failure.status in STALE_STATUSES:
                await self.conversations.mark_stale(conversation_id)
                raise TeamsUnreachable(f"{failure}; conversation reference marked stale")
            raise _outcome_of(failure)
        await self._create_and_send(person, activity)

    def _wrong_host(self, failure: TeamsFailure | None, service_url: str | None) -> bool:
        return (
            failure is not None
            and failure.status == 403
            and failure.code == INVALID_BOT_API_HOST
            and (service_url or "").rstrip("/") != self.gcc_service_url.rstrip("/")
        )

    async def _throttle(self, conversation_id: str, tenant_id: str | None) -> Callable[[], None]:
        """Wait until both the conversation and the tenant may take one more message, and count it in both
        at the same instant, just before it is sent; returns what to call once Teams has answered (`settle`).

        The conversation comes first: a message held back by its own conversation (a busy manager's chat)
        waits without a place in the tenant's queue, so it neither spends the tenant's budget nor keeps the
        messages for other conversations behind it. Only the one holding the conversation's turn sends to it,
        so waiting for the tenant cannot take the conversation beyond its limits. A delivery gives up its place
        (`Notifier`'s `concurrency`) here, its message made: the places are for making messages, and one that
        had to be taken again before sending would queue behind every message still to be made.
        """
        tenant = tenant_id or "unknown-tenant"
        slot = _DELIVERY_SLOT.get()
        if slot is not None:
            slot.give_up()
        async with self.per_conversation.turn(conversation_id):
            await self.per_conversation.wait(conversation_id)
            async with self.per_tenant.turn(tenant):
                await self.per_tenant.wait(tenant)
                by_tenant = self.per_tenant.count(tenant)
                by_conversation = self.per_conversation.count(conversation_id)

        def answered() -> None:
            self.per_tenant.settle(tenant, by_tenant)
            self.per_conversation.settle(conversation_id, by_conversation)

        return answered

    async def _continue(self, reference: ConversationReference, activity: Activity) -> TeamsFailure | None:
        failure: list[BaseException] = []

        async def send(turn_context: TurnContext) -> None:
            # Errors are caught here: raised inside the turn, the adapter's on_turn_error would swallow them.
            try:
                await turn_context.send_activity(activity)
            except Exception as error:
                failure.append(error)

        try:
            await self.adapter.continue_conversation(reference, send, self.app_id or "")
        except Exception as error:
            failure.append(error)
        return TeamsFailure.of(failure[0]) if failure else None

    async def _create_and_send(self, person: Person, activity: Activity) -> None:
        tenant_id = person.tenant_id
        if not tenant_id or not person.aad_object_id:
            raise TeamsUnreachable("no conversation with the bot and no tenant to create one in")
        service_url = await self.conversations.service_url_for_tenant(tenant_id)
        if service_url is None:
            raise TeamsUnreachable("no conversation with the bot, and no service URL known for its tenant")
        await self.per_tenant.acquire(tenant_id)
        failure = await self._create(person, tenant_id, service_url, activity)
        if self._wrong_host(failure, service_url):
            log.warning("tenant %s: %s; creating the chat through the GCC host", tenant_id, failure)
            failure = await self._create(person, tenant_id, self.gcc_service_url, activity)
        if failure is None:
            return
        if failure.status in STALE_STATUSES:
            raise TeamsUnreachable(f"{failure} to creating a 1:1 conversation")
        raise _outcome_of(failure)

    async def _create(
        self, person: Person, tenant_id: str, service_url: str, activity: Activity
    ) -> TeamsFailure | None:
        parameters = ConversationParameters(
            is_group=False,
            bot=ChannelAccount(id=f"28:{self.app_id}" if self.app_id else "28:challenge-bot"),
            members=[ChannelAccount(id=person.aad_object_id, aad_object_id=person.aad_object_id)],
            tenant_id=tenant_id,
            channel_data={"tenant": {"id": tenant_id}},
        )
        failure: list[BaseException] = []
        conversations = self.conversations

        async def first_message(turn_context: TurnContext) -> None:
            try:
                reference = TurnContext.get_conversation_reference(turn_context.activity)
                reference.user = ChannelAccount(id=person.aad_object_id, aad_object_id=person.aad_object_id)
                reference.conversation.conversation_type = "personal"
                reference.conversation.tenant_id = tenant_id
                await conversations.save(reference.serialize())
                await turn_context.send_activity(activity)
            except Exception as error:
                failure.append(error)

        try:
            await self.adapter.create_conversation(
                self.app_id or "", first_message, parameters, "msteams", service_url
            )
        except Exception as error:
            failure.append(error)
        return TeamsFailure.of(failure[0]) if failure else None


@dataclass
class DrainReport:
    """What one pass over the outbox did, for the `tick` command and the tests."""

    delivered_teams: int = 0
    delivered_email: int = 0
    retried: int = 0
    failed: int = 0
    #: Notifications Teams could not deliver that went by email instead.
    fell_back_to_email: int = 0
    #: Reports queued that a notification could not be delivered at all.
    reports_queued: int = 0
    lost_claims: int = 0
    errors: list[str] = field(default_factory=list)

    @property
    def delivered(self) -> int:
        return self.delivered_teams + self.delivered_email


class Notifier:
    """Claims due outbox rows and delivers each through Teams or email, recording what became of it."""

    def __init__(
        self,
        service: ChallengeService,
        outbox: Outbox,
        *,
        teams: TeamsChannel | None,
        mailer: Mailer | None,
        worker_id: str,
        in_flight: int = 100,
        lease_seconds: float = 120.0,
        concurrency: int = 8,
        share_tenant_budget: bool = True,
        rng: random.Random | None = None,
    ) -> None:
        self.service = service
        self.outbox = outbox
        self.teams = teams
        self.mailer = mailer
        self.worker_id = worker_id
        self.in_flight = max(in_flight, 1)
        self.lease_seconds = lease_seconds
        self.share_tenant_budget = share_tenant_budget
        self._share_read_at = -math.inf
        #: Deliveries being made at once (emails sent); a Teams message gives its place up once it is made.
        self._concurrency = asyncio.Semaphore(concurrency)
        self._rng = rng or random.Random()
        self.patterns = PatternStore(service.repository.db)

    async def drain(self, now: datetime | None = None) -> DrainReport:
        """Deliver every row ready at `now` (default: the service's clock), until none is left.

        Rows go through a pipeline rather than in batches: up to `in_flight` are being delivered at once, and
        more are claimed whenever a quarter of them are done, so one slow delivery (a conversation at its limit, a
        slow mail server) holds back nobody else. The tenant's budget is shared with the other instances
        delivering at the time (`Outbox.delivering_workers`), counted again at every claim and while
        deliveries end.
        """
        report = DrainReport()
        running: set[asyncio.Task[None]] = set()
        exhausted = False
        try:
            while True:
                if not exhausted and len(running) <= self.in_flight * 3 // 4:
                    await turns_answered()
                    at = now or self.service.clock()
                    items = await self.outbox.claim(
                        self.worker_id, at, self.in_flight - len(running), self.lease_seconds
                    )
                    if items:
                        await self._share_budget(at, refresh=True)
                    # Started in the order claimed (oldest first), which is the order places are given in.
                    running.update([asyncio.create_task(self._guarded(item, at, report)) for item in items])
                    exhausted = not items
                if not running:
                    if exhausted:
                        return report
                    continue
                done, running = await asyncio.wait(running, return_when=asyncio.FIRST_COMPLETED)
                # A row that could not even be given back for a retry: the pass failed (every such error is
                # collected, so none is left for asyncio to report as never retrieved).
                failures = [error for task in done if (error := task.exception()) is not None]
                if failures:
                    raise failures[0]
                await self._share_budget(now or self.service.clock())
                # Claim again: a delivery that ended may have queued rows (reports that it failed), or the
                # rows of another change may have come meanwhile.
                exhausted = False
        finally:
            for task in running:
                task.cancel()
            if running:
                await asyncio.wait(running)
                for task in running:
                    if not task.cancelled():
                        task.exception()  # seen here; the pass's own failure is what is reported

    async def _share_budget(self, now: datetime, *, refresh: bool = False) -> None:
        """Keep to this instance's share of each tenant's budget: 1/n, n the instances delivering now; read
        again at every claim, and every `SHARE_REFRESH_SECONDS` while deliveries end (instances that start
        together each see the others only once they have claimed)."""
        if self.teams is None or not self.share_tenant_budget:
            return
        if not refresh and time.monotonic() < self._share_read_at + SHARE_REFRESH_SECONDS:
            return
        self._share_read_at = time.monotonic()
        try:
            workers = await self.outbox.delivering_workers(now)
        except (SQLAlchemyError, OSError):
            return  # the last share stands
        if self.worker_id not in workers:  # its claims all ended meanwhile
            workers = sorted({*workers, self.worker_id})
        self.teams.per_tenant.share(len(workers), workers.index(self.worker_id))

    async def _guarded(self, item: OutboxItem, now: datetime, report: DrainReport) -> None:
        slot = _Slot(self._concurrency)
        await slot.take()
        _DELIVERY_SLOT.set(slot)  # this task's own context (each task has a copy)
        try:
            await turns_answered()
            await self._deliver(item, now, report)
        except Exception as error:  # one bad row must not stop the others; it is retried
            log.exception(
                "outbox %s (challenge %s): delivery crashed", item.id, item.notification.challenge_id
            )
            await self._retry(item, now, report, f"internal error: {type(error).__name__}")
        finally:
            slot.give_up()

    async def _deliver(self, item: OutboxItem, now: datetime, report: DrainReport) -> None:
        n = item.notification
        challenge = await self.service.repository.get(n.challenge_id)
        if challenge is None or challenge.policy_id not in self.service.policies:
            await self._fail(item, now, report, "the challenge is no longer stored here")
            return
        failed = await self.outbox.get(item.report_of) if item.report_of is not None else None
        if item.report_of is not None and failed is None:
            await self._fail(item, now, report, "the notification this reports is no longer stored")
            return
        pattern = None
        if n.kind is NotificationKind.PATTERN_ALERT:
            pattern = await self.patterns.for_trigger(n.challenge_id)
            if pattern is None:
                await self._fail(item, now, report, "the pattern this tells of is no longer stored")
                return
        directory = await self.service.directory()
        person = directory.person(n.recipient.person_id)
        agency = directory.agency(challenge.challenged_agency_id)
        note = agency.escalation_note if agency is not None else None
        address = n.recipient.email or (person.email if person else None)
        can_email = self.mailer is not None and bool(address)
        # Made once: the Teams message's summary, and the email's subject and body should Teams not take it.
        subject, body = self._text(n, challenge, now, note, failed, directory, pattern)
        problems: list[str] = []
        if self.teams is None or person is None or not person.aad_object_id:
            problems.append(NOT_IN_TEAMS)
        elif item.attempts > MAX_TEAMS_ATTEMPTS and can_email:
            problems.append(f"Teams: gave up after {MAX_TEAMS_ATTEMPTS} attempts")
        else:
            try:
                activity = self._activity(
                    n, challenge, now, note, failed, directory, pattern, summary=subject
                )
                await self.teams.send(person, activity)
            except TeamsUnreachable as unreachable:
                problems.append(f"Teams: {unreachable}")
            except TeamsRetryLater as later:
                if not can_email or item.attempts < MAX_TEAMS_ATTEMPTS:
                    await self._retry(item, now, report, f"Teams: {later}", later.retry_after)
                    return
                problems.append(f"Teams: {later}; gave up after {item.attempts} attempts")
            else:
                await self._delivered(item, now, report, "teams")
                return
        if self.mailer is None or not address:
            problems.append(NO_MAILER if self.mailer is None else NO_ADDRESS)
            await self._fail(item, now, report, "; ".join(problems))
            return
        try:
            await self.mailer.send(address, subject, body)
        except MailError as error:
            if error.permanent:
                await self._fail(item, now, report, "; ".join([*problems, f"email: {error}"]))
            else:
                await self._retry(item, now, report, "; ".join([*problems, f"email: {error}"]))
            return
        if self.teams is not None and person is not None and person.aad_object_id:
            report.fell_back_to_email += 1
            log.info(
                "outbox %s (challenge %s): emailed instead: %s",
                item.id,
                n.challenge_id,
                "; ".join(problems),
            )
        await self._delivered(item, now, report, "email")

    def _activity(
        self,
        n: Notification,
        challenge: Challenge,
        now: datetime,
        note: str | None,
        failed: OutboxItem | None,
        directory: Directory,
        pattern: PatternAlertRecord | None,
        *,
        summary: str,
    ) -> Activity:
        policy = self.service.policy(challenge.policy_id)
        calendar = self.service.calendar(challenge.policy_id)
        if pattern is not None:
            card = pattern_alert_card(policy, *_pattern_facts(pattern, directory))
        elif failed is not None:
            card = delivery_failed_card(
                n, failed.notification, challenge=challenge, policy=policy, reason=failed.last_error
            )
        else:
            card = notification_card(
                n,
                challenge=challenge,
                policy=policy,
                calendar=calendar,
                now=now,
                directory=directory,
                agency_note=note,
            )
        activity = MessageFactory.attachment(CardFactory.adaptive_card(card))
        activity.summary = summary
        return activity

    def _text(
        self,
        n: Notification,
        challenge: Challenge,
        now: datetime,
        note: str | None,
        failed: OutboxItem | None,
        directory: Directory,
        pattern: PatternAlertRecord | None = None,
    ) -> tuple[str, str]:
        policy = self.service.policy(challenge.policy_id)
        calendar = self.service.calendar(challenge.policy_id)
        if pattern is not None:
            return pattern_alert_text(policy, *_pattern_facts(pattern, directory))
        if failed is not None:
            return delivery_failed_text(
                n, failed.notification, challenge=challenge, policy=policy, reason=failed.last_error
            )
        return notification_text(
            n,
            challenge=challenge,
            policy=policy,
            calendar=calendar,
            now=now,
            directory=directory,
            agency_note=note,
        )

    async def _delivered(self, item: OutboxItem, now: datetime, report: DrainReport, channel: str) -> None:
        if await self._record_delivery(item, now, channel):
            if channel == "teams":
                report.delivered_teams += 1
            else:
                report.delivered_email += 1
        else:
            report.lost_claims += 1
            log.warning("outbox %s: delivered after its lease ran out; another worker may repeat it", item.id)

    async def _record_delivery(self, item: OutboxItem, now: datetime, channel: str) -> bool:
        """Mark `item` delivered, trying again while the database cannot be reached (for at most half its
        lease, which keeps other workers off the row meanwhile): the message has gone, and a row left `sending`
        would be sent again. A mark that reached the database although its answer was lost finds the row
        delivered already and reports the claim lost, which sends nothing again."""
        give_up = time.monotonic() + self.lease_seconds / 2
        pause = RECORD_RETRY_FIRST_PAUSE
        await turns_answered()
        while True:
            try:
                return await self.outbox.mark_delivered(item.id, self.worker_id, now, channel)
            except (SQLAlchemyError, OSError) as error:
                if time.monotonic() + pause > give_up:
                    raise
                log.warning(
                    "outbox %s (challenge %s): delivered over %s but not recorded (%s); recording again in %.1f s",
                    item.id,
                    item.notification.challenge_id,
                    channel,
                    type(error).__name__,
                    pause,
                )
            await asyncio.sleep(pause)
            pause = min(pause * 2, RECORD_RETRY_MAX_PAUSE)

    async def _retry(
        self,
        item: OutboxItem,
        now: datetime,
        report: DrainReport,
        error: str,
        retry_after: timedelta | None = None,
    ) -> None:
        if item.attempts >= MAX_ATTEMPTS:
            await self._fail(item, now, report, f"gave up after {item.attempts} attempts; last: {error}")
            return
        delay = min(retry_after, MAX_BACKOFF) if retry_after is not None else self.backoff(item.attempts)
        # From now, not from the pass's start: a row that waited its turn must still wait the whole delay.
        retry_at = max(now, self.service.clock()) + delay
        if await self.outbox.mark_retry(item.id, self.worker_id, now, retry_at, error):
            report.retried += 1
            report.errors.append(error)
            log.info(
                "outbox %s (challenge %s): retry at %s: %s",
                item.id,
                item.notification.challenge_id,
                retry_at.isoformat(),
                error,
            )
        else:
            report.lost_claims += 1

    async def _fail(self, item: OutboxItem, now: datetime, report: DrainReport, error: str) -> None:
        reports = await self._reports_of(item)
        if await self.outbox.mark_failed(item.id, self.worker_id, now, error, reports):
            report.failed += 1
            report.reports_queued += len(reports)
            report.errors.append(error)
            if not reports and item.report_of is None:
                # Nobody at all will know: the one not reached was the raiser, and the partnership has no
                # admin mailbox or business manager in the directory (or the challenge is gone).
                log.error(
                    "outbox %s (challenge %s): failed and nobody could be sent a report of it: %s",
                    item.id,
                    item.notification.challenge_id,
                    error,
                )
            log.warning(
                "outbox %s (challenge %s): failed, reported to %d: %s",
                item.id,
                item.notification.challenge_id,
                len(reports),
                error,
            )
        else:
            report.lost_claims += 1

    async def _reports_of(self, item: OutboxItem) -> tuple[Notification, ...]:
        """Who to tell that `item` could not be delivered (`process.delivery.report_recipients`: the raiser
        and the partnership's admin mailbox or business manager, never the person it failed to reach). A
        report is itself never reported, so a failure cannot breed failures."""
        n = item.notification
        if item.report_of is not None or n.kind in (
            NotificationKind.DELIVERY_FAILED,
            NotificationKind.PATTERN_ALERT,
        ):
            # A pattern alert is for the partnership's posts only: its failure is logged and kept on its row.
            return ()
        challenge = await self.service.repository.get(n.challenge_id)
        if challenge is None or challenge.policy_id not in self.service.policies:
            return ()
        policy = self.service.policy(challenge.policy_id)
        recipients = report_recipients(challenge, policy, await self.service.directory(), n.recipient)
        return tuple(
            Notification(
                kind=NotificationKind.DELIVERY_FAILED,
                recipient=contact,
                roles=(role,),
                challenge_id=n.challenge_id,
                reference=n.reference,
                stage=n.stage,
                due_at=None,
                action_needed=True,
            )
            for role, contact in recipients
        )

    def backoff(self, attempts: int) -> timedelta:
        """Exponential backoff with ±20 % jitter, so instances retrying together spread out."""
        base = min(BASE_BACKOFF * (2 ** max(attempts - 1, 0)), MAX_BACKOFF)
        jittered: timedelta = base * self._rng.uniform(0.8, 1.2)
        return jittered


def _pattern_facts(
    pattern: PatternAlertRecord, directory: Directory
) -> tuple[str, tuple[str, ...], datetime, datetime]:
    """The agency's name (its id if the directory no longer has it), the references and the window."""
    agency = directory.agency(pattern.agency_id)
    name = agency.name if agency is not None else pattern.agency_id
    return name, pattern.references, pattern.window_start, pattern.window_end


def _status_of(error: BaseException) -> int | None:
    response = getattr(error, "response", None)
    status = getattr(response, "status_code", None) or getattr(response, "status", None)
    return int(status) if isinstance(status, int) else None


def _code_of(error: BaseException) -> str | None:
    """Teams' error code (`{"error": {"code": ...}}`), from botbuilder's parsed error or the raw body."""
    parsed = getattr(getattr(getattr(error, "error", None), "error", None), "code", None)
    if isinstance(parsed, str) and parsed:
        return parsed[:100]
    response = getattr(error, "response", None)
    try:
        body = response.json() if response is not None and hasattr(response, "json") else None
    except ValueError:
        return None
    inner = body.get("error") if isinstance(body, dict) else None
    code = inner.get("code") if isinstance(inner, dict) else None
    return code[:100] if isinstance(code, str) and code else None


def retry_after_of(error: BaseException, now: datetime | None = None) -> timedelta | None:
    """How long `Retry-After` asks to wait (seconds, or an HTTP date), at most `MAX_BACKOFF`; None when absent
    or unreadable."""
    response = getattr(error, "response", None)
    headers = getattr(response, "headers", None) or {}
    raw = headers.get("Retry-After") if hasattr(headers, "get") else None
    if raw is None:
        return None
    try:
        seconds = float(raw)
    except ValueError:
        pass
    else:
        if not math.isfinite(seconds):
            return None
        return timedelta(seconds=min(max(seconds, 0.0), MAX_BACKOFF.total_seconds()))
    try:
        when = parsedate_to_datetime(str(raw))
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return min(max(when - (now or datetime.now(UTC)), timedelta(0)), MAX_BACKOFF)


def _outcome_of(failure: TeamsFailure) -> TeamsRetryLater | TeamsUnreachable:
    """Retry what the guidance says to retry; anything else is not tried again in Teams."""
    if failure.status == 429:
        return TeamsRetryLater(str(failure), retry_after_of(failure.error) or DEFAULT_RETRY_AFTER)
    if failure.status is None or failure.status in RETRY_STATUSES:
        return TeamsRetryLater(str(failure))
    return TeamsUnreachable(f"{failure}; not retried")


def _tenant_of(reference: dict[str, Any]) -> str | None:
    conversation = reference.get("conversation")
    tenant = conversation.get("tenantId") if isinstance(conversation, dict) else None
    return str(tenant) if tenant else None
