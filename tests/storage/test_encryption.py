"""Encryption at rest (`storage/crypto.py`): what is stored is ciphertext bound to its row and column, reads
give back what was written, keys rotate without a change to what anything says, migration 0008 encrypts what
0007 stored (and its downgrade decrypts it), and the lookup of an agency reference answers its raiser alone."""

from __future__ import annotations

import base64
import logging
import os
import stat
from collections.abc import AsyncIterator, Iterator
from dataclasses import replace
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy
from alembic import command
from sqlalchemy import event, select, text
from sqlalchemy.engine import Connection

from bot.cli import main as cli_main
from bot.config import ConfigError, Settings
from bot.keys import data_keyring, key_counts, rotate
from bot.wiring import build_runtime
from dialogs.service import change_mark
from process.challenge import ChildDetails, Escalate, Respond
from process.policy import Role
from storage.challenges import ChallengeRepository
from storage.crypto import (
    CHALLENGE,
    DEPLOYMENT,
    DRAFT,
    KEY_ENV,
    KEY_FILE_ENV,
    LOOKUP,
    PREVIOUS_ENV,
    PREVIOUS_FILE_ENV,
    BadKey,
    DataKey,
    Keyring,
    MissingKey,
    UndecryptableError,
    configure,
    generate_key,
    keys_of,
)
from storage.db import Database
from storage.drafts import DraftChild, DraftStore
from storage.migrate import alembic_config, current_revision, head_revision, upgrade
from storage.monitoring import MonitoringStore
from storage.patterns import PatternStore
from storage.protected import ENCRYPTED
from storage.schema import challenge_changes, child_details, data_keys, metadata
from storage.verify import verify
from tests.support.clock import FakeClock
from tests.support.database import run_async, sqlite_url
from tests.support.directory import MONDAY, engine_for, holder, raising
from tests.support.keys import TEST_DATA_KEY

CHILD = ChildDetails(
    name="Gwenllïan Ŵyn-Treharne",
    date_of_birth=MONDAY.date().replace(year=2017),
    agency_reference="LA-7Q4-91Z3",
)
CONCERN = "Gwenllïan's plan was not shared with her school."
ANSWER = "We shared Gwenllïan's plan on Friday."
REASON = "No reply about Gwenllïan in a working day."
#: Parts of what is stored that read the same in a text column and in a JSON one (which escapes "ï").
PLAIN_WORDS = (
    CHILD.name,
    "LA-7Q4-91Z3",
    "09/03/2017",
    "not shared with her school",
    "plan on Friday",
    "in a working day",
)


@pytest.fixture(autouse=True)
def test_keyring() -> Iterator[None]:
    """Each test starts with the suite's key, and whatever it configured is undone after it."""
    configure(Keyring.from_environment({KEY_ENV: TEST_DATA_KEY}))
    yield
    configure(None)


def _key(byte: int) -> str:
    return base64.b64encode(bytes([byte]) * 32).decode()


async def _raw(database: Database, *, before_0008: bool = False) -> str:
    """Every value of every table, as text (of the tables there were before 0008, if asked)."""
    out = []
    async with database.reading() as conn:
        for table in metadata.sorted_tables:
            if before_0008 and table.name == "data_keys":
                continue
            for row in await conn.execute(text(f'SELECT * FROM "{table.name}"')):
                out.append(repr(tuple(row)))
    return "\n".join(out)


async def _worked(database: Database) -> tuple[ChallengeRepository, list[Any]]:
    """Two Rochdale challenges about the invented child (Rochdale's form has the date of birth and the agency
    reference), answered and escalated, and an unfinished raising form."""
    repo = ChallengeRepository(database, clock=FakeClock(MONDAY))
    engine = engine_for("rochdale")
    made = []
    for n in range(2):
        c = (await repo.create("RBS", 2026, raising(engine, child=CHILD, concern=CONCERN))).challenge
        for hours, (action, role) in enumerate(
            [(Respond(ANSWER), Role.CHALLENGED_PROFESSIONAL), (Escalate(REASON), Role.RAISER)][: n + 1], 1
        ):
            decision = engine.apply(c, action, holder("rochdale", role), MONDAY + timedelta(hours=hours))
            await repo.save(decision, c.version, change_mark(action, holder("rochdale", role)))
            c = decision.challenge
        made.append(c)
    drafts = DraftStore(database)
    draft, _ = await drafts.start("someone", "child", MONDAY, timedelta(hours=24))
    await drafts.advance(
        draft,
        verb="raise.next",
        step="issue",
        answers={"concern": CONCERN},
        child=DraftChild(CHILD.name, "09/03/2017", CHILD.agency_reference),
        now=MONDAY,
    )
    return repo, made


def test_a_ciphertext_opens_only_in_its_own_row_and_column() -> None:
    key = DataKey("challenge-1", os.urandom(32))
    stored = key.text("challenges.concern", CONCERN)
    assert stored is not None and stored.startswith("v1:") and "Gwenll" not in stored
    assert key.text("challenges.concern", CONCERN) != stored, "a fresh nonce each time"
    assert key.plain_text("challenges.concern", stored) == CONCERN
    with pytest.raises(UndecryptableError):
        key.plain_text("challenges.desired_outcome", stored)
    with pytest.raises(UndecryptableError):
        DataKey("challenge-2", key.key).plain_text("challenges.concern", stored)
    with pytest.raises(UndecryptableError):
        DataKey("challenge-1", os.urandom(32)).plain_text("challenges.concern", stored)
    tampered = stored[:20] + ("A" if stored[20] != "A" else "B") + stored[21:]
    with pytest.raises(UndecryptableError):
        key.plain_text("challenges.concern", tampered)
    # None and empty text say nothing and are stored as they are; JSON round-trips.
    assert key.text("c.x", None) is None and key.text("c.x", "") == ""
    fields = {"outcome": "Gwenllïan 🙂 \ud800"}
    assert key.plain_json("challenges.fields", key.json("challenges.fields", fields)) == fields


def test_the_keyring_reads_its_keys_from_the_environment_or_files(tmp_path: Path) -> None:
    current, old, older = _key(1), _key(2), _key(3)
    ring = Keyring.from_environment({KEY_ENV: current, PREVIOUS_ENV: f"{old}, {older}"})
    assert ring.current_id == Keyring.from_environment({KEY_ENV: current}).current_id
    assert set(ring.readable) == {
        ring.current_id,
        *(Keyring.from_environment({KEY_ENV: k}).current_id for k in (old, older)),
    }
    (tmp_path / "key").write_text(current + "\n")
    (tmp_path / "previous").write_text(f"{old}\n{older}\n")
    from_files = Keyring.from_environment(
        {KEY_FILE_ENV: str(tmp_path / "key"), PREVIOUS_FILE_ENV: str(tmp_path / "previous")}
    )
    assert from_files == ring
    with pytest.raises(MissingKey, match=f"{KEY_ENV}.*{KEY_FILE_ENV}"):
        Keyring.from_environment({})
    with pytest.raises(BadKey, match="32 bytes"):
        Keyring.from_environment({KEY_ENV: base64.b64encode(b"short").decode()})
    with pytest.raises(BadKey, match="not base64"):
        Keyring.from_environment({KEY_ENV: "not a key!"})
    with pytest.raises(BadKey, match=KEY_FILE_ENV):
        Keyring.from_environment({KEY_FILE_ENV: str(tmp_path / "missing")})
    assert len(base64.b64decode(generate_key())) == 32 and generate_key() != generate_key()
    # Neither a keyring nor a data key shows its bytes when printed or logged.
    assert repr(ring) == "Keyring()" and repr(DataKey("c", bytes(32))) == "DataKey(owner_id='c')"


def test_the_key_mistakes_operators_make_are_refused_with_what_is_wrong(tmp_path: Path) -> None:
    """A key file written by hand (spaces, a blank line, CRLF, an editor's byte order mark) is read; an empty
    key file, both a key and a key file, a file that is not text or cannot be read, and a bad previous key are
    refused naming the variable, and local mode then makes no key of its own."""
    key = _key(5)
    wanted = Keyring.from_environment({KEY_ENV: key})
    for n, written in enumerate(
        [f"  {key}  \n\n", f"{key}\r\n", b"\xef\xbb\xbf" + key.encode() + b"\n", key], start=1
    ):
        path = tmp_path / f"key-{n}"
        path.write_bytes(written if isinstance(written, bytes) else written.encode())
        assert Keyring.from_environment({KEY_FILE_ENV: str(path)}) == wanted, written
    (tmp_path / "empty").write_text("\n")
    with pytest.raises(BadKey, match=f"{KEY_FILE_ENV} names a file that holds no key"):
        Keyring.from_environment({KEY_FILE_ENV: str(tmp_path / "empty")})
    with pytest.raises(BadKey, match=f"both {KEY_ENV} and {KEY_FILE_ENV} are set"):
        Keyring.from_environment({KEY_ENV: key, KEY_FILE_ENV: str(tmp_path / "key-1")})
    with pytest.raises(BadKey, match=f"both {PREVIOUS_ENV} and {PREVIOUS_FILE_ENV} are set"):
        Keyring.from_environment(
            {KEY_ENV: key, PREVIOUS_ENV: _key(6), PREVIOUS_FILE_ENV: str(tmp_path / "key-1")}
        )
    (tmp_path / "latin").write_bytes(b"cl\xe9\n")
    with pytest.raises(BadKey, match=f"{KEY_FILE_ENV} names a file that is not base64 text"):
        Keyring.from_environment({KEY_FILE_ENV: str(tmp_path / "latin")})
    with pytest.raises(BadKey, match=r"cannot be read .*IsADirectoryError"):
        Keyring.from_environment({KEY_FILE_ENV: str(tmp_path)})
    with pytest.raises(BadKey, match=rf"{PREVIOUS_ENV} \(key 2 of 2\) must be base64 of 32 bytes, not 3"):
        Keyring.from_environment({KEY_ENV: key, PREVIOUS_ENV: f"{_key(6)},abcd"})
    # An empty previous-key file is no previous key (what step 4 of a rotation may leave).
    assert Keyring.from_environment({KEY_ENV: key, PREVIOUS_FILE_ENV: str(tmp_path / "empty")}) == wanted
    # Local mode on SQLite, told of a key file that holds nothing, refuses rather than make a key of its own.
    local = Settings(database_url=sqlite_url(tmp_path / "var" / "bot.db"))
    with pytest.raises(ConfigError, match="holds no key"):
        data_keyring(local, {KEY_FILE_ENV: str(tmp_path / "empty")})
    assert not (tmp_path / "var" / "data-key").exists()


def test_a_deployment_without_a_key_refuses_to_start_and_local_mode_makes_its_own(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    deployed = Settings(database_url=sqlite_url(tmp_path / "bot.db"), app_id="app", app_password="secret")
    with pytest.raises(ConfigError) as refused:
        data_keyring(deployed, {})
    assert KEY_ENV in str(refused.value) and KEY_FILE_ENV in str(refused.value)
    assert not (tmp_path / "data-key").exists()

    local = Settings(database_url=sqlite_url(tmp_path / "var" / "bot.db"))
    with caplog.at_level(logging.WARNING, logger="bot.keys"):
        made = data_keyring(local, {})
    path = tmp_path / "var" / "data-key"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert "local mode" in caplog.text and str(path) in caplog.text
    assert path.read_text().strip() not in caplog.text
    assert data_keyring(local, {}) == made, "the same key on the next start"
    # Local mode on PostgreSQL makes no key: a shared database is never encrypted under one made on the spot.
    with pytest.raises(ConfigError, match="SQLite database only"):
        data_keyring(Settings(database_url="postgresql+asyncpg://postgres@127.0.0.1/x"), {})
    # A key in the environment is used, local mode or not.
    assert data_keyring(deployed, {KEY_ENV: _key(9)}).current == bytes([9]) * 32


def test_local_mode_refuses_to_start_when_its_key_file_is_gone_but_the_database_holds_records(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """A deleted `var/data-key` with the database kept: no new key is made on the spot (it would leave every
    record unreadable while the bot claimed to be fine); the bot and its commands stop, saying what to do."""
    url = sqlite_url(tmp_path / "var" / "bot.db")
    local = Settings(database_url=url)
    key_file = tmp_path / "var" / "data-key"
    made = data_keyring(local, {})
    run_async(lambda: upgrade(url))
    engine = sqlalchemy.create_engine(f"sqlite:///{tmp_path / 'var' / 'bot.db'}")
    with engine.begin() as conn:
        kek_id, wrapped = made.wrap(bytes(32), CHALLENGE, "challenge-1")
        conn.execute(
            data_keys.insert().values(
                owner_kind=CHALLENGE,
                owner_id="challenge-1",
                kek_id=kek_id,
                wrapped_key=wrapped,
                created_at=MONDAY,
            )
        )
    engine.dispose()
    assert data_keyring(local, {}) == made, "the key file that made the records opens them"

    original = key_file.read_text()
    key_file.unlink()
    with pytest.raises(ConfigError) as refused:
        data_keyring(local, {})
    said = str(refused.value)
    assert made.current_id in said and str(key_file) in said and "is missing" in said
    assert "Put that key file back" in said and "start afresh" in said
    assert not key_file.exists(), "no new key was made that would leave the records unreadable"

    # Another key in its place is refused too, whoever put it there.
    key_file.write_text(generate_key() + "\n")
    with pytest.raises(ConfigError, match="holds another key"):
        data_keyring(local, {})

    # The commands stop with that message, not a traceback (the server logs the same `ConfigError`).
    key_file.unlink()
    monkeypatch.setenv("DATABASE_URL", url)
    monkeypatch.delenv(KEY_ENV, raising=False)
    assert cli_main(["audit", "verify"]) == 2
    err = capsys.readouterr().err
    assert "is missing" in err and "Traceback" not in err
    assert not key_file.exists()

    # The key given in the environment, or the file put back, opens the records again.
    assert data_keyring(local, {KEY_ENV: original.strip()}) == made
    key_file.write_text(original)
    assert data_keyring(local, {}) == made
    # Starting afresh: with the database moved away, a new key is made for the new one.
    (tmp_path / "var" / "bot.db").rename(tmp_path / "old.db")
    key_file.unlink()
    assert data_keyring(local, {}) != made and key_file.exists()


async def test_what_people_write_is_stored_encrypted_and_read_back_as_written(database: Database) -> None:
    repo, made = await _worked(database)
    raw = await _raw(database)
    for words in (
        CHILD.name,
        "Gwenllïan",
        "Ŵyn-Treharne",
        "LA-7Q4-91Z3",
        "2017-11-23",
        "09/03/2017",
        ANSWER,
        REASON,
    ):
        assert words not in raw, words
    assert raw.count("v1:") > 10
    # Every value of every encrypted column is a ciphertext (a JSON column's is the JSON string of one), save
    # what says nothing: None, empty text, an empty list or mapping.
    filled = set()
    async with database.reading() as conn:
        for table, columns in ENCRYPTED.items():
            for column in columns:
                for value in (await conn.execute(text(f'SELECT "{column}" FROM "{table}"'))).scalars():
                    if value in (None, "", "[]", "{}", [], {}):
                        continue
                    assert isinstance(value, str) and value.removeprefix('"').startswith("v1:"), (
                        table,
                        column,
                    )
                    filled.add(f"{table}.{column}")
    assert {
        "challenges.concern",
        "challenges.entries",
        "child_details.name",
        "child_details.date_of_birth",
        "child_details.agency_reference",
        "draft_child_details.name",
        "raise_drafts.answers",
        "challenge_stages.reason",
        "audit_events.summary",
        "audit_events.detail",
    } <= filled, filled
    again = [await repo.get(c.id) for c in made]
    assert again == made
    assert made[1].stages[0].reason == REASON and made[0].entries[0].text == ANSWER
    events = await repo.audit_events(made[1].id)
    assert any(ANSWER in e.summary or ANSWER in e.detail.values() for e in events)
    draft = await DraftStore(database).open_for("someone", MONDAY)
    assert draft is not None and draft.answers == {"concern": CONCERN}
    assert draft.child == DraftChild(CHILD.name, "09/03/2017", CHILD.agency_reference)
    assert (await verify(database)).ok


async def test_a_double_click_is_still_recognised_through_its_keyed_digest(database: Database) -> None:
    repo, made = await _worked(database)
    c = made[0]
    mark = change_mark(Respond(ANSWER), holder("rochdale", Role.CHALLENGED_PROFESSIONAL))
    stored = await repo.change_from(c.id, 1)
    assert stored is not None and stored.digest != mark.digest, "kept keyed, not the plain digest"
    assert await repo.repeats(c.id, 1, mark)
    assert not await repo.repeats(c.id, 1, change_mark(Respond("Another answer."), mark.actor_id))
    assert not await repo.repeats(c.id, 1, replace(mark, actor_id="somebody-else"))


async def test_the_agency_reference_is_found_for_its_raisers_own_open_challenges_only(
    database: Database,
) -> None:
    repo, made = await _worked(database)
    raiser = holder("rochdale", Role.RAISER)
    references = [c.reference for c in made]
    assert await repo.open_with_agency_reference(raiser, "rochdale", "  la-7q4-91z3 ") == references
    professional = holder("rochdale", Role.CHALLENGED_PROFESSIONAL)
    assert await repo.open_with_agency_reference(professional, "rochdale", "LA-7Q4-91Z3") == references
    assert await repo.open_with_agency_reference("a-stranger", "rochdale", "LA-7Q4-91Z3") == []
    assert await repo.open_with_agency_reference(raiser, "durham", "LA-7Q4-91Z3") == []
    assert await repo.open_with_agency_reference(raiser, "rochdale", "LA-7Q4-91Z4") == []
    assert await repo.open_with_agency_reference(raiser, "rochdale", "") == []
    async with database.reading() as conn:
        hashes = set((await conn.execute(select(child_details.c.agency_reference_hmac))).scalars())
    assert len(hashes) == 1 and all(h and len(h) == 64 for h in hashes)


async def test_rotation_rewraps_every_key_in_batches_and_nothing_changes(database: Database) -> None:
    repo, made = await _worked(database)
    old = Keyring.from_environment({KEY_ENV: TEST_DATA_KEY})
    new = Keyring.from_environment({KEY_ENV: _key(7), PREVIOUS_ENV: TEST_DATA_KEY})
    before = await key_counts(database, old)
    assert before.by_kek == {old.current_id: sum(before.by_kek.values())} and sum(before.by_kek.values()) >= 4
    configure(new)
    # Readable during the rotation, under either key.
    assert [await repo.get(c.id) for c in made] == made
    done = await rotate(database, new, batch=2)
    assert done.rewrapped == sum(before.by_kek.values()) and done.batches >= 2 and done.left_unreadable == 0
    assert (await key_counts(database, new)).by_kek == {new.current_id: done.rewrapped}
    assert (await rotate(database, new)).rewrapped == 0, "a second run has nothing to do"
    # The old key dropped: everything still reads, and no seal changed.
    configure(Keyring.from_environment({KEY_ENV: _key(7)}))
    assert [await repo.get(c.id) for c in made] == made
    assert (await verify(database)).ok
    # An environment that cannot open a key says which key it needs, and verify is not fooled either.
    configure(Keyring.from_environment({KEY_ENV: _key(8)}))
    with pytest.raises(UndecryptableError, match=PREVIOUS_ENV):
        await repo.get(made[0].id)


async def test_a_bot_started_without_the_key_its_data_keys_need_says_so_in_its_log(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """The previous key left out before a rotation: the bot still starts (new challenges work), and its log
    says at once how many data keys it cannot open, under which key, and what to set."""
    url = sqlite_url(tmp_path / "bot.db")
    await upgrade(url)
    database = await Database.connect(url)
    try:
        await _worked(database)
    finally:
        await database.dispose()
    old_id = Keyring.from_environment({KEY_ENV: TEST_DATA_KEY}).current_id
    configure(Keyring.from_environment({KEY_ENV: _key(8)}))
    with caplog.at_level(logging.ERROR, logger="bot.keys"):
        runtime = await build_runtime(Settings(database_url=url))
        await runtime.database.dispose()
    assert f"4 data keys are wrapped by key {old_id}, which is not configured here" in caplog.text
    assert PREVIOUS_ENV in caplog.text and TEST_DATA_KEY not in caplog.text and _key(8) not in caplog.text
    caplog.clear()
    configure(Keyring.from_environment({KEY_ENV: _key(8), PREVIOUS_ENV: TEST_DATA_KEY}))
    with caplog.at_level(logging.ERROR, logger="bot.keys"):
        runtime = await build_runtime(Settings(database_url=url))
        await runtime.database.dispose()
    assert caplog.text == ""


@pytest.mark.postgres
async def test_a_rotation_that_had_to_skip_a_held_key_says_so(postgres_database: Database) -> None:
    """On PostgreSQL a rotation skips a data key another transaction holds rather than wait for it: it ends
    saying how many are still under the previous key, and a run after the other transaction re-wraps it."""
    database = postgres_database
    await _worked(database)
    new = Keyring.from_environment({KEY_ENV: _key(7), PREVIOUS_ENV: TEST_DATA_KEY})
    async with database.transaction() as held:
        await held.execute(
            select(data_keys.c.owner_id).where(data_keys.c.owner_id == LOOKUP).with_for_update()
        )
        done = await rotate(database, new)
    assert done.left_previous == 1 and done.left_unreadable == 0 and done.rewrapped >= 3
    again = await rotate(database, new)
    assert again.rewrapped == 1 and again.left_previous == 0
    assert (await key_counts(database, new)).by_kek == {new.current_id: done.rewrapped + 1}


async def test_a_wrapped_key_moved_to_another_challenge_does_not_open(database: Database) -> None:
    _, made = await _worked(database)
    first, second = made
    # One data key for each challenge and for the unfinished form, and the deployment's lookup key: all
    # different.
    async with database.reading() as conn:
        owners = {
            (row.owner_kind, row.owner_id)
            for row in await conn.execute(select(data_keys.c.owner_kind, data_keys.c.owner_id))
        }
        draft_ids = {owner_id for kind, owner_id in owners if kind == DRAFT}
        opened = [
            *(await keys_of(conn, CHALLENGE, [first.id, second.id])).values(),
            *(await keys_of(conn, DRAFT, list(draft_ids))).values(),
            *(await keys_of(conn, DEPLOYMENT, [LOOKUP])).values(),
        ]
    assert (
        owners
        == {(CHALLENGE, first.id), (CHALLENGE, second.id), (DEPLOYMENT, LOOKUP)}
        | {(DRAFT, d) for d in draft_ids}
        and len(draft_ids) == 1
    )
    assert len(opened) == 4 and len({k.key for k in opened}) == 4
    async with database.transaction() as conn:
        wrapped = (
            await conn.execute(select(data_keys.c.wrapped_key).where(data_keys.c.owner_id == first.id))
        ).scalar_one()
        await conn.execute(
            data_keys.update().where(data_keys.c.owner_id == second.id).values(wrapped_key=wrapped)
        )
    configure(Keyring.from_environment({KEY_ENV: TEST_DATA_KEY}))  # no cached key
    async with database.reading() as conn:
        with pytest.raises(UndecryptableError):
            await keys_of(conn, CHALLENGE, [second.id])
    result = await verify(database)
    assert [b.where for b in result.breaks] == [second.reference]


def _migrate(conn: Connection, target: str, up: bool) -> None:
    config = alembic_config()
    config.attributes["connection"] = conn
    (command.upgrade if up else command.downgrade)(config, target)


@pytest.fixture
async def back_at_head(database: Database) -> AsyncIterator[Database]:
    """The database, brought back to the newest revision after the test whatever happened (the PostgreSQL
    schema is shared by the run's other tests)."""
    yield database
    if await current_revision(database) != head_revision():
        configure(Keyring.from_environment({KEY_ENV: TEST_DATA_KEY}))
        async with database.transaction() as conn:
            await conn.run_sync(_migrate, "head", True)


async def test_migration_0008_encrypts_what_0007_stored_and_its_downgrade_decrypts_it(
    back_at_head: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    database = back_at_head
    repo, made = await _worked(database)
    async with database.transaction() as conn:
        await conn.run_sync(_migrate, "0007", False)
    assert await current_revision(database) == "0007"
    plain = await _raw(database, before_0008=True)
    for words in PLAIN_WORDS:
        assert words in plain, words
    assert "v1:" not in plain
    # The keyed digests cannot be turned back: the downgrade empties them. Put back one as 0007 wrote it (the
    # plain digest of the inputs), for the upgrade to key.
    mark = change_mark(Respond(ANSWER), holder("rochdale", Role.CHALLENGED_PROFESSIONAL))
    async with database.transaction() as conn:
        assert set((await conn.execute(select(challenge_changes.c.digest))).scalars()) == {""}
        await conn.execute(
            challenge_changes.update()
            .where(challenge_changes.c.challenge_id == made[0].id, challenge_changes.c.from_version == 1)
            .values(digest=mark.digest)
        )

    # Without a key, the upgrade stops, says which variables to set, and changes nothing.
    configure(None)
    monkeypatch.delenv(KEY_ENV, raising=False)
    with pytest.raises(MissingKey, match=f"migration 0008.*{KEY_ENV}.*{KEY_FILE_ENV}"):
        async with database.transaction() as conn:
            await conn.run_sync(_migrate, "head", True)
    assert await current_revision(database) == "0007"
    monkeypatch.setenv(KEY_ENV, TEST_DATA_KEY)

    async with database.transaction() as conn:
        await conn.run_sync(_migrate, "head", True)
    assert await current_revision(database) == head_revision()
    raw = await _raw(database)
    for words in PLAIN_WORDS:
        assert words not in raw, words
    result = await verify(database)
    assert result.ok and result.records == 2, result.breaks
    assert [await repo.get(c.id) for c in made] == made
    assert await repo.repeats(made[0].id, 1, mark)
    assert await repo.open_with_agency_reference(
        holder("rochdale", Role.RAISER), "rochdale", "la-7q4-91z3"
    ) == [c.reference for c in made]
    draft = await DraftStore(database).open_for("someone", MONDAY)
    assert draft is not None and draft.child.name == CHILD.name and draft.answers == {"concern": CONCERN}


def test_commands_reading_a_database_make_no_local_key_where_there_is_none(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """Local mode without a key: a mistyped DATABASE_URL given to a command that only reads a database leaves
    no key file behind and says where it looked; `db upgrade` (which makes the database) makes the key."""
    monkeypatch.delenv(KEY_ENV, raising=False)
    folder = tmp_path / "mistyped"
    monkeypatch.setenv("DATABASE_URL", sqlite_url(folder / "bot.db"))
    for args in (
        ["audit", "verify"],
        ["export", "RBS-2026-0001", "--out", str(tmp_path / "form.pdf")],
        ["retention", "purge", "--dry-run"],
        ["keys", "status"],
        ["keys", "rotate"],
        ["tick"],
    ):
        assert cli_main(args) == 2, args
        err = capsys.readouterr().err
        assert f"there is none at {folder / 'data-key'}" in err and "Traceback" not in err, args
        assert not folder.exists(), args
    assert cli_main(["db", "upgrade"]) == 0
    assert (folder / "data-key").is_file() and (folder / "bot.db").is_file()
    configure(None)
    assert cli_main(["keys", "status"]) == 0
    assert "no data keys stored" in capsys.readouterr().out


def test_keys_commands_generate_report_and_rotate(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    url = sqlite_url(tmp_path / "bot.db")

    async def seeded() -> None:
        await upgrade(url)
        database = await Database.connect(url)
        try:
            await _worked(database)
        finally:
            await database.dispose()

    run_async(seeded)
    monkeypatch.setenv("DATABASE_URL", url)
    assert cli_main(["keys", "generate"]) == 0
    fresh = capsys.readouterr().out.strip()
    assert len(base64.b64decode(fresh)) == 32
    old_id = Keyring.from_environment({KEY_ENV: TEST_DATA_KEY}).current_id
    new_id = Keyring.from_environment({KEY_ENV: fresh}).current_id

    assert cli_main(["keys", "status"]) == 0
    assert f"{old_id}: 4 data keys (current)" in capsys.readouterr().out

    monkeypatch.setenv(KEY_ENV, fresh)
    assert cli_main(["keys", "status"]) == 1, "a key this environment cannot open"
    assert f"{old_id}: 4 data keys (NOT READABLE)" in capsys.readouterr().out
    monkeypatch.setenv(PREVIOUS_ENV, TEST_DATA_KEY)
    assert cli_main(["keys", "rotate"]) == 0
    out = capsys.readouterr().out
    assert f"re-wrapped 4 data keys under {new_id}" in out and f"{new_id}: 4 data keys (current)" in out
    assert cli_main(["keys", "rotate"]) == 0
    assert "re-wrapped 0 data keys" in capsys.readouterr().out
    monkeypatch.delenv(PREVIOUS_ENV)
    assert cli_main(["audit", "verify"]) == 0
    assert capsys.readouterr().out.startswith("OK")


async def test_monitoring_and_the_pattern_watch_read_no_encrypted_column(database: Database) -> None:
    """The figures and the pattern watch need no key: none of their statements names an encrypted column."""
    await _worked(database)
    statements: list[str] = []

    def record(conn: Any, cursor: Any, statement: str, parameters: Any, context: Any, many: bool) -> None:
        statements.append(statement)

    event.listen(database.engine.sync_engine, "before_cursor_execute", record)
    try:
        facts = await MonitoringStore(database).facts(
            ["rochdale"], MONDAY - timedelta(days=1), MONDAY + timedelta(days=1)
        )
        patterns = PatternStore(database)
        raised = await patterns.raised_since("rochdale", MONDAY - timedelta(days=1))
        await patterns.last_triggers("rochdale")
        await patterns.all()
    finally:
        event.remove(database.engine.sync_engine, "before_cursor_execute", record)
    assert len(facts) == 2 and len(raised) == 2 and statements
    sql = "\n".join(statements)
    assert "data_keys" not in sql
    for table, columns in ENCRYPTED.items():
        for column in columns:
            assert f"{table}.{column}" not in sql, f"{table}.{column}"


async def test_reading_never_makes_a_deployment_key(database: Database) -> None:
    """A first turn reads dialog state and a raising form's review looks up the agency reference, each in a
    read snapshot, on a database where nothing has been written under the deployment's keys yet. Reading
    must not make those keys: an insert inside a read snapshot fails on SQLite ("database is locked") as soon
    as another write committed first, which people clicking at once did. The first write makes them."""
    from storage.bot_state import SqlStorage

    state = SqlStorage(database)
    repo = ChallengeRepository(database)
    assert await state.read(["conversation/a"]) == {}
    assert await repo.open_with_agency_reference("someone", "rochdale", "LA-7Q4-91Z3") == []
    async with database.reading() as conn:
        assert (await conn.execute(select(data_keys))).all() == []

    await state.write({"conversation/a": {"said": "Gwenllïan"}})
    assert (await state.read(["conversation/a"]))["conversation/a"]["said"] == "Gwenllïan"
    async with database.reading() as conn:
        assert [row.owner_id for row in await conn.execute(select(data_keys))] == ["bot_state"]
