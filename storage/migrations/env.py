"""Alembic's entry point. `storage.migrate` runs it with an open connection; the `alembic` command (for
writing new migrations, `alembic -c storage/alembic.ini revision --autogenerate -m "..."`) gets its URL from
`DATABASE_URL`."""

from __future__ import annotations

import asyncio
import os

from alembic import context
from sqlalchemy.engine import Connection

from storage.schema import metadata


def _run(connection: Connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=metadata,
        render_as_batch=connection.dialect.name == "sqlite",
        transactional_ddl=True,
        compare_type=True,
    )
    with context.begin_transaction():
        context.run_migrations()


async def _run_from_environment() -> None:
    from storage.db import Database

    url = os.environ.get("DATABASE_URL") or context.config.get_main_option("sqlalchemy.url")
    if not url:
        raise SystemExit("set DATABASE_URL to the database to migrate")
    database = await Database.connect(url)
    try:
        async with database.transaction() as conn:
            await conn.run_sync(_run)
    finally:
        await database.dispose()


given = context.config.attributes.get("connection")
if context.is_offline_mode():
    raise SystemExit("offline (--sql) migrations are not supported; run them against a database")
if given is not None:
    _run(given)
else:
    asyncio.run(_run_from_environment())
