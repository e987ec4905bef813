"""The tables, as SQLAlchemy Core metadata. Alembic migrations (`storage/migrations/`) create them.

Child-identifying facts live only in `child_details` (a raised challenge's) and `draft_child_details` (an
unfinished raising form's), side by side. They, and the free text people wrote (concerns, responses, reasons,
meeting notes, form answers, the chronology's words, dialog state), are stored encrypted (`storage/crypto.py`)
under data keys kept in `data_keys`; the notification outbox carries no child data, only the reference, the
stage and the deadline.

Values that come from outside (the directory, what people type, ids of other systems) are unbounded `Text`,
so both databases accept the same data; bounded `String(n)` is kept for the product's own vocabularies
(statuses, roles, kinds, references).
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    CheckConstraint,
    Column,
    DateTime,
    Dialect,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    PrimaryKeyConstraint,
    String,
    Table,
    Text,
    event,
    func,
    text,
)
from sqlalchemy.types import TypeDecorator, TypeEngine

NAMING = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

metadata = MetaData(naming_convention=NAMING)

#: The filters the partial indexes are built on; queries that want those indexes repeat them word for word.
OPEN_STATUS = "status = 'open'"
UNSENT_STATUS = "status IN ('pending', 'sending')"

#: The databases whose `CREATE INDEX` takes a `WHERE` as `partial_index` gives it.
PARTIAL_INDEX_DIALECTS = ("postgresql", "sqlite")


def partial_index(name: str, column: Column[Any], *, where: str, unique: bool = False) -> Index:
    """An index of the rows `where` holds, on PostgreSQL and SQLite alike (both spell the filter the same).

    The filter is handed to the dialect creating the table, when it creates it, rather than declared up
    front as `postgresql_where=` and `sqlite_where=`: SQLAlchemy checks such arguments by importing each
    dialect they name, and a process uses one database (the other dialect is about 2 MB of a served bot's
    memory, docs/PERFORMANCE.md, *Memory*). The migrations create these indexes with the same filters.
    """
    index = Index(name, column, unique=unique, info={"where": where})

    def give_the_filter(_table: Table, connection: Any, **_kw: Any) -> None:
        dialect = connection.dialect.name
        if dialect in PARTIAL_INDEX_DIALECTS:
            index.dialect_options[dialect]["where"] = text(where)

    event.listen(column.table, "before_create", give_the_filter)
    return index


class UtcDateTime(TypeDecorator[datetime]):
    """An instant: refuses naive datetimes, stores UTC, and reads back aware UTC on every database.

    PostgreSQL keeps `timestamptz`; SQLite has no time zones, so the naive UTC text it stores is tagged with
    UTC again when read.
    """

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None or value.utcoffset() is None:
            raise ValueError("storage needs aware datetimes (UTC), not naive ones")
        utc = value.astimezone(UTC)
        return utc.replace(tzinfo=None) if dialect.name == "sqlite" else utc

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value.astimezone(UTC)


def _json() -> TypeEngine[Any]:
    # Plain JSON, not JSONB: PostgreSQL then keeps the text as written, key order included (fields and audit
    # detail are shown in the order they were written; pickled bot state refers to objects by position).
    return JSON(none_as_null=True)


def _serial() -> TypeEngine[int]:
    # SQLite only auto-numbers a column declared exactly INTEGER PRIMARY KEY.
    return BigInteger().with_variant(Integer(), "sqlite")


def _contact_columns() -> list[Column[Any]]:
    """A `process.directory.Contact`: a person of the directory or a mailbox."""
    return [
        Column("person_id", Text),
        Column("name", Text, nullable=False),
        Column("email", Text),
        Column("phone", Text),
        Column("note", Text),
    ]


reference_counters = Table(
    "reference_counters",
    metadata,
    Column("prefix", String(8), nullable=False),
    Column("year", Integer, nullable=False),
    Column("last_number", Integer, nullable=False),
    PrimaryKeyConstraint("prefix", "year"),
)

challenges = Table(
    "challenges",
    metadata,
    Column("id", String(64), primary_key=True),
    Column("reference", String(32), nullable=False),
    Column("policy_id", String(32), nullable=False),
    Column("status", String(16), nullable=False),
    Column("stage", Integer, nullable=False),
    Column("version", Integer, nullable=False),
    Column("raised_at", UtcDateTime, nullable=False),
    Column("raised_by", Text, nullable=False),
    Column("raiser_agency_id", Text, nullable=False),
    Column("challenged_agency_id", Text, nullable=False),
    Column("issue_category", Text, nullable=False),
    Column("concern", Text, nullable=False),
    Column("desired_outcome", Text, nullable=False),
    Column("informal_evidence", Text),
    Column("urgent", Boolean, nullable=False),
    Column("awaiting", String(16)),
    Column("entries", _json(), nullable=False),
    Column("proposal", _json()),
    Column("timescale_proposal", _json()),
    Column("linked_to", String(32)),
    Column("priority", String(32)),
    Column("agreed_outcome", Text),
    Column("meetings", _json(), nullable=False),
    Column("fields", _json(), nullable=False),
    Column("closed_at", UtcDateTime),
    Column("next_due_at", UtcDateTime),
    Column("due_claimed_by", Text),
    Column("due_claimed_until", UtcDateTime),
    Column("updated_at", UtcDateTime, nullable=False),
    # The raising form it was raised from: one challenge per draft, however often "Confirm" is pressed.
    Column("draft_id", String(64)),
    #: When the retention purge erased its child's details and what people wrote (None: not erased).
    Column("purged_at", UtcDateTime),
    #: The random salt of its record's seal (`storage/seal.py`); the purge erases it (None: purged).
    Column("seal_salt", String(32)),
    CheckConstraint("status IN ('open', 'resolved', 'withdrawn', 'closed')", name="status"),
    CheckConstraint("version >= 1", name="version"),
)
Index("ix_challenges_reference_upper", func.upper(challenges.c.reference), unique=True)
Index("ix_challenges_draft_id", challenges.c.draft_id, unique=True)
partial_index("ix_challenges_open_due", challenges.c.next_due_at, where=OPEN_STATUS)

child_details = Table(
    "child_details",
    metadata,
    Column("challenge_id", String(64), ForeignKey("challenges.id", ondelete="CASCADE"), primary_key=True),
    # Encrypted (`storage/crypto.py`): name, date of birth (its ISO text) and agency reference.
    Column("name", Text, nullable=False),
    Column("date_of_birth", Text),
    Column("agency_reference", Text),
    #: HMAC-SHA256 of the normalised agency reference under the deployment's lookup key: found without
    #: decrypting, never readable.
    Column("agency_reference_hmac", String(64)),
)
Index("ix_child_details_agency_reference_hmac", child_details.c.agency_reference_hmac)

#: An unfinished raising form. Its answers other than the child's are in `answers`; the child's are in
#: `draft_child_details`. A draft is kept until `expires_at` at most; when it ends (cancelled, expired) its
#: answers are deleted and the row is kept a while, answers-free, so an old card can say what became of it.
#: A raised draft's row is deleted in the raise's own transaction (the challenge carries its `draft_id`).
raise_drafts = Table(
    "raise_drafts",
    metadata,
    Column("id", String(64), primary_key=True),
    Column("person_id", Text, nullable=False),
    Column("status", String(16), nullable=False),
    Column("step", String(32), nullable=False),
    Column("revision", Integer, nullable=False),
    Column("last_verb", String(64)),
    Column("answers", _json(), nullable=False),
    Column("replaces", String(64)),
    Column("created_at", UtcDateTime, nullable=False),
    Column("expires_at", UtcDateTime, nullable=False),
    Column("ended_at", UtcDateTime),
    CheckConstraint("status IN ('open', 'cancelled', 'expired')", name="status"),
    CheckConstraint("revision >= 0", name="revision"),
)
# One open draft per person: two "raise" at once share one form rather than start two.
partial_index("ix_raise_drafts_open_person", raise_drafts.c.person_id, where=OPEN_STATUS, unique=True)
Index("ix_raise_drafts_expires_at", raise_drafts.c.expires_at)
#: The deadline clock's every pass deletes the rows of drafts that ended long enough ago.
Index("ix_raise_drafts_ended_at", raise_drafts.c.ended_at)

#: The child's details as typed on an unfinished form (the date of birth as typed, so it can be corrected).
draft_child_details = Table(
    "draft_child_details",
    metadata,
    Column("draft_id", String(64), ForeignKey("raise_drafts.id", ondelete="CASCADE"), primary_key=True),
    Column("name", Text),
    Column("date_of_birth", Text),
    Column("agency_reference", Text),
)

challenge_parties = Table(
    "challenge_parties",
    metadata,
    Column("challenge_id", String(64), ForeignKey("challenges.id", ondelete="CASCADE"), nullable=False),
    Column("role", String(40), nullable=False),
    *_contact_columns(),
    PrimaryKeyConstraint("challenge_id", "role"),
)
Index("ix_challenge_parties_person_id", challenge_parties.c.person_id)

challenge_stages = Table(
    "challenge_stages",
    metadata,
    Column("challenge_id", String(64), ForeignKey("challenges.id", ondelete="CASCADE"), nullable=False),
    Column("position", Integer, nullable=False),
    Column("number", Integer, nullable=False),
    Column("started_at", UtcDateTime, nullable=False),
    Column("due_at", UtcDateTime),
    Column("timescale_working_days", Integer),
    Column("ended_at", UtcDateTime),
    Column("outcome", String(32)),
    Column("reason", Text),
    Column("reminded", Boolean, nullable=False),
    Column("breached", Boolean, nullable=False),
    Column("steps_done", Integer, nullable=False, server_default=text("0")),
    PrimaryKeyConstraint("challenge_id", "position"),
)

#: Who changed each version of a challenge, and with which action (its kind and a digest of its inputs): so a
#: second click of the same button by the same person, arriving after the first was stored, is told it was
#: done already rather than that their card was out of date. One row per version, written with the change.
challenge_changes = Table(
    "challenge_changes",
    metadata,
    Column("challenge_id", String(64), ForeignKey("challenges.id", ondelete="CASCADE"), nullable=False),
    Column("from_version", Integer, nullable=False),
    Column("actor_id", Text, nullable=False),
    Column("action", String(40), nullable=False),
    Column("digest", String(64), nullable=False),
    PrimaryKeyConstraint("challenge_id", "from_version"),
)

#: The chronology: appended, never changed (`storage/chain.py`). Each event is numbered in its challenge
#: (`seq`) and hash-chained to the one before; `content_digest` commits to its words (summary, detail and
#: `salt`), which the retention purge alone erases (words emptied, salt NULL), leaving the chain whole.
audit_events = Table(
    "audit_events",
    metadata,
    Column("id", _serial(), primary_key=True, autoincrement=True),
    Column("challenge_id", String(64), ForeignKey("challenges.id", ondelete="CASCADE"), nullable=False),
    Column("at", UtcDateTime, nullable=False),
    Column("actor_id", Text, nullable=False),
    Column("stage", Integer, nullable=False),
    Column("kind", String(40), nullable=False),
    Column("summary", Text, nullable=False),
    Column("detail", _json(), nullable=False),
    Column("seq", Integer, nullable=False),
    Column("salt", String(32)),
    Column("content_digest", String(64), nullable=False),
    Column("prev_hash", String(64)),
    Column("hash", String(64), nullable=False),
)
Index("ix_audit_events_challenge_id", audit_events.c.challenge_id, audit_events.c.id)
Index("ix_audit_events_challenge_id_seq", audit_events.c.challenge_id, audit_events.c.seq, unique=True)

#: The data keys (`storage/crypto.py`): one per challenge, per unfinished raising form, and the deployment's
#: own (`bot_state`, `lookup`), each wrapped by a key-encryption key named by its fingerprint (`kek_id`).
#: No foreign key: a challenge's key is deleted by the purge (crypto-shredding) while the challenge stays.
data_keys = Table(
    "data_keys",
    metadata,
    Column("owner_kind", String(16), nullable=False),
    Column("owner_id", String(64), nullable=False),
    Column("kek_id", String(16), nullable=False),
    Column("wrapped_key", Text, nullable=False),
    Column("created_at", UtcDateTime, nullable=False),
    PrimaryKeyConstraint("owner_kind", "owner_id"),
    CheckConstraint("owner_kind IN ('challenge', 'draft', 'deployment')", name="owner_kind"),
)
Index("ix_data_keys_kek_id", data_keys.c.kek_id)

#: Each partnership's chain of challenge heads: one row each time a challenge's chain grows, linked to the
#: partnership's previous anchor. No foreign key: the anchors of a challenge deleted outright stay, and say so.
audit_anchors = Table(
    "audit_anchors",
    metadata,
    Column("partnership_id", String(32), nullable=False),
    Column("seq", Integer, nullable=False),
    Column("challenge_id", String(64), nullable=False),
    Column("event_seq", Integer, nullable=False),
    Column("event_hash", String(64), nullable=False),
    Column("prev_hash", String(64)),
    Column("hash", String(64), nullable=False),
    Column("at", UtcDateTime, nullable=False),
    # The seal of the challenge's record after the change (`storage/seal.py`); child_digest NULL: no child's
    # details stored (purged).
    Column("row_digest", String(64), nullable=False),
    Column("stages_digest", String(64), nullable=False),
    Column("parties_digest", String(64), nullable=False),
    Column("child_digest", String(64)),
    PrimaryKeyConstraint("partnership_id", "seq"),
)
Index("ix_audit_anchors_challenge_id", audit_anchors.c.challenge_id, audit_anchors.c.event_seq)

#: The newest anchor of each partnership's chain; a change appending to the chain holds this row.
audit_heads = Table(
    "audit_heads",
    metadata,
    Column("partnership_id", String(32), primary_key=True),
    Column("seq", Integer, nullable=False),
    Column("hash", String(64)),
)

outbox = Table(
    "outbox",
    metadata,
    Column("id", _serial(), primary_key=True, autoincrement=True),
    Column("challenge_id", String(64), ForeignKey("challenges.id", ondelete="CASCADE"), nullable=False),
    Column("reference", String(32), nullable=False),
    Column("kind", String(40), nullable=False),
    Column("recipient", _json(), nullable=False),
    Column("roles", _json(), nullable=False),
    Column("stage", Integer, nullable=False),
    Column("due_at", UtcDateTime),
    Column("action_needed", Boolean, nullable=False),
    Column("created_at", UtcDateTime, nullable=False),
    Column("updated_at", UtcDateTime, nullable=False),
    Column("status", String(16), nullable=False),
    Column("attempts", Integer, nullable=False),
    Column("next_attempt_at", UtcDateTime, nullable=False),
    Column("claimed_by", Text),
    Column("claimed_until", UtcDateTime),
    Column("delivered_at", UtcDateTime),
    Column("last_error", Text),
    Column("channel", String(32)),
    #: The challenge's version after the change that queued this row: the rows of one change share it.
    Column("challenge_version", Integer),
    #: For a report that a notification could not be delivered: the outbox row it reports.
    Column("report_of", _serial()),
    CheckConstraint("status IN ('pending', 'sending', 'delivered', 'failed')", name="status"),
)
partial_index("ix_outbox_unsent", outbox.c.next_attempt_at, where=UNSENT_STATUS)
Index("ix_outbox_challenge_id", outbox.c.challenge_id)
Index("ix_outbox_report_of", outbox.c.report_of)

agencies = Table(
    "agencies",
    metadata,
    Column("id", Text, primary_key=True),
    Column("name", Text, nullable=False),
    Column("partnership_id", String(32), nullable=False),
    Column("safeguarding_lead_id", Text),
    Column("escalation_note", Text),
)

agency_escalation_contacts = Table(
    "agency_escalation_contacts",
    metadata,
    Column("agency_id", Text, ForeignKey("agencies.id", ondelete="CASCADE"), nullable=False),
    Column("stage", Integer, nullable=False),
    Column("position", Integer, nullable=False),
    *_contact_columns(),
    PrimaryKeyConstraint("agency_id", "stage", "position"),
)

agency_team_contacts = Table(
    "agency_team_contacts",
    metadata,
    Column("agency_id", Text, ForeignKey("agencies.id", ondelete="CASCADE"), nullable=False),
    Column("team", Text, nullable=False),
    Column("stage", Integer, nullable=False),
    Column("position", Integer, nullable=False),
    *_contact_columns(),
    PrimaryKeyConstraint("agency_id", "team", "stage", "position"),
)

people = Table(
    "people",
    metadata,
    Column("id", Text, primary_key=True),
    Column("name", Text, nullable=False),
    Column("email", Text),
    Column("agency_id", Text, nullable=False),
    Column("job_title", Text),
    Column("job_roles", _json(), nullable=False),
    Column("line_manager_id", Text),
    Column("aad_object_id", Text),
    Column("tenant_id", Text),
    Column("phone", Text),
    Column("team", Text),
)
Index("ix_people_aad_object_id_lower", func.lower(people.c.aad_object_id))
Index("ix_people_agency_id", people.c.agency_id)

partnership_role_contacts = Table(
    "partnership_role_contacts",
    metadata,
    Column("partnership_id", String(32), nullable=False),
    Column("role", String(40), nullable=False),
    Column("position", Integer, nullable=False),
    *_contact_columns(),
    PrimaryKeyConstraint("partnership_id", "role", "position"),
)

conversation_references = Table(
    "conversation_references",
    metadata,
    Column("conversation_id", Text, primary_key=True),
    Column("reference", _json(), nullable=False),
    Column("conversation_type", String(16), nullable=False),
    Column("aad_object_id", Text),
    Column("tenant_id", Text),
    Column("service_url", Text, nullable=False),
    Column("stale", Boolean, nullable=False),
    Column("created_at", UtcDateTime, nullable=False),
    Column("updated_at", UtcDateTime, nullable=False),
)
Index("ix_conversation_references_aad_object_id", conversation_references.c.aad_object_id)

bot_state = Table(
    "bot_state",
    metadata,
    Column("key", Text, primary_key=True),
    Column("data", _json(), nullable=False),
    Column("e_tag", String(64), nullable=False),
    Column("updated_at", UtcDateTime, nullable=False),
)

#: One row (id 1): goes up by one with every change to the stored directory, so a running bot sees an import
#: with one cheap read and reloads its snapshot (`DirectoryStore.generation`).
directory_generation = Table(
    "directory_generation",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=False),
    Column("generation", Integer, nullable=False),
    Column("changed_at", UtcDateTime, nullable=False),
    #: SHA-256 of the DIRECTORY_FILE last loaded at start-up: a start with the same file keeps the stored
    #: directory (an import may have changed it since); a changed file replaces it.
    Column("file_digest", Text),
)

#: A pattern of challenges to one agency that its partnership was told of (the policy's `pattern_alert`): the
#: challenge that completed the pattern is unique, so racing clocks and restarts alert once.
pattern_alerts = Table(
    "pattern_alerts",
    metadata,
    Column("id", _serial(), primary_key=True, autoincrement=True),
    Column("policy_id", String(32), nullable=False),
    Column("agency_id", Text, nullable=False),
    Column(
        "trigger_challenge_id",
        String(64),
        ForeignKey("challenges.id", ondelete="CASCADE"),
        nullable=False,
        unique=True,
    ),
    Column("window_start", UtcDateTime, nullable=False),
    Column("window_end", UtcDateTime, nullable=False),
    #: The references of the challenges counted (references only: no child data).
    Column("refs", _json(), nullable=False),
    #: Who was to be told (contact keys and names); empty when the directory holds nobody the policy names.
    Column("told", _json(), nullable=False),
    Column("created_at", UtcDateTime, nullable=False),
)
Index("ix_pattern_alerts_policy_id_agency_id", pattern_alerts.c.policy_id, pattern_alerts.c.agency_id)
#: The pattern watch reads, on every pass, the patterns of its look-back only (a window ends at its trigger).
Index("ix_pattern_alerts_policy_id_window_end", pattern_alerts.c.policy_id, pattern_alerts.c.window_end)
#: The pattern watch reads a policy's recently raised challenges (after a raise): every column it reads is in
#: the index, so it never visits the wide rows.
Index(
    "ix_challenges_policy_id_raised_at_watched",
    challenges.c.policy_id,
    challenges.c.raised_at,
    challenges.c.challenged_agency_id,
    challenges.c.status,
    challenges.c.stage,
    challenges.c.reference,
    challenges.c.id,
)
