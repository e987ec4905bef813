"""Migrations: from an empty database to the newest schema, idempotent and matching the models, on both."""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Any

import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import inspect, text
from sqlalchemy.engine import Connection

from bot.cli import main as cli_main
from storage.db import Database
from storage.errors import SchemaNotCurrent
from storage.migrate import alembic_config, current_revision, ensure_schema, head_revision, upgrade
from storage.schema import metadata
from tests.support.database import PostgresTarget, sqlite_url

EXPECTED_TABLES = {
    "agencies",
    "agency_escalation_contacts",
    "audit_anchors",
    "agency_team_contacts",
    "audit_events",
    "audit_heads",
    "bot_state",
    "challenge_changes",
    "challenge_parties",
    "challenge_stages",
    "challenges",
    "child_details",
    "conversation_references",
    "data_keys",
    "directory_generation",
    "draft_child_details",
    "outbox",
    "partnership_role_contacts",
    "pattern_alerts",
    "people",
    "raise_drafts",
    "reference_counters",
}


def _tables(conn: Connection) -> set[str]:
    return set(inspect(conn).get_table_names()) - {"alembic_version"}


def _indexes(conn: Connection) -> set[str]:
    # Read the catalogues: SQLAlchemy's reflection skips SQLite's expression indexes.
    if conn.dialect.name == "sqlite":
        query = "SELECT name FROM sqlite_master WHERE type = 'index'"
    else:
        query = "SELECT indexname FROM pg_indexes WHERE schemaname = current_schema()"
    return set(conn.execute(text(query)).scalars())


def _differences(conn: Connection) -> list[Any]:
    context = MigrationContext.configure(conn, opts={"compare_type": True})
    return compare_metadata(context, metadata)


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def empty_target(request: pytest.FixtureRequest, tmp_path: Path) -> tuple[str, str | None]:
    """The URL (and PostgreSQL schema) of a database with nothing in it."""
    if request.param == "sqlite":
        return sqlite_url(tmp_path / "new" / "folder" / "bot.db"), None
    empty: PostgresTarget = request.getfixturevalue("empty_postgres_schema")
    return empty.url, empty.schema


async def test_upgrade_from_empty_creates_every_table_and_index(empty_target: tuple[str, str | None]) -> None:
    url, schema = empty_target
    await upgrade(url, schema=schema)
    database = await Database.connect(url, schema=schema)
    try:
        assert await current_revision(database) == head_revision()
        async with database.reading() as conn:
            assert await conn.run_sync(_tables) == EXPECTED_TABLES == {t.name for t in metadata.sorted_tables}
            indexes = await conn.run_sync(_indexes)
        assert {
            "ix_challenges_open_due",
            "ix_outbox_unsent",
            "ix_challenges_reference_upper",
            "ix_people_aad_object_id_lower",
            "ix_challenges_draft_id",
            "ix_raise_drafts_open_person",
        } <= indexes
    finally:
        await database.dispose()


async def test_second_upgrade_is_a_no_op_that_keeps_the_data(empty_target: tuple[str, str | None]) -> None:
    url, schema = empty_target
    await upgrade(url, schema=schema)
    database = await Database.connect(url, schema=schema)
    try:
        async with database.transaction() as conn:
            await conn.execute(
                text("INSERT INTO reference_counters (prefix, year, last_number) VALUES ('DUR', 2026, 7)")
            )
        await upgrade(url, schema=schema)
        assert await current_revision(database) == head_revision()
        async with database.reading() as conn:
            assert (await conn.execute(text("SELECT last_number FROM reference_counters"))).scalar_one() == 7
    finally:
        await database.dispose()


# SQLite cannot reflect expression indexes; the test above checks they exist.
@pytest.mark.filterwarnings("ignore:Skipped unsupported reflection of expression-based index")
@pytest.mark.filterwarnings("ignore:autogenerate skipping metadata-specified expression-based index")
async def test_migrated_schema_matches_the_models(empty_target: tuple[str, str | None]) -> None:
    url, schema = empty_target
    await upgrade(url, schema=schema)
    database = await Database.connect(url, schema=schema)
    try:
        async with database.reading() as conn:
            assert await conn.run_sync(_differences) == []
    finally:
        await database.dispose()


async def test_downgrade_to_empty_and_upgrade_again(empty_target: tuple[str, str | None]) -> None:
    url, schema = empty_target
    await upgrade(url, schema=schema)
    database = await Database.connect(url, schema=schema)

    def downgrade(conn: Connection) -> None:
        config = alembic_config()
        config.attributes["connection"] = conn
        command.downgrade(config, "base")

    try:
        async with database.transaction() as conn:
            await conn.run_sync(downgrade)
        async with database.reading() as conn:
            assert await conn.run_sync(_tables) == set()
        assert await current_revision(database) is None
    finally:
        await database.dispose()
    await upgrade(url, schema=schema)
    database = await Database.connect(url, schema=schema)
    try:
        async with database.reading() as conn:
            assert await conn.run_sync(_tables) == EXPECTED_TABLES
    finally:
        await database.dispose()


async def test_ensure_schema_migrates_a_new_sqlite_file_on_first_run(tmp_path: Path) -> None:
    path = tmp_path / "var" / "challenge-bot.db"
    await ensure_schema(sqlite_url(path))
    assert path.is_file()
    database = await Database.connect(sqlite_url(path))
    try:
        assert await current_revision(database) == head_revision()
    finally:
        await database.dispose()
    await ensure_schema(sqlite_url(path))


@pytest.mark.postgres
async def test_ensure_schema_on_postgresql_asks_for_db_upgrade_and_then_passes(
    empty_postgres_schema: PostgresTarget,
) -> None:
    url, schema = empty_postgres_schema.url, empty_postgres_schema.schema
    with pytest.raises(SchemaNotCurrent, match="challenge-bot db upgrade"):
        await ensure_schema(url, schema=schema)
    database = await Database.connect(url, schema=schema)
    try:
        assert await current_revision(database) is None, "ensure_schema must not migrate PostgreSQL itself"
    finally:
        await database.dispose()
    await upgrade(url, schema=schema)
    await ensure_schema(url, schema=schema)


def test_challenge_bot_db_upgrade_migrates_the_configured_database(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "cli" / "bot.db"
    monkeypatch.setenv("DATABASE_URL", sqlite_url(path))
    assert cli_main(["db", "upgrade"]) == 0
    assert "newest schema" in capsys.readouterr().out
    with sqlite3.connect(path) as conn:
        found = {row[0] for row in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
        version = conn.execute("SELECT version_num FROM alembic_version").fetchone()[0]
    assert EXPECTED_TABLES <= found
    assert version == head_revision()
