"""The directory's generation (a running bot reloads its directory when an import changes it) and the pattern
alerts sent (one per pattern of challenges to an agency, however many clocks race).

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-01
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "directory_generation",
        sa.Column("id", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("generation", sa.Integer(), nullable=False),
        sa.Column("changed_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("file_digest", sa.Text(), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_directory_generation")),
    )
    op.create_table(
        "pattern_alerts",
        sa.Column(
            "id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), autoincrement=True, nullable=False
        ),
        sa.Column("policy_id", sa.String(length=32), nullable=False),
        sa.Column("agency_id", sa.Text(), nullable=False),
        sa.Column("trigger_challenge_id", sa.String(length=64), nullable=False),
        sa.Column("window_start", sa.DateTime(timezone=True), nullable=False),
        sa.Column("window_end", sa.DateTime(timezone=True), nullable=False),
        sa.Column("refs", sa.JSON(none_as_null=True), nullable=False),
        sa.Column("told", sa.JSON(none_as_null=True), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["trigger_challenge_id"],
            ["challenges.id"],
            name=op.f("fk_pattern_alerts_trigger_challenge_id_challenges"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_pattern_alerts")),
        sa.UniqueConstraint("trigger_challenge_id", name=op.f("uq_pattern_alerts_trigger_challenge_id")),
    )
    op.create_index("ix_pattern_alerts_policy_id_agency_id", "pattern_alerts", ["policy_id", "agency_id"])
    op.create_index("ix_challenges_policy_id_raised_at", "challenges", ["policy_id", "raised_at"])


def downgrade() -> None:
    op.drop_index("ix_challenges_policy_id_raised_at", table_name="challenges")
    op.drop_index("ix_pattern_alerts_policy_id_agency_id", table_name="pattern_alerts")
    op.drop_table("pattern_alerts")
    op.drop_table("directory_generation")
