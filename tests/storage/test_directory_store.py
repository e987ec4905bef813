"""The directory in the database: stored and loaded back exactly, replaced wholesale, people found by Teams id."""

from __future__ import annotations

import asyncio

from process.directory import Directory
from process.directory_file import load_directory_file
from process.policy import Role
from storage.db import Database
from storage.directory import DirectoryStore
from tests.support.directory import aad, admin_mailbox, executive_mailbox, invented_directory, pid


async def test_an_empty_database_has_an_empty_directory(database: Database) -> None:
    assert await DirectoryStore(database).load() == Directory.build([], [])


async def test_the_invented_directory_round_trips_with_ordered_contacts_and_mailboxes(
    database: Database,
) -> None:
    store = DirectoryStore(database)
    directory = invented_directory()
    await store.replace_all(directory)
    loaded = await store.load()
    assert loaded == directory
    assert loaded.partnership_contacts("durham", Role.EXECUTIVE)[1] == executive_mailbox("durham")
    assert loaded.partnership_contacts("rochdale", Role.PARTNERSHIP_ADMIN) == (admin_mailbox("rochdale"),)
    assert [c.name for c in loaded.stage_contacts("durham.challenged", 3)] == [
        "Vale Seniormanager",
        "Health Safeguarding Team",
    ]


async def test_the_demo_directory_file_round_trips(database: Database) -> None:
    store = DirectoryStore(database)
    demo = load_directory_file()
    await store.replace_all(demo)
    assert await store.load() == demo


async def test_replacing_the_directory_leaves_nothing_of_the_old_one(database: Database) -> None:
    store = DirectoryStore(database)
    await store.replace_all(invented_directory())
    durham_only = invented_directory(("durham",))
    await store.replace_all(durham_only)
    loaded = await store.load()
    assert loaded == durham_only
    assert loaded.person(pid("rochdale", "raiser")) is None
    assert loaded.partnership_contacts("rochdale", Role.EXECUTIVE) == ()


async def test_a_person_is_found_by_teams_id_in_any_letter_case(database: Database) -> None:
    store = DirectoryStore(database)
    directory = invented_directory()
    await store.replace_all(directory)
    raiser = directory.people[pid("durham", "raiser")]
    assert await store.person_by_aad(aad("durham", "raiser").upper()) == raiser
    assert await store.person_by_aad("11111111-2222-4333-8444-555555555555") is None


async def test_replacements_at_once_on_a_new_database_take_turns(database: Database) -> None:
    """Bot processes started together on a new database each load DIRECTORY_FILE: every replacement succeeds,
    one after the other, each counting its generation."""
    store = DirectoryStore(database)
    directory = load_directory_file()
    generations = await asyncio.gather(*(store.replace_all(directory) for _ in range(4)))
    assert sorted(generations) == [1, 2, 3, 4]
    assert await store.generation() == 4
    assert await store.load() == directory
