"""Fixtures of the storage tests. The databases themselves (`database`, `sqlite_database`,
`postgres_database`...) come from `tests/support/database.py` through `tests/conftest.py`."""

from __future__ import annotations

import pytest

from process.directory import Directory
from storage.challenges import ChallengeRepository
from storage.db import Database
from storage.outbox import Outbox
from tests.support.clock import FakeClock
from tests.support.directory import MONDAY, invented_directory


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(MONDAY)


@pytest.fixture(scope="session")
def directory() -> Directory:
    return invented_directory()


@pytest.fixture
def repo(database: Database, clock: FakeClock) -> ChallengeRepository:
    return ChallengeRepository(database, clock=clock)


@pytest.fixture
def outbox(database: Database) -> Outbox:
    return Outbox(database)
