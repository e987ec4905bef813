"""Challenges, their history, audit events, the outbox, the directory, conversations and bot state.

Revision ID: 0001
Revises:
Create Date: 2026-11-23
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

OPEN_STATUS = "status = 'open'"
UNSENT_STATUS = "status IN ('pending', 'sending')"


def _json() -> Any:
    return sa.JSON(none_as_null=True)


def _serial() -> Any:
    return sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def _instant() -> sa.DateTime:
    return sa.DateTime(timezone=True)


def _contact_columns() -> list[sa.Column[Any]]:
    return [
        sa.Column("person_id", sa.Text),
        sa.Column("name", sa.Text, nullable=False),
        sa.Column("email", sa.Text),
        sa.Column("phone", sa.Text),
        sa.Column("note", sa.Text),
    ]


def upgrade() -> None:
    op.create_table(
        "reference_counters",
        sa.Column("prefix", sa.String(8), nullable=False),
        sa.Column("year", sa.Integer, nullable=False),
        sa.Column("last_number", sa.Integer, nullable=False),
        sa.PrimaryKeyConstraint("prefix", "year", name="pk_reference_counters"),
    )
    op.create_table(
        "challenges",
        sa.Column("id", sa.String(64), nullable=False),
        sa.Column("reference", sa.String(32), nullable=False),
        sa.Column("policy_id", sa.String(32), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("stage", sa.Integer, nullable=False),
        sa.Column("version", sa.Integer, nullable=False),
        sa.Column("raised_at", _instant(), nullable=False),
        sa.Column("raised_by", sa.Text, nullable=False),
        sa.Column("raiser_agency_id", sa.Text, nullable=False),
        sa.Column("challenged_agency_id", sa.Text, nullable=False),
        sa.Column("issue_category", sa.Text, nullable=False),
        sa.Column("concern", sa.Text, nullable=False),
        sa.Column("desired_outcome", sa.Text, nullable=False),
        sa.Column("informal_evidence", sa.Text),
        sa.Column("urgent", sa.Boolean, nullable=False),
        sa.Column("awaiting", sa.String(16)),
        sa.Column("entries", _json(), nullable=False),
        sa.Column("proposal", _json()),
        sa.Column("agreed_outcome", sa.Text),
        sa.Column("meetings", _json(), nullable=False),
        sa.Column("fields", _json(), nullable=False),
        sa.Column("closed_at", _instant()),
        sa.Column("next_due_at", _instant()),
        sa.Column("due_claimed_by", sa.Text),
        sa.Column("due_claimed_until", _instant()),
        sa.Column("updated_at", _instant(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_challenges"),
        sa.CheckConstraint(
            "status IN ('open', 'resolved', 'withdrawn', 'closed')", name="ck_challenges_status"
        ),
        sa.CheckConstraint("version >= 1", name="ck_challenges_version"),
    )
    op.create_index("ix_challenges_reference_upper", "challenges", [sa.text("upper(reference)")], unique=True)
    op.create_index(
        "ix_challenges_open_due",
        "challenges",
        ["next_due_at"],
        postgresql_where=sa.text(OPEN_STATUS),
        sqlite_where=sa.text(OPEN_STATUS),
    )
    op.create_table(
        "child_details",
        sa.Column("challenge_id", sa.String(64), nullable=False),
        sa.Column("name", sa.Text, nullable=False),
        sa.Column("date_of_birth", sa.Date),
        sa.Column("agency_reference", sa.Text),
        sa.PrimaryKeyConstraint("challenge_id", name="pk_child_details"),
        sa.ForeignKeyConstraint(
            ["challenge_id"],
            ["challenges.id"],
            name="fk_child_details_challenge_id_challenges",
            ondelete="CASCADE",
        ),
    )
    op.create_table(
        "challenge_parties",
        sa.Column("challenge_id", sa.String(64), nullable=False),
        sa.Column("role", sa.String(40), nullable=False),
        *_contact_columns(),
        sa.PrimaryKeyConstraint("challenge_id", "role", name="pk_challenge_parties"),
        sa.ForeignKeyConstraint(
            ["challenge_id"],
            ["challenges.id"],
            name="fk_challenge_parties_challenge_id_challenges",
            ondelete="CASCADE",
        ),
    )
    op.create_index("ix_challenge_parties_person_id", "challenge_parties", ["person_id"])
    op.create_table(
        "challenge_stages",
        sa.Column("challenge_id", sa.String(64), nullable=False),
        sa.Column("position", sa.Integer, nullable=False),
        sa.Column("number", sa.Integer, nullable=False),
        sa.Column("started_at", _instant(), nullable=False),
        sa.Column("due_at", _instant()),
        sa.Column("timescale_working_days", sa.Integer),
        sa.Column("ended_at", _instant()),
        sa.Column("outcome", sa.String(32)),
        sa.Column("reason", sa.Text),
        sa.Column("reminded", sa.Boolean, nullable=False),
        sa.Column("breached", sa.Boolean, nullable=False),
        sa.PrimaryKeyConstraint("challenge_id", "position", name="pk_challenge_stages"),
        sa.ForeignKeyConstraint(
            ["challenge_id"],
            ["challenges.id"],
            name="fk_challenge_stages_challenge_id_challenges",
            ondelete="CASCADE",
        ),
    )
    op.create_table(
        "audit_events",
        sa.Column("id", _serial(), autoincrement=True, nullable=False),
        sa.Column("challenge_id", sa.String(64), nullable=False),
        sa.Column("at", _instant(), nullable=False),
        sa.Column("actor_id", sa.Text, nullable=False),
        sa.Column("stage", sa.Integer, nullable=False),
        sa.Column("kind", sa.String(40), nullable=False),
        sa.Column("summary", sa.Text, nullable=False),
        sa.Column("detail", _json(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_audit_events"),
        sa.ForeignKeyConstraint(
            ["challenge_id"],
            ["challenges.id"],
            name="fk_audit_events_challenge_id_challenges",
            ondelete="CASCADE",
        ),
    )
    op.create_index("ix_audit_events_challenge_id", "audit_events", ["challenge_id", "id"])
    op.create_table(
        "outbox",
        sa.Column("id", _serial(), autoincrement=True, nullable=False),
        sa.Column("challenge_id", sa.String(64), nullable=False),
        sa.Column("reference", sa.String(32), nullable=False),
        sa.Column("kind", sa.String(40), nullable=False),
        sa.Column("recipient", _json(), nullable=False),
        sa.Column("roles", _json(), nullable=False),
        sa.Column("stage", sa.Integer, nullable=False),
        sa.Column("due_at", _instant()),
        sa.Column("action_needed", sa.Boolean, nullable=False),
        sa.Column("created_at", _instant(), nullable=False),
        sa.Column("updated_at", _instant(), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("attempts", sa.Integer, nullable=False),
        sa.Column("next_attempt_at", _instant(), nullable=False),
        sa.Column("claimed_by", sa.Text),
        sa.Column("claimed_until", _instant()),
        sa.Column("delivered_at", _instant()),
        sa.Column("last_error", sa.Text),
        sa.Column("channel", sa.String(32)),
        sa.PrimaryKeyConstraint("id", name="pk_outbox"),
        sa.ForeignKeyConstraint(
            ["challenge_id"], ["challenges.id"], name="fk_outbox_challenge_id_challenges", ondelete="CASCADE"
        ),
        sa.CheckConstraint(
            "status IN ('pending', 'sending', 'delivered', 'failed')", name="ck_outbox_status"
        ),
    )
    op.create_index(
        "ix_outbox_unsent",
        "outbox",
        ["next_attempt_at"],
        postgresql_where=sa.text(UNSENT_STATUS),
        sqlite_where=sa.text(UNSENT_STATUS),
    )
    op.create_index("ix_outbox_challenge_id", "outbox", ["challenge_id"])
    op.create_table(
        "agencies",
        sa.Column("id", sa.Text, nullable=False),
        sa.Column("name", sa.Text, nullable=False),
        sa.Column("partnership_id", sa.String(32), nullable=False),
        sa.Column("safeguarding_lead_id", sa.Text),
        sa.Column("escalation_note", sa.Text),
        sa.PrimaryKeyConstraint("id", name="pk_agencies"),
    )
    op.create_table(
        "agency_escalation_contacts",
        sa.Column("agency_id", sa.Text, nullable=False),
        sa.Column("stage", sa.Integer, nullable=False),
        sa.Column("position", sa.Integer, nullable=False),
        *_contact_columns(),
        sa.PrimaryKeyConstraint("agency_id", "stage", "position", name="pk_agency_escalation_contacts"),
        sa.ForeignKeyConstraint(
            ["agency_id"],
            ["agencies.id"],
            name="fk_agency_escalation_contacts_agency_id_agencies",
            ondelete="CASCADE",
        ),
    )
    op.create_table(
        "people",
        sa.Column("id", sa.Text, nullable=False),
        sa.Column("name", sa.Text, nullable=False),
        sa.Column("email", sa.Text),
        sa.Column("agency_id", sa.Text, nullable=False),
        sa.Column("job_title", sa.Text),
        sa.Column("job_roles", _json(), nullable=False),
        sa.Column("line_manager_id", sa.Text),
        sa.Column("aad_object_id", sa.Text),
        sa.Column("tenant_id", sa.Text),
        sa.Column("phone", sa.Text),
        sa.PrimaryKeyConstraint("id", name="pk_people"),
    )
    op.create_index("ix_people_aad_object_id_lower", "people", [sa.text("lower(aad_object_id)")])
    op.create_index("ix_people_agency_id", "people", ["agency_id"])
    op.create_table(
        "partnership_role_contacts",
        sa.Column("partnership_id", sa.String(32), nullable=False),
        sa.Column("role", sa.String(40), nullable=False),
        sa.Column("position", sa.Integer, nullable=False),
        *_contact_columns(),
        sa.PrimaryKeyConstraint("partnership_id", "role", "position", name="pk_partnership_role_contacts"),
    )
    op.create_table(
        "conversation_references",
        sa.Column("conversation_id", sa.Text, nullable=False),
        sa.Column("reference", _json(), nullable=False),
        sa.Column("conversation_type", sa.String(16), nullable=False),
        sa.Column("aad_object_id", sa.Text),
        sa.Column("tenant_id", sa.Text),
        sa.Column("service_url", sa.Text, nullable=False),
        sa.Column("stale", sa.Boolean, nullable=False),
        sa.Column("created_at", _instant(), nullable=False),
        sa.Column("updated_at", _instant(), nullable=False),
        sa.PrimaryKeyConstraint("conversation_id", name="pk_conversation_references"),
    )
    op.create_index("ix_conversation_references_aad_object_id", "conversation_references", ["aad_object_id"])
    op.create_table(
        "bot_state",
        sa.Column("key", sa.Text, nullable=False),
        sa.Column("data", _json(), nullable=False),
        sa.Column("e_tag", sa.String(64), nullable=False),
        sa.Column("updated_at", _instant(), nullable=False),
        sa.PrimaryKeyConstraint("key", name="pk_bot_state"),
    )


def downgrade() -> None:
    for table in (
        "bot_state",
        "conversation_references",
        "partnership_role_contacts",
        "people",
        "agency_escalation_contacts",
        "agencies",
        "outbox",
        "audit_events",
        "challenge_stages",
        "challenge_parties",
        "child_details",
        "challenges",
        "reference_counters",
    ):
        op.drop_table(table)
