"""error groups over a window: each session's first and last event of each group

Revision ID: 0016
Revises: 0015
Create Date: 2026-12-07 19:20:00.000000

Sessions that started within the events' offset span of a window's edge (0013) were counted from
their events near that edge: about two hours of the group's events at each edge (hundreds to
thousands of index entries a group). ``error_group_sessions`` now keeps the first and last event
time of the group in the session. A window at least as long as that span cannot fall between two
events of one session, so such a session has an event in the window exactly when its last is at
or after the start and its first before the end: one row a session instead of its events.

The rollup's triggers keep them exact: an insert widens them (in the membership upsert they
already make); a delete that removed the first or last event of a session's group recomputes
both from the session's events (``ix_backend_events_session``: the session's events in time
order), where the membership row remains. The columns are nullable (SQLite adds a ``NOT NULL``
column with a default only) and filled by the upgrade; the triggers set them on every row.

On SQLite the table is copied into a ``WITHOUT ROWID`` one, its rows filled on the way: a range
of the key then reads first and last seen with it (a rowid table's key is an index, one more
lookup a row). The triggers that name it are dropped for the copy and created again (0013's
``copy_table``).
"""

from __future__ import annotations

import importlib

import sqlalchemy as sa
from alembic import op

import replaylink.store.types

revision = "0016"
down_revision = "0015"
branch_labels = None
depends_on = None

rollup = importlib.import_module("replaylink.store.migrations.versions.0008_error_group_rollup")
windows = importlib.import_module("replaylink.store.migrations.versions.0013_error_group_windows")
hours = importlib.import_module("replaylink.store.migrations.versions.0014_error_group_session_hours")

COLUMNS = ("first_seen", "last_seen")


def _seen_from_events(of: str) -> str:
    """SET clause: a membership row's first and last seen from its session's events (``of``: what
    names the row's key columns), each the end of an ordered range of the session index."""
    events = (
        f"FROM backend_events e WHERE e.session_id = {of}.session_id "
        f"AND e.project_id = {of}.project_id AND e.fingerprint = {of}.fingerprint"
    )
    return f"first_seen = (SELECT min(e.timestamp) {events}), last_seen = (SELECT max(e.timestamp) {events})"


# --------------------------------------------------------------------------- SQLite

_SQLITE_UPSERT = (
    "INSERT INTO error_group_sessions (project_id, fingerprint, session_id, events) "
    "VALUES (new.project_id, new.fingerprint, new.session_id, 1) "
    "ON CONFLICT (project_id, fingerprint, session_id) DO UPDATE SET events = events + 1"
)
_SQLITE_UPSERT_SEEN = (
    "INSERT INTO error_group_sessions (project_id, fingerprint, session_id, events, first_seen, last_seen) "
    "VALUES (new.project_id, new.fingerprint, new.session_id, 1, new.timestamp, new.timestamp) "
    "ON CONFLICT (project_id, fingerprint, session_id) DO UPDATE SET events = events + 1, "
    "first_seen = min(first_seen, excluded.first_seen), last_seen = max(last_seen, excluded.last_seen)"
)
_SQLITE_MEMBER_DELETE = (
    "DELETE FROM error_group_sessions WHERE project_id = old.project_id AND fingerprint = old.fingerprint "
    "AND session_id = old.session_id AND events = 0; "
)


def _sqlite_insert_trigger() -> str:
    return windows.replace_each(windows._sqlite_insert_trigger(), [(_SQLITE_UPSERT, _SQLITE_UPSERT_SEEN)])


def _sqlite_delete_trigger() -> str:
    recompute = (  # no alias of the updated table in a trigger on SQLite: the old row names the key
        f"UPDATE error_group_sessions SET {_seen_from_events('old')} WHERE project_id = old.project_id "
        "AND fingerprint = old.fingerprint AND session_id = old.session_id "
        "AND (first_seen = old.timestamp OR last_seen = old.timestamp); "
    )
    trigger = rollup.SQLITE_TRIGGERS[1]
    return windows.replace_each(trigger, [(_SQLITE_MEMBER_DELETE, _SQLITE_MEMBER_DELETE + recompute)])


# --------------------------------------------------------------------------- PostgreSQL

_PG_UPSERT = [
    (
        "(project_id, fingerprint, session_id, events)\n"
        "        SELECT project_id, fingerprint, session_id, count(*) FROM new_rows\n",
        "(project_id, fingerprint, session_id, events, first_seen, last_seen)\n"
        "        SELECT project_id, fingerprint, session_id, count(*), min(timestamp), max(timestamp)\n"
        "        FROM new_rows\n",
    ),
    (
        "DO UPDATE SET events = m.events + excluded.events\n",
        "DO UPDATE SET events = m.events + excluded.events,\n"
        "            first_seen = least(m.first_seen, excluded.first_seen),\n"
        "            last_seen = greatest(m.last_seen, excluded.last_seen)\n",
    ),
]
_PG_TOTALS_DELETE = "AND t.events = 0;\n"


def _pg_add_function() -> str:
    return windows.replace_each(hours._pg_add_function(), _PG_UPSERT)


def _pg_remove_function() -> str:
    member = (
        "FROM (SELECT project_id, fingerprint, session_id, min(timestamp) AS lo, max(timestamp) AS hi\n"
        "          FROM old_rows GROUP BY 1, 2, 3) r\n"
        "    WHERE m.project_id = r.project_id AND m.fingerprint = r.fingerprint\n"
        "      AND m.session_id = r.session_id\n"
        "      AND (r.lo <= m.first_seen OR r.hi >= m.last_seen)"
    )
    update = f"UPDATE error_group_sessions AS m SET {_seen_from_events('m')}"
    recompute = f"AND t.events = 0;\n    {update}\n    {member};\n"
    return windows.replace_each(hours._pg_remove_function(), [(_PG_TOTALS_DELETE, recompute)])


# --------------------------------------------------------------------------- both

# The upgrade fills them from one aggregate over the events (the group index), joined to the
# memberships: 53 s at 10M events on PostgreSQL, 2-3 s at 1M on SQLite (a correlated pair of
# probes per row took 30 s there).
SEEN = (
    "SELECT project_id, fingerprint, session_id, min(timestamp) AS lo, max(timestamp) AS hi "
    "FROM backend_events GROUP BY 1, 2, 3"
)
SAME_MEMBER = "m.project_id = s.project_id AND m.fingerprint = s.fingerprint AND m.session_id = s.session_id"
PG_BACKFILL = (
    "UPDATE error_group_sessions AS m SET first_seen = s.lo, last_seen = s.hi "
    f"FROM ({SEEN}) s WHERE {SAME_MEMBER}"
)

TABLE = "error_group_sessions"
_SQLITE_COLUMNS = (
    "project_id INTEGER NOT NULL, fingerprint VARCHAR(64) NOT NULL, session_id BIGINT NOT NULL, "
    "events BIGINT NOT NULL, {seen}"
    "CONSTRAINT pk_error_group_sessions PRIMARY KEY (project_id, fingerprint, session_id), "
    "CONSTRAINT fk_error_group_sessions_project_id_projects FOREIGN KEY(project_id) "
    "REFERENCES projects (id) ON DELETE CASCADE"
)
ROLLUP_TRIGGERS = ("error_group_rollup_insert", "error_group_rollup_delete")


def upgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        for column in COLUMNS:
            op.add_column(TABLE, sa.Column(column, replaylink.store.types.UTCDateTime(), nullable=True))
        op.execute(_pg_add_function())
        op.execute(_pg_remove_function())
        op.execute(PG_BACKFILL)
        return
    # SQLite: WITHOUT ROWID, so that a range of the key reads first and last seen with it (a rowid
    # table's key is an index: one more lookup a row), filled in the copy.
    windows.copy_table(
        TABLE,
        f"({_SQLITE_COLUMNS.format(seen='first_seen DATETIME, last_seen DATETIME, ')}) WITHOUT ROWID",
        f"SELECT m.project_id, m.fingerprint, m.session_id, m.events, s.lo, s.hi FROM {TABLE} m "
        f"JOIN ({SEEN}) s ON {SAME_MEMBER} ORDER BY 1, 2, 3",
        dict(zip(ROLLUP_TRIGGERS, [_sqlite_insert_trigger(), _sqlite_delete_trigger()], strict=True)),
    )


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute(hours._pg_add_function())
        op.execute(hours._pg_remove_function())
        for column in reversed(COLUMNS):
            op.execute(f"ALTER TABLE {TABLE} DROP COLUMN {column}")
        return
    windows.copy_table(
        TABLE,
        f"({_SQLITE_COLUMNS.format(seen='')})",
        f"SELECT project_id, fingerprint, session_id, events FROM {TABLE} ORDER BY 1, 2, 3",
        dict(
            zip(ROLLUP_TRIGGERS, [windows._sqlite_insert_trigger(), rollup.SQLITE_TRIGGERS[1]], strict=True)
        ),
    )
