"""`challenge-bot tick --now ...` as the operator runs it: a process of its own against a prepared database.

The test raises a Durham challenge in the demo directory (Alex Wilber challenges Megan Bowen), stores
Megan's 1:1 chat with the bot (its service URL is the fake Bot Connector), and runs the command at the
reminder and then at the deadline, with SMTP pointed at a real mail server on loopback. The command's exit
code and summary line are checked, and who was told what through which channel.
"""

from __future__ import annotations

import asyncio
import os
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

from sqlalchemy import select

from dialogs.service import ChallengeService
from process.challenge import NotificationKind
from process.directory import Directory
from process.directory_file import load_directory_file
from process.policy import load_policy
from storage.challenges import ChallengeRepository
from storage.conversations import ConversationStore
from storage.crypto import KEY_ENV
from storage.db import Database
from storage.directory import DirectoryStore
from storage.drafts import DraftChild, DraftStore
from storage.migrate import upgrade_database
from storage.outbox import DeliveryStatus, Outbox, OutboxItem
from storage.schema import draft_child_details
from tests.delivery.conftest import MovableClock, SmtpServer
from tests.fakes.connector import FakeConnector
from tests.support.keys import TEST_DATA_KEY
from tests.support.people import raise_request

REPO = Path(__file__).resolve().parents[2]
PLAYGROUND_TENANT = "00000000-0000-0000-0000-0000000000001"
MEGAN_AAD = "00000000-0000-0000-0000-0000000000021"
ALEX_AAD = "00000000-0000-0000-0000-0000000000020"
ADELE_AAD = "00000000-0000-0000-0000-0000000000022"


async def _run_tick(env: dict[str, str], *arguments: str) -> tuple[int, str, str]:
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "bot",
        "tick",
        *arguments,
        cwd=REPO,
        env=env,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    async with asyncio.timeout(120):
        stdout, stderr = await process.communicate()
    assert process.returncode is not None
    return process.returncode, stdout.decode(), stderr.decode()


def _environment(database_url: str, smtp: SmtpServer) -> dict[str, str]:
    """Only what the command needs: no Microsoft App ID (local mode), the database, plain SMTP on loopback."""
    return {
        "PATH": os.environ.get("PATH", ""),
        "HOME": os.environ.get("HOME", str(REPO)),
        KEY_ENV: TEST_DATA_KEY,
        "PYTHONPATH": str(REPO),
        "DATABASE_URL": database_url,
        "SMTP_HOST": smtp.host,
        "SMTP_PORT": str(smtp.port),
        "SMTP_FROM": "challenges@partnership.example",
        "SMTP_STARTTLS": "false",
    }


async def _prepare(database_url: str, service_url: str) -> str:
    """A migrated database with the demo directory, Megan's chat with the bot and one raised challenge."""
    database = await Database.connect(database_url)
    try:
        await upgrade_database(database)
        await DirectoryStore(database).replace_all(load_directory_file())
        await ConversationStore(database).save(
            {
                "bot": {"id": "28:challenge-bot", "name": "Challenge bot"},
                "user": {"id": f"29:{MEGAN_AAD}", "aadObjectId": MEGAN_AAD},
                "conversation": {
                    "id": "a:megan",
                    "conversationType": "personal",
                    "tenantId": PLAYGROUND_TENANT,
                },
                "channelId": "msteams",
                "serviceUrl": service_url,
            }
        )
        clock = MovableClock()  # Monday 23 November 2026, 10:00
        directories = DirectoryStore(database)

        async def load_directory() -> Directory:
            return await directories.load()

        service = ChallengeService(
            [load_policy("durham"), load_policy("rochdale")],
            ChallengeRepository(database, clock=clock),
            load_directory,
            clock=clock,
        )
        request = raise_request(
            "durham", challenged_agency_id="health_visiting", challenged_person_id="megan"
        )
        decision = await service.raise_challenge("alex", "durham", request)
        return decision.challenge.id
    finally:
        await database.dispose()


async def _rows(database_url: str, challenge_id: str) -> list[OutboxItem]:
    database = await Database.connect(database_url)
    try:
        return await Outbox(database).for_challenge(challenge_id)
    finally:
        await database.dispose()


def _told(rows: list[OutboxItem], kind: NotificationKind) -> dict[str, str | None]:
    """Who was told of `kind`, and through which channel."""
    return {
        (row.notification.recipient.person_id or row.notification.recipient.name): row.channel
        for row in rows
        if row.notification.kind is kind and row.status is DeliveryStatus.DELIVERED
    }


async def test_tick_command_reminds_then_breaches_and_tells_the_right_people(
    tmp_path: Path, fake_connector: FakeConnector, smtp_server: SmtpServer
) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path / 'operator.db'}"
    challenge_id = await _prepare(url, fake_connector.service_url)
    env = _environment(url, smtp_server)

    code, out, err = await _run_tick(env, "--now", "2026-11-23T17:00:00+00:00")
    assert code == 0, err
    assert out.startswith("reminders=1 deadlines=0 conflicts=0 delivered="), out
    rows = await _rows(url, challenge_id)
    # Megan through her stored 1:1 chat; the QRT mailbox (no Teams) by email.
    assert _told(rows, NotificationKind.RAISED) == {"megan": "teams"}
    assert _told(rows, NotificationKind.COPIED_IN) == {"Business Manager for QRT": "email"}
    assert _told(rows, NotificationKind.REMINDER) == {"megan": "teams"}
    assert {row.status for row in rows} == {DeliveryStatus.DELIVERED}
    teams, email = sum(r.channel == "teams" for r in rows), sum(r.channel == "email" for r in rows)
    assert f"delivered={len(rows)} (teams={teams} email={email}) retried=0 failed=0" in out
    megan_chat = [r for r in fake_connector.requests if r.conversation_id == "a:megan"]
    assert len(megan_chat) == 2  # the new challenge and the reminder, each once

    code, out, err = await _run_tick(env, "--now", "2026-11-24T17:00")  # naive: UTC
    assert code == 0, err
    assert out.startswith("reminders=0 deadlines=1 conflicts=0"), out
    rows = await _rows(url, challenge_id)
    # Durham's stage 1 deadline is put to the IRO (5.2: the IRO decides whether to instigate Stage 2): Alex is
    # asked to decide, Megan's line manager (Adele) is told it may come to her, Megan that the deadline passed.
    # Alex and Adele never wrote to the bot: each gets a new 1:1 chat in the Playground tenant (the service URL
    # is the one Megan's chat uses there).
    assert _told(rows, NotificationKind.ESCALATION_DECISION_NEEDED) == {"alex": "teams"}
    assert _told(rows, NotificationKind.COMING_TO_YOU) == {"adele": "teams"}
    assert _told(rows, NotificationKind.DEADLINE_PASSED) == {"megan": "teams"}
    assert not _told(rows, NotificationKind.ESCALATED)
    created = [r for r in fake_connector.requests if r.operation == "create_conversation"]
    members = sorted(r.body["members"][0]["aadObjectId"] for r in created)
    assert members == sorted([ALEX_AAD, ADELE_AAD])
    megan_chat = [r for r in fake_connector.requests if r.conversation_id == "a:megan"]
    assert len(megan_chat) == 3  # raised, reminder, deadline passed: each once
    assert "delivered=3 (teams=3 email=0) retried=0 failed=0" in out
    assert {row.status for row in rows} == {DeliveryStatus.DELIVERED}
    emailed = {rcpt for rcpts, _ in smtp_server.messages for rcpt in rcpts}
    assert emailed == {row.notification.recipient.email for row in rows if row.channel == "email"}
    for _, message in smtp_server.messages:
        body = str(message.get_payload(decode=True))
        assert "Jordan" not in body and "INV-0001" not in body

    code, out, err = await _run_tick(env, "--now", "Tuesday at five")
    assert code == 2
    assert "argument --now: 'Tuesday at five' is not an ISO-8601 instant" in err
    assert "Traceback" not in err and out == ""


async def test_tick_command_reports_naive_now_as_utc_and_exits_zero_with_nothing_due(
    tmp_path: Path, smtp_server: SmtpServer
) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path / 'empty.db'}"
    database = await Database.connect(url)
    await upgrade_database(database)
    await database.dispose()
    code, out, err = await _run_tick(_environment(url, smtp_server), "--now", "2026-11-24T17:00")
    assert code == 0, err
    assert out.strip() == (
        "reminders=0 deadlines=0 conflicts=0 delivered=0 (teams=0 email=0) retried=0 failed=0 reported=0 "
        "emailed_instead_of_teams=0 drafts_expired=0"
    )


def test_now_instants_parse_naive_as_utc() -> None:
    from bot.cli import build_parser

    args = build_parser().parse_args(["tick", "--now", "2026-11-24T17:00"])
    assert args.now == datetime.fromisoformat("2026-11-24T17:00:00+00:00")


async def test_tick_command_expires_unfinished_forms_and_deletes_their_child(
    tmp_path: Path, smtp_server: SmtpServer
) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path / 'drafts.db'}"
    database = await Database.connect(url)
    await upgrade_database(database)
    drafts = DraftStore(database)
    started = datetime(2026, 11, 23, 10, 0, tzinfo=UTC)
    draft, _ = await drafts.start("alex", "child", started, timedelta(hours=24))
    child = DraftChild(name="Ffion Tickchild", date_of_birth="2019-03-14", agency_reference="T-1")
    await drafts.advance(draft, verb="raise.next", step="challenged", answers={}, child=child, now=started)
    await database.dispose()
    env = _environment(url, smtp_server)
    code, out, err = await _run_tick(env, "--now", "2026-11-24T09:59")
    assert code == 0, err
    assert out.strip().endswith("drafts_expired=0")
    code, out, err = await _run_tick(env, "--now", "2026-11-24T10:01")
    assert code == 0, err
    assert out.strip().endswith("drafts_expired=1")
    database = await Database.connect(url)
    try:
        async with database.reading() as conn:
            assert (await conn.execute(select(draft_child_details))).all() == []
    finally:
        await database.dispose()
