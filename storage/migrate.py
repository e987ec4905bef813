"""Schema migrations, run from code: `challenge-bot db upgrade`, and the check made on every start-up.

The migrations ship inside the package (`storage/migrations/`), so no `alembic.ini` is needed where the bot
runs. A SQLite database (the no-setup default) is brought up to date automatically on start; a PostgreSQL
one is shared by every instance, so its upgrade is a deliberate step and start-up only checks it.

Alembic (and Mako, which it brings) adds some 8 MB to a process that has SQLAlchemy, so it is imported
only when it has work to do: a start-up that finds the database at the shipped head has found it by reading
`alembic_version` and the `revision` lines of the shipped migration files (`shipped_head`), and goes on
without loading it. Anything else (an empty database, an older or unknown revision) takes Alembic's own path, as before.
"""

from __future__ import annotations

import ast
import logging
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING

from sqlalchemy import inspect, text
from sqlalchemy.engine import Connection

from storage.db import Database
from storage.errors import SchemaNotCurrent

if TYPE_CHECKING:
    from alembic.config import Config

log = logging.getLogger(__name__)

MIGRATIONS = Path(__file__).parent / "migrations"
VERSIONS = MIGRATIONS / "versions"

#: Key of the PostgreSQL advisory lock that keeps two upgrades from running at once.
_UPGRADE_LOCK = 0x43_48_42_4F_54  # "CHBOT"


def alembic_config() -> Config:
    """An Alembic configuration pointing at the shipped migrations, independent of the working folder."""
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    return config


def head_revision() -> str:
    """The newest revision this version of the bot ships, as Alembic finds it."""
    from alembic.script import ScriptDirectory

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
        if await _at_shipped_head(database):
            return
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


@cache
def shipped_head(versions: Path = VERSIONS) -> str | None:
    """The newest shipped revision, read from the migration files' `revision` and `down_revision`
    assignments without loading Alembic; None unless they name exactly one head (or a value is not a
    plain literal), and then the caller asks Alembic."""
    revisions: set[str] = set()
    replaced: set[str] = set()
    for path in versions.glob("*.py"):
        try:
            body = ast.parse(path.read_text(encoding="utf-8")).body
        except SyntaxError:
            return None
        for statement in body:
            if not isinstance(statement, ast.Assign | ast.AnnAssign):
                continue
            targets = statement.targets if isinstance(statement, ast.Assign) else [statement.target]
            names = {target.id for target in targets if isinstance(target, ast.Name)}
            if not names & {"revision", "down_revision"} or statement.value is None:
                continue
            try:
                value = ast.literal_eval(statement.value)
            except (ValueError, TypeError):
                return None
            if "revision" in names and isinstance(value, str):
                revisions.add(value)
            elif "down_revision" in names and value is not None:
                replaced.update([value] if isinstance(value, str) else value)
    heads = revisions - replaced
    return heads.pop() if len(heads) == 1 else None


async def _at_shipped_head(database: Database) -> bool:
    """Whether `alembic_version` holds exactly the shipped head, read with a plain query."""
    head = shipped_head()
    if head is None:
        return False
    async with database.reading() as conn:
        return await conn.run_sync(_stored_versions) == [head]


def _stored_versions(connection: Connection) -> list[str]:
    if not inspect(connection).has_table("alembic_version"):
        return []
    return list(connection.execute(text("SELECT version_num FROM alembic_version")).scalars())


def _upgrade(connection: Connection) -> None:
    from alembic import command

    config = alembic_config()
    config.attributes["connection"] = connection
    command.upgrade(config, "head")


def _current(connection: Connection) -> str | None:
    from alembic.runtime.migration import MigrationContext

    return MigrationContext.configure(connection).get_current_revision()
