"""The real bot as a process of its own, the load Teams would put on it, and the ledger that proves nothing
was lost or sent twice across kills and database restarts.

`BotProcess` runs `python -m bot serve` (what `challenge-bot serve` runs) in local mode against a database URL,
with the invented demo directory, a trial's shared clock (TRIAL_CLOCK_FILE, so deadlines can be made due), a
fake Bot Connector (`tests.fakes.connector`, the `serviceUrl` of every activity) and a real SMTP server on
loopback that keeps what it accepts.

`Load` posts activities to the process's endpoint as Teams posts them (`tests.fakes.activities.make_activity`):
every demo person installs the bot first (so each has a 1:1 conversation the notifier continues), then Alex
raises Durham challenges through the raising form, step by step, and escalates raised ones with the card's
button. An action is *acknowledged* only when the HTTP answer carried the bot's confirmation: the challenge
card with its reference after "Confirm and raise", the card at stage 2 after "Escalate". Anything else (the
connection dropped, an apology) is not, and the person would try again.

`Ledger` counts what the fake connector and the mail server received, per (channel, recipient, reference),
against the outbox rows marked delivered. A notification is keyed by its reference, not by its words, because
a row sent again after a kill is worded at the later instant. Kills and database outages are recorded as they
happen: a row whose message had reached Teams or the mail server while the row was still `sending` (the
process died, or the database went away, between the send and marking it delivered) will be sent again when its
lease runs out, since Teams has no idempotency key. The ledger counts these as *window repeats*, each one tied
to a row seen in that state; any other extra message is an unexplained duplicate, and any missing one a loss.
"""

from __future__ import annotations

import asyncio
import json
import os
import random
import re
import signal
import socket
import sys
import time
import uuid
from collections import Counter
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from email import message_from_bytes
from pathlib import Path
from typing import Any

import aiohttp
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, Envelope, Session
from sqlalchemy import func, select, text
from sqlalchemy.engine import make_url

from cards import verbs as v
from process.directory_file import DEMO_DIRECTORY, load_directory_file
from storage.clock import SharedClock
from storage.db import Database
from storage.migrate import upgrade
from storage.schema import audit_events, challenges, outbox
from storage.schema import challenges as challenges_table
from tests.fakes.activities import make_activity
from tests.fakes.connector import FakeConnector
from tests.support.database import POSTGRES_URL, postgres_unavailable, reachable
from tests.teams.harness import DURHAM_FORM_STEPS, execute_data, texts, verbs

REPO = Path(__file__).resolve().parents[2]
START_TIMEOUT_SECONDS = 40.0
#: A notification's subject starts with its challenge's reference (a pattern alert's, with a partnership's).
_REFERENCE = re.compile(r"^([A-Z]+-\d{4}-\d{4}): ")
_ANY_PREFIX = re.compile(r"^([^:]+): ")
_STEP_INPUTS = dict(DURHAM_FORM_STEPS)
_PEOPLE = load_directory_file().people
#: Durham professionals of agencies other than the one challenged, who raise the load's challenges.
RAISERS = ("alex", "lynne", "patti")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class MailServer:
    """A real SMTP server (aiosmtpd) on loopback keeping (recipient, subject) of every message it accepts."""

    def __init__(self) -> None:
        self.port = free_port()
        self.accepted: list[tuple[str, str]] = []
        self._controller = Controller(self, hostname="127.0.0.1", port=self.port)

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        message = message_from_bytes(envelope.original_content or b"")
        for recipient in envelope.rcpt_tos:
            self.accepted.append((recipient, str(message["Subject"])))
        return "250 Message accepted for delivery"

    def start(self) -> None:
        self._controller.start()

    def stop(self) -> None:
        self._controller.stop()


@dataclass
class BotProcess:
    """One `challenge-bot serve` process; `start` waits for `/readyz`, `kill` sends SIGKILL."""

    workdir: Path
    database_url: str
    clock_file: Path
    mail_port: int
    name: str = "bot"
    port: int = field(default_factory=free_port)
    process: asyncio.subprocess.Process | None = None
    starts: int = 0

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def log_file(self) -> Path:
        return self.workdir / f"{self.name}.log"

    def env(self) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith("Microsoft")}
        env.update(
            PORT=str(self.port),
            DATABASE_URL=self.database_url,
            TRIAL_CLOCK_FILE=str(self.clock_file),
            DIRECTORY_FILE=str(DEMO_DIRECTORY),
            PYTHONUNBUFFERED="1",
            PYTHONPATH=str(REPO),
            SMTP_HOST="127.0.0.1",
            SMTP_PORT=str(self.mail_port),
            SMTP_STARTTLS="false",
            SMTP_FROM="challenges@partnership.example",
        )
        return env

    async def start(self, *, wait_ready: bool = True) -> None:
        self.workdir.mkdir(parents=True, exist_ok=True)
        with self.log_file.open("ab") as log:
            log.write(f"--- start {self.starts + 1}\n".encode())
            log.flush()
            self.process = await asyncio.create_subprocess_exec(
                sys.executable, "-m", "bot", "serve", cwd=REPO, env=self.env(), stdout=log, stderr=log
            )
        self.starts += 1
        if wait_ready:
            await self.wait_ready()

    async def wait_ready(self, within: float = START_TIMEOUT_SECONDS) -> None:
        deadline = time.monotonic() + within
        async with aiohttp.ClientSession() as session:
            while time.monotonic() < deadline:
                if self.process is not None and self.process.returncode is not None:
                    raise RuntimeError(
                        f"{self.name} exited with {self.process.returncode}:\n{self.log_tail()}"
                    )
                if await readyz(session, self.base) == 200:
                    return
                await asyncio.sleep(0.1)
        raise RuntimeError(f"{self.name} not ready after {within:.0f} s:\n{self.log_tail()}")

    @property
    def worker_id(self) -> str:
        """The deadline clock's worker id in this process (`bot.wiring.worker_name("bot")`)."""
        assert self.process is not None
        return f"bot-{socket.gethostname()}-{self.process.pid}"

    async def kill(self) -> None:
        """SIGKILL: no shutdown hook runs, no transaction finishes."""
        if self.process is not None and self.process.returncode is None:
            self.process.send_signal(signal.SIGKILL)
            await self.process.wait()

    async def stop(self) -> None:
        """SIGTERM, as a deployment stops it; SIGKILL if it has not ended within 30 s."""
        if self.process is None or self.process.returncode is not None:
            return
        self.process.send_signal(signal.SIGTERM)
        try:
            async with asyncio.timeout(30):
                await self.process.wait()
        except TimeoutError:
            await self.kill()

    def log_tail(self, chars: int = 4000) -> str:
        return self.log_file.read_text(errors="replace")[-chars:] if self.log_file.exists() else ""


async def readyz(session: aiohttp.ClientSession, base: str) -> int:
    """`/readyz`'s status, or 0 when nothing answers."""
    try:
        async with session.get(f"{base}/readyz", timeout=aiohttp.ClientTimeout(total=8)) as response:
            return response.status
    except (aiohttp.ClientError, TimeoutError):
        return 0


@dataclass(frozen=True)
class Answer:
    """What one POST got: the status (0: no answer at all) and the JSON body, if any."""

    status: int
    body: Any = None


@dataclass
class LoadFigures:
    """What the load did: acknowledged actions, and the HTTP answers it got by status."""

    raised: list[str] = field(default_factory=list)
    escalated: list[str] = field(default_factory=list)
    statuses: Counter[int] = field(default_factory=Counter)
    apologies: int = 0

    @property
    def acknowledged(self) -> int:
        return len(self.raised) + len(self.escalated)


class Load:
    """Demo people talking to one or more bot processes through their HTTP endpoints, as Teams would."""

    def __init__(self, connector: FakeConnector, rng: random.Random) -> None:
        self.connector = connector
        self.rng = rng
        self.figures = LoadFigures()
        self.directory = load_directory_file()
        #: Challenges raised and not yet escalated by this load, with who raised each.
        self._at_stage_1: list[tuple[str, str]] = []

    def activity(self, person_id: str, **kw: Any) -> dict[str, Any]:
        person = self.directory.people[person_id]
        aad = str(person.aad_object_id)
        return make_activity(
            service_url=self.connector.service_url,
            from_id=f"29:{aad}",
            from_name=person.name,
            aad_object_id=aad,
            conversation_id=conversation_of(aad),
            **kw,
        )

    async def post(self, session: aiohttp.ClientSession, base: str, activity: dict[str, Any]) -> Answer:
        try:
            async with session.post(
                f"{base}/api/messages", json=activity, timeout=aiohttp.ClientTimeout(total=30)
            ) as response:
                body = await response.json() if response.content_type == "application/json" else None
                answer = Answer(response.status, body)
        except (aiohttp.ClientError, TimeoutError, ValueError):
            answer = Answer(0)
        self.figures.statuses[answer.status] += 1
        if _is_apology(answer):
            self.figures.apologies += 1
        return answer

    async def install_everyone(self, session: aiohttp.ClientSession, base: str) -> None:
        """Every demo person installs the bot: the bot keeps each 1:1 conversation for notifications."""
        for person_id in self.directory.people:
            activity = self.activity(person_id, text=None, activity_type="conversationUpdate")
            activity["membersAdded"] = [{"id": activity["recipient"]["id"]}]
            answer = await self.post(session, base, activity)
            assert answer.status in (200, 201), f"install of {person_id}: {answer}"

    async def press(
        self,
        session: aiohttp.ClientSession,
        base: str,
        person_id: str,
        verb: str,
        data: dict[str, Any],
        **inputs: Any,
    ) -> dict[str, Any] | None:
        """Press a card button; the card answered, or None when the bot did not answer with one."""
        value = {
            "action": {"type": "Action.Execute", "verb": verb, "data": {**data, **inputs}},
            "trigger": "manual",
        }
        activity = self.activity(
            person_id, text=None, activity_type="invoke", name="adaptiveCard/action", value=value
        )
        answer = await self.post(session, base, activity)
        body = answer.body
        if answer.status != 200 or not isinstance(body, dict):
            return None
        if body.get("type") != "application/vnd.microsoft.card.adaptive":
            return None
        card: dict[str, Any] = body["value"]
        return card

    async def say(
        self, session: aiohttp.ClientSession, base: str, person_id: str, text: str
    ) -> dict[str, Any] | None:
        """Type `text`; the last card the bot posted back to this very message, if any."""
        activity = self.activity(person_id, text=text)
        answer = await self.post(session, base, activity)
        if answer.status not in (200, 201):
            return None
        replies = [
            r.body
            for r in self.connector.requests
            if r.operation == "reply_to_activity"
            and r.activity_id == activity["id"]
            and isinstance(r.body, dict)
        ]
        cards = [a["content"] for r in replies for a in r.get("attachments") or [] if isinstance(a, dict)]
        return cards[-1] if cards else None

    async def raise_one(self, session: aiohttp.ClientSession, base: str, raiser: str = "alex") -> str | None:
        """`raiser` raises a Durham challenge through the form; its reference when the bot confirmed it."""
        card = await self.say(session, base, raiser, "raise")
        for _ in range(12):
            if card is None:
                return None
            buttons = verbs(card)
            if v.RAISE_DISCARD in buttons:  # a form left open by an earlier attempt
                card = await self.press(
                    session, base, raiser, v.RAISE_DISCARD, execute_data(card, v.RAISE_DISCARD)
                )
            elif v.RAISE_NEXT in buttons:
                data = execute_data(card, v.RAISE_NEXT)
                card = await self.press(
                    session, base, raiser, v.RAISE_NEXT, data, **_STEP_INPUTS[data["step"]]
                )
            elif v.RAISE_CONFIRM in buttons:
                card = await self.press(
                    session, base, raiser, v.RAISE_CONFIRM, execute_data(card, v.RAISE_CONFIRM)
                )
                found = re.search(r"\bDUR-\d{4}-\d{4}\b", texts(card)) if card is not None else None
                if card is None or found is None or v.ESCALATE not in verbs(card):
                    return None
                reference = found.group(0)
                self.figures.raised.append(reference)
                self._at_stage_1.append((raiser, reference))
                return reference
            else:
                return None
        return None

    async def escalate_one(self, session: aiohttp.ClientSession, base: str) -> str | None:
        """The raiser of a challenge raised earlier escalates it; its reference when the bot confirmed stage 2."""
        if not self._at_stage_1:
            return None
        raiser, reference = self._at_stage_1.pop(self.rng.randrange(len(self._at_stage_1)))
        card = await self.press(session, base, raiser, v.SHOW, {"reference": reference})
        if card is None or v.ESCALATE not in verbs(card) or _current_stage(card) != 1:
            return None
        card = await self.press(
            session, base, raiser, v.ESCALATE, execute_data(card, v.ESCALATE), reason="No answer in time."
        )
        if (
            card is None
            or _current_stage(card) != 2
            or reference not in texts(card)
            or "out of date" in texts(card)
        ):
            return None
        self.figures.escalated.append(reference)
        return reference

    async def run(self, bases: list[str], until: Callable[[], bool], workers: int = 3) -> None:
        """Raise and escalate, `workers` people at a time (each their own raiser: one raising form is open per
        person), spread over `bases`, until `until()` holds."""

        async def worker(n: int) -> None:
            raiser = RAISERS[n % len(RAISERS)]
            async with aiohttp.ClientSession() as session:
                while not until():
                    base = bases[(n + self.rng.randrange(len(bases))) % len(bases)]
                    if self._at_stage_1 and self.rng.random() < 0.3:
                        done = await self.escalate_one(session, base)
                    else:
                        done = await self.raise_one(session, base, raiser)
                    # Not acknowledged (the bot is down, say): the person waits a moment and tries again.
                    await asyncio.sleep(0 if done is not None else 0.05)

        await asyncio.gather(*(worker(n) for n in range(workers)))


def _current_stage(card: dict[str, Any]) -> int | None:
    """The stage a challenge card shows the challenge at: its first "Stage N of M" (later ones describe the
    stages to come, such as the one an escalation would move it to)."""
    found = re.search(r"\bStage (\d+) of \d+", texts(card))
    return int(found.group(1)) if found else None


def conversation_of(aad_object_id: str) -> str:
    return f"a:personal-{aad_object_id}"


def _is_apology(answer: Answer) -> bool:
    body = answer.body
    return isinstance(body, dict) and body.get("type") == "application/vnd.microsoft.error"


@dataclass
class Ledger:
    """Messages received against outbox rows delivered, keyed (channel, recipient, reference)."""

    connector: FakeConnector
    mail: MailServer
    #: Rows whose message had been received while they were still `sending` when their worker died.
    window_repeats: Counter[tuple[str, str, str]] = field(default_factory=Counter)
    kills: int = 0

    def received(self) -> Counter[tuple[str, str, str]]:
        """Every notification Teams (the fake connector) and the mail server took, by key."""
        by_conversation = {conversation_of(str(p.aad_object_id)): p.id for p in _PEOPLE.values()}
        got: Counter[tuple[str, str, str]] = Counter()
        for request in self.connector.requests:
            if (
                request.operation not in ("send_to_conversation", "reply_to_activity")
                or request.status >= 300
            ):
                continue
            summary = request.body.get("summary") if isinstance(request.body, dict) else None
            if not isinstance(summary, str) or (prefix := _ANY_PREFIX.match(summary)) is None:
                continue  # a turn's own answer (a card in reply to a message), not a notification
            person = by_conversation.get(str(request.conversation_id), str(request.conversation_id))
            got["teams", person, _key_of(prefix.group(1))] += 1
        for recipient, subject in self.mail.accepted:
            found = _ANY_PREFIX.match(subject)
            got["email", recipient, _key_of(found.group(1) if found else subject)] += 1
        return got

    async def rows(self, database: Database) -> list[dict[str, Any]]:
        async with database.reading() as conn:
            return [dict(r._mapping) for r in await conn.execute(select(outbox).order_by(outbox.c.id))]

    async def note_interruption(
        self, database: Database, worker_ids: set[str] | None = None, claimed_before: datetime | None = None
    ) -> int:
        """After a kill (or a database outage): rows still `sending` whose message was already received will
        be sent again. Only rows claimed by `worker_ids` (the dead process) or before `claimed_before` (the
        database's return: their worker could not mark them) count. Counted once each; returns how many this
        interruption left."""
        await asyncio.sleep(0.3)  # let what the dead process had sent reach the fakes
        rows = await self.rows(database)
        delivered = Counter(_row_key(r) for r in rows if r["status"] == "delivered")
        sending = Counter(
            _row_key(r)
            for r in rows
            if r["status"] == "sending"
            and (worker_ids is None or r["claimed_by"] in worker_ids)
            and (claimed_before is None or r["updated_at"] <= claimed_before)
        )
        received = self.received()
        added = 0
        for key, pending in sending.items():
            extra = received[key] - delivered[key] - self.window_repeats[key]
            repeat = max(0, min(extra, pending))
            self.window_repeats[key] += repeat
            added += repeat
        return added

    async def check(self, database: Database) -> Verdict:
        """Every row delivered and its message received (none lost); any message beyond those is a repeat
        the window allows (a row seen `sending` with its message already taken when its worker died or the
        database went) or else a duplicate. A window row may still be recorded without being sent again
        (the notifier records a delivery once the database is back), so the window allows repeats, it does
        not require them."""
        rows = await self.rows(database)
        undelivered = [r["id"] for r in rows if r["status"] != "delivered"]
        delivered = Counter(_row_key(r) for r in rows if r["status"] == "delivered")
        received = self.received()
        lost = delivered - received
        extra = received - delivered
        duplicated = extra - self.window_repeats
        return Verdict(
            rows=len(rows),
            undelivered=undelivered,
            lost=dict(lost),
            duplicated=dict(duplicated),
            window_repeats=sum((extra - duplicated).values()),
        )


@dataclass(frozen=True)
class Verdict:
    rows: int
    undelivered: list[int]
    lost: dict[tuple[str, str, str], int]
    duplicated: dict[tuple[str, str, str], int]
    window_repeats: int

    @property
    def clean(self) -> bool:
        return not self.undelivered and not self.lost and not self.duplicated


def _key_of(prefix: str) -> str:
    return prefix if _REFERENCE.match(prefix + ": ") else "pattern"


def _row_key(row: dict[str, Any]) -> tuple[str, str, str]:
    recipient = row["recipient"]
    if isinstance(recipient, str):
        recipient = json.loads(recipient)
    reference = "pattern" if row["kind"] == "pattern_alert" else str(row["reference"])
    person = _PEOPLE.get(str(recipient.get("person_id")))
    # A row not yet delivered has no channel: Teams for a person signed in to it (the fake connector takes
    # every message), email for a mailbox.
    channel = row["channel"] or ("teams" if person is not None and person.aad_object_id else "email")
    if channel == "teams":
        return "teams", str(recipient.get("person_id")), reference
    email = recipient.get("email") or (person.email if person is not None else None)
    return "email", str(email), reference


async def acknowledged_losses(database: Database, figures: LoadFigures) -> list[str]:
    """Acknowledged actions the database does not hold: raised references missing, escalations without their
    event."""
    async with database.reading() as conn:
        stored = {
            row.reference: row.id
            for row in await conn.execute(select(challenges.c.reference, challenges.c.id))
        }
        escalated = {
            row.challenge_id
            for row in await conn.execute(
                select(audit_events.c.challenge_id).where(audit_events.c.kind == "escalated")
            )
        }
    missing = [f"raised {ref}" for ref in figures.raised if ref not in stored]
    missing += [f"escalated {ref}" for ref in figures.escalated if stored.get(ref) not in escalated]
    return missing


async def audit_verify(database_url: str) -> tuple[int, str]:
    """`challenge-bot audit verify` against the database: its exit status and output."""
    env = {**os.environ, "DATABASE_URL": database_url, "PYTHONPATH": str(REPO)}
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "bot",
        "audit",
        "verify",
        cwd=REPO,
        env=env,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    out, _ = await process.communicate()
    assert process.returncode is not None
    return process.returncode, out.decode(errors="replace")


def advance(clock_file: Path, by: timedelta) -> None:
    SharedClock(clock_file).advance(by)


async def eventually(check: Callable[[], Awaitable[bool]], within: float, what: str) -> None:
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        if await check():
            return
        await asyncio.sleep(0.2)
    raise AssertionError(f"{what} did not happen within {within:.0f} s")


async def settle(
    bot: BotProcess,
    load: Load,
    clock_file: Path,
    database: Database,
    within: float = 120.0,
    *,
    lapse_leases: bool = True,
) -> None:
    """Let every notification due be delivered: with `lapse_leases`, the shared clock first moves 10 minutes on,
    so the leases a dead process (or a pass the database failed) left run out; the bot is restarted if it is
    not running, its deadline clock is woken by a change (one more raise), and the outbox is watched until
    nothing in it is unsent and no challenge is due.

    `within` is how long to wait before calling it a failure (it returns as soon as all is delivered): more than
    60 messages queued for one chat take at least 30 s more under Teams' limits (60 in 30 s a conversation), as
    after a load that ran while the database was away.

    Only move the clock when no other process is delivering: a lease it holds would lapse under it, and
    another process would send the same row again (a trial's clock is moved with one bot running)."""
    if lapse_leases:
        advance(clock_file, timedelta(minutes=10))
    if bot.process is None or bot.process.returncode is not None:
        await bot.start()
    async with aiohttp.ClientSession() as session:
        for _ in range(5):
            if await load.raise_one(session, bot.base) is not None:
                break

    async def quiet() -> bool:
        now = SharedClock(clock_file)()
        async with database.reading() as conn:
            statuses = [row.status for row in await conn.execute(select(outbox.c.status))]
            due = await conn.scalar(
                select(func.count())
                .select_from(challenges)
                .where(challenges.c.status == "open", challenges.c.next_due_at <= now)
            )
        return not due and all(status in ("delivered", "failed") for status in statuses)

    await eventually(
        quiet, within, "every due reminder and deadline applied and every notification delivered"
    )
    await asyncio.sleep(0.3)  # the last sends reach the fakes


async def create_database(server_url: str) -> str:
    """A new, empty PostgreSQL database on the server of `server_url`, for processes that take only a URL
    (a schema cannot be given to `challenge-bot serve`); its URL."""
    name = f"resil_{uuid.uuid4().hex[:12]}"
    admin = await Database.connect(server_url)
    try:
        async with admin.engine.connect() as conn:
            await conn.execution_options(isolation_level="AUTOCOMMIT")
            await conn.execute(text(f'CREATE DATABASE "{name}"'))
    finally:
        await admin.dispose()
    return make_url(server_url).set(database=name).render_as_string(hide_password=False)


async def drop_database(server_url: str, database_url: str) -> None:
    name = make_url(database_url).database
    admin = await Database.connect(server_url)
    try:
        async with admin.engine.connect() as conn:
            await conn.execution_options(isolation_level="AUTOCOMMIT")
            await conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    finally:
        await admin.dispose()


@asynccontextmanager
async def own_postgres_database() -> AsyncIterator[str]:
    """A migrated PostgreSQL database of its own on the test server (the bot takes a URL, not a schema),
    dropped afterwards; skipped where the server cannot be reached, failed under CI=true."""
    problem = await reachable(POSTGRES_URL)
    if problem is not None:
        postgres_unavailable(problem)
    url = await create_database(POSTGRES_URL)
    try:
        await upgrade(url)
        yield url
    finally:
        await drop_database(POSTGRES_URL, url)


@dataclass
class KillFigures:
    """What `kill_rounds` did and found."""

    rounds: int = 0
    kills: int = 0
    acknowledged: int = 0
    load: LoadFigures = field(default_factory=LoadFigures)
    verdict: Verdict | None = None
    acknowledged_lost: list[str] = field(default_factory=list)
    audit_status: int | None = None
    audit_output: str = ""
    seconds: float = 0.0

    def summary(self) -> str:
        verdict = self.verdict
        assert verdict is not None
        return (
            f"rounds={self.rounds} kills={self.kills} acknowledged={self.acknowledged} "
            f"(raised={len(self.load.raised)} escalated={len(self.load.escalated)}) "
            f"acknowledged_lost={len(self.acknowledged_lost)} notifications={verdict.rows} "
            f"undelivered={len(verdict.undelivered)} lost={sum(verdict.lost.values())} "
            f"duplicates={sum(verdict.duplicated.values())} window_repeats={verdict.window_repeats} "
            f"audit_verify={self.audit_status} http={dict(sorted(self.load.statuses.items()))} "
            f"apologies={self.load.apologies} seconds={self.seconds:.1f}"
        )


async def kill_rounds(
    database_url: str,
    workdir: Path,
    *,
    rounds: int,
    seed: int,
    min_gap: float = 0.3,
    max_gap: float = 2.5,
    settle_within: float = 30.0,
) -> KillFigures:
    """Run the bot under load and SIGKILL it `rounds` times at random instants (seeded), restarting it each
    time and moving the shared clock a day on so reminders and deadlines fall due; then let everything due be
    delivered and count."""
    started = time.monotonic()
    rng = random.Random(seed)
    clock_file = workdir / "clock.json"
    figures = KillFigures()
    mail = MailServer()
    mail.start()
    database = await Database.connect(database_url)
    try:
        async with FakeConnector() as connector:
            ledger = Ledger(connector, mail)
            load = Load(connector, rng)
            figures.load = load.figures
            bot = BotProcess(workdir, database_url, clock_file, mail.port)
            try:
                await bot.start()
                async with aiohttp.ClientSession() as session:
                    await load.install_everyone(session, bot.base)
                for _ in range(rounds):
                    if bot.process is None or bot.process.returncode is not None:
                        await bot.start()
                    stop = asyncio.Event()
                    before = load.figures.acknowledged
                    running = asyncio.create_task(load.run([bot.base], until=stop.is_set))
                    await asyncio.sleep(rng.uniform(min_gap, max_gap))
                    # Every round is under load: if nothing was acknowledged yet, the kill waits for something.
                    give_up = time.monotonic() + 15
                    while time.monotonic() < give_up and load.figures.acknowledged == before:  # noqa: ASYNC110
                        await asyncio.sleep(0.05)  # the load's progress is counted, not signalled
                    worker = bot.worker_id
                    await bot.kill()
                    stop.set()
                    await running
                    figures.kills += 1
                    figures.rounds += 1
                    await ledger.note_interruption(database, {worker})
                    advance(clock_file, timedelta(days=1))
                await settle(bot, load, clock_file, database, settle_within)
            finally:
                await bot.stop()
            figures.acknowledged = load.figures.acknowledged
            figures.verdict = await ledger.check(database)
            figures.acknowledged_lost = await acknowledged_losses(database, load.figures)
        figures.audit_status, figures.audit_output = await audit_verify(database_url)
    finally:
        await database.dispose()
        mail.stop()
    figures.seconds = time.monotonic() - started
    return figures


@dataclass
class RaceFigures:
    """What `racing_bots` did and found."""

    processes: int = 0
    load: LoadFigures = field(default_factory=LoadFigures)
    due_challenges: int = 0
    #: Clock actions applied more than once on one stage of one challenge (must be none).
    double_actions: list[str] = field(default_factory=list)
    #: How many outbox rows each process delivered.
    delivered_by: Counter[str] = field(default_factory=Counter)
    verdict: Verdict | None = None
    acknowledged_lost: list[str] = field(default_factory=list)
    audit_status: int | None = None
    audit_output: str = ""

    def summary(self) -> str:
        assert self.verdict is not None
        v = self.verdict
        return (
            f"processes={self.processes} acknowledged={self.load.acknowledged} due_at_once={self.due_challenges} "
            f"notifications={v.rows} delivered_by={sorted(self.delivered_by.values(), reverse=True)} "
            f"undelivered={len(v.undelivered)} lost={sum(v.lost.values())} duplicates={sum(v.duplicated.values())} "
            f"double_actions={len(self.double_actions)} acknowledged_lost={len(self.acknowledged_lost)} "
            f"audit_verify={self.audit_status}"
        )


async def racing_bots(
    database_url: str, workdir: Path, *, processes: int, challenges: int, seed: int
) -> RaceFigures:
    """`processes` bots on one database: challenges raised through all of them at once, then all stopped, the
    shared clock moved three days on (every challenge's reminder and deadline due at once), all started
    together and woken together by a raise each; then everything due is delivered and counted."""
    figures = RaceFigures(processes=processes)
    clock_file = workdir / "clock.json"
    mail = MailServer()
    mail.start()
    database = await Database.connect(database_url)
    try:
        async with FakeConnector() as connector:
            ledger = Ledger(connector, mail)
            load = Load(connector, random.Random(seed))
            figures.load = load.figures
            bots = [
                BotProcess(workdir, database_url, clock_file, mail.port, name=f"bot{n}")
                for n in range(processes)
            ]
            try:
                await asyncio.gather(*(bot.start() for bot in bots))
                async with aiohttp.ClientSession() as session:
                    await load.install_everyone(session, bots[0].base)
                await load.run(
                    [bot.base for bot in bots], until=lambda: len(load.figures.raised) >= challenges
                )
                await asyncio.gather(*(bot.stop() for bot in bots))
                advance(clock_file, timedelta(days=3))
                now = SharedClock(clock_file)()
                async with database.reading() as conn:
                    figures.due_challenges = int(
                        await conn.scalar(
                            select(func.count())
                            .select_from(challenges_table)
                            .where(challenges_table.c.status == "open", challenges_table.c.next_due_at <= now)
                        )
                        or 0
                    )
                await asyncio.gather(*(bot.start() for bot in bots))
                async with aiohttp.ClientSession() as session:
                    await asyncio.gather(
                        *(
                            load.raise_one(session, bot.base, RAISERS[n % len(RAISERS)])
                            for n, bot in enumerate(bots)
                        )
                    )
                await settle(bots[0], load, clock_file, database, within=60.0, lapse_leases=False)
            finally:
                await asyncio.gather(*(bot.stop() for bot in bots))
            figures.verdict = await ledger.check(database)
            figures.acknowledged_lost = await acknowledged_losses(database, load.figures)
            rows = await ledger.rows(database)
            figures.delivered_by = Counter(str(r["claimed_by"]) for r in rows if r["status"] == "delivered")
            async with database.reading() as conn:
                actions = Counter(
                    (row.challenge_id, row.stage, row.kind)
                    for row in await conn.execute(
                        select(audit_events.c.challenge_id, audit_events.c.stage, audit_events.c.kind).where(
                            audit_events.c.kind.in_(("reminder_sent", "deadline_passed"))
                        )
                    )
                )
            figures.double_actions = [f"{key}: {count}" for key, count in actions.items() if count > 1]
        figures.audit_status, figures.audit_output = await audit_verify(database_url)
    finally:
        await database.dispose()
        mail.stop()
    return figures
