"""The retention purge: a challenge that ended longer ago than its partnership's retention period loses its
child's details and everything people wrote; the anonymous facts monitoring needs stay.

Erased: the `child_details` row; the concern, the desired outcome, the evidence of informal challenge, the
fields people filled in, every entry's text (responses, proposals, reasons), the proposals, the agreed
outcome, each stage's reason, the meeting records' words (attendees, key points, actions, timescales), and the
words of every event of the chronology (summary, detail and the salt of their digest), and the digests of what
each change's author typed (`challenge_changes`), and the challenge's data key (crypto-shredding: a copy of
its encrypted words elsewhere, a backup, can no longer be read). Kept: the reference,
partnership, agencies, issue category, urgency and priority, status, the stages with their dates, limits and
outcomes, who held each part, who wrote at which stage and when, and the chronology's chain, which records the
purge as its own event and still verifies (`storage/chain.py`); that event's anchor seals the purged record
(`storage/seal.py`), unsalted.

Each challenge is purged in one transaction that first marks it (`purged_at`), so a second run, or two at
once, purge it once.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, delete, func, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from process.challenge import SYSTEM, AuditEvent, Status
from storage.chain import ERASED_THROUGH, PURGED, append_events
from storage.codec import entries_from_json, entries_to_json, meetings_from_json, meetings_to_json
from storage.crypto import CHALLENGE, key_of, shred
from storage.db import Database
from storage.protected import NO_KEY, Key
from storage.schema import audit_events, challenge_changes, challenge_stages, challenges, child_details
from storage.seal import stored_records

ENDED = (Status.RESOLVED.value, Status.WITHDRAWN.value, Status.CLOSED.value)


@dataclass(frozen=True)
class Purgeable:
    """A challenge of the partnership that ended before the cutoff and still holds its words."""

    challenge_id: str
    reference: str
    closed_at: datetime
    events: int


async def purgeable(db: Database, policy_id: str, cutoff: datetime) -> list[Purgeable]:
    """The partnership's challenges that ended before `cutoff` and have not been purged, oldest first."""
    count = select(func.count()).where(audit_events.c.challenge_id == challenges.c.id).scalar_subquery()
    async with db.reading() as conn:
        rows = await conn.execute(
            select(challenges.c.id, challenges.c.reference, challenges.c.closed_at, count.label("events"))
            .where(*_due(policy_id, cutoff))
            .order_by(challenges.c.closed_at, challenges.c.reference)
        )
        return [Purgeable(row.id, row.reference, row.closed_at, int(row.events)) for row in rows]


def _due(policy_id: str, cutoff: datetime) -> list[ColumnElement[bool]]:
    return [
        challenges.c.policy_id == policy_id,
        challenges.c.status.in_(ENDED),
        challenges.c.closed_at.is_not(None),
        challenges.c.closed_at < cutoff,
        challenges.c.purged_at.is_(None),
    ]


async def purge(
    db: Database, policy_id: str, challenge_id: str, cutoff: datetime, now: datetime, why: str
) -> int | None:
    """Erase one challenge's words if it is still due (ended before `cutoff`, not purged), and append the
    purge to its chronology, saying `why`. The number of events whose words were erased, or None when
    there was nothing to do."""
    async with db.transaction() as conn:
        marked = (
            await conn.execute(
                update(challenges)
                .where(challenges.c.id == challenge_id, *_due(policy_id, cutoff))
                .values(purged_at=now, updated_at=now, version=challenges.c.version + 1)
                .returning(challenges.c.stage, challenges.c.entries, challenges.c.meetings)
            )
        ).first()
        if marked is None:
            return None
        return await _erase(
            conn, policy_id, challenge_id, marked.stage, marked.entries, marked.meetings, now, why
        )


async def _erase(
    conn: AsyncConnection,
    policy_id: str,
    challenge_id: str,
    stage: int,
    entries: Any,
    meetings: Any,
    now: datetime,
    why: str,
) -> int:
    key: Key = await key_of(conn, CHALLENGE, challenge_id) or NO_KEY
    entries = key.plain_json("challenges.entries", entries)
    meetings = key.plain_json("challenges.meetings", meetings)
    await conn.execute(
        update(challenges)
        .where(challenges.c.id == challenge_id)
        .values(
            concern="",
            desired_outcome="",
            informal_evidence=None,
            fields={},
            entries=entries_to_json([replace(e, text="") for e in entries_from_json(entries)]),
            proposal=None,
            timescale_proposal=None,
            agreed_outcome=None,
            seal_salt=None,
            meetings=meetings_to_json(
                [
                    replace(m, attendees="", key_points="", actions_agreed="", timescales="")
                    for m in meetings_from_json(meetings)
                ]
            ),
        )
    )
    await conn.execute(delete(child_details).where(child_details.c.challenge_id == challenge_id))
    await conn.execute(
        update(challenge_stages).where(challenge_stages.c.challenge_id == challenge_id).values(reason=None)
    )
    # Who changed each version, and with which action, stays; the digest of what they typed, which could be
    # tested against guesses of it, goes (it only served to recognise a second click).
    await conn.execute(
        update(challenge_changes).where(challenge_changes.c.challenge_id == challenge_id).values(digest="")
    )
    last = await conn.scalar(
        select(func.max(audit_events.c.seq)).where(audit_events.c.challenge_id == challenge_id)
    )
    through = int(last or 0)
    # The one place an event is changed: its words and salt go, its digest and hashes stay (the chain holds).
    erased = await conn.execute(
        update(audit_events)
        .where(audit_events.c.challenge_id == challenge_id, audit_events.c.seq <= through)
        .values(summary="", detail={}, salt=None)
    )
    # Crypto-shredding: whatever of the challenge is still encrypted (in a backup, say) can no longer be read.
    # Everything kept was rewritten in the clear above, and what is appended from now on is stored so.
    await shred(conn, CHALLENGE, [challenge_id])
    event = AuditEvent(
        challenge_id=challenge_id,
        at=now,
        actor_id=SYSTEM,
        stage=stage,
        kind=PURGED,
        summary=f"The child's details and everything written were erased: {why}",
        detail={ERASED_THROUGH: str(through)},
    )
    # The purge writes only some columns: the seal is computed from the record as the transaction holds it.
    record = (await stored_records(conn, [challenge_id]))[challenge_id]
    await append_events(conn, policy_id, challenge_id, [event], now, record)
    return int(erased.rowcount)
