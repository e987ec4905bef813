"""A stage's proposed timescale awaiting the other side, the earlier challenge a reoccurring one links to, and
the priority chosen at raising.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-30
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("challenges") as batch:
        batch.add_column(sa.Column("timescale_proposal", sa.JSON(none_as_null=True)))
        batch.add_column(sa.Column("linked_to", sa.String(32)))
        batch.add_column(sa.Column("priority", sa.String(32)))


def downgrade() -> None:
    with op.batch_alter_table("challenges") as batch:
        batch.drop_column("priority")
        batch.drop_column("linked_to")
        batch.drop_column("timescale_proposal")
