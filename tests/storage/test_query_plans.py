"""The scheduler's and the bot's frequent questions are answered through indexes, on both databases.

Each test runs the repository's own statement (captured as it executes) under the database's query planner.
Every query of a pass of the deadline clock (`Scheduler.run_once`) and of its "when to wake next" is here, so
that its cost follows the work due, not the number of challenges stored (`bench/due_scan.py` times them).
"""

from __future__ import annotations

from datetime import timedelta

from process.policy import Role
from storage.challenges import ChallengeRepository
from storage.db import Database
from storage.directory import DirectoryStore
from storage.drafts import DraftStore
from storage.outbox import Outbox
from storage.patterns import PatternStore
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


async def test_the_next_wake_reads_the_first_entry_of_the_open_due_index_without_sorting(
    repo: ChallengeRepository, database: Database
) -> None:
    await _raise(repo)
    plan = await query_plan(database, repo.next_due_at, "SELECT challenges.next_due_at")
    assert "ix_challenges_open_due" in plan
    assert "TEMP B-TREE" not in plan and "Sort" not in plan


async def test_the_next_outbox_attempt_is_read_from_the_unsent_index(
    repo: ChallengeRepository, database: Database
) -> None:
    await _raise(repo)
    plan = await query_plan(database, Outbox(database).next_attempt_at, "SELECT outbox.next_attempt_at")
    assert "ix_outbox_unsent" in plan
    assert "TEMP B-TREE" not in plan and "Sort" not in plan


async def test_the_pattern_watch_reads_recent_raises_through_the_policy_raised_index(
    repo: ChallengeRepository, database: Database
) -> None:
    await _raise(repo)
    store = PatternStore(database)
    since = MONDAY - timedelta(days=180)
    plan = await query_plan(database, lambda: store.raised_since("durham", since), "challenges.raised_at >")
    assert "ix_challenges_policy_id_raised_at_watched" in plan
    if database.is_sqlite:  # every column read is in the index: the wide rows are never visited
        assert "COVERING INDEX ix_challenges_policy_id_raised_at_watched" in plan
    plan = await query_plan(database, lambda: store.newest_raised("durham"), "challenges.raised_at DESC")
    assert "ix_challenges_policy_id_raised_at_watched" in plan
    assert "TEMP B-TREE" not in plan and "Sort" not in plan


async def test_the_pattern_watch_reads_only_the_patterns_of_its_look_back_through_their_index(
    repo: ChallengeRepository, database: Database
) -> None:
    await _raise(repo)
    store = PatternStore(database)
    since = MONDAY - timedelta(days=180)
    plan = await query_plan(
        database, lambda: store.last_triggers("durham", since), "pattern_alerts.window_end >"
    )
    assert "ix_pattern_alerts_policy_id_window_end" in plan


async def test_the_clocks_purge_of_drafts_reads_their_expiry_and_end_indexes(database: Database) -> None:
    drafts = DraftStore(database)
    await drafts.start("someone", "child", MONDAY, timedelta(days=7))
    plan = await query_plan(database, lambda: drafts.purge(MONDAY), "UPDATE raise_drafts")
    # Past their expiry, or open (at most one a person): never the rows of ended drafts.
    assert "ix_raise_drafts_expires_at" in plan or "ix_raise_drafts_open_person" in plan
    plan = await query_plan(database, lambda: drafts.purge(MONDAY), "DELETE FROM raise_drafts")
    assert "ix_raise_drafts_ended_at" in plan
