"""error groups over a window: each group's sessions counted per session-start hour

Revision ID: 0014
Revises: 0013
Create Date: 2026-12-07 19:00:00.000000

Since 0013, the sessions of a group that started well inside a window are counted from
``error_group_sessions`` by a key range: one index entry per session, about 280,000 for a 7-day
page at 10M events (45-55 ms on PostgreSQL). ``error_group_session_hours`` holds how many sessions
of each group started in each UTC hour (the hour the session id encodes: ``session_id >> 22`` ms
since the ids' epoch, divided by 3,600,000). Whole hours are summed from it (168 rows a group for a
week) and only the partial hours at the range's ends are counted from ``error_group_sessions``.

It is kept where a row of ``error_group_sessions`` is added or dropped: a session's first event
of a group adds one to its hour, the removal of its last one subtracts one (a row that reaches
zero is deleted). On PostgreSQL in the rollup's statement triggers (a CTE over the membership
rows their upsert created or their delete removed); on SQLite by row triggers on
``error_group_sessions`` (an upsert fires the insert trigger for the rows it inserts only).
"""

from __future__ import annotations

import importlib

import sqlalchemy as sa
from alembic import op

revision = "0014"
down_revision = "0013"
branch_labels = None
depends_on = None

rollup = importlib.import_module("replaylink.store.migrations.versions.0008_error_group_rollup")
windows = importlib.import_module("replaylink.store.migrations.versions.0013_error_group_windows")

TABLE = "error_group_session_hours"
MS_PER_HOUR = 3_600_000
ID_SHIFT = 22  # replaylink.ids.RANDOM_BITS: a session id is (ms since the ids' epoch) << 22 | random
HOUR = f"(({{r}}session_id >> {ID_SHIFT}) / {MS_PER_HOUR})"  # integer division on both databases


# --------------------------------------------------------------------------- SQLite

_KEY = "project_id = old.project_id AND fingerprint = old.fingerprint AND start_hour = {hour}"
SQLITE_TRIGGERS = [
    # On the membership rows themselves: SQLite fires an insert trigger for the rows an upsert
    # inserts only, and the rollup's triggers insert and delete them (no probe of their own).
    f"CREATE TRIGGER error_group_session_hours_add AFTER INSERT ON error_group_sessions BEGIN "
    f"INSERT INTO {TABLE} (project_id, fingerprint, start_hour, sessions) "
    f"VALUES (new.project_id, new.fingerprint, {HOUR.format(r='new.')}, 1) "
    "ON CONFLICT (project_id, fingerprint, start_hour) DO UPDATE SET sessions = sessions + 1; END",
    f"CREATE TRIGGER error_group_session_hours_remove AFTER DELETE ON error_group_sessions BEGIN "
    f"UPDATE {TABLE} SET sessions = sessions - 1 WHERE {_KEY.format(hour=HOUR.format(r='old.'))}; "
    f"DELETE FROM {TABLE} WHERE {_KEY.format(hour=HOUR.format(r='old.'))} AND sessions = 0; END",
]
SQLITE_DROP = [
    "DROP TRIGGER error_group_session_hours_remove",
    "DROP TRIGGER error_group_session_hours_add",
]


# --------------------------------------------------------------------------- PostgreSQL

_PG_MEMBERS_RETURNING = "RETURNING m.project_id, m.fingerprint, (m.xmax = 0) AS created\n    ), "


def _pg_add_function() -> str:
    """0013's insert function; the sessions its membership upsert creates are added to their hours."""
    hours = (
        f"RETURNING m.project_id, m.fingerprint, m.session_id, (m.xmax = 0) AS created\n"
        f"    ), hours AS (\n"
        f"        INSERT INTO {TABLE} AS h (project_id, fingerprint, start_hour, sessions)\n"
        f"        SELECT project_id, fingerprint, {HOUR.format(r='')}, count(*) FROM members WHERE created\n"
        "        GROUP BY 1, 2, 3 ORDER BY 1, 2, 3\n"
        "        ON CONFLICT (project_id, fingerprint, start_hour)\n"
        "        DO UPDATE SET sessions = h.sessions + excluded.sessions\n"
        "    ), "
    )
    return windows.replace_each(windows._pg_add_function(), [(_PG_MEMBERS_RETURNING, hours)])


_SAME_HOUR = (
    "h.project_id = {o}.project_id AND h.fingerprint = {o}.fingerprint AND h.start_hour = {o}.start_hour"
)
_PG_GONE = "RETURNING m.project_id, m.fingerprint\n    ), "
_PG_AFTER_TOTALS_DELETE = "AND t.events = 0;\n"


def _pg_remove_function() -> str:
    """0008's delete function; the sessions whose membership row it drops leave their hours."""
    hours = (
        "RETURNING m.project_id, m.fingerprint, m.session_id\n"
        "    ), hours AS (\n"
        f"        UPDATE {TABLE} h SET sessions = h.sessions - g.n\n"
        f"        FROM (SELECT project_id, fingerprint, {HOUR.format(r='')} AS start_hour, count(*) AS n\n"
        "              FROM gone GROUP BY 1, 2, 3) g\n"
        f"        WHERE {_SAME_HOUR.format(o='g')}\n"
        "    ), "
    )
    emptied = (
        "AND t.events = 0;\n"
        f"    DELETE FROM {TABLE} h\n"
        f"    USING (SELECT DISTINCT project_id, fingerprint, {HOUR.format(r='')} AS start_hour\n"
        "           FROM old_rows) r\n"
        f"    WHERE {_SAME_HOUR.format(o='r')}\n"
        "      AND h.sessions = 0;\n"
    )
    function = rollup.PG_REMOVE.replace("CREATE FUNCTION", "CREATE OR REPLACE FUNCTION")
    return windows.replace_each(function, [(_PG_GONE, hours), (_PG_AFTER_TOTALS_DELETE, emptied)])


# --------------------------------------------------------------------------- both

BACKFILL = (
    f"INSERT INTO {TABLE} (project_id, fingerprint, start_hour, sessions) "
    f"SELECT project_id, fingerprint, {HOUR.format(r='')}, count(*) "
    "FROM error_group_sessions GROUP BY 1, 2, 3"
)


def upgrade() -> None:
    op.create_table(
        TABLE,
        sa.Column("project_id", sa.Integer(), nullable=False),
        sa.Column("fingerprint", sa.String(length=64), nullable=False),
        sa.Column("start_hour", sa.BigInteger(), nullable=False),
        sa.Column("sessions", sa.BigInteger(), nullable=False),
        sa.ForeignKeyConstraint(
            ["project_id"],
            ["projects.id"],
            name=op.f("fk_error_group_session_hours_project_id_projects"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint(
            "project_id", "fingerprint", "start_hour", name=op.f("pk_error_group_session_hours")
        ),
        sqlite_with_rowid=False,
    )
    # Triggers before the backfill: on PostgreSQL the trigger's creation locks out writers until
    # the migration commits, so no session is missed between the two.
    if op.get_bind().dialect.name == "postgresql":
        op.execute(_pg_add_function())
        op.execute(_pg_remove_function())
    else:
        for statement in SQLITE_TRIGGERS:
            op.execute(statement)
    op.execute(BACKFILL)
    op.execute(f"ANALYZE {TABLE}")


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute(windows._pg_add_function())
        op.execute(rollup.PG_REMOVE.replace("CREATE FUNCTION", "CREATE OR REPLACE FUNCTION"))
    else:
        for statement in SQLITE_DROP:
            op.execute(statement)
    op.drop_table(TABLE)
