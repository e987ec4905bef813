"""The bot killed with SIGKILL many times under load, and PostgreSQL restarted under it: what was lost, what
went twice, how long the bot took to come back.

The many-round version of `tests/resilience/test_kill_bot.py` and `test_postgres_restart.py`, with the same
machinery (`tests/resilience/harness.py`): the real `challenge-bot serve` process in local mode, Teams
activities posted to its endpoint by three people at once (raises through the form, escalations), a fake Bot
Connector and a real SMTP server on loopback counting what they receive, the shared trial clock moved a day on
after each kill so reminders and deadlines fall due. Run from the repository root:

    .venv/bin/python bench/kill_rounds.py --rounds 20
    .venv/bin/python bench/kill_rounds.py --rounds 20 --database postgresql+asyncpg://postgres@127.0.0.1:5432/test
    .venv/bin/python bench/kill_rounds.py --rounds 0 --postgres-restarts 3   # a private cluster, as root

`--database` names a PostgreSQL server (a database of its own is made on it and dropped); without it, a SQLite
file. Figures: docs/PERFORMANCE.md, *Killed and restarted*.

"Repeats" are notifications sent again because the process died after Teams (or the mail server) took the
message and before the outbox row was marked delivered: Teams has no idempotency key, so delivery is at least
once. They are counted per row seen in that state at the kill, never assumed; any other extra message is a
duplicate, and fails the run (exit status 1), as does anything acknowledged or due that is missing.
"""

from __future__ import annotations

import argparse
import asyncio
import shutil
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from storage.migrate import upgrade
from tests.resilience.cluster import PrivateCluster, postgres_outages
from tests.resilience.harness import create_database, drop_database, kill_rounds


async def kills(rounds: int, server: str | None, seed: int, workdir: Path) -> bool:
    if server is None:
        url = f"sqlite+aiosqlite:///{workdir / 'bot.db'}"
        await upgrade(url)
    else:
        url = await create_database(server)
        await upgrade(url)
    try:
        # Many days of deadlines queue many notifications to the partnership's posts; Teams' per-conversation
        # rate limits (60 per 30 s) pace their delivery.
        figures = await kill_rounds(url, workdir / "kills", rounds=rounds, seed=seed, settle_within=900.0)
    finally:
        if server is not None:
            await drop_database(server, url)
    print(f"{'sqlite' if server is None else 'postgresql'} kill rounds: {figures.summary()}")
    verdict = figures.verdict
    assert verdict is not None
    return not figures.acknowledged_lost and verdict.clean and figures.audit_status == 0


async def restarts(count: int, seed: int, workdir: Path) -> bool:
    problem = PrivateCluster.missing()
    if problem is not None:
        print(f"no private PostgreSQL cluster: {problem}")
        return False
    cluster = PrivateCluster(Path(tempfile.mkdtemp(prefix="challenge-bot-pg-")))
    try:
        cluster.init()
        cluster.start()
        modes = tuple(("fast", "immediate")[n % 2] for n in range(count))
        figures = await postgres_outages(cluster, workdir / "restarts", modes=modes, seed=seed)
    finally:
        try:
            cluster.stop("immediate")
        except RuntimeError:
            pass
        shutil.rmtree(cluster.root, ignore_errors=True)
    print(f"postgresql restarts: {figures.summary()}")
    ready = [o.ready_seconds for o in figures.outages]
    turns = [o.turn_seconds for o in figures.outages]
    print(
        f"reconnect: readyz 200 after {min(ready):.2f}-{max(ready):.2f} s, first turn after "
        f"{min(turns):.2f}-{max(turns):.2f} s (from PostgreSQL accepting again)"
    )
    verdict = figures.verdict
    assert verdict is not None
    return not figures.acknowledged_lost and verdict.clean and figures.audit_status == 0


async def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--rounds", type=int, default=20, help="SIGKILLs (0: none)")
    parser.add_argument("--database", help="a PostgreSQL server URL; default: a SQLite file")
    parser.add_argument(
        "--postgres-restarts", type=int, default=0, help="stops of a private cluster under load"
    )
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    ok = True
    with tempfile.TemporaryDirectory(prefix="kill-rounds-") as folder:
        workdir = Path(folder)
        if args.rounds:
            ok &= await kills(args.rounds, args.database, args.seed, workdir)
        if args.postgres_restarts:
            ok &= await restarts(args.postgres_restarts, args.seed, workdir)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
