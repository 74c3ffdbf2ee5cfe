"""error groups over a window: event offsets from session starts; buckets in key order (SQLite)

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-07 12:00:00.000000

A window's error groups read the bucket rows of a range of ``(project_id, period, start)``, or of
a list of ``(start, fingerprint)`` keys. On SQLite ``error_group_buckets`` was a rowid table:
each row read through the primary key cost a second lookup in the table, on another page. As a
``WITHOUT ROWID`` table the rows are the key's b-tree, so a range is one sequential read (2-3x
less CPU for the day buckets of a week) and the triggers' upserts touch one b-tree instead of two.

SQLite cannot change a table to ``WITHOUT ROWID``: the table is copied into a new one. The
triggers that name it (0008's, on ``backend_events``) are dropped for the copy and created again
from their stored text.

Distinct sessions of a group in a window were counted from all its events there (most of a wide
window's time). A session id starts with its session's start in milliseconds (``replaylink.ids``),
so ``error_group_sessions`` is ordered by session start within a group. ``error_group_totals`` now
also keeps the least and greatest ``offset_ms`` of the group's events: event time minus the start
encoded in its session id. Sessions that started well inside a window then have all their events
inside it and are counted from ``error_group_sessions`` by a key range; only sessions that started
within the offsets' span of an edge are counted from their events near that edge. The bounds are
widened by inserts only (a delete leaves them wider than needed, still bounds); the insert
trigger folds them into the totals upsert it already makes (no other statement per event).
"""

from __future__ import annotations

import importlib

import sqlalchemy as sa
from alembic import op

revision = "0013"
down_revision = "0012"
branch_labels = None
depends_on = None

rollup = importlib.import_module("replaylink.store.migrations.versions.0008_error_group_rollup")

EPOCH_MS = 1_704_067_200_000  # replaylink.ids: a session id is (ms since 2024 - ...) << 22 | random
OFFSET = {
    # Event time minus the start encoded in the session id, in milliseconds.
    "sqlite": "(CAST(round((julianday({r}timestamp) - 2440587.5) * 86400000.0) AS INTEGER) "
    f"- {EPOCH_MS} - ({{r}}session_id >> 22))",
    "postgresql": "(floor(extract(epoch FROM {r}timestamp) * 1000)::bigint "
    f"- {EPOCH_MS} - ({{r}}session_id >> 22))",
}
TOTALS_INSERT = (
    "INSERT INTO error_group_totals (project_id, fingerprint, events, sessions, first_seen, last_seen) "
)
TOTALS_INSERT_PG = (
    "INSERT INTO error_group_totals AS t (project_id, fingerprint, events, sessions, first_seen, last_seen)"
)


def replace_each(text: str, changes: list[tuple[str, str]]) -> str:
    """``text`` with each ``(old, new)`` made, every ``old`` found exactly once (a later
    migration's edit of a trigger's text fails loudly if that text is not what it expects)."""
    for old, new in changes:
        assert text.count(old) == 1, old
        text = text.replace(old, new)
    return text


def _sqlite_insert_trigger() -> str:
    """0008's insert trigger, its totals upsert also widening the offsets."""
    offset = OFFSET["sqlite"].format(r="new.")
    return replace_each(
        rollup.SQLITE_TRIGGERS[0],
        [
            (TOTALS_INSERT, TOTALS_INSERT.replace("last_seen)", "last_seen, min_offset_ms, max_offset_ms)")),
            (
                "new.timestamp, new.timestamp) ON CONFLICT (project_id, fingerprint) DO UPDATE SET ",
                f"new.timestamp, new.timestamp, {offset}, {offset}) ON CONFLICT (project_id, fingerprint) "
                "DO UPDATE SET min_offset_ms = min(min_offset_ms, excluded.min_offset_ms), "
                "max_offset_ms = max(max_offset_ms, excluded.max_offset_ms), ",
            ),
        ],
    )


def _pg_add_function() -> str:
    """0008's insert trigger function, its totals upsert also widening the offsets."""
    offset = OFFSET["postgresql"].format(r="")
    return replace_each(
        rollup.PG_ADD.replace("CREATE FUNCTION", "CREATE OR REPLACE FUNCTION"),
        [
            (
                "max(timestamp) AS last_seen\n",
                f"max(timestamp) AS last_seen, min({offset}) AS min_offset_ms, "
                f"max({offset}) AS max_offset_ms\n",
            ),
            (
                TOTALS_INSERT_PG,
                TOTALS_INSERT_PG.replace("last_seen)", "last_seen, min_offset_ms, max_offset_ms)"),
            ),
            ("a.first_seen, a.last_seen\n", "a.first_seen, a.last_seen, a.min_offset_ms, a.max_offset_ms\n"),
            (
                "ON CONFLICT (project_id, fingerprint) DO UPDATE SET events = t.events + excluded.events,",
                "ON CONFLICT (project_id, fingerprint) DO UPDATE SET events = t.events + excluded.events, "
                "min_offset_ms = least(t.min_offset_ms, excluded.min_offset_ms), "
                "max_offset_ms = greatest(t.max_offset_ms, excluded.max_offset_ms),",
            ),
        ],
    )


def _backfill(dialect: str) -> str:
    """Each group's offsets from its stored events: on PostgreSQL one aggregate over the events
    (about 10 s at 10M), kept with any widened meanwhile; on SQLite a probe range per group."""
    offset = OFFSET[dialect].format(r="e.")
    if dialect == "postgresql":
        return (
            "UPDATE error_group_totals AS t SET min_offset_ms = least(t.min_offset_ms, o.lo), "
            "max_offset_ms = greatest(t.max_offset_ms, o.hi) "
            f"FROM (SELECT project_id, fingerprint, min({offset}) AS lo, max({offset}) AS hi "
            "FROM backend_events e GROUP BY 1, 2) o "
            "WHERE o.project_id = t.project_id AND o.fingerprint = t.fingerprint"
        )
    group = "e.project_id = t.project_id AND e.fingerprint = t.fingerprint"
    lo, hi = (f"(SELECT {f}({offset}) FROM backend_events e WHERE {group})" for f in ("min", "max"))
    return f"UPDATE error_group_totals AS t SET min_offset_ms = {lo}, max_offset_ms = {hi}"


TABLE = "error_group_buckets"
COLUMNS = "project_id, period, start, fingerprint, events, first_seen, last_seen"
DEFINITION = (
    "(project_id INTEGER NOT NULL, period VARCHAR(1) NOT NULL, start DATETIME NOT NULL, "
    "fingerprint VARCHAR(64) NOT NULL, events BIGINT NOT NULL, first_seen DATETIME NOT NULL, "
    "last_seen DATETIME NOT NULL, "
    "CONSTRAINT pk_error_group_buckets PRIMARY KEY (project_id, period, start, fingerprint), "
    "CONSTRAINT fk_error_group_buckets_project_id_projects FOREIGN KEY(project_id) "
    "REFERENCES projects (id) ON DELETE CASCADE)"
)


def copy_table(table: str, definition: str, select: str, replaced: dict[str, str] | None = None) -> None:
    """SQLite: ``table`` copied into one of ``definition`` (columns and options) from ``select``.
    The triggers that name it are dropped for the copy (a rename checks them) and created again
    from their stored text, but those named in ``replaced``, created from the text given there."""
    bind = op.get_bind()
    triggers = bind.exec_driver_sql(
        f"SELECT name, sql FROM sqlite_master WHERE type = 'trigger' AND sql LIKE '%{table}%'"
    ).all()
    for name, _ in triggers:
        op.execute(f'DROP TRIGGER "{name}"')
    op.execute(f"CREATE TABLE {table}_copy {definition}")
    op.execute(f"INSERT INTO {table}_copy {select}")
    op.execute(f"DROP TABLE {table}")
    op.execute(f"ALTER TABLE {table}_copy RENAME TO {table}")
    replaced = replaced or {}
    for name, sql in triggers:
        op.execute(replaced.get(name, sql))
    op.execute(f"ANALYZE {table}")


def _rebuild(options: str) -> None:
    """SQLite: ``error_group_buckets`` copied into a table created with ``options``."""
    if op.get_bind().dialect.name == "sqlite":
        select = f"({COLUMNS}) SELECT {COLUMNS} FROM {TABLE} ORDER BY 1, 2, 3, 4"
        copy_table(TABLE, f"{DEFINITION}{options}", select)


def upgrade() -> None:
    dialect = op.get_bind().dialect.name
    for column in ("min_offset_ms", "max_offset_ms"):
        op.add_column("error_group_totals", sa.Column(column, sa.BigInteger(), nullable=True))
    if dialect == "postgresql":
        op.execute(_pg_add_function())
    else:
        op.execute("DROP TRIGGER error_group_rollup_insert")
        op.execute(_sqlite_insert_trigger())
    op.execute(_backfill(dialect))
    _rebuild(" WITHOUT ROWID")


def downgrade() -> None:
    _rebuild("")
    if op.get_bind().dialect.name == "postgresql":
        op.execute(rollup.PG_ADD.replace("CREATE FUNCTION", "CREATE OR REPLACE FUNCTION"))
    else:
        op.execute("DROP TRIGGER error_group_rollup_insert")
        op.execute(rollup.SQLITE_TRIGGERS[0])
    for column in ("max_offset_ms", "min_offset_ms"):
        op.execute(f"ALTER TABLE error_group_totals DROP COLUMN {column}")
