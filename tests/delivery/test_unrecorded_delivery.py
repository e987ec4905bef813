"""A delivery the database would not record at once (it was restarting) is recorded when it comes back, not
sent again: a row left `sending` would be claimed again when its lease ran out, and Teams has no idempotency
key, so the person would be told twice."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from datetime import datetime

from sqlalchemy.exc import OperationalError

from bot.mailer import Mailer
from process.policy import Role
from storage.db import Database
from storage.outbox import DeliveryStatus, Outbox
from tests.delivery.conftest import Delivery, SmtpServer
from tests.support.people import holder, raise_request


class UnreachableFor(Outbox):
    """The real outbox, except that the first `failures` marks of delivery find the database gone."""

    def __init__(self, db: Database, failures: int) -> None:
        super().__init__(db)
        self.failures = failures
        self.refused = 0

    async def mark_delivered(self, item_id: int, worker_id: str, now: datetime, channel: str) -> bool:
        if self.refused < self.failures:
            self.refused += 1
            raise OperationalError("UPDATE outbox ...", None, ConnectionRefusedError("server restarting"))
        return await super().mark_delivered(item_id, worker_id, now, channel)


async def test_a_delivery_recorded_after_the_database_returns_is_sent_once(
    delivery_factory: Callable[..., Delivery], smtp_server: SmtpServer
) -> None:
    delivery = delivery_factory(mailer=Mailer(smtp_server.settings()))
    flaky = UnreachableFor(delivery.database, failures=2)
    delivery.notifier.outbox = flaky
    decision = await delivery.service.raise_challenge(
        holder("durham", Role.RAISER), "durham", raise_request("durham")
    )
    rows = await delivery.outbox.for_challenge(decision.challenge.id)
    assert len(rows) > 1

    report = await delivery.notifier.drain()

    assert flaky.refused == 2
    assert report.delivered == len(rows) and report.lost_claims == 0
    after = await delivery.outbox.for_challenge(decision.challenge.id)
    assert {row.status for row in after} == {DeliveryStatus.DELIVERED}
    # Nothing is left to claim when the leases run out: each recipient got one message.
    assert await delivery.outbox.next_attempt_at() is None
    sent = Counter(rcpts[0] for rcpts, _ in smtp_server.messages)
    assert sent == Counter(row.notification.recipient.email for row in after)
