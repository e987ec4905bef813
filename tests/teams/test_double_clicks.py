"""The same button pressed twice by the same person (a double click, or Teams on two devices): the first click
changes the challenge, the second is answered with the current card and "you did this already", never "out of
date". One change, one set of audit events, one set of notifications, for every action a card offers, at
once and 0.2 s apart, on SQLite and PostgreSQL. A different person's click from the old card, or the same
person's with different inputs, is still out of date."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from botbuilder.core import ConversationState
from sqlalchemy import func, select

from bot.config import Settings
from bot.teams_bot import ChallengeBot
from bot.wiring import conversation_recorder, make_service
from cards import verbs as v
from cards.inputs import action_inputs
from dialogs.challenge_actions import action_from
from dialogs.replies import CardAction
from dialogs.service import ALREADY_DONE, STALE, ChallengeService
from process.challenge import (
    ACTION_KINDS,
    Action,
    ActionKind,
    Challenge,
    ChildDetails,
    Escalate,
    ProposeOutcome,
    ProposeTimescale,
    RaiseRequest,
)
from storage.bot_state import SqlStorage
from storage.conversations import ConversationStore
from storage.db import Database
from storage.directory import DirectoryStore
from storage.drafts import DraftStore
from storage.schema import outbox
from tests.support.people import INVENTED_CHILD, holder, raise_request, role_directory
from tests.teams.conftest import NOW, with_teams_ids
from tests.teams.harness import Person, texts
from tests.teams.test_refusals import INPUTS

NORTHSHIRE = Path(__file__).parents[2] / "docs" / "examples" / "policies" / "northshire.yaml"


@dataclass
class Bot:
    bot: ChallengeBot
    service: ChallengeService
    database: Database


@pytest.fixture
async def bot(database: Database) -> AsyncIterator[Bot]:
    """The bot on the `database` fixture (SQLite, then PostgreSQL), every role a different Teams user; the
    invented Northshire procedure served too, for its steps."""
    settings = Settings(policy_names=("durham", "rochdale", str(NORTHSHIRE)))
    await DirectoryStore(database).replace_all(
        with_teams_ids(role_directory(("durham", "rochdale", "northshire")))
    )
    service = make_service(settings, database, clock=lambda: NOW)
    handler = ChallengeBot(
        service,
        ConversationState(SqlStorage(database)),
        conversation_recorder(ConversationStore(database)),
        drafts=DraftStore(database),
        draft_ttl=settings.draft_ttl,
    )
    yield Bot(handler, service, database)


async def _raised(
    service: ChallengeService, partnership: str, request: RaiseRequest | None = None
) -> Challenge:
    request = request or raise_request(partnership, child=INVENTED_CHILD)  # type: ignore[arg-type]
    raiser = f"{partnership}_raiser"
    return (await service.raise_challenge(raiser, partnership, request)).challenge


async def _then(service: ChallengeService, challenge: Challenge, *steps: tuple[str, Action]) -> Challenge:
    for actor, action in steps:
        result = await service.act(challenge, challenge.version, action, actor)
        assert result.outcome == "applied" and result.challenge is not None, result.notice
        challenge = result.challenge
    return challenge


async def _durham(service: ChallengeService) -> Challenge:
    return await _raised(service, "durham")


async def _rochdale(service: ChallengeService) -> Challenge:
    return await _raised(service, "rochdale")


async def _durham_at(service: ChallengeService, stage: int) -> Challenge:
    challenge = await _durham(service)
    raiser = holder("durham", "raiser")
    steps = [(raiser, Escalate("No progress.")) for _ in range(min(stage, 4) - 1)]
    if stage == 5:
        steps.append(
            ("durham_bm", Escalate("Still unresolved.", {"reasons_for_escalation": "Three missed."}))
        )
    return await _then(service, challenge, *steps)


async def _mailbox_agency_at_stage_2(service: ChallengeService) -> Challenge:
    request = raise_request(
        "rochdale", challenged_agency_id="rochdale_c", challenged_person_id="rochdale_lone"
    )
    challenge = await _raised(service, "rochdale", request)
    return await _then(service, challenge, ("rochdale_raiser", Escalate("Unresolved.")))


async def _northshire_at_stage_2(service: ChallengeService) -> Challenge:
    request = RaiseRequest(
        child=ChildDetails("Jordan Testchild"),
        challenged_agency_id="northshire_b",
        challenged_person_id="northshire_challenged",
        issue_category="plan_actions",
        concern="The plan's actions are not done.",
        desired_outcome="The actions done this week.",
    )
    challenge = await _raised(service, "northshire", request)
    return await _then(service, challenge, ("northshire_raiser", Escalate("No answer.")))


#: For every action a card offers: how to reach a challenge where it is offered, and who presses it.
SETUPS: dict[ActionKind, tuple[Callable[[ChallengeService], Awaitable[Challenge]], str]] = {
    ActionKind.RESPOND: (_durham, "durham_challenged"),
    ActionKind.PROPOSE_OUTCOME: (_rochdale, "rochdale_raiser"),
    ActionKind.CONFIRM_OUTCOME: (lambda s: _proposed(s), "rochdale_challenged"),
    ActionKind.ESCALATE: (_durham, "durham_raiser"),
    ActionKind.COMPLETE_STEP: (_northshire_at_stage_2, "northshire_raiser_lm"),
    ActionKind.PROPOSE_TIMESCALE: (_rochdale, "rochdale_raiser"),
    ActionKind.CONFIRM_TIMESCALE: (lambda s: _timescale_proposed(s), "rochdale_challenged"),
    ActionKind.RECORD_MEETING: (lambda s: _durham_at(s, 3), "durham_raiser"),
    ActionKind.WITHDRAW: (_durham, "durham_raiser"),
    ActionKind.HAND_OVER: (_durham, "durham_raiser"),
    ActionKind.TAKE_PART: (_mailbox_agency_at_stage_2, "rochdale_c_lead"),
    ActionKind.CLOSE: (lambda s: _durham_at(s, 5), "durham_executive"),
}


async def _proposed(service: ChallengeService) -> Challenge:
    return await _then(
        service, await _rochdale(service), ("rochdale_raiser", ProposeOutcome("Weekly updates."))
    )


async def _timescale_proposed(service: ChallengeService) -> Challenge:
    return await _then(service, await _rochdale(service), ("rochdale_raiser", ProposeTimescale(5, "")))


def test_every_action_a_card_offers_is_double_clicked() -> None:
    assert set(SETUPS) == set(v.ACTION_VERBS)


async def _outbox_rows(database: Database, challenge_id: str) -> int:
    async with database.reading() as conn:
        count = await conn.scalar(
            select(func.count()).select_from(outbox).where(outbox.c.challenge_id == challenge_id)
        )
    return int(count or 0)


def _notice_of(card: dict[str, Any]) -> str:
    words = texts(card)
    if ALREADY_DONE in words:
        return "already done"
    if "Done." in words:
        return "done"
    if STALE in words:
        return "out of date"
    return words


@pytest.mark.parametrize("apart", [0.0, 0.2], ids=["at once", "0.2 s apart"])
@pytest.mark.parametrize("kind", list(SETUPS), ids=lambda k: k.value)
async def test_the_same_click_twice_applies_once_and_says_it_was_done(
    bot: Bot, kind: ActionKind, apart: float
) -> None:
    setup, actor = SETUPS[kind]
    before = await setup(bot.service)
    verb = v.ACTION_VERBS[kind]
    inputs = INPUTS[verb]
    # What one click does, decided by the engine on the challenge as the card showed it.
    action = action_from(
        CardAction(verb, action_inputs(verb, inputs)), bot.service.policy(before.policy_id), before.stage
    )
    assert ACTION_KINDS[type(action)] is kind
    once = (await bot.service.engine(before.policy_id)).apply(before, action, actor, NOW)
    events_before = len(await bot.service.events(before.id))
    rows_before = await _outbox_rows(bot.database, before.id)

    card = {"challengeId": before.id, "version": before.version}
    first, second = (Person(bot.bot, actor, f"aad-{actor}") for _ in range(2))  # one person, one chat
    if apart:
        answers = [await first.press(verb, card, **inputs)]
        await asyncio.sleep(apart)
        answers.append(await second.press(verb, card, **inputs))
    else:
        answers = list(
            await asyncio.gather(first.press(verb, card, **inputs), second.press(verb, card, **inputs))
        )

    assert sorted(_notice_of(a) for a in answers) == ["already done", "done"]
    for answer in answers:
        assert before.reference in texts(answer)  # each click gets the current card back
    stored = await bot.service.find(before.id)
    assert stored is not None and stored.version == before.version + 1
    assert len(await bot.service.events(before.id)) - events_before == len(once.events)
    assert await _outbox_rows(bot.database, before.id) - rows_before == len(once.notifications)
    # A third click, later, from the same old card: still "already done", still nothing changed.
    third = await first.press(verb, card, **inputs)
    assert _notice_of(third) == "already done"
    assert (await bot.service.find(before.id)).version == before.version + 1  # type: ignore[union-attr]


async def test_an_old_card_is_out_of_date_after_another_persons_change_or_other_inputs(bot: Bot) -> None:
    challenge = await _rochdale(bot.service)
    card = {"challengeId": challenge.id, "version": challenge.version}
    raiser = Person(bot.bot, "raiser", "aad-rochdale_raiser")
    assert _notice_of(await raiser.press(v.PROPOSE, card, proposed_outcome="Weekly updates.")) == "done"
    # The same person, the same button, other words: not a repeat.
    assert (
        _notice_of(await raiser.press(v.PROPOSE, card, proposed_outcome="Monthly updates.")) == "out of date"
    )
    # Another person, from the card as it was before the raiser's change.
    professional = Person(bot.bot, "professional", "aad-rochdale_challenged")
    assert _notice_of(await professional.press(v.RESPOND, card, text="Here is our answer.")) == "out of date"
    # The same person, another button from the old card.
    assert _notice_of(await raiser.press(v.WITHDRAW, card, withdraw_reason="Not needed.")) == "out of date"
    stored = await bot.service.find(challenge.id)
    assert stored is not None and stored.version == challenge.version + 1
