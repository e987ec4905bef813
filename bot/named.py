"""The challenge a button or `show` names, looked up the one way all of them take."""

from __future__ import annotations

from botbuilder.core import TurnContext

from bot.errors import CHALLENGE_ID_TURN_STATE_KEY
from cards.errors import not_found_card
from dialogs.replies import show_card
from dialogs.service import ChallengeService
from process.challenge import Challenge
from process.directory import Person


async def named_challenge(
    service: ChallengeService, turn_context: TurnContext, person: Person, key: str | None
) -> Challenge | None:
    """The challenge `key` (an id or a reference) names, if `person` may know of it. Otherwise the one "Not
    found" card is shown (the same whether it exists or not) and None returned. Its id is kept in the turn's
    state, so a failure's log line names the challenge."""
    challenge = await service.visible(key, person) if key else None
    if challenge is None:
        await show_card(turn_context, not_found_card())
        return None
    turn_context.turn_state[CHALLENGE_ID_TURN_STATE_KEY] = challenge.id
    return challenge
