"""Fixtures shared by every test package."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from tests.cardcheck import card_validator as card_validator
from tests.fakes.connector import FakeConnector
from tests.support.database import (  # migrated test databases; see the module's docstring
    database as database,
    empty_postgres_schema as empty_postgres_schema,
    postgres_database as postgres_database,
    postgres_target as postgres_target,
    sqlite_database as sqlite_database,
    sqlite_template as sqlite_template,
)


@pytest.fixture
async def fake_connector() -> AsyncIterator[FakeConnector]:
    """A started fake Bot Connector on 127.0.0.1; use its `service_url` in activities."""
    async with FakeConnector() as connector:
        yield connector
