"""`challenge-bot audit verify`: recompute the chronology's hash chains and name the first event that breaks.

Each challenge's events are read in the order of their numbers and checked one by one: the number follows the
one before (else an event is missing), the event names the hash of the one before (else an event is missing,
or, when it names another event of the challenge, the order was changed), its words match its content digest
(unless a purge of the chain erased them), its own hash is what its recorded facts give, and it was stored
after the event before it. Then the challenge's anchors: each must name an event of the chain with its hash,
and the newest must name the chain's last event. Last, the challenge's record as stored now (its row, stages,
parties and child's details) must digest to the seal the newest anchor keeps (`storage/seal.py`): else the
record was changed since its last event, and the parts that differ are named. Each partnership's chain of anchors is checked the same way,
up to its head, and every challenge it names must still exist.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import AsyncIterator, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncConnection

from storage.chain import ERASED_THROUGH, PURGED, anchor_hash, content_digest, event_hash
from storage.crypto import CHALLENGE, DataKey, keys_of
from storage.db import Database, could_be_key
from storage.errors import NotFound
from storage.protected import NO_KEY, UndecryptableError, plain_event_words
from storage.schema import audit_anchors, audit_events, audit_heads, challenges
from storage.seal import Record, stored_records

CONTENT_CHANGED = "content changed"
EVENT_MISSING = "event missing"
ORDER_CHANGED = "order changed"
ANCHOR_MISMATCH = "anchor mismatch"
RECORD_CHANGED = "record changed"

#: How many events are read from the database at a time.
_PARTITION = 2000


@dataclass(frozen=True)
class StoredEvent:
    """An `audit_events` row as the verifier reads it."""

    id: int
    seq: int
    at: datetime
    actor_id: str
    stage: int
    kind: str
    summary: str
    detail: Mapping[str, Any]
    salt: str | None
    content_digest: str
    prev_hash: str | None
    hash: str
    #: False when its stored words do not decrypt (edited, or moved from another event or challenge).
    readable: bool = True


@dataclass(frozen=True)
class StoredAnchor:
    """An `audit_anchors` row."""

    partnership_id: str
    seq: int
    challenge_id: str
    event_seq: int
    event_hash: str
    prev_hash: str | None
    hash: str
    record: Record


@dataclass(frozen=True)
class Break:
    """The first thing wrong with a chain: whose (a challenge's reference, or a partnership's chain), at which
    number (an event's, or an anchor's; for `record changed`, the last event's), what (`content changed`,
    `event missing`, `order changed`, `anchor mismatch`, `record changed`) and how."""

    where: str
    seq: int
    what: str
    how: str
    partnership_chain: bool = False

    def __str__(self) -> str:
        if self.what == RECORD_CHANGED:
            return f"{self.where}: {self.what} since its last event (event {self.seq}): {self.how}"
        item = "anchor" if self.partnership_chain else "event"
        return f"{self.where} {item} {self.seq}: {self.what}: {self.how}"


@dataclass
class Verification:
    """What `verify` checked and the breaks it found (each chain's first)."""

    challenges: int = 0
    #: How many challenges' stored records were checked against their seal.
    records: int = 0
    events: int = 0
    erased_events: int = 0
    #: Each partnership's chain: how many anchors, and its head hash (None for an empty chain).
    partnerships: dict[str, tuple[int, str | None]] = field(default_factory=dict)
    breaks: list[Break] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.breaks


def check_challenge(
    challenge_id: str,
    reference: str,
    events: Sequence[StoredEvent],
    anchors: Sequence[StoredAnchor],
    record: Record | None = None,
) -> Break | None:
    """The first break in one challenge's chain (events in the order of their numbers, its anchors in the
    order of the partnership's chain), then in its `record` as stored now against the newest anchor's seal
    (not checked when None), or None."""

    def broken(seq: int, what: str, how: str) -> Break:
        return Break(reference, seq, what, how)

    hashes = {e.hash for e in events}
    erased_through = 0
    for e in events:
        if e.kind == PURGED and e.salt is not None:
            if content_digest(e.salt, e.summary, e.detail) == e.content_digest:
                through = str(e.detail.get(ERASED_THROUGH, ""))
                if through.isdigit() and int(through) < e.seq:
                    erased_through = max(erased_through, int(through))
    prev_hash: str | None = None
    prev_id: int | None = None
    for expected, e in enumerate(events, start=1):
        if e.seq != expected:
            return broken(
                expected, EVENT_MISSING, f"event {expected} is not in the chronology (the next is {e.seq})"
            )
        if e.prev_hash != prev_hash:
            if e.prev_hash in hashes:
                return broken(
                    e.seq, ORDER_CHANGED, "it now follows another event than the one it was written after"
                )
            return broken(e.seq, EVENT_MISSING, "the event it was written after is not in the chronology")
        if not e.readable:
            return broken(e.seq, CONTENT_CHANGED, "its stored words do not decrypt")
        if e.salt is None:
            if e.summary or e.detail:
                return broken(e.seq, CONTENT_CHANGED, "its words were erased, yet it has words again")
            if e.seq > erased_through:
                return broken(
                    e.seq, CONTENT_CHANGED, "its words are gone, but no purge of the chronology erased them"
                )
        elif content_digest(e.salt, e.summary, e.detail) != e.content_digest:
            return broken(e.seq, CONTENT_CHANGED, "what it says differs from what was written")
        recomputed = event_hash(
            challenge_id=challenge_id,
            seq=e.seq,
            prev_hash=e.prev_hash,
            at=e.at,
            actor_id=e.actor_id,
            stage=e.stage,
            kind=e.kind,
            digest=e.content_digest,
        )
        if recomputed != e.hash:
            return broken(
                e.seq, CONTENT_CHANGED, "its time, author, stage or kind differs from what was recorded"
            )
        if prev_id is not None and e.id < prev_id:
            return broken(e.seq, ORDER_CHANGED, "it is stored before the event it was written after")
        prev_hash, prev_id = e.hash, e.id
    by_seq = {e.seq: e.hash for e in events}
    last = events[-1].seq if events else 0
    for a in anchors:
        if a.event_seq not in by_seq:
            return broken(
                a.event_seq,
                EVENT_MISSING,
                "the partnership's chain recorded it, but it is not in the chronology",
            )
        if by_seq[a.event_seq] != a.event_hash:
            return broken(
                a.event_seq, ANCHOR_MISMATCH, "it differs from the event the partnership's chain recorded"
            )
    if not events:
        return broken(1, EVENT_MISSING, "the challenge has no chronology at all")
    if not anchors or anchors[-1].event_seq != last:
        return broken(
            last,
            ANCHOR_MISMATCH,
            "the partnership's chain does not record it as the chronology's newest event",
        )
    if record is not None:
        changed = anchors[-1].record.changed(record)
        if changed:
            return broken(last, RECORD_CHANGED, ", ".join(changed))
    return None


def check_partnership(
    partnership_id: str,
    anchors: Sequence[StoredAnchor],
    head: tuple[int, str | None] | None,
    references: Mapping[str, str],
) -> Break | None:
    """The first break in a partnership's chain of anchors (in the order of their numbers), given its head row
    and the references of the partnership's challenges by id."""

    def broken(seq: int, what: str, how: str) -> Break:
        return Break(f"partnership {partnership_id}", seq, what, how, partnership_chain=True)

    prev: str | None = None
    for expected, a in enumerate(anchors, start=1):
        if a.seq != expected:
            return broken(
                expected, ANCHOR_MISMATCH, f"anchor {expected} is not in the chain (the next is {a.seq})"
            )
        if a.prev_hash != prev:
            return broken(a.seq, ANCHOR_MISMATCH, "it does not follow the anchor before it")
        recomputed = anchor_hash(
            partnership_id=partnership_id,
            seq=a.seq,
            prev_hash=a.prev_hash,
            challenge_id=a.challenge_id,
            event_seq=a.event_seq,
            head=a.event_hash,
            record=a.record.as_hashed(),
        )
        if recomputed != a.hash:
            return broken(a.seq, ANCHOR_MISMATCH, "it differs from what was recorded")
        if a.challenge_id not in references:
            return broken(
                a.seq,
                EVENT_MISSING,
                f"it records challenge {a.challenge_id}, which is no longer in the database",
            )
        prev = a.hash
    count = len(anchors)
    if (head or (0, None)) != (count, prev):
        return broken(
            count + 1 if head and head[0] > count else count,
            ANCHOR_MISMATCH,
            "the chain's head is not its newest anchor",
        )
    return None


async def verify(db: Database, reference: str | None = None) -> Verification:
    """Check every challenge's chain and every partnership's (or one challenge's, and its partnership's).

    `NotFound` when `reference` names no challenge.
    """
    result = Verification()
    async with db.reading() as conn:
        query = select(challenges.c.id, challenges.c.reference, challenges.c.policy_id)
        if reference is not None:
            reference = reference.strip()
            if not could_be_key(reference):
                raise NotFound(f"No challenge has the reference {reference!r}.")
            query = query.where(func.upper(challenges.c.reference) == reference.upper())
        chosen = (await conn.execute(query)).all()
        if reference is not None and not chosen:
            raise NotFound(f"No challenge has the reference {reference!r}.")
        partnerships = sorted({row.policy_id for row in chosen})
        if reference is None:
            partnerships = sorted(
                set(partnerships)
                | set((await conn.execute(select(audit_heads.c.partnership_id))).scalars())
                | set((await conn.execute(select(audit_anchors.c.partnership_id).distinct())).scalars())
            )
        references = {
            row.id: row.reference
            for row in await conn.execute(
                select(challenges.c.id, challenges.c.reference).where(
                    challenges.c.policy_id.in_(partnerships)
                )
            )
        }
        anchors = await _anchors(conn, partnerships)
        heads = {
            row.partnership_id: (row.seq, row.hash)
            for row in await conn.execute(
                select(audit_heads).where(audit_heads.c.partnership_id.in_(partnerships))
            )
        }
        own: dict[tuple[str, str], list[StoredAnchor]] = defaultdict(list)
        for chain in anchors.values():
            for a in chain:
                own[(a.partnership_id, a.challenge_id)].append(a)
        wanted = {row.id: row for row in chosen}
        records = await stored_records(conn, list(wanted))
        result.records = len(records)
        breaks: list[tuple[str, Break]] = []
        seen: set[str] = set()
        keys = await keys_of(conn, CHALLENGE, list(wanted), unreadable_as_missing=True)
        async for challenge_id, events in _events_by_challenge(
            conn, list(wanted) if reference else None, keys
        ):
            row = wanted.get(challenge_id)
            if row is None:
                continue  # events of a challenge deleted outright are gone with it (by the cascade)
            seen.add(challenge_id)
            result.challenges += 1
            result.events += len(events)
            result.erased_events += sum(1 for e in events if e.salt is None)
            found = check_challenge(
                challenge_id,
                row.reference,
                events,
                own[(row.policy_id, challenge_id)],
                records.get(challenge_id),
            )
            if found is not None:
                breaks.append((row.reference, found))
        for challenge_id, row in wanted.items():
            if challenge_id not in seen:
                result.challenges += 1
                found = check_challenge(challenge_id, row.reference, [], own[(row.policy_id, challenge_id)])
                if found is not None:
                    breaks.append((row.reference, found))
    result.breaks = [b for _, b in sorted(breaks, key=lambda pair: pair[0])]
    for partnership_id in partnerships:
        chain = anchors.get(partnership_id, [])
        head = heads.get(partnership_id)
        result.partnerships[partnership_id] = (len(chain), chain[-1].hash if chain else None)
        found = check_partnership(partnership_id, chain, head, references)
        if found is not None:
            result.breaks.append(found)
    return result


async def _anchors(conn: AsyncConnection, partnerships: Iterable[str]) -> dict[str, list[StoredAnchor]]:
    out: dict[str, list[StoredAnchor]] = defaultdict(list)
    rows = await conn.execute(
        select(audit_anchors)
        .where(audit_anchors.c.partnership_id.in_(list(partnerships)))
        .order_by(audit_anchors.c.partnership_id, audit_anchors.c.seq)
    )
    for row in rows:
        out[row.partnership_id].append(
            StoredAnchor(
                partnership_id=row.partnership_id,
                seq=row.seq,
                challenge_id=row.challenge_id,
                event_seq=row.event_seq,
                event_hash=row.event_hash,
                prev_hash=row.prev_hash,
                hash=row.hash,
                record=Record(
                    row=row.row_digest,
                    stages=row.stages_digest,
                    parties=row.parties_digest,
                    child=row.child_digest,
                ),
            )
        )
    return out


async def _events_by_challenge(
    conn: AsyncConnection, only: list[str] | None, keys: Mapping[str, DataKey]
) -> AsyncIterator[tuple[str, list[StoredEvent]]]:
    """Each challenge's events in the order of their numbers, a challenge at a time, read in partitions, with
    their words decrypted by the challenge's key in `keys` (none: stored in the clear)."""
    query = select(audit_events).order_by(audit_events.c.challenge_id, audit_events.c.seq)
    if only is not None:
        query = query.where(audit_events.c.challenge_id.in_(only))
    current: str | None = None
    batch: list[StoredEvent] = []
    stream = await conn.stream(query.execution_options(yield_per=_PARTITION))
    async for partition in stream.partitions(_PARTITION):
        for row in partition:
            if row.challenge_id != current:
                if current is not None:
                    yield current, batch
                current, batch = row.challenge_id, []
            readable = True
            try:
                summary, detail = plain_event_words(
                    keys.get(row.challenge_id, NO_KEY), row.seq, row.summary, row.detail
                )
            except UndecryptableError:
                readable, summary, detail = False, "", {}
            batch.append(
                StoredEvent(
                    id=row.id,
                    seq=row.seq,
                    at=row.at,
                    actor_id=row.actor_id,
                    stage=row.stage,
                    kind=row.kind,
                    summary=summary,
                    detail=detail,
                    readable=readable,
                    salt=row.salt,
                    content_digest=row.content_digest,
                    prev_hash=row.prev_hash,
                    hash=row.hash,
                )
            )
    if current is not None:
        yield current, batch
