from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

from bot.config import Settings
from bot.wiring import Runtime, build_runtime
from process.directory_file import DEMO_DIRECTORY
from tests.delivery.conftest import smtp_server  # noqa: F401  (a fixture, used by name)

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
