"""Thousands of hostile requests against the whole bot behind its real endpoint: never a 5xx, never a crash.

The requests come from a fixed seed (`tests/teams/hostile.py`), so a failure is reproducible: random bytes,
truncated JSON, a wrong type or a null in every activity field, huge and strange text, unknown activity types
and invoke names, bad headers, charsets and encodings, broken HTTP framing, and real card buttons (learnt from
the cards the bot sends) pressed with junk data. Afterwards the server still answers `/healthz`, nothing
logged a traceback, no turn failed in the bot's code, and the second half of the run did not grow Python's
memory beyond a generous bound (keeping one request body or one turn's objects per request would exceed it).
"""

from __future__ import annotations

import asyncio
import gc
import json
import logging
import sys
import time
from collections import Counter, defaultdict
from pathlib import Path
from typing import Any

from aiohttp import ClientSession

from bot.config import Settings
from bot.server import build_application
from cards import verbs as v
from process.directory_file import DEMO_DIRECTORY
from tests.fakes.activities import serve
from tests.fakes.connector import FakeConnector
from tests.teams.harness import DURHAM_FORM_STEPS
from tests.teams.hostile import ALEX, JSON, Hostile, HostileRequests

SEED = 13
REQUESTS = 3000
AT_ONCE = 4  # requests in flight together, as the Bot Connector sends them
#: Python memory blocks the second half may add per request before it counts as growing without bound
#: (a clean run adds well under one; keeping each request's parsed body or turn would add dozens).
BLOCKS_PER_REQUEST = 10
#: Turn failures that are not the bot's code failing on bad input: two turns of one conversation saving its
#: dialog state at once (the later one is asked to try again), and the connector refusing an answer.
OUTSIDE_FAILURES = ("storage.errors.StateConflictError", "ErrorResponseException")


class Tally(logging.Handler):
    """Counts the records the test asserts on and keeps a few examples of each, rather than every record
    as pytest's log capture does (which would itself look like a leak)."""

    def __init__(self) -> None:
        super().__init__(logging.INFO)
        self.counts: Counter[str] = Counter()
        self.examples: defaultdict[str, list[str]] = defaultdict(list)

    def emit(self, record: logging.LogRecord) -> None:
        message = record.getMessage()
        if record.exc_info is not None:
            kind = "traceback"
        elif record.name == "bot.turn" and message.startswith("turn failed"):
            kind = "outside failure" if any(f in message for f in OUTSIDE_FAILURES) else "failed turn"
        elif message.startswith("request abandoned"):
            kind = "abandoned"
        else:
            return
        self.counts[kind] += 1
        if len(self.examples[kind]) < 3:
            self.examples[kind].append(f"{record.name}: {message[:500]}")


async def send(session: ClientSession, address: tuple[str, int], hostile: Hostile) -> str:
    """The response's status, 'abandoned' for a body the client gave up on, or 'no answer' / 'closed'."""
    if hostile.raw is None:
        async with session.post(
            "/api/messages", data=hostile.body, headers=hostile.headers, skip_auto_headers=["Content-Type"]
        ) as response:
            await response.read()
            return str(response.status)
    reader, writer = await asyncio.open_connection(*address)
    try:
        writer.write(hostile.raw)
        await writer.drain()
        if not hostile.expects_answer:
            return "abandoned"
        try:
            async with asyncio.timeout(5):
                line = await reader.readline()
        except TimeoutError:
            return "no answer"
        parts = line.split()
        return parts[1].decode() if len(parts) > 1 else "closed"
    finally:
        writer.close()


def memory_blocks() -> int:
    gc.collect()
    return sys.getallocatedblocks()


async def test_thousands_of_hostile_requests_get_no_5xx_and_the_bot_stays_well(
    tmp_path: Path, fake_connector: FakeConnector
) -> None:
    settings = Settings(
        database_url=f"sqlite+aiosqlite:///{tmp_path / 'bot.db'}", directory_file=DEMO_DIRECTORY
    )
    hostile = HostileRequests(SEED, fake_connector.service_url)
    statuses: Counter[str] = Counter()
    by_kind: defaultdict[str, Counter[str]] = defaultdict(Counter)
    server_errors: list[str] = []
    blocks: list[int] = []
    tally = Tally()
    root, bot_log = logging.getLogger(), logging.getLogger("bot")
    root.addHandler(tally)
    bot_log.setLevel(logging.INFO)  # the one-line notes are INFO; aiohttp's access log stays out
    started = time.monotonic()
    try:
        async with serve(await build_application(settings)) as client:
            address = (str(client.host), int(client.port or 0))
            async with ClientSession(base_url=client.make_url("/")) as session:

                async def one(request: Hostile) -> None:
                    status = await send(session, address, request)
                    statuses[status] += 1
                    by_kind[request.kind.split(" ")[0]][status] += 1
                    if status.startswith("5") or status in ("no answer", "closed"):
                        sample = (request.raw or request.body)[:160]
                        server_errors.append(f"{status} for {request.kind}: {sample!r}")

                await _raise_one_challenge(session, hostile)
                for sent in range(AT_ONCE, REQUESTS + 1, AT_ONCE):
                    await asyncio.gather(*(one(next(hostile)) for _ in range(AT_ONCE)))
                    for activity in fake_connector.sent_activities():
                        for attachment in activity.get("attachments") or []:
                            hostile.learn(attachment.get("content"))
                    fake_connector.requests.clear()
                    if sent in (REQUESTS // 2, REQUESTS):
                        blocks.append(memory_blocks())
                health = await session.get("/healthz")
    finally:
        root.removeHandler(tally)
        bot_log.setLevel(logging.NOTSET)

    elapsed = time.monotonic() - started
    summary = (
        f"{sum(statuses.values())} requests in {elapsed:.1f} s, statuses {dict(sorted(statuses.items()))}, "
        f"Python memory blocks at half and end {blocks}, log {dict(tally.counts)}"
    )
    print(summary)
    details = f"by kind { ({kind: dict(counts) for kind, counts in sorted(by_kind.items())}) }"
    assert not server_errors, (
        f"{len(server_errors)} server errors: {server_errors[:10]}; {summary}; {details}"
    )
    assert health.status == 200, summary
    assert tally.counts["traceback"] == 0, f"tracebacks: {tally.examples['traceback']}; {summary}"
    assert tally.counts["failed turn"] == 0, f"turns failed: {tally.examples['failed turn']}; {summary}"
    assert tally.counts["abandoned"] == statuses["abandoned"], f"one line per abandoned request; {summary}"
    growth = blocks[1] - blocks[0]
    assert growth < BLOCKS_PER_REQUEST * REQUESTS / 2, f"memory grew by {growth} blocks; {summary}"


async def _raise_one_challenge(session: ClientSession, hostile: HostileRequests) -> None:
    """Alex raises a challenge the ordinary way, so hostile buttons can aim at a real one."""

    async def press(verb: str, data: dict[str, Any]) -> None:
        value = {"action": {"type": "Action.Execute", "verb": verb, "data": data}, "trigger": "manual"}
        activity = hostile.activity(
            text=None, activity_type="invoke", name="adaptiveCard/action", value=value
        )
        activity["from"] = {"id": f"29:{ALEX}", "name": "Alex Wilber", "aadObjectId": ALEX}
        activity["conversation"] = {"id": f"a:personal-{ALEX}", "conversationType": "personal"}
        async with session.post("/api/messages", data=json.dumps(activity), headers=JSON) as response:
            assert response.status == 200, await response.text()
            body = await response.json()
        assert "Something went wrong" not in json.dumps(body), body
        hostile.learn(body.get("value"))

    await press(v.RAISE_START, {})
    for step, inputs in DURHAM_FORM_STEPS:
        await press(v.RAISE_NEXT, {"step": step, **inputs})
    await press(v.RAISE_CONFIRM, {"step": "review"})
