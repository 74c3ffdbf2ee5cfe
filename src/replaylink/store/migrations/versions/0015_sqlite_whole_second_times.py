"""SQLite: times stored without a fraction (a whole second) rewritten as SQLAlchemy writes them

Revision ID: 0015
Revises: 0014
Create Date: 2026-12-07 20:00:00.000000

SQLite stores ``UTCDateTime`` as text, and SQLAlchemy's own statements always write
'YYYY-MM-DD HH:MM:SS.ffffff'. The multi-row inserts of events (``store.events``) and counted
records (``store.counted_records``) took the generic type's bind processor until 0014's release,
so sqlite3's default adapter wrote a whole second as '2026-06-01 12:00:00'. That sorts below
'2026-06-01 12:00:00.000000', the same time as a parameter or a bucket bound is written:

- the rollup's delete trigger (0008), recomputing an hour bucket's first/last seen over
  ``timestamp >= '... 12:00:00.000000'``, found no event at 12:00:00 and wrote NULL (the delete
  failed on ``error_group_buckets.first_seen NOT NULL``: retention, integration purge);
- a window or a cutoff at a whole second compared wrong with an event stored at it.

Every value of 19 characters (no fraction) in the columns those inserts wrote, or the rollup's
triggers copied from them (``new.timestamp``), gets the fraction '.000000':

- ``backend_events.timestamp`` and ``imported_at``, ``counted_records.record_at``;
- ``error_group_totals`` and ``error_group_buckets``: ``first_seen``, ``last_seen`` (bucket
  starts are built by the triggers as '... :00:00.000000' and never were short).

Only the rows that need it are updated (one pass over each table per column). The rollup's
counts stay as they are: a short value and its long form are the same time and no other value
sorts between them, so every min/max the triggers kept is still the right one.

Of the triggers on ``backend_events``, 0008's ``error_group_rollup_immutable`` refuses an
``UPDATE OF timestamp``: it is dropped for the rewrite and created again from its stored text
(``sqlite_master.sql``). None other fires: the FTS one is ``UPDATE OF id, title, message``
(0005), the session counts' ``UPDATE OF session_id, provider`` (0010); the other tables have none.

PostgreSQL stores ``timestamptz``: nothing to do. Downgrade: nothing to undo (the long form is
what SQLAlchemy writes anyway, and earlier revisions read it as they read the short one).
"""

from __future__ import annotations

from alembic import op

revision = "0015"
down_revision = "0014"
branch_labels = None
depends_on = None

REWRITTEN = {
    "backend_events": ("timestamp", "imported_at"),
    "counted_records": ("record_at",),
    "error_group_totals": ("first_seen", "last_seen"),
    "error_group_buckets": ("first_seen", "last_seen"),
}
WHOLE_SECOND = 19  # len('YYYY-MM-DD HH:MM:SS')
IMMUTABLE = "error_group_rollup_immutable"


def upgrade() -> None:
    bind = op.get_bind()
    if bind.dialect.name != "sqlite":
        return
    immutable = bind.exec_driver_sql(
        "SELECT sql FROM sqlite_master WHERE type = 'trigger' AND name = ?", (IMMUTABLE,)
    ).scalar()
    if immutable is not None:
        op.execute(f'DROP TRIGGER "{IMMUTABLE}"')
    for table, columns in REWRITTEN.items():
        for column in columns:
            op.execute(
                f'UPDATE {table} SET "{column}" = "{column}" || \'.000000\' '
                f'WHERE length("{column}") = {WHOLE_SECOND}'
            )
    if immutable is not None:
        bind.exec_driver_sql(immutable)


def downgrade() -> None:
    """Nothing to undo: the long form is what SQLAlchemy writes anyway."""
