"""Indexes for the deadline clock's every pass, so its cost follows the work due, not the history kept: the
patterns told of a partnership by when their window ended (the pattern watch reads only those of its
look-back), raising forms by when they ended (the purge of ended forms' rows), and a partnership's challenges by
when they were raised with every column the pattern watch reads (so its read of the look-back after a raise
never visits the wide rows; it replaces the index on policy and raise time alone, its prefix).

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-01
"""

from __future__ import annotations

from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index("ix_pattern_alerts_policy_id_window_end", "pattern_alerts", ["policy_id", "window_end"])
    op.create_index("ix_raise_drafts_ended_at", "raise_drafts", ["ended_at"])
    op.create_index(
        "ix_challenges_policy_id_raised_at_watched",
        "challenges",
        ["policy_id", "raised_at", "challenged_agency_id", "status", "stage", "reference", "id"],
    )
    op.drop_index("ix_challenges_policy_id_raised_at", table_name="challenges")


def downgrade() -> None:
    op.create_index("ix_challenges_policy_id_raised_at", "challenges", ["policy_id", "raised_at"])
    op.drop_index("ix_challenges_policy_id_raised_at_watched", table_name="challenges")
    op.drop_index("ix_raise_drafts_ended_at", table_name="raise_drafts")
    op.drop_index("ix_pattern_alerts_policy_id_window_end", table_name="pattern_alerts")
