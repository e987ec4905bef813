"""How long one echo turn takes through the real endpoint, with the SDK's stock authentication and ours.

Each turn is an HTTP POST of a message activity to `/api/messages`; the echo bot replies to a fake Bot
Connector on loopback before the POST is answered, so a turn's time includes the reply. A bare aiohttp
handler is measured too, as the floor. Run from the repository root:

    .venv/bin/python bench/turn_latency.py --turns 500
"""

from __future__ import annotations

import argparse
import asyncio
import math
import sys
import time
from collections.abc import Callable
from pathlib import Path

from aiohttp import web
from botbuilder.core import ActivityHandler, TurnContext
from botbuilder.integration.aiohttp import CloudAdapter, ConfigurationBotFrameworkAuthentication

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bot.config import Settings
from bot.server import build_adapter, create_app
from tests.fakes import FakeConnector, make_activity, post_activity, serve


class EchoBot(ActivityHandler):
    async def on_message_activity(self, turn_context: TurnContext) -> None:
        await turn_context.send_activity(f"echo: {turn_context.activity.text}")


def bare_app() -> web.Application:
    async def accept(request: web.Request) -> web.Response:
        await request.json()
        return web.Response(status=201)

    app = web.Application()
    app.router.add_post("/api/messages", accept)
    return app


def stock_app() -> web.Application:
    adapter = CloudAdapter(ConfigurationBotFrameworkAuthentication(Settings().to_sdk_config()))
    return create_app(Settings(), EchoBot(), adapter=adapter)


def caching_app() -> web.Application:
    return create_app(Settings(), EchoBot(), adapter=build_adapter(Settings()))


async def measure(
    make_app: Callable[[], web.Application], service_url: str, turns: int, warmup: int
) -> list[float]:
    samples: list[float] = []
    async with serve(make_app()) as client:
        for turn in range(warmup + turns):
            activity = make_activity(f"turn {turn}", service_url=service_url)
            started = time.perf_counter()
            response = await post_activity(client, activity)
            await response.read()
            elapsed = time.perf_counter() - started
            if response.status != 201:
                raise RuntimeError(f"turn {turn} answered {response.status}")
            if turn >= warmup:
                samples.append(elapsed * 1000)
    return samples


def percentile(samples: list[float], fraction: float) -> float:
    ordered = sorted(samples)
    return ordered[max(0, math.ceil(fraction * len(ordered)) - 1)]


async def main(turns: int, warmup: int) -> None:
    variants = [("bare aiohttp", bare_app), ("stock auth", stock_app), ("caching auth", caching_app)]
    async with FakeConnector() as connector:
        print(f"{turns} turns each after {warmup} warm-up turns; milliseconds per turn")
        print(f"{'variant':<14}{'p50':>8}{'p99':>8}{'mean':>8}")
        for name, make_app in variants:
            samples = await measure(make_app, connector.service_url, turns, warmup)
            mean = sum(samples) / len(samples)
            print(f"{name:<14}{percentile(samples, 0.5):>8.2f}{percentile(samples, 0.99):>8.2f}{mean:>8.2f}")
        replies = len(connector.sent_texts())
        print(f"replies received by the fake connector: {replies} (expected {2 * (turns + warmup)})")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--turns", type=int, default=500, help="measured turns per variant (default 500)")
    parser.add_argument("--warmup", type=int, default=20, help="unmeasured turns first (default 20)")
    arguments = parser.parse_args()
    asyncio.run(main(arguments.turns, arguments.warmup))
