"""`challenge-bot export REF --format docx|pdf --out FILE` as an operator runs it, against a prepared SQLite
database: the file is the challenge's form; a reference that does not exist, or no database, exits 2 with a
clear message and writes nothing."""

from __future__ import annotations

import asyncio
import io
import os
import subprocess
import sys
from pathlib import Path

import docx
import pypdfium2 as pdfium

from dialogs.service import ChallengeService
from process.directory import Directory
from process.directory_file import load_directory_file
from process.policy import load_policy
from storage.challenges import ChallengeRepository
from storage.crypto import KEY_ENV
from storage.db import Database
from storage.directory import DirectoryStore
from storage.migrate import upgrade_database
from tests.support.keys import TEST_DATA_KEY
from tests.support.people import raise_request

REPO = Path(__file__).resolve().parents[2]


async def _prepare(url: str) -> str:
    """A migrated database with the demo directory and one Durham challenge (Alex challenges Megan)."""
    database = await Database.connect(url)
    try:
        await upgrade_database(database)
        await DirectoryStore(database).replace_all(load_directory_file())
        directories = DirectoryStore(database)

        async def load_directory() -> Directory:
            return await directories.load()

        service = ChallengeService(
            [load_policy("durham"), load_policy("rochdale")], ChallengeRepository(database), load_directory
        )
        request = raise_request(
            "durham", challenged_agency_id="health_visiting", challenged_person_id="megan"
        )
        decision = await service.raise_challenge("alex", "durham", request)
        return decision.challenge.reference
    finally:
        await database.dispose()


def _export(url: str, *arguments: str) -> subprocess.CompletedProcess[str]:
    env = {
        "PATH": os.environ.get("PATH", ""),
        "PYTHONPATH": str(REPO),
        "DATABASE_URL": url,
        KEY_ENV: TEST_DATA_KEY,
    }
    return subprocess.run(
        [sys.executable, "-m", "bot", "export", *arguments],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_export_writes_the_challenges_form_and_refuses_what_does_not_exist(tmp_path: Path) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path / 'bot.db'}"
    reference = asyncio.run(_prepare(url))

    pdf = tmp_path / "form.pdf"
    done = _export(url, reference, "--format", "pdf", "--out", str(pdf))
    assert done.returncode == 0, done.stderr
    assert reference in done.stdout and "Compliance Challenge Form" in done.stdout
    document = pdfium.PdfDocument(pdf.read_bytes())
    text = document[0].get_textpage().get_text_range()
    assert reference in text and "Compliance Challenge Form" in text and "Megan Bowen" in text

    word = tmp_path / "form.docx"
    lower = _export(url, reference.lower(), "--format", "docx", "--out", str(word))
    assert lower.returncode == 0 and lower.stdout.startswith(f"{reference}: ")  # as stored, whatever was typed
    cells = [
        c.text for t in docx.Document(io.BytesIO(word.read_bytes())).tables for r in t.rows for c in r.cells
    ]
    assert "Megan Bowen" in cells

    missing = tmp_path / "missing.pdf"
    for ref in ("DUR-2026-9999", "not a reference", ""):
        refused = _export(url, ref, "--out", str(missing))
        assert refused.returncode == 2
        assert f"there is no challenge {ref!r} in this database" in refused.stderr
        assert "Traceback" not in refused.stderr
    assert not missing.exists()

    nowhere = _export(f"sqlite+aiosqlite:///{tmp_path / 'none.db'}", reference, "--out", str(missing))
    assert nowhere.returncode == 2 and "there is no database at" in nowhere.stderr
    assert not missing.exists() and not (tmp_path / "none.db").exists()
