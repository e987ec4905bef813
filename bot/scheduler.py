"""The deadline clock: wakes when a reminder or deadline falls due, applies it, and delivers the outbox.

It runs inside the bot process (started and stopped with the aiohttp app through `Scheduler.cleanup_ctx`) and
sleeps until the next due instant rather than polling; a committed change wakes it early (`wake`). It asks
storage only for due work: challenges are claimed with a lease (`FOR UPDATE SKIP LOCKED` on PostgreSQL), and
the clock's action is stored compare-and-set on the version it read, so of several instances racing on the
same challenge exactly one applies it; outbox rows are claimed the same way by the notifier.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import datetime

from aiohttp import web

from bot.after_answer import turns_answered
from bot.notifier import DrainReport, Notifier
from dialogs.patterns import PatternWatch
from dialogs.service import ChallengeService
from process.challenge import SYSTEM, DeadlinePassed, Remind
from storage.drafts import DraftStore

log = logging.getLogger(__name__)

#: Longest sleep between passes: work another instance queued (it cannot wake this one) is found this late.
MAX_SLEEP_SECONDS = 300.0
#: How long a claimed challenge stays with one scheduler if it dies mid-pass.
DUE_LEASE_SECONDS = 300.0
#: A challenge's clock actions applied in one pass at most (a reminder then, if overdue, the deadline).
MAX_ACTIONS_PER_CHALLENGE = 4
#: How long shutdown lets a pass in progress finish before cancelling it, and then waits for the cancel.
STOP_GRACE_SECONDS = 10.0


@dataclass
class TickReport:
    """What one pass did: the clock's actions applied, and the delivery that followed."""

    reminders: int = 0
    deadlines: int = 0
    conflicts: int = 0
    refused: list[str] = field(default_factory=list)
    delivery: DrainReport = field(default_factory=DrainReport)
    drafts_expired: int = 0
    #: Patterns of challenges to one agency told this pass (`pattern_alert`), and those nobody could be told of.
    patterns: int = 0
    patterns_untold: list[str] = field(default_factory=list)

    def summary(self) -> str:
        d = self.delivery
        return (
            f"reminders={self.reminders} deadlines={self.deadlines} conflicts={self.conflicts} "
            f"delivered={d.delivered} (teams={d.delivered_teams} email={d.delivered_email}) "
            f"retried={d.retried} failed={d.failed} reported={d.reports_queued} "
            f"emailed_instead_of_teams={d.fell_back_to_email} drafts_expired={self.drafts_expired}"
        ) + (
            f" patterns={self.patterns} patterns_untold={len(self.patterns_untold)}"
            if self.patterns or self.patterns_untold
            else ""
        )


class Scheduler:
    """Applies the clock's due actions through the service, then hands the outbox to the notifier."""

    def __init__(
        self,
        service: ChallengeService,
        notifier: Notifier,
        *,
        worker_id: str,
        batch_size: int = 100,
        max_sleep_seconds: float = MAX_SLEEP_SECONDS,
        drafts: DraftStore | None = None,
        stop_grace_seconds: float = STOP_GRACE_SECONDS,
        patterns: PatternWatch | None = None,
    ) -> None:
        self.service = service
        self.patterns = patterns or PatternWatch(service)
        self.drafts = drafts
        self.notifier = notifier
        self.worker_id = worker_id
        self.batch_size = batch_size
        self.max_sleep_seconds = max_sleep_seconds
        self.stop_grace_seconds = stop_grace_seconds
        self._woken = asyncio.Event()
        self._stopping = False
        #: The next reminder or deadline the last sleep found (None: none, or not looked yet).
        self._next_due: datetime | None = None

    def wake(self) -> None:
        """Deliver now: a change was committed, so there may be notifications to deliver (`deliver_once`).
        Whatever else is due is found as ever, by the sleep that follows."""
        self._woken.set()

    async def run_once(self, now: datetime | None = None) -> TickReport:
        """One pass at `now` (default: the service's clock): unfinished raising forms past their time
        expired (their answers deleted), due reminders and deadlines, new patterns of challenges to one agency
        (the policy's `pattern_alert`), then delivery."""
        at = now or self.service.clock()
        report = TickReport()
        if self.drafts is not None:
            report.drafts_expired = (await self.drafts.purge(at)).expired
        repository = self.service.repository
        idle: list[str] = []
        while True:
            # Claimed challenges stay leased until the pass ends, so a claim never returns one twice.
            claimed = await repository.claim_due(self.worker_id, at, self.batch_size, DUE_LEASE_SECONDS)
            if not claimed:
                break
            for challenge in claimed:
                if not await self._advance(challenge.id, at, report):
                    idle.append(challenge.id)
        for challenge_id in idle:
            await repository.release_due(challenge_id, self.worker_id)
        await self._patterns_then_delivery(at, report)
        return report

    async def deliver_once(self, now: datetime | None = None) -> TickReport:
        """The part of a pass a committed change needs: new patterns of challenges to one agency (a raise may
        have made one), then delivery. Expired forms and due reminders and deadlines are left to the passes
        the clock wakes for (`next_wake`), which a change cannot bring forward to now."""
        report = TickReport()
        await self._patterns_then_delivery(now or self.service.clock(), report)
        return report

    async def _patterns_then_delivery(self, at: datetime, report: TickReport) -> None:
        """Every pass ends so: new patterns of challenges to one agency told, then the outbox drained."""
        found = await self.patterns.run(at)
        report.patterns, report.patterns_untold = found.told, found.untold
        report.delivery = await self.notifier.drain(at)

    async def _advance(self, challenge_id: str, now: datetime, report: TickReport) -> bool:
        """Apply what is due on one challenge; False when nothing was (its claim is then given back)."""
        repository = self.service.repository
        applied = False
        for _ in range(MAX_ACTIONS_PER_CHALLENGE):
            challenge = await repository.get(challenge_id)
            if challenge is None:
                return True
            engine = await self.service.engine(challenge.policy_id)
            action = engine.due_action(challenge, now)
            if action is None:
                break
            result = await self.service.act(challenge, challenge.version, action, SYSTEM)
            if result.outcome == "applied":
                applied = True
                if isinstance(action, Remind):
                    report.reminders += 1
                elif isinstance(action, DeadlinePassed):
                    report.deadlines += 1
                continue
            if result.outcome in ("stale", "repeated"):  # another worker applied it first
                report.conflicts += 1
            elif result.outcome == "refused":
                report.refused.append(f"{challenge_id}: {result.notice}")
                log.warning("challenge %s: the clock's %s was refused", challenge_id, type(action).__name__)
            break
        return applied

    async def next_wake(self) -> datetime | None:
        """The soonest instant with work: the next reminder or deadline, or the next outbox attempt (a retry
        any instance scheduled, or the end of a lease a crashed worker left)."""
        return _soonest(*await self._next_instants())

    async def _next_instants(self) -> tuple[datetime | None, datetime | None]:
        """The next reminder or deadline, and the next outbox attempt (None: none)."""
        return await self.service.repository.next_due_at(), await self.notifier.outbox.next_attempt_at()

    async def run(self) -> None:
        """Pass, sleep until the next due instant or a wake, pass again; until stopped or cancelled.

        A pass is whole (`run_once`) when a reminder or deadline has come due, and at least every
        `max_sleep_seconds` (unfinished forms expire by the clock alone); otherwise, woken by a change or by a
        notification's next attempt, it delivers (`deliver_once`). Wakes come with every change, so under
        steady use a sleep may always end in one: the whole pass still runs once its instant has come."""
        last_full = -math.inf
        while not self._stopping:
            self._woken.clear()
            due = self._next_due is not None and self._next_due <= self.service.clock()
            full = due or time.monotonic() - last_full >= self.max_sleep_seconds
            try:
                await turns_answered()
                if full:
                    last_full = time.monotonic()
                report = await (self.run_once() if full else self.deliver_once())
                if (
                    report.reminders
                    or report.deadlines
                    or report.delivery.delivered
                    or report.delivery.failed
                    or report.patterns
                ):
                    log.info("scheduler pass: %s", report.summary())
            except asyncio.CancelledError:
                raise
            except Exception:  # a failed pass (database away) is tried again after a pause
                log.exception("scheduler pass failed; trying again shortly")
            await self._sleep_until_due()

    async def _sleep_until_due(self) -> None:
        """Sleep until the next due instant, or until a wake (`wake`)."""
        if self._stopping:
            return
        seconds = self.max_sleep_seconds
        try:
            await turns_answered()
            clock_due, outbox_next = await self._next_instants()
        except Exception:  # the database away: a whole pass again after a pause
            self._next_due = self.service.clock()
            seconds = min(seconds, 30.0)
        else:
            # Only the clock's own work calls for a whole pass; an outbox row waiting (the very notifications
            # of the change that woke it, often) is for delivery, which every pass does.
            self._next_due = clock_due
            nxt = _soonest(clock_due, outbox_next)
            if nxt is not None:
                seconds = min(seconds, max((nxt - self.service.clock()).total_seconds(), 0.05))
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._woken.wait(), timeout=seconds)

    async def stop(self, task: asyncio.Task[None]) -> None:
        """End `run()` in `task` at shutdown, within about twice `stop_grace_seconds` whatever it is doing.

        A pass in progress is left to finish: cancelled mid-query, it would leave its database connection
        to be discarded half-way. A pass still running after the grace period is cancelled.
        """
        self._stopping = True
        self._woken.set()
        try:
            done, _ = await asyncio.wait({task}, timeout=self.stop_grace_seconds)
        except asyncio.CancelledError:  # shutdown itself interrupted: the pass must not outlive the database
            task.cancel()
            raise
        if not done:
            log.warning(
                "scheduler pass still running %s s after shutdown began; cancelling it",
                self.stop_grace_seconds,
            )
            task.cancel()
            done, _ = await asyncio.wait({task}, timeout=self.stop_grace_seconds)
            if not done:
                log.warning("scheduler pass did not end when cancelled; shutting down without it")
                return
        if not task.cancelled() and (error := task.exception()) is not None:
            log.error("scheduler stopped with an error", exc_info=error)

    async def cleanup_ctx(self, app: web.Application) -> AsyncIterator[None]:
        """Start with the app, stop with it (for `app.cleanup_ctx`)."""
        task = asyncio.create_task(self.run(), name=f"scheduler {self.worker_id}")
        yield
        await self.stop(task)


def _soonest(*instants: datetime | None) -> datetime | None:
    known = [instant for instant in instants if instant is not None]
    return min(known) if known else None
