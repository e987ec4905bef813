"""Teams' published rate limits for bots, as sliding windows a fake Bot Connector can enforce.

Microsoft Learn, "Optimize your bot with rate limiting and best practices in Teams"
(https://learn.microsoft.com/en-us/microsoftteams/platform/bots/how-to/rate-limit; source
MicrosoftDocs/msteams-docs, msteams-platform/bots/how-to/rate-limit.md):

    "The per bot per thread limit controls the traffic that a bot is allowed to generate in a single
    conversation. A conversation is 1:1 between bot and user, a group chat, or a channel in a team. So, if the
    application sends one bot message to each user, the thread limit does not throttle."

    | Scenario | Time period in seconds | Maximum allowed operations |
    | Send to conversation | 1 | 7 |     | Create conversation | 1 | 7 |
    | Send to conversation | 2 | 8 |     | Create conversation | 2 | 8 |
    | Send to conversation | 30 | 60 |   | Create conversation | 30 | 60 |
    | Send to conversation | 3600 | 1800 | | Create conversation | 3600 | 1800 |

    "The per thread limit for all bots controls the traffic that all bots are allowed to generate across a
    single conversation." Send to conversation: 14 per 1 s, 16 per 2 s; Create conversation: the same.

    "The global limit per app per tenant is 50 Requests Per Second (RPS)." (So Microsoft's answers quoting the
    page say, in 2022 and in December 2025: https://learn.microsoft.com/en-us/answers/questions/848444; the
    revision of the page's source read for this module says 30. The fake uses 50, as bot.notifier does; pass
    `per_tenant=(Window(1, 30),)` for the stricter reading.)

    "Apps that go over this limit receive an HTTP 429 Too Many Requests error status. All requests are subject
    to the same rate limiting policy, including sending messages, channel enumerations, and roster fetches."

A window here is (seconds, count): at most `count` operations in any half-open interval (t - seconds, t], so
an operation exactly `seconds` after the one `count` places earlier is allowed. Refused operations are not
counted (Teams does not say whether it counts them; not counting them is the kinder reading, so a bot that
passes against this fake may still be refused by Teams when it retries too eagerly). The page says its values
"are for estimation only": the fake enforces them exactly, which is what a test needs.

The windows are kept per key (a conversation id, a tenant id); `RateLimits` checks both at once, and
`drain_time` says how soon a list of sends can all be made within them (e.g. a fan-out of 1,000
notifications to 1,000 people in one tenant: 50 a second, so the last goes 19 s after the first).
"""

from __future__ import annotations

import math
import time
from collections import deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field


@dataclass(frozen=True)
class Window:
    """At most `count` operations in any `seconds`-long interval."""

    seconds: float
    count: int

    def __post_init__(self) -> None:
        if self.seconds <= 0 or self.count < 1:
            raise ValueError(f"a window needs a positive length and count, not {self}")


#: Per bot per conversation (thread): send to conversation, and create conversation.
PER_BOT_PER_THREAD: tuple[Window, ...] = (Window(1, 7), Window(2, 8), Window(30, 60), Window(3600, 1800))
#: Per conversation for all bots together; with one bot the per-bot windows are always the stricter.
ALL_BOTS_PER_THREAD: tuple[Window, ...] = (Window(1, 14), Window(2, 16))
#: Per app per tenant, every request counted.
PER_APP_PER_TENANT: tuple[Window, ...] = (Window(1, 50),)


class SlidingWindows:
    """Several windows kept for each key: when the next operation may go, and counting those that went."""

    def __init__(self, windows: Iterable[Window]) -> None:
        self.windows = tuple(windows)
        if not self.windows:
            raise ValueError("at least one window is needed")
        self._longest = max(w.seconds for w in self.windows)
        self._deepest = max(w.count for w in self.windows)
        self._times: dict[str, deque[float]] = {}

    def earliest(self, key: str, now: float) -> float:
        """The first instant at or after `now` when one more operation for `key` keeps within every window.

        Counted operations are assumed to be no later than `now`.
        """
        times = self._times.get(key)
        if not times:
            return now
        while times and times[0] <= now - self._longest:
            times.popleft()
        at = now
        for window in self.windows:
            if len(times) >= window.count:
                # The operation `count` places back must have left the window (t - seconds, t].
                at = max(at, times[-window.count] + window.seconds)
        return at

    def count(self, key: str, at: float) -> None:
        """Count an operation for `key` made at `at` (no earlier than those already counted)."""
        times = self._times.setdefault(key, deque())
        times.append(at)
        # Older entries than the deepest window needs are never looked at again.
        while len(times) > self._deepest:
            times.popleft()


@dataclass(frozen=True)
class Decision:
    """Whether a request may go now; if not, how long until it may (`wait`, seconds), the whole seconds a
    `Retry-After` header gives (at least 1, never less than the wait), and which limit refused it
    ("conversation" or "tenant", the one that keeps it waiting longer)."""

    allowed: bool
    wait: float = 0.0
    refused_by: str | None = None

    @property
    def retry_after(self) -> int:
        return max(1, math.ceil(self.wait)) if not self.allowed else 0


@dataclass
class RateLimits:
    """Teams' limits per conversation and per tenant, on an injectable monotonic clock (seconds)."""

    per_conversation: tuple[Window, ...] = PER_BOT_PER_THREAD
    per_tenant: tuple[Window, ...] = PER_APP_PER_TENANT
    clock: Callable[[], float] = time.monotonic
    _conversations: SlidingWindows = field(init=False, repr=False)
    _tenants: SlidingWindows = field(init=False, repr=False)

    def __post_init__(self) -> None:
        self._conversations = SlidingWindows(self.per_conversation)
        self._tenants = SlidingWindows(self.per_tenant)

    def now(self) -> float:
        return self.clock()

    def check(self, conversation: str | None, tenant: str | None) -> Decision:
        """Decide on one request now, and count it if it is allowed.

        `conversation` None: a request that no conversation's windows count (only the tenant's).
        """
        now = self.clock()
        by_conversation = self._conversations.earliest(conversation, now) if conversation is not None else now
        by_tenant = self._tenants.earliest(tenant, now) if tenant is not None else now
        at = max(by_conversation, by_tenant)
        if at > now:
            return Decision(False, at - now, "conversation" if by_conversation >= by_tenant else "tenant")
        if conversation is not None:
            self._conversations.count(conversation, now)
        if tenant is not None:
            self._tenants.count(tenant, now)
        return Decision(True)


def drain_time(
    sends: Iterable[tuple[str | None, str | None]],
    *,
    per_conversation: tuple[Window, ...] = PER_BOT_PER_THREAD,
    per_tenant: tuple[Window, ...] = PER_APP_PER_TENANT,
) -> float:
    """The least time, in seconds from the first send, in which `sends` ((conversation, tenant) pairs) can all be
    made in the given order within the limits: each goes at the first instant the windows allow, which is the
    earliest any in-order sender can manage (sending one earlier is never possible, and one later only keeps
    it longer in the windows of those after it). 0 for no sends or a single one.
    """
    conversations = SlidingWindows(per_conversation)
    tenants = SlidingWindows(per_tenant)
    last = 0.0
    for conversation, tenant in sends:
        at = last
        if conversation is not None:
            at = max(at, conversations.earliest(conversation, last))
        if tenant is not None:
            at = max(at, tenants.earliest(tenant, last))
        if conversation is not None:
            conversations.count(conversation, at)
        if tenant is not None:
            tenants.count(tenant, at)
        last = at
    return last
