"""A delivery worker run as a process of its own, so a test can kill it (SIGKILL) in the middle of a send.

It drains the outbox once at the given instant, by email only, one message at a time, through the project's
own `Notifier` and `Mailer`: exactly what a bot instance does, minus Teams. It prints one line per outbox row
it claimed before it starts sending, so the test knows what this worker holds.

    python -m tests.delivery.doomed_worker --url URL [--schema S] --smtp-port PORT --now ISO --worker ID
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from datetime import datetime

from bot.mailer import Mailer, MailSettings
from bot.notifier import Notifier
from dialogs.service import ChallengeService
from process.directory import Directory
from process.policy import load_policy
from storage.challenges import ChallengeRepository
from storage.db import Database
from storage.outbox import Outbox, OutboxItem
from tests.support.people import role_directory

#: The sender the worker's emails come from.
SENDER = "challenges@partnership.example"


class _AnnouncingOutbox(Outbox):
    """The real outbox, printing the ids of the rows each claim returned (ids only, no child data)."""

    async def claim(
        self, worker_id: str, now: datetime, limit: int = 50, lease_seconds: float = 120.0
    ) -> list[OutboxItem]:
        items = await super().claim(worker_id, now, limit, lease_seconds)
        for item in items:
            print(f"claimed {item.id}", flush=True)
        return items


async def drain_once(
    url: str, schema: str | None, smtp_port: int, now: datetime, worker: str, lease: float
) -> int:
    """One drain at `now`; returns how many rows were delivered (if the process lives that long)."""
    database = await Database.connect(url, schema=schema)
    people = role_directory()

    async def load_directory() -> Directory:
        return people

    service = ChallengeService(
        [load_policy("durham"), load_policy("rochdale")],
        ChallengeRepository(database, clock=lambda: now),
        load_directory,
        clock=lambda: now,
    )
    mailer = Mailer(MailSettings(host="127.0.0.1", port=smtp_port, sender=SENDER, starttls=False))
    notifier = Notifier(
        service,
        _AnnouncingOutbox(database),
        teams=None,
        mailer=mailer,
        worker_id=worker,
        lease_seconds=lease,
        concurrency=1,
    )
    try:
        report = await notifier.drain(now)
    finally:
        await database.dispose()
    print(f"delivered {report.delivered}", flush=True)
    return report.delivered


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--url", required=True)
    parser.add_argument("--schema")
    parser.add_argument("--smtp-port", type=int, required=True)
    parser.add_argument("--now", type=datetime.fromisoformat, required=True)
    parser.add_argument("--worker", required=True)
    parser.add_argument("--lease", type=float, default=120.0)
    args = parser.parse_args()
    asyncio.run(drain_once(args.url, args.schema, args.smtp_port, args.now, args.worker, args.lease))
    return 0


if __name__ == "__main__":
    sys.exit(main())
