"""The pattern watch: on each pass of the deadline clock, new patterns of challenges to one agency are recorded
and their notifications queued (`process.patterns` decides what a pattern is; `storage.patterns` keeps each
once, so racing clocks and restarts tell it once). Delivery is the outbox's, as for every notification.

Only a raise completes a pattern (a pattern is told at the first pass after its last challenge was raised, and
a withdrawal or time passing only takes challenges away), so a pass reads a partnership's recent challenges
only when one was raised since the watch last read them: otherwise one read of the newest raise's time (an
index entry) is all a pass costs, however many challenges are stored. A raise stamped up to `RAISE_SKEW` before
the last look (another instance's clock a little behind, or a raise committed just after the look) still
counts as new, and the recent challenges are read again at least every `FULL_LOOK_EVERY` whatever happened.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from dialogs.service import ChallengeService
from process.challenge import Notification, NotificationKind
from process.patterns import looked_back, new_patterns, pattern_recipients
from process.policy import PatternAlert, Policy
from storage.patterns import PatternStore

log = logging.getLogger(__name__)

#: How long before the watch's last look a challenge may have been stamped raised and still be read as new.
RAISE_SKEW = timedelta(minutes=5)
#: The longest the watch goes without reading a partnership's recent challenges, even with nothing raised.
FULL_LOOK_EVERY = timedelta(hours=1)


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
        #: Per policy, the instant the watch last read its recent challenges (and told what it found).
        self._looked: dict[str, datetime] = {}

    async def _nothing_raised_since_looked(self, policy_id: str, now: datetime) -> bool:
        looked = self._looked.get(policy_id)
        if looked is None or not looked <= now < looked + FULL_LOOK_EVERY:
            return False
        newest = await self.store.newest_raised(policy_id)
        return newest is None or newest <= looked - RAISE_SKEW

    async def run(self, now: datetime) -> PatternReport:
        report = PatternReport()
        for policy in self.service.policies.values():
            setting = policy.pattern_alert
            if setting is None:
                continue
            if await self._nothing_raised_since_looked(policy.id, now):
                continue
            await self._look(policy, setting, now, report)
            self._looked[policy.id] = now
        return report

    async def _look(
        self, policy: Policy, setting: PatternAlert, now: datetime, report: PatternReport
    ) -> None:
        """Record and queue the policy's new patterns at `now`."""
        since = looked_back(setting, now)
        raised = await self.store.raised_since(policy.id, since)
        found = new_patterns(policy, raised, await self.store.last_triggers(policy.id, since), now)
        if not found:
            return
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
