"""The seal of a challenge's stored record: each time its chronology grows, the digests of what the record
holds after the change are kept on the partnership chain's new anchor, and hashed into it (`storage/chain.py`).
`challenge-bot audit verify` recomputes them from what is stored now: an edit made to the record directly in
the database, which no event explains, is found and the part named.

The record is four parts, each digested on its own so that a difference can be named: the challenge's row
(its content columns, `ROW_COLUMNS`), its stages (in order), its parties (by role), and its child's details
(absent once the retention purge erased them). A part's digest is SHA-256 over the canonical encoding
(`storage.chain.canonical`) of its values as written: times as UTC ISO to the microsecond, dates ISO, JSON as
its values (keys sorted by the encoding), so what PostgreSQL and SQLite read back digests the same.

The columns left out are operational, changed without an event and not part of what the record says:
`due_claimed_by` and `due_claimed_until` (the scheduler's lease on a due challenge, taken and released on
their own), `updated_at` (when the row was last written, by anything), `draft_id` (the raising form it came
from, kept only so that a second "Confirm" finds the challenge raised), and `seal_salt` itself (it is in every
digest, so changing it shows as every part changed).

Salt: a record's digests outlive its words. The anchors sealed before a purge keep the digest of the child's
details, and a name and a date of birth are few enough to try them all. So each challenge has a random
`seal_salt`, hashed into each of its parts, and the purge erases it with the words: the old digests can then
no longer be tested against guesses; the purged record (anonymous facts, still stored in the clear) is sealed
unsalted from then on.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncConnection

from storage.chain import VERSION, canonical, instant
from storage.crypto import CHALLENGE, keys_of
from storage.protected import (
    NO_KEY,
    Key,
    UndecryptableError,
    plain_challenge_row,
    plain_child_row,
    plain_stage_reason,
)
from storage.schema import challenge_parties, challenge_stages, challenges, child_details

#: The challenge row's columns that make the record (every other column is in `OPERATIONAL`).
ROW_COLUMNS = (
    "id",
    "reference",
    "policy_id",
    "status",
    "stage",
    "version",
    "raised_at",
    "raised_by",
    "raiser_agency_id",
    "challenged_agency_id",
    "issue_category",
    "concern",
    "desired_outcome",
    "informal_evidence",
    "urgent",
    "awaiting",
    "entries",
    "proposal",
    "timescale_proposal",
    "linked_to",
    "priority",
    "agreed_outcome",
    "meetings",
    "fields",
    "closed_at",
    "next_due_at",
    "purged_at",
)
#: The challenge row's columns outside the record, and why (see the module's docstring).
OPERATIONAL = ("due_claimed_by", "due_claimed_until", "updated_at", "draft_id", "seal_salt")
#: The other parts' columns (all but the challenge id, named by the row). Each list is fixed, not read from the
#: schema: a column added later changes no seal already written until it is put here (with the anchors resealed).
STAGE_COLUMNS = (
    "position",
    "number",
    "started_at",
    "due_at",
    "timescale_working_days",
    "ended_at",
    "outcome",
    "reason",
    "reminded",
    "breached",
    "steps_done",
)
PARTY_COLUMNS = ("role", "person_id", "name", "email", "phone", "note")
CHILD_COLUMNS = ("name", "date_of_birth", "agency_reference")
#: The child's details' columns outside the seal: the keyed hash of the agency reference, derived from the
#: sealed reference (and recomputed from it by every write).
CHILD_DERIVED = ("agency_reference_hmac",)

#: The parts, in the order a difference is named, and how it is named.
PARTS = {
    "row": "the challenge's row",
    "stages": "its stages",
    "parties": "its parties",
    "child": "the child's details",
}

#: How many challenges' rows are read at a time.
_BATCH = 500


@dataclass(frozen=True)
class Record:
    """The digests of a challenge's stored record, a part each (`child` None: no child's details stored)."""

    row: str
    stages: str
    parties: str
    child: str | None

    def as_hashed(self) -> dict[str, str]:
        return {"row": self.row, "stages": self.stages, "parties": self.parties, "child": self.child or ""}

    def changed(self, now: Record) -> list[str]:
        """How the parts that differ in `now` are named."""
        return [PARTS[part] for part in PARTS if getattr(self, part) != getattr(now, part)]


def _plain(value: Any) -> Any:
    if isinstance(value, datetime):
        return instant(value)
    if isinstance(value, date):
        return value.isoformat()
    return value


#: What a part that does not decrypt (a ciphertext edited, or moved from another row) is digested as: never a
#: seal's value, so `audit verify` names the part changed.
UNREADABLE = {"unreadable": True}


def _digest(salt: str | None, part: str, values: Any) -> str:
    return hashlib.sha256(
        canonical({"v": VERSION, "salt": salt or "", "part": part, "values": values})
    ).hexdigest()


def _pick(row: Mapping[Any, Any], columns: Sequence[str]) -> dict[str, Any]:
    return {name: _plain(row[name]) for name in columns}


def record_of(
    salt: str | None,
    row: Mapping[Any, Any],
    stages: Iterable[Mapping[Any, Any]],
    parties: Iterable[Mapping[Any, Any]],
    child: Mapping[Any, Any] | None,
) -> Record:
    """The digests of a record from its rows (as written, or as read back: the same values give the same)."""
    return Record(
        row=_digest(salt, "row", _pick(row, ROW_COLUMNS)),
        stages=_digest(
            salt, "stages", [_pick(s, STAGE_COLUMNS) for s in sorted(stages, key=lambda s: s["position"])]
        ),
        parties=_digest(
            salt, "parties", [_pick(p, PARTY_COLUMNS) for p in sorted(parties, key=lambda p: p["role"])]
        ),
        child=_digest(salt, "child", _pick(child, CHILD_COLUMNS)) if child is not None else None,
    )


def _readable(
    salt: str | None,
    key: Key,
    row: Mapping[Any, Any],
    stages: Iterable[Mapping[Any, Any]],
    parties: Iterable[Mapping[Any, Any]],
    child: Mapping[Any, Any] | None,
) -> Record:
    """The seal of a record as stored (encrypted): each part decrypted and digested as written; a part that
    does not decrypt digests as `UNREADABLE`."""
    unreadable = _digest(salt, "unreadable", UNREADABLE)
    try:
        row_digest = _digest(salt, "row", _pick(plain_challenge_row(key, row), ROW_COLUMNS))
    except UndecryptableError:
        row_digest = unreadable
    try:
        plain_stages = [
            {**s, "reason": plain_stage_reason(key, s["position"], s["reason"])}
            for s in sorted(stages, key=lambda s: s["position"])
        ]
        stages_digest = _digest(salt, "stages", [_pick(s, STAGE_COLUMNS) for s in plain_stages])
    except UndecryptableError:
        stages_digest = unreadable
    child_digest: str | None = None
    if child is not None:
        try:
            child_digest = _digest(
                salt, "child", _pick(plain_child_row(key, "child_details", child), CHILD_COLUMNS)
            )
        except UndecryptableError:
            child_digest = unreadable
    return Record(
        row=row_digest,
        stages=stages_digest,
        parties=_digest(
            salt, "parties", [_pick(p, PARTY_COLUMNS) for p in sorted(parties, key=lambda p: p["role"])]
        ),
        child=child_digest,
    )


async def stored_records(conn: AsyncConnection, challenge_ids: Sequence[str]) -> dict[str, Record]:
    """The digests of the records stored now for `challenge_ids` (read a batch of challenges at a time),
    over their values as written (decrypted): re-encryption and key rotation change no seal."""
    out: dict[str, Record] = {}
    for start in range(0, len(challenge_ids), _BATCH):
        batch = list(challenge_ids[start : start + _BATCH])
        keys = await keys_of(conn, CHALLENGE, batch, unreadable_as_missing=True)
        rows = {
            r["id"]: r
            for r in (
                await conn.execute(
                    select(*(challenges.c[n] for n in ROW_COLUMNS), challenges.c.seal_salt).where(
                        challenges.c.id.in_(batch)
                    )
                )
            ).mappings()
        }
        children = {
            r["challenge_id"]: r
            for r in (
                await conn.execute(select(child_details).where(child_details.c.challenge_id.in_(batch)))
            ).mappings()
        }
        stages: dict[str, list[Mapping[Any, Any]]] = {i: [] for i in batch}
        for r in (
            await conn.execute(select(challenge_stages).where(challenge_stages.c.challenge_id.in_(batch)))
        ).mappings():
            stages[r["challenge_id"]].append(r)
        parties: dict[str, list[Mapping[Any, Any]]] = {i: [] for i in batch}
        for r in (
            await conn.execute(select(challenge_parties).where(challenge_parties.c.challenge_id.in_(batch)))
        ).mappings():
            parties[r["challenge_id"]].append(r)
        for challenge_id, row in rows.items():
            out[challenge_id] = _readable(
                row["seal_salt"],
                keys.get(challenge_id, NO_KEY),
                row,
                stages[challenge_id],
                parties[challenge_id],
                children.get(challenge_id),
            )
    return out
