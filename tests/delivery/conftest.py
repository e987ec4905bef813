"""Delivery tests: the real engine and database, a movable clock, a fake connector, a real SMTP server."""

from __future__ import annotations

import asyncio
import random
import socket
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from datetime import datetime
from email import message_from_bytes
from email.message import Message
from pathlib import Path
from typing import Any

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, Envelope, Session

from bot.mailer import Mailer, MailSettings
from bot.notifier import GCC_SERVICE_URL, Notifier, TeamsChannel
from bot.scheduler import Scheduler
from dialogs.service import ChallengeService
from process.directory import Directory
from process.policy import load_policy
from storage.challenges import ChallengeRepository
from storage.conversations import ConversationStore
from storage.db import Database
from storage.migrate import upgrade_database
from storage.outbox import Outbox
from tests.support.people import MONDAY_MORNING, role_directory


class MovableClock:
    """The injected clock: tests set `now` to move time forward."""

    def __init__(self, now: datetime = MONDAY_MORNING) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now


class _Collector:
    def __init__(self) -> None:
        self.messages: list[tuple[list[str], Message]] = []

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        content = envelope.original_content or b""
        self.messages.append((list(envelope.rcpt_tos), message_from_bytes(content)))
        return "250 Message accepted for delivery"


@dataclass
class SmtpServer:
    """A real SMTP server (aiosmtpd) on loopback, keeping what it accepts."""

    host: str
    port: int
    collector: _Collector

    @property
    def messages(self) -> list[tuple[list[str], Message]]:
        return self.collector.messages

    def settings(self) -> MailSettings:
        return MailSettings(
            host=self.host, port=self.port, sender="challenges@partnership.example", starttls=False
        )


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
def smtp_server() -> Any:
    collector = _Collector()
    port = free_port()
    controller = Controller(collector, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        yield SmtpServer("127.0.0.1", port, collector)
    finally:
        controller.stop()


@dataclass
class Delivery:
    """One bot's delivery side over one database: service, outbox, notifier and scheduler."""

    database: Database
    clock: MovableClock
    service: ChallengeService
    outbox: Outbox
    conversations: ConversationStore
    notifier: Notifier
    scheduler: Scheduler
    extras: dict[str, Any] = field(default_factory=dict)


def build_delivery(
    database: Database,
    clock: MovableClock,
    *,
    directory: Directory | None = None,
    mailer: Mailer | None = None,
    teams_adapter: Any = None,
    worker_id: str = "worker-1",
    app_id: str | None = None,
    rng: random.Random | None = None,
    gcc_service_url: str | None = None,
) -> Delivery:
    """Wire the delivery side the way the bot does, with the test's clock, directory and channels."""
    people = directory or role_directory()

    async def load_directory() -> Directory:
        return people

    policies = [load_policy("durham"), load_policy("rochdale")]
    repository = ChallengeRepository(database, clock=clock)
    service = ChallengeService(policies, repository, load_directory, clock=clock)
    outbox = Outbox(database)
    conversations = ConversationStore(database, clock=clock)
    teams = (
        TeamsChannel(teams_adapter, conversations, app_id, gcc_service_url=gcc_service_url or GCC_SERVICE_URL)
        if teams_adapter is not None
        else None
    )
    notifier = Notifier(service, outbox, teams=teams, mailer=mailer, worker_id=worker_id, rng=rng)
    scheduler = Scheduler(service, notifier, worker_id=worker_id)
    return Delivery(database, clock, service, outbox, conversations, notifier, scheduler)


@pytest.fixture
async def sqlite_database(tmp_path: Path) -> AsyncIterator[Database]:
    database = await Database.connect(f"sqlite+aiosqlite:///{tmp_path / 'bot.db'}")
    await upgrade_database(database)
    try:
        yield database
    finally:
        await database.dispose()


@pytest.fixture
def clock() -> MovableClock:
    return MovableClock()


@pytest.fixture
def delivery_factory(sqlite_database: Database, clock: MovableClock) -> Callable[..., Delivery]:
    def make(**options: Any) -> Delivery:
        return build_delivery(sqlite_database, clock, **options)

    return make


async def wait_until(predicate: Callable[[], bool], within: float = 10.0) -> None:
    """Wait (polling briefly) until `predicate()` holds, for effects of another task or process."""
    async with asyncio.timeout(within):
        while not predicate():  # noqa: ASYNC110 - the condition is another process's effect, not an event
            await asyncio.sleep(0.02)
