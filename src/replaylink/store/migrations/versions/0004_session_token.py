"""session token, drop redundant fingerprint index

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-23 14:09:41.931711
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("backend_events", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_backend_events_fingerprint"))

    with op.batch_alter_table("sessions", schema=None) as batch_op:
        batch_op.add_column(sa.Column("token", sa.String(length=100), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("sessions", schema=None) as batch_op:
        batch_op.drop_column("token")

    with op.batch_alter_table("backend_events", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_backend_events_fingerprint"),
            ["project_id", "fingerprint", "timestamp"],
            unique=False,
        )
