"""The data encryption keys as the bot and its commands use them (`storage/crypto.py` encrypts with them).

`use_data_keys` reads the key-encryption keys from the environment (`CHALLENGE_DATA_KEY` or
`CHALLENGE_DATA_KEY_FILE`, and `CHALLENGE_DATA_KEY_PREVIOUS` or `CHALLENGE_DATA_KEY_PREVIOUS_FILE`) for the
whole process. Without one, a deployment (MicrosoftAppId set) refuses to start; local mode with a SQLite
database makes a key of its own in a file beside it (`var/data-key`, mode 0600) and says so in the log (a
PostgreSQL database always needs the key given: a shared database is never encrypted under a key made on the
spot by whoever ran a command).

`challenge-bot keys status | rotate | generate` are the operator's commands (`docs/ARCHITECTURE.md`, key
rotation).
"""

from __future__ import annotations

import asyncio
import logging
import os
import time
from collections.abc import Mapping
from contextlib import closing
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import func, select

from bot.config import ConfigError, Settings
from storage.crypto import (
    KEY_ENV,
    KEY_FILE_ENV,
    PREVIOUS_ENV,
    BadKey,
    EncryptionError,
    Keyring,
    MissingKey,
    configure,
    generate_key,
    keyring,
    rewrap_batch,
)
from storage.db import Database, parse_url
from storage.schema import data_keys

log = logging.getLogger(__name__)

#: The local-mode key's file name, beside the SQLite database.
LOCAL_KEY_FILE = "data-key"

#: How many data keys one rotation transaction re-wraps: short transactions, so running bots go on.
ROTATION_BATCH = 200


def local_key_path(database_url: str) -> Path:
    """Where local mode keeps its own key: beside its SQLite file (`var/data-key` for the default one)."""
    parsed = parse_url(database_url)
    return Path(parsed.database or "var/challenge-bot.db").expanduser().resolve().parent / LOCAL_KEY_FILE


def _stored_key_ids(database_url: str) -> dict[str, int]:
    """How many data keys each KEK fingerprint wraps in a SQLite database, read without changing or making
    it: empty when there is no such file yet, or no `data_keys` table in it (before migration 0008)."""
    name = parse_url(database_url).database
    if not name or name == ":memory:" or name.startswith("file:"):
        return {}
    path = Path(name).expanduser().resolve()
    if not path.is_file():
        return {}
    import sqlite3  # here: a process on PostgreSQL never loads it

    try:
        with closing(sqlite3.connect(path.as_uri() + "?mode=ro", uri=True)) as conn:
            rows = conn.execute("SELECT kek_id, count(*) FROM data_keys GROUP BY kek_id").fetchall()
    except sqlite3.Error as error:
        if "no such table" in str(error):
            return {}
        raise ConfigError([f"local mode could not read the data keys in {path}: {error}"]) from None
    return {str(kek): int(n) for kek, n in rows}


def _unreadable_records(database_url: str, key_path: Path, stored: dict[str, int], readable: set[str]) -> str:
    """Why local mode refuses to start: the database holds data keys its key file cannot open."""
    database = Path(parse_url(database_url).database or "").expanduser().resolve()
    missing = sum(n for kek, n in stored.items() if kek not in readable)
    keys = ", ".join(sorted(kek for kek in stored if kek not in readable))
    found = "is missing" if not readable else "holds another key"
    return (
        f"local mode: {database} holds records encrypted under data encryption key {keys} ({missing} data "
        f"keys), but {key_path} {found}, so none of them could be read. Put that key file back (or set "
        f"{KEY_ENV} to that key); or, to start afresh with nothing stored, move {database} (and any "
        f"{database.name}-wal and {database.name}-shm beside it) away"
    )


def _local_keyring(database_url: str) -> Keyring:
    """Local mode's own key, from its file beside the SQLite database; made when missing, unless the database
    already holds records encrypted under another key (a new key would leave them unreadable)."""
    path = local_key_path(database_url)
    stored = _stored_key_ids(database_url)
    if not path.exists():
        if stored:
            raise ConfigError([_unreadable_records(database_url, path, stored, set())])
        path.parent.mkdir(parents=True, exist_ok=True)
        # Created with mode 0600 from the start: never readable by others, not even for a moment.
        descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(descriptor, "w", encoding="ascii") as file:
            file.write(generate_key() + "\n")
        log.warning(
            "local mode: no %s set, so a new data encryption key was made in %s (mode 0600); "
            "a deployment must set %s or %s",
            KEY_ENV,
            path,
            KEY_ENV,
            KEY_FILE_ENV,
        )
    else:
        log.info("local mode: no %s set; the data encryption key in %s is used", KEY_ENV, path)
    ring = Keyring.from_environment({KEY_FILE_ENV: str(path)})
    if any(kek not in ring.readable for kek in stored):
        raise ConfigError([_unreadable_records(database_url, path, stored, set(ring.readable))])
    return ring


def data_keyring(
    settings: Settings, environ: Mapping[str, str] | None = None, *, make_local: bool = True
) -> Keyring:
    """The keyring the environment names; in local mode without one, the local key file's (made if missing,
    unless `make_local` is false: a command that only reads an existing database makes no key, so a mistyped
    DATABASE_URL leaves no key file behind). `ConfigError` naming the variables when a deployment has none,
    or a key is unusable."""
    try:
        return Keyring.from_environment(os.environ if environ is None else environ)
    except MissingKey as missing:
        if not settings.local_mode:
            raise ConfigError(
                [
                    f"{missing}. A deployment (MicrosoftAppId set) will not start without it: the child's "
                    "details and what people write are stored encrypted under it"
                ]
            ) from None
        if parse_url(settings.database_url).get_backend_name() != "sqlite":
            # A shared database is never encrypted under a key made on the spot by whoever ran a command.
            raise ConfigError(
                [
                    f"{missing}. Local mode makes a key of its own for a SQLite database only, not for PostgreSQL"
                ]
            ) from None
        path = local_key_path(settings.database_url)
        if not make_local and not path.exists():
            stored = _stored_key_ids(settings.database_url)
            if stored:
                raise ConfigError([_unreadable_records(settings.database_url, path, stored, set())]) from None
            raise ConfigError(
                [
                    f"{missing}. Local mode keeps its key beside its SQLite database, and there is none at "
                    f"{path}: is DATABASE_URL the bot's database? (the bot or `challenge-bot db upgrade` "
                    "makes it)"
                ]
            ) from None
        try:
            return _local_keyring(settings.database_url)
        except (OSError, BadKey) as error:
            raise ConfigError([f"local mode could not make or read its data key: {error}"]) from None
    except BadKey as bad:
        raise ConfigError([str(bad)]) from None


def use_data_keys(
    settings: Settings, environ: Mapping[str, str] | None = None, *, make_local: bool = True
) -> Keyring:
    """Read the keyring (see `data_keyring`) and use it in this process from now on."""
    ring = data_keyring(settings, environ, make_local=make_local)
    configure(ring)
    return ring


@dataclass(frozen=True)
class KeyCounts:
    """How many data keys each KEK fingerprint wraps, and which of them this environment can open."""

    by_kek: dict[str, int]
    current: str
    readable: frozenset[str]


async def key_counts(db: Database, ring: Keyring) -> KeyCounts:
    async with db.reading() as conn:
        rows = await conn.execute(
            select(data_keys.c.kek_id, func.count()).group_by(data_keys.c.kek_id).order_by(data_keys.c.kek_id)
        )
        counts = {str(kek): int(n) for kek, n in rows}
    return KeyCounts(counts, ring.current_id, frozenset(ring.readable))


async def report_unreadable_keys(db: Database) -> int:
    """How many stored data keys a key-encryption key not configured here wraps, each such key logged as an
    error when the bot starts: the usual cause is `CHALLENGE_DATA_KEY_PREVIOUS` left out before `keys rotate`
    ran, and every challenge under it would otherwise only show as failing turns."""
    try:
        ring = keyring()
    except EncryptionError:
        return 0
    counts = await key_counts(db, ring)
    missing = {kek: n for kek, n in counts.by_kek.items() if kek not in counts.readable}
    for kek, n in missing.items():
        log.error(
            "%d data keys are wrapped by key %s, which is not configured here (current key: %s): what they "
            "encrypt cannot be read until that key is added to %s (`challenge-bot keys status`)",
            n,
            kek,
            counts.current,
            PREVIOUS_ENV,
        )
    return sum(missing.values())


@dataclass(frozen=True)
class Rotation:
    rewrapped: int
    batches: int
    seconds: float
    left_unreadable: int
    #: Data keys still wrapped by a previous key this environment opens: rows another transaction held
    #: (PostgreSQL skips them rather than wait) or written meanwhile by a bot still wrapping with that key.
    left_previous: int = 0


async def rotate(db: Database, ring: Keyring, batch: int = ROTATION_BATCH) -> Rotation:
    """Re-wrap, under the current KEK, every data key wrapped by another KEK this environment can open, a
    batch per short transaction (bots running meanwhile read and write as usual: a key re-wrapped keeps its
    bytes). Idempotent: a second run finds nothing to do. Keys whose KEK is not configured are counted."""
    started = time.perf_counter()
    total = batches = 0
    while True:
        async with db.transaction() as conn:
            done = await rewrap_batch(conn, ring, batch)
        if not done:
            break
        total += done
        batches += 1
    counts = await key_counts(db, ring)
    left = sum(n for kek, n in counts.by_kek.items() if kek not in counts.readable)
    previous = sum(n for kek, n in counts.by_kek.items() if kek in counts.readable and kek != counts.current)
    return Rotation(total, batches, time.perf_counter() - started, left, previous)


def status_lines(counts: KeyCounts) -> list[str]:
    lines = [f"current key: {counts.current}"]
    if not counts.by_kek:
        lines.append("no data keys stored")
    for kek, n in counts.by_kek.items():
        role = (
            "current" if kek == counts.current else "readable" if kek in counts.readable else "NOT READABLE"
        )
        lines.append(f"{kek}: {n} data keys ({role})")
    others = sorted(counts.readable - {counts.current})
    if others:
        lines.append(f"also readable here ({PREVIOUS_ENV}): {', '.join(others)}")
    return lines


async def _with_database(settings: Settings) -> Database:
    return await Database.connect(settings.database_url)


def keys_status(settings: Settings) -> int:
    ring = use_data_keys(settings, make_local=False)

    async def run() -> KeyCounts:
        db = await _with_database(settings)
        try:
            return await key_counts(db, ring)
        finally:
            await db.dispose()

    counts = asyncio.run(run())
    print("\n".join(status_lines(counts)))
    return 1 if any(kek not in counts.readable for kek in counts.by_kek) else 0


def keys_rotate(settings: Settings) -> int:
    ring = use_data_keys(settings, make_local=False)

    async def run() -> tuple[Rotation, KeyCounts]:
        db = await _with_database(settings)
        try:
            done = await rotate(db, ring)
            return done, await key_counts(db, ring)
        finally:
            await db.dispose()

    done, counts = asyncio.run(run())
    print(
        f"re-wrapped {done.rewrapped} data keys under {ring.current_id} in {done.batches} batches "
        f"({done.seconds:.2f} s)"
    )
    print("\n".join(status_lines(counts)))
    status = 0
    if done.left_unreadable:
        print(
            f"{done.left_unreadable} data keys are wrapped by a key not configured here: add it to "
            f"{PREVIOUS_ENV} and run again"
        )
        status = 1
    if done.left_previous:
        print(
            f"{done.left_previous} data keys are still wrapped by a previous key (another transaction held "
            f"them, or a bot still wraps new keys with it): run `challenge-bot keys rotate` again once every "
            f"instance has {ring.current_id} as {KEY_ENV}"
        )
        status = 1
    return status


def keys_generate() -> int:
    print(generate_key())
    return 0
