"""botbuilder `Storage` on the database: the SDK's e-tag semantics, and real dialog state across turns."""

from __future__ import annotations

from typing import Any

import pytest
from botbuilder.core import ConversationState, MessageFactory, StoreItem, TurnContext
from botbuilder.core.adapters import TestAdapter
from botbuilder.dialogs import (
    Dialog,
    DialogSet,
    DialogTurnResult,
    PromptOptions,
    PromptValidatorContext,
    TextPrompt,
    WaterfallDialog,
    WaterfallStepContext,
)
from botbuilder.schema import Activity, ActivityTypes, ChannelAccount, ConversationAccount
from sqlalchemy import insert

from storage.bot_state import SqlStorage, UnsafeStateError
from storage.crypto import BOT_STATE, deployment_key
from storage.db import Database
from storage.errors import StateConflictError
from storage.schema import bot_state
from tests.support.directory import MONDAY


@pytest.fixture
def storage(database: Database) -> SqlStorage:
    return SqlStorage(database)


async def test_reading_unknown_keys_finds_nothing(storage: SqlStorage) -> None:
    assert await storage.read(["unknown"]) == {}
    assert await storage.read([]) == {}


async def test_keys_and_changes_are_required(storage: SqlStorage) -> None:
    with pytest.raises(ValueError, match="Keys are required when reading"):
        await storage.read(None)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="Changes are required when writing"):
        await storage.write(None)  # type: ignore[arg-type]
    await storage.write({})
    await storage.delete([])
    await storage.delete(["never-stored"])


async def test_written_items_come_back_with_an_e_tag(storage: SqlStorage) -> None:
    await storage.write({"createPoco": {"id": 1}, "createPocoStoreItem": {"id": 2}})
    found = await storage.read(["createPoco", "createPocoStoreItem", "missing"])
    assert set(found) == {"createPoco", "createPocoStoreItem"}
    assert found["createPoco"]["id"] == 1 and found["createPocoStoreItem"]["id"] == 2
    assert found["createPoco"]["e_tag"] and found["createPocoStoreItem"]["e_tag"]
    assert found["createPoco"]["e_tag"] != found["createPocoStoreItem"]["e_tag"]


async def test_keys_with_any_characters_work(storage: SqlStorage) -> None:
    key = '!@#$%^&*()_+??><":QASD~`' + "/msteams/conversations/a:1Ü'; DROP TABLE bot_state; --"
    await storage.write({key: {"id": 1}})
    assert (await storage.read([key]))[key]["id"] == 1


async def test_e_tags_refuse_stale_writes_and_allow_star_and_missing_ones(storage: SqlStorage) -> None:
    await storage.write({"pocoItem": {"id": 1, "count": 1}, "pocoStoreItem": {"id": 1, "count": 1}})
    loaded = await storage.read(["pocoItem", "pocoStoreItem"])
    poco, store_item = loaded["pocoItem"], loaded["pocoStoreItem"]
    poco["e_tag"] = None
    first_tag = store_item["e_tag"]
    poco["count"] += 1
    store_item["count"] += 1
    await storage.write(loaded)
    reloaded = await storage.read(["pocoItem", "pocoStoreItem"])
    assert reloaded["pocoItem"]["count"] == 2 and reloaded["pocoStoreItem"]["count"] == 2
    assert reloaded["pocoStoreItem"]["e_tag"] != first_tag, "every write gives a new e-tag"

    poco["count"] = 123  # no e-tag: last write wins
    await storage.write({"pocoItem": poco})
    store_item["count"] = 123  # the e-tag read before the last write: refused
    with pytest.raises(StateConflictError) as caught:
        await storage.write({"pocoStoreItem": store_item})
    assert isinstance(caught.value, KeyError) and "pocoStoreItem" in str(caught.value)
    after = await storage.read(["pocoItem", "pocoStoreItem"])
    assert after["pocoItem"]["count"] == 123 and after["pocoStoreItem"]["count"] == 2

    wildcard = after["pocoStoreItem"]
    wildcard["count"], wildcard["e_tag"] = 100, "*"
    stale_too = dict(after["pocoItem"], count=100)
    await storage.write({"pocoItem": stale_too, "pocoStoreItem": wildcard})
    assert (await storage.read(["pocoStoreItem"]))["pocoStoreItem"]["count"] == 100

    empty = (await storage.read(["pocoStoreItem"]))["pocoStoreItem"]
    empty["e_tag"], empty["count"] = "", 7
    with pytest.raises(ValueError, match="empty e_tag"):
        await storage.write({"pocoStoreItem": empty})
    assert (await storage.read(["pocoStoreItem"]))["pocoStoreItem"]["count"] == 100


async def test_store_items_come_back_as_store_items_with_their_e_tag(storage: SqlStorage) -> None:
    await storage.write({"user": StoreItem(counter=1, e_tag="*")})
    item = (await storage.read(["user"]))["user"]
    assert isinstance(item, StoreItem) and item.counter == 1 and item.e_tag not in (None, "", "*")
    item.counter = 2
    await storage.write({"user": item})
    with pytest.raises(StateConflictError):
        await storage.write({"user": StoreItem(counter=3, e_tag=item.e_tag)})
    assert (await storage.read(["user"]))["user"].counter == 2


async def test_a_first_write_may_carry_any_e_tag(storage: SqlStorage) -> None:
    # As MemoryStorage: nothing stored yet, so there is nothing to be stale against.
    await storage.write({"fresh": StoreItem(counter=1, e_tag="0")})
    assert (await storage.read(["fresh"]))["fresh"].counter == 1


async def test_a_write_of_several_items_is_all_or_nothing(storage: SqlStorage) -> None:
    await storage.write({"a": {"n": 1}, "b": {"n": 1}})
    stale_b = (await storage.read(["b"]))["b"]
    await storage.write({"b": {"n": 2}})
    with pytest.raises(StateConflictError):
        await storage.write({"a": {"n": 99}, "b": dict(stale_b, n=99)})
    found = await storage.read(["a", "b"])
    assert found["a"]["n"] == 1 and found["b"]["n"] == 2


async def test_batches_are_written_read_and_deleted(storage: SqlStorage) -> None:
    await storage.write({f"batch{n}": {"count": n * 10} for n in range(1, 4)})
    found = await storage.read(["batch1", "batch2", "batch3"])
    assert [found[f"batch{n}"]["count"] for n in range(1, 4)] == [10, 20, 30]
    await storage.delete({"batch1", "batch2"})
    assert set(await storage.read(["batch1", "batch2", "batch3"])) == {"batch3"}


@pytest.mark.parametrize(
    "data",
    [
        {"py/object": "subprocess.Popen", "args": ["true"]},
        {"py/reduce": [{"py/function": "os.system"}, {"py/tuple": ["true"]}]},
        {"x": {"py/repr": "os/os.getcwd()"}},
        {"py/object": "botbuilder.core.storage.copy"},
        {"py/object": "botbuilder.core.storage.ABC"},
        {"deep": [{"py/type": "builtins.eval"}]},
    ],
    ids=["other-package", "function", "repr", "function-inside-allowed-module", "imported-class", "builtin"],
)
async def test_stored_state_that_would_run_code_is_not_rebuilt(
    storage: SqlStorage, database: Database, data: dict[str, Any]
) -> None:
    async with database.transaction() as conn:
        await conn.execute(insert(bot_state).values(key="evil", data=data, e_tag="1", updated_at=MONDAY))
    with pytest.raises(UnsafeStateError):
        await storage.read(["evil"])


def _activity(text: str, conversation_id: str = "conv-1") -> Activity:
    return Activity(
        type=ActivityTypes.message,
        text=text,
        channel_id="msteams",
        conversation=ConversationAccount(id=conversation_id),
        from_property=ChannelAccount(id="user-1"),
        recipient=ChannelAccount(id="bot"),
        service_url="https://service.example/",
    )


async def test_a_waterfall_with_a_prompt_runs_across_turns_on_stored_dialog_state(
    storage: SqlStorage, database: Database
) -> None:
    conversation_state = ConversationState(storage)
    dialogs = DialogSet(conversation_state.create_property("DialogState"))

    async def validator(prompt: PromptValidatorContext) -> bool:
        if len(prompt.recognized.value) > 3:
            await prompt.context.send_activity(f"Accepted after {prompt.options.number_of_attempts} retries")
            return True
        await prompt.context.send_activity(
            f"Please send a name that is longer than 3 characters. {prompt.options.number_of_attempts}"
        )
        return False

    async def step_1(step: WaterfallStepContext) -> DialogTurnResult:
        await step.context.send_activity("step1")
        return Dialog.end_of_turn

    async def step_2(step: WaterfallStepContext) -> DialogTurnResult:
        return await step.prompt(
            TextPrompt.__name__, PromptOptions(prompt=MessageFactory.text("Please type your name"))
        )

    async def step_3(step: WaterfallStepContext) -> DialogTurnResult:
        await step.context.send_activity(f"step3 {step.result}")
        return Dialog.end_of_turn

    dialogs.add(WaterfallDialog(WaterfallDialog.__name__, [step_1, step_2, step_3]))
    dialogs.add(TextPrompt(TextPrompt.__name__, validator))

    async def turn(context: TurnContext) -> None:
        dc = await dialogs.create_context(context)
        await dc.continue_dialog()
        if not context.responded:
            await dc.begin_dialog(WaterfallDialog.__name__)
        await conversation_state.save_changes(context)

    adapter = TestAdapter(turn)
    step = await (await adapter.send("hello")).assert_reply("step1")
    step = await (await step.send("hello")).assert_reply("Please type your name")
    step = await (await step.send("hi")).assert_reply(
        "Please send a name that is longer than 3 characters. 0"
    )
    step = await (await step.send("hi")).assert_reply(
        "Please send a name that is longer than 3 characters. 1"
    )
    step = await (await step.send("Kyle")).assert_reply("Accepted after 2 retries")
    await step.assert_reply("step3 Kyle")

    # The dialog stack lived in the database between turns, as JSON encrypted under the deployment's key.
    async with database.reading() as conn:
        (row,) = (await conn.execute(bot_state.select())).all()
        key = await deployment_key(conn, BOT_STATE)
    assert row.key.endswith("/conversations/Convo1")
    assert isinstance(row.data, str) and row.data.startswith("v1:") and "Kyle" not in row.data
    data = key.plain_json(f"bot_state.data.{row.key}", row.data)
    assert data["DialogState"]["py/object"] == "botbuilder.dialogs.dialog_state.DialogState"
    assert "e_tag" not in data, "the e-tag lives in its own column"


async def test_two_turns_of_one_conversation_cannot_overwrite_each_other(storage: SqlStorage) -> None:
    conversation_state = ConversationState(storage)
    counter = conversation_state.create_property("counter")
    adapter = TestAdapter()
    first = TurnContext(adapter, _activity("one"))
    second = TurnContext(adapter, _activity("two"))
    await conversation_state.load(first)
    await counter.set(first, 1)
    await conversation_state.save_changes(first)

    await conversation_state.load(first, force=True)
    await conversation_state.load(second, force=True)
    await counter.set(first, 2)
    await counter.set(second, 3)
    await conversation_state.save_changes(first)
    with pytest.raises(StateConflictError):
        await conversation_state.save_changes(second)
    third = TurnContext(adapter, _activity("three"))
    await conversation_state.load(third)
    assert await counter.get(third) == 2
