"""Which stored columns are encrypted, and the rows as stored and as written (`storage/crypto.py`).

Every column listed here is encrypted with its owner's data key (a challenge's, a raising form's, or the
deployment's for dialog state); the associated data is the owner's id and `table.column`, with the stage's
position, the event's number or the state's key where one column holds many values, so a ciphertext moved to
another row or column does not decrypt. Monitoring and the pattern watch read none of these columns.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import date
from typing import Any, Final

from storage.crypto import NO_KEY, DataKey, NoKey, UndecryptableError

#: `challenges` text columns people write.
CHALLENGE_TEXT: Final = ("concern", "desired_outcome", "informal_evidence", "agreed_outcome")
#: `challenges` JSON columns holding what people wrote (encrypted whole).
CHALLENGE_JSON: Final = ("entries", "proposal", "timescale_proposal", "meetings", "fields")
#: `child_details` and `draft_child_details` columns (the date of birth as ISO text, or as typed on a form).
CHILD: Final = ("name", "date_of_birth", "agency_reference")

#: Every encrypted column, by table (`bot_state.data` with the deployment's `bot_state` key).
ENCRYPTED: Final = {
    "challenges": (*CHALLENGE_TEXT, *CHALLENGE_JSON),
    "child_details": CHILD,
    "draft_child_details": CHILD,
    "raise_drafts": ("answers",),
    "challenge_stages": ("reason",),
    "audit_events": ("summary", "detail"),
    "bot_state": ("data",),
}

Key = DataKey | NoKey


def _challenge_columns(
    row: Mapping[Any, Any], text: Callable[[str, Any], Any], json: Callable[[str, Any], Any]
) -> dict[str, Any]:
    """`row` with each of its protected columns passed through `text` or `json` (named `challenges.<column>`)."""
    out = dict(row)
    for name in CHALLENGE_TEXT:
        if name in out:
            out[name] = text(f"challenges.{name}", out[name])
    for name in CHALLENGE_JSON:
        if name in out:
            out[name] = json(f"challenges.{name}", out[name])
    return out


def challenge_row(key: Key, row: Mapping[Any, Any]) -> dict[str, Any]:
    """A challenge's columns as stored."""
    return _challenge_columns(row, key.text, key.json)


def plain_challenge_row(key: Key, row: Mapping[Any, Any]) -> dict[str, Any]:
    """A stored challenge row as written; `UndecryptableError` when a column does not decrypt."""
    return _challenge_columns(row, key.plain_text, key.plain_json)


def child_row(key: Key, table: str, row: Mapping[Any, Any]) -> dict[str, Any]:
    """A child's details as stored in `table` (a date of birth stored as its ISO text)."""
    out = dict(row)
    born = out.get("date_of_birth")
    if isinstance(born, date):
        out["date_of_birth"] = born.isoformat()
    for name in CHILD:
        if name in out:
            out[name] = key.text(f"{table}.{name}", out[name])
    return out


def plain_child_row(key: Key, table: str, row: Mapping[Any, Any]) -> dict[str, Any]:
    out = dict(row)
    for name in CHILD:
        if name in out:
            out[name] = key.plain_text(f"{table}.{name}", out[name])
    return out


def stage_reason(key: Key, position: int, reason: str | None) -> str | None:
    return key.text(f"challenge_stages.reason.{position}", reason)


def plain_stage_reason(key: Key, position: int, reason: str | None) -> str | None:
    return key.plain_text(f"challenge_stages.reason.{position}", reason)


def event_words(key: Key, seq: int, summary: str, detail: Mapping[str, Any]) -> tuple[str, Any]:
    """An event's summary and detail as stored."""
    return key.text(f"audit_events.summary.{seq}", summary) or "", key.json(
        f"audit_events.detail.{seq}", dict(detail)
    )


def plain_event_words(key: Key, seq: int, summary: str, detail: Any) -> tuple[str, dict[str, Any]]:
    plain = key.plain_json(f"audit_events.detail.{seq}", detail)
    return key.plain_text(f"audit_events.summary.{seq}", summary) or "", plain if isinstance(
        plain, dict
    ) else {}


__all__ = [
    "ENCRYPTED",
    "NO_KEY",
    "Key",
    "UndecryptableError",
    "challenge_row",
    "child_row",
    "event_words",
    "plain_challenge_row",
    "plain_child_row",
    "plain_event_words",
    "plain_stage_reason",
    "stage_reason",
]
