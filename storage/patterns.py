"""Pattern alerts told (a policy's `pattern_alert`): one row per pattern, unique on the challenge completing it.

Recording a pattern and queueing its notifications is one transaction; of two clocks recording the same
pattern at once, the unique constraint lets one in and the other records nothing and queues nothing.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Row, select
from sqlalchemy.exc import IntegrityError

from process.challenge import Notification
from process.patterns import Pattern, Raised
from storage.db import Database, could_be_key
from storage.outbox import enqueue
from storage.schema import challenges, pattern_alerts


@dataclass(frozen=True)
class PatternAlertRecord:
    """A pattern as it was told: references only, and who was to be told (empty: nobody could be)."""

    id: int
    policy_id: str
    agency_id: str
    trigger_challenge_id: str
    window_start: datetime
    window_end: datetime
    references: tuple[str, ...]
    told: tuple[str, ...]
    created_at: datetime


class PatternStore:
    """Reads what the pattern watch needs and records the patterns told."""

    def __init__(self, db: Database) -> None:
        self.db = db

    async def raised_since(self, policy_id: str, since: datetime) -> list[Raised]:
        """The policy's challenges raised after `since`: ids, references, agencies, times, statuses."""
        async with self.db.reading() as conn:
            rows = await conn.execute(
                select(
                    challenges.c.id,
                    challenges.c.reference,
                    challenges.c.challenged_agency_id,
                    challenges.c.raised_at,
                    challenges.c.status,
                    challenges.c.stage,
                ).where(challenges.c.policy_id == policy_id, challenges.c.raised_at > since)
            )
            return [
                Raised(row.id, row.reference, row.challenged_agency_id, row.raised_at, row.status, row.stage)
                for row in rows
            ]

    async def newest_raised(self, policy_id: str) -> datetime | None:
        """When the policy's newest challenge was raised (None: none was): one entry of its index."""
        async with self.db.reading() as conn:
            newest: datetime | None = await conn.scalar(
                select(challenges.c.raised_at)
                .where(challenges.c.policy_id == policy_id)
                .order_by(challenges.c.raised_at.desc())
                .limit(1)
            )
        return newest

    async def last_triggers(
        self, policy_id: str, since: datetime | None = None
    ) -> dict[str, tuple[datetime, str]]:
        """Per agency, the order (raised at, id) of the challenge that completed its last pattern told.

        With `since`, only patterns completed by a challenge raised after it: what `raised_since(policy_id,
        since)` returns all comes after any older trigger, so an older one changes nothing. The watch's every
        pass then reads the patterns of its look-back alone (through `ix_pattern_alerts_policy_id_window_end`;
        a pattern's window ends when its trigger was raised), not every pattern ever told.
        """
        where = [pattern_alerts.c.policy_id == policy_id]
        if since is not None:
            where.append(pattern_alerts.c.window_end > since)
        async with self.db.reading() as conn:
            rows = await conn.execute(
                select(pattern_alerts.c.agency_id, challenges.c.raised_at, challenges.c.id)
                .join(challenges, challenges.c.id == pattern_alerts.c.trigger_challenge_id)
                .where(*where)
            )
            found: dict[str, tuple[datetime, str]] = {}
            for row in rows:
                order = (row.raised_at, row.id)
                found[row.agency_id] = max(found.get(row.agency_id, order), order)
        return found

    async def record(
        self, pattern: Pattern, notifications: Sequence[Notification], told: Sequence[str], now: datetime
    ) -> bool:
        """Store `pattern` and queue `notifications` in one transaction; False (nothing stored or queued) when
        the pattern was already recorded, by this clock earlier or by another at the same time."""
        try:
            async with self.db.transaction() as conn:
                await conn.execute(
                    pattern_alerts.insert().values(
                        policy_id=pattern.policy_id,
                        agency_id=pattern.agency_id,
                        trigger_challenge_id=pattern.trigger.challenge_id,
                        window_start=pattern.window_start,
                        window_end=pattern.window_end,
                        refs=list(pattern.references),
                        told=list(told),
                        created_at=now,
                    )
                )
                await enqueue(conn, notifications, now)
        except IntegrityError:
            return False
        return True

    async def for_trigger(self, challenge_id: str) -> PatternAlertRecord | None:
        """The pattern the challenge `challenge_id` completed, if one was told."""
        if not could_be_key(challenge_id):
            return None
        async with self.db.reading() as conn:
            row = (
                await conn.execute(
                    select(pattern_alerts).where(pattern_alerts.c.trigger_challenge_id == challenge_id)
                )
            ).first()
        return _record(row) if row is not None else None

    async def all(self, policy_id: str | None = None) -> list[PatternAlertRecord]:
        """Every pattern told (of one policy), oldest first."""
        query = select(pattern_alerts).order_by(pattern_alerts.c.id)
        if policy_id is not None:
            query = query.where(pattern_alerts.c.policy_id == policy_id)
        async with self.db.reading() as conn:
            return [_record(row) for row in await conn.execute(query)]


def _record(row: Row[Any]) -> PatternAlertRecord:
    return PatternAlertRecord(
        id=row.id,
        policy_id=row.policy_id,
        agency_id=row.agency_id,
        trigger_challenge_id=row.trigger_challenge_id,
        window_start=row.window_start,
        window_end=row.window_end,
        references=tuple(row.refs),
        told=tuple(row.told),
        created_at=row.created_at,
    )
