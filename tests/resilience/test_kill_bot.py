"""The bot process killed (SIGKILL) at random instants under load, on SQLite and on PostgreSQL: nothing it
acknowledged is lost, every notification due is delivered once per recipient, and the chronology verifies.

`tests.resilience.harness.kill_rounds` runs the real `challenge-bot serve` process with its deadline clock,
posts Teams activities to its endpoint (raises through the form, escalations, from three people at once),
kills it with SIGKILL at a seeded random instant, moves the shared trial clock a day on (so reminders and
deadlines fall due when it restarts), restarts it and goes on. A kill between a message reaching Teams and
its row being marked delivered makes that message go again (Teams has no idempotency key): the ledger counts
each such repeat against the row it saw in that state at the kill, and fails on any other. A few rounds here;
`bench/kill_rounds.py` runs many.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from storage.migrate import upgrade
from tests.resilience.harness import create_database, drop_database, kill_rounds
from tests.support.database import POSTGRES_URL, postgres_unavailable, reachable

ROUNDS = 3


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
async def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[str]:
    """A migrated database only the bot process under test uses: a SQLite file, or a PostgreSQL database of
    its own on the test server (the bot takes a URL, not a schema)."""
    if request.param == "sqlite":
        url = f"sqlite+aiosqlite:///{tmp_path / 'bot.db'}"
        await upgrade(url)
        yield url
        return
    problem = await reachable(POSTGRES_URL)
    if problem is not None:
        postgres_unavailable(problem)
    url = await create_database(POSTGRES_URL)
    try:
        await upgrade(url)
        yield url
    finally:
        await drop_database(POSTGRES_URL, url)


async def test_a_bot_killed_at_random_loses_nothing_acknowledged_and_sends_each_notification_once(
    database_url: str, tmp_path: Path
) -> None:
    figures = await kill_rounds(database_url, tmp_path / "run", rounds=ROUNDS, seed=20261201, max_gap=1.5)
    print(figures.summary())
    verdict = figures.verdict
    assert verdict is not None
    assert figures.kills == ROUNDS
    assert figures.acknowledged > 0 and figures.load.raised, figures.summary()
    assert figures.acknowledged_lost == []
    assert verdict.rows > 0
    assert verdict.undelivered == [], figures.summary()
    assert verdict.lost == {}, figures.summary()
    assert verdict.duplicated == {}, figures.summary()
    assert figures.audit_status == 0, figures.audit_output
