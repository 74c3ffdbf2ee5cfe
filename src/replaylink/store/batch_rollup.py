"""The error-group rollup and per-session counts of one batch of inserted events, on SQLite.

SQLite has only row-level triggers: migrations 0008 and 0010 keep ``error_group_totals``,
``error_group_sessions``, ``error_group_buckets`` and ``session_event_counts`` with five upserts
and a lookup per inserted event, a fifth of the importer's time per record. The importer's batch
insert (``store.events.insert_events``) rolls its batch up in grouped statements instead:

1. inside a savepoint, it marks the batch with a row of ``rollup_deferrals`` holding the largest
   event id stored so far (migration 0012 makes the two insert triggers skip while a row is there);
2. inserts the events (new rows get larger ids: SQLite has one writer at a time);
3. adds the rows above that id to each table with one grouped ``INSERT ... ON CONFLICT DO UPDATE``,
   exactly as the triggers would have, and removes the mark.

Every other insert path (tests, the sqlite3 shell, a later tool) still goes through the row
triggers, deletes always do, and a failure rolls the savepoint back: neither events nor counts
are left behind. PostgreSQL's triggers already work per statement (transition tables).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from sqlalchemy.orm import Session

DEFERRALS = "rollup_deferrals"
"""The marker table of migration 0012 (SQLite only; not a model, like the FTS5 table)."""

_BATCH = f"backend_events NOT INDEXED WHERE id > (SELECT after_id FROM {DEFERRALS})"
"""The batch's rows: a range of ids (``NOT INDEXED``: no index scan in the order of a ``GROUP BY``)."""
_HOUR = "substr(timestamp, 1, 13) || ':00:00.000000'"
_DAY = "substr(timestamp, 1, 10) || ' 00:00:00.000000'"
_SEEN = "first_seen = min(first_seen, excluded.first_seen), last_seen = max(last_seen, excluded.last_seen)"

ROLLUP = [
    # Totals first: a session is new to a group when it has no membership row yet.
    f"""WITH added AS (
        SELECT project_id, fingerprint, count(*) AS events, min(timestamp) AS first_seen,
               max(timestamp) AS last_seen
        FROM {_BATCH} GROUP BY project_id, fingerprint
    ), fresh AS (
        SELECT project_id, fingerprint, count(*) AS sessions
        FROM (SELECT DISTINCT project_id, fingerprint, session_id FROM {_BATCH}) AS b
        WHERE NOT EXISTS (SELECT 1 FROM error_group_sessions AS m WHERE m.project_id = b.project_id
                          AND m.fingerprint = b.fingerprint AND m.session_id = b.session_id)
        GROUP BY project_id, fingerprint
    )
    INSERT INTO error_group_totals (project_id, fingerprint, events, sessions, first_seen, last_seen)
    SELECT a.project_id, a.fingerprint, a.events, coalesce(f.sessions, 0), a.first_seen, a.last_seen
    FROM added AS a LEFT JOIN fresh AS f ON f.project_id = a.project_id AND f.fingerprint = a.fingerprint
    WHERE true
    ON CONFLICT (project_id, fingerprint) DO UPDATE SET events = events + excluded.events,
        sessions = sessions + excluded.sessions, {_SEEN}""",
    "INSERT INTO error_group_sessions (project_id, fingerprint, session_id, events) "
    f"SELECT project_id, fingerprint, session_id, count(*) FROM {_BATCH} "
    "GROUP BY project_id, fingerprint, session_id "
    "ON CONFLICT (project_id, fingerprint, session_id) DO UPDATE SET events = events + excluded.events",
    *(
        "INSERT INTO error_group_buckets (project_id, period, start, fingerprint, events, first_seen, "
        f"last_seen) SELECT project_id, '{period}', {start}, fingerprint, count(*), min(timestamp), "
        f"max(timestamp) FROM {_BATCH} GROUP BY project_id, {start}, fingerprint "
        "ON CONFLICT (project_id, period, start, fingerprint) DO UPDATE SET "
        f"events = events + excluded.events, {_SEEN}"
        for period, start in (("h", _HOUR), ("d", _DAY))
    ),
    "INSERT INTO session_event_counts (session_id, provider, events) "
    f"SELECT session_id, provider, count(*) FROM {_BATCH} GROUP BY session_id, provider "
    "ON CONFLICT (session_id, provider) DO UPDATE SET events = events + excluded.events",
]
_MARK = f"INSERT INTO {DEFERRALS} (after_id) SELECT coalesce(max(id), 0) FROM backend_events"
_UNMARK = f"DELETE FROM {DEFERRALS}"


@contextmanager
def rolled_up_per_batch(db: Session) -> Iterator[None]:
    """Events inserted inside this block (on SQLite, through ``db``) are rolled up in grouped
    statements when it ends, not by the row triggers; an error rolls back the block's inserts."""
    with db.begin_nested():
        connection = db.connection()
        connection.exec_driver_sql(_MARK)
        yield
        for statement in ROLLUP:
            connection.exec_driver_sql(statement)
        connection.exec_driver_sql(_UNMARK)
