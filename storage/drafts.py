"""Unfinished raising forms (drafts): one open per person, kept for a limited time, then their answers deleted.

A draft is the single truth about where a person is in the raising form: its step and a `revision` that goes
up by one with every change. A change is compare-and-set on the revision, so of two presses of one card only
the first moves the form on; the other sees the revision has moved and is shown where the form now is.

The child's details as typed go to `draft_child_details`, beside `child_details`, so the one place that holds
child-identifying facts holds those of unfinished forms too. Both are encrypted with the draft's own data key
(`storage/crypto.py`), made with its first answers. When a draft ends (cancelled, expired) its answers, its
child's details and its data key are deleted at once; the answers-free row stays `ENDED_KEPT` so a card from
it can say what became of it, then it is deleted too. Raising deletes the draft in the raise's transaction
(see `ChallengeRepository.create`).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Literal
from uuid import uuid4

from sqlalchemy import delete, exists, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection

from storage.crypto import DRAFT, key_of, key_or_new, new_key
from storage.db import Database, could_be_key, upsert
from storage.protected import NO_KEY, Key, child_row, plain_child_row
from storage.schema import data_keys, draft_child_details, raise_drafts

DraftStatus = Literal["open", "cancelled", "expired"]

#: How long the answers-free row of an ended draft is kept, so that its old cards can say it ended.
ENDED_KEPT = timedelta(days=30)


@dataclass(frozen=True)
class DraftChild:
    """The child's details as typed on the form (the date of birth as typed, checked only at its step)."""

    name: str | None = None
    date_of_birth: str | None = None
    agency_reference: str | None = None


@dataclass(frozen=True)
class Draft:
    """One raising form: whose, where it is (`step`, `revision`) and what has been typed so far."""

    id: str
    person_id: str
    status: DraftStatus
    step: str
    revision: int
    last_verb: str | None
    answers: dict[str, str]
    child: DraftChild
    replaces: str | None
    created_at: datetime
    expires_at: datetime
    ended_at: datetime | None

    def is_open(self, now: datetime) -> bool:
        """Open and not past its time (an expired draft not yet purged counts as expired)."""
        return self.status == "open" and now < self.expires_at


@dataclass(frozen=True)
class PurgeReport:
    """What one purge did: drafts that expired (answers deleted) and ended drafts' rows deleted."""

    expired: int = 0
    deleted: int = 0


class DraftStore:
    """Raising forms in the database."""

    def __init__(self, db: Database) -> None:
        self.db = db

    async def get(self, draft_id: str) -> Draft | None:
        """The draft with this id (open or ended), or None (never existed, raised, or long ended)."""
        if not could_be_key(draft_id):
            return None
        async with self.db.reading() as conn:
            return await _load(conn, raise_drafts.c.id == draft_id)

    async def open_for(self, person_id: str, now: datetime) -> Draft | None:
        """The person's open draft, if any; one past its time is expired (answers deleted) first."""
        async with self.db.transaction() as conn:
            expired = await _expire(conn, now, person_id)
            found = await _load(conn, raise_drafts.c.person_id == person_id, raise_drafts.c.status == "open")
        if expired:
            await self.db.forget_deleted()
        return found

    async def start(
        self, person_id: str, first_step: str, now: datetime, ttl: timedelta
    ) -> tuple[Draft, bool]:
        """The person's open draft, or a new one at `first_step`; True when it is new.

        Two starts at once (a double click) end with the one draft: the unique index on open drafts per
        person refuses the second insert, which then reads the first.
        """
        for _ in range(2):
            try:
                async with self.db.transaction() as conn:
                    expired = await _expire(conn, now, person_id)
                    found = await _load(
                        conn, raise_drafts.c.person_id == person_id, raise_drafts.c.status == "open"
                    )
                    started = (
                        (found, False)
                        if found is not None
                        else (await _insert(conn, person_id, first_step, now, ttl, replaces=None), True)
                    )
            except IntegrityError:
                continue
            if expired:
                await self.db.forget_deleted()
            return started
        raise RuntimeError("could not start or find the person's draft")

    async def advance(
        self,
        draft: Draft,
        *,
        verb: str,
        step: str,
        answers: Mapping[str, str],
        child: DraftChild,
        now: datetime,
    ) -> Draft | None:
        """Store the form's new step and answers if the draft is still open at `draft.revision`; None when
        another change came first, or the draft ended (nothing is written then)."""
        async with self.db.transaction() as conn:
            moved = await conn.execute(
                update(raise_drafts)
                .where(
                    raise_drafts.c.id == draft.id,
                    raise_drafts.c.status == "open",
                    raise_drafts.c.revision == draft.revision,
                    raise_drafts.c.expires_at > now,
                )
                .values(
                    step=step,
                    revision=draft.revision + 1,
                    last_verb=verb,
                )
            )
            if moved.rowcount != 1:
                return None
            # The row is ours until the commit: its key is read (or made, for a form older than encryption)
            # by this transaction alone.
            key = await key_or_new(conn, DRAFT, draft.id)
            await conn.execute(
                update(raise_drafts)
                .where(raise_drafts.c.id == draft.id)
                .values(answers=key.json("raise_drafts.answers", dict(answers)))
            )
            columns = child_row(
                key,
                "draft_child_details",
                {
                    "name": child.name,
                    "date_of_birth": child.date_of_birth,
                    "agency_reference": child.agency_reference,
                },
            )
            await conn.execute(
                upsert(conn, draft_child_details)
                .values(draft_id=draft.id, **columns)
                .on_conflict_do_update(index_elements=[draft_child_details.c.draft_id], set_=columns)
            )
            return await _load(conn, raise_drafts.c.id == draft.id)

    async def cancel(self, draft_id: str, person_id: str, now: datetime) -> bool:
        """End the person's open draft, deleting its answers; False when it was not open."""
        async with self.db.transaction() as conn:
            cancelled = await _end(conn, draft_id, person_id, "cancelled", now)
        if cancelled:
            await self.db.forget_deleted()
        return cancelled

    async def restart(
        self, draft_id: str, person_id: str, first_step: str, now: datetime, ttl: timedelta
    ) -> Draft | None:
        """Discard the person's open draft and start a new one in its place, in one transaction.

        Asked again for a draft already discarded this way (a double click), the new draft that replaced it
        is returned while it is open; None when the draft was neither open nor replaced.
        """
        async with self.db.transaction() as conn:
            if await _end(conn, draft_id, person_id, "cancelled", now):
                fresh: Draft | None = await _insert(conn, person_id, first_step, now, ttl, replaces=draft_id)
            else:
                found = await _load(
                    conn,
                    raise_drafts.c.replaces == draft_id,
                    raise_drafts.c.person_id == person_id,
                    raise_drafts.c.status == "open",
                )
                return found if found is not None and found.is_open(now) else None
        await self.db.forget_deleted()
        return fresh

    async def purge(self, now: datetime, ended_kept: timedelta = ENDED_KEPT) -> PurgeReport:
        """Expire every draft past its time (answers and child's details deleted), and delete the rows of
        drafts that ended more than `ended_kept` ago. Run by the deadline clock's every pass."""
        async with self.db.transaction() as conn:
            expired = await _expire(conn, now, None)
            gone = await conn.execute(
                delete(raise_drafts).where(
                    raise_drafts.c.status != "open", raise_drafts.c.ended_at <= now - ended_kept
                )
            )
            report = PurgeReport(expired=expired, deleted=gone.rowcount or 0)
        if report.expired:
            await self.db.forget_deleted()
        return report


async def _insert(
    conn: AsyncConnection, person_id: str, step: str, now: datetime, ttl: timedelta, *, replaces: str | None
) -> Draft:
    draft_id = str(uuid4())
    await conn.execute(
        raise_drafts.insert().values(
            id=draft_id,
            person_id=person_id,
            status="open",
            step=step,
            revision=0,
            last_verb=None,
            answers={},
            replaces=replaces,
            created_at=now,
            expires_at=now + ttl,
            ended_at=None,
        )
    )
    await new_key(conn, DRAFT, draft_id, now=now)
    created = await _load(conn, raise_drafts.c.id == draft_id)
    assert created is not None
    return created


async def _end(
    conn: AsyncConnection, draft_id: str, person_id: str, status: DraftStatus, now: datetime
) -> bool:
    ended = await conn.execute(
        update(raise_drafts)
        .where(
            raise_drafts.c.id == draft_id,
            raise_drafts.c.person_id == person_id,
            raise_drafts.c.status == "open",
            raise_drafts.c.expires_at > now,
        )
        .values(status=status, answers={}, ended_at=now)
    )
    if ended.rowcount != 1:
        return False
    await _forget_ended_children(conn)
    return True


async def _expire(conn: AsyncConnection, now: datetime, person_id: str | None) -> int:
    """Mark open drafts past their time expired (of one person, or everyone's) and delete their answers."""
    where = [raise_drafts.c.status == "open", raise_drafts.c.expires_at <= now]
    if person_id is not None:
        where.append(raise_drafts.c.person_id == person_id)
    expired = await conn.execute(
        update(raise_drafts).where(*where).values(status="expired", answers={}, ended_at=now)
    )
    if not expired.rowcount:
        return 0
    await _forget_ended_children(conn)
    return expired.rowcount


async def _forget_ended_children(conn: AsyncConnection) -> None:
    """Delete the child's details and the data key of every draft that is no longer open (called when a draft
    has just ended: every draft that ended before had them deleted in its own transaction)."""
    await conn.execute(
        delete(data_keys).where(
            data_keys.c.owner_kind == DRAFT,
            ~exists().where(raise_drafts.c.id == data_keys.c.owner_id, raise_drafts.c.status == "open"),
        )
    )
    await conn.execute(
        delete(draft_child_details).where(
            exists().where(
                raise_drafts.c.id == draft_child_details.c.draft_id, raise_drafts.c.status != "open"
            )
        )
    )


async def _load(conn: AsyncConnection, *where: Any) -> Draft | None:
    row = (
        await conn.execute(
            select(
                raise_drafts,
                draft_child_details.c.name,
                draft_child_details.c.date_of_birth,
                draft_child_details.c.agency_reference,
            )
            .select_from(raise_drafts.outerjoin(draft_child_details))
            .where(*where)
        )
    ).first()
    if row is None:
        return None
    key: Key = await key_of(conn, DRAFT, row.id) or NO_KEY
    answers = key.plain_json("raise_drafts.answers", row.answers)
    answers = answers if isinstance(answers, dict) else {}
    child = plain_child_row(
        key,
        "draft_child_details",
        {"name": row.name, "date_of_birth": row.date_of_birth, "agency_reference": row.agency_reference},
    )
    return Draft(
        id=row.id,
        person_id=row.person_id,
        status=row.status,
        step=row.step,
        revision=row.revision,
        last_verb=row.last_verb,
        answers={str(k): v for k, v in answers.items() if isinstance(v, str)},
        child=DraftChild(
            name=child["name"],
            date_of_birth=child["date_of_birth"],
            agency_reference=child["agency_reference"],
        ),
        replaces=row.replaces,
        created_at=row.created_at,
        expires_at=row.expires_at,
        ended_at=row.ended_at,
    )
