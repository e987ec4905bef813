"""The anonymous facts of stored challenges that monitoring counts (`process.monitoring`).

Only the columns monitoring needs are read: reference, procedure, status, stage, when raised and closed,
challenged agency, issue category, and each stage's start, due and end. Never `child_details`, never the
free text people wrote.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import and_, or_, select

from process.monitoring import ChallengeFacts, StageSpan
from storage.db import Database
from storage.schema import challenge_stages, challenges


class MonitoringStore:
    """Reads `ChallengeFacts` for the monitoring figures."""

    def __init__(self, db: Database) -> None:
        self.db = db

    async def facts(self, policy_ids: Sequence[str], start: datetime, end: datetime) -> list[ChallengeFacts]:
        """The challenges of `policy_ids` that were open at some moment of [start, end): raised before
        `end`, and not closed before `start`; with their stages, in order."""
        if not policy_ids:
            return []
        c = challenges.c
        s = challenge_stages.c
        query = (
            select(
                c.id,
                c.reference,
                c.policy_id,
                c.status,
                c.stage,
                c.raised_at,
                c.closed_at,
                c.challenged_agency_id,
                c.issue_category,
                s.number,
                s.started_at,
                s.due_at,
                s.ended_at,
                s.outcome,
            )
            .select_from(
                challenges.join(challenge_stages, challenge_stages.c.challenge_id == c.id, isouter=True)
            )
            .where(
                and_(
                    c.policy_id.in_(list(policy_ids)),
                    c.raised_at < end,
                    or_(c.closed_at.is_(None), c.closed_at >= start),
                )
            )
            .order_by(c.raised_at, c.id, s.position)
        )
        async with self.db.reading() as conn:
            rows = (await conn.execute(query)).all()
        out: list[ChallengeFacts] = []
        current_id: str | None = None
        spans: list[StageSpan] = []
        head: tuple[object, ...] = ()

        def flush() -> None:
            if current_id is not None:
                out.append(_facts(head, tuple(spans)))

        for row in rows:
            if row.id != current_id:
                flush()
                current_id, head, spans = row.id, tuple(row), []
            if row.number is not None:
                spans.append(StageSpan(row.number, row.started_at, row.due_at, row.ended_at, row.outcome))
        flush()
        return out


def _facts(row: tuple[object, ...], spans: tuple[StageSpan, ...]) -> ChallengeFacts:
    (_id, reference, policy_id, status, stage, raised_at, closed_at, agency, category) = row[:9]
    assert isinstance(raised_at, datetime)
    assert closed_at is None or isinstance(closed_at, datetime)
    return ChallengeFacts(
        reference=str(reference),
        policy_id=str(policy_id),
        status=str(status),
        stage=int(str(stage)),
        raised_at=raised_at,
        closed_at=closed_at,
        challenged_agency_id=str(agency),
        issue_category=str(category),
        stages=spans,
    )
