"""Repeated challenges to one agency (a policy's `pattern_alert`): which patterns are new, and who is told.

A pattern is `challenges` challenges to one agency of one partnership raised within `within_days` days of each
other. It is told once: the challenge that completes it (its newest) is its trigger, and the next pattern for
that agency counts only challenges raised after the last trigger, so a further `challenges` must accumulate.
A pattern is looked for while its trigger is less than `within_days` old, so turning the alert on does not
report old history. Withdrawn challenges are not counted unless the policy says so (a challenge taken back,
often raised with the wrong agency, is not evidence of a pattern).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta

from process.directory import Contact, Directory
from process.policy import PatternAlert, Policy, RoleId


@dataclass(frozen=True)
class Raised:
    """What the pattern watch knows of a challenge: no child data, no free text."""

    challenge_id: str
    reference: str
    agency_id: str
    raised_at: datetime
    status: str
    stage: int

    @property
    def order(self) -> tuple[datetime, str]:
        return (self.raised_at, self.challenge_id)


@dataclass(frozen=True)
class Pattern:
    """`references` (oldest first) to `agency_id`, completed by `trigger`."""

    policy_id: str
    agency_id: str
    trigger: Raised
    window_start: datetime
    references: tuple[str, ...]

    @property
    def window_end(self) -> datetime:
        return self.trigger.raised_at


def looked_back(setting: PatternAlert, now: datetime) -> datetime:
    """How far back the challenges that may make a new pattern at `now` were raised."""
    return now - 2 * timedelta(days=setting.within_days)


def new_patterns(
    policy: Policy,
    raised: Iterable[Raised],
    last_triggers: Mapping[str, tuple[datetime, str]],
    now: datetime,
) -> list[Pattern]:
    """The patterns not yet told at `now`, per agency, given each agency's last told trigger's order."""
    setting = policy.pattern_alert
    if setting is None:
        return []
    window = timedelta(days=setting.within_days)
    by_agency: dict[str, list[Raised]] = {}
    for r in raised:
        if r.raised_at <= now and (setting.count_withdrawn or r.status != "withdrawn"):
            by_agency.setdefault(r.agency_id, []).append(r)
    found: list[Pattern] = []
    for agency_id, challenges in sorted(by_agency.items()):
        after = last_triggers.get(agency_id)
        current: list[Raised] = []
        for r in sorted(challenges, key=lambda c: c.order):
            if after is not None and r.order <= after:
                continue
            current = [c for c in current if c.raised_at > r.raised_at - window]
            current.append(r)
            if len(current) >= setting.challenges:
                if r.raised_at > now - window:
                    found.append(
                        Pattern(
                            policy.id,
                            agency_id,
                            r,
                            current[0].raised_at,
                            tuple(c.reference for c in current),
                        )
                    )
                current = []
    return found


def pattern_recipients(policy: Policy, directory: Directory) -> tuple[tuple[RoleId, Contact], ...]:
    """Who the policy's `pattern_alert.tell` names, as the directory has them (once each, first role kept)."""
    setting = policy.pattern_alert
    if setting is None:
        return ()
    seen: set[str] = set()
    out: list[tuple[RoleId, Contact]] = []
    for role in setting.tell:
        for contact in directory.partnership_contacts(policy.id, policy.role(role).post):
            if contact.key not in seen:
                seen.add(contact.key)
                out.append((role, contact))
    return tuple(out)
