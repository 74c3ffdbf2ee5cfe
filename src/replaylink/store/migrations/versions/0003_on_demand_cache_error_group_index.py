"""on-demand cache, error-group index

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-23 13:46:28.095922
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

import replaylink.store.types

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "on_demand_cache",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("session_id", sa.BigInteger(), nullable=False),
        sa.Column("integration_id", sa.Integer(), nullable=False),
        sa.Column("fetched_at", replaylink.store.types.UTCDateTime(timezone=True), nullable=False),
        sa.Column("expires_at", replaylink.store.types.UTCDateTime(timezone=True), nullable=False),
        sa.Column("truncated", sa.Boolean(), nullable=False),
        sa.Column(
            "records",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
        ),
        sa.ForeignKeyConstraint(
            ["integration_id"],
            ["integrations.id"],
            name=op.f("fk_on_demand_cache_integration_id_integrations"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["session_id"],
            ["sessions.id"],
            name=op.f("fk_on_demand_cache_session_id_sessions"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_on_demand_cache")),
        sa.UniqueConstraint("session_id", "integration_id", name=op.f("uq_on_demand_cache_session_id")),
    )
    with op.batch_alter_table("on_demand_cache", schema=None) as batch_op:
        batch_op.create_index("ix_on_demand_cache_expires", ["expires_at"], unique=False)
        batch_op.create_index(
            batch_op.f("ix_on_demand_cache_integration_id"), ["integration_id"], unique=False
        )

    with op.batch_alter_table("backend_events", schema=None) as batch_op:
        batch_op.create_index(
            "ix_backend_events_groups", ["project_id", "fingerprint", "timestamp", "session_id"], unique=False
        )


def downgrade() -> None:
    with op.batch_alter_table("backend_events", schema=None) as batch_op:
        batch_op.drop_index("ix_backend_events_groups")

    with op.batch_alter_table("on_demand_cache", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_on_demand_cache_integration_id"))
        batch_op.drop_index("ix_on_demand_cache_expires")

    op.drop_table("on_demand_cache")
