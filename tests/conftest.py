"""Fixtures shared by every test package."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from typing import Any

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


#: Test folders whose tests start real processes and time them (the served bot killed and restarted,
#: PostgreSQL clusters, the Playground and Chromium, the load generator): under pytest-xdist they all run on
#: one worker, one after another, so they never compete with each other for the machine's two cores.
PROCESS_HEAVY = ("e2e", "resilience", "bench")


def xdist_scope(nodeid: str) -> str:
    """What pytest-xdist sends to one worker as a whole: a test file, or all the process-heavy tests."""
    path = nodeid.split("::", 1)[0]
    parts = path.split("/")
    if len(parts) > 2 and parts[0] == "tests" and parts[1] in PROCESS_HEAVY:
        return "process-heavy tests"
    return path


def pytest_xdist_make_scheduler(config: pytest.Config, log: Any) -> Any:
    """Whole files to each worker (like `--dist loadfile`), the process-heavy tests all to one."""
    from xdist.scheduler import LoadScopeScheduling

    class Scheduling(LoadScopeScheduling):  # type: ignore[misc]
        def _split_scope(self, nodeid: str) -> str:
            return xdist_scope(nodeid)

    return Scheduling(config, log)


@pytest.fixture
async def fake_connector() -> AsyncIterator[FakeConnector]:
    """A started fake Bot Connector on 127.0.0.1; use its `service_url` in activities."""
    async with FakeConnector() as connector:
        yield connector
