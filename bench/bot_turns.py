"""How long the challenge bot's own turns take through the real endpoint: `help`, and a card action that
changes a challenge (a response, stored with its audit event and outbox rows).

The bot runs as served (`bot.server.build_application`) on a fresh database with the invented demo directory;
replies go to a fake Bot Connector on loopback. A bare aiohttp round trip is measured in the same run, as the
floor. Run from the repository root:

    .venv/bin/python bench/bot_turns.py --turns 300
    .venv/bin/python bench/bot_turns.py --turns 300 --database postgresql+asyncpg://postgres@127.0.0.1/test
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
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.turn_latency import bare_app, measure, percentile
from bot.config import Settings
from bot.server import build_application
from cards import verbs
from process.directory_file import DEMO_DIRECTORY
from storage.crypto import KEY_ENV, generate_key
from tests.fakes import FakeConnector, make_activity, post_activity, serve
from tests.teams.harness import execute_data

ALEX = "00000000-0000-0000-0000-0000000000020"
MEGAN = "00000000-0000-0000-0000-0000000000021"
CHALLENGES = 20
RAISE = [
    ("process", {"policy_id": "durham"}),
    (
        "child",
        {"child_name": "Bench Inventedchild", "date_of_birth": "2018-05-02", "agency_reference": "B-1"},
    ),
    ("challenged", {"challenged_agency_id": "health_visiting", "challenged_person_id": "megan"}),
    ("issue", {"issue_category": "lack_of_report", "concern": "No report.", "desired_outcome": "A report."}),
]


def press(service_url: str, who: str, verb: str, data: dict[str, Any]) -> dict[str, Any]:
    value = {"action": {"type": "Action.Execute", "verb": verb, "data": data}}
    return make_activity(
        None,
        service_url=service_url,
        from_id=f"29:{who}",
        aad_object_id=who,
        conversation_id=f"a:{who}",
        activity_type="invoke",
        name="adaptiveCard/action",
        value=value,
    )


def version_of(card: dict[str, Any]) -> int:
    stack: list[Any] = [card]
    while stack:
        node = stack.pop()
        if isinstance(node, dict):
            if node.get("verb") == verbs.RESPOND:
                return int(node["data"]["version"])
            stack.extend(node.values())
        elif isinstance(node, list):
            stack.extend(node)
    raise RuntimeError("no respond button on Megan's card")


async def bot_turns(database_url: str, service_url: str, turns: int, warmup: int) -> dict[str, list[float]]:
    settings = Settings(database_url=database_url, directory_file=DEMO_DIRECTORY)
    samples: dict[str, list[float]] = {"help": [], "respond (state change)": []}
    async with serve(await build_application(settings)) as client:
        challenges = [await _raise(client, service_url) for _ in range(CHALLENGES)]
        for turn in range(warmup + turns):
            started = time.perf_counter()
            response = await post_activity(client, make_activity("help", service_url=service_url))
            await response.read()
            elapsed = time.perf_counter() - started
            if turn >= warmup:
                samples["help"].append(elapsed * 1000)
            # Responses go round the challenges, so each keeps a realistic history of a few entries.
            challenge_id, version = challenges[turn % CHALLENGES]
            data = {"challengeId": challenge_id, "version": version, "text": f"Update {turn}."}
            started = time.perf_counter()
            response = await post_activity(client, press(service_url, MEGAN, verbs.RESPOND, data))
            card = (await response.json())["value"]
            elapsed = time.perf_counter() - started
            challenges[turn % CHALLENGES] = (challenge_id, version_of(card))
            if version_of(card) != version + 1:
                raise RuntimeError(f"turn {turn}: the response was not stored")
            if turn >= warmup:
                samples["respond (state change)"].append(elapsed * 1000)
    return samples


async def _raise(client: Any, service_url: str) -> tuple[str, int]:
    """Alex raises one challenge against Megan; its id and version as Megan's card shows them."""
    # The welcome card's button: its answer is the form's first card, whose buttons name the form (draft).
    response = await post_activity(client, press(service_url, ALEX, verbs.RAISE_START, {}))
    card = (await response.json())["value"]
    for _step, inputs in RAISE:
        data = execute_data(card, verbs.RAISE_NEXT)
        response = await post_activity(client, press(service_url, ALEX, verbs.RAISE_NEXT, {**data, **inputs}))
        card = (await response.json())["value"]
    confirm = execute_data(card, verbs.RAISE_CONFIRM)
    response = await post_activity(client, press(service_url, ALEX, verbs.RAISE_CONFIRM, confirm))
    found = re.search(r"DUR-\d{4}-\d{4}", json.dumps(await response.json()))
    if found is None:
        raise RuntimeError("the challenge was not raised")
    shown = await post_activity(client, press(service_url, MEGAN, verbs.SHOW, {"reference": found.group(0)}))
    card = (await shown.json())["value"]
    return _challenge_id(card), version_of(card)


def _challenge_id(card: dict[str, Any]) -> str:
    stack: list[Any] = [card]
    while stack:
        node = stack.pop()
        if isinstance(node, dict):
            if isinstance(node.get("data"), dict) and "challengeId" in node["data"]:
                return str(node["data"]["challengeId"])
            stack.extend(node.values())
        elif isinstance(node, list):
            stack.extend(node)
    raise RuntimeError("no challenge id on the card")


async def main(turns: int, warmup: int, database: str | None) -> None:
    # A throwaway key for a throwaway database (a real deployment names its own).
    os.environ.setdefault(KEY_ENV, generate_key())
    with tempfile.TemporaryDirectory() as folder:
        url = database or f"sqlite+aiosqlite:///{Path(folder) / 'bench.db'}"
        async with FakeConnector() as connector:
            floor = await measure(bare_app, connector.service_url, turns, warmup)
            ours = await bot_turns(url, connector.service_url, turns, warmup)
        print(
            f"{turns} turns each after {warmup} warm-up turns on {url.split(':')[0]}; milliseconds per turn"
        )
        print(f"{'turn':<26}{'p50':>8}{'p99':>8}")
        for name, samples in {"bare aiohttp": floor, **ours}.items():
            print(f"{name:<26}{percentile(samples, 0.5):>8.2f}{percentile(samples, 0.99):>8.2f}")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--turns", type=int, default=300)
    parser.add_argument("--warmup", type=int, default=20)
    parser.add_argument("--database", help="a database URL (default: a fresh SQLite file)")
    arguments = parser.parse_args()
    asyncio.run(main(arguments.turns, arguments.warmup, arguments.database))
