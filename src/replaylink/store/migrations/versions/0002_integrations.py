"""integrations, history, backend events

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-23 13:20:04.866143
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

import replaylink.store.types

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "integration_history",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("project_id", sa.Integer(), nullable=False),
        sa.Column("provider", sa.String(length=32), nullable=False),
        sa.Column("name", sa.String(length=64), nullable=False),
        sa.Column("action", sa.String(length=32), nullable=False),
        sa.Column("actor", sa.String(length=128), nullable=False),
        sa.Column(
            "changes",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
        ),
        sa.Column("at", replaylink.store.types.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["project_id"],
            ["projects.id"],
            name=op.f("fk_integration_history_project_id_projects"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_integration_history")),
    )
    with op.batch_alter_table("integration_history", schema=None) as batch_op:
        batch_op.create_index(
            "ix_integration_history_target", ["project_id", "provider", "name", "at"], unique=False
        )

    op.create_table(
        "integrations",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("project_id", sa.Integer(), nullable=False),
        sa.Column("provider", sa.String(length=32), nullable=False),
        sa.Column("name", sa.String(length=64), nullable=False),
        sa.Column(
            "settings",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
        ),
        sa.Column("secrets", sa.Text(), nullable=True),
        sa.Column("enabled", sa.Boolean(), nullable=False),
        sa.Column("paused", sa.Boolean(), nullable=False),
        sa.Column("created_at", replaylink.store.types.UTCDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", replaylink.store.types.UTCDateTime(timezone=True), nullable=False),
        sa.Column("poll_interval_seconds", sa.Float(), nullable=False),
        sa.Column("next_poll_at", replaylink.store.types.UTCDateTime(timezone=True), nullable=False),
        sa.Column("checkpoint", replaylink.store.types.UTCDateTime(timezone=True), nullable=True),
        sa.Column("lease_owner", sa.String(length=128), nullable=True),
        sa.Column("lease_expires_at", replaylink.store.types.UTCDateTime(timezone=True), nullable=True),
        sa.Column("lease_version", sa.BigInteger(), nullable=False),
        sa.Column("consecutive_failures", sa.Integer(), nullable=False),
        sa.Column("needs_attention", sa.Boolean(), nullable=False),
        sa.Column("last_success_at", replaylink.store.types.UTCDateTime(timezone=True), nullable=True),
        sa.Column("last_error_at", replaylink.store.types.UTCDateTime(timezone=True), nullable=True),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.Column("last_error_kind", sa.String(length=32), nullable=True),
        sa.Column("records_scanned", sa.BigInteger(), nullable=False),
        sa.Column("events_imported", sa.BigInteger(), nullable=False),
        sa.Column(
            "outcomes",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
        ),
        sa.Column(
            "rejected_samples",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
        ),
        sa.ForeignKeyConstraint(
            ["project_id"],
            ["projects.id"],
            name=op.f("fk_integrations_project_id_projects"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_integrations")),
        sa.UniqueConstraint("project_id", "provider", "name", name=op.f("uq_integrations_project_id")),
    )
    with op.batch_alter_table("integrations", schema=None) as batch_op:
        batch_op.create_index("ix_integrations_due", ["enabled", "paused", "next_poll_at"], unique=False)

    op.create_table(
        "backend_events",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("project_id", sa.Integer(), nullable=False),
        sa.Column("session_id", sa.BigInteger(), nullable=False),
        sa.Column("integration_id", sa.Integer(), nullable=True),
        sa.Column("provider", sa.String(length=32), nullable=False),
        sa.Column("provider_record_id", sa.String(length=512), nullable=False),
        sa.Column("timestamp", replaylink.store.types.UTCDateTime(timezone=True), nullable=False),
        sa.Column("level", sa.String(length=16), nullable=False),
        sa.Column("title", sa.String(length=512), nullable=False),
        sa.Column("message", sa.Text(), nullable=False),
        sa.Column("exception_type", sa.String(length=256), nullable=True),
        sa.Column("service", sa.String(length=512), nullable=True),
        sa.Column("host", sa.String(length=512), nullable=True),
        sa.Column("logger", sa.String(length=256), nullable=True),
        sa.Column(
            "stack",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=True,
        ),
        sa.Column("link", sa.Text(), nullable=True),
        sa.Column(
            "attributes",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=True,
        ),
        sa.Column("fingerprint", sa.String(length=64), nullable=False),
        sa.Column("imported_at", replaylink.store.types.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["integration_id"],
            ["integrations.id"],
            name=op.f("fk_backend_events_integration_id_integrations"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["project_id"],
            ["projects.id"],
            name=op.f("fk_backend_events_project_id_projects"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_backend_events")),
        sa.UniqueConstraint(
            "integration_id",
            "provider_record_id",
            "session_id",
            name=op.f("uq_backend_events_integration_id"),
        ),
    )
    with op.batch_alter_table("backend_events", schema=None) as batch_op:
        batch_op.create_index(
            "ix_backend_events_fingerprint", ["project_id", "fingerprint", "timestamp"], unique=False
        )
        batch_op.create_index("ix_backend_events_project_time", ["project_id", "timestamp"], unique=False)
        batch_op.create_index("ix_backend_events_session", ["session_id", "timestamp"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("backend_events", schema=None) as batch_op:
        batch_op.drop_index("ix_backend_events_session")
        batch_op.drop_index("ix_backend_events_project_time")
        batch_op.drop_index("ix_backend_events_fingerprint")

    op.drop_table("backend_events")
    with op.batch_alter_table("integrations", schema=None) as batch_op:
        batch_op.drop_index("ix_integrations_due")

    op.drop_table("integrations")
    with op.batch_alter_table("integration_history", schema=None) as batch_op:
        batch_op.drop_index("ix_integration_history_target")

    op.drop_table("integration_history")
