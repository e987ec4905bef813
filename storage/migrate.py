"""Schema migrations, run from code: `challenge-bot db upgrade`, and the check made on every start-up.

The migrations ship inside the package (`storage/migrations/`), so no `alembic.ini` is needed where the bot
runs. A SQLite database (the no-setup default) is brought up to date automatically on start; a PostgreSQL
one is shared by every instance, so its upgrade is a deliberate step and start-up only checks it.
"""

from __future__ import annotations

import logging
from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import text
from sqlalchemy.engine import Connection

from storage.db import Database
from storage.errors import SchemaNotCurrent

log = logging.getLogger(__name__)

MIGRATIONS = Path(__file__).parent / "migrations"

#: Key of the PostgreSQL advisory lock that keeps two upgrades from running at once.
_UPGRADE_LOCK = 0x43_48_42_4F_54  # "CHBOT"


def alembic_config() -> Config:
    """An Alembic configuration pointing at the shipped migrations, independent of the working folder."""
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    return config


def head_revision() -> str:
    """The newest revision this version of the bot ships."""
    heads = ScriptDirectory.from_config(alembic_config()).get_heads()
    if len(heads) != 1:
        raise RuntimeError(f"the migrations must have exactly one head, found {heads}")
    return heads[0]


async def upgrade(url: str, *, schema: str | None = None) -> None:
    """Apply every pending migration to the database at `url`, in one transaction."""
    database = await Database.connect(url, schema=schema)
    try:
        await upgrade_database(database)
    finally:
        await database.dispose()


async def upgrade_database(database: Database) -> None:
    """Apply every pending migration through an open `Database`."""
    async with database.transaction() as conn:
        if not database.is_sqlite:
            await conn.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": _UPGRADE_LOCK})
        await conn.run_sync(_upgrade)
    # A migration that rewrote stored values (encrypting them, say) leaves no old page in SQLite's log.
    await database.forget_deleted()


async def current_revision(database: Database) -> str | None:
    """The revision the database is at; None for an empty database."""
    async with database.reading() as conn:
        return await conn.run_sync(_current)


async def ensure_schema(url: str, *, schema: str | None = None) -> None:
    """Make sure the schema is current before the bot serves anything.

    SQLite: apply pending migrations (the file may not exist yet). PostgreSQL: raise `SchemaNotCurrent`
    telling the operator to run `challenge-bot db upgrade` if the schema is not at this version's head.
    """
    database = await Database.connect(url, schema=schema)
    try:
        wanted = head_revision()
        found = await current_revision(database)
        if found == wanted:
            return
        if database.is_sqlite:
            await upgrade_database(database)
            log.info("SQLite database migrated from %s to %s", found or "empty", wanted)
            return
        state = "empty" if found is None else f"at revision {found}"
        raise SchemaNotCurrent(
            f"The database schema is {state}, but this version of the bot needs revision {wanted}. "
            "Run `challenge-bot db upgrade` (with the same DATABASE_URL), then start the bot again."
        )
    finally:
        await database.dispose()


def _upgrade(connection: Connection) -> None:
    config = alembic_config()
    config.attributes["connection"] = connection
    command.upgrade(config, "head")


def _current(connection: Connection) -> str | None:
    return MigrationContext.configure(connection).get_current_revision()
