"""cheaper rollup writes: batch rollup on SQLite, room for in-place updates on PostgreSQL

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-07 11:40:00.000000

SQLite (``store.batch_rollup``): a table ``rollup_deferrals`` whose row marks an insert batch
that rolls itself up in grouped statements, and the two row-level insert triggers recreated with
``WHEN NOT EXISTS (SELECT 1 FROM rollup_deferrals)``. Their bodies are read from the schema, so
they stay exactly what 0008 and 0010 made.

PostgreSQL: every import batch updates the rows of its sessions in ``session_event_counts`` and
``error_group_sessions``. Their pages were full, so no update could stay on its page (a HOT
update): each one added index entries and left a dead row that later lookups walked past until
autovacuum came; the two statement triggers cost about 70 µs per inserted event after a few
hundred batches. ``fillfactor`` 50 leaves room on new pages, so updates of recent sessions (the
ones imports touch) are HOT and their dead versions are pruned in place. Existing pages keep
their rows (no rewrite, no lock on a large table); ``VACUUM FULL`` would repack them.
"""

from __future__ import annotations

from alembic import op

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None

TRIGGERS = ("error_group_rollup_insert", "session_event_counts_insert")
HEAD = "AFTER INSERT ON backend_events BEGIN"
GATED = "AFTER INSERT ON backend_events WHEN NOT EXISTS (SELECT 1 FROM rollup_deferrals) BEGIN"


def _recreate(old: str, new: str) -> None:
    bind = op.get_bind()
    for name in TRIGGERS:
        sql = bind.exec_driver_sql(
            "SELECT sql FROM sqlite_master WHERE type = 'trigger' AND name = ?", (name,)
        ).scalar_one()
        if old not in sql:
            raise RuntimeError(f"trigger {name} is not as expected: {sql[:200]}")
        op.execute(f"DROP TRIGGER {name}")
        op.execute(sql.replace(old, new, 1))


UPDATED_IN_PLACE = ("session_event_counts", "error_group_sessions")


def upgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        for table in UPDATED_IN_PLACE:
            op.execute(f"ALTER TABLE {table} SET (fillfactor = 50)")
        return
    op.execute("CREATE TABLE rollup_deferrals (after_id INTEGER NOT NULL)")
    _recreate(HEAD, GATED)


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        for table in UPDATED_IN_PLACE:
            op.execute(f"ALTER TABLE {table} RESET (fillfactor)")
        return
    _recreate(GATED, HEAD)
    op.execute("DROP TABLE rollup_deferrals")
