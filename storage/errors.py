"""Errors storage raises that callers act on; each message is written for the person who will read it."""

from __future__ import annotations


class StorageError(Exception):
    """Base of the errors below."""


class ConflictError(StorageError):
    """Someone else changed the challenge since it was read: the action was not applied.

    The caller shows the current state (the refreshed card) instead of applying the action twice.
    """

    def __init__(self, challenge_id: str, reference: str, current_version: int) -> None:
        super().__init__(f"Someone else updated {reference} just now; here is the current card.")
        self.challenge_id = challenge_id
        self.reference = reference
        self.current_version = current_version


class NotFound(StorageError, LookupError):
    """The thing asked for is not stored (or no longer is)."""

    def __init__(self, what: str) -> None:
        super().__init__(what)
        self.what = what

    def __str__(self) -> str:
        return self.what


class SchemaNotCurrent(StorageError):
    """The database's schema is older (or newer) than this version of the bot expects."""


class StateConflictError(StorageError, KeyError):
    """Bot state was written from a stale read (its e-tag no longer matches).

    A `KeyError`, as botbuilder's own `MemoryStorage` raises on the same conflict.
    """

    def __init__(self, key: str) -> None:
        super().__init__(key)
        self.key = key

    def __str__(self) -> str:
        return f"bot state {self.key!r} was changed by another turn since it was read (e-tag conflict)"


class AlreadyRaised(StorageError):
    """The raising form (draft) was raised already: this is the challenge it became, not a second one."""

    def __init__(self, challenge_id: str) -> None:
        super().__init__(f"that form was raised already, as challenge {challenge_id}")
        self.challenge_id = challenge_id


class DraftNotCurrent(StorageError):
    """The raising form (draft) has ended, or moved on since it was read, so it was not raised from."""

    def __init__(self, draft_id: str) -> None:
        super().__init__(f"draft {draft_id} is not open at the step it was read at")
        self.draft_id = draft_id
