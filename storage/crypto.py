"""Encryption at rest of the child's details and of everything people write.

Envelope encryption with AES-GCM (the `cryptography` package):

- a key-encryption key (KEK) comes from the environment: `CHALLENGE_DATA_KEY` (base64 of 32 random bytes) or
  `CHALLENGE_DATA_KEY_FILE` (a file holding it) is the current one, which wraps new data keys; old keys still
  readable during a rotation are in `CHALLENGE_DATA_KEY_PREVIOUS` (comma-separated) or
  `CHALLENGE_DATA_KEY_PREVIOUS_FILE`. A KEK is named by its fingerprint (`kek_id`), never by its bytes;
- each challenge and each unfinished raising form has its own random 256-bit data key, and the deployment has
  two (`bot_state`, for dialog state, and `lookup`, for the keyed hashes of agency references); each is kept
  in `data_keys`, wrapped by a KEK with its owner as associated data, so a wrapped key cannot be moved to
  another owner. Rotation re-wraps these rows only; the retention purge crypto-shreds a challenge by deleting
  its key;
- a field is stored as text `v1:` + base64(nonce | ciphertext + tag), with its owner's id and its table and
  column as associated data, so a ciphertext moved to another row or column does not decrypt.

JSON columns are encrypted whole (their JSON text), and stored as the JSON string of the ciphertext. Empty
text and None are stored as they are: they say nothing, and what the purge leaves is stored in the clear.
A value read without the `v1:` mark is taken as it is (a purged challenge's anonymous facts): the seal and the
chronology's digests, computed over the plain values, still show any edit of it.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import os
import secrets
import threading
import unicodedata
from collections import OrderedDict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any, Final

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from sqlalchemy import delete, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from storage.clock import utc_now
from storage.db import upsert
from storage.schema import data_keys

#: The mark of a stored ciphertext, and the version of its layout.
PREFIX: Final = "v1:"
KEY_BYTES: Final = 32
NONCE_BYTES: Final = 12

#: The environment variables the keyring reads.
KEY_ENV: Final = "CHALLENGE_DATA_KEY"
KEY_FILE_ENV: Final = "CHALLENGE_DATA_KEY_FILE"
PREVIOUS_ENV: Final = "CHALLENGE_DATA_KEY_PREVIOUS"
PREVIOUS_FILE_ENV: Final = "CHALLENGE_DATA_KEY_PREVIOUS_FILE"

#: Owner kinds of `data_keys`.
CHALLENGE: Final = "challenge"
DRAFT: Final = "draft"
DEPLOYMENT: Final = "deployment"
#: The deployment's own keys (owner kind `deployment`).
BOT_STATE: Final = "bot_state"
LOOKUP: Final = "lookup"


class EncryptionError(Exception):
    """Base of the encryption errors."""


class MissingKey(EncryptionError):
    """No key-encryption key is configured."""


class BadKey(EncryptionError):
    """A configured key is not base64 of 32 bytes, or its file cannot be read."""


class UndecryptableError(EncryptionError):
    """A stored value or data key does not decrypt: edited, moved, or wrapped by a key not configured."""


def generate_key() -> str:
    """A new random key-encryption key, as the environment holds it (base64)."""
    return base64.b64encode(secrets.token_bytes(KEY_BYTES)).decode("ascii")


def fingerprint(kek: bytes) -> str:
    """A KEK's name in `data_keys.kek_id`: 16 hex characters of a hash of it (not usable to find it)."""
    return hashlib.sha256(b"challenge-bot kek id\x00" + kek).hexdigest()[:16]


def _decode_key(text: str, where: str) -> bytes:
    try:
        raw = base64.b64decode(text.strip(), validate=True)
    except (binascii.Error, ValueError):
        raise BadKey(f"{where} is not base64 (make one with `challenge-bot keys generate`)") from None
    if len(raw) != KEY_BYTES:
        raise BadKey(f"{where} must be base64 of {KEY_BYTES} bytes, not {len(raw)}")
    return raw


def _read_file(path: str, where: str) -> str:
    """The file's text: ASCII, after a UTF-8 byte order mark (which an editor may add) if there is one."""
    try:
        text = Path(path).expanduser().read_bytes().removeprefix(b"\xef\xbb\xbf").decode("ascii")
    except OSError as exc:
        raise BadKey(f"{where} names a file that cannot be read ({path}): {type(exc).__name__}") from None
    except UnicodeDecodeError:
        raise BadKey(f"{where} names a file that is not base64 text ({path})") from None
    return text


@dataclass(frozen=True)
class Keyring:
    """The key-encryption keys: the current one (wraps) and every one that may unwrap, by fingerprint."""

    current: bytes = field(repr=False)
    previous: tuple[bytes, ...] = field(default=(), repr=False)

    @property
    def current_id(self) -> str:
        return fingerprint(self.current)

    @property
    def readable(self) -> dict[str, bytes]:
        keys = {fingerprint(k): k for k in self.previous}
        keys[self.current_id] = self.current
        return keys

    @classmethod
    def from_environment(cls, env: Mapping[str, str] | None = None) -> Keyring:
        """The keyring the environment names; `MissingKey` when it names no current key."""
        env = os.environ if env is None else env
        current_text = env.get(KEY_ENV, "").strip()
        where = KEY_ENV
        key_file = env.get(KEY_FILE_ENV, "").strip()
        if current_text and key_file:
            # Which one the operator meant cannot be known, and guessing wrong wraps new data keys under it.
            raise BadKey(f"both {KEY_ENV} and {KEY_FILE_ENV} are set: set one of them")
        if key_file:
            where = f"the file of {KEY_FILE_ENV}"
            current_text = _read_file(key_file, KEY_FILE_ENV).strip()
            if not current_text:
                # Never taken for "no key": local mode would make a new key, and wrap new data keys under it.
                raise BadKey(f"{KEY_FILE_ENV} names a file that holds no key ({key_file})")
        if not current_text:
            raise MissingKey(
                f"no data encryption key: set {KEY_ENV} (base64 of 32 random bytes, made with "
                f"`challenge-bot keys generate`) or {KEY_FILE_ENV} (a file holding it)"
            )
        current = _decode_key(current_text, where)
        previous_text = env.get(PREVIOUS_ENV, "")
        where_previous = PREVIOUS_ENV
        previous_file = env.get(PREVIOUS_FILE_ENV, "").strip()
        if previous_text.strip() and previous_file:
            raise BadKey(f"both {PREVIOUS_ENV} and {PREVIOUS_FILE_ENV} are set: set one of them")
        if previous_file:
            where_previous = f"the file of {PREVIOUS_FILE_ENV}"
            previous_text = _read_file(previous_file, PREVIOUS_FILE_ENV)
        parts = [part for part in previous_text.replace("\n", ",").split(",") if part.strip()]
        previous = tuple(
            _decode_key(
                part, where_previous if len(parts) == 1 else f"{where_previous} (key {n} of {len(parts)})"
            )
            for n, part in enumerate(parts, start=1)
        )
        return cls(current, previous)

    def wrap(self, data_key: bytes, kind: str, owner_id: str) -> tuple[str, str]:
        """The data key wrapped by the current KEK, with its owner as associated data: (kek_id, wrapped)."""
        return self.current_id, _seal(self.current, data_key, _wrap_aad(kind, owner_id))

    def unwrap(self, kek_id: str, wrapped: str, kind: str, owner_id: str) -> bytes:
        kek = self.readable.get(kek_id)
        if kek is None:
            raise UndecryptableError(
                f"the data key of {kind} {owner_id} is wrapped by key {kek_id}, which is not configured "
                f"(add it to {PREVIOUS_ENV})"
            )
        return _open(kek, wrapped, _wrap_aad(kind, owner_id))


def _wrap_aad(kind: str, owner_id: str) -> bytes:
    return f"data_keys|{kind}|{owner_id}".encode()


def _seal(key: bytes, plain: bytes, aad: bytes) -> str:
    nonce = secrets.token_bytes(NONCE_BYTES)
    return PREFIX + base64.b64encode(nonce + AESGCM(key).encrypt(nonce, plain, aad)).decode("ascii")


def _open(key: bytes, text: str, aad: bytes) -> bytes:
    if not text.startswith(PREFIX):
        raise UndecryptableError("not a ciphertext")
    try:
        raw = base64.b64decode(text[len(PREFIX) :], validate=True)
        return AESGCM(key).decrypt(raw[:NONCE_BYTES], raw[NONCE_BYTES:], aad)
    except (binascii.Error, ValueError, InvalidTag):
        raise UndecryptableError("a stored value does not decrypt") from None


def is_ciphertext(value: Any) -> bool:
    return isinstance(value, str) and value.startswith(PREFIX)


@dataclass(frozen=True)
class DataKey:
    """One owner's data key: encrypts and decrypts its fields, and keys its digests."""

    owner_id: str
    key: bytes = field(repr=False)

    def _aad(self, column: str) -> bytes:
        return f"{self.owner_id}|{column}".encode()

    def text(self, column: str, value: str | None) -> str | None:
        """A text value as stored (`column` is `table.column`, with a suffix where one column holds many)."""
        if value is None or value == "":
            return value
        return _seal(self.key, value.encode("utf-8", "surrogatepass"), self._aad(column))

    def plain_text(self, column: str, value: str | None) -> str | None:
        """A stored text value as written; `UndecryptableError` when it does not decrypt here."""
        if value is None or not is_ciphertext(value):
            return value
        return _open(self.key, value, self._aad(column)).decode("utf-8", "surrogatepass")

    def json(self, column: str, value: Any) -> Any:
        """A JSON column's value as stored: the ciphertext of its JSON text (None, and empty lists and
        mappings, as they are)."""
        if value is None or value == [] or value == {}:
            return value
        return self.text(column, json.dumps(value, ensure_ascii=False, separators=(",", ":")))

    def plain_json(self, column: str, value: Any) -> Any:
        if not is_ciphertext(value):
            return value
        return json.loads(self.plain_text(column, value) or "null")

    def digest(self, purpose: str, value: str) -> str:
        """HMAC-SHA256 of `value` under a subkey of this key for `purpose` (a digest nobody without the key
        can test guesses against)."""
        subkey = hmac.new(self.key, b"subkey|" + purpose.encode(), hashlib.sha256).digest()
        return hmac.new(subkey, value.encode("utf-8", "surrogatepass"), hashlib.sha256).hexdigest()


class NoKey:
    """Stands for the data key of an owner that has none (crypto-shredded): plain values pass through, and a
    ciphertext cannot be read."""

    def plain_text(self, column: str, value: str | None) -> str | None:
        if is_ciphertext(value):
            raise UndecryptableError("its data key is gone")
        return value

    def plain_json(self, column: str, value: Any) -> Any:
        if is_ciphertext(value):
            raise UndecryptableError("its data key is gone")
        return value

    def text(self, column: str, value: str | None) -> str | None:
        return value

    def json(self, column: str, value: Any) -> Any:
        return value


NO_KEY: Final = NoKey()

_lock = threading.Lock()
_keyring: Keyring | None = None


def configure(keyring: Keyring | None) -> None:
    """Use `keyring` from now on in this process (None: read the environment again when next needed)."""
    global _keyring
    with _lock:
        _keyring = keyring
        _cache.clear()


def forget_cached() -> None:
    """Drop every data key held in memory (after a migration made or dropped them)."""
    _cache.clear()


def keyring() -> Keyring:
    """The configured keyring, read from the environment the first time (`MissingKey` if it names none)."""
    global _keyring
    with _lock:
        if _keyring is None:
            _keyring = Keyring.from_environment()
        return _keyring


class _Cache:
    """Unwrapped data keys, by owner and wrapped form (a re-wrapped or new key is a new entry), least
    recently used dropped first."""

    def __init__(self, size: int = 20_000) -> None:
        self.size = size
        self._keys: OrderedDict[tuple[str, str, str], bytes] = OrderedDict()
        #: The key last seen for each owner, whatever its wrapping (`known_key`).
        self._latest: dict[tuple[str, str], bytes] = {}
        self._lock = threading.Lock()

    def latest(self, kind: str, owner_id: str) -> bytes | None:
        with self._lock:
            return self._latest.get((kind, owner_id))

    def get(self, kind: str, owner_id: str, wrapped: str) -> bytes | None:
        with self._lock:
            found = self._keys.get((kind, owner_id, wrapped))
            if found is not None:
                self._keys.move_to_end((kind, owner_id, wrapped))
            return found

    def put(self, kind: str, owner_id: str, wrapped: str, key: bytes) -> None:
        with self._lock:
            self._keys[(kind, owner_id, wrapped)] = key
            self._latest[(kind, owner_id)] = key
            while len(self._keys) > self.size:
                (old_kind, old_owner, _), old_key = self._keys.popitem(last=False)
                if self._latest.get((old_kind, old_owner)) is old_key:
                    del self._latest[(old_kind, old_owner)]

    def forget(self, kind: str, owner_ids: Iterable[str]) -> None:
        gone = set(owner_ids)
        with self._lock:
            for cached in [c for c in self._keys if c[0] == kind and c[1] in gone]:
                del self._keys[cached]
            for owner_id in gone:
                self._latest.pop((kind, owner_id), None)

    def clear(self) -> None:
        with self._lock:
            self._keys.clear()
            self._latest.clear()


_cache = _Cache()

#: How many owners' keys go into one `IN (...)`.
_BATCH = 500


async def new_key(conn: AsyncConnection, kind: str, owner_id: str, *, now: datetime | None = None) -> DataKey:
    """Make, wrap and store a new data key for the owner, in the caller's transaction."""
    raw = secrets.token_bytes(KEY_BYTES)
    kek_id, wrapped = keyring().wrap(raw, kind, owner_id)
    await conn.execute(
        data_keys.insert().values(
            owner_kind=kind,
            owner_id=owner_id,
            kek_id=kek_id,
            wrapped_key=wrapped,
            created_at=now or utc_now(),
        )
    )
    _cache.put(kind, owner_id, wrapped, raw)
    return DataKey(owner_id, raw)


async def keys_of(
    conn: AsyncConnection, kind: str, owner_ids: Sequence[str], *, unreadable_as_missing: bool = False
) -> dict[str, DataKey]:
    """The data keys of these owners that have one (a missing owner has none: crypto-shredded or never).

    A wrapped key that does not unwrap under its KEK (edited, or moved from another owner) raises
    `UndecryptableError`, or with `unreadable_as_missing` is left out (what it encrypted then cannot be
    read, which `audit verify` reports). A KEK that is not configured always raises: that is the
    environment's fault, not the data's."""
    found: dict[str, DataKey] = {}
    ring: Keyring | None = None
    unique = list(dict.fromkeys(owner_ids))
    for start in range(0, len(unique), _BATCH):
        rows = await conn.execute(
            select(data_keys.c.owner_id, data_keys.c.kek_id, data_keys.c.wrapped_key).where(
                data_keys.c.owner_kind == kind, data_keys.c.owner_id.in_(unique[start : start + _BATCH])
            )
        )
        for row in rows:
            raw = _cache.get(kind, row.owner_id, row.wrapped_key)
            if raw is None:
                ring = ring or keyring()
                if unreadable_as_missing and row.kek_id in ring.readable:
                    try:
                        raw = ring.unwrap(row.kek_id, row.wrapped_key, kind, row.owner_id)
                    except UndecryptableError:
                        continue
                else:
                    raw = ring.unwrap(row.kek_id, row.wrapped_key, kind, row.owner_id)
                _cache.put(kind, row.owner_id, row.wrapped_key, raw)
            found[row.owner_id] = DataKey(row.owner_id, raw)
    return found


def known_key(kind: str, owner_id: str) -> DataKey | None:
    """The owner's data key if this process has already read or made it, without reading its row.

    An owner's data key never changes (rotation re-wraps the same key), so a key once read stays right for as
    long as its row exists. Only shredding deletes it (`shred`, which forgets it here; in another process the
    retention purge does it, and also erases the words and moves the challenge to a new version, so a change
    decided on the old version is refused by its compare-and-set, and reading the erased words needs no key).
    For saving and showing a challenge; checking the stored keys (`audit verify`) reads every row."""
    raw = _cache.latest(kind, owner_id)
    return DataKey(owner_id, raw) if raw is not None else None


async def key_of(conn: AsyncConnection, kind: str, owner_id: str) -> DataKey | None:
    return (await keys_of(conn, kind, [owner_id])).get(owner_id)


async def key_or_new(conn: AsyncConnection, kind: str, owner_id: str) -> DataKey:
    """The owner's data key, made now if it has none (in the caller's write transaction)."""
    found = await key_of(conn, kind, owner_id)
    return found if found is not None else await new_key(conn, kind, owner_id)


async def existing_deployment_key(conn: AsyncConnection, name: str) -> DataKey | None:
    """One of the deployment's own data keys if it has been made; for readers, which must never make it: an
    insert inside a read snapshot fails on SQLite ("database is locked") whenever another write came first.
    Nothing can have been stored under a key not yet made."""
    return await key_of(conn, DEPLOYMENT, name)


async def deployment_key(conn: AsyncConnection, name: str) -> DataKey:
    """One of the deployment's own data keys (`bot_state`, `lookup`), made the first time something is
    written under it (in the caller's write transaction; readers use `existing_deployment_key`).

    Two processes making it at once: the second insert conflicts on the key and reads the first's. (Its row
    is read each time, by its primary key; unwrapping it again is spared by the cache.)
    """
    found = await existing_deployment_key(conn, name)
    if found is not None:
        return found
    raw = secrets.token_bytes(KEY_BYTES)
    kek_id, wrapped = keyring().wrap(raw, DEPLOYMENT, name)
    await conn.execute(
        upsert(conn, data_keys)
        .values(
            owner_kind=DEPLOYMENT, owner_id=name, kek_id=kek_id, wrapped_key=wrapped, created_at=utc_now()
        )
        .on_conflict_do_nothing(index_elements=[data_keys.c.owner_kind, data_keys.c.owner_id])
    )
    made = await key_of(conn, DEPLOYMENT, name)
    assert made is not None
    return made


async def shred(conn: AsyncConnection, kind: str, owner_ids: Sequence[str]) -> int:
    """Delete these owners' data keys (whatever is still encrypted under them can no longer be read)."""
    gone = 0
    unique = list(dict.fromkeys(owner_ids))
    for start in range(0, len(unique), _BATCH):
        result = await conn.execute(
            delete(data_keys).where(
                data_keys.c.owner_kind == kind, data_keys.c.owner_id.in_(unique[start : start + _BATCH])
            )
        )
        gone += result.rowcount or 0
    _cache.forget(kind, unique)
    return gone


def normalised_reference(reference: str) -> str:
    """An agency reference as compared: Unicode NFKC, surrounding space stripped, case folded."""
    return unicodedata.normalize("NFKC", reference).strip().casefold()


def reference_hmac(lookup: DataKey, reference: str | None) -> str | None:
    """The keyed hash of an agency reference that `child_details.agency_reference_hmac` holds (None: none)."""
    if reference is None or not normalised_reference(reference):
        return None
    return lookup.digest("agency_reference", normalised_reference(reference))


async def rewrap_batch(conn: AsyncConnection, ring: Keyring, limit: int) -> int:
    """Re-wrap up to `limit` of the data keys that a configured KEK other than the current one wraps, under
    the current one, in the caller's transaction; how many were re-wrapped (0: none is left)."""
    readable = ring.readable
    query = (
        select(data_keys.c.owner_kind, data_keys.c.owner_id, data_keys.c.kek_id, data_keys.c.wrapped_key)
        .where(data_keys.c.kek_id != ring.current_id, data_keys.c.kek_id.in_(list(readable)))
        .order_by(data_keys.c.owner_kind, data_keys.c.owner_id)
        .limit(limit)
    )
    if conn.dialect.name == "postgresql":
        query = query.with_for_update(skip_locked=True)
    done = 0
    for row in (await conn.execute(query)).all():
        raw = ring.unwrap(row.kek_id, row.wrapped_key, row.owner_kind, row.owner_id)
        kek_id, wrapped = ring.wrap(raw, row.owner_kind, row.owner_id)
        changed = await conn.execute(
            update(data_keys)
            .where(
                data_keys.c.owner_kind == row.owner_kind,
                data_keys.c.owner_id == row.owner_id,
                data_keys.c.wrapped_key == row.wrapped_key,
            )
            .values(kek_id=kek_id, wrapped_key=wrapped)
        )
        done += changed.rowcount or 0
    return done
