"""The monitoring figures for a person who may see them: the `report` card, the CSV and the dashboard ask here.

Only the partnership's post holders (business manager, admin, executive...: `process.monitoring.partnerships_of`)
see a partnership's figures; everyone else sees none, and the callers answer them as if nothing existed.
"""

from __future__ import annotations

from datetime import date, datetime

from dialogs.service import ChallengeService
from process.directory import Person
from process.monitoring import LONDON, Period, Statistics, compute, partnerships_of
from storage.monitoring import MonitoringStore


class Monitoring:
    """Statistics per partnership, over the challenges stored, for the people entitled to them."""

    def __init__(self, service: ChallengeService, store: MonitoringStore) -> None:
        self.service = service
        self.store = store

    async def partnerships_for(self, person: Person | None) -> tuple[str, ...]:
        """The partnerships served here whose figures `person` may see (none for a stranger)."""
        if person is None:
            return ()
        return partnerships_of(await self.service.directory(), person.id, self.service.policies)

    def today(self) -> date:
        return self.now().astimezone(LONDON).date()

    def now(self) -> datetime:
        return self.service.clock()

    async def statistics(self, partnership_id: str, period: Period) -> Statistics:
        """The figures of one partnership served here (KeyError for any other) over `period`."""
        policy = self.service.policy(partnership_id)
        facts = await self.store.facts([policy.id], period.start, period.end)
        return compute(
            facts,
            policy,
            self.service.calendar(policy.id),
            await self.service.directory(),
            period,
            self.now(),
        )
