"""A change read and decided in one turn is stored by writing what it altered: the child's details, parties and
stages only when the change touched them, and always the row, the audit trail and the seal."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import replace
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import delete, event, func, select, update

from process.challenge import Action, Challenge, ChildDetails, Decision, Escalate, Respond
from process.engine import Engine
from process.policy import Role
from storage.challenges import ChallengeRepository
from storage.crypto import CHALLENGE, known_key, shred
from storage.db import Database
from storage.errors import ConflictError
from storage.schema import challenges, data_keys
from storage.verify import verify
from tests.support.directory import MONDAY, engine_for, holder, raising

CHILD_TABLES = ("child_details", "challenge_parties", "challenge_stages")


@contextmanager
def statements(database: Database) -> Iterator[list[str]]:
    seen: list[str] = []

    def record(_conn: Any, _cursor: Any, statement: str, *_: Any) -> None:
        seen.append(" ".join(statement.split()))

    event.listen(database.engine.sync_engine, "before_cursor_execute", record)
    try:
        yield seen
    finally:
        event.remove(database.engine.sync_engine, "before_cursor_execute", record)


def writes_to(seen: list[str], table: str) -> list[str]:
    return [s for s in seen if s.startswith(("INSERT", "UPDATE", "DELETE")) and f" {table} " in f"{s} "]


async def _act(
    repo: ChallengeRepository, engine: Engine, c: Challenge, action: Action, who: str, hours: int
) -> Challenge:
    decision = engine.apply(c, action, who, MONDAY + timedelta(hours=hours))
    await repo.save(decision, c.version, previous=c)
    return decision.challenge


async def _raised(repo: ChallengeRepository) -> tuple[Engine, Challenge]:
    """A Durham challenge as raised, and its procedure's engine."""
    engine = engine_for("durham")
    return engine, (await repo.create("DUR", 2026, raising(engine))).challenge


async def _raised_and_answered(repo: ChallengeRepository) -> tuple[Challenge, Decision]:
    """A Durham challenge as raised, and the decision of the challenged professional's response to it."""
    engine, c = await _raised(repo)
    decision = engine.apply(
        c, Respond("Noted."), holder("durham", Role.CHALLENGED_PROFESSIONAL), MONDAY + timedelta(hours=1)
    )
    return c, decision


async def test_a_response_writes_no_child_party_or_stage_row_and_reads_back_the_same(
    repo: ChallengeRepository, database: Database
) -> None:
    engine, c = await _raised(repo)
    with statements(database) as seen:
        answered = await _act(
            repo,
            engine,
            c,
            Respond("Report attached 🙂 — diolch"),
            holder("durham", Role.CHALLENGED_PROFESSIONAL),
            1,
        )
    assert all(writes_to(seen, table) == [] for table in CHILD_TABLES), seen
    assert writes_to(seen, "challenges") and writes_to(seen, "audit_events")
    assert await repo.get(c.id) == answered
    assert (await verify(database)).ok


async def test_an_escalation_writes_the_stages_it_changed(
    repo: ChallengeRepository, database: Database
) -> None:
    engine, c = await _raised(repo)
    with statements(database) as seen:
        escalated = await _act(repo, engine, c, Escalate("No answer."), holder("durham", Role.RAISER), 1)
    assert escalated.stage == 2 and len(escalated.stages) == 2
    assert writes_to(seen, "challenge_stages")
    assert writes_to(seen, "child_details") == []
    stored = await repo.get(c.id)
    assert stored == escalated and stored is not None and stored.parties == escalated.parties
    assert (await verify(database)).ok


async def test_changed_child_details_and_parties_are_written(
    repo: ChallengeRepository, database: Database
) -> None:
    c, decision = await _raised_and_answered(repo)
    # What a change to the child's details or the parties would look like to storage.
    others = {role: contact for role, contact in c.parties.items() if role != Role.CHALLENGED_LINE_MANAGER}
    changed = replace(
        decision.challenge,
        child=ChildDetails(name="Ffion Inventedchild", agency_reference="X-1"),
        parties=others,
    )
    with statements(database) as seen:
        await repo.save(replace(decision, challenge=changed), c.version, previous=c)
    assert writes_to(seen, "child_details") and writes_to(seen, "challenge_parties")
    assert writes_to(seen, "challenge_stages") == []
    stored = await repo.get(c.id)
    assert stored == changed and stored is not None and stored.child.name == "Ffion Inventedchild"
    assert Role.CHALLENGED_LINE_MANAGER not in stored.parties
    assert (await verify(database)).ok


async def test_without_what_was_read_everything_is_written_as_before(
    repo: ChallengeRepository, database: Database
) -> None:
    c, decision = await _raised_and_answered(repo)
    with statements(database) as seen:
        await repo.save(decision, c.version)
    assert all(writes_to(seen, table) for table in CHILD_TABLES)
    assert await repo.get(c.id) == decision.challenge
    assert (await verify(database)).ok


async def test_a_key_this_process_has_read_is_not_read_again_for_a_change_or_its_card(
    repo: ChallengeRepository, database: Database
) -> None:
    engine, c = await _raised(repo)
    with statements(database) as seen:
        read = await repo.get(c.id)
        assert read is not None
        await _act(repo, engine, read, Respond("Noted."), holder("durham", Role.CHALLENGED_PROFESSIONAL), 1)
        await repo.audit_events(c.id)
    assert [s for s in seen if "FROM data_keys" in s] == []


async def test_a_key_shredded_elsewhere_cannot_carry_a_change_decided_before(
    repo: ChallengeRepository, database: Database
) -> None:
    """Another process's purge deletes the data key and moves the challenge on a version: this process still
    knows the key, but a change decided on the version it read is refused, so nothing is written under it."""
    engine, c = await _raised(repo)
    async with database.transaction() as conn:
        await conn.execute(delete(data_keys).where(data_keys.c.owner_id == c.id))
        await conn.execute(update(challenges).where(challenges.c.id == c.id).values(version=c.version + 1))
    decision = engine.apply(
        c, Respond("Too late."), holder("durham", Role.CHALLENGED_PROFESSIONAL), MONDAY + timedelta(hours=1)
    )
    with pytest.raises(ConflictError):
        await repo.save(decision, c.version, previous=c)
    async with database.reading() as conn:
        assert (
            await conn.scalar(select(func.count()).select_from(data_keys).where(data_keys.c.owner_id == c.id))
            == 0
        )


async def test_shredding_forgets_the_key_here(repo: ChallengeRepository, database: Database) -> None:
    _, c = await _raised(repo)
    assert known_key(CHALLENGE, c.id) is not None
    async with database.transaction() as conn:
        await shred(conn, CHALLENGE, [c.id])
    assert known_key(CHALLENGE, c.id) is None
