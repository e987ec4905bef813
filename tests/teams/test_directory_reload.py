"""A running bot picks up an imported directory at its next turn, without a restart."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

from bot.directory_import import import_directory
from bot.wiring import Runtime
from process.directory import Person
from process.directory_table import table_of, write_csv
from storage.directory import DirectoryStore
from tests.teams.harness import Person as TeamsUser
from tests.teams.harness import texts


async def test_a_person_added_by_import_is_known_at_their_next_turn(runtime: Runtime, tmp_path: Path) -> None:
    runtime.service.directory_check_seconds = 0  # the served bot checks at most every 5 s
    newcomer = TeamsUser(runtime.bot, "Nia Newydd", "aad-nia-newydd")
    assert "You are not in the directory" in texts((await newcomer.say("my challenges"))[0])

    stored = await DirectoryStore(runtime.database).load()
    nia = Person(
        id="nia",
        name="Nia Newydd",
        agency_id="dcc_iro",
        email="nia.newydd@example.org",
        job_roles=frozenset({"iro"}),
        line_manager_id="lynne",
        aad_object_id="aad-nia-newydd",
    )
    grown = replace(stored, people={**stored.people, "nia": nia})
    path = tmp_path / "durham.csv"
    path.write_text(write_csv(table_of(grown, ["durham"])), encoding="utf-8")
    report = await import_directory(runtime.database, list(runtime.service.policies.values()), path)
    assert report.lines(dry_run=False) == [
        "the directory of durham was changed (generation 2):",
        "  people added (1): nia",
    ]

    answer = texts((await newcomer.say("my challenges"))[0])
    assert "You are not in the directory" not in answer
    assert (await runtime.service.directory()).person("nia") == nia


async def test_the_generation_is_read_at_most_once_per_interval(runtime: Runtime) -> None:
    reads: list[int] = []
    store = DirectoryStore(runtime.database)

    async def counted() -> int:
        reads.append(1)
        return await store.generation()

    runtime.service._directory_generation = counted
    runtime.service.directory_check_seconds = 3600
    await runtime.service.reload_directory()
    for _ in range(20):
        await runtime.service.directory()
    assert len(reads) == 1  # read once when loading; not again within the hour


def _write(path: Path, *, edited: bool = False) -> None:
    """The demo directory file at `path`, edited (a comment added) or not."""
    from process.directory_file import DEMO_DIRECTORY

    path.write_bytes(Path(DEMO_DIRECTORY).read_bytes() + (b"\n# edited\n" if edited else b""))


async def test_a_restart_with_the_same_directory_file_keeps_an_import_and_an_edited_file_replaces_it(
    tmp_path: Path,
) -> None:
    """DIRECTORY_FILE is loaded at start-up only when it is not the file loaded last time."""
    from bot.config import Settings
    from bot.wiring import open_database

    file = tmp_path / "directory.yaml"
    _write(file)
    settings = Settings(database_url=f"sqlite+aiosqlite:///{tmp_path / 'bot.db'}", directory_file=file)

    database = await open_database(settings)
    store = DirectoryStore(database)
    stored = await store.load()
    assert "nia" not in stored.people and await store.generation() == 1
    nia = replace(stored.people["alex"], id="nia", name="Nia Newydd", aad_object_id="aad-nia-newydd")
    await store.replace_all(replace(stored, people={**stored.people, "nia": nia}))  # as an import does
    await database.dispose()

    database = await open_database(settings)  # the same file: the import is kept
    assert "nia" in (await DirectoryStore(database).load()).people
    await database.dispose()

    _write(file, edited=True)
    database = await open_database(settings)  # an edited file: it replaces the whole directory
    assert "nia" not in (await DirectoryStore(database).load()).people
    assert await DirectoryStore(database).generation() == 3
    await database.dispose()
