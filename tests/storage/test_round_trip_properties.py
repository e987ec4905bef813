"""Whatever a challenge holds comes back exactly: generated challenges, events and notifications, both databases.

The engine only makes challenges it considers valid; storage must not depend on that, so these are built
directly from every field's type: any text, any time zone, any combination of the optional parts.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta, timezone
from uuid import uuid4
from zoneinfo import ZoneInfo

from hypothesis import Phase, given, settings
from hypothesis import strategies as st
from sqlalchemy import select

from process.challenge import (
    AuditEvent,
    Challenge,
    ChildDetails,
    Decision,
    Entry,
    MeetingRecord,
    Notification,
    NotificationKind,
    Proposal,
    Side,
    StageRecord,
    Status,
)
from process.directory import Contact
from process.policy import STANDARD_ROLES
from storage.challenges import ChallengeRepository
from storage.db import Database
from storage.outbox import Outbox
from storage.schema import audit_anchors
from storage.seal import stored_records
from tests.support.clock import FakeClock
from tests.support.directory import MONDAY

ROLE_IDS = [r.id for r in STANDARD_ROLES]

# PostgreSQL text cannot hold NUL, and lone surrogates are not text at all.
TEXT = st.text(st.characters(blacklist_categories=("Cs",), blacklist_characters="\x00"), max_size=40)
OPTIONAL_TEXT = st.none() | TEXT
ZONES = st.sampled_from(
    [
        UTC,
        ZoneInfo("Europe/London"),
        ZoneInfo("Pacific/Kiritimati"),
        timezone(timedelta(hours=-9, minutes=-30)),
    ]
)
# Python never finds a local time in a clock change's repeated hour equal to any time in another zone
# (PEP 495), though storage keeps its instant exactly; such times are left out so that `==` can judge.
INSTANTS = st.datetimes(
    min_value=datetime(1990, 1, 1), max_value=datetime(2099, 12, 31), timezones=ZONES
).filter(lambda d: d.utcoffset() == d.replace(fold=1 - d.fold).utcoffset())
DATES = st.dates(min_value=datetime(1990, 1, 1).date(), max_value=datetime(2099, 12, 31).date())
SMALL = st.integers(min_value=1, max_value=60)

CONTACTS = st.builds(
    Contact, name=TEXT, email=OPTIONAL_TEXT, person_id=OPTIONAL_TEXT, phone=OPTIONAL_TEXT, note=OPTIONAL_TEXT
)
STAGES = st.builds(
    StageRecord,
    number=SMALL,
    started_at=INSTANTS,
    due_at=st.none() | INSTANTS,
    timescale_working_days=st.none() | SMALL,
    ended_at=st.none() | INSTANTS,
    outcome=st.none() | st.sampled_from(["escalated", "resolved", "withdrawn", "closed"]),
    reason=OPTIONAL_TEXT,
    reminded=st.booleans(),
    breached=st.booleans(),
)
ENTRIES = st.builds(Entry, at=INSTANTS, stage=SMALL, actor_id=TEXT, kind=TEXT, text=TEXT)
MEETINGS = st.builds(
    MeetingRecord,
    stage=SMALL,
    held_on=DATES,
    attendees=TEXT,
    key_points=TEXT,
    actions_agreed=TEXT,
    timescales=TEXT,
    recorded_by=TEXT,
    recorded_at=INSTANTS,
)
CHALLENGES = st.builds(
    Challenge,
    id=st.just("unset"),
    reference=st.just("unset"),
    policy_id=st.sampled_from(["durham", "rochdale"]),
    status=st.sampled_from(Status),
    stage=SMALL,
    version=st.integers(min_value=1, max_value=10**6),
    raised_at=INSTANTS,
    raised_by=TEXT,
    raiser_agency_id=TEXT,
    challenged_agency_id=TEXT,
    child=st.builds(ChildDetails, name=TEXT, date_of_birth=st.none() | DATES, agency_reference=OPTIONAL_TEXT),
    issue_category=TEXT,
    concern=TEXT,
    desired_outcome=TEXT,
    informal_evidence=OPTIONAL_TEXT,
    urgent=st.booleans(),
    parties=st.dictionaries(st.sampled_from(ROLE_IDS), CONTACTS, max_size=8),
    stages=st.lists(STAGES, min_size=1, max_size=4).map(tuple),
    awaiting=st.none() | st.sampled_from(Side),
    entries=st.lists(ENTRIES, max_size=3).map(tuple),
    proposal=st.none()
    | st.builds(Proposal, text=TEXT, proposed_by=TEXT, side=st.sampled_from(Side), at=INSTANTS),
    agreed_outcome=OPTIONAL_TEXT,
    meetings=st.lists(MEETINGS, max_size=2).map(tuple),
    fields=st.dictionaries(TEXT, TEXT, max_size=3),
    closed_at=st.none() | INSTANTS,
    next_due_at=st.none() | INSTANTS,
)


@st.composite
def decisions(draw: st.DrawFn) -> tuple[Decision, Decision]:
    """A new challenge, then a later version of it, each with events and notifications about it."""
    first = draw(CHALLENGES)
    second = replace(draw(CHALLENGES), version=first.version + draw(SMALL))

    def about(c: Challenge) -> Decision:
        events = draw(
            st.lists(
                st.builds(
                    AuditEvent,
                    challenge_id=st.just(c.id),
                    at=INSTANTS,
                    actor_id=TEXT,
                    stage=SMALL,
                    kind=TEXT,
                    summary=TEXT,
                    detail=st.dictionaries(TEXT, TEXT, max_size=3),
                ),
                max_size=3,
            )
        )
        notifications = draw(
            st.lists(
                st.builds(
                    Notification,
                    kind=st.sampled_from(NotificationKind),
                    recipient=CONTACTS,
                    roles=st.lists(st.sampled_from(ROLE_IDS), max_size=3).map(tuple),
                    challenge_id=st.just(c.id),
                    reference=st.just("unset"),
                    stage=SMALL,
                    due_at=st.none() | INSTANTS,
                    action_needed=st.booleans(),
                ),
                max_size=3,
            )
        )
        return Decision(c, tuple(events), tuple(notifications))

    return about(first), about(second)


def _examples(count: int) -> list[tuple[Decision, Decision]]:
    """Draw `count` examples up front (the database work is async, Hypothesis' runner is not)."""
    found: list[tuple[Decision, Decision]] = []

    @settings(max_examples=count, derandomize=True, database=None, phases=[Phase.generate], deadline=None)
    @given(decisions())
    def collect(example: tuple[Decision, Decision]) -> None:
        found.append(example)

    collect()
    return found


def _stored_as(decision: Decision, challenge_id: str, reference: str) -> Decision:
    """The example under an id and reference of the test's choosing (examples may repeat)."""
    return Decision(
        replace(decision.challenge, id=challenge_id, reference=reference),
        tuple(replace(e, challenge_id=challenge_id) for e in decision.events),
        tuple(replace(n, challenge_id=challenge_id, reference=reference) for n in decision.notifications),
    )


async def test_generated_challenges_events_and_notifications_round_trip(database: Database) -> None:
    repo = ChallengeRepository(database, clock=FakeClock(MONDAY))
    outbox = Outbox(database)
    for created, changed in _examples(25):
        challenge_id = str(uuid4())
        made = await repo.create(
            "GEN", 2026, lambda reference, d=created, i=challenge_id: _stored_as(d, i, reference)
        )
        assert await repo.get(challenge_id) == made.challenge
        later = _stored_as(changed, challenge_id, made.challenge.reference)
        await repo.save(later, made.challenge.version)
        assert await repo.get(later.challenge.id) == later.challenge
        assert await repo.audit_events(later.challenge.id) == [*made.events, *later.events]
        queued = [item.notification for item in await outbox.for_challenge(later.challenge.id)]
        assert queued == [*made.notifications, *later.notifications]
        # The seal computed from what was written is the one recomputed from what is read back.
        async with database.reading() as conn:
            sealed = (
                await conn.execute(
                    select(audit_anchors)
                    .where(
                        audit_anchors.c.challenge_id == challenge_id,
                        audit_anchors.c.partnership_id == later.challenge.policy_id,
                    )
                    .order_by(audit_anchors.c.seq.desc())
                    .limit(1)
                )
            ).first()
            stored = (await stored_records(conn, [challenge_id]))[challenge_id]
        if made.events or later.events:
            assert sealed is not None
            assert (sealed.row_digest, sealed.stages_digest, sealed.parties_digest, sealed.child_digest) == (
                stored.row,
                stored.stages,
                stored.parties,
                stored.child,
            )
