"""Fixtures for the Teams app package tests."""

from __future__ import annotations

import pytest

from tests.manifest.teams_schema import TeamsSchemas, load_teams_schemas


@pytest.fixture(scope="session")
def teams_schemas() -> TeamsSchemas:
    """The official Teams schemas, read once per test session."""
    return load_teams_schemas()
