"""Pacing a fan-out to Teams' limits: a conversation at its limit holds back no other, the tenant's budget is
shared between the instances delivering, a send is reckoned from when Teams answered it, and the notifier
claims more rows while slow deliveries are still going. Time is virtual: nothing here waits for real."""

from __future__ import annotations

import asyncio
import heapq
import itertools
from collections.abc import Awaitable, Callable
from datetime import timedelta
from typing import Any

from botbuilder.core import TurnContext
from botbuilder.schema import ConversationReference

from bot.notifier import (
    PER_CONVERSATION_LIMITS,
    PER_TENANT_LIMITS,
    Notifier,
    SlidingWindowLimiter,
    TeamsChannel,
)
from process.directory import Person
from process.policy import Role
from storage.outbox import DeliveryStatus
from tests.delivery.conftest import Delivery, wait_until
from tests.fakes.rate_limits import RateLimits
from tests.support.people import holder, raise_request, role_directory


class VirtualTime:
    """A monotonic clock and a sleep for it: sleepers wake in order of their instants when `advance` is called,
    and time jumps to each; nothing waits for real time."""

    def __init__(self) -> None:
        self.now = 0.0
        self._sleepers: list[tuple[float, int, asyncio.Future[None]]] = []
        self._order = itertools.count()

    def monotonic(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        heapq.heappush(self._sleepers, (self.now + max(seconds, 0.0), next(self._order), future))
        await future

    async def settle(self) -> None:
        """Let every task run until it sleeps or ends."""
        for _ in range(200):
            await asyncio.sleep(0)

    async def run(self, tasks: list[asyncio.Task[Any]]) -> None:
        """Advance time sleeper by sleeper until every task is done."""
        await self.settle()
        while not all(task.done() for task in tasks):
            assert self._sleepers, "tasks are stuck with nobody sleeping"
            at, _, future = heapq.heappop(self._sleepers)
            self.now = max(self.now, at)
            future.set_result(None)
            await self.settle()
        for task in tasks:
            task.result()


class RecordingAdapter:
    """Takes every proactive message at once, noting the conversation and the virtual instant."""

    def __init__(self, time: VirtualTime) -> None:
        self.time = time
        self.sent: list[tuple[str, float]] = []

    async def continue_conversation(
        self,
        reference: ConversationReference,
        callback: Callable[[TurnContext], Awaitable[None]],
        bot_app_id: str,
    ) -> None:
        self.sent.append((str(reference.conversation.id), self.time.now))

    async def create_conversation(self, *args: Any, **kwargs: Any) -> None:
        raise AssertionError("every person here has a conversation")


class References:
    """Each person's 1:1 conversation, named after their AAD object id."""

    async def for_user(self, aad_object_id: str) -> dict[str, Any]:
        return {
            "bot": {"id": "28:challenge-bot"},
            "user": {"id": f"29:{aad_object_id}", "aadObjectId": aad_object_id},
            "conversation": {
                "id": f"a:{aad_object_id}",
                "conversationType": "personal",
                "tenantId": "tenant-1",
            },
            "channelId": "msteams",
            "serviceUrl": "https://smba.trafficmanager.net/emea/",
        }


def channel(time: VirtualTime, adapter: RecordingAdapter) -> TeamsChannel:
    return TeamsChannel(
        adapter,
        References(),  # type: ignore[arg-type]
        "app-id",
        per_conversation=SlidingWindowLimiter(
            PER_CONVERSATION_LIMITS, monotonic=time.monotonic, sleep=time.sleep
        ),
        per_tenant=SlidingWindowLimiter(PER_TENANT_LIMITS, monotonic=time.monotonic, sleep=time.sleep),
    )


def person(name: str) -> Person:
    return Person(id=name, name=name.title(), agency_id="agency", aad_object_id=name, tenant_id="tenant-1")


def within_teams_limits(sent: list[tuple[str, float]]) -> bool:
    """Whether the fake connector's limits would have accepted every send at its instant."""
    clock = [0.0]
    limits = RateLimits(clock=lambda: clock[0])
    for conversation, at in sorted(sent, key=lambda s: s[1]):
        clock[0] = at
        if not limits.check(conversation, "tenant-1").allowed:
            return False
    return True


async def test_a_conversation_at_its_limit_holds_back_no_other() -> None:
    time = VirtualTime()
    adapter = RecordingAdapter(time)
    teams = channel(time, adapter)
    # A busy manager's twelve first, then one each to ten other people, all at once.
    order = [person("manager")] * 12 + [person(f"person{i}") for i in range(10)]
    tasks = [asyncio.create_task(teams.send(p, None)) for p in order]  # type: ignore[arg-type]
    await time.run(tasks)

    to_manager = [at for conversation, at in adapter.sent if conversation == "a:manager"]
    to_others = [at for conversation, at in adapter.sent if conversation != "a:manager"]
    assert len(to_others) == 10 and set(to_others) == {0.0}
    # 7 at once, 1 a second later (8 per 2 s), 4 more at 2 s.
    assert to_manager == [0.0] * 7 + [1.0] + [2.0] * 4
    assert within_teams_limits(adapter.sent)


async def test_the_tenants_budget_is_shared_between_the_instances_delivering() -> None:
    time = VirtualTime()
    adapter = RecordingAdapter(time)
    teams = channel(time, adapter)
    teams.per_tenant.share(2)
    assert teams.per_tenant.limits == ((1.0, 25),) and teams.per_tenant.published == PER_TENANT_LIMITS
    tasks = [asyncio.create_task(teams.send(person(f"person{i}"), None)) for i in range(60)]  # type: ignore[arg-type]
    await time.run(tasks)
    instants = [at for _, at in adapter.sent]
    assert instants == [0.0] * 25 + [1.0] * 25 + [2.0] * 10
    teams.per_tenant.share(1)
    assert teams.per_tenant.limits == PER_TENANT_LIMITS
    # Whole sends that add up to the limit: 50 in four parts is 13, 13, 12 and 12.
    parts = []
    for rank in range(4):
        teams.per_tenant.share(4, rank)
        parts.append(teams.per_tenant.limits[0][1])
    assert parts == [13, 13, 12, 12]
    teams.per_tenant.share(100)
    assert teams.per_tenant.limits == ((1.0, 1),)  # never nothing at all


def test_a_send_is_reckoned_from_when_teams_answered_it() -> None:
    now = [0.0]

    async def never(seconds: float) -> None:
        raise AssertionError("not waited for here")

    limiter = SlidingWindowLimiter(((1.0, 1),), monotonic=lambda: now[0], sleep=never)
    counted = limiter.count("a:chat")
    now[0] = 0.3
    limiter.settle("a:chat", counted)  # Teams answered 0.3 s after it was let go
    now[0] = 1.0
    assert abs(limiter.wait_needed("a:chat") - 0.3) < 1e-9
    now[0] = 1.3
    assert limiter.wait_needed("a:chat") == 0.0
    # A send already out of every window is left alone.
    limiter.settle("a:chat", -5.0)
    assert limiter.wait_needed("a:chat") == 0.0


class HeldAdapter:
    """Takes proactive messages at once, except to `held` conversations, which wait for `release`."""

    def __init__(self, held: set[str]) -> None:
        self.held = held
        self.release = asyncio.Event()
        self.sent: list[str] = []

    async def continue_conversation(
        self,
        reference: ConversationReference,
        callback: Callable[[TurnContext], Awaitable[None]],
        bot_app_id: str,
    ) -> None:
        conversation = str(reference.conversation.id)
        if conversation in self.held:
            await self.release.wait()
        self.sent.append(conversation)

    async def create_conversation(self, *args: Any, **kwargs: Any) -> None:
        raise AssertionError("every person here has a conversation")


async def test_the_notifier_claims_more_while_a_slow_delivery_is_still_going(
    delivery_factory: Callable[..., Delivery],
) -> None:
    """Rows are claimed a few at a time; deliveries that hang do not stop the rows after them being claimed and
    delivered (a whole claim waited for its slowest row before)."""
    d = delivery_factory(directory=role_directory())
    directory = await d.service.directory()
    for p in directory.people.values():
        if p.aad_object_id:
            await d.conversations.save(
                {
                    "bot": {"id": "28:challenge-bot"},
                    "user": {"id": f"29:{p.aad_object_id}", "aadObjectId": p.aad_object_id},
                    "conversation": {
                        "id": f"a:{p.aad_object_id}",
                        "conversationType": "personal",
                        "tenantId": p.tenant_id,
                    },
                    "channelId": "msteams",
                    "serviceUrl": "https://smba.trafficmanager.net/emea/",
                }
            )
    for _ in range(3):
        await d.service.raise_challenge(holder("durham", Role.RAISER), "durham", raise_request("durham"))
    challenged = directory.person(holder("durham", Role.CHALLENGED_PROFESSIONAL))
    assert challenged is not None and challenged.aad_object_id
    held = f"a:{challenged.aad_object_id}"
    adapter = HeldAdapter({held})
    notifier = Notifier(
        d.service,
        d.outbox,
        teams=TeamsChannel(adapter, d.conversations, "app-id"),  # type: ignore[arg-type]
        mailer=None,
        worker_id="worker-1",
        in_flight=4,
    )
    drain = asyncio.create_task(notifier.drain(d.clock()))
    # Four in flight at most, three of them hanging (the challenged person is told of each challenge): the
    # rows after them go on being claimed, among them the reports queued meanwhile that the people without
    # Teams or email could not be told, which reach the raiser.
    await wait_until(lambda: len(adapter.sent) == 3)
    assert held not in adapter.sent and not drain.done()
    raiser = directory.person(holder("durham", Role.RAISER))
    assert raiser is not None and adapter.sent == [f"a:{raiser.aad_object_id}"] * 3
    adapter.release.set()
    report = await drain
    assert adapter.sent.count(held) == 3  # told of each challenge, once
    assert report.retried == 0 and report.delivered_teams == len(adapter.sent) == 6


async def test_the_instances_delivering_are_those_with_live_claims(
    delivery_factory: Callable[..., Delivery],
) -> None:
    d = delivery_factory()
    for _ in range(2):
        await d.service.raise_challenge(holder("durham", Role.RAISER), "durham", raise_request("durham"))
    now = d.clock()
    assert await d.outbox.delivering_workers(now) == []
    first = await d.outbox.claim("worker-1", now, limit=1, lease_seconds=60)
    await d.outbox.claim("worker-2", now, limit=1, lease_seconds=60)
    assert await d.outbox.delivering_workers(now) == ["worker-1", "worker-2"]
    await d.outbox.mark_delivered(first[0].id, "worker-1", now, "teams")
    assert await d.outbox.delivering_workers(now) == ["worker-2"]
    # A lease that ran out is no instance delivering.
    assert await d.outbox.delivering_workers(now + timedelta(seconds=61)) == []
    assert (await d.outbox.get(first[0].id)).status is DeliveryStatus.DELIVERED  # type: ignore[union-attr]
