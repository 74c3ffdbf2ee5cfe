"""counted records: provider records already counted in an integration's health, per outcome

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-07 06:45:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import replaylink.store.types

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "counted_records",
        sa.Column("integration_id", sa.Integer(), nullable=False),
        sa.Column("record_key", sa.String(length=512), nullable=False),
        sa.Column("outcome", sa.String(length=32), nullable=False),
        sa.Column("record_at", replaylink.store.types.UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["integration_id"],
            ["integrations.id"],
            name=op.f("fk_counted_records_integration_id_integrations"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("integration_id", "record_key", "outcome", name=op.f("pk_counted_records")),
    )
    with op.batch_alter_table("counted_records", schema=None) as batch_op:
        batch_op.create_index(
            "ix_counted_records_integration_at", ["integration_id", "record_at"], unique=False
        )


def downgrade() -> None:
    with op.batch_alter_table("counted_records", schema=None) as batch_op:
        batch_op.drop_index("ix_counted_records_integration_at")
    op.drop_table("counted_records")
