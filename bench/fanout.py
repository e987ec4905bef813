"""A burst of due notifications delivered by the bot process as it is served, against Teams' published limits.

The real bot (`python -m bot`, local mode; with `--instances N` that many processes on one database) is started
with a fake Bot Connector as every conversation's service URL; the fake enforces Teams' limits per
conversation (7 a second, 8 per 2 s, 60 per 30 s, 1,800 an hour) and per app per tenant (`--tenant-rps`: 50
a second as Microsoft's rate-limiting page is quoted, 30 in a revision of its source) and answers 429 with
`Retry-After` beyond them (tests/fakes/rate_limits.py).

Before the bots start, an invented directory is loaded, challenges are raised through the service (their own
notifications marked delivered, so they are not part of the burst), every person is given a stored 1:1
conversation reference, and the burst is queued in the outbox, due at one instant a little later: by default
1,000 reminders, 3 to each of 200 people and 20 to each of 20 busy people (team managers and leads on many
challenges). The bots' schedulers sleep until that instant (the outbox's next attempt), then deliver.
Notifications only ever go to people's 1:1 chats with the bot, never to group chats or channels (they name
a case), so the busy people's chats stand for conversations that get many messages at once. Everyone is in
one tenant: botbuilder's proactive messages do not name their tenant, so the fake counts them all in one, as
Teams would count one tenant's.

Measured: the time from the due instant to the last message Teams accepted, against the least time the
fake's own limits allow for the very sends made in the order they were made (`drain_time`), and against a
lower bound for any order (the tenant's windows alone, and the busiest conversation's); the 429s; lost
(queued, never accepted) and duplicates (one notification accepted twice); the outbox rows' final status.

    .venv/bin/python bench/fanout.py --database sqlite
    .venv/bin/python bench/fanout.py --database postgres --instances 1,2,4 --json fanout.json
    .venv/bin/python bench/fanout.py --database postgres --instances 2 --tenant-rps 30
    .venv/bin/python bench/fanout.py --database postgres --instances 1,2,4 --turns-duration 20  # turns too
    .venv/bin/python bench/fanout.py --py-spy $(which py-spy) --logs logs   # where the bot's time goes

With `--turns-duration`, each instance count also runs bench/load.py's virtual users (raise, respond, list,
help) spread over the instances, on a fresh database, for that many measured seconds: turns a second and p50
and p95.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import re
import sys
import tempfile
import time
from collections import Counter
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import aiohttp
import yaml
from aiosmtpd.controller import Controller
from aiosmtpd.handlers import Sink
from sqlalchemy import text, update

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.load import (
    COUNCIL_TENANT,
    POSTGRES_URL,
    BotProcess,
    ConnectorThread,
    Database,
    Tally,
    VirtualUser,
    _free_port,
    invent_directory,
    percentile,
)
from bot.config import Settings
from bot.wiring import make_service, open_database
from process.challenge import Notification, NotificationKind
from process.directory import Contact
from storage.conversations import ConversationStore
from storage.crypto import KEY_ENV, generate_key
from storage.outbox import DeliveryStatus, enqueue
from storage.schema import outbox
from tests.fakes import FakeConnector
from tests.fakes.rate_limits import PER_BOT_PER_THREAD, RateLimits, Window, drain_time
from tests.support.people import raise_request

REFERENCE = re.compile(r"DUR-\d{4}-\d{4,}")
#: A proactive message continues the stored conversation: botbuilder posts it as a reply to the activity id
#: it makes up, so both count.
_SENDS = ("send_to_conversation", "reply_to_activity")
#: How long after the due instant every notification must have gone, beyond what the limits allow.
GRACE_SECONDS = 120.0


@dataclass
class BurstResult:
    database: str
    instances: int
    tenants: int
    tenant_rps: int
    expected: int
    delivered: int
    #: Delivered by email after Teams refused them `MAX_TEAMS_ATTEMPTS` times (the outbox says so).
    emailed_instead: int
    #: Neither accepted by Teams nor emailed.
    lost: int
    duplicates: int
    refused_429: int
    refused_by: dict[str, int]
    #: From the due instant to the last accepted message, and from the first to the last.
    drain_seconds: float
    send_seconds: float
    #: The least time the fake's limits allow for the sends as made, in their order, and for any order.
    limit_seconds: float
    lower_bound_seconds: float
    ratio: float
    first_send_after_due: float
    outbox_status: dict[str, int]
    per_instance: dict[str, int] = field(default_factory=dict)
    #: The bots' processor time (user and system, all instances) from due until all was sent, per notification.
    bot_cpu_ms_per_notification: float = 0.0
    load_average: float = 0.0
    #: Messages accepted in each second from the due instant.
    per_second: list[int] = field(default_factory=list)


@dataclass
class TurnsResult:
    database: str
    instances: int
    users: int
    seconds: float
    turns: int
    turns_per_second: float
    p50_ms: float
    p95_ms: float
    errors: int
    error_kinds: dict[str, int]
    load_average: float = 0.0


def _cpu_seconds(bot: BotProcess) -> float:
    """A process's processor time so far (user and system), from /proc."""
    assert bot.process is not None
    fields = Path(f"/proc/{bot.process.pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def burst_directory(
    people: int, busy: int, tenants: int, seed: int
) -> tuple[dict[str, Any], list[str], list[str]]:
    """The load bench's invented directory, with `people` + `busy` people in pairs; the ids of the ordinary
    and of the busy recipients. One tenant: everyone in the council's."""
    data, pairs = invent_directory((people + busy + 1) // 2, seed)
    if tenants == 1:
        for person in data["people"]:
            person["tenant_id"] = COUNCIL_TENANT
    ids = [someone.id for pair in pairs for someone in (pair.raiser, pair.challenged)]
    return data, ids[:people], ids[people : people + busy]


async def seed_burst(
    database_url: str,
    directory_file: Path,
    service_url: str,
    *,
    ordinary: list[str],
    busy: list[str],
    per_person: int,
    per_busy: int,
    due: datetime,
) -> int:
    """Load the directory, raise the challenges, store everyone's 1:1 conversation, queue the burst due at
    `due`; how many notifications were queued."""
    settings = Settings.from_env(
        {"DATABASE_URL": database_url, "DIRECTORY_FILE": str(directory_file), "POLICIES": "durham"}
    )
    database = await open_database(settings)
    try:
        service = make_service(settings, database)
        directory = await service.directory()
        challenges = max(per_person, per_busy)
        raised = []
        for i in range(challenges):
            decision = await service.raise_challenge(
                f"iro{i}",
                "durham",
                raise_request(
                    "durham", challenged_agency_id="health_visiting", challenged_person_id=f"hv{i}"
                ),
            )
            raised.append(decision.challenge)
        conversations = ConversationStore(database)
        for person in directory.people.values():
            if not person.aad_object_id:
                continue
            await conversations.save(
                {
                    "activityId": None,
                    "user": {"id": f"29:{person.aad_object_id}", "aadObjectId": person.aad_object_id},
                    "bot": {"id": "28:challenge-bot", "name": "Challenge bot"},
                    "conversation": {
                        "id": f"a:personal-{person.aad_object_id}",
                        "conversationType": "personal",
                        "tenantId": person.tenant_id,
                    },
                    "channelId": "msteams",
                    "serviceUrl": service_url,
                }
            )
        burst: list[Notification] = []
        # As a pass of the deadline clock queues them: challenge after challenge, each to its recipients.
        for number, challenge in enumerate(raised):
            recipients = (ordinary if number < per_person else []) + (busy if number < per_busy else [])
            for person_id in recipients:
                someone = directory.person(person_id)
                assert someone is not None
                burst.append(
                    Notification(
                        kind=NotificationKind.REMINDER,
                        recipient=Contact(someone.name, someone.email, someone.id),
                        roles=("challenged",),
                        challenge_id=challenge.id,
                        reference=challenge.reference,
                        stage=challenge.stage,
                        due_at=challenge.next_due_at,
                        action_needed=True,
                    )
                )
        async with database.transaction() as conn:
            # The challenges' own notifications are not part of the burst.
            await conn.execute(
                update(outbox)
                .where(text("status IN ('pending', 'sending')"))
                .values(status=DeliveryStatus.DELIVERED.value, channel="seeded", delivered_at=due)
            )
            await enqueue(conn, burst, due)
        return len(burst)
    finally:
        await database.dispose()


def _accepted_sends(connector: FakeConnector, since: float) -> list[tuple[float, str, str, str]]:
    """(at, conversation, tenant, reference) of each reminder Teams accepted since `since`."""
    found: list[tuple[float, str, str, str]] = []
    for request in list(connector.requests):
        if request.operation not in _SENDS or request.status >= 300 or request.at < since:
            continue
        summary = request.body.get("summary") if isinstance(request.body, dict) else None
        match = REFERENCE.search(str(summary))
        # The fake counts a request naming no tenant in one "unknown tenant" (botbuilder's proactive messages
        # do not name theirs): so does `drain_time` here.
        tenant = request.tenant_id or "unknown tenant"
        found.append((request.at, request.conversation_id or "", tenant, match.group(0) if match else ""))
    return found


async def run_burst(
    kind: str,
    instances: int,
    *,
    people: int,
    busy: int,
    per_person: int,
    per_busy: int,
    tenants: int,
    tenant_rps: int,
    seed: int,
    lead: float,
    folder: Path,
    logs: Path,
    postgres_url: str,
    profile_with: str | None = None,
) -> BurstResult:
    data, ordinary, busy_ids = burst_directory(people, busy, tenants, seed)
    directory = folder / f"directory-{tenants}.yaml"
    directory.write_text(yaml.safe_dump(data, sort_keys=False))
    database = Database(kind, folder, postgres_url)
    await database.create()
    mail = Controller(Sink(), hostname="127.0.0.1", port=_free_port())
    mail.start()
    thread = ConnectorThread()
    thread.connector = FakeConnector(RateLimits(per_tenant=(Window(1, tenant_rps),)))
    bots: list[BotProcess] = []
    try:
        with thread as connector:
            due = datetime.now(UTC) + timedelta(seconds=lead)
            expected = await seed_burst(
                database.url,
                directory,
                connector.service_url,
                ordinary=ordinary,
                busy=busy_ids,
                per_person=per_person,
                per_busy=per_busy,
                due=due,
            )
            async with aiohttp.ClientSession() as http:
                os.environ["TEAMS_TENANT_RPS"] = str(tenant_rps)
                bots = [
                    BotProcess(
                        database.url, directory, logs / f"fanout-{kind}-{instances}-{i}.log", mail.port
                    )
                    for i in range(instances)
                ]
                await asyncio.gather(*(bot.start(http) for bot in bots))
                left = (due - datetime.now(UTC)).total_seconds()
                if left <= 0:
                    raise RuntimeError(
                        f"the bots were ready {-left:.1f} s after the burst was due: raise --lead"
                    )
                # The due instant on the fake's clock (time.monotonic, this process).
                due_at = time.monotonic() + (due - datetime.now(UTC)).total_seconds()
                cpu_before = sum(_cpu_seconds(bot) for bot in bots)
                spies = [
                    await asyncio.create_subprocess_exec(
                        profile_with,
                        "record",
                        "--pid",
                        str(bot.process.pid),
                        "--duration",
                        str(int(left + expected / tenant_rps + 8)),
                        "--format",
                        "raw",
                        "--output",
                        str(logs / f"profile-{kind}-{instances}-{i}.txt"),
                        stdout=asyncio.subprocess.DEVNULL,
                        stderr=asyncio.subprocess.DEVNULL,
                    )
                    for i, bot in enumerate(bots)
                    if profile_with and bot.process is not None
                ]
                give_up = due_at + GRACE_SECONDS + expected / tenant_rps * 2
                while time.monotonic() < give_up:
                    # Cheaply (this process's work slows the bots): the accepted, before telling them apart.
                    accepted = sum(
                        1 for r in list(connector.requests) if r.status < 300 and r.at >= due_at - 1
                    )
                    if (
                        accepted >= expected
                        and len({(c, r) for _, c, _, r in _accepted_sends(connector, due_at - 1)}) >= expected
                    ):
                        break
                    await asyncio.sleep(1.0)
                await asyncio.sleep(3.0)  # anything sent twice would come now
                cpu = sum(_cpu_seconds(bot) for bot in bots) - cpu_before
                for spy in spies:
                    await spy.wait()
                settings = Settings.from_env({"DATABASE_URL": database.url})
                store = await open_database(settings)
                try:
                    async with store.reading() as conn:
                        # The burst's rows (reminders; what the raised challenges queued is not).
                        rows = await conn.execute(
                            text(
                                "SELECT status, channel, claimed_by, count(*) FROM outbox WHERE kind = 'reminder' "
                                "AND (channel IS NULL OR channel <> 'seeded') GROUP BY status, channel, claimed_by"
                            )
                        )
                        status: Counter[str] = Counter()
                        by_worker: Counter[str] = Counter()
                        for row in rows:
                            status[f"{row[0]} ({row[1]})" if row[1] else row[0]] += row[3]
                            by_worker[str(row[2])] += row[3]
                finally:
                    await store.dispose()
    finally:
        for bot in bots:
            await bot.stop()
        os.environ.pop("TEAMS_TENANT_RPS", None)
        mail.stop()
        await database.drop()
    sends = sorted(_accepted_sends(connector, due_at - 1))
    keys = Counter((c, r) for _, c, _, r in sends)
    refused = [r for r in connector.requests if r.status == 429 and r.at >= due_at - 1]
    limit = drain_time(
        [(c, t) for _, c, t, _ in sends],
        per_tenant=(Window(1, tenant_rps),),
    )
    by_tenant = Counter(t for _, _, t, _ in sends)
    by_conversation = Counter(c for _, c, _, _ in sends)
    lower = max(
        [drain_time([(None, t)] * n, per_tenant=(Window(1, tenant_rps),)) for t, n in by_tenant.items()]
        + [
            drain_time([(c, None)] * n, per_conversation=PER_BOT_PER_THREAD)
            for c, n in by_conversation.items()
        ]
    )
    last = sends[-1][0] if sends else due_at
    first = sends[0][0] if sends else due_at
    return BurstResult(
        database=kind,
        instances=instances,
        tenants=tenants,
        tenant_rps=tenant_rps,
        expected=expected,
        delivered=len(keys),
        emailed_instead=status.get("delivered (email)", 0),
        lost=max(expected - len(keys) - status.get("delivered (email)", 0), 0),
        duplicates=sum(n - 1 for n in keys.values() if n > 1),
        refused_429=len(refused),
        refused_by=dict(Counter(str(r.refused_by) for r in refused)),
        drain_seconds=round(last - due_at, 2),
        send_seconds=round(last - first, 2),
        limit_seconds=round(limit, 2),
        lower_bound_seconds=round(lower, 2),
        ratio=round((last - due_at) / limit, 3) if limit else 0.0,
        first_send_after_due=round(first - due_at, 2),
        outbox_status=dict(status),
        per_instance={k.rsplit("-", 1)[-1]: v for k, v in by_worker.items()},
        bot_cpu_ms_per_notification=round(cpu * 1000 / max(expected, 1), 1),
        load_average=round(os.getloadavg()[0], 2),
        per_second=[n for _, n in sorted(Counter(int(at - due_at) for at, _, _, _ in sends).items())],
    )


async def run_turns(
    kind: str,
    instances: int,
    *,
    users: int,
    duration: float,
    warmup: float,
    seed: int,
    folder: Path,
    logs: Path,
    postgres_url: str,
) -> TurnsResult:
    """bench/load.py's virtual users, spread round-robin over `instances` bot processes on one database."""
    data, pairs = invent_directory(max(512, 8 * users), seed)
    directory = folder / "turns-directory.yaml"
    directory.write_text(yaml.safe_dump(data, sort_keys=False))
    database = Database(kind, folder, postgres_url)
    await database.create()
    tally = Tally()
    mail = Controller(Sink(), hostname="127.0.0.1", port=_free_port())
    mail.start()
    bots: list[BotProcess] = []
    try:
        with ConnectorThread() as connector:
            timeout = aiohttp.ClientTimeout(total=120)
            async with aiohttp.ClientSession(
                connector=aiohttp.TCPConnector(limit=0), timeout=timeout
            ) as http:
                bots = [
                    BotProcess(database.url, directory, logs / f"turns-{kind}-{instances}-{i}.log", mail.port)
                    for i in range(instances)
                ]
                # One after another: each loads the directory file into the shared database once.
                for bot in bots:
                    await bot.start(http)
                started = time.monotonic()
                measure_from, stop_at = started + warmup, started + warmup + duration
                vusers = [
                    VirtualUser(
                        http,
                        bots[i % instances].url,
                        connector,
                        tally,
                        lambda: time.monotonic() >= measure_from,
                    )
                    for i in range(users)
                ]
                shares = [pairs[i::users] for i in range(users)]
                await asyncio.gather(
                    *(
                        user.run(shares[i], lambda: time.monotonic() >= stop_at, first=i * 100_000)
                        for i, user in enumerate(vusers)
                    )
                )
                seconds = time.monotonic() - measure_from
    finally:
        for bot in bots:
            await bot.stop()
        mail.stop()
        await database.drop()
    for bot in bots:
        for name, count in bot.log_failures().items():
            tally.errors[f"bot log: {name}"] += count
    measured = [ms for _, ms, inside in tally.samples if inside]
    return TurnsResult(
        database=kind,
        instances=instances,
        users=users,
        seconds=round(seconds, 1),
        turns=len(measured),
        turns_per_second=round(len(measured) / seconds, 1),
        p50_ms=round(percentile(measured, 0.5), 1),
        p95_ms=round(percentile(measured, 0.95), 1),
        errors=sum(tally.errors.values()),
        error_kinds=dict(tally.errors),
        load_average=round(os.getloadavg()[0], 2),
    )


async def main_async(args: argparse.Namespace) -> list[dict[str, Any]]:
    # The benchmark's databases are its own and thrown away: a key made for this run encrypts them.
    os.environ.setdefault(KEY_ENV, generate_key())
    results: list[dict[str, Any]] = []
    logs = Path(args.logs) if args.logs else None
    with tempfile.TemporaryDirectory(prefix="challenge-fanout-") as name:
        folder = Path(name)
        if logs is not None:
            logs.mkdir(parents=True, exist_ok=True)
        for instances in [int(n) for n in args.instances.split(",")]:
            burst = await run_burst(
                args.database,
                instances,
                people=args.people,
                busy=args.busy,
                per_person=args.per_person,
                per_busy=args.per_busy,
                tenants=1,
                tenant_rps=args.tenant_rps,
                seed=args.seed,
                lead=args.lead + 6.0 * instances,
                folder=folder,
                logs=logs or folder,
                postgres_url=args.postgres,
                profile_with=args.py_spy,
            )
            print(
                f"burst {burst.database} x{burst.instances}: {burst.delivered}/{burst.expected} in "
                f"{burst.drain_seconds} s from due (limits allow {burst.limit_seconds} s in this order, "
                f"{burst.lower_bound_seconds} s in any; ratio {burst.ratio}); first send {burst.first_send_after_due} s "
                f"after due; 429s {burst.refused_429} {burst.refused_by}; emailed instead {burst.emailed_instead}; "
                f"lost {burst.lost}; duplicates "
                f"{burst.duplicates}; outbox {burst.outbox_status}; per instance {burst.per_instance}; "
                f"bot cpu {burst.bot_cpu_ms_per_notification} ms each; load {burst.load_average}",
                flush=True,
            )
            results.append({"burst": asdict(burst)})
            if args.turns_duration:
                turns = await run_turns(
                    args.database,
                    instances,
                    users=args.users,
                    duration=args.turns_duration,
                    warmup=args.warmup,
                    seed=args.seed,
                    folder=folder,
                    logs=logs or folder,
                    postgres_url=args.postgres,
                )
                print(
                    f"turns {turns.database} x{turns.instances}: {turns.users} users, {turns.turns} turns in "
                    f"{turns.seconds} s = {turns.turns_per_second}/s, p50 {turns.p50_ms} ms, p95 {turns.p95_ms} ms, "
                    f"errors {turns.errors} {turns.error_kinds}, load {turns.load_average}",
                    flush=True,
                )
                results.append({"turns": asdict(turns)})
    return results


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--database", choices=("sqlite", "postgres"), default="sqlite")
    parser.add_argument("--postgres", default=POSTGRES_URL)
    parser.add_argument(
        "--instances", default="1", help="comma-separated counts of bot processes, e.g. 1,2,4"
    )
    parser.add_argument("--people", type=int, default=200)
    parser.add_argument("--busy", type=int, default=20)
    parser.add_argument("--per-person", type=int, default=3)
    parser.add_argument("--per-busy", type=int, default=20)
    parser.add_argument("--tenant-rps", type=int, default=50)
    parser.add_argument(
        "--lead", type=float, default=20.0, help="seconds from queueing to due, plus 6 per instance"
    )
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--turns-duration", type=float, default=0.0)
    parser.add_argument("--warmup", type=float, default=3.0)
    parser.add_argument("--users", type=int, default=16)
    parser.add_argument(
        "--py-spy",
        metavar="PATH",
        help="profile each bot with this py-spy from due to the end (raw stacks in --logs)",
    )
    parser.add_argument("--json")
    parser.add_argument("--logs")
    args = parser.parse_args()
    results = asyncio.run(main_async(args))
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
