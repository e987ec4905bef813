"""What one turn costs through the real endpoint: our bot against a bare handler and two SDKs' echo bots.

Each contender is its own server process on loopback (so each one's resident memory is its own):

- `bare`: a bare aiohttp handler that POSTs one reply activity to the connector and answers 200, the floor
  (bench/contenders/bare.py);
- `agents-echo`: the Microsoft 365 Agents SDK 1.9 echo agent as its quickstart writes it, anonymous
  (bench/contenders/agents_echo.py), in a virtual environment of its own that this bench makes on first use
  (var/bench/agents-venv) so the SDK never mixes with the bot's dependencies;
- `botbuilder-echo`: botbuilder's stock echo bot, `CloudAdapter` with `ConfigurationBotFrameworkAuthentication`
  (bench/contenders/botbuilder_echo.py);
- our bot as served, `python -m bot` in local mode (a fresh SQLite file, or with `--database postgres` a
  throwaway schema on PostgreSQL as bench/load.py makes one; a generated data key; the demo directory),
  measured on two turns: `help` (a message) and `card`, a state-changing card action (Megan's `respond` on one
  of 20 challenges Alex raised first, bench/bot_turns.py's helpers), whose notification to Alex the bot
  delivers in the same process as usual.

Every turn is one POST of an activity to the contender's `/api/messages`, timed from sending until the HTTP
answer has been read. A message's reply goes to the fake Bot Connector (tests/fakes/connector.py) and must
have arrived there, a reply to that very activity, or the turn is an error; a card action must answer the
refreshed card with the challenge's next version, and the bench waits for its notification(s) to reach the
connector before the next turn (the time until then is reported as `notified`), so no delivery spills into
another contender's turn. All those notifications go to Alex's one chat, which the bot keeps within Teams'
published limits (7 a second, 8 in 2 s, 60 in 30 s): after the first 60, `notified` is mostly that pacing,
and a card-action block takes about half a second a turn, the bot idle meanwhile.

The fake connector runs in this process, on the same event loop as the client: turns are strictly one after
another, so while a contender works the bench only waits, and the connector's answer costs the same for
every contender. One process fewer on a 2-core machine, and no second thread handing the GIL over.

Rounds alternate: in each round every contender gets `--turns-per-round` turns, the order rotated by one each
round, after `--warmup` unmeasured turns each. Resident memory (VmRSS, /proc/PID/status) is read once a
process is ready (idle, before any turn) and after the run, with its peak (VmHWM).

    .venv/bin/python bench/turn_cost.py                       # 10 rounds x 25 turns, SQLite
    .venv/bin/python bench/turn_cost.py --database postgres   # a throwaway schema on PostgreSQL
    .venv/bin/python bench/turn_cost.py --only bare,help,card --rounds 4 --json var/bench/turn-cost.json
    .venv/bin/python bench/turn_cost.py --only help,card --profile   # pyinstrument, var/bench/profile-*.txt

With `--profile` our bot runs under pyinstrument (bench/contenders/profiled_bot.py), which samples only
while `help` or `card` turns are measured, one profile each: var/bench/profile-help-sqlite.txt and
profile-card-sqlite.txt (or -postgres: the call tree, then the functions with the most own and cumulative
time), with .html and .pyisession beside them. Its figures are slowed by the profiler and are not comparable
with a plain run. `--settle-ms` pauses after each card action's notification has arrived (default 0: the next
turn meets the end of that delivery's pass, as under load).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import math
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
from aiosmtpd.controller import Controller
from aiosmtpd.handlers import Sink

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.bot_turns import ALEX, CHALLENGES, MEGAN, _raise, press, version_of
from bench.load import POSTGRES_URL, Database, _free_port
from bot.errors import APOLOGY
from cards import verbs
from process.directory_file import DEMO_DIRECTORY
from storage.crypto import KEY_ENV, generate_key
from tests.fakes import FakeConnector, make_activity

REPO = Path(__file__).resolve().parents[1]
REFERENCE = re.compile(r"DUR-\d{4}-\d{4,}")
VAR = REPO / "var" / "bench"
CONTENDERS_DIR = Path(__file__).resolve().parent / "contenders"
AGENTS_VENV = VAR / "agents-venv"
AGENTS_REQUIREMENT = "microsoft-agents-hosting-aiohttp==1.9.0"
#: The contenders, in the first round's order; `help` and `card` are turns of one process, our bot.
CONTENDERS = ("bare", "agents-echo", "botbuilder-echo", "help", "card")
PROCESS_OF = {
    "bare": "bare",
    "agents-echo": "agents-echo",
    "botbuilder-echo": "botbuilder-echo",
    "help": "ours",
    "card": "ours",
}
#: Issue 16's first target: `help` p50 at most this many times the bare round trip...
HELP_OVER_BARE = 2.5
#: ...and a state-changing card action's p50 under these, in milliseconds.
CARD_TARGET_MS = {"sqlite": 8.0, "postgres": 12.0}
#: How long a reply may take to reach the fake connector before the turn is an error.
ARRIVAL_SECONDS = 10.0
#: The same for a card action's notification: the bot keeps each chat within Teams' published limits (7 a
#: second, 8 in 2 s, 60 in 30 s), and every notification here goes to Alex's chat, so after the first 60 they
#: are paced, about 2 a second.
NOTIFICATION_SECONDS = 45.0
#: Connector operations that post an activity.
SENDS = ("send_to_conversation", "reply_to_activity")


class Unavailable(Exception):
    """A contender cannot be run here (said why)."""


def agents_python(venv: Path) -> Path:
    """The Python of the Agents SDK's own virtual environment, made (with pip) when missing; `Unavailable`
    with the reason when it cannot be made (no package index, no network)."""
    python = venv / "bin" / "python"
    check = [str(python), "-c", "import microsoft_agents.hosting.aiohttp"]
    if python.exists() and subprocess.run(check, capture_output=True).returncode == 0:
        return python
    shutil.rmtree(venv, ignore_errors=True)
    venv.parent.mkdir(parents=True, exist_ok=True)
    steps = [
        [sys.executable, "-m", "venv", str(venv)],
        [str(python), "-m", "pip", "install", "--quiet", "--disable-pip-version-check", AGENTS_REQUIREMENT],
    ]
    for step in steps:
        try:
            done = subprocess.run(step, capture_output=True, text=True, timeout=600)
        except (OSError, subprocess.TimeoutExpired) as error:
            shutil.rmtree(venv, ignore_errors=True)
            raise Unavailable(f"could not make {venv}: {error}") from error
        if done.returncode != 0:
            shutil.rmtree(venv, ignore_errors=True)
            said = (done.stderr or done.stdout).strip().splitlines()[-3:]
            raise Unavailable(f"could not make {venv} ({' '.join(step[2:4])}): {' / '.join(said)}")
    return python


def _proc_status_kb(pid: int, field_name: str) -> int:
    """A memory field (VmRSS, VmHWM) of a process in KiB, from /proc; 0 once it has gone."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith(field_name + ":"):
                return int(line.split()[1])
    except OSError:
        return 0
    return 0


@dataclass
class Server:
    """One contender's server process on a free loopback port."""

    name: str
    argv: list[str]
    env: dict[str, str]
    log: Path
    ready_path: str = "/api/messages"
    port: int = field(default_factory=_free_port)
    process: asyncio.subprocess.Process | None = None
    rss_idle_kb: int = 0
    rss_end_kb: int = 0
    rss_peak_kb: int = 0

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    async def start(self, http: aiohttp.ClientSession, within: float = 120.0) -> None:
        env = {**self.env, "PORT": str(self.port), "PYTHONUNBUFFERED": "1"}
        with self.log.open("wb") as out:
            self.process = await asyncio.create_subprocess_exec(
                *self.argv, env=env, cwd=REPO, stdout=out, stderr=asyncio.subprocess.STDOUT
            )
        deadline = time.monotonic() + within
        while time.monotonic() < deadline:
            if self.process.returncode is not None:
                raise RuntimeError(
                    f"{self.name} stopped while starting:\n{self.log.read_text(errors='replace')[-3000:]}"
                )
            try:
                async with http.get(self.url + self.ready_path) as response:
                    if response.status == 200:
                        break
            except aiohttp.ClientError:
                pass
            await asyncio.sleep(0.1)
        else:
            raise RuntimeError(f"{self.name} was not ready within {within:.0f} s")
        await asyncio.sleep(0.5)  # what start-up left running settles before the idle figure is read
        self.rss_idle_kb = _proc_status_kb(self.process.pid, "VmRSS")

    def measure_end(self) -> None:
        if self.process is not None:
            self.rss_end_kb = _proc_status_kb(self.process.pid, "VmRSS")
            self.rss_peak_kb = _proc_status_kb(self.process.pid, "VmHWM")

    def signal(self, number: int) -> None:
        if self.process is not None and self.process.returncode is None:
            self.process.send_signal(number)

    async def stop(self, within: float = 60.0) -> None:
        if self.process is None or self.process.returncode is not None:
            return
        self.process.send_signal(signal.SIGTERM)
        try:
            await asyncio.wait_for(self.process.wait(), within)
        except TimeoutError:
            self.process.kill()
            await self.process.wait()


@dataclass
class Tally:
    """One contender's measured turns."""

    samples_ms: list[float] = field(default_factory=list)
    #: For card actions: from sending until the last notification reached the connector.
    notified_ms: list[float] = field(default_factory=list)
    errors: dict[str, int] = field(default_factory=dict)
    #: Turns whose reply (message) or notification (card action) the fake connector received.
    verified: int = 0
    turns: int = 0

    def error(self, what: str) -> None:
        self.errors[what] = self.errors.get(what, 0) + 1


def percentile(samples: list[float], fraction: float) -> float:
    """The nearest-rank percentile (0 for no samples)."""
    if not samples:
        return 0.0
    ordered = sorted(samples)
    return ordered[max(0, math.ceil(fraction * len(ordered)) - 1)]


class Bench:
    """The contenders' processes, the fake connector they reply to, and one client for all turns."""

    def __init__(
        self,
        http: aiohttp.ClientSession,
        connector: FakeConnector,
        servers: dict[str, Server],
        settle_seconds: float = 0.0,
    ) -> None:
        self.http = http
        self.connector = connector
        #: A pause after each card action's notification has arrived, for the bot to finish recording it.
        self.settle_seconds = settle_seconds
        self.servers = servers
        self.challenges: list[tuple[str, int]] = []
        self._turn = 0

    # ---- turns -------------------------------------------------------------------------------------------

    async def turn(self, contender: str, tally: Tally | None) -> None:
        """One turn of `contender`, counted in `tally` (None: a warm-up turn, only checked)."""
        self._turn += 1
        sink = tally if tally is not None else Tally()
        sink.turns += 1
        if contender == "card":
            await self._card(sink)
        else:
            await self._message(contender, sink)

    async def _message(self, contender: str, tally: Tally) -> None:
        server = self.servers[PROCESS_OF[contender]]
        text = "help" if contender == "help" else f"turn {self._turn}"
        # Our bot is asked by Alex, as in the demo directory; each echo bot has a conversation of its own.
        conversation = "a:personal-alex-wilber" if contender == "help" else f"a:bench-{contender}"
        activity = make_activity(text, service_url=self.connector.service_url, conversation_id=conversation)
        first = len(self.connector.requests)
        started = time.perf_counter()
        try:
            async with self.http.post(server.url + "/api/messages", json=activity) as response:
                await response.read()
                status = response.status
        except aiohttp.ClientError as error:
            tally.error(f"no answer ({type(error).__name__})")
            return
        tally.samples_ms.append((time.perf_counter() - started) * 1000)
        if status not in (200, 201, 202):
            tally.error(f"HTTP {status}")
        reply = await self._arrival(first, lambda r: _replies_to(r, activity["id"]))
        if reply is None:
            tally.error("no reply reached the connector")
        elif reply.status >= 300:
            tally.error(f"the connector refused the reply ({reply.status})")
        elif APOLOGY in json.dumps(reply.body):
            tally.error("the bot apologised")
        else:
            tally.verified += 1

    async def _card(self, tally: Tally) -> None:
        server = self.servers["ours"]
        index = self._turn % len(self.challenges)
        challenge_id, version = self.challenges[index]
        data = {"challengeId": challenge_id, "version": version, "text": f"Update {self._turn}."}
        activity = press(self.connector.service_url, MEGAN, verbs.RESPOND, data)
        first = len(self.connector.requests)
        sent_at = time.monotonic()  # the connector's clock, for when the notification came
        started = time.perf_counter()
        try:
            async with self.http.post(server.url + "/api/messages", json=activity) as response:
                body = await response.read()
                status = response.status
        except aiohttp.ClientError as error:
            tally.error(f"no answer ({type(error).__name__})")
            return
        tally.samples_ms.append((time.perf_counter() - started) * 1000)
        try:
            answer = json.loads(body)
            card = answer["value"]
            stored = version_of(card) == version + 1
        except (ValueError, KeyError, TypeError, RuntimeError):
            answer, stored = None, False
        if status != 200 or not isinstance(answer, dict) or answer.get("statusCode") != 200:
            tally.error(f"HTTP {status}, {str(answer)[:80] if answer else 'no card'}")
        elif not stored:
            tally.error("the answer is not the challenge's next version")
        else:
            self.challenges[index] = (challenge_id, version + 1)
        # The notification the response queued for Alex, delivered by the bot meanwhile: a message naming the
        # challenge's reference reaches the connector (anyone the procedure copies by email is counted too).
        found = REFERENCE.search(json.dumps(answer)) if stored else None
        if found is None:
            return
        reference = found.group(0)
        notification = await self._arrival(first, lambda r: _sends_about(r, reference), NOTIFICATION_SECONDS)
        if notification is None:
            tally.error(f"no notification reached the connector within {NOTIFICATION_SECONDS:g} s")
            return
        if notification.status >= 300:
            tally.error(f"the connector refused the notification ({notification.status})")
            return
        tally.notified_ms.append((notification.at - sent_at) * 1000)
        tally.verified += 1
        if self.settle_seconds:
            await asyncio.sleep(self.settle_seconds)

    async def _arrival(
        self, first: int, matches: Callable[[Any], bool], within: float = ARRIVAL_SECONDS
    ) -> Any:
        """The first request from index `first` on that `matches`, waiting for it if need be (None if none
        came `within` seconds)."""
        deadline = time.monotonic() + within
        seen = first
        while True:
            requests = self.connector.requests
            for request in requests[seen:]:
                if matches(request):
                    return request
            seen = len(requests)
            left = deadline - time.monotonic()
            if left <= 0:
                return None
            try:
                await self.connector.wait_for_requests(seen + 1, within_seconds=left)
            except TimeoutError:
                return None

    # ---- our bot's setup ---------------------------------------------------------------------------------

    async def raise_challenges(self) -> None:
        """Alex raises the challenges Megan will respond to (bench/bot_turns.py's helpers), then what they
        notified is left to arrive. Alex and Megan each say `help` first in the chats their buttons are
        pressed in, so the bot has a conversation with each and notifies them in Teams (without one it
        emails instead)."""
        endpoint = _Endpoint(self.http, self.servers["ours"].url)
        for who in (ALEX, MEGAN):
            activity = make_activity(
                "help",
                service_url=self.connector.service_url,
                from_id=f"29:{who}",
                aad_object_id=who,
                conversation_id=f"a:{who}",
            )
            async with self.http.post(endpoint.base + "/api/messages", json=activity) as response:
                if response.status != 201:
                    raise RuntimeError(f"our bot answered `help` with HTTP {response.status}")
        self.challenges = [await _raise(endpoint, self.connector.service_url) for _ in range(CHALLENGES)]
        await _quiet(self.connector)


class CountingSink(Sink):
    """A mail server's handler that accepts every message, keeps none and counts them."""

    def __init__(self) -> None:
        self.count = 0

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        self.count += 1
        return "250 OK"


class _Endpoint:
    """What bench/bot_turns.py's helpers post through (a test client's `post(path, json=...)`), for a server
    in another process."""

    def __init__(self, http: aiohttp.ClientSession, base: str) -> None:
        self.http = http
        self.base = base

    def post(self, path: str, **kwargs: Any) -> Any:
        return self.http.post(self.base + path, **kwargs)


def _replies_to(request: Any, activity_id: str) -> bool:
    if request.operation not in SENDS:
        return False
    body = request.body if isinstance(request.body, dict) else {}
    return bool(request.activity_id == activity_id or body.get("replyToId") == activity_id)


def _sends_about(request: Any, reference: str) -> bool:
    return request.operation in SENDS and reference in json.dumps(request.body)


async def _quiet(connector: FakeConnector, seconds: float = 1.0, within: float = 30.0) -> None:
    """Wait until the connector has had no request for `seconds` (the bot's deliveries are done)."""
    deadline = time.monotonic() + within
    count = -1
    while time.monotonic() < deadline and count != len(connector.requests):
        count = len(connector.requests)
        await asyncio.sleep(seconds)


@dataclass
class ContenderResult:
    name: str
    process: str
    turns: int
    verified: int
    errors: int
    error_kinds: dict[str, int]
    p50_ms: float
    p99_ms: float
    mean_ms: float
    min_ms: float
    max_ms: float
    #: Card action only: until its notification(s) reached the connector.
    notified_p50_ms: float | None = None
    notified_p99_ms: float | None = None


@dataclass
class ProcessResult:
    name: str
    pid: int
    rss_idle_mb: float
    rss_end_mb: float
    rss_peak_mb: float


@dataclass
class Report:
    database: str
    rounds: int
    turns_per_round: int
    warmup: int
    settle_ms: float
    order: list[str]
    contenders: dict[str, ContenderResult]
    processes: dict[str, ProcessResult]
    skipped: dict[str, str]
    profiled: bool
    seconds: float
    load_average: tuple[float, float, float]
    #: Emails the bot sent while measured turns ran (the demo's card actions notify in Teams only).
    emails: int
    profiles: list[str] = field(default_factory=list)

    @property
    def errors(self) -> int:
        return sum(c.errors for c in self.contenders.values())

    def ratio(self, over: str, under: str) -> float | None:
        a, b = self.contenders.get(over), self.contenders.get(under)
        if a is None or b is None or not b.p50_ms:
            return None
        return a.p50_ms / b.p50_ms

    def targets(self) -> list[tuple[str, bool | None]]:
        """Issue 16's first target, each part met (True), missed (False) or not measured (None)."""
        help_bare = self.ratio("help", "bare")
        help_agents = self.ratio("help", "agents-echo")
        card = self.contenders.get("card")
        limit = CARD_TARGET_MS[self.database]
        return [
            (
                f"help p50 <= {HELP_OVER_BARE}x bare"
                + (f" (is {help_bare:.2f}x)" if help_bare is not None else ""),
                None if help_bare is None else help_bare <= HELP_OVER_BARE,
            ),
            (
                "help p50 <= Agents SDK echo p50"
                + (f" (is {help_agents:.2f}x)" if help_agents is not None else ""),
                None if help_agents is None else help_agents <= 1.0,
            ),
            (
                f"card action p50 < {limit:g} ms on {self.database}"
                + (f" (is {card.p50_ms:.2f} ms)" if card is not None else ""),
                None if card is None else card.p50_ms < limit,
            ),
        ]

    def as_json(self) -> dict[str, Any]:
        data = asdict(self)
        data["ratios"] = {
            "help/bare": self.ratio("help", "bare"),
            "help/agents-echo": self.ratio("help", "agents-echo"),
        }
        data["targets"] = [{"target": what, "met": met} for what, met in self.targets()]
        data["command"] = " ".join(sys.argv)
        data["cpus"] = os.cpu_count()
        return data


def _bot_env(database_url: str, smtp_port: int) -> dict[str, str]:
    """The environment `python -m bot` is served with (as bench/load.py serves it): local mode, a database
    of its own, the demo directory, a data key, mail to a local sink."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SMTP_", "Microsoft"))}
    env.pop("TRIAL_CLOCK_FILE", None)
    return {
        **env,
        "DATABASE_URL": database_url,
        "DIRECTORY_FILE": str(DEMO_DIRECTORY),
        KEY_ENV: os.environ.get(KEY_ENV) or generate_key(),
        "SMTP_HOST": "127.0.0.1",
        "SMTP_PORT": str(smtp_port),
        "SMTP_STARTTLS": "false",
        "SMTP_FROM": "challenge-bot@example.org",
    }


def _servers(
    wanted: set[str], database_url: str, smtp_port: int, logs: Path, profile_dir: Path | None
) -> tuple[dict[str, Server], dict[str, str]]:
    servers: dict[str, Server] = {}
    skipped: dict[str, str] = {}
    plain_env = {k: v for k, v in os.environ.items() if not k.startswith("Microsoft")}
    if "bare" in wanted:
        servers["bare"] = Server(
            "bare", [sys.executable, str(CONTENDERS_DIR / "bare.py")], plain_env, logs / "bare.log"
        )
    if "agents-echo" in wanted:
        try:
            python = agents_python(AGENTS_VENV)
        except Unavailable as error:
            skipped["agents-echo"] = str(error)
        else:
            servers["agents-echo"] = Server(
                "agents-echo",
                [str(python), str(CONTENDERS_DIR / "agents_echo.py")],
                plain_env,
                logs / "agents-echo.log",
            )
    if "botbuilder-echo" in wanted:
        servers["botbuilder-echo"] = Server(
            "botbuilder-echo",
            [sys.executable, str(CONTENDERS_DIR / "botbuilder_echo.py")],
            plain_env,
            logs / "botbuilder-echo.log",
        )
    if "ours" in wanted:
        env = _bot_env(database_url, smtp_port)
        if profile_dir is not None:
            argv = [sys.executable, str(CONTENDERS_DIR / "profiled_bot.py")]
            env["TURN_COST_PROFILE_DIR"] = str(profile_dir)
        else:
            argv = [sys.executable, "-m", "bot"]
        servers["ours"] = Server("ours", argv, env, logs / "ours.log", ready_path="/readyz")
    return servers, skipped


async def run(
    *,
    rounds: int = 10,
    turns_per_round: int = 25,
    warmup: int = 20,
    database: str = "sqlite",
    postgres_url: str = POSTGRES_URL,
    only: tuple[str, ...] = CONTENDERS,
    profile: bool = False,
    settle_ms: float = 0.0,
    logs: Path | None = None,
    progress: Callable[[str], Awaitable[None] | None] | None = None,
) -> Report:
    """Start the chosen contenders, warm them up, run the alternating rounds, stop them; the figures."""
    started_run = time.monotonic()
    say = progress or (lambda _line: None)
    with tempfile.TemporaryDirectory(prefix="turn-cost-") as name:
        folder = Path(name)
        logs = logs or folder
        logs.mkdir(parents=True, exist_ok=True)
        profile_dir = VAR if profile else None
        if profile_dir is not None:
            profile_dir.mkdir(parents=True, exist_ok=True)
            for old in profile_dir.glob(f"profile-*-{database}.pyisession"):
                old.unlink()
        wanted = {PROCESS_OF[c] for c in only}
        db = Database(database, folder, postgres_url)
        sink = CountingSink()
        mail = Controller(sink, hostname="127.0.0.1", port=_free_port())
        servers, skipped = _servers(wanted, db.url, mail.port, logs, profile_dir)
        order = [c for c in CONTENDERS if c in only and PROCESS_OF[c] in servers]
        for contender, reason in list(skipped.items()):
            await _maybe(say(f"{contender} skipped: {reason}"))
        tallies = {c: Tally() for c in order}
        emails = 0
        if "ours" in servers:
            os.environ.setdefault(KEY_ENV, servers["ours"].env[KEY_ENV])  # for the PostgreSQL migration
            await db.create()
            mail.start()
        try:
            async with (
                FakeConnector() as connector,
                aiohttp.ClientSession(
                    connector=aiohttp.TCPConnector(limit=1), timeout=aiohttp.ClientTimeout(total=60)
                ) as http,
            ):
                bench = Bench(http, connector, servers, settle_ms / 1000)
                try:
                    for server in servers.values():
                        await server.start(http)
                        await _maybe(say(f"{server.name} ready, {server.rss_idle_kb / 1024:.1f} MB resident"))
                    if "ours" in servers and "card" in order:
                        await bench.raise_challenges()
                    for _ in range(warmup):
                        for contender in order:
                            await bench.turn(contender, None)
                    if "ours" in servers:
                        await _quiet(connector, seconds=0.5)
                    emails_before = sink.count
                    for number in range(rounds):
                        shift = number % max(1, len(order))
                        for contender in order[shift:] + order[:shift]:
                            if profile and contender in ("help", "card"):
                                label = f"{contender}-{database}"
                                await _profile_switch(servers["ours"], profile_dir, label)
                            for _ in range(turns_per_round):
                                await bench.turn(contender, tallies[contender])
                            if profile and contender in ("help", "card"):
                                await _profile_switch(servers["ours"], profile_dir, "")
                        await _maybe(say(f"round {number + 1} of {rounds} done"))
                    for server in servers.values():
                        server.measure_end()
                    emails = sink.count - emails_before
                finally:
                    for server in servers.values():
                        await server.stop()
        finally:
            if "ours" in servers:
                mail.stop()
                await db.drop()
        profiles = _render_profiles(profile_dir, database) if profile_dir is not None else []
    results = {name: _result(name, tallies[name]) for name in order}
    processes = {
        name: ProcessResult(
            name,
            server.process.pid if server.process else 0,
            round(server.rss_idle_kb / 1024, 1),
            round(server.rss_end_kb / 1024, 1),
            round(server.rss_peak_kb / 1024, 1),
        )
        for name, server in servers.items()
    }
    return Report(
        database=database,
        rounds=rounds,
        turns_per_round=turns_per_round,
        warmup=warmup,
        settle_ms=settle_ms,
        order=order,
        contenders=results,
        processes=processes,
        skipped=skipped,
        profiled=profile,
        seconds=round(time.monotonic() - started_run, 1),
        load_average=os.getloadavg(),
        emails=emails,
        profiles=[str(p) for p in profiles],
    )


async def _maybe(outcome: Awaitable[None] | None) -> None:
    if outcome is not None:
        await outcome


async def _profile_switch(server: Server, folder: Path | None, label: str) -> None:
    """Tell the profiled bot to profile `label`'s turns from now on (or to stop, for "")."""
    assert folder is not None
    ack = folder / "control.ack"
    ack.unlink(missing_ok=True)
    (folder / "control").write_text(label)
    server.signal(signal.SIGUSR1)
    deadline = time.monotonic() + 10
    while not (ack.exists() and ack.read_text() == label):
        if time.monotonic() > deadline:
            raise RuntimeError("the profiled bot did not answer the profiler's switch")
        await asyncio.sleep(0.005)


def _result(name: str, tally: Tally) -> ContenderResult:
    samples = tally.samples_ms
    return ContenderResult(
        name=name,
        process=PROCESS_OF[name],
        turns=tally.turns,
        verified=tally.verified,
        errors=sum(tally.errors.values()),
        error_kinds=dict(tally.errors),
        p50_ms=round(percentile(samples, 0.5), 2),
        p99_ms=round(percentile(samples, 0.99), 2),
        mean_ms=round(sum(samples) / len(samples), 2) if samples else 0.0,
        min_ms=round(min(samples, default=0.0), 2),
        max_ms=round(max(samples, default=0.0), 2),
        notified_p50_ms=round(percentile(tally.notified_ms, 0.5), 2) if tally.notified_ms else None,
        notified_p99_ms=round(percentile(tally.notified_ms, 0.99), 2) if tally.notified_ms else None,
    )


# ---- profiles ------------------------------------------------------------------------------------------

#: Where the event loop waits for the next request: time there is the bot idle, not a turn's cost.
IDLE_FUNCTIONS = {("select", "selectors.py"), ("poll", "selectors.py")}
#: The frames every sample of the bot's main thread passes through, from the thread to the event loop's
#: callbacks: in the cumulative ranking they would only say "everything".
STEM = {
    "MainThread",
    "<module>",
    "main",
    "_serve",
    "run_server",
    "run_app",
    "run_until_complete",
    "run_forever",
    "_run_once",
    "_run",
    "_run_code",
    "_run_module_as_main",
}


def _render_profiles(folder: Path, database: str) -> list[Path]:
    """Each saved session as text (pyinstrument's call tree, then the top functions by own and cumulative
    time, idle left out) and HTML."""
    from pyinstrument.renderers import ConsoleRenderer, HTMLRenderer
    from pyinstrument.session import Session

    written = []
    for path in sorted(folder.glob(f"profile-*-{database}.pyisession")):
        session = Session.load(path)
        tree = ConsoleRenderer(unicode=False, color=False, short_mode=False).render(session)
        text = path.with_suffix(".txt")
        text.write_text(tree + "\n" + profile_tables(session, top=25))
        path.with_suffix(".html").write_text(HTMLRenderer().render(session))
        written.append(text)
    return written


def profile_tables(session: Any, top: int = 10) -> str:
    """The functions with the most own time and the most cumulative time (each counted once per stack, so
    recursion is not counted twice), as shares of the time the bot was busy: the time the event loop waited
    in the selector for the next request is left out, and so is the stem every busy sample shares (the
    thread, the event loop, aiohttp's request handling down to our handler)."""
    root = session.root_frame(trim_stem=False)
    if root is None:
        return "(no samples)\n"
    own: dict[tuple[str, str], float] = {}
    cumulative: dict[tuple[str, str], float] = {}

    def key(frame: Any) -> tuple[str, str]:
        where = f"{frame.file_path_short or frame.file_path or '?'}:{frame.line_no or 0}"
        return frame.function, where

    def idle(frame: Any) -> bool:
        return (frame.function, Path(frame.file_path or "").name) in IDLE_FUNCTIONS

    def busy_time(frame: Any, memo: dict[int, float] = {}) -> float:  # noqa: B006 (a cache for one call)
        if id(frame) not in memo:
            memo[id(frame)] = (
                0.0
                if idle(frame)
                else frame.total_self_time + sum(busy_time(c) for c in frame.children if not c.is_synthetic)
            )
        return memo[id(frame)]

    def walk(frame: Any, above: frozenset[tuple[str, str]]) -> None:
        if frame.is_synthetic or idle(frame):
            return
        k = key(frame)
        own[k] = own.get(k, 0.0) + frame.total_self_time
        if k not in above:
            cumulative[k] = cumulative.get(k, 0.0) + busy_time(frame)
        for child in frame.children:
            walk(child, above | {k})

    walk(root, frozenset())
    busy = max(busy_time(root), 1e-9)
    lines = [
        f"sampled {root.time:.3f} s: {busy:.3f} s busy, {root.time - busy:.3f} s waiting in the selector (idle)",
        "",
        f"top {top} functions by own time (share of busy time)",
    ]
    for (function, where), seconds in sorted(own.items(), key=lambda item: -item[1])[:top]:
        lines.append(f"  {seconds / busy:6.1%}  {seconds * 1000:9.1f} ms  {function}  {where}")
    lines += [
        "",
        f"top {top} functions by cumulative time, below the stem all samples share (share of busy time)",
    ]
    ranked = [
        item
        for item in sorted(cumulative.items(), key=lambda item: -item[1])
        if item[0][0] not in STEM and item[1] < 0.9 * busy
    ]
    for (function, where), seconds in ranked[:top]:
        lines.append(f"  {seconds / busy:6.1%}  {seconds * 1000:9.1f} ms  {function}  {where}")
    return "\n".join(lines) + "\n"


# ---- command line --------------------------------------------------------------------------------------


def print_report(report: Report) -> None:
    print(
        f"\n{report.rounds} rounds x {report.turns_per_round} turns per contender after {report.warmup} "
        f"warm-up turns each, {report.database}; milliseconds per turn"
        + ("  (PROFILED: not comparable)" if report.profiled else "")
    )
    print(
        f"{'contender':<17}{'turns':>6}{'replies':>8}{'errors':>7}{'p50':>8}{'p99':>8}{'mean':>8}"
        f"{'notified p50':>14}"
    )
    for c in report.contenders.values():
        notified = f"{c.notified_p50_ms:.2f}" if c.notified_p50_ms is not None else ""
        print(
            f"{c.name:<17}{c.turns:>6}{c.verified:>8}{c.errors:>7}{c.p50_ms:>8.2f}{c.p99_ms:>8.2f}"
            f"{c.mean_ms:>8.2f}{notified:>14}"
        )
        for what, count in c.error_kinds.items():
            print(f"    {count} x {what}")
    print(f"\n{'process':<17}{'RSS idle MB':>12}{'RSS end MB':>12}{'peak MB':>10}")
    for p in report.processes.values():
        print(f"{p.name:<17}{p.rss_idle_mb:>12.1f}{p.rss_end_mb:>12.1f}{p.rss_peak_mb:>10.1f}")
    for contender, reason in report.skipped.items():
        print(f"\n{contender} SKIPPED: {reason}")
    print()
    for what, met in report.targets():
        print(f"{'met   ' if met else 'MISSED' if met is False else 'n/a   '}  {what}")
    print(f"\nload average {' '.join(f'{x:.2f}' for x in report.load_average)}; {report.seconds} s")
    for path in report.profiles:
        print(f"profile: {path}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=10)
    parser.add_argument("--turns-per-round", type=int, default=25)
    parser.add_argument("--warmup", type=int, default=20, help="unmeasured turns per contender first")
    parser.add_argument("--database", choices=("sqlite", "postgres"), default="sqlite")
    parser.add_argument(
        "--postgres-url", default=POSTGRES_URL, help="a server where roles and schemas may be made"
    )
    parser.add_argument(
        "--only",
        default=",".join(CONTENDERS),
        help=f"contenders, comma-separated, of {', '.join(CONTENDERS)} ('ours' = help,card)",
    )
    parser.add_argument("--profile", action="store_true", help="profile our bot's turns (var/bench/)")
    parser.add_argument(
        "--settle-ms",
        type=float,
        default=0.0,
        help="pause after each card action's notification arrived (default 0: the next turn meets the end of "
        "its delivery, as under load)",
    )
    parser.add_argument("--json", type=Path, help="write the figures here")
    parser.add_argument("--logs", type=Path, help="keep each server's log in this folder")
    args = parser.parse_args()
    only: list[str] = []
    for name in (n.strip() for n in args.only.split(",") if n.strip()):
        names = ["help", "card"] if name == "ours" else [name]
        for n in names:
            if n not in CONTENDERS:
                parser.error(f"--only: {n!r} is not one of {', '.join(CONTENDERS)}, ours")
            only.append(n)
    report = asyncio.run(
        run(
            rounds=args.rounds,
            turns_per_round=args.turns_per_round,
            warmup=args.warmup,
            database=args.database,
            postgres_url=args.postgres_url,
            only=tuple(only),
            profile=args.profile,
            settle_ms=args.settle_ms,
            logs=args.logs,
            progress=lambda line: print(line, flush=True),
        )
    )
    print_report(report)
    if args.json is not None:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(report.as_json(), indent=2))
    if report.errors:
        sys.exit(1)


if __name__ == "__main__":
    main()
