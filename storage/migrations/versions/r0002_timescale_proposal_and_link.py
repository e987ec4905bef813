"""A stage's proposed timescale awaiting the other side, the earlier challenge a reoccurring one links to, and
the priority chosen at raising, the steps of a stage done so far; a person's team, and an agency's escalation contacts per team.

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
    op.create_table(
        "agency_team_contacts",
        sa.Column("agency_id", sa.Text(), nullable=False),
        sa.Column("team", sa.Text(), nullable=False),
        sa.Column("stage", sa.Integer(), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("person_id", sa.Text()),
        sa.Column("name", sa.Text(), nullable=False),
        sa.Column("email", sa.Text()),
        sa.Column("phone", sa.Text()),
        sa.Column("note", sa.Text()),
        sa.ForeignKeyConstraint(
            ["agency_id"],
            ["agencies.id"],
            name="fk_agency_team_contacts_agency_id_agencies",
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("agency_id", "team", "stage", "position", name="pk_agency_team_contacts"),
    )
    # Plain ADD COLUMN, not a batch copy: SQLite's table copy would lose the expression indexes
    # (ix_people_aad_object_id_lower, ix_challenges_reference_upper).
    op.add_column("people", sa.Column("team", sa.Text()))
    op.add_column("challenges", sa.Column("timescale_proposal", sa.JSON(none_as_null=True)))
    op.add_column("challenges", sa.Column("linked_to", sa.String(32)))
    op.add_column("challenges", sa.Column("priority", sa.String(32)))
    op.add_column(
        "challenge_stages", sa.Column("steps_done", sa.Integer(), nullable=False, server_default=sa.text("0"))
    )


def downgrade() -> None:
    op.drop_column("challenge_stages", "steps_done")
    for column in ("priority", "linked_to", "timescale_proposal"):
        op.drop_column("challenges", column)
    op.drop_column("people", "team")
    op.drop_table("agency_team_contacts")
