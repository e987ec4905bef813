"""`challenge-bot directory import FILE [--dry-run]` as an operator runs it: exit codes and what it prints."""

from __future__ import annotations

from pathlib import Path

import pytest

from bot.cli import main

EXAMPLE = Path(__file__).resolve().parents[2] / "docs" / "examples" / "directory.csv"


def test_import_dry_run_then_import_then_nothing_to_change(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("DATABASE_URL", f"sqlite+aiosqlite:///{tmp_path / 'bot.db'}")
    monkeypatch.setenv("DIRECTORY_FILE", "none")

    assert main(["directory", "import", str(EXAMPLE), "--dry-run"]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0].startswith("dry run: these changes to the directory of rochdale would be made")
    assert (
        "  people added (8): bm_nadia, dsl_school, head_school, hos_family, hos_safeguarding, sw_amira, "
        "teacher_rhys, tm_owen" in out
    )

    assert main(["directory", "import", str(EXAMPLE)]) == 0
    assert capsys.readouterr().out.startswith("the directory of rochdale was changed (generation 1):")
    assert main(["directory", "import", str(EXAMPLE)]) == 0
    assert "nothing to change" in capsys.readouterr().out


def test_a_file_with_problems_exits_1_listing_them_on_stderr(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("DATABASE_URL", f"sqlite+aiosqlite:///{tmp_path / 'bot.db'}")
    monkeypatch.setenv("DIRECTORY_FILE", "none")
    bad = tmp_path / "bad.csv"
    bad.write_bytes(b"kind,id,name,partnership\nagency,a1,,rochdale\nagency,a1,Again,nowhere\n")
    assert main(["directory", "import", str(bad)]) == 1
    captured = capsys.readouterr()
    assert captured.out == ""
    assert captured.err.splitlines() == [
        "row 2, column name: empty: an agency needs its name",
        "row 3, column partnership: 'nowhere' is not a partnership this bot serves (durham, rochdale)",
        "2 problems: nothing was written",
    ]
    assert main(["directory", "import", str(tmp_path / "missing.xlsx")]) == 1
    assert "cannot be read" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("directory_file", "said"),
    [
        (
            None,
            "note: DIRECTORY_FILE is not set, so a bot in local mode loads the demo directory (demo.yaml): ",
        ),
        ("own.yaml", "note: DIRECTORY_FILE is set (own.yaml): "),
    ],
)
def test_the_note_on_a_directory_file_says_why_the_bot_would_load_one(
    directory_file: str | None,
    said: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.setenv("DATABASE_URL", f"sqlite+aiosqlite:///{tmp_path / 'bot.db'}")
    monkeypatch.delenv("MicrosoftAppId", raising=False)
    if directory_file is None:
        monkeypatch.delenv("DIRECTORY_FILE", raising=False)
    else:
        own = tmp_path / directory_file
        own.write_text((Path(__file__).resolve().parents[2] / "process/directories/demo.yaml").read_text())
        monkeypatch.setenv("DIRECTORY_FILE", str(own))
    assert main(["directory", "import", str(EXAMPLE), "--dry-run"]) == 0
    err = capsys.readouterr().err
    assert err.startswith(said) and "if the file is edited the next start replaces the whole directory" in err
    assert "set DIRECTORY_FILE=none where the directory is kept by import" in err
