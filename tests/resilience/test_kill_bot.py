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

import random
from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import pytest

from storage.db import Database
from storage.migrate import upgrade
from tests.fakes.connector import FakeConnector
from tests.resilience.harness import (
    BotProcess,
    Ledger,
    Load,
    MailServer,
    eventually,
    kill_rounds,
    own_postgres_database,
    settle,
)

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
    async with own_postgres_database() as url:
        yield url


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


async def test_a_kill_after_teams_took_a_message_and_before_it_was_recorded_sends_it_again(
    tmp_path: Path,
) -> None:
    """Delivery is at least once: Teams has no idempotency key. The fake connector takes each notification
    (records it) and never answers, the process is killed while it waits, and the restarted process sends
    each of those messages again once their leases have run out: the person sees it twice. This is the only
    way a notification goes twice; the kill test counts such repeats, one per row seen in this state."""
    url = f"sqlite+aiosqlite:///{tmp_path / 'bot.db'}"
    await upgrade(url)
    clock_file = tmp_path / "clock.json"
    mail = MailServer()
    mail.start()
    database = await Database.connect(url)
    try:
        async with FakeConnector() as connector:
            ledger = Ledger(connector, mail)
            load = Load(connector, random.Random(1))
            bot = BotProcess(tmp_path / "run", url, clock_file, mail.port)
            try:
                await bot.start()
                async with aiohttp.ClientSession() as session:
                    await load.install_everyone(session, bot.base)
                    connector.hold_sends(lambda body: isinstance(body, dict) and "summary" in body)
                    assert await load.raise_one(session, bot.base) is not None

                async def held() -> bool:
                    return connector.held > 0

                await eventually(held, 20, "a notification taken by Teams and not answered")
                worker = bot.worker_id
                await bot.kill()
                repeats = await ledger.note_interruption(database, {worker})
                connector.release()
                rows = await ledger.rows(database)
                assert repeats == connector.held == sum(1 for r in rows if r["status"] == "sending")
                await settle(bot, load, clock_file, database)
            finally:
                await bot.stop()
            verdict = await ledger.check(database)
            received = ledger.received()
        assert verdict.undelivered == [] and verdict.lost == {} and verdict.duplicated == {}
        assert verdict.window_repeats == repeats > 0
        # One message more than rows for each held one: it reached its person before the kill and after.
        assert sum(received.values()) == verdict.rows + repeats
    finally:
        await database.dispose()
        mail.stop()
