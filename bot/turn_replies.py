"""A turn's own replies, sent again when Teams answers 429.

Botbuilder posts a turn's replies (the answer to `help`, `raise`, `my challenges`...) through its connector
client, which never retries a POST, so a reply Teams refuses for going beyond its rate limits (50 requests a
second per app per tenant, 7 a second per conversation) was lost and the turn failed. Microsoft's guidance
("Optimize your bot with rate limiting in Teams") is to retry 429 after a back-off; here each refused reply is
sent again after its `Retry-After`, at most `MAX_REPLY_ATTEMPTS` times; the waits of all of a turn's replies
(its apology included) add up to at most `MAX_REPLY_WAIT_SECONDS`, and no wait ends later than
`TURN_WAIT_DEADLINE_SECONDS` after the turn began (a slow turn has less time left to wait), since Teams waits only
about 15 seconds for a bot to answer. Only 429 is retried (the request was refused, so nothing is posted twice). Proactive turns are left alone: the notifier paces and retries those itself.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from contextvars import ContextVar
from datetime import timedelta
from typing import Any

from botbuilder.core import TurnContext
from botbuilder.integration.aiohttp import CloudAdapter
from botbuilder.schema import Activity, ResourceResponse

from bot.errors import is_proactive
from bot.notifier import TeamsFailure, retry_after_of

#: How many times one reply is tried in all.
MAX_REPLY_ATTEMPTS = 5
#: The most one turn waits for Teams' `Retry-After`s, in seconds, all its replies together, before letting a
#: reply fail.
MAX_REPLY_WAIT_SECONDS = 5.0
#: No wait for a `Retry-After` ends later than this many seconds after the turn began: Teams waits about 15 for
#: the turn's answer, and the reply itself (or the apology) still has to be sent.
TURN_WAIT_DEADLINE_SECONDS = 10.0
#: When the turn running in this task began (the adapter's clock), for `TURN_WAIT_DEADLINE_SECONDS`.
_TURN_STARTED: ContextVar[float | None] = ContextVar("turn_started", default=None)
#: Where a turn keeps how long its replies have waited so far (in the TurnContext's turn state).
_WAITED = "turn_replies.waited_seconds"
#: The wait when a 429 gives no usable `Retry-After`.
DEFAULT_REPLY_RETRY_AFTER = timedelta(seconds=1)


class RetryingCloudAdapter(CloudAdapter):  # type: ignore[misc]
    """A CloudAdapter that sends a turn's replies one by one, each again after a 429's `Retry-After`."""

    def __init__(
        self,
        *args: Any,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
        clock: Callable[[], float] = time.monotonic,
        **kwargs: Any,
    ):
        super().__init__(*args, **kwargs)
        self.sleep = sleep
        self.clock = clock

    async def process_activity(self, *args: Any, **kwargs: Any) -> Any:
        """A turn a person's activity began: its replies' waits end by `TURN_WAIT_DEADLINE_SECONDS` from now."""
        started = _TURN_STARTED.set(self.clock())
        try:
            return await super().process_activity(*args, **kwargs)
        finally:
            _TURN_STARTED.reset(started)

    async def send_activities(
        self, context: TurnContext, activities: list[Activity]
    ) -> list[ResourceResponse]:
        if context is None or not activities or is_proactive(context.activity):
            return list(await super().send_activities(context, activities))
        responses: list[ResourceResponse] = []
        for activity in activities:
            responses.extend(await self._send_one(context, activity))
        return responses

    async def _send_one(self, context: TurnContext, activity: Activity) -> list[ResourceResponse]:
        for attempt in range(1, MAX_REPLY_ATTEMPTS + 1):
            try:
                return list(await super().send_activities(context, [activity]))
            except Exception as error:
                if TeamsFailure.of(error).status != 429 or attempt == MAX_REPLY_ATTEMPTS:
                    raise
                asked = retry_after_of(error)
                delay = (asked if asked is not None else DEFAULT_REPLY_RETRY_AFTER).total_seconds()
                waited = float(context.turn_state.get(_WAITED, 0.0))
                if waited + delay > MAX_REPLY_WAIT_SECONDS or self._too_late(delay):
                    raise
                context.turn_state[_WAITED] = waited + delay
                await self.sleep(delay)
        raise AssertionError("unreachable")  # the loop returns or raises

    def _too_late(self, delay: float) -> bool:
        """Whether a wait of `delay` seconds would end after the turn's deadline."""
        started = _TURN_STARTED.get()
        return started is not None and self.clock() - started + delay > TURN_WAIT_DEADLINE_SECONDS
