"""Whether how long `ChallengeService.visible` takes tells a stranger that a reference exists.

Someone with no part in a challenge gets the same "Not found" for a reference that exists and for one that does
not; this measures that the time taken does not tell them apart either. It times `visible` for a colleague of
the raiser (in the directory, no part in the challenge) asking for an existing reference and for missing ones,
interleaved, on a fresh SQLite file (or `--database`, migrated first). Run from the repository root:

    .venv/bin/python bench/stranger_timing.py --rounds 500
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bot.config import Settings
from bot.wiring import make_service
from storage.db import Database
from storage.directory import DirectoryStore
from storage.migrate import upgrade
from tests.support.people import raise_request, role_directory


async def run(database_url: str, rounds: int) -> None:
    await upgrade(database_url)
    database = await Database.connect(database_url)
    try:
        await DirectoryStore(database).replace_all(role_directory())
        service = make_service(Settings(directory_file=None), database)
        raised = await service.raise_challenge("durham_raiser", "durham", raise_request("durham"))
        stranger = (await service.directory()).person("durham_raiser_colleague")
        assert stranger is not None
        timings: dict[str, list[float]] = {"exists": [], "missing": []}
        for i in range(rounds):
            for kind, reference in (
                ("exists", raised.challenge.reference),
                ("missing", f"DUR-2026-{1000 + i % 8000:04d}"),
            ):
                started = time.perf_counter()
                assert await service.visible(reference, stranger) is None
                timings[kind].append(time.perf_counter() - started)
        for kind, values in timings.items():
            values.sort()
            print(
                f"{kind:8} median {1000 * statistics.median(values):.3f} ms  "
                f"p10 {1000 * values[len(values) // 10]:.3f}  p90 {1000 * values[9 * len(values) // 10]:.3f}"
            )
    finally:
        await database.dispose()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=500)
    parser.add_argument("--database", help="a database URL (default: a fresh SQLite file)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        url = args.database or f"sqlite+aiosqlite:///{Path(folder) / 'bench.db'}"
        asyncio.run(run(url, args.rounds))


if __name__ == "__main__":
    main()
