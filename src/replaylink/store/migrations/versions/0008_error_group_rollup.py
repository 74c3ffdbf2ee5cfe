"""error-group rollup: totals, hour and day buckets, and sessions per group, kept by triggers

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-07 06:50:00.000000

The Backend errors page (``store.error_groups``) read every event of the window on each request
(all-time: 0.3-0.5 s on SQLite at 1M events, 2-3 s on PostgreSQL at 10M). These tables hold what
it needs, per project and fingerprint:

- ``error_group_totals``: events, distinct sessions, first and last seen, over everything stored;
- ``error_group_buckets``: events, first and last seen per UTC hour (``period`` 'h') and day ('d');
- ``error_group_sessions``: the sessions with events of the group and how many (what makes
  "distinct sessions" exact when events come and go).

Triggers on ``backend_events`` keep them, in the transaction that inserts or deletes the events,
so every path (importer, on-demand, backfill, retention, integration delete with purge, project
delete) keeps them exact without knowing of them:

- PostgreSQL: statement-level ``AFTER INSERT`` / ``AFTER DELETE`` triggers with transition
  tables: one grouped ``INSERT ... ON CONFLICT DO UPDATE`` with increments per table and
  statement (rows locked in key order, so concurrent importers wait for each other instead of
  losing counts or deadlocking); a delete subtracts, drops rows that reach zero and recomputes
  first/last seen from the events' group index where the deleted rows held them.
- SQLite: row-level triggers doing the same per row (one writer at a time, so no races).

Events are immutable in the columns the rollup reads (project, session, fingerprint, timestamp):
an ``UPDATE`` of one of them is refused. A later migration that recreates ``backend_events`` on
SQLite (batch "move and copy") drops these triggers: it must create them again.

The upgrade creates the triggers before the backfill: on PostgreSQL ``CREATE TRIGGER`` locks out
writers until the migration commits, so no event is missed between the two.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import replaylink.store.types

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None

BUCKET_COLUMNS = "(project_id, period, start, fingerprint, events, first_seen, last_seen)"
BUCKET_KEY = "(project_id, period, start, fingerprint)"
WATCHED = "project_id, session_id, fingerprint, timestamp"
IMMUTABLE = (
    "backend_events: project_id, session_id, fingerprint and timestamp never change (error-group rollup)"
)

# --------------------------------------------------------------------------- SQLite

# SQLite stores UTCDateTime as 'YYYY-MM-DD HH:MM:SS.ffffff' text: buckets start at prefixes of it.
_HOUR = "substr({r}.timestamp, 1, 13) || ':00:00.000000'"
_DAY = "substr({r}.timestamp, 1, 10) || ' 00:00:00.000000'"
_NEXT_HOUR = "datetime(substr({r}.timestamp, 1, 13) || ':00:00', '+1 hour') || '.000000'"
_NEXT_DAY = "datetime(substr({r}.timestamp, 1, 10), '+1 day') || '.000000'"


def _sqlite_add(r: str) -> str:
    key = f"project_id = {r}.project_id AND fingerprint = {r}.fingerprint"
    statements = [
        # Sessions first counted before the membership row exists.
        "INSERT INTO error_group_totals (project_id, fingerprint, events, sessions, first_seen, last_seen) "
        f"VALUES ({r}.project_id, {r}.fingerprint, 1, NOT EXISTS (SELECT 1 FROM error_group_sessions "
        f"WHERE {key} AND session_id = {r}.session_id), {r}.timestamp, {r}.timestamp) "
        "ON CONFLICT (project_id, fingerprint) DO UPDATE SET events = events + 1, "
        "sessions = sessions + excluded.sessions, first_seen = min(first_seen, excluded.first_seen), "
        "last_seen = max(last_seen, excluded.last_seen)",
        "INSERT INTO error_group_sessions (project_id, fingerprint, session_id, events) "
        f"VALUES ({r}.project_id, {r}.fingerprint, {r}.session_id, 1) "
        "ON CONFLICT (project_id, fingerprint, session_id) DO UPDATE SET events = events + 1",
    ]
    for period, start in (("h", _HOUR), ("d", _DAY)):
        statements.append(
            f"INSERT INTO error_group_buckets {BUCKET_COLUMNS} VALUES ({r}.project_id, '{period}', "
            f"{start.format(r=r)}, {r}.fingerprint, 1, {r}.timestamp, "
            f"{r}.timestamp) ON CONFLICT {BUCKET_KEY} DO UPDATE SET "
            "events = events + 1, first_seen = min(first_seen, excluded.first_seen), "
            "last_seen = max(last_seen, excluded.last_seen)"
        )
    return "; ".join(statements)


def _sqlite_remove(r: str) -> str:
    key = f"project_id = {r}.project_id AND fingerprint = {r}.fingerprint"
    member = f"{key} AND session_id = {r}.session_id"
    statements = [
        f"UPDATE error_group_sessions SET events = events - 1 WHERE {member}",
        f"DELETE FROM error_group_sessions WHERE {member} AND events = 0",
        "UPDATE error_group_totals SET events = events - 1, "
        f"sessions = sessions - NOT EXISTS (SELECT 1 FROM error_group_sessions WHERE {member}) WHERE {key}",
        f"DELETE FROM error_group_totals WHERE {key} AND events = 0",
        "UPDATE error_group_totals SET "
        f"first_seen = (SELECT min(timestamp) FROM backend_events WHERE {key}), "
        f"last_seen = (SELECT max(timestamp) FROM backend_events WHERE {key}) "
        f"WHERE {key} AND (first_seen = {r}.timestamp OR last_seen = {r}.timestamp)",
    ]
    for period, start, end in (("h", _HOUR, _NEXT_HOUR), ("d", _DAY, _NEXT_DAY)):
        bucket = f"{key} AND period = '{period}' AND start = {start.format(r=r)}"
        inside = f"{key} AND timestamp >= {start.format(r=r)} AND timestamp < {end.format(r=r)}"
        statements += [
            f"UPDATE error_group_buckets SET events = events - 1 WHERE {bucket}",
            f"DELETE FROM error_group_buckets WHERE {bucket} AND events = 0",
            "UPDATE error_group_buckets SET "
            f"first_seen = (SELECT min(timestamp) FROM backend_events WHERE {inside}), "
            f"last_seen = (SELECT max(timestamp) FROM backend_events WHERE {inside}) "
            f"WHERE {bucket} AND (first_seen = {r}.timestamp OR last_seen = {r}.timestamp)",
        ]
    return "; ".join(statements)


SQLITE_TRIGGERS = [
    "CREATE TRIGGER error_group_rollup_insert AFTER INSERT ON backend_events "
    f"BEGIN {_sqlite_add('new')}; END",
    "CREATE TRIGGER error_group_rollup_delete AFTER DELETE ON backend_events "
    f"BEGIN {_sqlite_remove('old')}; END",
    f"CREATE TRIGGER error_group_rollup_immutable BEFORE UPDATE OF {WATCHED} "
    "ON backend_events WHEN old.project_id IS NOT new.project_id OR old.session_id IS NOT new.session_id "
    "OR old.fingerprint IS NOT new.fingerprint OR old.timestamp IS NOT new.timestamp "
    f"BEGIN SELECT RAISE(ABORT, '{IMMUTABLE}'); END",
]
SQLITE_BUCKETS = {
    "h": "substr(timestamp, 1, 13) || ':00:00.000000'",
    "d": "substr(timestamp, 1, 10) || ' 00:00:00.000000'",
}

# --------------------------------------------------------------------------- PostgreSQL

PG_BUCKETS = {
    "h": "date_trunc('hour', timestamp AT TIME ZONE 'UTC') AT TIME ZONE 'UTC'",
    "d": "date_trunc('day', timestamp AT TIME ZONE 'UTC') AT TIME ZONE 'UTC'",
}
_PG_WIDTH = {"h": "interval '1 hour'", "d": "interval '1 day'"}


def _pg_bucket_upsert(source: str) -> str:
    """Grouped bucket increments from ``source`` (rows with project_id, fingerprint, timestamp)."""
    selects = " UNION ALL ".join(
        f"SELECT project_id, '{p}' AS period, {expr} AS start, fingerprint, timestamp FROM {source}"
        for p, expr in PG_BUCKETS.items()
    )
    return (
        f"INSERT INTO error_group_buckets AS b {BUCKET_COLUMNS} "
        "SELECT project_id, period, start, fingerprint, count(*), min(timestamp), max(timestamp) "
        f"FROM ({selects}) s GROUP BY 1, 2, 3, 4 ORDER BY 1, 2, 3, 4 "
        f"ON CONFLICT {BUCKET_KEY} DO UPDATE SET events = b.events + excluded.events, "
        "first_seen = least(b.first_seen, excluded.first_seen), "
        "last_seen = greatest(b.last_seen, excluded.last_seen)"
    )


PG_ADD = f"""
CREATE FUNCTION error_group_rollup_add() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    WITH members AS (
        INSERT INTO error_group_sessions AS m (project_id, fingerprint, session_id, events)
        SELECT project_id, fingerprint, session_id, count(*) FROM new_rows
        GROUP BY 1, 2, 3 ORDER BY 1, 2, 3
        ON CONFLICT (project_id, fingerprint, session_id) DO UPDATE SET events = m.events + excluded.events
        RETURNING m.project_id, m.fingerprint, (m.xmax = 0) AS created
    ), created AS (
        SELECT project_id, fingerprint, count(*) FILTER (WHERE created) AS sessions FROM members GROUP BY 1, 2
    ), added AS (
        SELECT project_id, fingerprint, count(*) AS events, min(timestamp) AS first_seen,
               max(timestamp) AS last_seen
        FROM new_rows GROUP BY 1, 2
    )
    INSERT INTO error_group_totals AS t (project_id, fingerprint, events, sessions, first_seen, last_seen)
    SELECT a.project_id, a.fingerprint, a.events, c.sessions, a.first_seen, a.last_seen
    FROM added a JOIN created c USING (project_id, fingerprint) ORDER BY 1, 2
    ON CONFLICT (project_id, fingerprint) DO UPDATE SET events = t.events + excluded.events,
        sessions = t.sessions + excluded.sessions, first_seen = least(t.first_seen, excluded.first_seen),
        last_seen = greatest(t.last_seen, excluded.last_seen);
    {_pg_bucket_upsert("new_rows")};
    RETURN NULL;
END $$
"""


def _pg_bucket_remove() -> str:
    statements = []
    for period, expr in PG_BUCKETS.items():
        removed = (
            f"SELECT project_id, {expr} AS start, fingerprint, count(*) AS n, min(timestamp) AS lo, "
            f"max(timestamp) AS hi FROM old_rows GROUP BY 1, 2, 3 ORDER BY 1, 2, 3"
        )
        match = (
            f"b.project_id = r.project_id AND b.period = '{period}' AND b.start = r.start "
            "AND b.fingerprint = r.fingerprint"
        )
        inside = (
            "e.project_id = b.project_id AND e.fingerprint = b.fingerprint AND e.timestamp >= b.start "
            f"AND e.timestamp < b.start + {_PG_WIDTH[period]}"
        )
        statements += [
            f"UPDATE error_group_buckets b SET events = b.events - r.n FROM ({removed}) r WHERE {match}",
            f"DELETE FROM error_group_buckets b USING ({removed}) r WHERE {match} AND b.events = 0",
            "UPDATE error_group_buckets b SET "
            f"first_seen = (SELECT min(e.timestamp) FROM backend_events e WHERE {inside}), "
            f"last_seen = (SELECT max(e.timestamp) FROM backend_events e WHERE {inside}) "
            f"FROM ({removed}) r WHERE {match} AND (r.lo <= b.first_seen OR r.hi >= b.last_seen)",
        ]
    return ";\n    ".join(statements)


PG_REMOVE = f"""
CREATE FUNCTION error_group_rollup_remove() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    UPDATE error_group_sessions m SET events = m.events - r.n
    FROM (SELECT project_id, fingerprint, session_id, count(*) AS n FROM old_rows GROUP BY 1, 2, 3) r
    WHERE m.project_id = r.project_id AND m.fingerprint = r.fingerprint AND m.session_id = r.session_id;
    WITH gone AS (
        DELETE FROM error_group_sessions m
        USING (SELECT DISTINCT project_id, fingerprint, session_id FROM old_rows) r
        WHERE m.project_id = r.project_id AND m.fingerprint = r.fingerprint AND m.session_id = r.session_id
          AND m.events = 0
        RETURNING m.project_id, m.fingerprint
    ), lost AS (
        SELECT project_id, fingerprint, count(*) AS n FROM gone GROUP BY 1, 2
    ), removed AS (
        SELECT project_id, fingerprint, count(*) AS n FROM old_rows GROUP BY 1, 2
    )
    UPDATE error_group_totals t SET events = t.events - r.n, sessions = t.sessions - coalesce(l.n, 0)
    FROM removed r LEFT JOIN lost l USING (project_id, fingerprint)
    WHERE t.project_id = r.project_id AND t.fingerprint = r.fingerprint;
    DELETE FROM error_group_totals t USING (SELECT DISTINCT project_id, fingerprint FROM old_rows) r
    WHERE t.project_id = r.project_id AND t.fingerprint = r.fingerprint AND t.events = 0;
    UPDATE error_group_totals t SET
        first_seen = (SELECT min(e.timestamp) FROM backend_events e
                      WHERE e.project_id = t.project_id AND e.fingerprint = t.fingerprint),
        last_seen = (SELECT max(e.timestamp) FROM backend_events e
                     WHERE e.project_id = t.project_id AND e.fingerprint = t.fingerprint)
    FROM (SELECT project_id, fingerprint, min(timestamp) AS lo, max(timestamp) AS hi
          FROM old_rows GROUP BY 1, 2) r
    WHERE t.project_id = r.project_id AND t.fingerprint = r.fingerprint
      AND (r.lo <= t.first_seen OR r.hi >= t.last_seen);
    {_pg_bucket_remove()};
    RETURN NULL;
END $$
"""

PG_IMMUTABLE = f"""
CREATE FUNCTION error_group_rollup_immutable() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION '{IMMUTABLE}';
END $$
"""

PG_TRIGGERS = [
    PG_ADD,
    PG_REMOVE,
    PG_IMMUTABLE,
    "CREATE TRIGGER error_group_rollup_insert AFTER INSERT ON backend_events "
    "REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION error_group_rollup_add()",
    "CREATE TRIGGER error_group_rollup_delete AFTER DELETE ON backend_events "
    "REFERENCING OLD TABLE AS old_rows FOR EACH STATEMENT EXECUTE FUNCTION error_group_rollup_remove()",
    f"CREATE TRIGGER error_group_rollup_immutable BEFORE UPDATE OF {WATCHED} "
    "ON backend_events FOR EACH ROW WHEN (old.project_id IS DISTINCT FROM new.project_id "
    "OR old.session_id IS DISTINCT FROM new.session_id OR old.fingerprint IS DISTINCT FROM new.fingerprint "
    "OR old.timestamp IS DISTINCT FROM new.timestamp) EXECUTE FUNCTION error_group_rollup_immutable()",
]

PG_DROP = [
    "DROP TRIGGER IF EXISTS error_group_rollup_immutable ON backend_events",
    "DROP TRIGGER IF EXISTS error_group_rollup_delete ON backend_events",
    "DROP TRIGGER IF EXISTS error_group_rollup_insert ON backend_events",
    "DROP FUNCTION IF EXISTS error_group_rollup_immutable()",
    "DROP FUNCTION IF EXISTS error_group_rollup_remove()",
    "DROP FUNCTION IF EXISTS error_group_rollup_add()",
]
SQLITE_DROP = [
    "DROP TRIGGER IF EXISTS error_group_rollup_immutable",
    "DROP TRIGGER IF EXISTS error_group_rollup_delete",
    "DROP TRIGGER IF EXISTS error_group_rollup_insert",
]


def backfill(dialect: str) -> list[str]:
    """Statements filling the (empty) rollup from the stored events."""
    buckets = PG_BUCKETS if dialect == "postgresql" else SQLITE_BUCKETS
    return [
        "INSERT INTO error_group_totals (project_id, fingerprint, events, sessions, first_seen, last_seen) "
        "SELECT project_id, fingerprint, count(*), count(DISTINCT session_id), min(timestamp), "
        "max(timestamp) FROM backend_events GROUP BY project_id, fingerprint",
        "INSERT INTO error_group_sessions (project_id, fingerprint, session_id, events) "
        "SELECT project_id, fingerprint, session_id, count(*) FROM backend_events "
        "GROUP BY project_id, fingerprint, session_id",
        *(
            f"INSERT INTO error_group_buckets {BUCKET_COLUMNS} "
            f"SELECT project_id, '{period}', {expr}, fingerprint, count(*), min(timestamp), max(timestamp) "
            f"FROM backend_events GROUP BY project_id, {expr}, fingerprint"
            for period, expr in buckets.items()
        ),
    ]


def upgrade() -> None:
    op.create_table(
        "error_group_totals",
        sa.Column("project_id", sa.Integer(), nullable=False),
        sa.Column("fingerprint", sa.String(length=64), nullable=False),
        sa.Column("events", sa.BigInteger(), nullable=False),
        sa.Column("sessions", sa.BigInteger(), nullable=False),
        sa.Column("first_seen", replaylink.store.types.UTCDateTime(), nullable=False),
        sa.Column("last_seen", replaylink.store.types.UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["project_id"],
            ["projects.id"],
            name=op.f("fk_error_group_totals_project_id_projects"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("project_id", "fingerprint", name=op.f("pk_error_group_totals")),
    )
    op.create_index(
        "ix_error_group_totals_rank", "error_group_totals", ["project_id", "events", "fingerprint"]
    )
    op.create_table(
        "error_group_buckets",
        sa.Column("project_id", sa.Integer(), nullable=False),
        sa.Column("period", sa.String(length=1), nullable=False),
        sa.Column("start", replaylink.store.types.UTCDateTime(), nullable=False),
        sa.Column("fingerprint", sa.String(length=64), nullable=False),
        sa.Column("events", sa.BigInteger(), nullable=False),
        sa.Column("first_seen", replaylink.store.types.UTCDateTime(), nullable=False),
        sa.Column("last_seen", replaylink.store.types.UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["project_id"],
            ["projects.id"],
            name=op.f("fk_error_group_buckets_project_id_projects"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint(
            "project_id", "period", "start", "fingerprint", name=op.f("pk_error_group_buckets")
        ),
    )
    op.create_table(
        "error_group_sessions",
        sa.Column("project_id", sa.Integer(), nullable=False),
        sa.Column("fingerprint", sa.String(length=64), nullable=False),
        sa.Column("session_id", sa.BigInteger(), nullable=False),
        sa.Column("events", sa.BigInteger(), nullable=False),
        sa.ForeignKeyConstraint(
            ["project_id"],
            ["projects.id"],
            name=op.f("fk_error_group_sessions_project_id_projects"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint(
            "project_id", "fingerprint", "session_id", name=op.f("pk_error_group_sessions")
        ),
    )
    dialect = op.get_bind().dialect.name
    for statement in PG_TRIGGERS if dialect == "postgresql" else SQLITE_TRIGGERS:
        op.execute(statement)
    for statement in backfill(dialect):
        op.execute(statement)
    for table in ("error_group_totals", "error_group_buckets", "error_group_sessions"):
        op.execute(f"ANALYZE {table}")  # planner statistics now, not at the first autovacuum


def downgrade() -> None:
    for statement in PG_DROP if op.get_bind().dialect.name == "postgresql" else SQLITE_DROP:
        op.execute(statement)
    op.drop_table("error_group_sessions")
    op.drop_table("error_group_buckets")
    op.drop_index("ix_error_group_totals_rank", table_name="error_group_totals")
    op.drop_table("error_group_totals")
