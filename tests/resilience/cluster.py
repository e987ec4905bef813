"""A private PostgreSQL cluster for one test: made with `initdb` in a temporary folder, on a port of its own,
trust authentication on loopback, so a test can stop and restart it without touching the machine's server.

The server runs as the `postgres` user (`runuser`, since the tests run as root and PostgreSQL refuses root);
`PrivateCluster.missing()` says why a cluster cannot be made here, for the test to skip (or fail under CI).
"""

from __future__ import annotations

import asyncio
import os
import pwd
import random
import shutil
import subprocess
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import aiohttp
import asyncpg

from bot.errors import APOLOGY
from cards import verbs as v
from storage.clock import SharedClock
from storage.db import Database
from storage.migrate import upgrade
from tests.fakes.connector import FakeConnector
from tests.resilience.harness import (
    BotProcess,
    Ledger,
    Load,
    LoadFigures,
    MailServer,
    Verdict,
    acknowledged_losses,
    audit_verify,
    create_database,
    free_port,
    readyz,
    settle,
)


def _bin_dir() -> Path | None:
    """The newest installed PostgreSQL's programs (`/usr/lib/postgresql/N/bin`), or PG_BIN if set."""
    if os.environ.get("PG_BIN"):
        return Path(os.environ["PG_BIN"])
    found = sorted(Path("/usr/lib/postgresql").glob("*/bin/initdb"), key=lambda p: int(p.parts[-3]))
    return found[-1].parent if found else None


@dataclass
class PrivateCluster:
    """`start`, `stop(mode)`, `url`; `stop` and `start` wait until the server has stopped or accepts."""

    root: Path
    port: int = field(default_factory=free_port)

    @staticmethod
    def missing() -> str | None:
        """Why no private cluster can be made on this machine, or None."""
        bin_dir = _bin_dir()
        if bin_dir is None or not (bin_dir / "initdb").exists():
            return "PostgreSQL's initdb is not installed (Debian: postgresql-15; or set PG_BIN)"
        if os.geteuid() == 0:
            if shutil.which("runuser") is None:
                return "runuser is missing (needed to run PostgreSQL as the postgres user)"
            try:
                pwd.getpwnam("postgres")
            except KeyError:
                return "there is no postgres user to run the cluster as"
        return None

    @property
    def data(self) -> Path:
        return self.root / "data"

    @property
    def url(self) -> str:
        return f"postgresql+asyncpg://postgres@127.0.0.1:{self.port}/postgres"

    def _run(self, program: str, *args: str, timeout: float = 60.0) -> None:
        bin_dir = _bin_dir()
        assert bin_dir is not None
        command = [str(bin_dir / program), *args]
        if os.geteuid() == 0:
            command = ["runuser", "-u", "postgres", "--", *command]
        done = subprocess.run(command, capture_output=True, text=True, timeout=timeout, check=False)
        if done.returncode != 0:
            raise RuntimeError(
                f"{program} {' '.join(args)} failed ({done.returncode}):\n{done.stdout}{done.stderr}"
            )

    def init(self) -> None:
        self.root.mkdir(parents=True, exist_ok=True)
        if os.geteuid() == 0:
            user = pwd.getpwnam("postgres")
            os.chown(self.root, user.pw_uid, user.pw_gid)
        self._run("initdb", "-D", str(self.data), "-A", "trust", "-U", "postgres", "--no-sync", "-E", "UTF8")

    def start(self) -> None:
        options = f"-p {self.port} -k {self.root} -c listen_addresses=127.0.0.1"
        self._run(
            "pg_ctl", "-D", str(self.data), "-o", options, "-l", str(self.root / "server.log"), "-w", "start"
        )

    def stop(self, mode: str = "fast") -> None:
        """`fast` (sessions ended, a checkpoint) or `immediate` (as a crash: recovery at the next start)."""
        self._run("pg_ctl", "-D", str(self.data), "-m", mode, "-w", "stop")

    def log_tail(self, chars: int = 3000) -> str:
        path = self.root / "server.log"
        return path.read_text(errors="replace")[-chars:] if path.exists() else ""

    async def wait_accepting(self, within: float = 30.0) -> float:
        """Poll until the server takes a connection; the monotonic instant it first did."""
        deadline = time.monotonic() + within
        while time.monotonic() < deadline:
            try:
                connection = await asyncpg.connect(
                    host="127.0.0.1", port=self.port, user="postgres", database="postgres", timeout=2
                )
            except (OSError, asyncpg.PostgresError, TimeoutError):
                await asyncio.sleep(0.02)
                continue
            at = time.monotonic()
            await connection.close()
            return at
        raise AssertionError(f"the private PostgreSQL did not accept connections within {within} s")


@dataclass
class Outage:
    """One stop and start of the private PostgreSQL under load, as the bot saw it."""

    mode: str
    #: `/readyz` while the server was down: status -> count (0: no answer in 8 s).
    readyz_down: Counter[int] = field(default_factory=Counter)
    readyz_bodies: set[str] = field(default_factory=set)
    #: Turns tried while it was down (a card button and a message): what each got.
    turns_down: Counter[str] = field(default_factory=Counter)
    #: From the server accepting again to `/readyz` 200, and to the first turn that read a challenge.
    ready_seconds: float = 0.0
    turn_seconds: float = 0.0

    def summary(self) -> str:
        return (
            f"{self.mode}: readyz while down {dict(self.readyz_down)} {sorted(self.readyz_bodies)}, "
            f"turns while down {dict(self.turns_down)}, ready again after {self.ready_seconds:.2f} s, "
            f"first turn after {self.turn_seconds:.2f} s"
        )


@dataclass
class OutageFigures:
    outages: list[Outage] = field(default_factory=list)
    load: LoadFigures = field(default_factory=LoadFigures)
    verdict: Verdict | None = None
    acknowledged_lost: list[str] = field(default_factory=list)
    audit_status: int | None = None
    audit_output: str = ""

    def summary(self) -> str:
        assert self.verdict is not None
        v = self.verdict
        return "; ".join(o.summary() for o in self.outages) + (
            f"; acknowledged={self.load.acknowledged} acknowledged_lost={len(self.acknowledged_lost)} "
            f"notifications={v.rows} undelivered={len(v.undelivered)} lost={sum(v.lost.values())} "
            f"duplicates={sum(v.duplicated.values())} window_repeats={v.window_repeats} "
            f"http={dict(sorted(self.load.statuses.items()))} audit_verify={self.audit_status}"
        )


async def _probe(load: Load, session: aiohttp.ClientSession, base: str, reference: str) -> tuple[str, str]:
    """A card button that reads a challenge, and a message: what each got ("card", "apology", "503", ...)."""
    value = {"action": {"type": "Action.Execute", "verb": v.SHOW, "data": {"reference": reference}}}
    invoke = load.activity("alex", text=None, activity_type="invoke", name="adaptiveCard/action", value=value)
    answer = await load.post(session, base, invoke)
    body = answer.body if isinstance(answer.body, dict) else {}
    if answer.status == 200 and body.get("type") == "application/vnd.microsoft.card.adaptive":
        button = "card"
    elif answer.status == 200 and body.get("value", {}).get("message") == APOLOGY:
        button = "apology"
    else:
        button = str(answer.status)
    message = load.activity("alex", text="my challenges")
    answer = await load.post(session, base, message)
    replies = [
        r.body
        for r in load.connector.requests
        if r.operation == "reply_to_activity" and r.activity_id == message["id"] and isinstance(r.body, dict)
    ]
    if answer.status in (200, 201) and any(r.get("text") == APOLOGY for r in replies):
        said = "apology"
    elif answer.status in (200, 201) and replies:
        said = "answer"
    else:
        said = str(answer.status)
    return button, said


async def postgres_outages(
    cluster: PrivateCluster, workdir: Path, *, modes: tuple[str, ...], seed: int, down_seconds: float = 2.0
) -> OutageFigures:
    """The bot under load against `cluster` (started), which is stopped in each of `modes` for `down_seconds`
    and started again; then everything due is delivered and counted."""
    figures = OutageFigures()
    database_url = await create_database(cluster.url)
    await upgrade(database_url)
    clock_file = workdir / "clock.json"
    mail = MailServer()
    mail.start()
    database = await Database.connect(database_url)
    try:
        async with FakeConnector() as connector:
            ledger = Ledger(connector, mail)
            load = Load(connector, random.Random(seed))
            figures.load = load.figures
            bot = BotProcess(workdir, database_url, clock_file, mail.port)
            try:
                await bot.start()
                async with aiohttp.ClientSession() as session:
                    await load.install_everyone(session, bot.base)
                    reference = await load.raise_one(session, bot.base)
                    assert reference is not None, bot.log_tail()
                    stop = asyncio.Event()
                    running = asyncio.create_task(load.run([bot.base], until=stop.is_set))
                    recovered = SharedClock(clock_file)()
                    for mode in modes:
                        await asyncio.sleep(1.5)
                        outage = Outage(mode)
                        figures.outages.append(outage)
                        await asyncio.to_thread(cluster.stop, mode)
                        down_until = time.monotonic() + down_seconds
                        while time.monotonic() < down_until:
                            async with session.get(f"{bot.base}/readyz") as response:
                                outage.readyz_down[response.status] += 1
                                outage.readyz_bodies.add((await response.json())["status"])
                            for said in await _probe(load, session, bot.base, reference):
                                outage.turns_down[said] += 1
                            await asyncio.sleep(0.1)
                        await asyncio.to_thread(cluster.start)
                        accepting = await cluster.wait_accepting()
                        recovered = SharedClock(clock_file)()
                        ready = turned = None
                        while ready is None or turned is None:
                            if time.monotonic() - accepting > 60:
                                raise AssertionError(f"the bot did not recover:\n{bot.log_tail()}")
                            if ready is None and await readyz(session, bot.base) == 200:
                                ready = time.monotonic()
                            if (
                                turned is None
                                and (await _probe(load, session, bot.base, reference))[0] == "card"
                            ):
                                turned = time.monotonic()
                            await asyncio.sleep(0.02)
                        outage.ready_seconds = ready - accepting
                        outage.turn_seconds = turned - accepting
                    await asyncio.sleep(1.5)
                    stop.set()
                    await running
                await ledger.note_interruption(database, claimed_before=recovered)
                await settle(bot, load, clock_file, database)
            finally:
                await bot.stop()
            figures.verdict = await ledger.check(database)
            figures.acknowledged_lost = await acknowledged_losses(database, load.figures)
        figures.audit_status, figures.audit_output = await audit_verify(database_url)
    finally:
        await database.dispose()
        mail.stop()
    return figures
