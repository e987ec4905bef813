"""`claim_once`: the first claim of a key wins, every later one loses, also when many claim at once."""

from __future__ import annotations

import asyncio

from storage.db import Database
from storage.once import claim_once


async def test_a_key_is_claimed_once_even_by_claims_at_the_same_instant(database: Database) -> None:
    assert await claim_once(database, "file-consent/a:chat/consent-1")
    assert not await claim_once(database, "file-consent/a:chat/consent-1")
    results = await asyncio.gather(*(claim_once(database, "file-consent/a:chat/consent-2") for _ in range(8)))
    assert sorted(results) == [False] * 7 + [True]
    assert await claim_once(database, "file-consent/a:other/consent-1")
