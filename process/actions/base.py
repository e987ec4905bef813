"""What every action declares: who may take it at which stage (`permitted`) and what it does (`apply`).

The engine asks `permitted` both to refuse an action and to list what a person may do now, so a card never
offers what the engine would refuse: an action whose state makes it impossible (nothing to confirm, a
timescale that has already run out) is refused by `permitted`, not later by `apply`.
"""

from __future__ import annotations

import re
from abc import ABC, abstractmethod
from dataclasses import dataclass, replace
from datetime import datetime
from functools import cached_property
from typing import TYPE_CHECKING, Any, ClassVar

from process.challenge import (
    MAX_TEXT,
    ActionKind,
    AuditEvent,
    Challenge,
    Decision,
    Entry,
    NotificationKind,
    Refused,
    Side,
    Status,
)
from process.parties import side_roles
from process.policy import Policy, RoleId, Stage

if TYPE_CHECKING:
    from process.engine import Engine


@dataclass(frozen=True)
class Turn:
    """One person (or the clock) acting on one challenge at one instant."""

    engine: Engine
    challenge: Challenge
    actor_id: str
    now: datetime

    @property
    def policy(self) -> Policy:
        return self.engine.policy

    @property
    def stage(self) -> Stage:
        return self.policy.stage(self.challenge.stage)

    @cached_property
    def side(self) -> Side | None:
        return self.engine.side_of(self.challenge, self.actor_id)

    @cached_property
    def roles(self) -> frozenset[RoleId]:
        return self.challenge.roles_of(self.actor_id)

    @property
    def where(self) -> str:
        return f"at stage {self.stage.number} ({self.stage.name})"

    def sides_text(self, roles: tuple[RoleId, ...]) -> str:
        """ "IRO or DSCP Business Manager": the roles' titles as a sentence names them (`title_in_text`)."""
        names = [title_in_text(self.policy.role_title(r)) for r in roles]
        return names[0] if len(names) == 1 else ", ".join(names[:-1]) + " or " + names[-1]

    def who_acts(self, side: Side) -> str:
        """ "the IRO (Riley Raiser)": the titles and names of the people who act for `side` now."""
        people = self.engine.acting(self.challenge, side)
        if not people:
            return f"the {self.sides_text(side_roles(self.stage, side))}"
        return " or ".join(
            f"the {title_in_text(self.policy.role_title(a.role))} ({a.contact.name})" for a in people
        )

    def needs_side(self, doing: str) -> Side:
        """The actor's side at this stage; Refused if they act for neither."""
        if self.side is None:
            raise Refused(f"Only the people involved {self.where} can {doing}.")
        return self.side


def title_in_text(title: str) -> str:
    """A role's title inside a sentence: a sentence-case title in lower case ("the raising practitioner"); a
    title the procedure writes as a name or an acronym as it writes it ("the IRO", "the Line Manager")."""
    return title[:1].lower() + title[1:] if title[1:] == title[1:].lower() else title


class ActionSpec(ABC):
    """One action: its kind, whether the clock or a person takes it, who may, and what it changes."""

    kind: ClassVar[ActionKind]
    by_clock: ClassVar[bool] = False

    @abstractmethod
    def permitted(self, turn: Turn) -> None:
        """Raise `Refused` (with a reason the person can act on) unless the actor may take it now."""

    @abstractmethod
    def apply(self, turn: Turn, action: Any) -> Decision:
        """The decision the action makes; may still refuse what the person wrote (`invalid`)."""


def ended(
    turn: Turn,
    status: Status,
    *,
    stage_outcome: str,
    entry_kind: str,
    text: str,
    agreed_outcome: str | None,
    reason: str | None = None,
) -> Challenge:
    """The challenge ended now with `status` (resolved, withdrawn or closed): nothing is awaited or proposed
    any more, the current stage ends, and what was written is kept."""
    c, now = turn.challenge, turn.now
    return replace(
        c,
        status=status,
        awaiting=None,
        proposal=None,
        timescale_proposal=None,
        closed_at=now,
        agreed_outcome=agreed_outcome,
        stages=(*c.stages[:-1], replace(c.current, ended_at=now, outcome=stage_outcome, reason=reason)),
        entries=(*c.entries, Entry(now, c.stage, turn.actor_id, entry_kind, text)),
    )


def passed_to(turn: Turn, c: Challenge, event: AuditEvent, side: Side, kind: NotificationKind) -> Decision:
    """The decision `c` with `event` that leaves `side` to answer: those who act for it are asked to, and those
    copied in on every update are told."""
    out = turn.engine.outbox(c, turn.actor_id)
    turn.engine.tell_side(out, c, side, kind, action=True)
    turn.engine.copy_updates(out, c, kind)
    return Decision(c, (event,), out.done())


#: Control characters other than tab and line breaks: never part of what a person wrote (and PostgreSQL
#: refuses NUL), so they are refused rather than stored.
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")


def written(
    value: str | None, what: str, *, limit: int = MAX_TEXT, required: bool = True, field: str | None = None
) -> str:
    """What a person wrote, trimmed; Refused (`invalid`) when empty, too long or holding control characters."""
    cleaned = (value or "").strip()
    if _CONTROL.search(cleaned):
        raise Refused(
            f"{what[0].upper()}{what[1:]} contains control characters; please type it again.",
            "invalid",
            field,
        )
    if required and not cleaned:
        raise Refused(f"Please fill in {what}.", "invalid", field)
    if len(cleaned) > limit:
        raise Refused(
            f"{what[0].upper()}{what[1:]} is {len(cleaned)} characters; keep it to {limit}.", "invalid", field
        )
    return cleaned
