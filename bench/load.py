"""Many people at once raising and answering challenges through the bot process as it is served.

For each concurrency level the real bot is started (`python -m bot`, local mode) on a fresh database migrated
with `db upgrade` (a SQLite file, or with `--database postgres` a fresh schema on PostgreSQL, dropped
afterwards), as a restarted bot finds its database, with an invented directory of pairs of people (an IRO
who raises, a health visitor who is challenged, in two tenants: a council and an NHS trust) and a fake Bot
Connector as the service URL that enforces Teams' published rate limits
(tests/fakes/rate_limits.py), answering 429 with `Retry-After` beyond them, as Teams would.

Each virtual user walks through challenges one after another, with no pause between turns (so the figures are
what the bot can take, not what people type): the IRO types `raise` and fills Durham's form on its cards
(four steps and Submit), the health visitor shows the challenge by its reference and responds, and the IRO
types `my challenges` and `help`. Each turn is one POST to `/api/messages`, timed from sending until the HTTP
response has been read. A virtual user takes its pairs in turn from its own share of the directory, so no
conversation is used by two at once and each stays well within its own limits: what may hit a limit is the
bot's traffic as a whole (50 a second per tenant).

Emails (the procedure copies a mailbox or two) go to a local mail server that accepts and drops them.

An error is a turn answered other than as expected: a 5xx or other unexpected status, an apology or an error
card, a card without the button the next step needs, a message turn whose reply the fake connector did not
accept (a 429 the bot did not retry), a reply missing; and each line of the bot's log saying a turn or request
failed or the database was locked. Notifications refused with 429 and retried are counted, not errors.

    .venv/bin/python bench/load.py --database sqlite --concurrency 1,2,4,8,16,32,64 --duration 20 --warmup 3 \
        --seed 1 --json sqlite.json --logs logs
    .venv/bin/python bench/load.py --database postgres --concurrency 1,2,4,8,16,32,64 --duration 20 --warmup 3 \
        --seed 1 --json postgres.json --logs logs
    .venv/bin/python bench/load.py --concurrency 4 --turns 2000    # a level ends after 2,000 measured turns
"""

from __future__ import annotations

import argparse
import asyncio
import json
import math
import os
import random
import re
import signal
import sys
import tempfile
import threading
import time
import uuid
from collections import Counter
from collections.abc import Awaitable, Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
import asyncpg
import yaml
from aiosmtpd.controller import Controller
from aiosmtpd.handlers import Sink

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bot.errors import APOLOGY
from cards import verbs
from storage.crypto import KEY_ENV, generate_key
from tests.fakes import FakeConnector, RecordedRequest, make_activity
from tests.fakes.rate_limits import RateLimits
from tests.teams.harness import execute_data
from tests.teams.harness import verbs as buttons

REPO = Path(__file__).resolve().parents[1]
POSTGRES_URL = os.environ.get("TEST_POSTGRES_URL", "postgresql+asyncpg://postgres@127.0.0.1:5432/test")
COUNCIL_TENANT = "10000000-0000-0000-0000-00000000c0c1"
NHS_TENANT = "20000000-0000-0000-0000-0000000000e5"
#: People per team, under one manager.
TEAM_SIZE = 20
#: How long, after the last turn, the bot has to send again what Teams refused.
RETRY_GRACE_SECONDS = 90.0
REFERENCE = re.compile(r"DUR-\d{4}-\d{4,}")
#: What the bot's log says when a turn or the database failed.
LOG_FAILURES = {
    "turn failed": "turn failed",
    "request failed": "request failed",
    "database is locked": "database is locked",
    "Traceback": "traceback",
}


@dataclass(frozen=True)
class Someone:
    id: str
    name: str
    aad_object_id: str
    tenant_id: str


@dataclass(frozen=True)
class Pair:
    raiser: Someone
    challenged: Someone


def invent_directory(pairs: int, seed: int) -> tuple[dict[str, Any], list[Pair]]:
    """A Durham directory of `pairs` IROs and as many health visitors (teams of 20 under a manager), the
    agencies' leads and the partnership's posts; everyone invented, with ids made from `seed`."""
    chance = random.Random(seed)

    def aad() -> str:
        return str(uuid.UUID(int=chance.getrandbits(128), version=4))

    people: list[dict[str, Any]] = []
    found: list[Pair] = []

    def person(pid: str, name: str, agency: str, tenant: str, **more: Any) -> Someone:
        someone = Someone(pid, name, aad(), tenant)
        people.append(
            {
                "id": pid,
                "name": name,
                "email": f"{pid}@example.org",
                "agency": agency,
                "aad_object_id": someone.aad_object_id,
                "tenant_id": tenant,
                **more,
            }
        )
        return someone

    person(
        "iro_head",
        "Iro Servicehead",
        "iro_service",
        COUNCIL_TENANT,
        job_title="IRO Service Manager",
        job_roles=["iro"],
    )
    person(
        "hv_lead",
        "Hana Leadnurse",
        "health_visiting",
        NHS_TENANT,
        job_title="Named Nurse for Safeguarding Children",
    )
    person("bm", "Bea Businessmanager", "dscp_unit", COUNCIL_TENANT, job_title="Partnership Business Manager")
    person("chair", "Cal Chairperson", "dscp_unit", COUNCIL_TENANT, job_title="Chair of the DSCP Executive")
    for team in range(math.ceil(pairs / TEAM_SIZE)):
        person(
            f"iro_tm{team}",
            f"Ira Teammanager{team}",
            "iro_service",
            COUNCIL_TENANT,
            job_title="IRO Team Manager",
            job_roles=["iro"],
            line_manager="iro_head",
        )
        person(
            f"hv_tl{team}",
            f"Hal Teamleader{team}",
            "health_visiting",
            NHS_TENANT,
            job_title="Health Visiting Team Leader",
            line_manager="hv_lead",
        )
    for i in range(pairs):
        team = i // TEAM_SIZE
        raiser = person(
            f"iro{i}",
            f"Ivy Reviewer{i}",
            "iro_service",
            COUNCIL_TENANT,
            job_title="Independent Reviewing Officer",
            job_roles=["iro"],
            line_manager=f"iro_tm{team}",
        )
        challenged = person(
            f"hv{i}",
            f"Hugo Visitor{i}",
            "health_visiting",
            NHS_TENANT,
            job_title="Health Visitor",
            line_manager=f"hv_tl{team}",
        )
        found.append(Pair(raiser, challenged))
    directory = {
        "agencies": [
            {
                "id": "iro_service",
                "name": "Invented IRO Service",
                "partnership": "durham",
                "safeguarding_lead": "iro_head",
            },
            {
                "id": "health_visiting",
                "name": "Invented Health Visiting Service",
                "partnership": "durham",
                "safeguarding_lead": "hv_lead",
                "escalation_contacts": {
                    3: [
                        {
                            "name": "Invented Health Safeguarding Team",
                            "email": "health.safeguarding@example.org",
                        }
                    ]
                },
            },
            {"id": "dscp_unit", "name": "Invented DSCP Business Unit", "partnership": "durham"},
        ],
        "people": people,
        "partnership_roles": {
            "durham": {
                "partnership_business_manager": [{"person": "bm"}],
                "qrt_business_manager": [
                    {"name": "Invented QRT Business Manager", "email": "qrt@example.org"}
                ],
                "executive": [{"person": "chair"}],
                "iro_service_manager": [{"person": "iro_head"}],
            }
        },
    }
    return directory, found


def percentile(samples: list[float], fraction: float) -> float:
    """The nearest-rank percentile (0 for no samples)."""
    if not samples:
        return 0.0
    ordered = sorted(samples)
    return ordered[max(0, math.ceil(fraction * len(ordered)) - 1)]


@dataclass
class Tally:
    """What one level measured."""

    #: (turn kind, milliseconds, whether inside the measured period)
    samples: list[tuple[str, float, bool]] = field(default_factory=list)
    errors: Counter[str] = field(default_factory=Counter)
    scenarios: int = 0
    measured_turns: int = 0

    def error(self, what: str) -> None:
        self.errors[what] += 1


class TurnFailed(Exception):
    """A turn was not answered as expected (already counted); the scenario stops there."""


class ConnectorThread:
    """The rate-limited fake Bot Connector, on its own event loop in a thread, so the virtual users' work does
    not delay its answers to the bot."""

    def __init__(self) -> None:
        self.connector = FakeConnector(RateLimits())
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name="fake-connector", daemon=True)

    def __enter__(self) -> FakeConnector:
        self._thread.start()
        asyncio.run_coroutine_threadsafe(self.connector.start(), self._loop).result(10)
        return self.connector

    def __exit__(self, *exc: object) -> None:
        asyncio.run_coroutine_threadsafe(self.connector.close(), self._loop).result(10)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(10)
        self._loop.close()


class Database:
    """A fresh database for one level: a SQLite file, or a PostgreSQL role with its own schema (its name, so
    the default `search_path` of "$user" puts the bot's tables there); dropped afterwards."""

    def __init__(self, kind: str, folder: Path, postgres_url: str) -> None:
        self.kind = kind
        self.folder = folder
        self.postgres_url = postgres_url
        self.name = f"load_{uuid.uuid4().hex[:10]}"

    @property
    def url(self) -> str:
        if self.kind == "sqlite":
            return f"sqlite+aiosqlite:///{self.folder / (self.name + '.db')}"
        server = self.postgres_url.split("@", 1)[1]
        return f"postgresql+asyncpg://{self.name}@{server}"

    async def _admin(self, *statements: str) -> None:
        connection = await asyncpg.connect(self.postgres_url.replace("postgresql+asyncpg", "postgresql"))
        try:
            for statement in statements:
                await connection.execute(statement)
        finally:
            await connection.close()

    async def create(self) -> None:
        """A database at the newest schema (`db upgrade`), as a restarted bot finds it: the bot's own first
        start on an empty SQLite file would migrate it, and keep Alembic loaded for the whole run."""
        if self.kind == "postgres":
            await self._admin(
                f'CREATE ROLE "{self.name}" LOGIN', f'CREATE SCHEMA "{self.name}" AUTHORIZATION "{self.name}"'
            )
        process = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "bot",
            "db",
            "upgrade",
            env={**os.environ, "DATABASE_URL": self.url},
            cwd=REPO,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.STDOUT,
        )
        output, _ = await process.communicate()
        if process.returncode != 0:
            raise RuntimeError(f"db upgrade failed: {output.decode(errors='replace')}")

    async def drop(self) -> None:
        if self.kind == "postgres":
            await self._admin(
                f'DROP SCHEMA IF EXISTS "{self.name}" CASCADE', f'DROP ROLE IF EXISTS "{self.name}"'
            )


class BotProcess:
    """`python -m bot` in local mode on a free port, its log in a file, its resident memory sampled."""

    def __init__(self, database_url: str, directory: Path, log: Path, smtp_port: int) -> None:
        self.smtp_port = smtp_port
        self.database_url = database_url
        self.directory = directory
        self.log = log
        self.port = _free_port()
        self.process: asyncio.subprocess.Process | None = None
        self.rss_peak_kb = 0
        self.rss_kb = 0
        self._sampler: asyncio.Task[None] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    async def start(self, http: aiohttp.ClientSession) -> None:
        env = {
            **{k: v for k, v in os.environ.items() if not k.startswith(("SMTP_", "Microsoft"))},
            "PORT": str(self.port),
            "DATABASE_URL": self.database_url,
            "DIRECTORY_FILE": str(self.directory),
            "POLICIES": "durham",
            "PYTHONUNBUFFERED": "1",
            "SMTP_HOST": "127.0.0.1",
            "SMTP_PORT": str(self.smtp_port),
            "SMTP_STARTTLS": "false",
            "SMTP_FROM": "challenge-bot@example.org",
        }
        env.pop("TRIAL_CLOCK_FILE", None)
        with self.log.open("wb") as out:
            self.process = await asyncio.create_subprocess_exec(
                sys.executable, "-m", "bot", env=env, cwd=REPO, stdout=out, stderr=asyncio.subprocess.STDOUT
            )
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline:
            if self.process.returncode is not None:
                raise RuntimeError(
                    f"the bot stopped while starting:\n{self.log.read_text(errors='replace')[-3000:]}"
                )
            try:
                async with http.get(f"{self.url}/readyz") as response:
                    if response.status == 200:
                        break
            except aiohttp.ClientError:
                pass
            await asyncio.sleep(0.2)
        else:
            raise RuntimeError("the bot did not become ready within 90 s")
        self._sampler = asyncio.create_task(self._sample_rss())

    async def _sample_rss(self) -> None:
        assert self.process is not None
        while (rss := _rss_kb(self.process.pid)) is not None:
            self.rss_kb = rss
            self.rss_peak_kb = max(self.rss_peak_kb, rss)
            await asyncio.sleep(0.25)

    async def stop(self) -> None:
        if self._sampler is not None:
            self._sampler.cancel()
        if self.process is None or self.process.returncode is not None:
            return
        self.process.send_signal(signal.SIGTERM)
        try:
            await asyncio.wait_for(self.process.wait(), 20)
        except TimeoutError:
            self.process.kill()
            await self.process.wait()

    def log_failures(self) -> Counter[str]:
        text = self.log.read_text(errors="replace")
        return Counter({name: text.count(marker) for marker, name in LOG_FAILURES.items() if marker in text})


def _rss_kb(pid: int) -> int | None:
    """A process's resident memory in KiB, from /proc (None once it has gone)."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    except OSError:
        return None
    return None


def _free_port() -> int:
    import socket

    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class VirtualUser:
    """One after another, the pairs of its share of the directory go through a challenge."""

    def __init__(
        self,
        http: aiohttp.ClientSession,
        bot_url: str,
        connector: FakeConnector,
        tally: Tally,
        measuring: Callable[[], bool],
    ) -> None:
        self.http = http
        self.endpoint = f"{bot_url}/api/messages"
        self.connector = connector
        self.service_url = connector.service_url
        self.tally = tally
        self.measuring = measuring

    async def _timed(self, kind: str, activity: dict[str, Any]) -> tuple[int, bytes]:
        started = time.perf_counter()
        measured = self.measuring()
        try:
            async with self.http.post(self.endpoint, json=activity) as response:
                body = await response.read()
                status = response.status
        except aiohttp.ClientError as error:
            self.tally.error(f"{kind}: no answer ({type(error).__name__})")
            raise TurnFailed from error
        self.tally.samples.append((kind, (time.perf_counter() - started) * 1000, measured))
        self.tally.measured_turns += measured
        if status >= 500:
            self.tally.error(f"{kind}: HTTP {status}")
            raise TurnFailed
        return status, body

    def _activity(self, who: Someone, text: str | None, **more: Any) -> dict[str, Any]:
        return make_activity(
            text,
            service_url=self.service_url,
            from_id=f"29:{who.aad_object_id}",
            from_name=who.name,
            aad_object_id=who.aad_object_id,
            conversation_id=f"a:personal-{who.aad_object_id}",
            tenant_id=who.tenant_id,
            **more,
        )

    async def say(self, kind: str, who: Someone, text: str) -> list[dict[str, Any]]:
        """Type `text`; the activities the bot replied with while the turn lasted, which Teams must accept."""
        activity = self._activity(who, text)
        sent = time.monotonic()
        status, _ = await self._timed(kind, activity)
        answered = time.monotonic()
        if status != 201:
            self.tally.error(f"{kind}: HTTP {status}")
            raise TurnFailed
        # A notification continuing this chat also replies to its newest activity; the turn's own replies are
        # those made before its answer (a notification made meanwhile would be retried if refused).
        replies = [r for r in self.connector.replies_to(activity["id"]) if sent <= r.at <= answered]
        accepted = [r.body for r in replies if r.status < 300]
        if not accepted:
            refused = sorted({r.status for r in replies})
            self.tally.error(f"{kind}: " + (f"reply refused by Teams ({refused})" if refused else "no reply"))
            raise TurnFailed
        if APOLOGY in json.dumps(accepted):
            self.tally.error(f"{kind}: the bot apologised")
            raise TurnFailed
        return accepted

    async def press(self, kind: str, who: Someone, verb: str, data: dict[str, Any]) -> dict[str, Any]:
        """Press a card's button; the card the bot answers with."""
        value = {"action": {"type": "Action.Execute", "verb": verb, "data": data}}
        activity = self._activity(who, None, activity_type="invoke", name="adaptiveCard/action", value=value)
        status, body = await self._timed(kind, activity)
        try:
            answer = json.loads(body)
        except ValueError:
            answer = None
        if status != 200 or not isinstance(answer, dict) or answer.get("statusCode") != 200:
            self.tally.error(f"{kind}: HTTP {status}, {str(answer)[:80] if answer else 'no card'}")
            raise TurnFailed
        return dict(answer.get("value") or {})

    def _need(self, kind: str, card: dict[str, Any], verb: str) -> dict[str, Any]:
        if verb not in buttons(card):
            self.tally.error(f"{kind}: no {verb} button")
            raise TurnFailed
        return execute_data(card, verb)

    async def challenge(self, pair: Pair, number: int) -> None:
        """One challenge, raised, shown and answered; then the raiser's list and help."""
        iro, hv = pair.raiser, pair.challenged
        sent = await self.say("raise", iro, "raise")
        card = _last_card(sent)
        if verbs.RAISE_NEXT not in buttons(card) and verbs.RAISE_DISCARD in buttons(card):
            # A form left open by a challenge the last level's end cut short: start again.
            card = await self.press(
                "form step", iro, verbs.RAISE_DISCARD, execute_data(card, verbs.RAISE_DISCARD)
            )
        steps = [
            {"policy_id": "durham"},
            {
                "child_name": f"Pat Inventedchild{number}",
                "date_of_birth": "2018-05-02",
                "agency_reference": f"L-{number}",
            },
            {"challenged_agency_id": "health_visiting", "challenged_person_id": pair.challenged.id},
            {
                "issue_category": "lack_of_report",
                "concern": "No report was shared.",
                "desired_outcome": "A report.",
            },
        ]
        for inputs in steps:
            data = self._need("form step", card, verbs.RAISE_NEXT)
            card = await self.press("form step", iro, verbs.RAISE_NEXT, {**data, **inputs})
        data = self._need("submit", card, verbs.RAISE_CONFIRM)
        card = await self.press("submit", iro, verbs.RAISE_CONFIRM, data)
        found = REFERENCE.search(json.dumps(card))
        if found is None:
            self.tally.error("submit: no reference on the card")
            raise TurnFailed
        reference = found.group(0)
        card = await self.press("show", hv, verbs.SHOW, {"reference": reference})
        data = self._need("show", card, verbs.RESPOND)
        card = await self.press("respond", hv, verbs.RESPOND, {**data, "text": f"Response {number}."})
        if REFERENCE.search(json.dumps(card)) is None:
            self.tally.error("respond: the answer is not the challenge's card")
            raise TurnFailed
        listed = await self.say("my challenges", iro, "my challenges")
        if reference not in json.dumps(listed):
            self.tally.error("my challenges: the new challenge is not listed")
            raise TurnFailed
        await self.say("help", iro, "help")
        self.tally.scenarios += 1

    async def run(self, pairs: list[Pair], until: Callable[[], bool], first: int) -> None:
        number = first
        while not until():
            pair = pairs[(number - first) % len(pairs)]
            try:
                await self.challenge(pair, number)
            except TurnFailed:
                await asyncio.sleep(0.05)
            number += 1


def _sent(request: RecordedRequest) -> str:
    """What a request asked Teams to do, for finding the same request sent again (a proactive message
    replies to a new activity id each time it is tried)."""
    body = request.body if isinstance(request.body, dict) else {}
    what = {k: body.get(k) for k in ("type", "text", "attachments", "members", "activity")}
    return json.dumps([request.operation, request.conversation_id, what], sort_keys=True)


def unretried(requests: list[RecordedRequest]) -> list[RecordedRequest]:
    """The requests the fake refused beyond its limits that were never accepted afterwards."""
    snapshot = list(requests)
    later_accepted: dict[str, float] = {}
    for request in snapshot:
        if request.status < 300:
            later_accepted[_sent(request)] = max(request.at, later_accepted.get(_sent(request), request.at))
    return [r for r in snapshot if r.beyond_limits and later_accepted.get(_sent(r), -1.0) < r.at]


def _last_card(activities: list[dict[str, Any]]) -> dict[str, Any]:
    cards = [a.get("content") for act in activities for a in (act.get("attachments") or [])]
    return dict(cards[-1]) if cards and isinstance(cards[-1], dict) else {}


@dataclass
class LevelResult:
    database: str
    concurrency: int
    seconds: float
    turns: int
    turns_per_second: float
    p50_ms: float
    p95_ms: float
    p99_ms: float
    max_ms: float
    errors: int
    error_kinds: dict[str, int]
    challenges: int
    rss_peak_mb: float
    rss_end_mb: float
    by_kind_ms: dict[str, dict[str, float]]
    connector: dict[str, Any]
    #: Seconds after the last turn until every send Teams refused had been sent again and accepted.
    resent_within_s: float = 0.0
    #: The machine's 1-minute load average when the level ended (other work on it shows here).
    load_average: float = 0.0


async def run_level(
    kind: str,
    concurrency: int,
    duration: float,
    warmup: float,
    pairs: list[Pair],
    directory: Path,
    folder: Path,
    postgres_url: str,
    logs: Path,
    turns: int | None = None,
) -> LevelResult:
    database = Database(kind, folder, postgres_url)
    await database.create()
    tally = Tally()
    # Emails (to the procedure's mailboxes) go to a mail server that accepts and drops them.
    mail = Controller(Sink(), hostname="127.0.0.1", port=_free_port())
    mail.start()
    try:
        with ConnectorThread() as connector:
            timeout = aiohttp.ClientTimeout(total=120)
            async with aiohttp.ClientSession(
                connector=aiohttp.TCPConnector(limit=0), timeout=timeout
            ) as http:
                bot = BotProcess(database.url, directory, logs / f"bot-{kind}-{concurrency}.log", mail.port)
                await bot.start(http)
                try:
                    started = time.monotonic()
                    measure_from, stop_at = started + warmup, started + warmup + duration

                    def done() -> bool:
                        if turns is not None:
                            return tally.measured_turns >= turns
                        return time.monotonic() >= stop_at

                    users = [
                        VirtualUser(
                            http,
                            bot.url,
                            connector,
                            tally,
                            lambda: time.monotonic() >= measure_from,
                        )
                        for _ in range(concurrency)
                    ]
                    shares = [pairs[i::concurrency] for i in range(concurrency)]
                    await asyncio.gather(
                        *(user.run(shares[i], done, first=i * 100_000) for i, user in enumerate(users))
                    )
                    measured_seconds = time.monotonic() - measure_from
                    # The notifications of the last turns go out, and those refused are sent again.
                    ended = time.monotonic()
                    deadline = ended + RETRY_GRACE_SECONDS
                    while unretried(connector.requests) and time.monotonic() < deadline:  # noqa: ASYNC110
                        await asyncio.sleep(0.5)  # (what the connector's thread records is polled)
                    settled = time.monotonic() - ended
                    for request in unretried(connector.requests):
                        tally.error(f"Teams refused {request.operation} with 429 and it was not sent again")
                finally:
                    await bot.stop()
                for name, count in bot.log_failures().items():
                    tally.errors[f"bot log: {name}"] += count
    finally:
        mail.stop()
        await database.drop()
    measured = [ms for _, ms, inside in tally.samples if inside]
    by_kind: dict[str, dict[str, float]] = {}
    for turn in sorted({k for k, _, _ in tally.samples}):
        times = [ms for k, ms, inside in tally.samples if inside and k == turn]
        by_kind[turn] = {
            "turns": len(times),
            "p50": round(percentile(times, 0.5), 1),
            "p99": round(percentile(times, 0.99), 1),
        }
    requests = list(connector.requests)
    return LevelResult(
        database=kind,
        concurrency=concurrency,
        seconds=round(measured_seconds, 2),
        turns=len(measured),
        turns_per_second=round(len(measured) / measured_seconds, 1),
        p50_ms=round(percentile(measured, 0.5), 1),
        p95_ms=round(percentile(measured, 0.95), 1),
        p99_ms=round(percentile(measured, 0.99), 1),
        max_ms=round(max(measured, default=0.0), 1),
        errors=sum(tally.errors.values()),
        error_kinds=dict(tally.errors),
        challenges=tally.scenarios,
        rss_peak_mb=round(bot.rss_peak_kb / 1024, 1),
        rss_end_mb=round(bot.rss_kb / 1024, 1),
        by_kind_ms=by_kind,
        load_average=round(os.getloadavg()[0], 2),
        resent_within_s=round(settled, 1),
        connector={
            "accepted": sum(1 for r in requests if r.status < 300),
            "refused_beyond_limits": dict(
                Counter(f"{r.operation} ({r.refused_by} limit)" for r in requests if r.beyond_limits)
            ),
            "by_operation": dict(Counter(r.operation for r in requests if r.status < 300)),
        },
    )


async def run(
    database: str,
    levels: list[int],
    duration: float,
    warmup: float,
    seed: int,
    pairs: int | None = None,
    postgres_url: str = POSTGRES_URL,
    report: Callable[[LevelResult], Awaitable[None] | None] | None = None,
    logs: Path | None = None,
    turns: int | None = None,
) -> list[LevelResult]:
    """Run each concurrency level in turn, each on a fresh database and bot process; the bot's logs are kept
    in `logs` (an existing folder) when given. A level lasts `duration` measured seconds, or with `turns` until
    that many turns were measured."""
    # The benchmark's databases are its own and thrown away: a key made for this run encrypts them, as a
    # deployment's key would (without one, PostgreSQL is refused; SQLite would get a key file of its own).
    os.environ.setdefault(KEY_ENV, generate_key())
    count = pairs or max(512, 8 * max(levels))
    directory_data, found = invent_directory(count, seed)
    results = []
    with tempfile.TemporaryDirectory(prefix="challenge-load-") as name:
        folder = Path(name)
        directory = folder / "directory.yaml"
        directory.write_text(yaml.safe_dump(directory_data, sort_keys=False))
        for level in levels:
            result = await run_level(
                database,
                level,
                duration,
                warmup,
                found,
                directory,
                folder,
                postgres_url,
                logs or folder,
                turns,
            )
            results.append(result)
            if report is not None:
                outcome = report(result)
                if outcome is not None:
                    await outcome
    return results


def _print(result: LevelResult) -> None:
    print(
        f"{result.database:<9}{result.concurrency:>5}{result.turns:>8}{result.turns_per_second:>9}"
        f"{result.p50_ms:>9}{result.p95_ms:>9}{result.p99_ms:>9}{result.errors:>7}{result.rss_peak_mb:>9}"
        f"{result.load_average:>7}",
        flush=True,
    )
    for what, count in result.error_kinds.items():
        print(f"    {count} x {what}", flush=True)
    refused = result.connector["refused_beyond_limits"]
    if refused:
        print(f"    Teams (the fake) refused beyond its limits: {refused}", flush=True)
        if not any("not sent again" in what for what in result.error_kinds):
            print(
                f"    all of them sent again and accepted within {result.resent_within_s} s of the last turn"
            )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--database", choices=("sqlite", "postgres"), default="sqlite")
    parser.add_argument(
        "--postgres-url", default=POSTGRES_URL, help="a server where roles and schemas may be made"
    )
    parser.add_argument("--concurrency", default="1,2,4,8,16,32,64", help="levels, comma-separated")
    parser.add_argument("--duration", type=float, default=20.0, help="measured seconds per level")
    parser.add_argument("--turns", type=int, help="measured turns per level instead of a duration")
    parser.add_argument("--warmup", type=float, default=3.0, help="unmeasured seconds first, per level")
    parser.add_argument("--seed", type=int, default=1, help="makes the invented directory's ids")
    parser.add_argument(
        "--pairs", type=int, help="pairs of people in the directory (default max(512, 8 x top level))"
    )
    parser.add_argument("--json", type=Path, help="write the results here")
    parser.add_argument("--logs", type=Path, help="keep the bot's log of each level in this folder")
    args = parser.parse_args()
    levels = [int(level) for level in args.concurrency.split(",") if level.strip()]
    if args.logs is not None:
        args.logs.mkdir(parents=True, exist_ok=True)
    print(
        f"{'database':<9}{'users':>5}{'turns':>8}{'turns/s':>9}{'p50 ms':>9}{'p95 ms':>9}{'p99 ms':>9}"
        f"{'errors':>7}{'RSS MB':>9}{'load':>7}",
        flush=True,
    )
    results = asyncio.run(
        run(
            args.database,
            levels,
            args.duration,
            args.warmup,
            args.seed,
            args.pairs,
            args.postgres_url,
            _print,
            args.logs,
            args.turns,
        )
    )
    if args.json is not None:
        meta = {
            "cpus": os.cpu_count(),
            "duration": args.duration,
            "turns": args.turns,
            "warmup": args.warmup,
            "seed": args.seed,
            "command": " ".join(sys.argv),
        }
        args.json.write_text(json.dumps({"run": meta, "levels": [asdict(r) for r in results]}, indent=2))
    if any(r.errors for r in results):
        sys.exit(1)


if __name__ == "__main__":
    main()
