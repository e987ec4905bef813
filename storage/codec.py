"""JSON shapes of the domain values kept in JSON columns, and the way back.

Instants are written as ISO 8601 in UTC and read back aware; dates as ISO dates. Every decoder is strict
about the keys it needs, so a hand-edited row fails loudly where it is read, not somewhere later.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import UTC, date, datetime
from typing import Any

from sqlalchemy import Row

from process.challenge import Entry, MeetingRecord, Proposal, Side, TimescaleProposal
from process.directory import Contact

JsonObject = dict[str, Any]

_CONTACT_FIELDS = ("name", "email", "person_id", "phone", "note")


def instant_to_json(value: datetime) -> str:
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValueError("storage needs aware datetimes (UTC), not naive ones")
    return value.astimezone(UTC).isoformat()


def instant_from_json(value: str) -> datetime:
    parsed = datetime.fromisoformat(value)
    if parsed.tzinfo is None:
        raise ValueError(f"stored instant {value!r} has no time zone")
    return parsed.astimezone(UTC)


def contact_to_json(contact: Contact) -> JsonObject:
    return {key: getattr(contact, key) for key in _CONTACT_FIELDS if getattr(contact, key) is not None}


def contact_from_json(data: Mapping[str, Any]) -> Contact:
    return Contact(
        name=data["name"],
        email=data.get("email"),
        person_id=data.get("person_id"),
        phone=data.get("phone"),
        note=data.get("note"),
    )


def contact_columns(contact: Contact) -> JsonObject:
    """A contact as the columns of the contact tables (every column present, None when unknown)."""
    return {key: getattr(contact, key) for key in _CONTACT_FIELDS}


def contact_from_row(row: Row[Any]) -> Contact:
    """A contact from a row of one of the contact tables."""
    return Contact(name=row.name, email=row.email, person_id=row.person_id, phone=row.phone, note=row.note)


def entries_to_json(entries: Sequence[Entry]) -> list[JsonObject]:
    return [
        {
            "at": instant_to_json(e.at),
            "stage": e.stage,
            "actor_id": e.actor_id,
            "kind": e.kind,
            "text": e.text,
        }
        for e in entries
    ]


def entries_from_json(data: Sequence[Mapping[str, Any]]) -> tuple[Entry, ...]:
    return tuple(
        Entry(
            at=instant_from_json(e["at"]),
            stage=int(e["stage"]),
            actor_id=e["actor_id"],
            kind=e["kind"],
            text=e["text"],
        )
        for e in data
    )


def proposal_to_json(proposal: Proposal | None) -> JsonObject | None:
    if proposal is None:
        return None
    return {
        "text": proposal.text,
        "proposed_by": proposal.proposed_by,
        "side": proposal.side.value,
        "at": instant_to_json(proposal.at),
    }


def proposal_from_json(data: Mapping[str, Any] | None) -> Proposal | None:
    if data is None:
        return None
    return Proposal(
        text=data["text"],
        proposed_by=data["proposed_by"],
        side=Side(data["side"]),
        at=instant_from_json(data["at"]),
    )


def timescale_proposal_to_json(proposal: TimescaleProposal | None) -> JsonObject | None:
    if proposal is None:
        return None
    return {
        "working_days": proposal.working_days,
        "note": proposal.note,
        "proposed_by": proposal.proposed_by,
        "side": proposal.side.value,
        "at": instant_to_json(proposal.at),
    }


def timescale_proposal_from_json(data: Mapping[str, Any] | None) -> TimescaleProposal | None:
    if data is None:
        return None
    return TimescaleProposal(
        working_days=int(data["working_days"]),
        note=data["note"],
        proposed_by=data["proposed_by"],
        side=Side(data["side"]),
        at=instant_from_json(data["at"]),
    )


def meetings_to_json(meetings: Sequence[MeetingRecord]) -> list[JsonObject]:
    return [
        {
            "stage": m.stage,
            "held_on": m.held_on.isoformat(),
            "attendees": m.attendees,
            "key_points": m.key_points,
            "actions_agreed": m.actions_agreed,
            "timescales": m.timescales,
            "recorded_by": m.recorded_by,
            "recorded_at": instant_to_json(m.recorded_at),
        }
        for m in meetings
    ]


def meetings_from_json(data: Sequence[Mapping[str, Any]]) -> tuple[MeetingRecord, ...]:
    return tuple(
        MeetingRecord(
            stage=int(m["stage"]),
            held_on=date.fromisoformat(m["held_on"]),
            attendees=m["attendees"],
            key_points=m["key_points"],
            actions_agreed=m["actions_agreed"],
            timescales=m["timescales"],
            recorded_by=m["recorded_by"],
            recorded_at=instant_from_json(m["recorded_at"]),
        )
        for m in data
    )


def text_map(data: Mapping[str, Any]) -> dict[str, str]:
    """A stored string-to-string mapping (form fields, audit detail), checked on the way out."""
    out: dict[str, str] = {}
    for key, value in data.items():
        if not isinstance(value, str):
            raise ValueError(f"stored field {key!r} is not text")
        out[str(key)] = value
    return out
