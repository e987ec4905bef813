"""A reference, challenge id or draft id with a control character in it names nothing, on every database.

PostgreSQL's text cannot hold NUL: asked for "DUR-2026-0001\\x00" it raised instead of finding nothing, so the
turn failed. Whatever reaches the lookups (the endpoint already replaces NUL), the answer is "none".
"""

from __future__ import annotations

import pytest

from bot.config import Settings
from bot.wiring import make_service
from process.directory_file import DEMO_DIRECTORY, load_directory_file
from storage.db import Database
from storage.directory import DirectoryStore
from storage.drafts import DraftStore

KEYS = ["DUR-2026-0001\x00", "\x00", "DUR-2026-0001\x07", "a\x00b", "draft\x1b[0m", "DUR-2026-0001\n"]


@pytest.mark.parametrize("key", KEYS)
async def test_a_key_with_a_control_character_finds_nothing(database: Database, key: str) -> None:
    await DirectoryStore(database).replace_all(load_directory_file(DEMO_DIRECTORY))
    service = make_service(Settings(directory_file=None), database)
    alex = (await service.directory()).person("alex")

    assert await service.find(key) is None
    assert await service.visible(key, alex) is None
    assert await DraftStore(database).get(key) is None
