"""The batch index on PostgreSQL: two autocommit statements per batch, no transaction round trips.

:func:`session_state` reads what a batch is checked against before its blob is written;
:func:`add_segment` indexes the written blob in one statement: it locks the session row, inserts
the segment (nothing on a repeated (session, tab, seq) or past the byte cap), bumps the session's
counters and inserts the devtools events, so the row commits after its blob, atomically, in one
round trip. They run on psycopg's connection directly (SQLAlchemy's statement layer was half of the
CPU of the two statements), and psycopg prepares them on the server after a few uses. SQLite keeps
:mod:`replaylink.replay.index` (it has no data-modifying CTEs).
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

from psycopg import Connection

from replaylink.replay.batch import Batch
from replaylink.replay.index import Added, SessionState, StoredBlob, charged, from_ms

_STATE = """
    SELECT s.project_id, s.started_at, s.replay_bytes, p.allowed_origins,
           EXISTS (
               SELECT 1 FROM replay_segments r
               WHERE r.session_id = s.id AND r.tab = %(tab)s AND r.seq = %(seq)s
           ) AS stored
    FROM sessions s JOIN projects p ON p.id = s.project_id
    WHERE s.id = %(session_id)s
"""

# Data-modifying CTEs all run, in one snapshot; FOR UPDATE makes ``locked`` the newest version of
# the session row (a concurrent batch of the session waits for it), so the cap check is exact and
# a concurrent duplicate is seen by ON CONFLICT. LEAST / GREATEST ignore NULLs.
_ADD = """
    WITH locked AS (
        SELECT id, replay_bytes FROM sessions WHERE id = %(session_id)s FOR UPDATE
    ), segment AS (
        INSERT INTO replay_segments (
            project_id, session_id, tab, seq, first_ms, last_ms, bytes, raw_bytes, events,
            has_full_snapshot, key, digest, created_at
        )
        SELECT %(project_id)s, locked.id, %(tab)s, %(seq)s, %(first_ms)s, %(last_ms)s, %(size)s,
               %(raw_size)s, %(events)s, %(has_full_snapshot)s, %(key)s, %(digest)s, %(now)s
        FROM locked WHERE locked.replay_bytes + %(charged)s <= %(max_session_bytes)s
        ON CONFLICT (session_id, tab, seq) DO NOTHING
        RETURNING id
    ), counted AS (
        UPDATE sessions s SET
            replay_bytes = s.replay_bytes + %(charged)s,
            replay_segments = s.replay_segments + 1,
            pages_visited = s.pages_visited + %(pages)s,
            clicks = s.clicks + %(clicks)s,
            js_errors = s.js_errors + %(js_errors)s,
            failed_requests = s.failed_requests + %(failed_requests)s,
            recording_started_at = LEAST(s.recording_started_at, %(first_at)s),
            recording_ended_at = GREATEST(s.recording_ended_at, %(last_at)s),
            last_activity_at = GREATEST(s.last_activity_at, %(now)s),
            last_seen_at = GREATEST(s.last_seen_at, %(now)s)
        FROM segment WHERE s.id = %(session_id)s
        RETURNING s.id
    ), devtools AS (
        INSERT INTO devtools_events (
            session_id, tab, seq, kind, ts_ms, level, name, message, url, status, duration_ms,
            failed, data
        )
        SELECT %(session_id)s, %(tab)s, %(seq)s, d.kind, d.ts_ms, d.level, d.name, d.message, d.url,
               d.status, d.duration_ms, coalesce(d.failed, false), d.data
        FROM segment, jsonb_to_recordset(CAST(%(devtools)s AS jsonb)) AS d(
            kind text, ts_ms bigint, level text, name text, message text, url text, status integer,
            duration_ms double precision, failed boolean, data jsonb
        )
    )
    SELECT (SELECT count(*) FROM locked) AS found, (SELECT count(*) FROM segment) AS stored
"""


def session_state(connection: Connection[Any], session_id: int, tab: str, seq: int) -> SessionState | None:
    """The session, its project's origins and whether this (tab, seq) is stored: one statement."""
    row = connection.execute(_STATE, {"session_id": session_id, "tab": tab, "seq": seq}).fetchone()
    if row is None:
        return None
    project_id, started_at, replay_bytes, allowed_origins, stored = row
    return SessionState(
        session_id=session_id,
        project_id=project_id,
        started_at=started_at,
        replay_bytes=replay_bytes,
        allowed_origins=allowed_origins,
        segment_exists=bool(stored),
    )


def add_segment(
    connection: Connection[Any],
    state: SessionState,
    batch: Batch,
    blob: StoredBlob,
    *,
    now: datetime,
    max_session_bytes: int,
) -> Added | None:
    """Index a stored blob in one autocommit statement; None when the session is gone."""
    assert batch.first_ms is not None and batch.last_ms is not None
    params: dict[str, Any] = {
        "session_id": state.session_id,
        "project_id": state.project_id,
        "tab": batch.tab,
        "seq": batch.seq,
        "first_ms": batch.first_ms,
        "last_ms": batch.last_ms,
        "size": blob.size,
        "charged": charged(blob.size, batch),
        "raw_size": blob.raw_size,
        "events": batch.events,
        "has_full_snapshot": batch.has_full_snapshot,
        "key": blob.key,
        "digest": blob.digest,
        "now": now,
        "max_session_bytes": max_session_bytes,
        "pages": batch.pages,
        "clicks": batch.clicks,
        "js_errors": batch.js_errors,
        "failed_requests": batch.failed_requests,
        "first_at": from_ms(batch.first_ms),
        "last_at": from_ms(batch.last_ms),
        "devtools": json.dumps(batch.devtools, ensure_ascii=False),
    }
    row = connection.execute(_ADD, params).fetchone()
    assert row is not None
    found, stored = row
    if not found:
        return None
    if stored:
        return Added.STORED
    # Not inserted: a repeated (session, tab, seq), or over the cap (checked again so a batch
    # both stored and over the cap now reads as the duplicate it is).
    now_state = session_state(connection, state.session_id, batch.tab, batch.seq)
    return Added.DUPLICATE if now_state is not None and now_state.segment_exists else Added.OVER_CAP
