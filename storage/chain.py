"""The chronology's hash chains: each challenge's events, and each partnership's chain of their heads.

Every event of a challenge carries its number in the challenge (`seq`, from 1), the hash of the event before
it (`prev_hash`, none for the first) and its own `hash`: SHA-256 over a canonical encoding of the challenge id,
the number, the previous hash, the time (UTC), the actor, the stage, the kind, and `content_digest`, itself
SHA-256 over the event's words (summary and detail) and a random `salt`. The digest is kept in its own column
so that the retention purge can erase the words (and the salt, so the digest can no longer be matched against
guesses) while the chain still verifies: the event's hash commits to the digest, not to the words. An event's
words are accepted as erased only when a later purge event of the same chain says so.

Each time a challenge's chain grows, in the same transaction, an anchor is appended to its partnership's chain
(`audit_anchors`): the partnership's previous anchor hash, the challenge id, the number and hash of the
challenge's new head, and the seal of the challenge's stored record after the change (`storage/seal.py`: the
digests of its row, stages, parties and child's details), so the record cannot be edited unnoticed either.
The partnership's head (`audit_heads`) is one row per partnership, locked while a change appends to it (an
upsert that takes the row lock on PostgreSQL; SQLite writes one transaction at a time), so two challenges
changing at once append one after the other: the chain never forks. Writers lock their
challenge's row first and the head last, so they cannot deadlock over it.

Nothing updates an event or an anchor except the purge, which erases an event's words and salt only.
"""

from __future__ import annotations

import hashlib
import json
import secrets
from collections.abc import Callable, Iterable, Mapping
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from sqlalchemy import bindparam, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from process.challenge import AuditEvent
from storage.crypto import CHALLENGE, key_of
from storage.db import upsert
from storage.protected import NO_KEY, Key, event_words
from storage.schema import audit_anchors, audit_events, audit_heads

if TYPE_CHECKING:
    from storage.seal import Record

#: The encoding's version, hashed into every event and anchor; a new encoding would take the next number.
VERSION = 1

#: The kind of the event the retention purge appends; its detail says up to which event words were erased.
PURGED = "purged"
ERASED_THROUGH = "erased_through"


def canonical(value: Any) -> bytes:
    """The bytes a value is hashed as: JSON with sorted keys, no spaces, non-ASCII escaped (so any text,
    a lone surrogate included, encodes one way only)."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=True).encode("ascii")


def _sha256(value: Any) -> str:
    return hashlib.sha256(canonical(value)).hexdigest()


def instant(at: datetime) -> str:
    """A time as hashed: UTC, to the microsecond (what both databases keep)."""
    if at.tzinfo is None or at.utcoffset() is None:
        raise ValueError("the chronology hashes aware datetimes only")
    return at.astimezone(UTC).isoformat(timespec="microseconds")


def new_salt() -> str:
    return secrets.token_hex(16)


def content_digest(salt: str, summary: str, detail: Mapping[str, Any]) -> str:
    """The digest of an event's words."""
    return _sha256({"v": VERSION, "salt": salt, "summary": summary, "detail": dict(detail)})


def event_hash(
    *,
    challenge_id: str,
    seq: int,
    prev_hash: str | None,
    at: datetime,
    actor_id: str,
    stage: int,
    kind: str,
    digest: str,
) -> str:
    return _sha256(
        {
            "v": VERSION,
            "challenge": challenge_id,
            "seq": seq,
            "prev": prev_hash or "",
            "at": instant(at),
            "actor": actor_id,
            "stage": stage,
            "kind": kind,
            "content": digest,
        }
    )


def anchor_hash(
    *,
    partnership_id: str,
    seq: int,
    prev_hash: str | None,
    challenge_id: str,
    event_seq: int,
    head: str,
    record: Mapping[str, str],
) -> str:
    return _sha256(
        {
            "v": VERSION,
            "partnership": partnership_id,
            "seq": seq,
            "prev": prev_hash or "",
            "challenge": challenge_id,
            "event_seq": event_seq,
            "head": head,
            "record": dict(record),
        }
    )


def anchor_row(
    *,
    partnership_id: str,
    seq: int,
    prev_hash: str | None,
    challenge_id: str,
    event_seq: int,
    head: str,
    record: Record,
    at: datetime,
) -> dict[str, Any]:
    """The `audit_anchors` row linking a challenge's head (`event_seq`, hash `head`) and its sealed `record`
    onto its partnership's chain after the anchor numbered `seq - 1` with hash `prev_hash`."""
    return {
        "partnership_id": partnership_id,
        "seq": seq,
        "challenge_id": challenge_id,
        "event_seq": event_seq,
        "event_hash": head,
        "prev_hash": prev_hash,
        "hash": anchor_hash(
            partnership_id=partnership_id,
            seq=seq,
            prev_hash=prev_hash,
            challenge_id=challenge_id,
            event_seq=event_seq,
            head=head,
            record=record.as_hashed(),
        ),
        "at": at,
        "row_digest": record.row,
        "stages_digest": record.stages,
        "parties_digest": record.parties,
        "child_digest": record.child,
    }


def chained_rows(
    events: Iterable[AuditEvent],
    *,
    after_seq: int,
    after_hash: str | None,
    salt: Callable[[], str] = new_salt,
) -> list[dict[str, Any]]:
    """The `audit_events` rows of `events`, chained on after the event numbered `after_seq` with hash
    `after_hash` (0 and None for a new chain)."""
    rows = []
    seq, prev = after_seq, after_hash
    for e in events:
        seq += 1
        detail = dict(e.detail)
        grain = salt()
        digest = content_digest(grain, e.summary, detail)
        own = event_hash(
            challenge_id=e.challenge_id,
            seq=seq,
            prev_hash=prev,
            at=e.at,
            actor_id=e.actor_id,
            stage=e.stage,
            kind=e.kind,
            digest=digest,
        )
        rows.append(
            {
                "challenge_id": e.challenge_id,
                "seq": seq,
                "at": e.at,
                "actor_id": e.actor_id,
                "stage": e.stage,
                "kind": e.kind,
                "summary": e.summary,
                "detail": detail,
                "salt": grain,
                "content_digest": digest,
                "prev_hash": prev,
                "hash": own,
            }
        )
        prev = own
    return rows


# Built once (each turn that changes a challenge runs them).
_LAST_EVENT = (
    select(audit_events.c.seq, audit_events.c.hash)
    .where(audit_events.c.challenge_id == bindparam("challenge_id"))
    .order_by(audit_events.c.seq.desc())
    .limit(1)
)
_INSERT_EVENTS = audit_events.insert()
_INSERT_ANCHOR = audit_anchors.insert()
_MOVE_HEAD = update(audit_heads).where(audit_heads.c.partnership_id == bindparam("head_of"))


async def append_events(
    conn: AsyncConnection,
    partnership_id: str,
    challenge_id: str,
    events: Iterable[AuditEvent],
    now: datetime,
    record: Record,
    *,
    key: Key | None = None,
) -> None:
    """Append `events` to the challenge's chain and anchor its new head in the partnership's chain with
    `record`, the seal of the challenge's record as the caller's transaction stored it; that transaction must
    already hold the challenge's row (inserted or updated). A change with no event (the engine's always have
    one) still anchors the chain's head again with its new seal, once the challenge has a chain. `key` is the
    challenge's data key (or `NO_KEY`) when the caller has read it in this transaction."""
    pending = list(events)
    last = (await conn.execute(_LAST_EVENT, {"challenge_id": challenge_id})).first()
    if not pending:
        if last is not None:
            await anchor(conn, partnership_id, challenge_id, last.seq, last.hash, now, record)
        return
    rows = chained_rows(pending, after_seq=last.seq if last else 0, after_hash=last.hash if last else None)
    # The words are stored encrypted under the challenge's data key (in the clear once it is shredded: the
    # purge's own event); the digests above are over the words as written.
    if key is None:  # not given by a caller that has just read it in this transaction
        key = await key_of(conn, CHALLENGE, challenge_id) or NO_KEY
    stored = []
    for row in rows:
        summary, detail = event_words(key, row["seq"], row["summary"], row["detail"])
        stored.append({**row, "summary": summary, "detail": detail})
    await conn.execute(_INSERT_EVENTS, stored)
    await anchor(conn, partnership_id, challenge_id, rows[-1]["seq"], rows[-1]["hash"], now, record)


async def anchor(
    conn: AsyncConnection,
    partnership_id: str,
    challenge_id: str,
    event_seq: int,
    head: str,
    now: datetime,
    record: Record,
) -> None:
    """Append the anchor of a challenge's new head to its partnership's chain (taking the partnership's head
    row until the transaction ends)."""
    locked = (
        await conn.execute(
            upsert(conn, audit_heads)
            .values(partnership_id=partnership_id, seq=0, hash=None)
            .on_conflict_do_update(
                index_elements=[audit_heads.c.partnership_id], set_={"seq": audit_heads.c.seq}
            )
            .returning(audit_heads.c.seq, audit_heads.c.hash)
        )
    ).one()
    seq = locked.seq + 1
    anchor = anchor_row(
        partnership_id=partnership_id,
        seq=seq,
        prev_hash=locked.hash,
        challenge_id=challenge_id,
        event_seq=event_seq,
        head=head,
        record=record,
        at=now,
    )
    await conn.execute(_INSERT_ANCHOR, anchor)
    await conn.execute(_MOVE_HEAD, {"head_of": partnership_id, "seq": seq, "hash": anchor["hash"]})
