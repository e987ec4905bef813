"""Raising a challenge as people really click: twice at once, twice 0.2 s apart, from an old card, after a
day away, with strange text. Runs on SQLite and on PostgreSQL.

Each press comes through its own botbuilder TestAdapter (as two HTTP requests would), for the same person in
the same 1:1 chat. Alex Wilber (IRO) raises against Megan Bowen (health visitor), both of the invented demo
directory; the children are invented too.
"""

from __future__ import annotations

import asyncio
import logging
import re
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from botbuilder.core import ConversationState
from sqlalchemy import func, select

from bot.config import ConfigError, Settings
from bot.notifier import DrainReport
from bot.scheduler import Scheduler
from bot.teams_bot import ChallengeBot
from bot.wiring import conversation_recorder, make_service
from cards import verbs as v
from dialogs.service import ChallengeService
from process.challenge import ChildDetails, Decision, RaiseRequest
from process.directory_file import DEMO_DIRECTORY, load_directory_file
from storage.bot_state import SqlStorage
from storage.challenges import ChallengeRepository
from storage.conversations import ConversationStore
from storage.db import Database
from storage.directory import DirectoryStore
from storage.drafts import DraftStore
from storage.errors import AlreadyRaised
from storage.schema import challenges, metadata, outbox, raise_drafts
from tests.cardcheck import assert_valid_card
from tests.support.clock import FakeClock
from tests.teams.harness import (
    CHILD,
    Person,
    execute_data,
    fill_rochdale_form_up_to_urgency,
    texts,
    verbs,
    walk,
)

ALEX = "00000000-0000-0000-0000-0000000000020"
MEGAN = "00000000-0000-0000-0000-0000000000021"
STRANGER = "99999999-0000-0000-0000-000000000099"

#: Monday 23 November 2026, 10:00 GMT.
NOW = datetime(2026, 11, 23, 10, 0, tzinfo=UTC)

CHALLENGED = {"challenged_agency_id": "health_visiting", "challenged_person_id": "megan"}
ISSUE = {
    "issue_category": "lack_of_report",
    "concern": "No health report was sent to the review conference.",
    "desired_outcome": "A report shared with the family before the next review.",
}
OUT_OF_DATE = "That card was out of date"
#: How many presses of "Confirm and raise" arrive at the same moment.
CONFIRMS_AT_ONCE = 10


@dataclass
class Raising:
    """The bot on one database, with a clock the test moves and a record of what was committed."""

    database: Database
    bot: ChallengeBot
    service: ChallengeService
    drafts: DraftStore
    clock: FakeClock
    committed: list[Decision] = field(default_factory=list)

    def person(self, aad_object_id: str = ALEX, name: str = "Alex Wilber") -> Person:
        """Another window of the same person's 1:1 chat: a press through it is a separate request."""
        return Person(self.bot, name, aad_object_id, conversation_id=f"a:personal-{aad_object_id}")

    async def count(self, table: Any) -> int:
        async with self.database.reading() as conn:
            return int((await conn.execute(select(func.count()).select_from(table))).scalar_one())

    async def tick(self) -> None:
        """One pass of the deadline clock, as the running bot and `challenge-bot tick` do."""

        class NoDelivery:
            async def drain(self, _now: datetime) -> DrainReport:
                return DrainReport()

        scheduler = Scheduler(self.service, NoDelivery(), worker_id="test", drafts=self.drafts)  # type: ignore[arg-type]
        await scheduler.run_once(self.clock())


@pytest.fixture
async def raising(database: Database) -> AsyncIterator[Raising]:
    await DirectoryStore(database).replace_all(load_directory_file(DEMO_DIRECTORY))
    clock = FakeClock(NOW)
    settings = Settings(database_url="sqlite+aiosqlite:///unused.db", directory_file=None)
    service = make_service(settings, database, clock=clock)
    drafts = DraftStore(database)
    bot = ChallengeBot(
        service,
        ConversationState(SqlStorage(database)),
        conversation_recorder(ConversationStore(database)),
        drafts=drafts,
        draft_ttl=settings.draft_ttl,
    )
    found = Raising(database, bot, service, drafts, clock)

    async def record(decision: Decision) -> None:
        found.committed.append(decision)

    service.on_commit = record
    yield found


async def to_review(person: Person) -> dict[str, Any]:
    """Alex fills Durham's form up to its review card."""
    card = await person.say_card("raise")
    card = await person.press_on(card, v.RAISE_NEXT, policy_id="durham")
    card = await person.press_on(card, v.RAISE_NEXT, **CHILD)
    card = await person.press_on(card, v.RAISE_NEXT, **CHALLENGED)
    card = await person.press_on(card, v.RAISE_NEXT, **ISSUE)
    assert v.RAISE_CONFIRM in verbs(card), texts(card)
    return card


async def at_once(
    raising: Raising, card: dict[str, Any], verb: str, n: int, **inputs: Any
) -> list[dict[str, Any]]:
    """`n` presses of one button of one card, all at the same moment."""
    windows = [raising.person() for _ in range(n)]
    return list(await asyncio.gather(*(w.press_on(card, verb, **inputs) for w in windows)))


async def apart(raising: Raising, card: dict[str, Any], verb: str, **inputs: Any) -> list[dict[str, Any]]:
    """The same button pressed twice, 0.2 s apart."""
    first = await raising.person().press_on(card, verb, **inputs)
    await asyncio.sleep(0.2)
    second = await raising.person().press_on(card, verb, **inputs)
    return [first, second]


def references(card: dict[str, Any]) -> set[str]:
    """The challenge references a card shows."""
    return set(re.findall(r"DUR-\d{4}-\d{4}", texts(card)))


# ----- 1. raising twice ---------------------------------------------------------------------------------


@pytest.mark.parametrize("press", ["at_once", "apart"])
async def test_confirm_pressed_twice_raises_one_challenge_and_tells_people_once(
    raising: Raising, press: str
) -> None:
    review = await to_review(raising.person())
    if press == "at_once":
        answers = await at_once(raising, review, v.RAISE_CONFIRM, CONFIRMS_AT_ONCE)
    else:
        answers = await apart(raising, review, v.RAISE_CONFIRM)
    assert await raising.count(challenges) == 1
    assert len(raising.committed) == 1
    queued = await raising.count(outbox)
    assert queued == len(raising.committed[0].notifications) > 0
    for answer in answers:
        assert_valid_card(answer)
        assert references(answer) == {"DUR-2026-0001"}, texts(answer)
        assert "Challenge DUR-2026-0001 raised" in texts(answer)
        assert "went wrong" not in texts(answer)
    # The form is gone with the raise: nothing of it is left behind.
    assert await raising.count(raise_drafts) == 0


async def test_a_draft_can_only_be_raised_once_even_through_the_service(raising: Raising) -> None:
    await to_review(raising.person())
    draft = await raising.drafts.open_for("alex", raising.clock())
    assert draft is not None
    review = await raising.person().press(
        v.RAISE_CONFIRM, {"step": "review", "draftId": draft.id, "revision": draft.revision}
    )
    assert "DUR-2026-0001" in texts(review)
    request = RaiseRequest(
        child=ChildDetails("Again"),
        challenged_agency_id="health_visiting",
        challenged_person_id="megan",
        issue_category="lack_of_report",
        concern="Again.",
        desired_outcome="Once.",
    )
    with pytest.raises(AlreadyRaised):
        await raising.service.raise_challenge("alex", "durham", request, draft_id=draft.id)
    assert await raising.count(challenges) == 1


# ----- 2. every other raising button twice ---------------------------------------------------------------


@pytest.mark.parametrize("press", ["at_once", "apart"])
async def test_next_pressed_twice_moves_the_form_on_once(raising: Raising, press: str) -> None:
    card = await raising.person().say_card("raise")
    card = await raising.person().press_on(card, v.RAISE_NEXT, policy_id="durham")
    before = await raising.drafts.open_for("alex", raising.clock())
    assert before is not None and before.step == "child"
    if press == "at_once":
        answers = await at_once(raising, card, v.RAISE_NEXT, 4, **CHILD)
    else:
        answers = await apart(raising, card, v.RAISE_NEXT, **CHILD)
    after = await raising.drafts.open_for("alex", raising.clock())
    assert after is not None and after.step == "challenged" and after.revision == before.revision + 1
    for answer in answers:
        assert "Who you are challenging" in texts(answer)
        assert "went wrong" not in texts(answer)
    if press == "apart":
        # The second press of a double click is shown where the first left the form, without a warning.
        assert OUT_OF_DATE not in texts(answers[1])


@pytest.mark.parametrize("press", ["at_once", "apart"])
async def test_back_pressed_twice_goes_back_one_step(raising: Raising, press: str) -> None:
    review = await to_review(raising.person())
    answers = await (
        at_once(raising, review, v.RAISE_BACK, 3)
        if press == "at_once"
        else apart(raising, review, v.RAISE_BACK)
    )
    draft = await raising.drafts.open_for("alex", raising.clock())
    assert draft is not None and draft.step == "issue"
    for answer in answers:
        assert "The issue" in texts(answer)


@pytest.mark.parametrize("press", ["at_once", "apart"])
async def test_cancel_pressed_twice_cancels_once_and_says_so_both_times(raising: Raising, press: str) -> None:
    review = await to_review(raising.person())
    answers = await (
        at_once(raising, review, v.RAISE_CANCEL, 3)
        if press == "at_once"
        else apart(raising, review, v.RAISE_CANCEL)
    )
    for answer in answers:
        assert "Challenge not raised" in texts(answer), texts(answer)
    assert await raising.drafts.open_for("alex", raising.clock()) is None
    assert await raising.count(challenges) == 0


@pytest.mark.parametrize("press", ["at_once", "apart"])
async def test_raise_typed_or_pressed_twice_starts_one_form(raising: Raising, press: str) -> None:
    if press == "at_once":
        cards = await asyncio.gather(*(raising.person().say_card("raise") for _ in range(3)))
    else:
        cards = [await raising.person().say_card("raise")]
        await asyncio.sleep(0.2)
        cards.append(await raising.person().press(v.RAISE_START, {}))
    assert await raising.count(raise_drafts) == 1
    ids = {execute_data(card, v.RAISE_NEXT)["draftId"] for card in cards}
    assert len(ids) == 1


async def test_raise_during_a_draft_offers_to_continue_or_discard_it(raising: Raising) -> None:
    me = raising.person()
    await me.say_card("raise")
    await me.press_on(me.last_card, v.RAISE_NEXT, policy_id="durham")
    child_card = await me.press_on(me.last_card, v.RAISE_NEXT, **CHILD)
    offer = await me.say_card("raise")
    assert_valid_card(offer)
    assert "not finished" in texts(offer) and "Who you are challenging" in texts(offer)
    assert verbs(offer) == [v.RAISE_CONTINUE, v.RAISE_DISCARD]
    assert await raising.count(raise_drafts) == 1

    # Continue, twice at once and twice apart: the form where it was, answers kept.
    for answers in (
        await at_once(raising, offer, v.RAISE_CONTINUE, 2),
        await apart(raising, offer, v.RAISE_CONTINUE),
    ):
        for answer in answers:
            assert "Who you are challenging" in texts(answer)
    draft = await raising.drafts.open_for("alex", raising.clock())
    assert draft is not None and draft.child.name == CHILD["child_name"]

    # Discard, twice at once and again later: one new, empty form; the old one's answers are gone.
    answers = [
        *await at_once(raising, offer, v.RAISE_DISCARD, 2),
        await raising.person().press_on(offer, v.RAISE_DISCARD),
    ]
    fresh = await raising.drafts.open_for("alex", raising.clock())
    assert fresh is not None and fresh.id != draft.id and fresh.revision == 0
    for answer in answers:
        assert "The procedure" in texts(answer), texts(answer)
        assert execute_data(answer, v.RAISE_NEXT)["draftId"] == fresh.id
    assert await raising.count(raise_drafts) == 2  # the new one, and the old one's answers-free row
    await assert_nowhere(raising.database, CHILD["child_name"])
    # The old form's cards say it was cancelled, and change nothing.
    old = await raising.person().press_on(child_card, v.RAISE_NEXT, **CHALLENGED)
    assert "cancelled" in texts(old)
    again = await raising.person().press_on(offer, v.RAISE_CONTINUE)
    assert "cancelled" in texts(again)
    assert await raising.drafts.open_for("alex", raising.clock()) == fresh


# ----- 3. old cards ---------------------------------------------------------------------------------------


async def test_an_old_step_card_of_the_form_changes_nothing_and_shows_the_current_step(
    raising: Raising,
) -> None:
    me = raising.person()
    await me.say_card("raise")
    child_card = await me.press_on(me.last_card, v.RAISE_NEXT, policy_id="durham")
    await me.press_on(child_card, v.RAISE_NEXT, **CHILD)
    await me.press_on(me.last_card, v.RAISE_NEXT, **CHALLENGED)
    before = await raising.drafts.open_for("alex", raising.clock())
    # The child step's card, pressed again with another family's name: refused, the current step shown.
    for verb in (v.RAISE_NEXT, v.RAISE_BACK, v.RAISE_CANCEL):
        stale = await raising.person().press_on(child_card, verb, child_name="Other Family")
        assert OUT_OF_DATE in texts(stale) and "The issue" in texts(stale), (verb, texts(stale))
    after = await raising.drafts.open_for("alex", raising.clock())
    assert after == before
    card = await raising.person().press_on(
        await me.press_on(me.last_card, v.RAISE_NEXT, **ISSUE), v.RAISE_CONFIRM
    )
    stored = await raising.service.find("DUR-2026-0001")
    assert stored is not None and stored.child.name == CHILD["child_name"], texts(card)


@pytest.mark.parametrize("press", ["apart", "at_once", "at_once_reversed"])
async def test_a_correction_on_the_card_just_left_is_refused_as_out_of_date(
    raising: Raising, press: str
) -> None:
    # Next on the child step with one name, then Next on that same card with another: the second is not the
    # repeat of a double click, so it is refused as out of date and the draft keeps the first name.
    me = raising.person()
    await me.say_card("raise")
    child_card = await me.press_on(me.last_card, v.RAISE_NEXT, policy_id="durham")
    first = {**CHILD, "child_name": "Firstchild"}
    other = {**CHILD, "child_name": "Otherchild"}
    if press == "apart":
        answers = [await raising.person().press_on(child_card, v.RAISE_NEXT, **first)]
        await asyncio.sleep(0.2)
        answers.append(await raising.person().press_on(child_card, v.RAISE_NEXT, **other))
    else:
        both = (first, other) if press == "at_once" else (other, first)
        answers = list(
            await asyncio.gather(*(raising.person().press_on(child_card, v.RAISE_NEXT, **i) for i in both))
        )
    draft = await raising.drafts.open_for("alex", raising.clock())
    assert draft is not None and draft.step == "challenged"
    stored = draft.child.name
    assert stored in ("Firstchild", "Otherchild")
    if press == "apart":
        assert stored == "Firstchild"
    # One press was applied (shown the next step, no notice); the other, with the other name, was refused.
    warned = [a for a in answers if OUT_OF_DATE in texts(a)]
    assert len(warned) == 1, [texts(a) for a in answers]
    for answer in answers:
        assert_valid_card(answer)
        assert "Who you are challenging" in texts(answer)
    # Nothing more was written by the refused press: the review still names the applied child.
    await me.press_on(answers[-1], v.RAISE_NEXT, **CHALLENGED)
    after = await raising.drafts.open_for("alex", raising.clock())
    assert after is not None and after.child.name == stored
    review = await me.press_on(me.last_card, v.RAISE_NEXT, **ISSUE)
    assert v.RAISE_CONFIRM in verbs(review), texts(review)
    assert stored in texts(review) and ({"Firstchild", "Otherchild"} - {stored}).pop() not in texts(review)


@pytest.mark.parametrize("press", ["at_once", "apart"])
@pytest.mark.parametrize(
    ("name", "step", "stored"),
    [(CHILD["child_name"], "challenged", CHILD["child_name"]), ("Bad\ud800Name", "child", "")],
)
async def test_the_same_inputs_pressed_again_on_the_card_just_left_is_a_repeat(
    raising: Raising, press: str, name: str, step: str, stored: str
) -> None:
    me = raising.person()
    await me.say_card("raise")
    child_card = await me.press_on(me.last_card, v.RAISE_NEXT, policy_id="durham")
    # Inputs are compared as they are stored: a character that cannot be stored reads as empty both times
    # (the first press was refused at its step, and the second is its repeat, not a correction).
    inputs = {**CHILD, "child_name": name}
    answers = await (
        at_once(raising, child_card, v.RAISE_NEXT, 2, **inputs)
        if press == "at_once"
        else apart(raising, child_card, v.RAISE_NEXT, **inputs)
    )
    draft = await raising.drafts.open_for("alex", raising.clock())
    assert draft is not None and draft.revision == 2 and draft.step == step
    assert (draft.child.name or "") == stored
    for answer in answers:
        assert_valid_card(answer)
        assert OUT_OF_DATE not in texts(answer), texts(answer)
        assert "went wrong" not in texts(answer)


async def test_a_card_of_an_earlier_form_does_not_write_into_the_new_one(raising: Raising) -> None:
    # Issue 13: "submitting step 1 of an earlier card put that card's family name on a new challenge".
    me = raising.person()
    await me.say_card("raise")
    first_child = await me.press_on(me.last_card, v.RAISE_NEXT, policy_id="durham")
    await me.say_card("cancel")
    await me.say_card("raise")
    await me.press_on(me.last_card, v.RAISE_NEXT, policy_id="durham")
    await me.press_on(me.last_card, v.RAISE_NEXT, **CHILD)
    stale = await raising.person().press_on(first_child, v.RAISE_NEXT, child_name="Earlier Family")
    assert_valid_card(stale)
    assert "cancelled" in texts(stale)
    draft = await raising.drafts.open_for("alex", raising.clock())
    assert draft is not None and draft.child.name == CHILD["child_name"] and draft.step == "challenged"
    # A card carrying no form at all (sent before forms had ids) is out of date too.
    bare = await raising.person().press(v.RAISE_NEXT, {"step": "child"}, child_name="Earlier Family")
    assert OUT_OF_DATE in texts(bare) and "Who you are challenging" in texts(bare)
    assert (await raising.drafts.open_for("alex", raising.clock())) == draft


async def test_a_card_of_a_raised_form_shows_the_challenge_and_a_stranger_learns_nothing(
    raising: Raising,
) -> None:
    me = raising.person()
    review = await to_review(me)
    issue_card = await raising.person().press_on(review, v.RAISE_BACK)
    review = await me.press_on(issue_card, v.RAISE_NEXT, **ISSUE)
    await me.press_on(review, v.RAISE_CONFIRM)
    for card, verb in ((issue_card, v.RAISE_NEXT), (review, v.RAISE_BACK), (review, v.RAISE_CANCEL)):
        answer = await raising.person().press_on(card, verb)
        assert references(answer) == {"DUR-2026-0001"}, texts(answer)
    stranger = raising.person(STRANGER, "Unknown Person")
    assert "directory" in texts(await stranger.press_on(review, v.RAISE_CONFIRM))
    megan = raising.person(MEGAN, "Megan Bowen")
    answer = await megan.press_on(review, v.RAISE_CONFIRM)
    assert "DUR-" not in texts(answer) and "Robin" not in str(answer)
    assert "ended" in texts(answer)
    assert_valid_card(answer)
    assert await raising.count(challenges) == 1


# ----- 4. drafts expire -------------------------------------------------------------------------------------


async def assert_nowhere(database: Database, secret: str) -> None:
    """No text in any column of any table holds `secret`; on SQLite, not even the bytes of the database file
    and its write-ahead log (deleted rows are zeroed, and the log emptied of their old pages)."""
    async with database.reading() as conn:
        for table in metadata.sorted_tables:
            for row in await conn.execute(select(table)):
                assert secret not in repr(tuple(row)), f"{secret!r} is still in {table.name}"
    if database.is_sqlite:
        path = Path(str(database.engine.url.database))
        for file in (path, path.with_name(path.name + "-wal")):
            if file.exists():
                assert secret.encode() not in file.read_bytes(), f"{secret!r} is still in {file.name}"


async def test_a_raised_childs_details_are_in_child_details_only_and_never_in_the_log(
    raising: Raising, caplog: pytest.LogCaptureFixture
) -> None:
    # Everything at INFO, the level the bot logs at (`bot.server.configure_logging`), SQLAlchemy's statements
    # included (their parameters are hidden), while the form is filled, the challenge raised, the professional
    # opens it, and the deadline clock passes its deadline.
    caplog.set_level(logging.INFO)
    # Through caplog, so the level goes back when the test ends: left at INFO, every statement of every later
    # test in the process would be logged and kept by pytest's capture.
    caplog.set_level(logging.INFO, logger="sqlalchemy.engine")
    answer = await raising.person().press_on(await to_review(raising.person()), v.RAISE_CONFIRM)
    assert "Challenge DUR-2026-0001 raised" in texts(answer)
    megan = raising.person(MEGAN, "Megan Bowen")
    assert CHILD["child_name"] in texts(await megan.say_card("show DUR-2026-0001"))
    raising.clock.advance(days=3)
    await raising.tick()
    challenge_id = raising.committed[0].challenge.id
    assert any(challenge_id in record.getMessage() for record in caplog.records), "logs name the challenge"

    # Durham's form asks for the child's name only; whatever else was typed is looked for too.
    secrets = (CHILD["child_name"], "Inventedchild", CHILD["agency_reference"], CHILD["date_of_birth"])
    async with raising.database.reading() as conn:
        kept = (await conn.execute(select(metadata.tables["child_details"]))).one()
        assert kept.challenge_id == challenge_id and kept.name.startswith("v1:"), "kept there, encrypted"
        for table in metadata.sorted_tables:
            if table.name == "child_details":
                continue
            for row in await conn.execute(select(table)):
                for secret in secrets:
                    assert secret not in repr(tuple(row)), f"{secret!r} is in {table.name}"
    for record in caplog.records:
        logged = caplog.handler.format(record)
        for secret in secrets:
            assert secret not in logged, (secret, record.name, logged)
    stored = await ChallengeRepository(raising.database).get(challenge_id)
    assert stored is not None and stored.child.name == CHILD["child_name"], "and read back through its key"


async def test_a_draft_expires_after_its_time_and_its_child_is_deleted_everywhere(raising: Raising) -> None:
    name = "Morwenna Expiringchild"
    me = raising.person()
    await me.say_card("raise")
    await me.press_on(me.last_card, v.RAISE_NEXT, policy_id="durham")
    challenged_card = await me.press_on(me.last_card, v.RAISE_NEXT, **{**CHILD, "child_name": name})
    async with raising.database.reading() as conn:
        state = [repr(tuple(row)) for row in await conn.execute(select(metadata.tables["bot_state"]))]
    assert not any(name in row for row in state), "the child is not kept in bot state"

    raising.clock.advance(hours=23, minutes=59)
    await raising.tick()
    assert (await raising.drafts.open_for("alex", raising.clock())) is not None
    raising.clock.advance(minutes=2)
    await raising.tick()
    await assert_nowhere(raising.database, name)
    await assert_nowhere(raising.database, CHILD["agency_reference"])
    answer = await raising.person().press_on(challenged_card, v.RAISE_NEXT, **CHALLENGED)
    assert_valid_card(answer)
    assert "expired" in texts(answer) and "24 hours" in texts(answer)
    # The answers-free row is kept a while, so old cards can say so, then it goes too.
    assert await raising.count(raise_drafts) == 1
    raising.clock.advance(days=31)
    await raising.tick()
    assert await raising.count(raise_drafts) == 0
    # Typing raise starts afresh.
    assert "The procedure" in texts(await me.say_card("raise"))


async def test_a_draft_past_its_time_is_expired_when_next_pressed_even_before_the_purge(
    raising: Raising,
) -> None:
    me = raising.person()
    await me.say_card("raise")
    card = await me.press_on(me.last_card, v.RAISE_NEXT, policy_id="durham")
    raising.clock.advance(hours=25)
    answer = await me.press_on(card, v.RAISE_NEXT, **CHILD)
    assert "expired" in texts(answer)
    await assert_nowhere(raising.database, CHILD["child_name"])


def test_the_time_a_draft_is_kept_is_configured() -> None:
    assert Settings.from_env({}).draft_ttl == timedelta(hours=24)
    assert Settings.from_env({"DRAFT_TTL_HOURS": "4"}).draft_ttl == timedelta(hours=4)
    for bad in ("0", "-1", "lots", "100000"):
        with pytest.raises(ConfigError, match="DRAFT_TTL_HOURS"):
            Settings.from_env({"DRAFT_TTL_HOURS": bad})


# ----- 5. the form's own wording ----------------------------------------------------------------------------


def step_lines(card: dict[str, Any]) -> list[str]:
    return [n["text"] for n in walk(card) if isinstance(n.get("text"), str) and n["text"].startswith("Step ")]


@pytest.mark.parametrize(("policy_id", "total"), [("durham", 5), ("rochdale", 6)])
async def test_the_step_counter_is_true_from_the_first_step_to_the_review(
    raising: Raising, policy_id: str, total: int
) -> None:
    me = raising.person()
    first = await me.say_card("raise")
    assert step_lines(first) == ["Step 1 of 5 or 6, depending on the procedure"]
    seen = []
    card = await me.press_on(first, v.RAISE_NEXT, policy_id=policy_id)
    inputs = [
        CHILD,
        CHALLENGED
        if policy_id == "durham"
        else {"challenged_agency_id": "rochdale_school", "challenged_person_id": "omar"},
    ]
    issue = dict(ISSUE) if policy_id == "durham" else {**ISSUE, "issue_category": "procedures_not_applied"}
    for step_inputs in [*inputs, issue, {"urgent": "false", "start_stage": "1"}][: total - 2]:
        seen += step_lines(card)
        card = await me.press_on(card, v.RAISE_NEXT, **step_inputs)
    seen += step_lines(card)
    assert v.RAISE_CONFIRM in verbs(card)
    assert [line.split(" ·")[0] for line in seen] == [f"Step {n} of {total}" for n in range(2, total + 1)]


async def test_a_date_of_birth_in_the_future_says_what_is_wrong(raising: Raising) -> None:
    me = raising.person()
    await me.say_card("raise")
    card = await me.press_on(me.last_card, v.RAISE_NEXT, policy_id="rochdale")
    born = next(n for n in walk(card) if n.get("id") == "date_of_birth")
    # Teams checks `max` itself; without an errorMessage the press does nothing and says nothing.
    assert born["max"] == "2026-11-23"
    assert "cannot be after today (23 Nov 2026)" in born["errorMessage"]
    assert_valid_card(card)
    refused = await me.press_on(card, v.RAISE_NEXT, **{**CHILD, "date_of_birth": "2027-01-01"})
    assert "future" in texts(refused).lower() and "The child" in texts(refused)


@pytest.mark.parametrize(
    ("step_inputs", "field", "limit"),
    [
        ({"concern": "c" * 4001}, "concern", "4,000"),
        ({"desired_outcome": "ȳ" * 4500}, "desired_outcome", "4,000"),
    ],
)
async def test_a_text_over_its_limit_is_refused_with_the_limit_never_cut(
    raising: Raising, step_inputs: dict[str, str], field: str, limit: str
) -> None:
    me = raising.person()
    await me.say_card("raise")
    await me.press_on(me.last_card, v.RAISE_NEXT, policy_id="durham")
    await me.press_on(me.last_card, v.RAISE_NEXT, **CHILD)
    issue_card = await me.press_on(me.last_card, v.RAISE_NEXT, **CHALLENGED)
    for element in walk(issue_card):
        if element.get("type") == "Input.Text":
            assert "maxLength" not in element and "characters" in element.get("placeholder", ""), element
    refused = await me.press_on(issue_card, v.RAISE_NEXT, **{**ISSUE, **step_inputs})
    assert f"the limit is {limit}" in texts(refused) and "The issue" in texts(refused)
    kept = next(n for n in walk(refused) if n.get("id") == field)
    assert kept["value"] == step_inputs[field]  # nothing cut: the person shortens it themselves


async def test_a_name_over_its_limit_is_refused_with_the_limit(raising: Raising) -> None:
    me = raising.person()
    await me.say_card("raise")
    await me.press_on(me.last_card, v.RAISE_NEXT, policy_id="durham")
    refused = await me.press_on(me.last_card, v.RAISE_NEXT, **{**CHILD, "child_name": "N" * 201})
    assert "201 characters; the limit is 200" in texts(refused)


async def test_the_review_card_names_who_is_to_act(raising: Raising) -> None:
    review = await to_review(raising.person())
    told = {f["title"]: f["value"] for n in walk(review) if n.get("type") == "FactSet" for f in n["facts"]}
    assert told["To act"] == "Megan Bowen \\(Professional\\)"
    assert told["Copied in"] == "Business Manager for QRT"


def told_facts(card: dict[str, Any]) -> dict[str, str]:
    """The review card's facts after "Who will be told", markdown escapes removed."""
    facts = [f for n in walk(card) if n.get("type") == "FactSet" for f in n["facts"]]
    return {f["title"]: f["value"].replace("\\", "") for f in facts}


def names_told(told: dict[str, str]) -> set[str]:
    """The names "Who will be told" gives, "Name (part)" each, in the lines naming people."""
    lines = ("To act", "Consulted", "Informed", "Copied in", "Also asked to act", "Also told")
    return {n for line in lines for n in re.findall(r"(?:^|, | and )([^,()]+?) \(", told.get(line, ""))}


@pytest.mark.parametrize("lead", ["", "chair.invented@example.org"])
async def test_the_review_card_names_only_those_told_and_says_where_a_part_has_nobody(
    raising: Raising, lead: str
) -> None:
    # Ruth raises under Rochdale's procedure against Omar. Rochdale consults both safeguarding leads at stage 1;
    # the directory has nobody else for Ruth's agency's (she is its lead, and nobody is their own lead), so
    # that part is said to have nobody, not listed as consulted. The lead professional is named on the form
    # (an email outside the directory: a mailbox) or left out.
    ruth = raising.person("00000000-0000-0000-0000-0000000000026", "Ruth Okafor")
    await fill_rochdale_form_up_to_urgency(ruth, named_lead_professional=lead)
    review = await ruth.press_on(ruth.last_card, v.RAISE_NEXT, urgent="false", start_stage="1")
    assert v.RAISE_CONFIRM in verbs(review), texts(review)
    assert_valid_card(review)
    told = told_facts(review)
    assert told["To act"] == "Omar Aziz (Practitioner challenged)"
    assert told["Consulted"] == "Sam Taylor (Agency designated safeguarding lead)"
    assert told["Raiser's designated safeguarding lead"] == (
        "nobody is recorded in the directory who can hold this part, so nobody is consulted in it; ask the "
        "RBSCP business unit to add them"
    )
    if lead:
        assert told["Informed"] == f"{lead} (Lead professional / chair)"
    else:
        assert "Informed" not in told
        assert told["Lead professional / chair"].startswith("nobody is named on this form")
    assert "Also told" not in told and "Also asked to act" not in told
    named = names_told(told)
    # Raised: exactly the people the review card named are told.
    await ruth.press_on(review, v.RAISE_CONFIRM)
    assert len(raising.committed) == 1
    assert {n.recipient.name for n in raising.committed[0].notifications} == named
    assert named == {"Omar Aziz", "Sam Taylor", *([lead] if lead else [])}


async def test_the_review_card_names_a_mailbox_told_and_everyone_else_told_or_asked(raising: Raising) -> None:
    # A police officer not in the directory, challenged by name and email: the police's only contact is a
    # mailbox, consulted as the agency's safeguarding lead, so the review card names that mailbox.
    ruth = raising.person("00000000-0000-0000-0000-0000000000026", "Ruth Okafor")
    await fill_rochdale_form_up_to_urgency(
        ruth,
        {
            "challenged_agency_id": "rochdale_police",
            "challenged_person_id": "not_listed",
            "challenged_name": "Pat Inventedofficer",
            "challenged_email": "pat.officer@example.org",
        },
    )
    review = await ruth.press_on(ruth.last_card, v.RAISE_NEXT, urgent="false", start_stage="1")
    assert v.RAISE_CONFIRM in verbs(review), texts(review)
    told = told_facts(review)
    assert told["To act"] == "Pat Inventedofficer (Practitioner challenged)"
    assert told["Consulted"] == "Public Protection Unit (Agency designated safeguarding lead)"
    await ruth.press_on(review, v.RAISE_CONFIRM)
    names = {n.recipient.name for n in raising.committed[0].notifications}
    assert names == names_told(told) == {"Pat Inventedofficer", "Public Protection Unit"}


async def test_the_review_card_of_an_urgent_start_names_those_asked_to_act_and_told(raising: Raising) -> None:
    # Straight to Rochdale's stage 3: the raiser's senior manager acts for her side too, and the school's stage 3
    # escalation contact (a mailbox) and the professional challenged are told, though they hold no stage 3 part.
    ruth = raising.person("00000000-0000-0000-0000-0000000000026", "Ruth Okafor")
    await fill_rochdale_form_up_to_urgency(ruth)
    review = await ruth.press_on(
        ruth.last_card,
        v.RAISE_NEXT,
        urgent="true",
        start_stage="3",
        informal_evidence="Spoke twice; no change.",
    )
    assert v.RAISE_CONFIRM in verbs(review), texts(review)
    told = told_facts(review)
    assert told["To act"] == "Helen Price (Agency senior manager)"
    assert told["Also asked to act"] == "Carla Jones (Raiser's senior manager and Head of Safeguarding)"
    assert told["Also told"] == (
        "Education Safeguarding Officer (Agency escalation contact) and Omar Aziz (Practitioner challenged)"
    )
    assert told["Raiser's designated safeguarding lead"].startswith("nobody is recorded in the directory")
    named = names_told(told)
    await ruth.press_on(review, v.RAISE_CONFIRM)
    assert {n.recipient.name for n in raising.committed[0].notifications} == named
    assert {n.recipient.name for n in raising.committed[0].notifications if n.action_needed} == {
        "Helen Price",
        "Carla Jones",
    }


@pytest.mark.parametrize(
    "name",
    [
        "Dafydd ap Gwyneth-Llŷr 🌈",
        "**Bold** [link](http://x.invalid) _Family_",
        "Siân Ffŵl <b>",
    ],
)
async def test_strange_but_real_names_are_kept_exactly_and_shown_escaped(raising: Raising, name: str) -> None:
    me = raising.person()
    await me.say_card("raise")
    await me.press_on(me.last_card, v.RAISE_NEXT, policy_id="durham")
    await me.press_on(me.last_card, v.RAISE_NEXT, **{**CHILD, "child_name": name})
    draft = await raising.drafts.open_for("alex", raising.clock())
    assert draft is not None and draft.child.name == name
    await me.press_on(me.last_card, v.RAISE_NEXT, **CHALLENGED)
    review = await me.press_on(me.last_card, v.RAISE_NEXT, **ISSUE)
    assert_valid_card(review)
    await me.press_on(review, v.RAISE_CONFIRM)
    stored = await raising.service.find("DUR-2026-0001")
    assert stored is not None and stored.child.name == name


async def test_a_lone_surrogate_is_refused_and_nothing_of_it_stored(raising: Raising) -> None:
    me = raising.person()
    await me.say_card("raise")
    await me.press_on(me.last_card, v.RAISE_NEXT, policy_id="durham")
    refused = await me.press_on(me.last_card, v.RAISE_NEXT, **{**CHILD, "child_name": "Bad\ud800Name"})
    assert "cannot be stored" in texts(refused) and "The child" in texts(refused)
    draft = await raising.drafts.open_for("alex", raising.clock())
    assert draft is not None and draft.step == "child" and not draft.child.name
    # A key that is not an input id is not kept either.
    weird = await me.press_on(me.last_card, v.RAISE_NEXT, **{**CHILD, "\ud800key": "x", "a b": "y"})
    assert "Who you are challenging" in texts(weird)
    draft = await raising.drafts.open_for("alex", raising.clock())
    assert draft is not None and set(draft.answers) == {"policy_id"}


async def test_an_answer_to_another_step_sent_with_this_one_is_not_taken(raising: Raising) -> None:
    me = raising.person()
    await me.say_card("raise")
    await me.press_on(me.last_card, v.RAISE_NEXT, policy_id="durham")
    # The child step's card has no procedure input: a payload carrying one does not switch the procedure.
    await me.press_on(me.last_card, v.RAISE_NEXT, **CHILD, policy_id="rochdale", concern="Sneaked in.")
    draft = await raising.drafts.open_for("alex", raising.clock())
    assert draft is not None and draft.answers == {"policy_id": "durham"} and draft.step == "challenged"
