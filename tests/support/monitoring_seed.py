"""Invented challenges written straight into the tables, for the monitoring tests, screenshots and benchmark.

Hundreds or thousands of challenges raised through the engine would take minutes; these rows are what the
engine would have stored for challenges that moved through their stages at random (escalated, resolved,
withdrawn, closed, or still open, some past their due): the anonymous facts monitoring counts, a short
invented concern, and no child's details at all.
"""

from __future__ import annotations

import random
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from process.calendar import WorkingCalendar
from process.policy import Policy
from storage.db import Database
from storage.schema import challenge_stages, challenges


@dataclass(frozen=True)
class Seeded:
    challenges: int
    stages: int


async def seed_challenges(
    database: Database,
    policy: Policy,
    calendar: WorkingCalendar,
    *,
    count: int,
    agencies: Sequence[str],
    raiser_agency: str,
    first: datetime,
    now: datetime,
    seed: int = 14,
    prefix: str | None = None,
) -> Seeded:
    """`count` challenges of `policy` raised between `first` and `now`, against `agencies` (the first ones
    much more often: a few agencies draw most challenges)."""
    rng = random.Random(seed)
    categories = [c.id for c in policy.issue_categories] or [""]
    weights = [1.0 / (i + 1) for i in range(len(agencies))]
    span = (now - first).total_seconds()
    rows: list[dict[str, Any]] = []
    stage_rows: list[dict[str, Any]] = []
    final = policy.stages[-1].number
    letters = prefix or policy.reference_prefix
    for number in range(1, count + 1):
        raised = first + timedelta(seconds=rng.random() * span)
        challenge_id = str(uuid.UUID(int=rng.getrandbits(128)))
        stage = 1
        started = raised
        status = "open"
        closed: datetime | None = None
        positions: list[dict[str, Any]] = []
        while True:
            limit = policy.stage(stage).limit_working_days
            due = calendar.due_at(started, limit) if limit else None
            took = timedelta(hours=rng.uniform(2, 24 * 7 * (limit or 6) * 0.8))
            ended = started + took
            if ended >= now:
                positions.append(_stage(challenge_id, len(positions), stage, started, due, None, None))
                break
            roll = rng.random()
            if stage < final and roll < 0.35:
                positions.append(
                    _stage(challenge_id, len(positions), stage, started, due, ended, "escalated")
                )
                stage += 1
                started = ended
                continue
            status = "withdrawn" if roll > 0.93 else "closed" if stage == final else "resolved"
            outcome = {"withdrawn": "withdrawn", "closed": "closed", "resolved": "resolved"}[status]
            positions.append(_stage(challenge_id, len(positions), stage, started, due, ended, outcome))
            closed = ended
            break
        stage_rows += positions
        current_due = positions[-1]["due_at"]
        rows.append(
            {
                "id": challenge_id,
                "reference": f"{letters}-{raised.year}-{number:05d}",
                "policy_id": policy.id,
                "status": status,
                "stage": stage,
                "version": len(positions) + 1,
                "raised_at": raised,
                "raised_by": "seeded.raiser",
                "raiser_agency_id": raiser_agency,
                "challenged_agency_id": rng.choices(list(agencies), weights)[0],
                "issue_category": rng.choice(categories),
                "concern": "An invented concern.",
                "desired_outcome": "An invented outcome.",
                "informal_evidence": None,
                "urgent": False,
                "awaiting": None,
                "entries": [],
                "proposal": None,
                "timescale_proposal": None,
                "linked_to": None,
                "priority": None,
                "agreed_outcome": None,
                "meetings": [],
                "fields": {},
                "closed_at": closed,
                "next_due_at": current_due if status == "open" else None,
                "updated_at": closed or raised,
                "draft_id": None,
            }
        )
    async with database.transaction() as conn:
        for i in range(0, len(rows), 500):
            await conn.execute(challenges.insert(), rows[i : i + 500])
        for i in range(0, len(stage_rows), 500):
            await conn.execute(challenge_stages.insert(), stage_rows[i : i + 500])
    return Seeded(len(rows), len(stage_rows))


def _stage(
    challenge_id: str,
    position: int,
    number: int,
    started: datetime,
    due: datetime | None,
    ended: datetime | None,
    outcome: str | None,
) -> dict[str, Any]:
    return {
        "challenge_id": challenge_id,
        "position": position,
        "number": number,
        "started_at": started,
        "due_at": due,
        "timescale_working_days": None,
        "ended_at": ended,
        "outcome": outcome,
        "reason": None,
        "reminded": False,
        "breached": bool(due and (ended or datetime.max.replace(tzinfo=due.tzinfo)) > due),
        "steps_done": 0,
    }
