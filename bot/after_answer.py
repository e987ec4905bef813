"""Work a turn sets off that should wait until the turn's answer is on its way.

A change stored during a turn wakes the deadline clock to deliver what it queued. Woken at once, delivery
would run beside the rest of the turn (the refreshed card, its reads) on the same event loop and database,
and the person who acted would wait for other people's notifications. Inside `answering()` such wakes are
held, and run when the turn's handler has its answer; the event loop then writes the answer before it runs
anything they start. Outside a turn (the clock's own changes, commands) they run at once.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar


class _Held:
    def __init__(self) -> None:
        self.calls: list[Callable[[], None]] = []
        self.open = True


_held: ContextVar[_Held | None] = ContextVar("held_until_answered", default=None)


def after_answer(call: Callable[[], None]) -> None:
    """Run `call` (quick, not awaiting anything) once the current turn has its answer; now if there is none."""
    held = _held.get()
    if held is None or not held.open:
        call()
    elif call not in held.calls:
        held.calls.append(call)


@contextmanager
def answering() -> Iterator[None]:
    """The block that works out a turn's answer: calls passed to `after_answer` inside it run as it ends,
    whether it ended with an answer or an error."""
    held = _Held()
    token = _held.set(held)
    try:
        yield
    finally:
        _held.reset(token)
        held.open = False
        for call in held.calls:
            call()
