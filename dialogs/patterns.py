"""The pattern watch: on each pass of the deadline clock, new patterns of challenges to one agency are recorded
and their notifications queued (`process.patterns` decides what a pattern is; `storage.patterns` keeps each
once, so racing clocks and restarts tell it once). Delivery is the outbox's, as for every notification.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import datetime

from dialogs.service import ChallengeService
from process.challenge import Notification, NotificationKind
from process.patterns import looked_back, new_patterns, pattern_recipients
from storage.patterns import PatternStore

log = logging.getLogger(__name__)


@dataclass
class PatternReport:
    """What one look for patterns found: patterns told, and those nobody could be told of."""

    told: int = 0
    untold: list[str] = field(default_factory=list)


class PatternWatch:
    """Looks for new patterns in every served policy that sets `pattern_alert`."""

    def __init__(self, service: ChallengeService, store: PatternStore | None = None) -> None:
        self.service = service
        self.store = store or PatternStore(service.repository.db)

    async def run(self, now: datetime) -> PatternReport:
        report = PatternReport()
        for policy in self.service.policies.values():
            setting = policy.pattern_alert
            if setting is None:
                continue
            raised = await self.store.raised_since(policy.id, looked_back(setting, now))
            found = new_patterns(policy, raised, await self.store.last_triggers(policy.id), now)
            if not found:
                continue
            directory = await self.service.directory()
            recipients = pattern_recipients(policy, directory)
            for pattern in found:
                notifications = [
                    Notification(
                        kind=NotificationKind.PATTERN_ALERT,
                        recipient=contact,
                        roles=(role,),
                        challenge_id=pattern.trigger.challenge_id,
                        reference=pattern.trigger.reference,
                        stage=pattern.trigger.stage,
                        due_at=None,
                        action_needed=False,
                    )
                    for role, contact in recipients
                ]
                told = [f"{contact.name} ({policy.role_title(role)})" for role, contact in recipients]
                if not await self.store.record(pattern, notifications, told, now):
                    continue  # another clock recorded it first
                if recipients:
                    report.told += 1
                    log.info(
                        "pattern alert: %d challenges to agency %s (last %s), %d to be told",
                        len(pattern.references),
                        pattern.agency_id,
                        pattern.trigger.challenge_id,
                        len(recipients),
                    )
                else:
                    names = ", ".join(policy.role_title(r) for r in setting.tell)
                    report.untold.append(
                        f"{policy.id}: {len(pattern.references)} challenges to {pattern.agency_id}: nobody could "
                        f"be told: the directory has nobody as {names}"
                    )
                    log.error(
                        "pattern alert for agency %s (challenge %s): nobody could be told: the directory holds "
                        "nobody the policy names (%s)",
                        pattern.agency_id,
                        pattern.trigger.challenge_id,
                        ", ".join(setting.tell),
                    )
        return report
