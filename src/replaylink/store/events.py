"""Backend events: idempotent batch insert, and the session windows correlation needs."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from sqlalchemy import select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from replaylink.importer.correlate import SessionWindow
from replaylink.store.models import BackendEvent, RecordedSession

BATCH = 500


def insert_events(db: Session, rows: Sequence[dict[str, Any]]) -> int:
    """Insert rows, skipping any already stored (same integration, record id and session).

    Returns how many were new. One cached statement run as an executemany: SQLAlchemy batches it
    into multi-row ``INSERT ... VALUES`` ("insertmanyvalues") without compiling per call.
    """
    if not rows:
        return 0
    dialect = db.get_bind().dialect.name
    insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
    statement = (
        insert(BackendEvent.__table__)
        .on_conflict_do_nothing(index_elements=["integration_id", "provider_record_id", "session_id"])
        .returning(BackendEvent.__table__.c.id)
    )
    inserted = 0
    for start in range(0, len(rows), BATCH):
        inserted += len(db.execute(statement, list(rows[start : start + BATCH])).all())
    return inserted


def session_windows(db: Session, session_ids: Iterable[int]) -> dict[int, SessionWindow]:
    ids = list(set(session_ids))
    found: dict[int, SessionWindow] = {}
    for start in range(0, len(ids), 1000):
        query = select(
            RecordedSession.id,
            RecordedSession.project_id,
            RecordedSession.started_at,
            RecordedSession.token_expires_at,
        ).where(RecordedSession.id.in_(ids[start : start + 1000]))
        for sid, project_id, started_at, ends_at in db.execute(query):
            found[sid] = SessionWindow(project_id, started_at, ends_at)
    return found
