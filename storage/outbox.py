"""The notification outbox: who must be told what, stored in the same transaction as the change causing it.

A notifier claims ready rows with a lease, sends them, and marks each delivered, to retry, or failed. A claim
whose lease ran out (the worker crashed between claim and send) is claimable again, so nothing is lost; the
price is that such a notification may go out twice. On PostgreSQL the claim locks rows with
`FOR UPDATE SKIP LOCKED`, so instances never wait for each other or take the same row; SQLite serialises
writers, so there a single `UPDATE ... WHERE id IN (SELECT ...)` is already exclusive. Rows carry no child
data: the reference, the stage and the deadline identify the case.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any

from sqlalchemy import Row, select, text, update
from sqlalchemy.ext.asyncio import AsyncConnection

from process.challenge import Notification, NotificationKind
from storage.codec import contact_from_json, contact_to_json
from storage.db import Database
from storage.schema import UNSENT_STATUS, outbox

#: Longest error text kept on a row; enough for an HTTP status and a short reason.
MAX_ERROR = 2000


class DeliveryStatus(StrEnum):
    PENDING = "pending"
    SENDING = "sending"
    DELIVERED = "delivered"
    FAILED = "failed"


@dataclass(frozen=True)
class OutboxItem:
    """One notification on its way, with its delivery bookkeeping."""

    id: int
    notification: Notification
    status: DeliveryStatus
    attempts: int
    created_at: datetime
    updated_at: datetime
    next_attempt_at: datetime
    claimed_by: str | None
    claimed_until: datetime | None
    delivered_at: datetime | None
    last_error: str | None
    channel: str | None
    #: The challenge's version after the change that queued it (None on rows queued before it was kept).
    challenge_version: int | None = None
    #: For a report that a notification could not be delivered, the id of the row it reports.
    report_of: int | None = None


async def enqueue(
    conn: AsyncConnection,
    notifications: Iterable[Notification],
    now: datetime,
    *,
    version: int | None = None,
    report_of: int | None = None,
) -> None:
    """Queue `notifications` for delivery from `now`, inside the caller's transaction: those of the change
    that took the challenge to `version`, or reports that the row `report_of` could not be delivered."""
    rows = [
        {
            "challenge_id": n.challenge_id,
            "reference": n.reference,
            "kind": n.kind.value,
            "recipient": contact_to_json(n.recipient),
            "roles": list(n.roles),
            "stage": n.stage,
            "due_at": n.due_at,
            "action_needed": n.action_needed,
            "created_at": now,
            "updated_at": now,
            "status": DeliveryStatus.PENDING.value,
            "attempts": 0,
            "next_attempt_at": now,
            "challenge_version": version,
            "report_of": report_of,
        }
        for n in notifications
    ]
    if rows:
        await conn.execute(outbox.insert(), rows)


async def claim_outbox(
    conn: AsyncConnection, worker_id: str, now: datetime, limit: int, lease_seconds: float
) -> list[OutboxItem]:
    """Claim up to `limit` ready rows for `worker_id` inside the caller's transaction (see `Outbox.claim`).

    A claimed row's next attempt is the end of its lease, so the same index finds both the rows never tried
    and the rows whose worker vanished.
    """
    if limit < 1:
        return []
    until = now + timedelta(seconds=lease_seconds)
    ready = (
        select(outbox.c.id)
        .where(text(UNSENT_STATUS), outbox.c.next_attempt_at <= now)
        .order_by(outbox.c.next_attempt_at, outbox.c.id)
        .limit(limit)
    )
    if conn.dialect.name == "postgresql":
        ready = ready.with_for_update(skip_locked=True)
    claimed = await conn.execute(
        update(outbox)
        .where(outbox.c.id.in_(ready))
        .values(
            status=DeliveryStatus.SENDING.value,
            claimed_by=worker_id,
            claimed_until=until,
            next_attempt_at=until,
            attempts=outbox.c.attempts + 1,
            updated_at=now,
        )
        .returning(*outbox.c)
    )
    return sorted((_item(row) for row in claimed), key=lambda item: item.id)


class Outbox:
    """The notifier's side of the outbox."""

    def __init__(self, db: Database) -> None:
        self.db = db

    async def claim(
        self, worker_id: str, now: datetime, limit: int = 50, lease_seconds: float = 120.0
    ) -> list[OutboxItem]:
        """Claim up to `limit` rows due at `now` (never tried, due for a retry, or with a lapsed lease).

        Each claimed row is `sending`, its attempts counted, and leased to `worker_id` for `lease_seconds`.
        """
        async with self.db.transaction() as conn:
            return await claim_outbox(conn, worker_id, now, limit, lease_seconds)

    async def mark_delivered(self, item_id: int, worker_id: str, now: datetime, channel: str) -> bool:
        """Record delivery over `channel` (e.g. `teams`, `email`); False if the claim was lost meanwhile."""
        return await self._finish(
            item_id,
            worker_id,
            status=DeliveryStatus.DELIVERED.value,
            delivered_at=now,
            channel=channel,
            claimed_until=None,
            updated_at=now,
        )

    async def mark_retry(
        self, item_id: int, worker_id: str, now: datetime, retry_at: datetime, error: str
    ) -> bool:
        """Give the row back to be tried again from `retry_at`; False if the claim was lost meanwhile."""
        return await self._finish(
            item_id,
            worker_id,
            status=DeliveryStatus.PENDING.value,
            next_attempt_at=retry_at,
            claimed_by=None,
            claimed_until=None,
            last_error=error[:MAX_ERROR],
            updated_at=now,
        )

    async def mark_failed(
        self,
        item_id: int,
        worker_id: str,
        now: datetime,
        error: str,
        reports: Sequence[Notification] = (),
    ) -> bool:
        """Give up on the row for good (kept for the record), queueing `reports` of it in the same
        transaction; False (and nothing queued) if the claim was lost meanwhile.

        Only the worker holding the claim can fail a row, and a failed row is never claimed again, so its
        reports are queued exactly once, whatever crashes or races happen around it.
        """
        async with self.db.transaction() as conn:
            finished = await _finish(
                conn,
                item_id,
                worker_id,
                status=DeliveryStatus.FAILED.value,
                claimed_until=None,
                last_error=error[:MAX_ERROR],
                updated_at=now,
            )
            if finished:
                await enqueue(conn, reports, now, report_of=item_id)
            return finished

    async def next_attempt_at(self) -> datetime | None:
        """The soonest instant an unsent row becomes claimable (a retry, or a lease running out), or None.

        Any worker's retries and claims count, so a scheduler wakes for work another instance scheduled.
        """
        async with self.db.reading() as conn:
            soonest: datetime | None = await conn.scalar(
                select(outbox.c.next_attempt_at)
                .where(text(UNSENT_STATUS))
                .order_by(outbox.c.next_attempt_at)
                .limit(1)
            )
        return soonest

    async def delivering_workers(self, now: datetime) -> list[str]:
        """The workers holding live claims at `now`, in order: the instances delivering at the moment, which
        share each tenant's rate limit."""
        async with self.db.reading() as conn:
            workers = await conn.scalars(
                # A claimed row's next attempt is the end of its lease: the unsent rows' index finds them.
                select(outbox.c.claimed_by)
                .where(
                    text(UNSENT_STATUS),
                    outbox.c.next_attempt_at > now,
                    outbox.c.status == DeliveryStatus.SENDING.value,
                )
                .distinct()
                .order_by(outbox.c.claimed_by)
            )
            return [str(worker) for worker in workers if worker is not None]

    async def get(self, item_id: int) -> OutboxItem | None:
        """One row by id, whatever its status."""
        async with self.db.reading() as conn:
            row = (await conn.execute(select(outbox).where(outbox.c.id == item_id))).first()
            return _item(row) if row is not None else None

    async def for_challenge(
        self, challenge_id: str, *, conn: AsyncConnection | None = None
    ) -> list[OutboxItem]:
        """Every notification queued for a challenge, oldest first, whatever its status (read in `conn`'s
        snapshot when given)."""
        if conn is None:
            async with self.db.reading() as own:
                return await self.for_challenge(challenge_id, conn=own)
        rows = await conn.execute(
            select(outbox).where(outbox.c.challenge_id == challenge_id).order_by(outbox.c.id)
        )
        return [_item(row) for row in rows]

    async def _finish(self, item_id: int, worker_id: str, **values: Any) -> bool:
        async with self.db.transaction() as conn:
            return await _finish(conn, item_id, worker_id, **values)


async def _finish(conn: AsyncConnection, item_id: int, worker_id: str, **values: Any) -> bool:
    """Update the row only while `worker_id` still holds its claim."""
    result = await conn.execute(
        update(outbox)
        .where(
            outbox.c.id == item_id,
            outbox.c.claimed_by == worker_id,
            outbox.c.status == DeliveryStatus.SENDING.value,
        )
        .values(**values)
    )
    return bool(result.rowcount)


def _item(row: Row[Any]) -> OutboxItem:
    m = row._mapping
    notification = Notification(
        kind=NotificationKind(m["kind"]),
        recipient=contact_from_json(m["recipient"]),
        roles=tuple(str(role) for role in m["roles"]),
        challenge_id=m["challenge_id"],
        reference=m["reference"],
        stage=m["stage"],
        due_at=m["due_at"],
        action_needed=m["action_needed"],
    )
    return OutboxItem(
        id=m["id"],
        notification=notification,
        status=DeliveryStatus(m["status"]),
        attempts=m["attempts"],
        created_at=m["created_at"],
        updated_at=m["updated_at"],
        next_attempt_at=m["next_attempt_at"],
        claimed_by=m["claimed_by"],
        claimed_until=m["claimed_until"],
        delivered_at=m["delivered_at"],
        last_error=m["last_error"],
        channel=m["channel"],
        challenge_version=m["challenge_version"],
        report_of=m["report_of"],
    )
