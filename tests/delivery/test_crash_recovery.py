"""A worker killed between claim and send: its rows are delivered after its lease runs out, each exactly once.

A real process (`tests.delivery.doomed_worker`, the project's own notifier and mailer) claims every queued
row of two challenges and sends them one at a time to a real SMTP server in the test. The server accepts the
first messages and holds the next one open; while the worker waits for the answer the test kills it with
SIGKILL. Another notifier then runs at the instant the scheduler says to wake (the end of the dead worker's
lease) and delivers the rest. The server's accepted messages are counted per outbox row: none lost, none
twice. On SQLite (a file shared by both processes) and on PostgreSQL.
"""

from __future__ import annotations

import asyncio
import os
import signal
import sys
from collections import Counter
from dataclasses import dataclass, field
from datetime import timedelta
from email import message_from_bytes
from email.message import Message
from pathlib import Path
from typing import Any

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, Envelope, Session

from bot.mailer import Mailer, MailSettings
from process.policy import Role
from storage.db import Database
from storage.outbox import DeliveryStatus, OutboxItem
from tests.delivery.conftest import MovableClock, build_delivery, free_port, wait_until
from tests.support.database import PostgresTarget
from tests.support.people import holder, raise_request

REPO = Path(__file__).resolve().parents[2]
LEASE_SECONDS = 120.0
#: Messages the server accepts from the doomed worker before it holds one open.
ACCEPTED_BEFORE_KILL = 2


@dataclass
class HoldingCollector:
    """An SMTP handler that accepts `allow` messages, then (while `holding`) never answers the next DATA."""

    allow: int
    holding: bool = True
    accepted: list[tuple[list[str], Message]] = field(default_factory=list)
    held: int = 0

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        if self.holding and len(self.accepted) >= self.allow:
            self.held += 1
            await asyncio.Event().wait()  # until the client's connection drops (or the server stops)
        message = message_from_bytes(envelope.original_content or b"")
        self.accepted.append((list(envelope.rcpt_tos), message))
        return "250 Message accepted for delivery"


@dataclass
class Target:
    """Where the two processes meet: a URL (and PostgreSQL schema) and this process's connection."""

    url: str
    schema: str | None
    database: Database


@pytest.fixture
def holding_smtp() -> Any:
    collector = HoldingCollector(allow=ACCEPTED_BEFORE_KILL)
    port = free_port()
    controller = Controller(collector, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        yield collector, port
    finally:
        controller.stop()


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def target(request: pytest.FixtureRequest) -> Target:
    """The test's migrated database, and how another process reaches the same tables."""
    if request.param == "postgresql":
        pg: PostgresTarget = request.getfixturevalue("postgres_target")
        return Target(pg.url, pg.schema, request.getfixturevalue("postgres_database"))
    database: Database = request.getfixturevalue("sqlite_database")
    return Target(database.engine.url.render_as_string(hide_password=False), None, database)


async def _doomed_worker(target: Target, smtp_port: int, clock: MovableClock) -> asyncio.subprocess.Process:
    arguments = ["--url", target.url, "--smtp-port", str(smtp_port), "--now", clock.now.isoformat()]
    arguments += ["--worker", "doomed", "--lease", str(LEASE_SECONDS)]
    if target.schema is not None:
        arguments += ["--schema", target.schema]
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    return await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "tests.delivery.doomed_worker",
        *arguments,
        cwd=REPO,
        env=env,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )


async def test_a_worker_killed_mid_send_leaves_no_notification_lost_or_sent_twice(
    target: Target, holding_smtp: tuple[HoldingCollector, int]
) -> None:
    smtp, port = holding_smtp
    clock = MovableClock()
    raising = build_delivery(target.database, clock, worker_id="raising")
    challenge_ids = []
    for partnership in ("durham", "rochdale"):
        decision = await raising.service.raise_challenge(
            holder(partnership, Role.RAISER), partnership, raise_request(partnership)
        )
        challenge_ids.append(decision.challenge.id)

    async def rows() -> list[OutboxItem]:
        return [row for cid in challenge_ids for row in await raising.outbox.for_challenge(cid)]

    queued = await rows()
    assert len(queued) > ACCEPTED_BEFORE_KILL + 1

    process = await _doomed_worker(target, port, clock)
    try:
        await wait_until(lambda: smtp.held == 1 or process.returncode is not None, within=60.0)
        assert smtp.held == 1, "the worker ended before the held send"
        before_kill = await rows()
    finally:
        if process.returncode is None:
            process.send_signal(signal.SIGKILL)
        stdout, stderr = await process.communicate()
    assert process.returncode == -signal.SIGKILL, stderr.decode()

    # The worker claimed every row; it had sent two, recorded both, and was waiting on the third.
    claimed = {int(line.split()[1]) for line in stdout.decode().splitlines() if line.startswith("claimed ")}
    assert claimed == {row.id for row in queued}
    statuses = Counter(row.status for row in before_kill)
    assert statuses == {
        DeliveryStatus.DELIVERED: ACCEPTED_BEFORE_KILL,
        DeliveryStatus.SENDING: len(queued) - ACCEPTED_BEFORE_KILL,
    }
    assert {row.claimed_by for row in before_kill} == {"doomed"}
    assert len(smtp.accepted) == ACCEPTED_BEFORE_KILL

    smtp.holding = False
    survivor = build_delivery(
        target.database,
        clock,
        mailer=Mailer(MailSettings("127.0.0.1", port, "challenges@partnership.example", starttls=False)),
        worker_id="survivor",
    )
    killed_at = clock.now
    # The scheduler wakes when the dead worker's lease runs out, not at the next reminder hours later.
    assert await survivor.scheduler.next_wake() == killed_at + timedelta(seconds=LEASE_SECONDS)
    clock.now = killed_at + timedelta(seconds=LEASE_SECONDS - 1)
    assert (await survivor.notifier.drain()).delivered == 0  # still leased to the dead worker

    clock.now = killed_at + timedelta(seconds=LEASE_SECONDS)
    report = await survivor.scheduler.run_once()
    assert report.delivery.delivered == len(queued) - ACCEPTED_BEFORE_KILL
    assert report.delivery.failed == 0 and report.delivery.lost_claims == 0

    after = await rows()
    assert {row.status for row in after} == {DeliveryStatus.DELIVERED}
    # Sent by the dead worker: one attempt; claimed by it, then sent after the restart: two.
    attempts = Counter(row.attempts for row in after)
    assert attempts == {1: ACCEPTED_BEFORE_KILL, 2: len(queued) - ACCEPTED_BEFORE_KILL}
    # What the mail server accepted, per outbox row (recipient, reference): every row exactly once.
    accepted = Counter((rcpts[0], str(m["Subject"]).split(":")[0]) for rcpts, m in smtp.accepted)
    expected = Counter((row.notification.recipient.email, row.notification.reference) for row in after)
    assert accepted == expected
    assert len(smtp.accepted) == len(queued)
    assert max(accepted.values()) == 1
