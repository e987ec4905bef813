"""bench/turn_cost.py, run briefly so it cannot rot: the contenders that need no virtual environment of their
own (the bare handler, botbuilder's echo bot, our bot as served on SQLite), each its own process, a couple of
alternating rounds; every turn's reply (or card action's notification) must have reached the fake connector.
No timings are checked."""

from __future__ import annotations

from pathlib import Path

import pytest

from bench import turn_cost


async def test_a_short_run_has_every_turn_answered_and_its_reply_received() -> None:
    report = await turn_cost.run(
        rounds=2, turns_per_round=3, warmup=1, only=("bare", "botbuilder-echo", "help", "card")
    )
    assert report.errors == 0, {c.name: c.error_kinds for c in report.contenders.values()}
    assert report.order == ["bare", "botbuilder-echo", "help", "card"]
    for contender in report.contenders.values():
        assert contender.turns == 6, contender
        assert contender.verified == 6, contender
        assert contender.p50_ms > 0
    assert report.contenders["card"].notified_p50_ms is not None
    assert set(report.processes) == {"bare", "botbuilder-echo", "ours"}
    for process in report.processes.values():
        assert process.rss_idle_mb > 0 and process.rss_end_mb > 0, process
    assert report.ratio("help", "bare") is not None
    assert report.ratio("help", "agents-echo") is None
    assert [met for _, met in report.targets()][1] is None


async def test_the_agents_sdk_is_skipped_and_said_why_when_its_environment_cannot_be_made(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # No package index at all: pip finds nothing, at once (the suite must not need the network).
    monkeypatch.setattr(turn_cost, "AGENTS_VENV", tmp_path / "agents-venv")
    monkeypatch.setenv("PIP_NO_INDEX", "1")
    monkeypatch.setenv("PIP_FIND_LINKS", str(tmp_path / "no-wheels-here"))
    report = await turn_cost.run(rounds=1, turns_per_round=1, warmup=0, only=("bare", "agents-echo"))
    assert "could not make" in report.skipped["agents-echo"]
    assert "agents-echo" not in report.contenders
    assert report.contenders["bare"].verified == 1
    assert not (tmp_path / "agents-venv").exists()
