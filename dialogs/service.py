"""The application service: one place where a person's action meets the engine and the database.

Every path that changes a challenge (a card action, the raising dialog, the deadline clock) goes through here,
so each change is checked by the engine and stored with its events and notifications in one transaction.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import logging
import re
import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Literal
from uuid import uuid4

from cards.delivery import Telling, told_notice
from process.calendar import WorkingCalendar
from process.challenge import (
    ACTION_KINDS,
    SYSTEM,
    Action,
    AuditEvent,
    Challenge,
    Decision,
    RaiseRequest,
    Refused,
    Status,
)
from process.directory import Contact, Directory, Person
from process.engine import Engine, calendar_for
from process.policy import Policy
from storage.challenges import ChallengeRepository, ChangeMark
from storage.errors import ConflictError
from storage.outbox import DeliveryStatus, Outbox, OutboxItem

log = logging.getLogger(__name__)

#: What a reference looks like when a person types it (`DUR-2026-0042`); anything else is a challenge id.
REFERENCE = re.compile(r"^[A-Za-z]{2,5}\s*-\s*\d{4}\s*-\s*\d{1,6}$")

Clock = Callable[[], datetime]


def utc_now() -> datetime:
    return datetime.now(UTC)


#: How often, at most, the service asks whether the stored directory changed (one read of one row).
DIRECTORY_CHECK_SECONDS = 5.0

#: What a person is told when their click repeats one already applied (a double click, a second device).
ALREADY_DONE = "You did this already: your first click changed the challenge. Nothing more was changed."

STALE = "This card was out of date, so nothing was changed. Here is the current card."


def change_mark(action: Action, actor_id: str) -> ChangeMark:
    """Who acts, with which kind of action, and a digest of what they gave (the same inputs, the same digest;
    the inputs themselves are not kept here)."""
    fields = json.dumps(dataclasses.asdict(action), sort_keys=True, default=str, ensure_ascii=False)
    digest = hashlib.sha256(fields.encode("utf-8", "surrogatepass")).hexdigest()
    return ChangeMark(actor_id, ACTION_KINDS[type(action)].value, digest)


@dataclass(frozen=True)
class ActionResult:
    """What became of one action: applied, refused by the procedure, stale (the card was out of date), or
    repeated (the same person's same action had already been applied from that card)."""

    outcome: Literal["applied", "refused", "stale", "repeated", "missing"]
    challenge: Challenge | None
    decision: Decision | None = None
    notice: str | None = None


class ChallengeService:
    """Raises challenges and applies actions for the partnerships this deployment serves."""

    def __init__(
        self,
        policies: Sequence[Policy],
        repository: ChallengeRepository,
        load_directory: Callable[[], Awaitable[Directory]],
        clock: Clock = utc_now,
        on_commit: Callable[[Decision], Awaitable[None]] | None = None,
        *,
        email: bool = True,
        directory_generation: Callable[[], Awaitable[int]] | None = None,
        directory_check_seconds: float = DIRECTORY_CHECK_SECONDS,
    ) -> None:
        self.policies: Mapping[str, Policy] = {p.id: p for p in policies}
        self.repository = repository
        self._load_directory = load_directory
        self._directory: Directory | None = None
        self.clock = clock
        self.on_commit = on_commit
        self._calendars = {p.id: calendar_for(p) for p in policies}
        self.outbox = Outbox(repository.db)
        #: Whether this service can send email (an SMTP server is configured for its notifier); without it a
        #: mailbox, or a person with no Teams identity, cannot be told at all.
        self.email = email
        #: The stored directory's generation (`DirectoryStore.generation`), read at most every
        #: `directory_check_seconds`: an import changes it, and the snapshot is then reloaded.
        self._directory_generation = directory_generation
        self.directory_check_seconds = directory_check_seconds
        self._generation: int | None = None
        self._checked_at = float("-inf")

    # ----- lookups ----------------------------------------------------------------------------------------

    async def directory(self) -> Directory:
        """The directory snapshot; kept until `reload_directory`, or until the stored directory's generation
        is found to have changed (checked at most every `directory_check_seconds`)."""
        if self._directory is not None and self._directory_generation is not None:
            now = time.monotonic()
            if now - self._checked_at >= self.directory_check_seconds:
                self._checked_at = now
                if await self._directory_generation() != self._generation:
                    log.info("the stored directory changed; reloading it")
                    self._directory = None
        if self._directory is None:
            if self._directory_generation is not None:
                # Read before the directory: a change in between is then seen at the next check.
                self._generation = await self._directory_generation()
                self._checked_at = time.monotonic()
            self._directory = await self._load_directory()
        return self._directory

    async def reload_directory(self) -> Directory:
        self._directory = None
        return await self.directory()

    def policy(self, policy_id: str) -> Policy:
        return self.policies[policy_id]

    def calendar(self, policy_id: str) -> WorkingCalendar:
        return self._calendars[policy_id]

    async def engine(self, policy_id: str) -> Engine:
        return Engine(self.policies[policy_id], await self.directory(), self._calendars[policy_id])

    async def person_for(self, aad_object_id: str | None) -> Person | None:
        """The directory person signed in to Teams as `aad_object_id`."""
        if not aad_object_id:
            return None
        return (await self.directory()).person_by_aad(aad_object_id)

    async def find(self, reference_or_id: str) -> Challenge | None:
        key = reference_or_id.strip()
        if REFERENCE.match(key):
            return await self.repository.get_by_reference(re.sub(r"\s+", "", key))
        return await self.repository.get(key)

    async def visible(self, reference_or_id: str, person: Person | None) -> Challenge | None:
        """The challenge a reference or id names, if `person` may know of it (`Engine.may_see`); None alike
        when there is none, when it follows a procedure not served here and when they may not, so that
        nobody can learn from the answer that a reference exists."""
        challenge = await self.find(reference_or_id) if person is not None else None
        if person is None or challenge is None or challenge.policy_id not in self.policies:
            if person is not None:
                # The same reads as for a challenge they may not see, so that how long the answer takes does
                # not say whether the reference exists either.
                await self.repository.has_changed("", person.id)
            return None
        engine = await self.engine(challenge.policy_id)
        if engine.may_see(challenge, person.id):
            return challenge
        acted = await self.repository.has_changed(challenge.id, person.id)
        return challenge if engine.may_see(challenge, person.id, has_acted=acted) else None

    async def mine(self, person_id: str) -> list[Challenge]:
        return [c for c in await self.repository.list_for_person(person_id) if c.policy_id in self.policies]

    async def events(self, challenge_id: str) -> list[AuditEvent]:
        return await self.repository.audit_events(challenge_id)

    async def told(self, challenge_id: str, version: int | None = None) -> tuple[Telling, ...]:
        """Who is being told of the change that took the challenge to `version` (default: the latest change
        anyone was told of), and how far each delivery has got, as the outbox records it."""
        return await self._tellings(await self.outbox.for_challenge(challenge_id), version)

    async def history(self, challenge_id: str) -> tuple[list[AuditEvent], tuple[Telling, ...]]:
        """The challenge's chronology and who is told of its latest change (as `told`), read together."""
        async with self.repository.db.reading() as conn:
            events = await self.repository.audit_events(challenge_id, conn=conn)
            items = await self.outbox.for_challenge(challenge_id, conn=conn)
        return events, await self._tellings(items, None)

    async def _tellings(self, items: list[OutboxItem], version: int | None) -> tuple[Telling, ...]:
        own = [i for i in items if i.report_of is None and i.challenge_version is not None]
        if version is None:
            version = max((i.challenge_version or 0 for i in own), default=None)
        reports: dict[int, list[OutboxItem]] = {}
        for i in items:
            if i.report_of is not None:
                reports.setdefault(i.report_of, []).append(i)
        directory = await self.directory()
        return tuple(
            _telling(i, directory, reports.get(i.id, []), self.email)
            for i in own
            if i.challenge_version == version
        )

    async def told_words(self, challenge: Challenge) -> str:
        """What to tell the person who made the change that took `challenge` to its version about who is told
        of it: only what the outbox records (queued, delivered, failed), never more."""
        return told_notice(await self.told(challenge.id, challenge.version))

    async def queued_words(self, decision: Decision) -> str:
        """`told_words` for a decision this process has just stored: its notifications are the outbox rows
        of its version, each queued as the commit left them, so they are not read back. (Delivery after a
        change waits until the turn has answered: `bot.after_answer`.)"""
        directory = await self.directory()
        return told_notice(
            tuple(_pending(n.recipient, directory, self.email) for n in decision.notifications)
        )

    # ----- changes ----------------------------------------------------------------------------------------

    async def raise_challenge(
        self,
        person_id: str,
        policy_id: str,
        request: RaiseRequest,
        *,
        draft_id: str | None = None,
        draft_revision: int | None = None,
    ) -> Decision:
        """Store a new challenge; `Refused` (nothing stored) when the form or the raiser is not allowed.

        Raised from a draft (`draft_id`), it is raised once: a second raise of the same draft gets
        `storage.errors.AlreadyRaised` naming the first challenge, and nobody is told twice.
        """
        policy = self.policies.get(policy_id)
        if policy is None:
            raise Refused("Choose one of the partnerships' procedures.", "invalid")
        engine = await self.engine(policy_id)
        now = self.clock()
        challenge_id = str(uuid4())
        year = engine.calendar.local_date(now).year

        earlier = await self.earlier(request, person_id)

        def build(reference: str) -> Decision:
            return engine.raise_challenge(
                request, person_id, now, challenge_id=challenge_id, reference=reference, earlier=earlier
            )

        decision = await self.repository.create(
            policy.reference_prefix, year, build, draft_id=draft_id, draft_revision=draft_revision
        )
        log.info("challenge %s raised (%s, stage %s)", challenge_id, policy_id, decision.challenge.stage)
        await self._committed(decision)
        return decision

    async def earlier(self, request: RaiseRequest, person_id: str) -> Challenge | None:
        """The challenge a reoccurring issue is linked to, if the raiser had a part in it: anything else is
        refused by the engine in the same words as a reference that does not exist."""
        earlier = await self.find(request.recurring_of) if request.recurring_of else None
        return earlier if earlier is not None and earlier.roles_of(person_id) else None

    async def linkable(self, person_id: str, policy_id: str, agency_id: str) -> list[Challenge]:
        """The person's own ended challenges (resolved or closed) to one agency: what a reoccurring issue may
        be linked to (the engine checks it is about the same issue)."""
        mine = await self.repository.list_for_person(person_id, open_only=False, limit=200)
        return [
            c
            for c in mine
            if c.policy_id == policy_id
            and c.status in (Status.RESOLVED, Status.CLOSED)
            and c.challenged_agency_id == agency_id
        ]

    async def same_child_open(
        self, person_id: str, policy_id: str, agency_reference: str | None
    ) -> list[str]:
        """The references of the person's own open challenges of the partnership about a child with the same
        agency reference (never anyone else's)."""
        return await self.repository.open_with_agency_reference(person_id, policy_id, agency_reference)

    async def act(
        self, challenge: Challenge, expected_version: int | None, action: Action, actor_id: str
    ) -> ActionResult:
        """Apply `action` to `challenge` (as just read) if the card that asked for it showed the current
        version; the store's compare-and-set on the version makes sure it never applies twice."""
        challenge_id = challenge.id
        if challenge.policy_id not in self.policies:
            return ActionResult("missing", None, notice="That challenge follows a procedure not served here.")
        mark = change_mark(action, actor_id)
        if expected_version is not None and expected_version != challenge.version:
            return await self._not_applied(challenge, expected_version, mark, STALE)
        engine = await self.engine(challenge.policy_id)
        try:
            decision = engine.apply(challenge, action, actor_id, self.clock())
        except Refused as refused:
            return ActionResult("refused", challenge, notice=refused.reason)
        try:
            await self.repository.save(decision, challenge.version, mark, previous=challenge)
        except ConflictError:
            current = await self.repository.get(challenge_id)
            return await self._not_applied(
                current or challenge,
                challenge.version,
                mark,
                "Someone else updated this challenge just now, so nothing was changed.",
            )
        log.info(
            "challenge %s: %s by %s",
            challenge_id,
            type(action).__name__,
            "clock" if actor_id == SYSTEM else "party",
        )
        await self._committed(decision)
        notice = f"Done. {await self.queued_words(decision)}"
        return ActionResult("applied", decision.challenge, decision, notice=notice)

    async def _not_applied(
        self, current: Challenge, from_version: int, mark: ChangeMark, stale: str
    ) -> ActionResult:
        """An action that arrived from an older version: "already done" when the change from that version was
        this same person's same action (a second click of the same button), else out of date."""
        if from_version < current.version and await self.repository.repeats(current.id, from_version, mark):
            return ActionResult("repeated", current, notice=ALREADY_DONE)
        return ActionResult("stale", current, notice=stale)

    async def _committed(self, decision: Decision) -> None:
        if self.on_commit is not None and decision.notifications:
            try:
                await self.on_commit(decision)
            except Exception:  # delivery is retried from the outbox; the change itself is already safe
                log.exception(
                    "challenge %s: delivery after commit failed; the outbox keeps it", decision.challenge.id
                )


def _telling(item: OutboxItem, directory: Directory, reports: Sequence[OutboxItem], email: bool) -> Telling:
    """How far telling one recipient has got; for one not reached, the reports the notifier queued of it (to
    whom `process.delivery.report_recipients` chose); for one only email could reach, whether this service
    has email at all."""
    recipient = item.notification.recipient
    if item.status is DeliveryStatus.DELIVERED:
        return Telling(recipient.name, "told", item.channel, item.delivered_at)
    if item.status is DeliveryStatus.FAILED:
        return Telling(
            recipient.name,
            "failed",
            None,
            report_to=tuple(r.notification.recipient.name for r in reports),
            report_reached=tuple(
                r.notification.recipient.name for r in reports if r.status is DeliveryStatus.DELIVERED
            ),
        )
    return _pending(recipient, directory, email)


def _pending(recipient: Contact, directory: Directory, email: bool) -> Telling:
    """One still to be told: the way that will be tried first, and whether email, if that is all, exists."""
    person = directory.person(recipient.person_id)
    if person is not None and person.aad_object_id:
        first: str | None = "teams"
    elif recipient.email or (person is not None and person.email):
        first = "email"
    else:
        first = None
    return Telling(recipient.name, "pending", first, no_email=first == "email" and not email)
