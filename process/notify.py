"""Who is told of a decision: one notification per recipient, the strongest reason winning."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime

from process.challenge import Challenge, Notification, NotificationKind
from process.directory import Contact
from process.policy import RoleId


@dataclass
class Outbox:
    """Collects notifications for one decision, one per recipient: the first (strongest) reason wins, and a
    recipient asked to act in any of their roles is asked to act."""

    challenge: Challenge
    stage: int
    due_at: datetime | None
    exclude: frozenset[str] = frozenset()
    items: dict[str, Notification] = field(default_factory=dict)

    def add(
        self, kind: NotificationKind, role: RoleId, contact: Contact | None, *, action_needed: bool
    ) -> None:
        if contact is None or contact.key in self.exclude:
            return
        known = self.items.get(contact.key)
        if known is None:
            self.items[contact.key] = Notification(
                kind=kind,
                recipient=contact,
                roles=(role,),
                challenge_id=self.challenge.id,
                reference=self.challenge.reference,
                stage=self.stage,
                due_at=self.due_at,
                action_needed=action_needed,
            )
        elif role not in known.roles:
            self.items[contact.key] = replace(
                known, roles=(*known.roles, role), action_needed=known.action_needed or action_needed
            )

    def add_roles(
        self,
        kind: NotificationKind,
        roles: Iterable[RoleId],
        parties: Mapping[RoleId, Contact],
        *,
        action: bool,
    ) -> None:
        for role in roles:
            self.add(kind, role, parties.get(role), action_needed=action)

    def done(self) -> tuple[Notification, ...]:
        return tuple(self.items.values())
