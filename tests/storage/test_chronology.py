"""The chronology proves itself: normal use verifies, and each way of tampering with the database directly
(changing what an event says, deleting one, reordering them, deleting a whole challenge or an anchor, or
editing the challenge's record itself: its row, stages, parties, child's details) is found and the first
broken event or the changed part named, on SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import Awaitable, Callable
from datetime import date, datetime, timedelta, timezone
from typing import Any

import pytest
from alembic import command
from sqlalchemy import delete, select, text
from sqlalchemy.ext.asyncio import AsyncConnection

import storage.chain
from bot.notifier import Notifier
from bot.scheduler import Scheduler
from dialogs.service import ChallengeService
from process.challenge import (
    Challenge,
    ConfirmOutcome,
    Escalate,
    ProposeOutcome,
    Respond,
    Withdraw,
)
from process.directory import Directory
from process.policy import Role, load_policy
from storage.chain import canonical, content_digest, event_hash
from storage.challenges import ChallengeRepository
from storage.crypto import CHALLENGE, DataKey, key_of, new_key
from storage.db import Database
from storage.errors import NotFound
from storage.migrate import alembic_config
from storage.outbox import Outbox
from storage.protected import event_words
from storage.schema import (
    audit_anchors,
    audit_events,
    audit_heads,
    challenge_parties,
    challenge_stages,
    challenges,
    child_details,
    data_keys,
)
from storage.seal import (
    CHILD_COLUMNS,
    CHILD_DERIVED,
    OPERATIONAL,
    PARTS,
    PARTY_COLUMNS,
    ROW_COLUMNS,
    STAGE_COLUMNS,
    Record,
    record_of,
)
from storage.verify import (
    ANCHOR_MISMATCH,
    CONTENT_CHANGED,
    EVENT_MISSING,
    ORDER_CHANGED,
    RECORD_CHANGED,
    Verification,
    verify,
)
from tests.support.clock import FakeClock
from tests.support.database import until_blocked_by
from tests.support.directory import CHILD, MONDAY, engine_for, holder, invented_directory, raise_form, raising


def _service(database: Database, clock: FakeClock) -> ChallengeService:
    people = invented_directory()

    async def load_directory() -> Directory:
        return people

    return ChallengeService(
        [load_policy("durham"), load_policy("rochdale")],
        ChallengeRepository(database, clock=clock),
        load_directory,
        clock=clock,
    )


async def _worked_through(database: Database, clock: FakeClock) -> Challenge:
    """A Durham challenge raised, answered, escalated and resolved through the service, as people do it."""
    service = _service(database, clock)
    raiser = holder("durham", Role.RAISER)
    c = (await service.raise_challenge(raiser, "durham", raise_form("durham"))).challenge
    steps: list[tuple[Any, str]] = [
        (
            Respond("We will send the report 🙂 — diolch, *soon*."),
            holder("durham", Role.CHALLENGED_PROFESSIONAL),
        ),
        (Escalate("The report has still not come."), raiser),
        (ProposeOutcome("The report is sent by Friday."), holder("durham", Role.CHALLENGED_LINE_MANAGER)),
        (ConfirmOutcome(), raiser),
    ]
    for action, actor in steps:
        clock.advance(hours=1)
        current = await service.find(c.id)
        assert current is not None
        result = await service.act(current, current.version, action, actor)
        assert result.outcome == "applied", result.notice
        # The same click again, at once: changes nothing, adds nothing to the chronology.
        again = await service.act(current, current.version, action, actor)
        assert again.outcome == "repeated"
    final = await service.find(c.id)
    assert final is not None and not final.is_open
    return final


async def test_normal_use_through_the_service_verifies_clean(database: Database) -> None:
    c = await _worked_through(database, FakeClock(MONDAY))
    result = await verify(database)
    assert result.ok, result.breaks
    assert (result.challenges, result.erased_events) == (1, 0)
    async with database.reading() as conn:
        rows = (
            await conn.execute(
                select(audit_events).where(audit_events.c.challenge_id == c.id).order_by(audit_events.c.seq)
            )
        ).all()
        anchors = (await conn.execute(select(audit_anchors).order_by(audit_anchors.c.seq))).all()
        head = (await conn.execute(select(audit_heads))).one()
    assert result.events == len(rows) >= 5
    assert [r.seq for r in rows] == list(range(1, len(rows) + 1))
    assert rows[0].prev_hash is None and all(b.prev_hash == a.hash for a, b in itertools.pairwise(rows))
    # One anchor per change (the raise, four actions), the newest naming the chain's last event.
    assert [a.seq for a in anchors] == [1, 2, 3, 4, 5]
    assert (anchors[-1].event_seq, anchors[-1].event_hash) == (rows[-1].seq, rows[-1].hash)
    assert (head.partnership_id, head.seq, head.hash) == ("durham", 5, anchors[-1].hash)
    assert (await verify(database, c.reference.lower())).ok


async def test_the_deadline_clocks_passes_verify_clean(database: Database) -> None:
    """Left alone, a challenge is reminded about and its deadline passes, pass after pass of the scheduler
    (twice at each instant, as two workers would); a lease held by a pass in progress is no change of the
    record either."""
    clock = FakeClock(MONDAY)
    service = _service(database, clock)
    scheduler = Scheduler(
        service, Notifier(service, Outbox(database), teams=None, mailer=None, worker_id="w1"), worker_id="w1"
    )
    other = Scheduler(
        service, Notifier(service, Outbox(database), teams=None, mailer=None, worker_id="w2"), worker_id="w2"
    )
    c = (
        await service.raise_challenge(holder("durham", Role.RAISER), "durham", raise_form("durham"))
    ).challenge
    reminders = deadlines = 0
    for _ in range(6):
        wake = await scheduler.next_wake()
        if wake is None:
            break
        clock.now = wake
        for worker in (scheduler, other):
            report = await worker.run_once()
            reminders, deadlines = reminders + report.reminders, deadlines + report.deadlines
        result = await verify(database)
        assert result.ok, result.breaks
    assert reminders >= 1 and deadlines >= 1
    stored = await service.find(c.id)
    assert stored is not None and stored.version > c.version and any(s.breached for s in stored.stages)
    # A claim held while the scheduler works on it (its lease columns are operational).
    async with database.transaction() as conn:
        await _sql(
            conn,
            "UPDATE challenges SET due_claimed_by = 'w3', due_claimed_until = raised_at, updated_at = raised_at",
        )
    result = await verify(database)
    assert result.ok and result.records == 1, result.breaks


def test_the_hash_encoding_is_fixed() -> None:
    """The encoding is part of the record: a hash written today must verify in ten years."""
    assert canonical({"b": "é", "a": [1, "\ud800"]}) == b'{"a":[1,"\\ud800"],"b":"\\u00e9"}'
    digest = content_digest("00" * 16, "Raised", {"concern": "x"})
    assert (
        digest
        == content_digest("00" * 16, "Raised", {"concern": "x"})
        != content_digest("01" * 16, "Raised", {"concern": "x"})
    )
    at = datetime.fromisoformat("2026-11-23T10:00:00+00:00")
    one = event_hash(
        challenge_id="c", seq=1, prev_hash=None, at=at, actor_id="a", stage=1, kind="raised", digest=digest
    )
    same_instant = event_hash(
        challenge_id="c",
        seq=1,
        prev_hash=None,
        at=at.astimezone(datetime.fromisoformat("2026-11-23T11:00:00+01:00").tzinfo),
        actor_id="a",
        stage=1,
        kind="raised",
        digest=digest,
    )
    assert one == same_instant and len(one) == 64


# ----- tampering ----------------------------------------------------------------------------------------


async def _three_challenges(database: Database) -> tuple[ChallengeRepository, list[Challenge]]:
    """Three Durham challenges, each with a few events; the middle one is tampered with."""
    repo = ChallengeRepository(database, clock=FakeClock(MONDAY))
    engine = engine_for("durham")
    made = []
    for _ in range(3):
        c = (await repo.create("DUR", 2026, raising(engine))).challenge
        for hours, action, role in (
            (1, Respond("First answer."), Role.CHALLENGED_PROFESSIONAL),
            (2, Escalate("Not enough."), Role.RAISER),
            (3, Withdraw("Agreed by phone."), Role.RAISER),
        ):
            decision = engine.apply(c, action, holder("durham", role), MONDAY + timedelta(hours=hours))
            await repo.save(decision, c.version)
            c = decision.challenge
        made.append(c)
    assert (await verify(database)).ok
    return repo, made


Tamper = Callable[[AsyncConnection, str], Awaitable[None]]


async def _sql(conn: AsyncConnection, statement: str, **params: Any) -> None:
    await conn.execute(text(statement), params)


async def _edit_text(conn: AsyncConnection, cid: str) -> None:
    await _sql(
        conn, "UPDATE audit_events SET summary = 'Nothing to see' WHERE challenge_id = :c AND seq = 2", c=cid
    )


async def _key(conn: AsyncConnection, cid: str) -> DataKey:
    """The challenge's data key: the edits below are made by someone who holds it, the worst case."""
    key = await key_of(conn, CHALLENGE, cid)
    assert key is not None
    return key


async def _reencrypt_text(conn: AsyncConnection, cid: str) -> None:
    key = await _key(conn, cid)
    summary, detail = event_words(key, 2, "Nothing to see", {})
    await conn.execute(
        audit_events.update()
        .where(audit_events.c.challenge_id == cid, audit_events.c.seq == 2)
        .values(summary=summary, detail=detail)
    )


async def _move_words_between_events(conn: AsyncConnection, cid: str) -> None:
    words = (
        await conn.execute(
            select(audit_events.c.summary).where(audit_events.c.challenge_id == cid, audit_events.c.seq == 3)
        )
    ).scalar_one()
    assert words.startswith("v1:")
    await conn.execute(
        audit_events.update()
        .where(audit_events.c.challenge_id == cid, audit_events.c.seq == 2)
        .values(summary=words)
    )


async def _edit_detail(conn: AsyncConnection, cid: str) -> None:
    await _sql(
        conn,
        "UPDATE audit_events SET detail = :d WHERE challenge_id = :c AND seq = 2",
        c=cid,
        d='{"text": "A different answer."}',
    )


async def _edit_time(conn: AsyncConnection, cid: str) -> None:
    row = (
        await conn.execute(
            select(audit_events.c.id, audit_events.c.at).where(
                audit_events.c.challenge_id == cid, audit_events.c.seq == 3
            )
        )
    ).one()
    await conn.execute(
        audit_events.update().where(audit_events.c.id == row.id).values(at=row.at - timedelta(days=1))
    )


async def _delete_middle(conn: AsyncConnection, cid: str) -> None:
    await _sql(conn, "DELETE FROM audit_events WHERE challenge_id = :c AND seq = 2", c=cid)


async def _delete_and_renumber(conn: AsyncConnection, cid: str) -> None:
    await _sql(conn, "DELETE FROM audit_events WHERE challenge_id = :c AND seq = 2", c=cid)
    await _sql(conn, "UPDATE audit_events SET seq = seq - 1 WHERE challenge_id = :c AND seq > 2", c=cid)


async def _delete_last(conn: AsyncConnection, cid: str) -> None:
    await _sql(
        conn,
        "DELETE FROM audit_events WHERE challenge_id = :c AND seq = (SELECT max(seq) FROM audit_events WHERE challenge_id = :c)",
        c=cid,
    )


async def _swap_seq(conn: AsyncConnection, cid: str) -> None:
    await _sql(conn, "UPDATE audit_events SET seq = -1 WHERE challenge_id = :c AND seq = 2", c=cid)
    await _sql(conn, "UPDATE audit_events SET seq = 2 WHERE challenge_id = :c AND seq = 3", c=cid)
    await _sql(conn, "UPDATE audit_events SET seq = 3 WHERE challenge_id = :c AND seq = -1", c=cid)


async def _swap_ids(conn: AsyncConnection, cid: str) -> None:
    ids = (
        (
            await conn.execute(
                select(audit_events.c.id)
                .where(audit_events.c.challenge_id == cid)
                .order_by(audit_events.c.seq)
            )
        )
        .scalars()
        .all()
    )
    two, three = ids[1], ids[2]
    await _sql(conn, "UPDATE audit_events SET id = -7 WHERE id = :i", i=two)
    await _sql(conn, "UPDATE audit_events SET id = :n WHERE id = :i", n=two, i=three)
    await _sql(conn, "UPDATE audit_events SET id = :n WHERE id = -7", n=three)


async def _forge_an_event(conn: AsyncConnection, cid: str) -> None:
    """An event added by hand, even with a correctly computed chain link, is not anchored."""
    last = (
        await conn.execute(
            select(audit_events)
            .where(audit_events.c.challenge_id == cid)
            .order_by(audit_events.c.seq.desc())
            .limit(1)
        )
    ).one()
    digest = content_digest("ab" * 16, "Agreed outcome confirmed", {})
    forged = event_hash(
        challenge_id=cid,
        seq=last.seq + 1,
        prev_hash=last.hash,
        at=last.at,
        actor_id=last.actor_id,
        stage=last.stage,
        kind="resolved",
        digest=digest,
    )
    await conn.execute(
        audit_events.insert().values(
            challenge_id=cid,
            seq=last.seq + 1,
            at=last.at,
            actor_id=last.actor_id,
            stage=last.stage,
            kind="resolved",
            summary="Agreed outcome confirmed",
            detail={},
            salt="ab" * 16,
            content_digest=digest,
            prev_hash=last.hash,
            hash=forged,
        )
    )


async def _erase_without_purge(conn: AsyncConnection, cid: str) -> None:
    await _sql(
        conn, "UPDATE audit_events SET salt = NULL, summary = '' WHERE challenge_id = :c AND seq = 2", c=cid
    )


async def _replace_the_data_key(conn: AsyncConnection, cid: str) -> None:
    await conn.execute(
        delete(data_keys).where(data_keys.c.owner_kind == CHALLENGE, data_keys.c.owner_id == cid)
    )
    await new_key(conn, CHALLENGE, cid)


TAMPERING: dict[str, tuple[Tamper, int | str, str]] = {
    "event text edited": (_edit_text, 2, CONTENT_CHANGED),
    "event detail edited": (_edit_detail, 2, CONTENT_CHANGED),
    "event text re-encrypted with the key": (_reencrypt_text, 2, CONTENT_CHANGED),
    "event text moved from another event": (_move_words_between_events, 2, CONTENT_CHANGED),
    "the challenge's data key replaced": (_replace_the_data_key, 1, CONTENT_CHANGED),
    "event time edited": (_edit_time, 3, CONTENT_CHANGED),
    "words erased without a purge": (_erase_without_purge, 2, CONTENT_CHANGED),
    "middle event deleted": (_delete_middle, 2, EVENT_MISSING),
    "event deleted and the rest renumbered": (_delete_and_renumber, 2, EVENT_MISSING),
    "newest event deleted": (_delete_last, "last", EVENT_MISSING),
    "two events' numbers swapped": (_swap_seq, 2, ORDER_CHANGED),
    "two events' ids swapped": (_swap_ids, 3, ORDER_CHANGED),
    "event added by hand": (_forge_an_event, "after", ANCHOR_MISMATCH),
}


# ----- the record itself, edited in the database ---------------------------------------------------------


async def _edit_concern(conn: AsyncConnection, cid: str) -> None:
    await _sql(conn, "UPDATE challenges SET concern = 'A milder concern.' WHERE id = :c", c=cid)


async def _edit_entries(conn: AsyncConnection, cid: str) -> None:
    key = await _key(conn, cid)
    stored = (await conn.execute(select(challenges.c.entries).where(challenges.c.id == cid))).scalar_one()
    entries = key.plain_json("challenges.entries", stored)
    assert entries and entries[0]["text"]
    softened = [{**entries[0], "text": "We answered in full 🙂."}, *entries[1:]]
    await conn.execute(
        challenges.update()
        .where(challenges.c.id == cid)
        .values(entries=key.json("challenges.entries", softened))
    )


async def _swap_concern_and_outcome(conn: AsyncConnection, cid: str) -> None:
    await _sql(
        conn,
        "UPDATE challenges SET concern = desired_outcome, desired_outcome = concern WHERE id = :c",
        c=cid,
    )


async def _concern_from_another_challenge(conn: AsyncConnection, cid: str) -> None:
    await _sql(
        conn,
        "UPDATE challenges SET concern = (SELECT concern FROM challenges WHERE id <> :c LIMIT 1) WHERE id = :c",
        c=cid,
    )


async def _garble_the_childs_name(conn: AsyncConnection, cid: str) -> None:
    name = (
        await conn.execute(select(child_details.c.name).where(child_details.c.challenge_id == cid))
    ).scalar_one()
    assert name.startswith("v1:")
    flipped = name[:20] + ("A" if name[20] != "A" else "B") + name[21:]
    await conn.execute(child_details.update().where(child_details.c.challenge_id == cid).values(name=flipped))


async def _reopen(conn: AsyncConnection, cid: str) -> None:
    await _sql(conn, "UPDATE challenges SET status = 'open' WHERE id = :c", c=cid)


async def _move_a_deadline(conn: AsyncConnection, cid: str) -> None:
    due = (
        await conn.execute(
            select(challenge_stages.c.due_at).where(
                challenge_stages.c.challenge_id == cid, challenge_stages.c.position == 0
            )
        )
    ).scalar_one()
    await conn.execute(
        challenge_stages.update()
        .where(challenge_stages.c.challenge_id == cid, challenge_stages.c.position == 0)
        .values(due_at=due + timedelta(days=7))
    )


async def _rename_a_party(conn: AsyncConnection, cid: str) -> None:
    role = (
        (await conn.execute(select(challenge_parties.c.role).where(challenge_parties.c.challenge_id == cid)))
        .scalars()
        .first()
    )
    await conn.execute(
        challenge_parties.update()
        .where(challenge_parties.c.challenge_id == cid, challenge_parties.c.role == role)
        .values(name="Somebody Else")
    )


async def _rename_the_child(conn: AsyncConnection, cid: str) -> None:
    await _sql(conn, "UPDATE child_details SET name = 'Another Inventedchild' WHERE challenge_id = :c", c=cid)


async def _delete_the_child(conn: AsyncConnection, cid: str) -> None:
    await _sql(conn, "DELETE FROM child_details WHERE challenge_id = :c", c=cid)


async def _replace_the_salt(conn: AsyncConnection, cid: str) -> None:
    await _sql(conn, "UPDATE challenges SET seal_salt = :s WHERE id = :c", c=cid, s="cd" * 16)


RECORD_EDITS: dict[str, tuple[Tamper, str]] = {
    "concern edited": (_edit_concern, "the challenge's row"),
    "an entry's text edited": (_edit_entries, "the challenge's row"),
    "concern and outcome ciphertexts swapped": (_swap_concern_and_outcome, "the challenge's row"),
    "concern copied from another challenge": (_concern_from_another_challenge, "the challenge's row"),
    "the child's name garbled": (_garble_the_childs_name, "the child's details"),
    "status edited": (_reopen, "the challenge's row"),
    "a stage's deadline moved": (_move_a_deadline, "its stages"),
    "a party renamed": (_rename_a_party, "its parties"),
    "the child renamed": (_rename_the_child, "the child's details"),
    "the child's details deleted": (_delete_the_child, "the child's details"),
    "the seal's salt replaced": (_replace_the_salt, ", ".join(PARTS.values())),
}


@pytest.mark.parametrize("how", list(RECORD_EDITS))
async def test_an_edit_of_the_record_itself_is_found_and_the_part_named(database: Database, how: str) -> None:
    repo, made = await _three_challenges(database)
    target = made[1]
    last = len(await repo.audit_events(target.id))
    tamper, part = RECORD_EDITS[how]
    async with database.transaction() as conn:
        await tamper(conn, target.id)
    result = await verify(database)
    assert [(b.where, b.seq, b.what, b.how) for b in result.breaks] == [
        (target.reference, last, RECORD_CHANGED, part)
    ]
    assert str(result.breaks[0]) == (
        f"{target.reference}: record changed since its last event (event {last}): {part}"
    )
    assert result.records == 3
    alone = await verify(database, target.reference)
    assert [str(b) for b in alone.breaks] == [str(result.breaks[0])]
    assert (await verify(database, made[0].reference)).ok


def test_every_column_of_the_record_is_sealed_or_operational() -> None:
    """A column added to the record's tables must be put in the seal or named operational, not left out unseen."""
    assert sorted(c.name for c in challenges.c) == sorted((*ROW_COLUMNS, *OPERATIONAL))
    assert not set(ROW_COLUMNS) & set(OPERATIONAL)
    for table, sealed in (
        (challenge_stages, STAGE_COLUMNS),
        (challenge_parties, PARTY_COLUMNS),
        (child_details, (*CHILD_COLUMNS, *CHILD_DERIVED)),
    ):
        assert sorted(c.name for c in table.c) == sorted(("challenge_id", *sealed)), table.name


def test_the_seal_encoding_is_fixed() -> None:
    """A seal written today must verify in ten years: the digests of a fixed record are fixed, and an instant
    digests the same in any time zone (PostgreSQL and SQLite read back UTC)."""
    at = datetime.fromisoformat("2026-11-23T10:00:00+00:00")
    row = {name: None for name in ROW_COLUMNS} | {"id": "c", "raised_at": at, "entries": [{"text": "é"}]}
    stage = {name: None for name in STAGE_COLUMNS} | {
        "position": 0,
        "number": 1,
        "started_at": at,
        "timescale_working_days": 5,
        "reminded": False,
        "breached": False,
        "steps_done": 0,
    }
    party = {"role": "raiser", "person_id": "p", "name": "A", "email": None, "phone": None, "note": None}
    child = {"name": "Robin", "date_of_birth": date(2018, 6, 1), "agency_reference": None}
    sealed = record_of("00" * 16, row, [stage], [party], child)
    assert sealed == Record(
        row="82ba89a901b465f3bc60ae1c99f4caad3e769519adcaff7ce581a18a6c1c4733",
        stages="f639d5b98d92d3258c05aa0bc58ce7a52580223bae23b2fa55b7e9ea46dec45f",
        parties="6ddf774031e6c1916fd2bdb01ed771a11525ba66a02e65b87bc9109602e6ca51",
        child="01d3c315faf435a66ca5517965ce6760fc38a63e1b61cc406744c18b4f4fff78",
    )
    london = at.astimezone(timezone(timedelta(hours=1)))
    assert record_of("00" * 16, row | {"raised_at": london}, [stage], [party], child) == sealed
    assert record_of("01" * 16, row, [stage], [party], child).child != sealed.child
    assert record_of("00" * 16, row, [stage], [party], None).child is None


@pytest.mark.parametrize("how", list(TAMPERING))
async def test_tampering_is_found_and_the_first_broken_event_named(database: Database, how: str) -> None:
    repo, made = await _three_challenges(database)
    target = made[1]
    last = len(await repo.audit_events(target.id))
    tamper, seq, what = TAMPERING[how]
    async with database.transaction() as conn:
        await tamper(conn, target.id)
    result = await verify(database)
    assert not result.ok
    assert len(result.breaks) == 1, result.breaks
    found = result.breaks[0]
    expected_seq = last if seq == "last" else last + 1 if seq == "after" else seq
    assert (found.where, found.seq, found.what) == (target.reference, expected_seq, what), str(found)
    assert str(found).startswith(f"{target.reference} event {expected_seq}: {what}: ")
    # Checking that challenge alone finds the same; the others still verify.
    alone = await verify(database, target.reference)
    assert [str(b) for b in alone.breaks] == [str(found)]
    assert (await verify(database, made[0].reference)).ok


async def test_a_challenge_deleted_outright_is_named_by_its_partnership_chain(database: Database) -> None:
    _, made = await _three_challenges(database)
    async with database.transaction() as conn:
        await _sql(conn, "DELETE FROM challenges WHERE id = :c", c=made[1].id)
    result = await verify(database)
    assert [(b.where, b.what, b.partnership_chain) for b in result.breaks] == [
        ("partnership durham", EVENT_MISSING, True)
    ]
    assert made[1].id in result.breaks[0].how


async def test_a_rewritten_or_missing_anchor_is_found(database: Database) -> None:
    _, made = await _three_challenges(database)
    async with database.transaction() as conn:
        await _sql(conn, "UPDATE audit_anchors SET event_seq = 1 WHERE seq = 3")
    result = await verify(database)
    assert {(b.where, b.seq, b.what) for b in result.breaks} >= {("partnership durham", 3, ANCHOR_MISMATCH)}
    async with database.transaction() as conn:
        await _sql(conn, "UPDATE audit_anchors SET event_seq = 2 WHERE seq = 3")  # back as it was
        await _sql(conn, "DELETE FROM audit_anchors WHERE seq = (SELECT max(seq) FROM audit_anchors)")
    result = await verify(database)
    assert ("partnership durham", ANCHOR_MISMATCH) in {(b.where, b.what) for b in result.breaks}
    assert (made[2].reference, ANCHOR_MISMATCH) in {(b.where, b.what) for b in result.breaks}


async def test_verifying_a_reference_that_does_not_exist_is_not_found(database: Database) -> None:
    await _three_challenges(database)
    for reference in ("DUR-2026-0999", "", "x" * 100, "DUR\x00"):
        with pytest.raises(NotFound):
            await verify(database, reference)


async def test_an_empty_database_verifies(database: Database) -> None:
    result = await verify(database)
    assert result.ok and result == Verification()


# ----- concurrency --------------------------------------------------------------------------------------


async def test_changes_to_many_challenges_at_once_keep_each_partnership_chain_linear(
    database: Database,
) -> None:
    """Raises and actions of different challenges of one partnership, all at once: on PostgreSQL they run in
    parallel transactions and queue on the partnership's head; none is lost, none forks the chain."""
    repo = ChallengeRepository(database, clock=FakeClock(MONDAY))
    engine = engine_for("durham")
    made = await asyncio.gather(*(repo.create("DUR", 2026, raising(engine)) for _ in range(6)))
    answers = [
        engine.apply(
            d.challenge,
            Respond(f"Answer {i}."),
            holder("durham", Role.CHALLENGED_PROFESSIONAL),
            MONDAY + timedelta(hours=1),
        )
        for i, d in enumerate(made)
    ]
    more = [repo.create("DUR", 2026, raising(engine)) for _ in range(4)]
    await asyncio.gather(*(repo.save(a, a.challenge.version - 1) for a in answers), *more)
    result = await verify(database)
    assert result.ok, result.breaks
    assert result.partnerships["durham"][0] == 16 and result.challenges == 10
    async with database.reading() as conn:
        anchors = (
            await conn.execute(
                select(audit_anchors.c.seq, audit_anchors.c.prev_hash, audit_anchors.c.hash).order_by(
                    audit_anchors.c.seq
                )
            )
        ).all()
    assert [a.seq for a in anchors] == list(range(1, 17))
    assert all(b.prev_hash == a.hash for a, b in itertools.pairwise(anchors))


async def test_a_change_waits_for_another_challenges_change_to_anchor_first(
    database: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    """One change holds the partnership's head (inside its transaction, after anchoring); a change to another
    challenge of the partnership waits for it (on PostgreSQL, blocked on its lock) and anchors after it."""
    repo = ChallengeRepository(database, clock=FakeClock(MONDAY))
    engine = engine_for("durham")
    first_c = (await repo.create("DUR", 2026, raising(engine))).challenge
    second_c = (await repo.create("DUR", 2026, raising(engine))).challenge
    professional = holder("durham", Role.CHALLENGED_PROFESSIONAL)
    first = engine.apply(first_c, Respond("One."), professional, MONDAY + timedelta(hours=1))
    second = engine.apply(second_c, Respond("Two."), professional, MONDAY + timedelta(hours=1))
    inside, release = asyncio.Event(), asyncio.Event()
    holder_pid: list[int] = []
    real_anchor = storage.chain.anchor

    async def held_anchor(conn: AsyncConnection, *args: Any) -> None:
        await real_anchor(conn, *args)
        if not inside.is_set():
            if database.dialect == "postgresql":
                holder_pid.append(int((await conn.execute(text("SELECT pg_backend_pid()"))).scalar_one()))
            inside.set()
            await release.wait()

    monkeypatch.setattr(storage.chain, "anchor", held_anchor)
    one = asyncio.create_task(repo.save(first, first_c.version))
    await asyncio.wait_for(inside.wait(), 10)
    two = asyncio.create_task(repo.save(second, second_c.version))
    if database.dialect == "postgresql":
        await until_blocked_by(database, holder_pid[0])
    else:
        await asyncio.sleep(0.3)
    assert not two.done()
    release.set()
    await asyncio.wait_for(asyncio.gather(one, two), 20)
    result = await verify(database)
    assert result.ok, result.breaks
    async with database.reading() as conn:
        order = (
            (await conn.execute(select(audit_anchors.c.challenge_id).order_by(audit_anchors.c.seq)))
            .scalars()
            .all()
        )
    assert order == [first_c.id, second_c.id, first_c.id, second_c.id]


# ----- an upgraded database ------------------------------------------------------------------------------


async def test_events_stored_before_the_chain_existed_are_chained_by_the_migration(
    database: Database,
) -> None:
    """Back to the schema before the chain (its columns and tables dropped), then up again: the migration
    chains the events in the order they were written and anchors each challenge, and verify passes."""
    await _three_challenges(database)
    await _worked_through(database, FakeClock(MONDAY + timedelta(days=1)))
    before = await verify(database)

    def migrate(conn: Any, target: str, up: bool) -> None:
        config = alembic_config()
        config.attributes["connection"] = conn
        (command.upgrade if up else command.downgrade)(config, target)

    async with database.transaction() as conn:
        await conn.run_sync(migrate, "0005", False)
    async with database.transaction() as conn:
        columns = {
            c["name"]
            for c in await conn.run_sync(
                lambda sync: __import__("sqlalchemy").inspect(sync).get_columns("audit_events")
            )
        }
        assert "hash" not in columns
        await conn.run_sync(migrate, "head", True)
    after = await verify(database)
    assert after.ok, after.breaks
    assert (after.challenges, after.records, after.events) == (before.challenges, 4, before.events)
    assert after.partnerships["durham"][0] == 4  # one anchor per challenge
    # Each anchor the migration made seals the record as it stood: an edit after it is found...
    async with database.reading() as conn:
        first = (
            (await conn.execute(select(challenges.c.id).order_by(challenges.c.reference))).scalars().first()
        )
    assert first is not None
    async with database.transaction() as conn:
        await _rename_the_child(conn, first)
    assert [b.how for b in (await verify(database)).breaks] == ["the child's details"]
    async with database.transaction() as conn:
        await _sql(conn, "UPDATE child_details SET name = :n WHERE challenge_id = :c", n=CHILD.name, c=first)
    # ...and changes after it seal the record anew, on the partnership chain the migration left.
    service = _service(database, FakeClock(MONDAY + timedelta(days=2)))
    c = (
        await service.raise_challenge(holder("durham", Role.RAISER), "durham", raise_form("durham"))
    ).challenge
    answered = await service.act(
        c, c.version, Respond("Seen."), holder("durham", Role.CHALLENGED_PROFESSIONAL)
    )
    assert answered.outcome == "applied", answered.notice
    result = await verify(database)
    assert result.ok and result.records == 5, result.breaks
