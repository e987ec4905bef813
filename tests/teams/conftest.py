from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path

import pytest

from bot.config import Settings
from bot.wiring import Runtime, build_runtime
from process.directory import Directory
from process.directory_file import DEMO_DIRECTORY
from storage.directory import DirectoryStore
from tests.delivery.conftest import smtp_server  # noqa: F401  (a fixture, used by name)
from tests.support.people import role_directory

#: Monday 23 November 2026, 10:00 GMT.
NOW = datetime(2026, 11, 23, 10, 0, tzinfo=UTC)


@pytest.fixture
async def runtime(tmp_path: Path) -> AsyncIterator[Runtime]:
    """The whole bot on a fresh SQLite file with the invented demo directory, its clock stopped at NOW."""
    settings = Settings(
        database_url=f"sqlite+aiosqlite:///{tmp_path / 'bot.db'}", directory_file=DEMO_DIRECTORY
    )
    built = await build_runtime(settings)
    built.service.clock = lambda: NOW
    yield built
    await built.database.dispose()


def with_teams_ids(directory: Directory) -> Directory:
    """The directory with every person signed in to Teams as `aad-<their id>`, so any role can be played."""
    people = [replace(p, aad_object_id=f"aad-{p.id}") for p in directory.people.values()]
    return Directory.build(people, directory.agencies.values(), directory.partnership_roles)


@pytest.fixture
async def everyone(runtime: Runtime) -> Runtime:
    """The served bot with a directory in which every role of both procedures is a different Teams user."""
    await DirectoryStore(runtime.database).replace_all(with_teams_ids(role_directory()))
    await runtime.service.reload_directory()
    return runtime
