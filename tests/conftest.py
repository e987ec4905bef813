"""Fixtures shared by every test package."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from tests.cardcheck import card_validator as card_validator
from tests.fakes.connector import FakeConnector

# Migrated test databases (SQLite and PostgreSQL); see the module's docstring.
from tests.support.database import (  # noqa: F401  (fixtures, used by name)
    database,
    empty_postgres_schema,
    postgres_database,
    postgres_target,
    sqlite_database,
    sqlite_template,
)


@pytest.fixture
async def fake_connector() -> AsyncIterator[FakeConnector]:
    """A started fake Bot Connector on 127.0.0.1; use its `service_url` in activities."""
    async with FakeConnector() as connector:
        yield connector
