"""Conversation references for proactive messages: stored as botbuilder serializes them, found per user."""

from __future__ import annotations

from datetime import timedelta

import pytest
from botbuilder.schema import ChannelAccount, ConversationAccount, ConversationReference

from storage.conversations import ConversationStore
from storage.db import Database
from tests.support.clock import FakeClock
from tests.support.directory import HOST_TENANT, MONDAY, aad


def _reference(conversation_id: str, kind: str, user_aad: str | None = None) -> ConversationReference:
    return ConversationReference(
        activity_id="f:1",
        user=ChannelAccount(id="29:invented-user", name="Indigo Reviewer", aad_object_id=user_aad),
        bot=ChannelAccount(id="28:invented-bot", name="Challenge bot"),
        conversation=ConversationAccount(
            id=conversation_id, conversation_type=kind, tenant_id=HOST_TENANT, is_group=kind != "personal"
        ),
        channel_id="msteams",
        locale="en-GB",
        service_url="https://smba.trafficmanager.example/emea/",
    )


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(MONDAY)


@pytest.fixture
def store(database: Database, clock: FakeClock) -> ConversationStore:
    return ConversationStore(database, clock=clock)


async def test_a_personal_chat_is_found_for_its_user_and_deserializes_unchanged(
    store: ConversationStore,
) -> None:
    user = aad("durham", "raiser")
    reference = _reference("a:1-personal", "personal", user.upper())
    record = await store.save(reference.serialize())
    assert record.aad_object_id == user and record.tenant_id == HOST_TENANT
    assert record.service_url == "https://smba.trafficmanager.example/emea/"
    found = await store.for_user(user.upper())
    assert found is not None
    assert ConversationReference().deserialize(found) == reference
    assert await store.for_user(aad("durham", "professional")) is None


async def test_group_chats_and_channels_are_kept_but_never_taken_for_a_users_chat(
    store: ConversationStore,
) -> None:
    user = aad("durham", "raiser")
    await store.save(_reference("19:group@thread.v2", "groupChat", user).serialize())
    await store.save(_reference("19:channel@thread.tacv2", "channel", user).serialize())
    assert await store.for_user(user) is None
    channel = await store.get("19:channel@thread.tacv2")
    assert channel is not None and channel.conversation_type == "channel" and channel.aad_object_id is None
    assert await store.all_personal() == []


async def test_a_stale_chat_is_skipped_until_a_fresh_reference_is_saved(
    store: ConversationStore, clock: FakeClock
) -> None:
    user = aad("durham", "raiser")
    await store.save(_reference("a:1-personal", "personal", user).serialize())
    assert await store.mark_stale("a:1-personal")
    assert not await store.mark_stale("a:never-stored")
    assert await store.for_user(user) is None
    stale = await store.get("a:1-personal")
    assert stale is not None and stale.stale
    clock.advance(days=1)
    await store.save(_reference("a:1-personal", "personal", user).serialize())
    assert await store.for_user(user) is not None
    refreshed = await store.get("a:1-personal")
    assert (
        refreshed is not None and not refreshed.stale and refreshed.updated_at == MONDAY + timedelta(days=1)
    )


async def test_the_newest_personal_chat_wins_and_all_personal_lists_the_live_ones(
    store: ConversationStore, clock: FakeClock
) -> None:
    user = aad("durham", "raiser")
    await store.save(_reference("a:old", "personal", user).serialize())
    clock.advance(minutes=5)
    await store.save(_reference("a:new", "personal", user).serialize())
    await store.save(_reference("a:other", "personal", aad("durham", "professional")).serialize())
    found = await store.for_user(user)
    assert found is not None and found["conversation"]["id"] == "a:new"
    await store.mark_stale("a:new")
    found = await store.for_user(user)
    assert found is not None and found["conversation"]["id"] == "a:old"
    assert [r.conversation_id for r in await store.all_personal()] == ["a:old", "a:other"]


async def test_what_the_activity_knows_better_overrides_the_reference(store: ConversationStore) -> None:
    reference = _reference("a:2-personal", "personal").serialize()
    reference["conversation"].pop("tenantID", None)
    user = aad("rochdale", "professional")
    record = await store.save(
        reference, user_aad_object_id=user, tenant_id="0b0b0b0b-0000-4000-8000-000000000002"
    )
    assert record.aad_object_id == user and record.tenant_id == "0b0b0b0b-0000-4000-8000-000000000002"
    assert await store.for_user(user) == reference


async def test_something_that_is_not_a_reference_is_refused(store: ConversationStore) -> None:
    with pytest.raises(ValueError, match="serviceUrl"):
        await store.save({"conversation": {"id": "a:1"}})
    with pytest.raises(ValueError, match=r"conversation\.id"):
        await store.save({"serviceUrl": "https://x.example/"})
