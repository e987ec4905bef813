"""`challenge-bot audit verify [REF]` and `challenge-bot retention purge [--dry-run]` as an operator runs them."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest
import yaml
from sqlalchemy import text

from bot.cli import main
from process.challenge import Respond, Withdraw
from process.policy import POLICY_DIR, Role
from storage.challenges import ChallengeRepository
from storage.db import Database
from storage.migrate import upgrade
from storage.schema import child_details
from tests.support.clock import FakeClock
from tests.support.database import run_async, sqlite_url
from tests.support.directory import MONDAY, engine_for, holder, raising


async def _prepare(url: str, ended: int) -> list[str]:
    """A migrated database holding `ended` Durham challenges withdrawn on Monday, and one left open."""
    await upgrade(url)
    database = await Database.connect(url)
    references = []
    try:
        repo = ChallengeRepository(database, clock=FakeClock(MONDAY))
        engine = engine_for("durham")
        for n in range(ended + 1):
            c = (await repo.create("DUR", 2026, raising(engine))).challenge
            professional = holder("durham", Role.CHALLENGED_PROFESSIONAL)
            answer = engine.apply(c, Respond("We will send it."), professional, MONDAY)
            await repo.save(answer, c.version)
            c = answer.challenge
            if n < ended:
                done = engine.apply(c, Withdraw("Sorted."), holder("durham", Role.RAISER), MONDAY)
                await repo.save(done, c.version)
            references.append(c.reference)
    finally:
        await database.dispose()
    return references


async def _sql(url: str, statement: str) -> list[tuple[object, ...]]:
    database = await Database.connect(url)
    try:
        async with database.transaction() as conn:
            result = await conn.execute(text(statement))
            return [tuple(r) for r in result] if result.returns_rows else []
    finally:
        await database.dispose()


@pytest.fixture
def url(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    database = sqlite_url(tmp_path / "bot.db")
    monkeypatch.setenv("DATABASE_URL", database)
    monkeypatch.setenv("POLICIES", "durham,rochdale")
    monkeypatch.delenv("DIRECTORY_FILE", raising=False)
    return database


def test_audit_verify_says_ok_names_the_first_broken_event_and_refuses_an_unknown_reference(
    url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    references = run_async(lambda: _prepare(url, 2))
    assert main(["audit", "verify"]) == 0
    out = capsys.readouterr().out
    assert out.startswith(
        "OK: 3 challenges, 3 records against their seal, 8 events (0 with words erased by retention), "
        "1 partnership chain"
    )
    assert main(["audit", "verify", references[1].lower()]) == 0
    capsys.readouterr()

    assert main(["audit", "verify", "DUR-2026-0999"]) == 2
    assert "No challenge has the reference 'DUR-2026-0999'" in capsys.readouterr().err

    run_async(
        lambda: _sql(
            url,
            "UPDATE audit_events SET summary = 'Edited' WHERE seq = 2 AND challenge_id = (SELECT id FROM challenges WHERE reference = 'DUR-2026-0002')",
        )
    )
    assert main(["audit", "verify"]) == 1
    out = capsys.readouterr().out.splitlines()
    assert out[0].startswith("BROKEN: DUR-2026-0002 event 2: content changed: ")
    assert out[-1].startswith("Checked 3 challenges") and out[-1].endswith("1 broken chain.")
    assert main(["audit", "verify", "DUR-2026-0001"]) == 0
    capsys.readouterr()

    # The exported form is filled from the challenge's own row: an edit there is found too.
    run_async(lambda: _sql(url, "UPDATE challenges SET concern = 'Edited' WHERE reference = 'DUR-2026-0003'"))
    assert main(["audit", "verify", "DUR-2026-0003"]) == 1
    out = capsys.readouterr().out.splitlines()
    assert out[0].startswith("BROKEN: DUR-2026-0003: record changed since its last event (event ")
    assert out[0].endswith("): the challenge's row")


def test_audit_verify_refuses_a_database_that_is_not_there(
    url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["audit", "verify"]) == 2
    err = capsys.readouterr().err
    assert "there is no database" in err
    assert "--create-database" not in err  # an option of tick only
    assert main(["retention", "purge"]) == 2
    assert "--create-database" not in capsys.readouterr().err


@pytest.mark.parametrize("command", [["audit", "verify"], ["retention", "purge"], ["tick"]])
@pytest.mark.parametrize(
    ("database_url", "said"),
    [
        ("mysql://root@127.0.0.1/bot", "unsupported database driver 'mysql'"),
        ("not a database", "DATABASE_URL is not a database URL"),
        # A port nothing listens on: the server is down.
        ("postgresql+asyncpg://postgres:secret@127.0.0.1:9/bot", "cannot use the database in DATABASE_URL"),
    ],
)
def test_a_database_url_that_cannot_be_used_is_said_so_without_a_traceback(
    command: list[str],
    database_url: str,
    said: str,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.setenv("DATABASE_URL", database_url)
    assert main(command) == 2
    err = capsys.readouterr().err
    assert err.startswith("challenge-bot: ") and said in err and "secret" not in err


def test_a_bad_setting_is_listed_not_a_traceback(
    url: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("DRAFT_TTL_HOURS", "0")
    assert main(["audit", "verify"]) == 2
    assert "DRAFT_TTL_HOURS=0 must be between 1 and 720" in capsys.readouterr().err


def test_without_a_retention_period_nothing_is_purged_and_the_output_says_so(
    url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    run_async(lambda: _prepare(url, 1))
    assert main(["retention", "purge", "--now", "2099-01-01T00:00:00"]) == 0
    out = capsys.readouterr().out
    assert (
        "DSCP: records are kept. No retention period is set by Durham Safeguarding Children Partnership's procedure, so nothing is erased automatically."
        in out
    )
    assert "RBSCP: records are kept." in out
    assert out.rstrip().endswith("0 challenges, 0 events: words erased.")
    assert len(run_async(lambda: _sql(url, "SELECT * FROM child_details"))) == 2


def test_purge_with_a_partnerships_own_period_dry_run_then_for_real_then_again(
    url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    policy = yaml.safe_load((POLICY_DIR / "durham.yaml").read_text(encoding="utf-8"))
    policy["retention"] = {
        "closed_for": "6 years",
        "justification": "Agreed by the DSCP executive in line with its case review records.",
    }
    own = tmp_path / "durham-own.yaml"
    own.write_text(yaml.safe_dump(policy, allow_unicode=True), encoding="utf-8")
    monkeypatch.setenv("POLICIES", str(own))
    references = run_async(lambda: _prepare(url, 2))
    just_before = (MONDAY + timedelta(days=6 * 365 + 1)).isoformat()  # 2032-11-22: not six years yet
    after = (MONDAY.replace(year=2032) + timedelta(days=1)).isoformat()

    assert main(["retention", "purge", "--dry-run", "--now", just_before]) == 0
    assert "0 challenges, 0 events: words would be erased" in capsys.readouterr().out

    assert main(["retention", "purge", "--dry-run", "--now", after]) == 0
    out = capsys.readouterr().out
    assert (
        "DSCP: a challenge's child details and everything written in it are erased 6 years after it ends"
        in out
    )
    assert f"  {references[0]}: ended Mon 23 Nov 2026, 10:00, 3 events" in out
    assert f"  {references[1]}: ended" in out and references[2] not in out
    assert out.rstrip().endswith(
        "2 challenges, 6 events: words would be erased (dry run: nothing was changed)."
    )
    assert len(run_async(lambda: _sql(url, f"SELECT * FROM {child_details.name}"))) == 3

    assert main(["retention", "purge", "--now", after]) == 0
    assert capsys.readouterr().out.rstrip().endswith("2 challenges, 6 events: words erased.")
    assert len(run_async(lambda: _sql(url, "SELECT * FROM child_details"))) == 1
    assert main(["retention", "purge", "--now", after]) == 0
    assert capsys.readouterr().out.rstrip().endswith("0 challenges, 0 events: words erased.")
    assert main(["audit", "verify"]) == 0
    assert "(6 with words erased by retention)" in capsys.readouterr().out
