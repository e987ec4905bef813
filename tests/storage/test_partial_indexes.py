"""The partial indexes that `storage/schema.py` declares with `partial_index` get their filter from the
dialect creating the table (so a process imports only its own database's dialect): created from the
metadata, they are partial on both databases, as the migrations make them."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import text

from storage.db import Database
from storage.schema import metadata
from tests.support.database import PostgresTarget, sqlite_url

#: Each partial index and the filter the migrations give it.
PARTIAL = {
    "ix_challenges_open_due": "status = 'open'",
    "ix_raise_drafts_open_person": "status = 'open'",
    "ix_outbox_unsent": "status IN ('pending', 'sending')",
}


def _declared() -> dict[str, str]:
    return {
        index.name: index.info["where"]
        for table in metadata.tables.values()
        for index in table.indexes
        if "where" in index.info and isinstance(index.name, str)
    }


def test_the_schema_declares_the_partial_indexes_the_migrations_make() -> None:
    assert _declared() == PARTIAL


async def test_created_from_the_metadata_on_sqlite_they_are_partial(tmp_path: Path) -> None:
    database = await Database.connect(sqlite_url(tmp_path / "bot.db"))
    try:
        async with database.transaction() as conn:
            await conn.run_sync(metadata.create_all)
            rows = await conn.execute(
                text("SELECT name, sql FROM sqlite_master WHERE type = 'index' AND name LIKE 'ix_%'")
            )
            made = {name: sql for name, sql in rows}
    finally:
        await database.dispose()
    for name, where in PARTIAL.items():
        assert made[name].endswith(f"WHERE {where}"), made[name]
    assert "WHERE" not in made["ix_outbox_challenge_id"]


@pytest.mark.postgres
async def test_created_from_the_metadata_on_postgresql_they_are_partial(
    empty_postgres_schema: PostgresTarget,
) -> None:
    database = await Database.connect(empty_postgres_schema.url, schema=empty_postgres_schema.schema)
    try:
        async with database.transaction() as conn:
            await conn.run_sync(metadata.create_all)
            rows = await conn.execute(
                text("SELECT indexname, indexdef FROM pg_indexes WHERE schemaname = current_schema()")
            )
            made = {name: definition for name, definition in rows}
    finally:
        await database.dispose()
    assert " WHERE " in made["ix_challenges_open_due"]
    assert "'open'" in made["ix_challenges_open_due"]
    assert made["ix_raise_drafts_open_person"].startswith("CREATE UNIQUE INDEX")
    assert " WHERE " in made["ix_raise_drafts_open_person"]
    assert "'pending'" in made["ix_outbox_unsent"] and "'sending'" in made["ix_outbox_unsent"]
    assert " WHERE " not in made["ix_outbox_challenge_id"]
