"""Unfinished raising forms (drafts) in the database, their child's details beside `child_details`, and the
draft a challenge was raised from (one challenge per draft).

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-30
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None

OPEN_STATUS = "status = 'open'"


def upgrade() -> None:
    # Plain ADD COLUMN and CREATE INDEX, not a batch copy: SQLite's table copy would lose the expression
    # index ix_challenges_reference_upper.
    op.add_column("challenges", sa.Column("draft_id", sa.String(64)))
    op.create_index("ix_challenges_draft_id", "challenges", ["draft_id"], unique=True)
    op.create_table(
        "raise_drafts",
        sa.Column("id", sa.String(64), nullable=False),
        sa.Column("person_id", sa.Text(), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("step", sa.String(32), nullable=False),
        sa.Column("revision", sa.Integer(), nullable=False),
        sa.Column("last_verb", sa.String(64)),
        sa.Column("answers", sa.JSON(none_as_null=True), nullable=False),
        sa.Column("replaces", sa.String(64)),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("ended_at", sa.DateTime(timezone=True)),
        sa.PrimaryKeyConstraint("id", name="pk_raise_drafts"),
        sa.CheckConstraint("status IN ('open', 'cancelled', 'expired')", name="ck_raise_drafts_status"),
        sa.CheckConstraint("revision >= 0", name="ck_raise_drafts_revision"),
    )
    op.create_index(
        "ix_raise_drafts_open_person",
        "raise_drafts",
        ["person_id"],
        unique=True,
        postgresql_where=sa.text(OPEN_STATUS),
        sqlite_where=sa.text(OPEN_STATUS),
    )
    op.create_index("ix_raise_drafts_expires_at", "raise_drafts", ["expires_at"])
    op.create_table(
        "draft_child_details",
        sa.Column("draft_id", sa.String(64), nullable=False),
        sa.Column("name", sa.Text()),
        sa.Column("date_of_birth", sa.Text()),
        sa.Column("agency_reference", sa.Text()),
        sa.PrimaryKeyConstraint("draft_id", name="pk_draft_child_details"),
        sa.ForeignKeyConstraint(
            ["draft_id"],
            ["raise_drafts.id"],
            name="fk_draft_child_details_draft_id_raise_drafts",
            ondelete="CASCADE",
        ),
    )


def downgrade() -> None:
    op.drop_table("draft_child_details")
    op.drop_index("ix_raise_drafts_expires_at", table_name="raise_drafts")
    op.drop_index("ix_raise_drafts_open_person", table_name="raise_drafts")
    op.drop_table("raise_drafts")
    op.drop_index("ix_challenges_draft_id", table_name="challenges")
    op.drop_column("challenges", "draft_id")
