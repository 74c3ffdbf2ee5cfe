"""dashboard auth: sign-in sessions, user project access

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-01 21:50:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import replaylink.store.types

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "auth_sessions",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("token_hash", sa.String(length=64), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("created_at", replaylink.store.types.UTCDateTime(), nullable=False),
        sa.Column("last_seen_at", replaylink.store.types.UTCDateTime(), nullable=False),
        sa.Column("expires_at", replaylink.store.types.UTCDateTime(), nullable=False),
        sa.Column("absolute_expires_at", replaylink.store.types.UTCDateTime(), nullable=False),
        sa.Column("user_agent", sa.String(length=256), nullable=False),
        sa.Column("ip", sa.String(length=64), nullable=False),
        sa.ForeignKeyConstraint(
            ["user_id"], ["users.id"], name=op.f("fk_auth_sessions_user_id_users"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_auth_sessions")),
        sa.UniqueConstraint("token_hash", name=op.f("uq_auth_sessions_token_hash")),
    )
    with op.batch_alter_table("auth_sessions", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_auth_sessions_expires_at"), ["expires_at"], unique=False)
        batch_op.create_index(batch_op.f("ix_auth_sessions_user_id"), ["user_id"], unique=False)

    op.create_table(
        "user_projects",
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("project_id", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["project_id"],
            ["projects.id"],
            name=op.f("fk_user_projects_project_id_projects"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["user_id"], ["users.id"], name=op.f("fk_user_projects_user_id_users"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("user_id", "project_id", name=op.f("pk_user_projects")),
    )
    with op.batch_alter_table("user_projects", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_user_projects_project_id"), ["project_id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("user_projects", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_user_projects_project_id"))
    op.drop_table("user_projects")
    with op.batch_alter_table("auth_sessions", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_auth_sessions_user_id"))
        batch_op.drop_index(batch_op.f("ix_auth_sessions_expires_at"))
    op.drop_table("auth_sessions")
