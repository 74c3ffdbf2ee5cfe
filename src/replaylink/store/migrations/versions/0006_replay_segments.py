"""replay segments, devtools events, recording columns of sessions

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-01 21:35:54.509660

``replay_segments``: one row per stored batch (its blob lives in the replay store at ``key``);
``devtools_events``: page loads, requests, console messages, JS errors and custom events copied
out of the batches, so timelines and filters never read DOM data; ``sessions`` gains what a
session list shows (recording start/end, pages, clicks, errors, failed requests, bytes).
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

from replaylink.store.types import UTCDateTime

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None

COUNTERS = ("replay_segments", "pages_visited", "clicks", "js_errors", "failed_requests")


def upgrade() -> None:
    op.create_table(
        "replay_segments",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("project_id", sa.Integer(), nullable=False),
        sa.Column("session_id", sa.BigInteger(), nullable=False),
        sa.Column("tab", sa.String(length=64), nullable=False),
        sa.Column("seq", sa.Integer(), nullable=False),
        sa.Column("first_ms", sa.BigInteger(), nullable=False),
        sa.Column("last_ms", sa.BigInteger(), nullable=False),
        sa.Column("bytes", sa.Integer(), nullable=False),
        sa.Column("raw_bytes", sa.Integer(), nullable=False),
        sa.Column("events", sa.Integer(), nullable=False),
        sa.Column("has_full_snapshot", sa.Boolean(), nullable=False),
        sa.Column("key", sa.String(length=200), nullable=False),
        sa.Column("digest", sa.String(length=64), nullable=False),
        sa.Column("created_at", UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["project_id"],
            ["projects.id"],
            name=op.f("fk_replay_segments_project_id_projects"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["session_id"],
            ["sessions.id"],
            name=op.f("fk_replay_segments_session_id_sessions"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_replay_segments")),
        sa.UniqueConstraint("key", name=op.f("uq_replay_segments_key")),
        sa.UniqueConstraint("session_id", "tab", "seq", name=op.f("uq_replay_segments_session_id")),
    )
    op.create_table(
        "devtools_events",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("session_id", sa.BigInteger(), nullable=False),
        sa.Column("tab", sa.String(length=64), nullable=False),
        sa.Column("seq", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("ts_ms", sa.BigInteger(), nullable=False),
        sa.Column("level", sa.String(length=16), nullable=True),
        sa.Column("name", sa.String(length=256), nullable=True),
        sa.Column("message", sa.Text(), nullable=True),
        sa.Column("url", sa.Text(), nullable=True),
        sa.Column("status", sa.Integer(), nullable=True),
        sa.Column("duration_ms", sa.Float(), nullable=True),
        sa.Column("failed", sa.Boolean(), nullable=False),
        sa.Column(
            "data",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=True,
        ),
        sa.ForeignKeyConstraint(
            ["session_id"],
            ["sessions.id"],
            name=op.f("fk_devtools_events_session_id_sessions"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_devtools_events")),
    )
    op.create_index("ix_devtools_events_session", "devtools_events", ["session_id", "ts_ms"], unique=False)

    with op.batch_alter_table("sessions", schema=None) as batch_op:
        batch_op.add_column(sa.Column("recording_started_at", UTCDateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column("recording_ended_at", UTCDateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column("last_activity_at", UTCDateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column("replay_bytes", sa.BigInteger(), server_default="0", nullable=False))
        for name in COUNTERS:
            batch_op.add_column(sa.Column(name, sa.Integer(), server_default="0", nullable=False))


def downgrade() -> None:
    with op.batch_alter_table("sessions", schema=None) as batch_op:
        for name in (*reversed(COUNTERS), "replay_bytes", "last_activity_at", "recording_ended_at"):
            batch_op.drop_column(name)
        batch_op.drop_column("recording_started_at")
    op.drop_index("ix_devtools_events_session", table_name="devtools_events")
    op.drop_table("devtools_events")
    op.drop_table("replay_segments")
