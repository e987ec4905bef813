"""Two and three bot processes on one PostgreSQL database, their deadline clocks racing over many deadlines
due at once: every reminder and deadline is applied once, and every notification delivered once per recipient.

`tests.resilience.harness.racing_bots` raises challenges through every process at once, stops them all, moves
the shared trial clock three days on, starts them together and wakes them together, then counts what the fake
Bot Connector and the mail server received against the outbox.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from tests.resilience.harness import own_postgres_database, racing_bots

pytestmark = pytest.mark.postgres

CHALLENGES = 9


@pytest.fixture
async def database_url() -> AsyncIterator[str]:
    """A migrated PostgreSQL database of its own on the test server (the bot takes a URL, not a schema)."""
    async with own_postgres_database() as url:
        yield url


@pytest.mark.parametrize("processes", [2, 3])
async def test_racing_bot_processes_apply_each_deadline_once_and_tell_each_person_once(
    database_url: str, tmp_path: Path, processes: int
) -> None:
    figures = await racing_bots(
        database_url, tmp_path / "run", processes=processes, challenges=CHALLENGES, seed=processes
    )
    print(figures.summary())
    verdict = figures.verdict
    assert verdict is not None
    assert figures.due_challenges >= CHALLENGES // 2, figures.summary()
    assert figures.double_actions == [], figures.summary()
    assert figures.acknowledged_lost == []
    assert verdict.undelivered == [] and verdict.lost == {}, figures.summary()
    # No process died: not even a repeat is allowed.
    assert verdict.duplicated == {} and verdict.window_repeats == 0, figures.summary()
    assert figures.audit_status == 0, figures.audit_output
