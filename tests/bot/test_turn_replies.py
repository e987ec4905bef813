"""A turn's own replies are sent again when Teams answers 429 (bot/turn_replies.py), through the server's
adapter and a fake Bot Connector; other refusals are not retried, and the waits are bounded."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from aiohttp.test_utils import TestClient
from botbuilder.core import ActivityHandler, TurnContext
from botbuilder.schema import ConversationAccount, ConversationReference

from bot import turn_replies
from bot.config import Settings
from bot.errors import APOLOGY
from bot.notifier import TeamsFailure
from bot.server import ADAPTER_KEY, create_app
from tests.fakes import FakeConnector, RateLimits, make_activity, post_activity, serve
from tests.fakes.rate_limits import Window


class TwoReplies(ActivityHandler):
    async def on_message_activity(self, turn_context: TurnContext) -> None:
        await turn_context.send_activities(
            [
                turn_context.activity.create_reply("first"),
                turn_context.activity.create_reply("second"),
            ]
        )


@pytest.fixture
async def client(fake_connector: FakeConnector) -> AsyncIterator[TestClient]:
    async with serve(create_app(Settings(), TwoReplies())) as test_client:
        yield test_client


async def test_a_reply_refused_with_429_is_sent_again_and_only_it(
    client: TestClient, fake_connector: FakeConnector
) -> None:
    fake_connector.fail_next(429, times=2, retry_after=0)
    response = await post_activity(client, make_activity("hi", service_url=fake_connector.service_url))
    assert response.status == 201
    assert [r.status for r in fake_connector.requests] == [429, 429, 200, 200]
    assert fake_connector.sent_texts() == ["first", "second"]


async def test_a_reply_refused_every_time_it_is_tried_fails_the_turn_with_an_apology(
    client: TestClient, fake_connector: FakeConnector
) -> None:
    fake_connector.fail_next(429, times=turn_replies.MAX_REPLY_ATTEMPTS, retry_after=0)
    response = await post_activity(client, make_activity("hi", service_url=fake_connector.service_url))
    assert response.status == 201
    assert fake_connector.sent_texts() == [APOLOGY]


async def test_other_refusals_are_not_sent_again(client: TestClient, fake_connector: FakeConnector) -> None:
    fake_connector.fail_next(502)
    await post_activity(client, make_activity("hi", service_url=fake_connector.service_url))
    assert [r.status for r in fake_connector.requests] == [502, 200]
    assert fake_connector.sent_texts() == [APOLOGY]


async def test_a_retry_after_longer_than_a_turn_can_wait_is_not_waited_for(
    client: TestClient, fake_connector: FakeConnector
) -> None:
    fake_connector.fail_next(429, retry_after=int(turn_replies.MAX_REPLY_WAIT_SECONDS) + 1)
    await post_activity(client, make_activity("hi", service_url=fake_connector.service_url))
    assert fake_connector.sent_texts() == [APOLOGY]


async def test_replies_beyond_a_conversations_limit_wait_for_it() -> None:
    clock = [0.0]
    limits = RateLimits(per_conversation=(Window(1, 1),), clock=lambda: clock[0])
    waits: list[float] = []
    async with FakeConnector(limits) as connector:
        app = create_app(Settings(), TwoReplies())

        async def sleep(seconds: float) -> None:
            waits.append(seconds)
            clock[0] += seconds

        adapter = app[ADAPTER_KEY]
        assert isinstance(adapter, turn_replies.RetryingCloudAdapter)
        adapter.sleep = sleep
        async with serve(app) as client:
            await post_activity(client, make_activity("hi", service_url=connector.service_url))
    assert waits == [1.0]
    assert connector.sent_texts() == ["first", "second"]
    assert [r.at for r in connector.requests] == [0.0, 0.0, 1.0]


class TwoRepliesEachRefusedOnce(ActivityHandler):
    """Each of its two replies is refused once with a `Retry-After` of 3 s."""

    def __init__(self, connector: FakeConnector) -> None:
        self.connector = connector

    async def on_message_activity(self, turn_context: TurnContext) -> None:
        self.connector.fail_next(429, retry_after=3)
        await turn_context.send_activity("first")
        self.connector.fail_next(429, retry_after=3)
        await turn_context.send_activity("second")


async def test_the_wait_is_bounded_for_the_whole_turn_not_for_each_reply(
    fake_connector: FakeConnector,
) -> None:
    app = create_app(Settings(), TwoRepliesEachRefusedOnce(fake_connector))
    waits: list[float] = []

    async def sleep(seconds: float) -> None:
        waits.append(seconds)

    app[ADAPTER_KEY].sleep = sleep
    async with serve(app) as client:
        response = await post_activity(client, make_activity("hi", service_url=fake_connector.service_url))
    assert response.status == 201
    # 3 s for the first reply; another 3 s for the second would take the turn past its 5 s of waiting, so the
    # second reply fails at once and the turn apologises (without waiting: nothing is left to wait).
    assert waits == [3.0]
    assert [r.status for r in fake_connector.requests] == [429, 200, 429, 200]
    assert fake_connector.sent_texts() == ["first", APOLOGY]


async def test_a_proactive_send_refused_with_429_is_left_to_the_notifier(
    fake_connector: FakeConnector,
) -> None:
    app = create_app(Settings(), TwoReplies())
    adapter = app[ADAPTER_KEY]
    waits: list[float] = []

    async def sleep(seconds: float) -> None:
        waits.append(seconds)

    adapter.sleep = sleep
    reference = ConversationReference(
        conversation=ConversationAccount(id="a:personal-alex-wilber"),
        service_url=fake_connector.service_url,
        channel_id="msteams",
    )

    async def remind(turn_context: TurnContext) -> None:
        await turn_context.send_activity("a reminder")

    fake_connector.fail_next(429, retry_after=0)
    with pytest.raises(Exception) as refused:
        await adapter.continue_conversation(reference, remind, bot_app_id=None)
    # The 429 reaches the caller (the notifier, which puts the message back in its outbox): not sent again here.
    assert TeamsFailure.of(refused.value).status == 429
    assert [r.status for r in fake_connector.requests] == [429]
    assert waits == [] and fake_connector.sent_texts() == []


@pytest.mark.parametrize(("retry_after", "waited"), [(None, 1.0), (2, 2.0), (0, 0.0)])
async def test_a_reply_waits_what_retry_after_asks_or_a_second_without_one(
    fake_connector: FakeConnector, retry_after: int | None, waited: float
) -> None:
    app = create_app(Settings(), TwoReplies())
    waits: list[float] = []

    async def sleep(seconds: float) -> None:
        waits.append(seconds)

    app[ADAPTER_KEY].sleep = sleep
    fake_connector.fail_next(429, retry_after=retry_after)
    async with serve(app) as client:
        await post_activity(client, make_activity("hi", service_url=fake_connector.service_url))
    assert waits == [waited]
    assert fake_connector.sent_texts() == ["first", "second"]


class SlowThenReplies(ActivityHandler):
    """A turn whose work takes `seconds` (on the test's clock) before its reply, which is refused once."""

    def __init__(self, connector: FakeConnector, clock: list[float], seconds: float) -> None:
        self.connector, self.clock, self.seconds = connector, clock, seconds

    async def on_message_activity(self, turn_context: TurnContext) -> None:
        self.clock[0] += self.seconds
        self.connector.fail_next(429, retry_after=3)
        await turn_context.send_activity("late")


@pytest.mark.parametrize(("work", "sent"), [(6.0, "late"), (8.0, APOLOGY)])
async def test_no_wait_ends_past_the_turns_deadline_however_little_it_waited_before(
    fake_connector: FakeConnector, work: float, sent: str
) -> None:
    clock = [100.0]
    app = create_app(Settings(), SlowThenReplies(fake_connector, clock, work))
    adapter = app[ADAPTER_KEY]
    waits: list[float] = []

    async def sleep(seconds: float) -> None:
        waits.append(seconds)
        clock[0] += seconds

    adapter.sleep, adapter.clock = sleep, lambda: clock[0]
    async with serve(app) as client:
        await post_activity(client, make_activity("hi", service_url=fake_connector.service_url))
    # 6 s of work and 3 s of waiting end within the turn's 10 s; 8 s and 3 s would not, so the turn apologises.
    assert turn_replies.TURN_WAIT_DEADLINE_SECONDS == 10.0
    assert waits == ([3.0] if sent == "late" else [])
    assert fake_connector.sent_texts() == [sent]
