"""A trial's shared clock: the running bot and `challenge-bot tick` tell the same time, and it only moves on.

Without it, `tick --now` moved the deadline clock but not the running bot's, so what a person did after the
tick was dated before the tick's escalations and the history read out of order.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import AsyncIterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from bot.config import Settings
from bot.wiring import Runtime, TickError, build_runtime, tick
from cards import verbs as v
from process.directory_file import DEMO_DIRECTORY
from storage.clock import SharedClock
from storage.outbox import Outbox
from tests.teams.harness import Person, texts
from tests.teams.test_conversation import ALEX, raise_durham

REPO = Path(__file__).resolve().parents[2]
#: Monday 7 January 2030, 10:00 GMT: a working week with no bank holiday, ahead of any real clock running this.
MONDAY = datetime(2030, 1, 7, 10, 0, tzinfo=UTC)


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return Settings(
        database_url=f"sqlite+aiosqlite:///{tmp_path / 'bot.db'}",
        directory_file=DEMO_DIRECTORY,
        trial_clock_file=tmp_path / "clock.json",
    )


@pytest.fixture
async def trial(settings: Settings) -> AsyncIterator[Runtime]:
    """The served bot in trial mode: its clock is the shared clock (nothing in the test replaces it)."""
    built = await build_runtime(settings)
    yield built
    await built.database.dispose()


async def test_after_tick_advance_the_running_bot_dates_actions_after_the_ticks_escalation(
    settings: Settings, trial: Runtime
) -> None:
    assert isinstance(trial.service.clock, SharedClock)
    await tick(settings, MONDAY)  # the trial starts on a Monday morning
    alex = Person(trial.bot, "Alex Wilber", ALEX)
    await raise_durham(alex)
    raised = await trial.service.find("DUR-2030-0001")
    assert raised is not None and raised.raised_at >= MONDAY
    assert raised.current.due_at is not None and raised.current.due_at < MONDAY + timedelta(days=3)

    # Stage 1 is due on Tuesday at 17:00; three days on, the tick finds its deadline passed.
    report = await tick(settings, advance=timedelta(days=3))
    assert report.deadlines == 1
    # What the pass queued is due at the instant it delivers, so the tick itself tries every one.
    queued = await Outbox(trial.database).for_challenge(raised.id)
    assert len(queued) >= 5 and all(row.attempts >= 1 for row in queued), report.summary()
    passed = await trial.service.repository.audit_events(raised.id)
    deadline_at = passed[-1].at
    assert deadline_at >= MONDAY + timedelta(days=3)

    # Alex escalates in the running bot, which now tells the shared clock's time.
    card = await alex.press(v.SHOW, {"reference": "DUR-2030-0001"})
    card = await alex.press_on(card, v.ESCALATE, reason="No agreement within 1 working day.")
    assert "Stage 2" in texts(card)
    history = await trial.service.repository.audit_events(raised.id)
    escalated = history[-1]
    assert escalated.actor_id == "alex" and escalated.at > deadline_at
    assert [event.at for event in history] == sorted(event.at for event in history)
    stored = await trial.service.find("DUR-2030-0001")
    assert stored is not None and stored.stage == 2
    assert stored.current.started_at > deadline_at


async def test_tick_now_before_the_shared_clock_is_refused_and_the_clock_stays(
    settings: Settings, trial: Runtime
) -> None:
    await tick(settings, MONDAY + timedelta(days=3))
    at = trial.service.clock()
    with pytest.raises(TickError, match="only moves forward"):
        await tick(settings, MONDAY + timedelta(days=1))
    assert trial.service.clock() >= at
    assert trial.service.clock() < MONDAY + timedelta(days=3, minutes=5)
    # The same instant (or a later one) is not a move backwards.
    await tick(settings, MONDAY + timedelta(days=3, minutes=10))
    assert trial.service.clock() >= MONDAY + timedelta(days=3, minutes=10)


async def test_advance_without_a_trial_clock_is_refused(settings: Settings, trial: Runtime) -> None:
    with pytest.raises(TickError, match="TRIAL_CLOCK_FILE"):
        await tick(replace(settings, trial_clock_file=None), advance=timedelta(days=1))


def _cli(args: list[str], env: dict[str, str], cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "bot", "tick", *args],
        cwd=cwd,
        env={**os.environ, "PYTHONPATH": str(REPO), **env},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_the_tick_command_moves_the_shared_clock_forward_only(tmp_path: Path) -> None:
    clock_file = tmp_path / "clock.json"
    database = tmp_path / "bot.db"
    env = {"DATABASE_URL": f"sqlite+aiosqlite:///{database}", "TRIAL_CLOCK_FILE": str(clock_file)}
    first = _cli(["--create-database", "--now", "2030-01-07T10:00:00+00:00"], env, tmp_path)
    assert first.returncode == 0, first.stderr
    assert SharedClock(clock_file)() >= MONDAY
    advanced = _cli(["--advance", "3d"], env, tmp_path)
    assert advanced.returncode == 0, advanced.stderr
    assert SharedClock(clock_file)() >= MONDAY + timedelta(days=3)
    back = _cli(["--now", "2030-01-08T10:00:00+00:00"], env, tmp_path)
    assert back.returncode == 2
    assert "only moves forward" in back.stderr and "Traceback" not in back.stderr
    assert SharedClock(clock_file)() >= MONDAY + timedelta(days=3)
    nowhere = _cli(["--advance", "0d"], env, tmp_path)
    assert nowhere.returncode == 2 and "above zero" in nowhere.stderr
