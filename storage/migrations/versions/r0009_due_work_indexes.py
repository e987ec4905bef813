"""Indexes for the deadline clock's every pass, so its cost follows the work due, not the history kept: the
patterns told of a partnership by when their window ended (the pattern watch reads only those of its
look-back), and raising forms by when they ended (the purge of ended forms' rows).

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


def downgrade() -> None:
    op.drop_index("ix_raise_drafts_ended_at", table_name="raise_drafts")
    op.drop_index("ix_pattern_alerts_policy_id_window_end", table_name="pattern_alerts")
