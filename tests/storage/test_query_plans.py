"""The scheduler's and the bot's frequent questions are answered through indexes, on both databases.

Each test runs the repository's own statement (captured as it executes) under the database's query planner.
"""

from __future__ import annotations

from datetime import timedelta

from process.policy import Role
from storage.challenges import ChallengeRepository
from storage.db import Database
from storage.directory import DirectoryStore
from storage.outbox import Outbox
from tests.support.clock import FakeClock
from tests.support.database import query_plan
from tests.support.directory import MONDAY, aad, engine_for, holder, invented_directory, raising


async def _raise(repo: ChallengeRepository) -> None:
    await repo.create("DUR", 2026, raising(engine_for("durham")))


async def test_due_before_reads_only_the_open_due_index(
    repo: ChallengeRepository, database: Database
) -> None:
    await _raise(repo)
    plan = await query_plan(database, lambda: repo.due_before(MONDAY + timedelta(days=3)), "next_due_at <=")
    assert "ix_challenges_open_due" in plan


async def test_scheduler_claims_read_the_open_due_index(
    repo: ChallengeRepository, database: Database
) -> None:
    await _raise(repo)
    plan = await query_plan(
        database, lambda: repo.claim_due("w", MONDAY + timedelta(days=3)), "UPDATE challenges"
    )
    assert "ix_challenges_open_due" in plan


async def test_outbox_claims_read_the_unsent_index(
    repo: ChallengeRepository, database: Database, clock: FakeClock
) -> None:
    await _raise(repo)
    plan = await query_plan(database, lambda: Outbox(database).claim("w", clock.now), "UPDATE outbox")
    assert "ix_outbox_unsent" in plan


async def test_a_reference_is_looked_up_through_its_case_insensitive_index(
    repo: ChallengeRepository, database: Database
) -> None:
    await _raise(repo)
    plan = await query_plan(
        database, lambda: repo.get_by_reference("dur-2026-0001"), "upper(challenges.reference)"
    )
    assert "ix_challenges_reference_upper" in plan


async def test_a_persons_challenges_are_found_through_the_parties_index(
    repo: ChallengeRepository, database: Database
) -> None:
    await _raise(repo)
    raiser = holder("durham", Role.RAISER)
    plan = await query_plan(database, lambda: repo.list_for_person(raiser), "challenge_parties.person_id = ")
    assert "ix_challenge_parties_person_id" in plan


async def test_a_person_is_found_by_teams_id_through_its_index(database: Database) -> None:
    store = DirectoryStore(database)
    await store.replace_all(invented_directory())
    plan = await query_plan(
        database, lambda: store.person_by_aad(aad("durham", "raiser")), "lower(people.aad_object_id)"
    )
    assert "ix_people_aad_object_id_lower" in plan
