"""Which change each notification belongs to (the challenge version it was queued with), and, for a report
that a notification could not be delivered, which outbox row it reports.

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-30
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # Plain ADD COLUMN, not a batch copy (see 0002): SQLite's table copy would lose the partial indexes.
    op.add_column("outbox", sa.Column("challenge_version", sa.Integer()))
    op.add_column("outbox", sa.Column("report_of", sa.BigInteger().with_variant(sa.Integer(), "sqlite")))
    op.create_index("ix_outbox_report_of", "outbox", ["report_of"])


def downgrade() -> None:
    op.drop_index("ix_outbox_report_of", table_name="outbox")
    op.drop_column("outbox", "report_of")
    op.drop_column("outbox", "challenge_version")
