"""room for in-place updates of the per-session counters on PostgreSQL (fillfactor 50)

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-07 11:40:00.000000

Every import batch updates the rows of its sessions in ``session_event_counts`` and
``error_group_sessions`` (the triggers of 0008 and 0010). Their pages were full, so no update
could stay on its page (a HOT update): each one added index entries and left a dead row that
later upserts walked past until autovacuum came. After a few hundred batches the two statement
triggers cost 70 and 65 µs per inserted event (``EXPLAIN ANALYZE``; 27 and 11 µs with this).
``fillfactor`` 50 leaves room on new pages, so updates of recent sessions (the ones imports touch)
are HOT and their dead versions are pruned in place. Existing pages keep their rows (no rewrite,
no lock on a large table); ``VACUUM FULL`` would repack them. SQLite has no such setting.
"""

from __future__ import annotations

from alembic import op

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None

UPDATED_IN_PLACE = ("session_event_counts", "error_group_sessions")


def upgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    for table in UPDATED_IN_PLACE:
        op.execute(f"ALTER TABLE {table} SET (fillfactor = 50)")


def downgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    for table in UPDATED_IN_PLACE:
        op.execute(f"ALTER TABLE {table} RESET (fillfactor)")
