"""Things done at most once, however often they are asked for: the first claim of a key wins, every later
one (at once, from another instance, or after a restart) is told it was claimed already.

Claims are rows of `bot_state` under the `once/` prefix (no state of botbuilder's is kept there), written by
an insert that does nothing when the key exists, so two claims at the same instant cannot both win.
"""

from __future__ import annotations

from uuid import uuid4

from storage.clock import Clock, utc_now
from storage.db import Database, upsert
from storage.schema import bot_state

PREFIX = "once/"


async def claim_once(db: Database, key: str, *, clock: Clock = utc_now) -> bool:
    """True for the first claim of `key`, False for every claim after it."""
    async with db.transaction() as conn:
        statement = (
            upsert(conn, bot_state)
            .values(key=PREFIX + key, data={"claimed": True}, e_tag=uuid4().hex, updated_at=clock())
            .on_conflict_do_nothing(index_elements=[bot_state.c.key])
        )
        result = await conn.execute(statement)
        return bool(result.rowcount == 1)
