"""botbuilder `Storage` on the bot's own database, for conversation, user and dialog state.

E-tags follow the SDK's storages: every write stores a new e-tag and every read returns it (as an `e_tag`
key of a dict, or an `e_tag` attribute of a `StoreItem`). Writing an item whose e-tag is missing or `*`
overwrites whatever is stored (last write wins); writing one with an e-tag that is no longer the stored one
raises `StateConflictError` (a `KeyError`, like `MemoryStorage`), so two turns of one conversation cannot
silently overwrite each other; an empty e-tag is refused. A write of several items is all or nothing.

State holds SDK objects (a `DialogState` with its prompts' options, activities...), so items are turned
into JSON with `jsonpickle`, as the SDK's Azure storages do. Reading it back instantiates classes named in
the database, so only classes from an allow-list of packages are accepted. The JSON is stored encrypted
with the deployment's `bot_state` data key (`storage/crypto.py`): a prompt's state may hold what was typed.
"""

from __future__ import annotations

import importlib
from collections.abc import Iterable, Mapping
from functools import lru_cache
from typing import Any
from uuid import uuid4

from botbuilder.core import Storage
from jsonpickle.pickler import Pickler
from jsonpickle.unpickler import Unpickler
from sqlalchemy import delete, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from storage.clock import Clock, utc_now
from storage.crypto import BOT_STATE, NO_KEY, DataKey, NoKey, deployment_key, existing_deployment_key
from storage.db import Database, upsert
from storage.errors import StateConflictError
from storage.schema import bot_state

#: Packages whose classes may be rebuilt from stored state: the SDK's, the standard library's value types,
#: and this product's own.
DEFAULT_ALLOWED_MODULES: tuple[str, ...] = (
    "botbuilder.",
    "botframework.",
    "datetime.",
    "decimal.",
    "uuid.",
    "collections.",
    "process.",
    "cards.",
    "dialogs.",
    "bot.",
    "storage.",
)

#: jsonpickle tags that name a class to instantiate.
_CLASS_TAGS = ("py/object", "py/type")
#: jsonpickle tags that would call a function, evaluate text or load a module: never accepted.
_REFUSED_TAGS = ("py/function", "py/repr", "py/mod")

#: How many keys go into one `IN (...)`.
_BATCH = 500


class UnsafeStateError(ValueError):
    """Stored state names a class outside the allow-list; it is not rebuilt."""


class SqlStorage(Storage):  # type: ignore[misc]  # botbuilder ships no type hints
    """Dialog, conversation and user state in the `bot_state` table."""

    def __init__(
        self,
        db: Database,
        *,
        allowed_modules: Iterable[str] = DEFAULT_ALLOWED_MODULES,
        clock: Clock = utc_now,
    ) -> None:
        super().__init__()
        self.db = db
        self.allowed_modules = tuple(allowed_modules)
        self.clock = clock

    async def read(self, keys: Iterable[str]) -> dict[str, Any]:
        """The stored items of `keys` that exist, each with its current e-tag."""
        if keys is None:
            raise ValueError("Keys are required when reading")
        wanted = list(dict.fromkeys(keys))
        found: dict[str, Any] = {}
        async with self.db.reading() as conn:
            key: DataKey | NoKey = await existing_deployment_key(conn, BOT_STATE) or NO_KEY
            for start in range(0, len(wanted), _BATCH):
                rows = await conn.execute(
                    select(bot_state.c.key, bot_state.c.data, bot_state.c.e_tag).where(
                        bot_state.c.key.in_(wanted[start : start + _BATCH])
                    )
                )
                for row in rows:
                    found[row.key] = self._restore(key.plain_json(_column(row.key), row.data), row.e_tag)
        return found

    async def write(self, changes: Mapping[str, Any]) -> None:
        """Store `changes` (key to item) in one transaction, honouring each item's e-tag (see module)."""
        if changes is None:
            raise ValueError("Changes are required when writing")
        if not changes:
            return
        now = self.clock()
        async with self.db.transaction() as conn:
            state_key = await _state_key(conn)
            for key, item in changes.items():
                e_tag = _e_tag_of(item)
                if e_tag == "":
                    raise ValueError(
                        f"bot state {key!r} has an empty e_tag; use '*' or the e_tag it was read with"
                    )
                values = {
                    "data": state_key.json(_column(key), _flatten(item)),
                    "e_tag": uuid4().hex,
                    "updated_at": now,
                }
                if e_tag is None or e_tag == "*":
                    await _overwrite(conn, key, values)
                elif not await _replace_if_current(conn, key, e_tag, values):
                    raise StateConflictError(key)

    async def delete(self, keys: Iterable[str]) -> None:
        """Remove `keys`; keys that are not stored are ignored."""
        if keys is None:
            raise ValueError("Keys are required when deleting")
        doomed = list(dict.fromkeys(keys))
        if not doomed:
            return
        async with self.db.transaction() as conn:
            for start in range(0, len(doomed), _BATCH):
                await conn.execute(
                    delete(bot_state).where(bot_state.c.key.in_(doomed[start : start + _BATCH]))
                )

    def _restore(self, data: Any, e_tag: str) -> Any:
        _check_classes(data, self.allowed_modules)
        item = Unpickler(keys=True).restore(data)
        if isinstance(item, dict):
            item["e_tag"] = e_tag
        elif hasattr(item, "__dict__"):
            item.e_tag = e_tag
        return item


async def _state_key(conn: AsyncConnection) -> DataKey:
    """The deployment's key for dialog state (what people typed may be in it, a prompt's answer say)."""
    return await deployment_key(conn, BOT_STATE)


def _column(key: str) -> str:
    """The associated data of an item: its column and its key, so it cannot be moved to another key."""
    return f"bot_state.data.{key}"


async def _overwrite(conn: AsyncConnection, key: str, values: dict[str, Any]) -> None:
    await conn.execute(
        upsert(conn, bot_state)
        .values(key=key, **values)
        .on_conflict_do_update(index_elements=[bot_state.c.key], set_=values)
    )


async def _replace_if_current(conn: AsyncConnection, key: str, e_tag: str, values: dict[str, Any]) -> bool:
    """Write over the stored item only if it still has `e_tag`; create it if none is stored (as
    `MemoryStorage` does). False when another writer got there first."""
    result = await conn.execute(
        update(bot_state).where(bot_state.c.key == key, bot_state.c.e_tag == e_tag).values(**values)
    )
    if result.rowcount:
        return True
    created = await conn.execute(
        upsert(conn, bot_state)
        .values(key=key, **values)
        .on_conflict_do_nothing(index_elements=[bot_state.c.key])
    )
    return bool(created.rowcount)


def _e_tag_of(item: Any) -> Any:
    if isinstance(item, Mapping):
        return item.get("e_tag")
    return getattr(item, "e_tag", None)


def _flatten(item: Any) -> Any:
    """The item as JSON-ready data, without its e-tag (the e-tag lives in its own column)."""
    flat = Pickler(keys=True).flatten(item)
    if isinstance(flat, dict):
        flat.pop("e_tag", None)
        state = flat.get("py/state")
        if isinstance(state, dict):
            state.pop("e_tag", None)
    return flat


def _check_classes(data: Any, allowed: tuple[str, ...]) -> None:
    """Refuse stored state that would run code or build a class outside `allowed`."""
    stack = [data]
    while stack:
        node = stack.pop()
        if isinstance(node, dict):
            for tag in _REFUSED_TAGS:
                if tag in node:
                    raise UnsafeStateError(f"stored bot state contains {tag}, which is never loaded")
            for tag in _CLASS_TAGS:
                name = node.get(tag)
                if name is not None and not _allowed_class(str(name), allowed):
                    raise UnsafeStateError(f"stored bot state names {name!r}, which is not an allowed class")
            stack.extend(node.values())
        elif isinstance(node, list):
            stack.extend(node)


@lru_cache(maxsize=512)
def _allowed_class(name: str, allowed: tuple[str, ...]) -> bool:
    """Whether `name` is the real dotted name of a class defined in an allowed package."""
    if not name.startswith(allowed):
        return False
    parts = name.split(".")
    for split in range(len(parts) - 1, 0, -1):
        try:
            found: Any = importlib.import_module(".".join(parts[:split]))
        except ImportError:
            continue
        for attribute in parts[split:]:
            found = getattr(found, attribute, None)
        return isinstance(found, type) and f"{found.__module__}.{found.__qualname__}" == name
    return False
