"""Several schedulers racing on the real PostgreSQL: every reminder is applied once and every notification
is delivered once.

Each scheduler has its own connection pool, as separate bot instances would. Skipped only when PostgreSQL
is unreachable and CI is not 'true'.
"""

from __future__ import annotations

import asyncio
import os
import uuid
from collections import Counter
from collections.abc import AsyncIterator
from datetime import timedelta

import pytest
from sqlalchemy import text

from bot.mailer import Mailer
from process.challenge import NotificationKind
from process.policy import Role
from storage.db import Database
from storage.migrate import upgrade
from storage.outbox import DeliveryStatus
from tests.delivery.conftest import MovableClock, SmtpServer, build_delivery
from tests.support.database import postgres_unavailable
from tests.support.people import holder, raise_request

POSTGRES_URL = os.environ.get("TEST_POSTGRES_URL", "postgresql+asyncpg://postgres@127.0.0.1:5432/test")
SCHEDULERS = 4
CHALLENGES = 12


@pytest.fixture
async def pg_schema() -> AsyncIterator[str]:
    schema = f"delivery_{uuid.uuid4().hex[:12]}"
    admin = await Database.connect(POSTGRES_URL)
    try:
        async with admin.transaction() as conn:
            await conn.execute(text(f'CREATE SCHEMA "{schema}"'))
    except Exception as error:  # unreachable, no such database...
        await admin.dispose()
        postgres_unavailable(type(error).__name__)
    try:
        await upgrade(POSTGRES_URL, schema=schema)
        yield schema
    finally:
        async with admin.transaction() as conn:
            await conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
        await admin.dispose()


async def test_racing_schedulers_on_postgres_send_each_notification_once(
    pg_schema: str, smtp_server: SmtpServer
) -> None:
    clock = MovableClock()
    databases = [await Database.connect(POSTGRES_URL, schema=pg_schema) for _ in range(SCHEDULERS)]
    try:
        bots = [
            build_delivery(db, clock, mailer=Mailer(smtp_server.settings()), worker_id=f"bot-{i}")
            for i, db in enumerate(databases)
        ]
        ids = []
        for n in range(CHALLENGES):
            partnership = ("durham", "rochdale")[n % 2]
            decision = await bots[n % SCHEDULERS].service.raise_challenge(
                holder(partnership, Role.RAISER), partnership, raise_request(partnership)
            )
            ids.append(decision.challenge.id)

        # Delivery of the raising notifications, then two due instants, each raced by every scheduler.
        reports = []
        for instant in (
            clock.now,
            clock.now.replace(hour=17),  # Durham's reminders
            clock.now.replace(hour=17) + timedelta(days=1),  # Durham's stage 1 deadline
        ):
            clock.now = instant
            reports += await asyncio.gather(*(bot.scheduler.run_once() for bot in bots))

        rows = [row for cid in ids for row in await bots[0].outbox.for_challenge(cid)]
        assert rows and {row.status for row in rows} == {DeliveryStatus.DELIVERED}
        assert sum(r.delivery.delivered for r in reports) == len(rows)
        assert sum(r.delivery.lost_claims for r in reports) == 0
        # The mail server got exactly one message per outbox row: per recipient and challenge reference (a
        # pattern alert, Durham's 3 challenges to one agency, is headed with the partnership's short name).
        sent = Counter((rcpts[0], str(m["Subject"]).split(":")[0]) for rcpts, m in smtp_server.messages)
        expected = Counter(
            (
                row.notification.recipient.email,
                "DSCP"
                if row.notification.kind is NotificationKind.PATTERN_ALERT
                else row.notification.reference,
            )
            for row in rows
        )
        assert sum(r.patterns for r in reports) == CHALLENGES // 2 // 3
        assert sent == expected and len(smtp_server.messages) == len(rows)
        for cid in ids:
            kinds = Counter(e.kind for e in await bots[0].service.events(cid))
            assert kinds["reminder_sent"] <= 1 and kinds["deadline_passed"] <= 1
        assert sum(r.reminders for r in reports) == CHALLENGES // 2
        assert sum(r.deadlines for r in reports) == CHALLENGES // 2
        # Work was shared: more than one scheduler delivered something.
        assert sum(1 for r in reports if r.delivery.delivered) > 1
    finally:
        for db in databases:
            await db.dispose()
