"""Fixtures shared by every test package."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator

import pytest

from storage.crypto import configure
from tests.support.keys import use_test_key

# Before anything reads the environment: every test process, and every command a test starts, has the key.
use_test_key()

from tests.cardcheck import card_validator as card_validator  # noqa: E402
from tests.fakes.connector import FakeConnector  # noqa: E402

# Migrated test databases (SQLite and PostgreSQL); see the module's docstring.
from tests.support.database import (  # noqa: E402, F401  (fixtures, used by name)
    database,
    empty_postgres_schema,
    postgres_database,
    postgres_target,
    sqlite_database,
    sqlite_template,
)


@pytest.fixture(autouse=True)
def fresh_keyring() -> Iterator[None]:
    """Whatever keyring a test configured (a command run in process does) is dropped after it: the next
    test reads the environment again."""
    yield
    configure(None)


@pytest.fixture
async def fake_connector() -> AsyncIterator[FakeConnector]:
    """A started fake Bot Connector on 127.0.0.1; use its `service_url` in activities."""
    async with FakeConnector() as connector:
        yield connector
