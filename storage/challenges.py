"""The challenge repository: stores the engine's decisions and reads challenges back.

Every change is one transaction holding the new state, its stage history, its audit events and the outbox
rows it causes, so a notification is queued if and only if the change it announces is stored. Changes are
compare-and-set on the challenge's version: of two actions taken on the same version, one is stored and the
other gets `ConflictError`, never both.
"""

from __future__ import annotations

import re
from collections import defaultdict
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

from sqlalchemy import ColumnElement, Row, TextClause, bindparam, delete, func, or_, select, text, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection

from process.challenge import AuditEvent, Challenge, ChildDetails, Decision, Side, StageRecord, Status
from process.directory import Contact
from process.policy import RoleId
from storage.chain import append_events, new_salt
from storage.clock import Clock, utc_now
from storage.codec import (
    contact_columns,
    contact_from_row,
    entries_from_json,
    entries_to_json,
    meetings_from_json,
    meetings_to_json,
    proposal_from_json,
    proposal_to_json,
    text_map,
    timescale_proposal_from_json,
    timescale_proposal_to_json,
)
from storage.crypto import (
    CHALLENGE,
    DRAFT,
    LOOKUP,
    DataKey,
    deployment_key,
    existing_deployment_key,
    key_of,
    key_or_new,
    keys_of,
    known_key,
    new_key,
    reference_hmac,
    shred,
)
from storage.db import Database, could_be_key, upsert
from storage.errors import AlreadyRaised, ConflictError, DraftNotCurrent, NotFound
from storage.outbox import enqueue
from storage.protected import (
    NO_KEY,
    Key,
    challenge_row,
    child_row,
    plain_challenge_row,
    plain_child_row,
    plain_event_words,
    plain_stage_reason,
    stage_reason,
)
from storage.schema import (
    OPEN_STATUS,
    audit_events,
    challenge_changes,
    challenge_parties,
    challenge_stages,
    challenges,
    child_details,
    raise_drafts,
    reference_counters,
)
from storage.seal import record_of

_PREFIX = re.compile(r"^[A-Z]{2,5}$")

#: How many challenge ids go into one `IN (...)` when loading their rows.
_BATCH = 500


@dataclass(frozen=True)
class ChangeMark:
    """Who made a change and with which action: its kind and a digest of its inputs (not the inputs)."""

    actor_id: str
    action: str
    digest: str


def format_reference(prefix: str, year: int, number: int) -> str:
    """A challenge reference as people quote it: `DUR-2026-0042`."""
    return f"{prefix}-{year:04d}-{number:04d}"


class ChallengeRepository:
    """Challenges in the database, as `process.challenge.Challenge` values."""

    def __init__(self, db: Database, *, clock: Clock = utc_now) -> None:
        self.db = db
        self.clock = clock

    async def create(
        self,
        reference_prefix: str,
        year: int,
        build: Callable[[str], Decision],
        *,
        draft_id: str | None = None,
        draft_revision: int | None = None,
    ) -> Decision:
        """Store a new challenge under the next free reference `PREFIX-YYYY-NNNN`.

        One transaction takes the next number of the prefix's year, calls `build(reference)` (typically
        `engine.raise_challenge(...)`) and stores what it returns. If `build` raises (e.g. `Refused`),
        nothing is written and the number is not used up, so references stay gap-free.

        With `draft_id`, the challenge is raised from that raising form, which the same transaction deletes
        (with its child's details): it must be open at `draft_revision`, else `DraftNotCurrent`. A draft
        raised already gives `AlreadyRaised` with its challenge, never a second challenge: the unique
        `draft_id` of challenges enforces it even for two raises at the same instant.
        """
        if not _PREFIX.match(reference_prefix):
            raise ValueError(f"a reference prefix is 2-5 capital letters, not {reference_prefix!r}")
        if not 2000 <= year <= 9999:
            raise ValueError(f"{year} is not a plausible year for a reference")
        try:
            return await self._create(reference_prefix, year, build, draft_id, draft_revision)
        except IntegrityError:
            raised = await self.raised_from(draft_id) if draft_id is not None else None
            if raised is None:
                raise
            raise AlreadyRaised(raised) from None

    async def raised_from(self, draft_id: str) -> str | None:
        """The id of the challenge raised from the draft `draft_id`, if there is one."""
        async with self.db.reading() as conn:
            return await _raised_from(conn, draft_id)

    async def _create(
        self,
        reference_prefix: str,
        year: int,
        build: Callable[[str], Decision],
        draft_id: str | None,
        draft_revision: int | None,
    ) -> Decision:
        async with self.db.transaction() as conn:
            if draft_id is not None:
                await _take_draft(conn, draft_id, draft_revision)
            number = await _next_number(conn, reference_prefix, year)
            reference = format_reference(reference_prefix, year, number)
            decision = build(reference)
            challenge = decision.challenge
            if challenge.reference != reference:
                raise ValueError(f"build() must use the reference it was given ({reference})")
            _check_decision(decision)
            now = self.clock()
            salt = new_salt()
            key = await new_key(conn, CHALLENGE, challenge.id, now=now)
            row = _columns(challenge)
            await conn.execute(
                challenges.insert().values(
                    **challenge_row(key, row), updated_at=now, draft_id=draft_id, seal_salt=salt
                )
            )
            child = _child_columns(challenge)
            await conn.execute(child_details.insert().values(**await _stored_child(conn, key, child)))
            parties, stages = await _write_parties_and_stages(conn, challenge, key)
            await enqueue(conn, decision.notifications, now, version=challenge.version)
            record = record_of(salt, {**row, "purged_at": None}, stages, parties, child)
            await append_events(
                conn, challenge.policy_id, challenge.id, decision.events, now, record, key=key
            )
        return decision

    async def save(
        self,
        decision: Decision,
        expected_version: int,
        mark: ChangeMark | None = None,
        *,
        previous: Challenge | None = None,
    ) -> None:
        """Store `decision` if the challenge is still at `expected_version` (the version it was decided on),
        with `mark` (who made the change, with which action) kept against that version.

        `previous` is the challenge as read at `expected_version`, if the caller has it: the child's details,
        parties and stages are then written only where the change altered them. (The compare-and-set on the
        version makes sure the stored rows are still those it was read with.)

        Raises `ConflictError` (carrying the current version) when another action was stored first, and
        `NotFound` when there is no such challenge. A stored change also releases any scheduler claim.
        """
        challenge = decision.challenge
        if challenge.version <= expected_version:
            raise ValueError(
                f"a decision taken on version {expected_version} cannot carry version {challenge.version}"
            )
        _check_decision(decision)
        now = self.clock()
        row = _columns(challenge)
        async with self.db.transaction() as conn:
            key = known_key(CHALLENGE, challenge.id) or await key_or_new(conn, CHALLENGE, challenge.id)
            # What the update leaves as it was, and the seal needs, comes back with it.
            kept = (
                await conn.execute(
                    _SAVE,
                    {
                        **challenge_row(key, row),
                        "updated_at": now,
                        "due_claimed_by": None,
                        "due_claimed_until": None,
                        "saved_id": challenge.id,
                        "saved_version": expected_version,
                    },
                )
            ).first()
            if kept is None:
                current = (
                    await conn.execute(
                        select(challenges.c.reference, challenges.c.version).where(
                            challenges.c.id == challenge.id
                        )
                    )
                ).first()
                if current is None:
                    raise NotFound(f"Challenge {challenge.id} is not stored.")
                raise ConflictError(challenge.id, current.reference, current.version)
            child = _child_columns(challenge)
            if previous is not None and _child_columns(previous) == child:
                # Unchanged: the row is there unless the retention purge erased it (with `purged_at`).
                held_child = kept.purged_at is None
            else:
                held = await conn.execute(
                    update(child_details)
                    .where(child_details.c.challenge_id == challenge.id)
                    .values(**await _stored_child(conn, key, child))
                )
                held_child = held.rowcount == 1
            parties, stages = _party_rows(challenge), _stage_rows(challenge)
            if previous is None or _party_rows(previous) != parties:
                await conn.execute(
                    delete(challenge_parties).where(challenge_parties.c.challenge_id == challenge.id)
                )
                await _write_parties(conn, parties)
            if previous is None or _stage_rows(previous) != stages:
                await conn.execute(
                    delete(challenge_stages).where(challenge_stages.c.challenge_id == challenge.id)
                )
                await _write_stages(conn, stages, key)
            await enqueue(conn, decision.notifications, now, version=challenge.version)
            if mark is not None:
                await conn.execute(
                    _CHANGE,
                    {
                        "challenge_id": challenge.id,
                        "from_version": expected_version,
                        "actor_id": mark.actor_id,
                        "action": mark.action,
                        "digest": keyed_digest(key, mark.digest),
                    },
                )
            record = record_of(
                kept.seal_salt,
                {**row, "purged_at": kept.purged_at},
                stages,
                parties,
                child if held_child else None,
            )
            # Last: the partnership's chain head stays locked only from here to the commit.
            await append_events(
                conn, challenge.policy_id, challenge.id, decision.events, now, record, key=key
            )

    async def has_changed(self, challenge_id: str, actor_id: str) -> bool:
        """Whether `actor_id` made any change to the challenge (after raising it)."""
        async with self.db.reading() as conn:
            found = await conn.scalar(
                select(challenge_changes.c.from_version)
                .where(
                    challenge_changes.c.challenge_id == challenge_id, challenge_changes.c.actor_id == actor_id
                )
                .limit(1)
            )
        return found is not None

    async def change_from(self, challenge_id: str, version: int) -> ChangeMark | None:
        """Who changed the challenge from `version` to the next, and with which action (None: not recorded);
        its digest as stored (keyed: compare a mark with `repeats`)."""
        async with self.db.reading() as conn:
            row = (
                await conn.execute(
                    select(
                        challenge_changes.c.actor_id, challenge_changes.c.action, challenge_changes.c.digest
                    ).where(
                        challenge_changes.c.challenge_id == challenge_id,
                        challenge_changes.c.from_version == version,
                    )
                )
            ).first()
        return ChangeMark(row.actor_id, row.action, row.digest) if row is not None else None

    async def repeats(self, challenge_id: str, version: int, mark: ChangeMark) -> bool:
        """Whether the change from `version` was made by `mark`'s person with `mark`'s action and inputs.

        The stored digest is keyed (HMAC under a subkey of the challenge's data key), so it cannot be tested
        against guesses of what was typed by anyone reading the database alone.
        """
        stored = await self.change_from(challenge_id, version)
        if stored is None or (stored.actor_id, stored.action) != (mark.actor_id, mark.action):
            return False
        async with self.db.reading() as conn:
            key = await key_of(conn, CHALLENGE, challenge_id)
        return stored.digest == keyed_digest(key or NO_KEY, mark.digest)

    async def get(self, challenge_id: str) -> Challenge | None:
        """The challenge with this id, or None."""
        if not could_be_key(challenge_id):
            return None
        async with self.db.reading() as conn:
            row = (await conn.execute(_BY_ID, {"challenge_id": challenge_id})).first()
            if row is None:
                return None
            found = await _with_their_rows(conn, [row], given={row.id: _child_of(row)})
        return found[0] if found else None

    async def get_by_reference(self, reference: str) -> Challenge | None:
        """The challenge people quote as `reference` (any letter case, surrounding spaces ignored)."""
        reference = reference.strip()
        if not could_be_key(reference):
            return None
        async with self.db.reading() as conn:
            found = await _load(conn, [func.upper(challenges.c.reference) == reference.upper()])
        return found[0] if found else None

    async def list_for_person(
        self, person_id: str, *, open_only: bool = True, limit: int | None = None
    ) -> list[Challenge]:
        """Challenges where `person_id` holds any role, newest first (only open ones unless asked)."""
        involved = select(challenge_parties.c.challenge_id).where(challenge_parties.c.person_id == person_id)
        where: list[ColumnElement[bool] | TextClause] = [challenges.c.id.in_(involved)]
        if open_only:
            where.append(challenges.c.status == Status.OPEN.value)
        async with self.db.reading() as conn:
            return await _load(
                conn, where, order_by=(challenges.c.raised_at.desc(), challenges.c.id), limit=limit
            )

    async def open_with_agency_reference(
        self, person_id: str, policy_id: str, agency_reference: str | None
    ) -> list[str]:
        """The references of `person_id`'s own open challenges (any part they hold) of the partnership
        `policy_id` whose child has this agency reference (compared stripped and case-folded), oldest first.

        Found through the keyed hash `child_details.agency_reference_hmac` and its index: nothing is
        decrypted, and only challenges the person is a party to are ever looked at, so nobody learns of
        another's challenge about the same child.
        """
        async with self.db.reading() as conn:
            lookup = await existing_deployment_key(conn, LOOKUP)
            wanted = None if lookup is None else reference_hmac(lookup, agency_reference)
            if wanted is None:
                return []
            mine = select(challenge_parties.c.challenge_id).where(challenge_parties.c.person_id == person_id)
            rows = await conn.execute(
                select(challenges.c.reference)
                .join(child_details, child_details.c.challenge_id == challenges.c.id)
                .where(
                    child_details.c.agency_reference_hmac == wanted,
                    challenges.c.policy_id == policy_id,
                    challenges.c.status == Status.OPEN.value,
                    challenges.c.id.in_(mine),
                )
                .order_by(challenges.c.raised_at, challenges.c.reference)
            )
            return list(rows.scalars())

    async def due_before(self, instant: datetime, limit: int = 100) -> list[Challenge]:
        """Open challenges whose next deadline or reminder is at or before `instant`, soonest first.

        Reads only those rows, through the partial index on `next_due_at` of open challenges.
        """
        async with self.db.reading() as conn:
            return await _load(
                conn,
                [text(OPEN_STATUS), challenges.c.next_due_at <= instant],
                order_by=(challenges.c.next_due_at, challenges.c.id),
                limit=limit,
            )

    async def next_due_at(self) -> datetime | None:
        """The soonest next deadline or reminder of any open challenge (None: none is pending).

        One read of the first entry of the partial index on `next_due_at` of open challenges: nothing else
        is loaded, whatever the number of challenges stored.
        """
        async with self.db.reading() as conn:
            soonest: datetime | None = await conn.scalar(
                select(challenges.c.next_due_at)
                .where(text(OPEN_STATUS), challenges.c.next_due_at.is_not(None))
                .order_by(challenges.c.next_due_at)
                .limit(1)
            )
        return soonest

    async def claim_due(
        self, worker_id: str, now: datetime, limit: int = 100, lease_seconds: float = 300.0
    ) -> list[Challenge]:
        """Claim up to `limit` due challenges for the scheduler `worker_id`, and return them.

        A claim is a lease: other workers skip the challenge until it ends, is released, or a change is
        saved. The scheduler then applies the clock's action and saves it with the version it read, so even
        a duplicate claim cannot apply the action twice.
        """
        async with self.db.transaction() as conn:
            ids = await claim_due_challenges(conn, worker_id, now, limit, lease_seconds)
            if not ids:
                return []
            return await _load(
                conn, [challenges.c.id.in_(ids)], order_by=(challenges.c.next_due_at, challenges.c.id)
            )

    async def release_due(self, challenge_id: str, worker_id: str) -> None:
        """Give back a claim the scheduler had nothing to do with."""
        async with self.db.transaction() as conn:
            await conn.execute(
                update(challenges)
                .where(challenges.c.id == challenge_id, challenges.c.due_claimed_by == worker_id)
                .values(due_claimed_by=None, due_claimed_until=None)
            )

    async def audit_events(
        self, challenge_id: str, *, conn: AsyncConnection | None = None
    ) -> list[AuditEvent]:
        """The challenge's chronology, in the order it happened (read in `conn`'s snapshot when given)."""
        if conn is None:
            async with self.db.reading() as own:
                return await self.audit_events(challenge_id, conn=own)
        rows = await conn.execute(_EVENTS, {"challenge_id": challenge_id})
        key: Key = known_key(CHALLENGE, challenge_id) or await key_of(conn, CHALLENGE, challenge_id) or NO_KEY
        events = []
        for row in rows:
            summary, detail = plain_event_words(key, row.seq, row.summary, row.detail)
            events.append(
                AuditEvent(
                    challenge_id=row.challenge_id,
                    at=row.at,
                    actor_id=row.actor_id,
                    stage=row.stage,
                    kind=row.kind,
                    summary=summary,
                    detail=text_map(detail),
                )
            )
        return events


async def claim_due_challenges(
    conn: AsyncConnection, worker_id: str, now: datetime, limit: int, lease_seconds: float
) -> list[str]:
    """Claim the ids of up to `limit` due, unclaimed challenges inside the caller's transaction.

    On PostgreSQL the rows are picked `FOR UPDATE SKIP LOCKED`, so two schedulers never wait for each other
    nor claim the same challenge.
    """
    if limit < 1:
        return []
    due = (
        select(challenges.c.id)
        .where(
            text(OPEN_STATUS),
            challenges.c.next_due_at <= now,
            or_(challenges.c.due_claimed_until.is_(None), challenges.c.due_claimed_until <= now),
        )
        .order_by(challenges.c.next_due_at, challenges.c.id)
        .limit(limit)
    )
    if conn.dialect.name == "postgresql":
        due = due.with_for_update(skip_locked=True)
    claimed = await conn.execute(
        update(challenges)
        .where(challenges.c.id.in_(due))
        .values(due_claimed_by=worker_id, due_claimed_until=now + timedelta(seconds=lease_seconds))
        .returning(challenges.c.id)
    )
    return list(claimed.scalars())


async def _take_draft(conn: AsyncConnection, draft_id: str, revision: int | None) -> None:
    """Delete the draft a challenge is being raised from, with its child's details (by the foreign key's
    cascade); it must be open (at `revision`, if given). A draft gone because it was raised gives
    `AlreadyRaised`."""
    where = [raise_drafts.c.id == draft_id, raise_drafts.c.status == "open"]
    if revision is not None:
        where.append(raise_drafts.c.revision == revision)
    taken = await conn.execute(delete(raise_drafts).where(*where))
    if taken.rowcount == 1:
        await shred(conn, DRAFT, [draft_id])
        return
    raised = await _raised_from(conn, draft_id)
    if raised is not None:
        raise AlreadyRaised(raised)
    raise DraftNotCurrent(draft_id)


async def _raised_from(conn: AsyncConnection, draft_id: str) -> str | None:
    found: str | None = (
        await conn.execute(select(challenges.c.id).where(challenges.c.draft_id == draft_id))
    ).scalar_one_or_none()
    return found


async def _next_number(conn: AsyncConnection, prefix: str, year: int) -> int:
    """Take the next reference number; the row stays locked until the transaction ends."""
    statement = (
        upsert(conn, reference_counters)
        .values(prefix=prefix, year=year, last_number=1)
        .on_conflict_do_update(
            index_elements=[reference_counters.c.prefix, reference_counters.c.year],
            set_={"last_number": reference_counters.c.last_number + 1},
        )
        .returning(reference_counters.c.last_number)
    )
    return int((await conn.execute(statement)).scalar_one())


def _check_decision(decision: Decision) -> None:
    challenge_id = decision.challenge.id
    if any(e.challenge_id != challenge_id for e in decision.events) or any(
        n.challenge_id != challenge_id for n in decision.notifications
    ):
        raise ValueError("a decision's events and notifications must all be about its challenge")


def _columns(c: Challenge) -> dict[str, Any]:
    return {
        "id": c.id,
        "reference": c.reference,
        "policy_id": c.policy_id,
        "status": c.status.value,
        "stage": c.stage,
        "version": c.version,
        "raised_at": c.raised_at,
        "raised_by": c.raised_by,
        "raiser_agency_id": c.raiser_agency_id,
        "challenged_agency_id": c.challenged_agency_id,
        "issue_category": c.issue_category,
        "concern": c.concern,
        "desired_outcome": c.desired_outcome,
        "informal_evidence": c.informal_evidence,
        "urgent": c.urgent,
        "awaiting": c.awaiting.value if c.awaiting is not None else None,
        "entries": entries_to_json(c.entries),
        "proposal": proposal_to_json(c.proposal),
        "timescale_proposal": timescale_proposal_to_json(c.timescale_proposal),
        "linked_to": c.linked_to,
        "priority": c.priority,
        "agreed_outcome": c.agreed_outcome,
        "meetings": meetings_to_json(c.meetings),
        "fields": dict(c.fields),
        "closed_at": c.closed_at,
        "next_due_at": c.next_due_at,
    }


def _child_columns(c: Challenge) -> dict[str, Any]:
    return {
        "challenge_id": c.id,
        "name": c.child.name,
        "date_of_birth": c.child.date_of_birth,
        "agency_reference": c.child.agency_reference,
    }


def keyed_digest(key: DataKey | Key, digest: str) -> str:
    """What `challenge_changes.digest` holds for an action's input digest: keyed by the challenge's data key
    (a challenge with none, purged, keeps no digest worth keying: it is erased)."""
    if isinstance(key, DataKey):
        return key.digest("challenge_changes.digest", digest)
    return digest


async def _stored_child(conn: AsyncConnection, key: Key, child: dict[str, Any]) -> dict[str, Any]:
    """The child's details as stored: encrypted, with the keyed hash of the agency reference."""
    lookup = await deployment_key(conn, LOOKUP)
    return {
        **child_row(key, "child_details", child),
        "agency_reference_hmac": reference_hmac(lookup, child.get("agency_reference")),
    }


class _Row(dict[str, Any]):
    """A decrypted row whose columns read as attributes, as SQLAlchemy's rows do."""

    def __getattr__(self, name: str) -> Any:
        try:
            return self[name]
        except KeyError:
            raise AttributeError(name) from None


async def _write_parties_and_stages(
    conn: AsyncConnection, c: Challenge, key: Key
) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """Insert the challenge's parties and stages (reasons encrypted); the rows as written (in plain)."""
    parties, stages = _party_rows(c), _stage_rows(c)
    await _write_parties(conn, parties)
    await _write_stages(conn, stages, key)
    return parties, stages


def _party_rows(c: Challenge) -> list[dict[str, Any]]:
    return [
        {"challenge_id": c.id, "role": role, **contact_columns(contact)}
        for role, contact in c.parties.items()
    ]


def _stage_rows(c: Challenge) -> list[dict[str, Any]]:
    return [
        {
            "challenge_id": c.id,
            "position": position,
            "number": s.number,
            "started_at": s.started_at,
            "due_at": s.due_at,
            "timescale_working_days": s.timescale_working_days,
            "ended_at": s.ended_at,
            "outcome": s.outcome,
            "reason": s.reason,
            "reminded": s.reminded,
            "breached": s.breached,
            "steps_done": s.steps_done,
        }
        for position, s in enumerate(c.stages)
    ]


async def _write_parties(conn: AsyncConnection, parties: list[dict[str, Any]]) -> None:
    if parties:
        await conn.execute(challenge_parties.insert(), parties)


async def _write_stages(conn: AsyncConnection, stages: list[dict[str, Any]], key: Key) -> None:
    """Insert stage rows (plain, as `_stage_rows` gives them), each reason encrypted."""
    if stages:
        await conn.execute(
            challenge_stages.insert(),
            [{**s, "reason": stage_reason(key, s["position"], s["reason"])} for s in stages],
        )


# The statements every turn runs, built once: building a statement and its cache key anew took about as
# long as SQLite took to run it.
#: A challenge by id with its child's details beside it (None when the retention purge erased them).
_BY_ID = (
    select(challenges, *[column.label(f"child__{column.name}") for column in child_details.c])
    .select_from(challenges.outerjoin(child_details, child_details.c.challenge_id == challenges.c.id))
    .where(challenges.c.id == bindparam("challenge_id"))
)


def _child_of(row: Row[Any]) -> dict[str, Any] | None:
    """The child's details `_BY_ID` read beside the challenge, as stored (None: there are none)."""
    mapping = row._mapping
    if mapping["child__challenge_id"] is None:
        return None
    return {column.name: mapping[f"child__{column.name}"] for column in child_details.c}
_CHILDREN = select(child_details).where(child_details.c.challenge_id.in_(bindparam("ids", expanding=True)))
_PARTIES = select(challenge_parties).where(
    challenge_parties.c.challenge_id.in_(bindparam("ids", expanding=True))
)
_STAGES = (
    select(challenge_stages)
    .where(challenge_stages.c.challenge_id.in_(bindparam("ids", expanding=True)))
    .order_by(challenge_stages.c.challenge_id, challenge_stages.c.position)
)
#: A change stored compare-and-set on the version it was decided on (the row's columns are the parameters).
_SAVE = (
    update(challenges)
    .where(challenges.c.id == bindparam("saved_id"), challenges.c.version == bindparam("saved_version"))
    .returning(challenges.c.purged_at, challenges.c.seal_salt)
)
_CHANGE = challenge_changes.insert()
_EVENTS = (
    select(audit_events)
    .where(audit_events.c.challenge_id == bindparam("challenge_id"))
    .order_by(audit_events.c.seq)
)


async def _load(
    conn: AsyncConnection,
    where: Sequence[ColumnElement[bool] | TextClause],
    *,
    order_by: Sequence[ColumnElement[Any]] = (),
    limit: int | None = None,
) -> list[Challenge]:
    """Challenges matching `where`, with their child details, parties and stages, in `order_by` order."""
    query = select(challenges).where(*where).order_by(*order_by)
    if limit is not None:
        query = query.limit(limit)
    return await _with_their_rows(conn, (await conn.execute(query)).all())


async def _with_their_rows(
    conn: AsyncConnection,
    rows: Sequence[Row[Any]],
    *,
    given: Mapping[str, Mapping[str, Any] | None] | None = None,
) -> list[Challenge]:
    """The challenges of these `challenges` rows, with their child details (read here unless `given` has
    each row's, as stored, None for none), parties and stages."""
    keys: dict[str, DataKey] = {}
    children: dict[str, dict[str, Any]] = {}
    parties: dict[str, dict[RoleId, Contact]] = defaultdict(dict)
    stages: dict[str, list[StageRecord]] = defaultdict(list)
    ids = [row.id for row in rows]
    for start in range(0, len(ids), _BATCH):
        batch = ids[start : start + _BATCH]
        known = {owner_id: key for owner_id in batch if (key := known_key(CHALLENGE, owner_id)) is not None}
        keys.update(known)
        if len(known) < len(batch):
            keys.update(await keys_of(conn, CHALLENGE, [i for i in batch if i not in known]))
        stored_children = (
            [child for child in (given.get(i) for i in batch) if child is not None]
            if given is not None
            else [child._mapping for child in await conn.execute(_CHILDREN, {"ids": batch})]
        )
        for child in stored_children:
            owner = child["challenge_id"]
            children[owner] = plain_child_row(keys.get(owner, NO_KEY), "child_details", child)
        for party in await conn.execute(_PARTIES, {"ids": batch}):
            parties[party.challenge_id][party.role] = contact_from_row(party)
        for stage in await conn.execute(_STAGES, {"ids": batch}):
            stages[stage.challenge_id].append(
                StageRecord(
                    number=stage.number,
                    started_at=stage.started_at,
                    due_at=stage.due_at,
                    timescale_working_days=stage.timescale_working_days,
                    ended_at=stage.ended_at,
                    outcome=stage.outcome,
                    reason=plain_stage_reason(
                        keys.get(stage.challenge_id, NO_KEY), stage.position, stage.reason
                    ),
                    reminded=stage.reminded,
                    breached=stage.breached,
                    steps_done=stage.steps_done,
                )
            )
    return [
        _challenge(
            _Row(plain_challenge_row(keys.get(row.id, NO_KEY), row._mapping)),
            children.get(row.id),
            parties[row.id],
            stages[row.id],
        )
        for row in rows
    ]


def _challenge(
    row: _Row,
    child: dict[str, Any] | None,
    parties: dict[RoleId, Contact],
    stages: list[StageRecord],
) -> Challenge:
    # A challenge has its child's details until the retention purge erases them (`purged_at`).
    born = child["date_of_birth"] if child is not None else None
    details = (
        ChildDetails(
            name=child["name"],
            date_of_birth=date.fromisoformat(born) if born else None,
            agency_reference=child["agency_reference"],
        )
        if child is not None
        else ChildDetails(name="")
    )
    return Challenge(
        id=row.id,
        reference=row.reference,
        policy_id=row.policy_id,
        status=Status(row.status),
        stage=row.stage,
        version=row.version,
        raised_at=row.raised_at,
        raised_by=row.raised_by,
        raiser_agency_id=row.raiser_agency_id,
        challenged_agency_id=row.challenged_agency_id,
        child=details,
        issue_category=row.issue_category,
        concern=row.concern,
        desired_outcome=row.desired_outcome,
        informal_evidence=row.informal_evidence,
        urgent=row.urgent,
        parties=parties,
        stages=tuple(stages),
        awaiting=Side(row.awaiting) if row.awaiting is not None else None,
        entries=entries_from_json(row.entries),
        proposal=proposal_from_json(row.proposal),
        timescale_proposal=timescale_proposal_from_json(row.timescale_proposal),
        linked_to=row.linked_to,
        priority=row.priority,
        agreed_outcome=row.agreed_outcome,
        meetings=meetings_from_json(row.meetings),
        fields=text_map(row.fields),
        closed_at=row.closed_at,
        next_due_at=row.next_due_at,
        purged_at=row.purged_at,
    )
