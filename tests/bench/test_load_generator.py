"""bench/load.py, run briefly so it cannot rot: the real bot process on SQLite, two people at once raising and
answering challenges through the endpoint, replies going to the rate-limited fake connector."""

from __future__ import annotations

from pathlib import Path

import yaml

from bench.load import invent_directory, run, unretried
from process.directory_file import load_directory_file
from tests.fakes import RecordedRequest


async def test_a_short_run_counts_turns_and_finds_no_errors() -> None:
    (level,) = await run("sqlite", [2], duration=3.0, warmup=0.5, seed=7, pairs=64)
    assert level.errors == 0, level.error_kinds
    assert level.turns > 0 and level.challenges > 0
    assert level.turns == sum(kind["turns"] for kind in level.by_kind_ms.values())
    assert set(level.by_kind_ms) == {
        "raise",
        "form step",
        "submit",
        "show",
        "respond",
        "my challenges",
        "help",
    }
    # Each message turn's reply went through the fake connector, and the bot process was measured.
    assert level.connector["by_operation"]["reply_to_activity"] >= level.by_kind_ms["help"]["turns"]
    assert level.rss_peak_mb > 0


def _request(at: float, status: int, text: str, *, limited: bool = False) -> RecordedRequest:
    return RecordedRequest(
        method="POST",
        path="/v3/conversations/a:chat/activities/x",
        operation="reply_to_activity",
        conversation_id="a:chat",
        activity_id=f"id-{at}",
        body={"type": "message", "text": text},
        status=status,
        authorization=None,
        at=at,
        refused_by="tenant" if limited else None,
    )


def test_a_refused_send_counts_as_an_error_until_the_same_is_accepted_later() -> None:
    refused = _request(1.0, 429, "hello", limited=True)
    assert unretried([_request(0.5, 200, "hello"), refused]) == [refused]
    assert unretried([refused, _request(2.0, 200, "something else")]) == [refused]
    assert unretried([refused, _request(2.0, 200, "hello")]) == []


def test_the_invented_directory_loads(tmp_path: Path) -> None:
    data, pairs = invent_directory(45, seed=3)
    (tmp_path / "directory.yaml").write_text(yaml.safe_dump(data))
    directory = load_directory_file(tmp_path / "directory.yaml")
    assert len(pairs) == 45
    raiser, challenged = pairs[44].raiser, pairs[44].challenged
    found, other = directory.person(raiser.id), directory.person(challenged.id)
    assert found is not None and found.line_manager_id == "iro_tm2"
    assert other is not None and other.agency_id == "health_visiting"
    assert raiser.tenant_id != challenged.tenant_id
