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

The rollup's triggers keep it where they already add or drop a row of ``error_group_sessions``:
a session's first event of a group adds one to its hour, the removal of its last one subtracts
one (a row that reaches zero is deleted). No other statement per event on PostgreSQL (a CTE of the
statement trigger's); on SQLite one more insert per event, guarded by the membership probe the
totals upsert already makes.
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


def _replace(text: str, changes: list[tuple[str, str]]) -> str:
    for old, new in changes:
        assert text.count(old) == 1, old
        text = text.replace(old, new)
    return text


# --------------------------------------------------------------------------- SQLite

_MEMBER = (
    "SELECT 1 FROM error_group_sessions WHERE project_id = {r}.project_id "
    "AND fingerprint = {r}.fingerprint AND session_id = {r}.session_id"
)
_SQLITE_SESSIONS_UPSERT = "INSERT INTO error_group_sessions (project_id, fingerprint, session_id, events) "
_SQLITE_SESSIONS_DELETE = (
    "DELETE FROM error_group_sessions WHERE project_id = old.project_id AND fingerprint = old.fingerprint "
    "AND session_id = old.session_id AND events = 0; "
)


def _sqlite_insert_trigger() -> str:
    """0013's insert trigger, adding the session to its hour before its membership row exists."""
    hour = HOUR.format(r="new.")
    add = (
        f"INSERT INTO {TABLE} (project_id, fingerprint, start_hour, sessions) "
        f"SELECT new.project_id, new.fingerprint, {hour}, 1 WHERE NOT EXISTS ({_MEMBER.format(r='new')}) "
        "ON CONFLICT (project_id, fingerprint, start_hour) DO UPDATE SET sessions = sessions + 1; "
    )
    trigger = windows._sqlite_insert_trigger()
    return _replace(trigger, [(_SQLITE_SESSIONS_UPSERT, add + _SQLITE_SESSIONS_UPSERT)])


def _sqlite_delete_trigger() -> str:
    """0008's delete trigger, taking the session from its hour once its membership row is gone."""
    group = "project_id = old.project_id AND fingerprint = old.fingerprint"
    key = f"{group} AND start_hour = {HOUR.format(r='old.')}"
    remove = (
        f"UPDATE {TABLE} SET sessions = sessions - 1 WHERE {key} AND NOT EXISTS ({_MEMBER.format(r='old')}); "
        f"DELETE FROM {TABLE} WHERE {key} AND sessions = 0; "
    )
    return _replace(rollup.SQLITE_TRIGGERS[1], [(_SQLITE_SESSIONS_DELETE, _SQLITE_SESSIONS_DELETE + remove)])


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
    return _replace(windows._pg_add_function(), [(_PG_MEMBERS_RETURNING, hours)])


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
    return _replace(function, [(_PG_GONE, hours), (_PG_AFTER_TOTALS_DELETE, emptied)])


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
        op.execute("DROP TRIGGER error_group_rollup_insert")
        op.execute(_sqlite_insert_trigger())
        op.execute("DROP TRIGGER error_group_rollup_delete")
        op.execute(_sqlite_delete_trigger())
    op.execute(BACKFILL)
    op.execute(f"ANALYZE {TABLE}")


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute(windows._pg_add_function())
        op.execute(rollup.PG_REMOVE.replace("CREATE FUNCTION", "CREATE OR REPLACE FUNCTION"))
    else:
        op.execute("DROP TRIGGER error_group_rollup_insert")
        op.execute(windows._sqlite_insert_trigger())
        op.execute("DROP TRIGGER error_group_rollup_delete")
        op.execute(rollup.SQLITE_TRIGGERS[1])
    op.drop_table(TABLE)
