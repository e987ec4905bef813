"""Turns first: work a turn sets off, and the deadline clock's work, give way to the turns being answered.

A change stored during a turn wakes the deadline clock to deliver what it queued. Woken at once, delivery
would run beside the rest of the turn (the refreshed card, its reads) on the same event loop and database,
and the person who acted would wait for other people's notifications. Inside `answering()` such wakes are
held, and run when the turn's handler has its answer; the event loop then writes the answer before it runs
anything they start. Outside a turn (the clock's own changes, commands) they run at once.

Background work already under way when a turn comes in (the end of the last delivery, the next one) steps
aside too: `turns_answered()` waits until no turn is being answered in this process, for at most a moment,
so that a steady stream of turns can delay delivery a little but never stop it.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar

#: The longest one step of background work waits for the turns being answered.
GIVE_WAY_SECONDS = 0.05


class _Held:
    def __init__(self) -> None:
        self.calls: list[Callable[[], None]] = []
        self.open = True


class _Turns:
    """How many turns this process is answering, and the background work waiting for none."""

    def __init__(self) -> None:
        self.answering = 0
        self.waiting: list[asyncio.Future[None]] = []

    def ended(self) -> None:
        self.answering -= 1
        if self.answering == 0:
            waiting, self.waiting = self.waiting, []
            for waiter in waiting:
                if not waiter.done():
                    waiter.set_result(None)


_held: ContextVar[_Held | None] = ContextVar("held_until_answered", default=None)
_turns = _Turns()


def after_answer(call: Callable[[], None]) -> None:
    """Run `call` (quick, not awaiting anything) once the current turn has its answer; now if there is none."""
    held = _held.get()
    if held is None or not held.open:
        call()
    elif call not in held.calls:
        held.calls.append(call)


def turns_being_answered() -> int:
    return _turns.answering


async def turns_answered(within: float = GIVE_WAY_SECONDS) -> None:
    """Return once no turn is being answered in this process, or after `within` seconds, whichever is first
    (for background work: it gives way to people waiting for an answer, and is never held up for longer)."""
    held = _held.get()
    if _turns.answering == 0 or (held is not None and held.open):  # a turn's own work never waits
        return
    waiter: asyncio.Future[None] = asyncio.get_running_loop().create_future()
    _turns.waiting.append(waiter)
    try:
        await asyncio.wait_for(asyncio.shield(waiter), timeout=within)
    except TimeoutError:
        pass
    finally:
        if waiter in _turns.waiting:
            _turns.waiting.remove(waiter)


@contextmanager
def answering() -> Iterator[None]:
    """The block that works out a turn's answer: calls passed to `after_answer` inside it run as it ends,
    whether it ended with an answer or an error, once it no longer counts as being answered."""
    held = _Held()
    token = _held.set(held)
    _turns.answering += 1
    try:
        yield
    finally:
        _held.reset(token)
        held.open = False
        _turns.ended()
        for call in held.calls:
            call()
