"""How long the monitoring dashboard takes with a few hundred and a few thousand challenges.

For each database and size: invented challenges are written straight into the tables
(`tests.support.monitoring_seed`), the dashboard is served in local mode on loopback, and we time

- `GET /dashboard/api/stats` for the last 12 months (read, count, JSON), over HTTP, `--requests` times;
- the page in headless Chromium (`tests/e2e/dashboard_driver.js`): from navigation until every chart and
  table is drawn, `--loads` times, each in a fresh browser (so plotly.min.js, 4.8 MB, is fetched and parsed
  every time).

Run from the repository root (PostgreSQL: the tests' server; a schema of its own is made and dropped):

    .venv/bin/python bench/dashboard_load.py --sizes 300 3000 [--postgres postgresql+asyncpg://postgres@127.0.0.1:5432/test]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import socket
import statistics
import sys
import tempfile
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import aiohttp
from aiohttp import web
from sqlalchemy import text

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bot.config import Settings
from bot.dashboard import add_dashboard
from bot.wiring import make_service
from dialogs.monitoring import Monitoring
from process.directory_file import DEMO_DIRECTORY, load_directory_file
from storage.db import Database
from storage.directory import DirectoryStore
from storage.migrate import upgrade
from storage.monitoring import MonitoringStore
from tests.support.monitoring_seed import seed_challenges

DRIVER = Path(__file__).resolve().parents[1] / "tests" / "e2e" / "dashboard_driver.js"
AGENCIES = ["health_visiting", "dcc_iro", "dscp_unit"]


def _port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _ms(samples: list[float]) -> str:
    ordered = sorted(samples)
    p95 = ordered[min(len(ordered) - 1, round(0.95 * (len(ordered) - 1)))]
    return f"{statistics.median(ordered):.1f} / {p95:.1f}"


async def measure(url: str, schema: str | None, size: int, requests: int, loads: int) -> tuple[str, str]:
    await upgrade(url, schema=schema)
    database = await Database.connect(url, schema=schema)
    runner: web.AppRunner | None = None
    try:
        await DirectoryStore(database).replace_all(load_directory_file(DEMO_DIRECTORY))
        settings = Settings(database_url=url)
        service = make_service(settings, database)
        now = datetime.now(UTC)
        await seed_challenges(
            database,
            service.policy("durham"),
            service.calendar("durham"),
            count=size,
            agencies=AGENCIES,
            raiser_agency="dcc_iro",
            first=now - timedelta(days=365),
            now=now,
            seed=size,
        )
        app = web.Application()
        add_dashboard(app, settings, Monitoring(service, MonitoringStore(database)))
        runner = web.AppRunner(app)
        await runner.setup()
        port = _port()
        await web.TCPSite(runner, "127.0.0.1", port).start()
        base = f"http://127.0.0.1:{port}/dashboard"
        samples: list[float] = []
        async with aiohttp.ClientSession() as session:
            for i in range(requests + 2):
                started = time.perf_counter()
                async with session.get(base + "/api/stats") as response:
                    await response.read()
                    assert response.status == 200
                if i >= 2:
                    samples.append((time.perf_counter() - started) * 1000)
        page: list[float] = []
        with tempfile.TemporaryDirectory() as folder:
            for _ in range(loads):
                process = await asyncio.create_subprocess_exec(
                    "node",
                    str(DRIVER),
                    base,
                    str(Path(folder) / "shot.png"),
                    "1280",
                    "900",
                    stdout=asyncio.subprocess.PIPE,
                    stderr=asyncio.subprocess.PIPE,
                )
                out, err = await process.communicate()
                if process.returncode != 0:
                    raise RuntimeError(err.decode())
                report = json.loads(out.decode().strip().splitlines()[-1])
                page.append(float(report["loadedMs"]))
        return _ms(samples), _ms(page)
    finally:
        if runner is not None:
            await runner.cleanup()
        await database.dispose()


async def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--sizes", type=int, nargs="+", default=[300, 3000])
    parser.add_argument("--requests", type=int, default=20)
    parser.add_argument("--loads", type=int, default=3)
    parser.add_argument("--postgres", help="a PostgreSQL URL to measure as well")
    args = parser.parse_args()
    print("| database | challenges | stats endpoint p50 / p95 ms | page drawn p50 / p95 ms |")
    print("| --- | --- | --- | --- |")
    for size in args.sizes:
        with tempfile.TemporaryDirectory() as folder:
            url = f"sqlite+aiosqlite:///{Path(folder) / 'bench.db'}"
            endpoint, page = await measure(url, None, size, args.requests, args.loads)
            print(f"| SQLite | {size} | {endpoint} | {page} |", flush=True)
        if args.postgres:
            schema = f"bench_{uuid.uuid4().hex[:12]}"
            admin = await Database.connect(args.postgres)
            async with admin.transaction() as conn:
                await conn.execute(text(f'CREATE SCHEMA "{schema}"'))
            try:
                endpoint, page = await measure(args.postgres, schema, size, args.requests, args.loads)
                print(f"| PostgreSQL | {size} | {endpoint} | {page} |", flush=True)
            finally:
                async with admin.transaction() as conn:
                    await conn.execute(text(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE'))
                await admin.dispose()


if __name__ == "__main__":
    asyncio.run(main())
