"""Encryption at rest (`storage/crypto.py`): the data keys table, the child's date of birth as text (it is
stored encrypted), the keyed hash of the agency reference, and every stored child's details and free text
encrypted under a new data key per challenge and per open raising form (dialog state under the deployment's).

The key-encryption key comes from the environment (`CHALLENGE_DATA_KEY`...); with rows to encrypt and no key,
the upgrade stops with an error naming the variables and changes nothing. Seals and the chronology's digests
are over the values as written, so encrypting changes none: `audit verify` passes before and after. The
digests of what each change's author typed (`challenge_changes.digest`) are keyed (HMAC under a subkey of the
challenge's data key). A purged challenge gets no key: all it keeps is already in the clear.

Downgrade decrypts everything back (the key is needed again) and drops the keys; the keyed digests cannot be
turned back, so they are emptied (a second click of an old change is then told the card was out of date).

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-01
"""

from __future__ import annotations

import secrets
import warnings
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from alembic import op
from sqlalchemy.engine import Connection

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None

_TEXT = ("concern", "desired_outcome", "informal_evidence", "agreed_outcome")
_JSON = ("entries", "proposal", "timescale_proposal", "meetings", "fields")
_CHILD = ("name", "date_of_birth", "agency_reference")

_meta = sa.MetaData()
_challenges = sa.Table(
    "challenges",
    _meta,
    sa.Column("id", sa.String(64)),
    sa.Column("purged_at", sa.DateTime(timezone=True)),
    *(sa.Column(n, sa.Text) for n in _TEXT),
    *(sa.Column(n, sa.JSON(none_as_null=True)) for n in _JSON),
)
_child = sa.Table(
    "child_details",
    _meta,
    sa.Column("challenge_id", sa.String(64)),
    *(sa.Column(n, sa.Text) for n in _CHILD),
    sa.Column("agency_reference_hmac", sa.String(64)),
)
_stages = sa.Table(
    "challenge_stages",
    _meta,
    sa.Column("challenge_id", sa.String(64)),
    sa.Column("position", sa.Integer),
    sa.Column("reason", sa.Text),
)
_events = sa.Table(
    "audit_events",
    _meta,
    sa.Column("id", sa.Integer),
    sa.Column("challenge_id", sa.String(64)),
    sa.Column("seq", sa.Integer),
    sa.Column("summary", sa.Text),
    sa.Column("detail", sa.JSON(none_as_null=True)),
)
_changes = sa.Table(
    "challenge_changes",
    _meta,
    sa.Column("challenge_id", sa.String(64)),
    sa.Column("from_version", sa.Integer),
    sa.Column("digest", sa.String(64)),
)
_drafts = sa.Table(
    "raise_drafts",
    _meta,
    sa.Column("id", sa.String(64)),
    sa.Column("status", sa.String(16)),
    sa.Column("answers", sa.JSON(none_as_null=True)),
)
_draft_child = sa.Table(
    "draft_child_details",
    _meta,
    sa.Column("draft_id", sa.String(64)),
    *(sa.Column(n, sa.Text) for n in _CHILD),
)
_state = sa.Table(
    "bot_state",
    _meta,
    sa.Column("key", sa.Text),
    sa.Column("data", sa.JSON(none_as_null=True)),
)
_keys = sa.Table(
    "data_keys",
    _meta,
    sa.Column("owner_kind", sa.String(16)),
    sa.Column("owner_id", sa.String(64)),
    sa.Column("kek_id", sa.String(16)),
    sa.Column("wrapped_key", sa.Text),
    sa.Column("created_at", sa.DateTime(timezone=True)),
)

#: Rows read at a time.
_BATCH = 500


def _keyring() -> Any:
    from storage.crypto import KEY_ENV, KEY_FILE_ENV, MissingKey, keyring

    try:
        return keyring()
    except MissingKey:
        raise MissingKey(
            f"migration 0008 encrypts the stored challenges, raising forms and dialog state, and needs the "
            f"data encryption key: set {KEY_ENV} (base64 of 32 random bytes, `challenge-bot keys generate`) "
            f"or {KEY_FILE_ENV}, then run `challenge-bot db upgrade` again (nothing was changed)"
        ) from None


def _forget_cached() -> None:
    from storage.crypto import forget_cached

    forget_cached()


def _has_rows(conn: Connection) -> bool:
    for table in (_challenges, _drafts, _state):
        if conn.execute(sa.select(sa.literal(1)).select_from(table).limit(1)).first() is not None:
            return True
    return False


def _batches(conn: Connection, query: sa.Select[Any]) -> Iterator[Sequence[Any]]:
    rows = conn.execute(query).all()
    for start in range(0, len(rows), _BATCH):
        yield rows[start : start + _BATCH]


def _new_key(conn: Connection, ring: Any, kind: str, owner_id: str) -> Any:
    from storage.crypto import KEY_BYTES, DataKey

    raw = secrets.token_bytes(KEY_BYTES)
    kek_id, wrapped = ring.wrap(raw, kind, owner_id)
    conn.execute(
        _keys.insert().values(
            owner_kind=kind,
            owner_id=owner_id,
            kek_id=kek_id,
            wrapped_key=wrapped,
            created_at=datetime.now(UTC),
        )
    )
    return DataKey(owner_id, raw)


def _stored_key(conn: Connection, ring: Any, kind: str, owner_id: str) -> Any:
    from storage.crypto import DataKey

    row = conn.execute(
        sa.select(_keys.c.kek_id, _keys.c.wrapped_key).where(
            _keys.c.owner_kind == kind, _keys.c.owner_id == owner_id
        )
    ).first()
    if row is None:
        return None
    return DataKey(owner_id, ring.unwrap(row.kek_id, row.wrapped_key, kind, owner_id))


def _encrypt(conn: Connection) -> None:
    from storage.crypto import BOT_STATE, CHALLENGE, DEPLOYMENT, DRAFT, LOOKUP, reference_hmac
    from storage.protected import challenge_row, child_row, event_words, stage_reason

    if not _has_rows(conn):
        return
    ring = _keyring()
    lookup = _new_key(conn, ring, DEPLOYMENT, LOOKUP)
    for batch in _batches(
        conn, sa.select(_challenges).where(_challenges.c.purged_at.is_(None)).order_by(_challenges.c.id)
    ):
        for row in batch:
            key = _new_key(conn, ring, CHALLENGE, row.id)
            values = challenge_row(key, {n: row._mapping[n] for n in (*_TEXT, *_JSON)})
            conn.execute(_challenges.update().where(_challenges.c.id == row.id).values(**values))
            for child in conn.execute(sa.select(_child).where(_child.c.challenge_id == row.id)):
                plain = {n: child._mapping[n] for n in _CHILD}
                conn.execute(
                    _child.update()
                    .where(_child.c.challenge_id == row.id)
                    .values(
                        **child_row(key, "child_details", plain),
                        agency_reference_hmac=reference_hmac(lookup, plain["agency_reference"]),
                    )
                )
            for stage in conn.execute(
                sa.select(_stages).where(_stages.c.challenge_id == row.id, _stages.c.reason.is_not(None))
            ):
                conn.execute(
                    _stages.update()
                    .where(_stages.c.challenge_id == row.id, _stages.c.position == stage.position)
                    .values(reason=stage_reason(key, stage.position, stage.reason))
                )
            for event in conn.execute(sa.select(_events).where(_events.c.challenge_id == row.id)):
                summary, detail = event_words(key, event.seq, event.summary, event.detail or {})
                conn.execute(
                    _events.update().where(_events.c.id == event.id).values(summary=summary, detail=detail)
                )
            for change in conn.execute(
                sa.select(_changes).where(_changes.c.challenge_id == row.id, _changes.c.digest != "")
            ):
                conn.execute(
                    _changes.update()
                    .where(_changes.c.challenge_id == row.id, _changes.c.from_version == change.from_version)
                    .values(digest=key.digest("challenge_changes.digest", change.digest))
                )
    for batch in _batches(conn, sa.select(_drafts).where(_drafts.c.status == "open").order_by(_drafts.c.id)):
        for draft in batch:
            key = _new_key(conn, ring, DRAFT, draft.id)
            conn.execute(
                _drafts.update()
                .where(_drafts.c.id == draft.id)
                .values(answers=key.json("raise_drafts.answers", draft.answers or {}))
            )
            for child in conn.execute(sa.select(_draft_child).where(_draft_child.c.draft_id == draft.id)):
                conn.execute(
                    _draft_child.update()
                    .where(_draft_child.c.draft_id == draft.id)
                    .values(**child_row(key, "draft_child_details", {n: child._mapping[n] for n in _CHILD}))
                )
    state_key = _new_key(conn, ring, DEPLOYMENT, BOT_STATE)
    for batch in _batches(conn, sa.select(_state).order_by(_state.c.key)):
        for item in batch:
            conn.execute(
                _state.update()
                .where(_state.c.key == item.key)
                .values(data=state_key.json(f"bot_state.data.{item.key}", item.data))
            )


def _decrypt(conn: Connection) -> None:
    from storage.crypto import BOT_STATE, CHALLENGE, DEPLOYMENT, DRAFT, NO_KEY
    from storage.protected import plain_challenge_row, plain_child_row, plain_event_words, plain_stage_reason

    if conn.execute(sa.select(sa.literal(1)).select_from(_keys).limit(1)).first() is None:
        return
    ring = _keyring()
    for batch in _batches(conn, sa.select(_challenges).order_by(_challenges.c.id)):
        for row in batch:
            key = _stored_key(conn, ring, CHALLENGE, row.id) or NO_KEY
            values = plain_challenge_row(key, {n: row._mapping[n] for n in (*_TEXT, *_JSON)})
            conn.execute(_challenges.update().where(_challenges.c.id == row.id).values(**values))
            for child in conn.execute(sa.select(_child).where(_child.c.challenge_id == row.id)):
                conn.execute(
                    _child.update()
                    .where(_child.c.challenge_id == row.id)
                    .values(**plain_child_row(key, "child_details", {n: child._mapping[n] for n in _CHILD}))
                )
            for stage in conn.execute(
                sa.select(_stages).where(_stages.c.challenge_id == row.id, _stages.c.reason.is_not(None))
            ):
                conn.execute(
                    _stages.update()
                    .where(_stages.c.challenge_id == row.id, _stages.c.position == stage.position)
                    .values(reason=plain_stage_reason(key, stage.position, stage.reason))
                )
            for event in conn.execute(sa.select(_events).where(_events.c.challenge_id == row.id)):
                summary, detail = plain_event_words(key, event.seq, event.summary, event.detail)
                conn.execute(
                    _events.update().where(_events.c.id == event.id).values(summary=summary, detail=detail)
                )
    conn.execute(_changes.update().values(digest=""))
    for batch in _batches(conn, sa.select(_drafts).order_by(_drafts.c.id)):
        for draft in batch:
            key = _stored_key(conn, ring, DRAFT, draft.id) or NO_KEY
            conn.execute(
                _drafts.update()
                .where(_drafts.c.id == draft.id)
                .values(answers=key.plain_json("raise_drafts.answers", draft.answers))
            )
            for child in conn.execute(sa.select(_draft_child).where(_draft_child.c.draft_id == draft.id)):
                conn.execute(
                    _draft_child.update()
                    .where(_draft_child.c.draft_id == draft.id)
                    .values(
                        **plain_child_row(key, "draft_child_details", {n: child._mapping[n] for n in _CHILD})
                    )
                )
    state_key = _stored_key(conn, ring, DEPLOYMENT, BOT_STATE) or NO_KEY
    for batch in _batches(conn, sa.select(_state).order_by(_state.c.key)):
        for item in batch:
            conn.execute(
                _state.update()
                .where(_state.c.key == item.key)
                .values(data=state_key.plain_json(f"bot_state.data.{item.key}", item.data))
            )


@contextmanager
def _copied_child_details() -> Iterator[Any]:
    """SQLite's table copy (batch mode) of `child_details`. The copy reflects the table its foreign key names,
    whose expression index SQLAlchemy cannot reflect and warns about; that table is not copied, so the warning
    says nothing here."""
    with warnings.catch_warnings(), op.batch_alter_table("child_details") as batch:
        warnings.filterwarnings("ignore", "Skipped unsupported reflection of expression-based index")
        yield batch


def upgrade() -> None:
    op.create_table(
        "data_keys",
        sa.Column("owner_kind", sa.String(length=16), nullable=False),
        sa.Column("owner_id", sa.String(length=64), nullable=False),
        sa.Column("kek_id", sa.String(length=16), nullable=False),
        sa.Column("wrapped_key", sa.Text(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint(
            "owner_kind IN ('challenge', 'draft', 'deployment')", name=op.f("ck_data_keys_owner_kind")
        ),
        sa.PrimaryKeyConstraint("owner_kind", "owner_id", name=op.f("pk_data_keys")),
    )
    op.create_index(op.f("ix_data_keys_kek_id"), "data_keys", ["kek_id"], unique=False)
    with _copied_child_details() as batch:
        batch.alter_column(
            "date_of_birth",
            existing_type=sa.Date(),
            type_=sa.Text(),
            existing_nullable=True,
            postgresql_using="to_char(date_of_birth, 'YYYY-MM-DD')",
        )
        batch.add_column(sa.Column("agency_reference_hmac", sa.String(length=64), nullable=True))
        batch.create_index(
            op.f("ix_child_details_agency_reference_hmac"), ["agency_reference_hmac"], unique=False
        )
    _encrypt(op.get_bind())
    _forget_cached()


def downgrade() -> None:
    conn = op.get_bind()
    _decrypt(conn)
    # SQLite's copy of the table would CAST the ISO text to a number (2017): put the dates back as written.
    born = {row.challenge_id: row.date_of_birth for row in conn.execute(sa.select(_child))}
    with _copied_child_details() as batch:
        batch.drop_index(op.f("ix_child_details_agency_reference_hmac"))
        batch.drop_column("agency_reference_hmac")
        batch.alter_column(
            "date_of_birth",
            existing_type=sa.Text(),
            type_=sa.Date(),
            existing_nullable=True,
            postgresql_using="date_of_birth::date",
        )
    if conn.dialect.name == "sqlite":
        for challenge_id, value in born.items():
            conn.execute(
                sa.text("UPDATE child_details SET date_of_birth = :born WHERE challenge_id = :id"),
                {"born": value, "id": challenge_id},
            )
    op.drop_index(op.f("ix_data_keys_kek_id"), table_name="data_keys")
    op.drop_table("data_keys")
    _forget_cached()
