"""What happens when something fails: a short apology for the person, a log line with ids for us.

Log lines carry activity types, challenge ids and code locations, never exception messages: a database
error's message can quote the row it failed on, and rows hold children's names.
"""

from __future__ import annotations

import logging
import re
import traceback
from pathlib import PurePath

from botbuilder.core import InvokeResponse, TurnContext
from botbuilder.schema import (
    Activity,
    ActivityEventNames,
    ActivityTypes,
    AdaptiveCardInvokeResponse,
)

logger = logging.getLogger("bot.turn")

APOLOGY = "Sorry, something went wrong on our side. Nothing you sent has been lost; please try again."

#: Handlers that know which challenge a turn is about put its id here so a failure can be traced to it.
CHALLENGE_ID_TURN_STATE_KEY = "challenge_bot.challenge_id"

# Ids only: anything longer or with spaces is not an id and may be text a person typed.
_CHALLENGE_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.:-]{0,63}$")
_MAX_FRAMES = 12
_PROACTIVE_EVENTS = frozenset(
    {ActivityEventNames.continue_conversation, ActivityEventNames.create_conversation}
)


def is_proactive(activity: Activity | None) -> bool:
    """A turn the bot started itself (continue or create a conversation), not one a person's activity began."""
    return (
        activity is not None and activity.type == ActivityTypes.event and activity.name in _PROACTIVE_EVENTS
    )


class AuthenticationUnavailable(Exception):
    """The Bot Connector's signing keys cannot be had right now, so no request can be verified (503)."""


def describe_exception(error: BaseException) -> str:
    """Exception types and where they were raised, innermost frame first, without their messages."""
    parts: list[str] = []
    seen: set[int] = set()
    current: BaseException | None = error
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        frames = traceback.extract_tb(current.__traceback__)[-_MAX_FRAMES:]
        where = " < ".join(
            f"{'/'.join(PurePath(frame.filename).parts[-2:])}:{frame.lineno} {frame.name}"
            for frame in reversed(frames)
        )
        kind = type(current)
        parts.append(f"{kind.__module__}.{kind.__qualname__} at {where or '?'}")
        current = current.__cause__ or (None if current.__suppress_context__ else current.__context__)
    return " | caused by ".join(parts)


def challenge_id_of(context: TurnContext) -> str | None:
    """The challenge a turn was about, from turn state or the card data it carries, if it looks like an id."""
    candidates: list[object] = [context.turn_state.get(CHALLENGE_ID_TURN_STATE_KEY)]
    value = context.activity.value if context.activity is not None else None
    if isinstance(value, dict):
        candidates.append(value.get("challengeId"))
        action = value.get("action")
        data = action.get("data") if isinstance(action, dict) else None
        if isinstance(data, dict):
            candidates.append(data.get("challengeId"))
    for candidate in candidates:
        if isinstance(candidate, int) and not isinstance(candidate, bool):
            candidate = str(candidate)
        if isinstance(candidate, str) and _CHALLENGE_ID.match(candidate):
            return candidate
    return None


def failed_invoke_response(invoke_name: str | None) -> InvokeResponse:
    """A non-5xx answer for a failed invoke, so Teams shows the apology rather than a generic failure."""
    if invoke_name == "adaptiveCard/action":
        return InvokeResponse(
            status=200,
            body=AdaptiveCardInvokeResponse(
                status_code=500,
                type="application/vnd.microsoft.error",
                value={"code": "InternalError", "message": APOLOGY},
            ),
        )
    return InvokeResponse(status=200)


async def on_turn_error(context: TurnContext, error: Exception) -> None:
    """The adapter's last resort for a failed turn: log it once with ids, then tell the person.

    Proactive turns (continue/create conversation) are re-raised instead: nobody is waiting in a chat, and
    the code that started them must learn the delivery failed so it can try again.
    """
    activity = context.activity
    if is_proactive(activity):
        raise error
    logger.error(
        "turn failed: activity=%s%s id=%s challenge=%s error=%s",
        activity.type,
        f"/{activity.name}" if activity.type == ActivityTypes.invoke else "",
        activity.id or "-",
        challenge_id_of(context) or "-",
        describe_exception(error),
    )
    if activity.type == ActivityTypes.invoke:
        await context.send_activity(
            Activity(type=ActivityTypes.invoke_response, value=failed_invoke_response(activity.name))
        )
    try:
        await context.send_activity(APOLOGY)
    except Exception as send_error:
        logger.error(
            "could not send the apology: id=%s challenge=%s error=%s",
            activity.id or "-",
            challenge_id_of(context) or "-",
            describe_exception(send_error),
        )
