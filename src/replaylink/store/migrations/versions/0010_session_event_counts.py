"""session event counts: backend events per session and provider, kept by triggers

Revision ID: 0010
Revises: 0008
Create Date: 2026-12-07 06:45:00.000000

The session detail and the session list counted each session's events per provider from the
events (a session with thousands of events read them all), and the list's ``provider`` filter
probed each session's events for one of that provider (PostgreSQL at 10M events: p99 120 ms).
``session_event_counts`` holds the counts; the probe is one primary-key lookup.

Kept like the rollup of 0008, by triggers on ``backend_events`` in the inserting or deleting
transaction (PostgreSQL: statement-level with transition tables, increments by
``ON CONFLICT DO UPDATE`` in key order; SQLite: row-level). ``provider`` joins the columns an
``UPDATE`` may not change. A later migration that recreates ``backend_events`` on SQLite must
create these triggers again.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0010"
down_revision = "0008"
branch_labels = None
depends_on = None

IMMUTABLE = "backend_events: session_id and provider never change (session event counts)"

SQLITE_TRIGGERS = [
    "CREATE TRIGGER session_event_counts_insert AFTER INSERT ON backend_events BEGIN "
    "INSERT INTO session_event_counts (session_id, provider, events) "
    "VALUES (new.session_id, new.provider, 1) "
    "ON CONFLICT (session_id, provider) DO UPDATE SET events = events + 1; END",
    "CREATE TRIGGER session_event_counts_delete AFTER DELETE ON backend_events BEGIN "
    "UPDATE session_event_counts SET events = events - 1 "
    "WHERE session_id = old.session_id AND provider = old.provider; "
    "DELETE FROM session_event_counts "
    "WHERE session_id = old.session_id AND provider = old.provider AND events = 0; END",
    "CREATE TRIGGER session_event_counts_immutable BEFORE UPDATE OF session_id, provider ON backend_events "
    "WHEN old.session_id IS NOT new.session_id OR old.provider IS NOT new.provider "
    f"BEGIN SELECT RAISE(ABORT, '{IMMUTABLE}'); END",
]
SQLITE_DROP = [
    "DROP TRIGGER IF EXISTS session_event_counts_immutable",
    "DROP TRIGGER IF EXISTS session_event_counts_delete",
    "DROP TRIGGER IF EXISTS session_event_counts_insert",
]

PG_TRIGGERS = [
    """
CREATE FUNCTION session_event_counts_add() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO session_event_counts AS c (session_id, provider, events)
    SELECT session_id, provider, count(*) FROM new_rows GROUP BY 1, 2 ORDER BY 1, 2
    ON CONFLICT (session_id, provider) DO UPDATE SET events = c.events + excluded.events;
    RETURN NULL;
END $$
""",
    """
CREATE FUNCTION session_event_counts_remove() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    UPDATE session_event_counts c SET events = c.events - r.n
    FROM (SELECT session_id, provider, count(*) AS n FROM old_rows GROUP BY 1, 2) r
    WHERE c.session_id = r.session_id AND c.provider = r.provider;
    DELETE FROM session_event_counts c USING (SELECT DISTINCT session_id, provider FROM old_rows) r
    WHERE c.session_id = r.session_id AND c.provider = r.provider AND c.events = 0;
    RETURN NULL;
END $$
""",
    f"""
CREATE FUNCTION session_event_counts_immutable() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION '{IMMUTABLE}';
END $$
""",
    "CREATE TRIGGER session_event_counts_insert AFTER INSERT ON backend_events "
    "REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION session_event_counts_add()",
    "CREATE TRIGGER session_event_counts_delete AFTER DELETE ON backend_events "
    "REFERENCING OLD TABLE AS old_rows FOR EACH STATEMENT EXECUTE FUNCTION session_event_counts_remove()",
    "CREATE TRIGGER session_event_counts_immutable BEFORE UPDATE OF session_id, provider ON backend_events "
    "FOR EACH ROW WHEN (old.session_id IS DISTINCT FROM new.session_id "
    "OR old.provider IS DISTINCT FROM new.provider) EXECUTE FUNCTION session_event_counts_immutable()",
]
PG_DROP = [
    "DROP TRIGGER IF EXISTS session_event_counts_immutable ON backend_events",
    "DROP TRIGGER IF EXISTS session_event_counts_delete ON backend_events",
    "DROP TRIGGER IF EXISTS session_event_counts_insert ON backend_events",
    "DROP FUNCTION IF EXISTS session_event_counts_immutable()",
    "DROP FUNCTION IF EXISTS session_event_counts_remove()",
    "DROP FUNCTION IF EXISTS session_event_counts_add()",
]


def upgrade() -> None:
    op.create_table(
        "session_event_counts",
        sa.Column("session_id", sa.BigInteger(), nullable=False),
        sa.Column("provider", sa.String(length=32), nullable=False),
        sa.Column("events", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("session_id", "provider", name=op.f("pk_session_event_counts")),
    )
    # Triggers before the backfill: on PostgreSQL they lock out writers until the commit.
    for statement in PG_TRIGGERS if op.get_bind().dialect.name == "postgresql" else SQLITE_TRIGGERS:
        op.execute(statement)
    op.execute(
        "INSERT INTO session_event_counts (session_id, provider, events) "
        "SELECT session_id, provider, count(*) FROM backend_events GROUP BY session_id, provider"
    )
    op.execute("ANALYZE session_event_counts")


def downgrade() -> None:
    for statement in PG_DROP if op.get_bind().dialect.name == "postgresql" else SQLITE_DROP:
        op.execute(statement)
    op.drop_table("session_event_counts")
