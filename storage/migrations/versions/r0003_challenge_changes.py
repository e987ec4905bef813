"""Who changed each version of a challenge, and with which action, so a repeated click can be recognised.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-30
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "challenge_changes",
        sa.Column("challenge_id", sa.String(64), nullable=False),
        sa.Column("from_version", sa.Integer(), nullable=False),
        sa.Column("actor_id", sa.Text(), nullable=False),
        sa.Column("action", sa.String(40), nullable=False),
        sa.Column("digest", sa.String(64), nullable=False),
        sa.ForeignKeyConstraint(
            ["challenge_id"],
            ["challenges.id"],
            name="fk_challenge_changes_challenge_id_challenges",
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("challenge_id", "from_version", name="pk_challenge_changes"),
    )


def downgrade() -> None:
    op.drop_table("challenge_changes")
