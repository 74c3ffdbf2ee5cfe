"""The segment index: one row per stored batch, the devtools events, the session's counters."""

from __future__ import annotations

import enum
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import ColumnElement, Row, case, insert, or_, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from replaylink.replay.batch import Batch
from replaylink.store.models import DevtoolsEvent, Project, RecordedSession, ReplaySegment

TIMELINE_KINDS = ("page", "error", "console", "network", "custom")


class Added(enum.Enum):
    STORED = "stored"
    DUPLICATE = "duplicate"
    OVER_CAP = "over_cap"


@dataclass(frozen=True)
class StoredBlob:
    """The blob a segment row points at: where it is, its size as stored (the client's gzip) and
    decompressed, and its SHA-256."""

    key: str
    size: int
    raw_size: int
    digest: str


@dataclass(frozen=True)
class SessionState:
    """What a batch is checked against, read before its blob is written."""

    session_id: int
    project_id: int
    started_at: datetime
    replay_bytes: int
    allowed_origins: list[str] | None
    segment_exists: bool


def from_ms(ms: int) -> datetime:
    return datetime.fromtimestamp(ms / 1000, UTC)


def session_state(db: Session, session_id: int, tab: str, seq: int) -> SessionState | None:
    """One statement (the hottest read of ingest): the session, its project's origins, and
    whether this (tab, seq) is already stored."""
    s = RecordedSession
    stored = (
        select(ReplaySegment.id)
        .where(ReplaySegment.session_id == s.id, ReplaySegment.tab == tab, ReplaySegment.seq == seq)
        .exists()
    )
    row = (
        db.connection()
        .execute(
            select(
                s.project_id, s.started_at, s.replay_bytes, Project.allowed_origins, stored.label("stored")
            )
            .join(Project, Project.id == s.project_id)
            .where(s.id == session_id)
        )
        .one_or_none()
    )
    if row is None:
        return None
    return SessionState(
        session_id=session_id,
        project_id=row.project_id,
        started_at=row.started_at,
        replay_bytes=row.replay_bytes,
        allowed_origins=row.allowed_origins,
        segment_exists=bool(row.stored),
    )


def _earliest(column: Any, value: datetime) -> ColumnElement[datetime]:
    return case((or_(column.is_(None), column > value), value), else_=column)


def _latest(column: Any, value: datetime) -> ColumnElement[datetime]:
    return case((or_(column.is_(None), column < value), value), else_=column)


def charged(blob_size: int, batch: Batch) -> int:
    """What a batch adds to its session's ``replay_bytes`` (the byte cap): its blob's bytes and
    the devtools text it indexes."""
    return blob_size + batch.devtools_chars


def add_segment(
    db: Session,
    state: SessionState,
    batch: Batch,
    blob: StoredBlob,
    *,
    now: datetime,
    max_session_bytes: int,
) -> Added:
    """Index a stored blob: its row, its devtools events, the session's counters, in the caller's
    transaction. A repeated (session, tab, seq) changes nothing; so does a batch over the session's
    byte cap (the caller rolls back on ``OVER_CAP``)."""
    assert batch.first_ms is not None and batch.last_ms is not None
    values = {
        "project_id": state.project_id,
        "session_id": state.session_id,
        "tab": batch.tab,
        "seq": batch.seq,
        "first_ms": batch.first_ms,
        "last_ms": batch.last_ms,
        "bytes": blob.size,
        "raw_bytes": blob.raw_size,
        "events": batch.events,
        "has_full_snapshot": batch.has_full_snapshot,
        "key": blob.key,
        "digest": blob.digest,
        "created_at": now,
    }
    dialect = postgresql if db.get_bind().dialect.name == "postgresql" else sqlite
    statement = (
        dialect.insert(ReplaySegment)
        .values(values)
        .on_conflict_do_nothing(index_elements=["session_id", "tab", "seq"])
        .returning(ReplaySegment.id)
    )
    connection = db.connection()  # Core statements: none of the ORM's bookkeeping on this hot path
    if connection.execute(statement).scalar() is None:
        return Added.DUPLICATE
    s = RecordedSession
    counted = connection.execute(
        update(s)
        .where(s.id == state.session_id, s.replay_bytes + charged(blob.size, batch) <= max_session_bytes)
        .values(
            replay_bytes=s.replay_bytes + charged(blob.size, batch),
            replay_segments=s.replay_segments + 1,
            pages_visited=s.pages_visited + batch.pages,
            clicks=s.clicks + batch.clicks,
            js_errors=s.js_errors + batch.js_errors,
            failed_requests=s.failed_requests + batch.failed_requests,
            recording_started_at=_earliest(s.recording_started_at, from_ms(batch.first_ms)),
            recording_ended_at=_latest(s.recording_ended_at, from_ms(batch.last_ms)),
            last_activity_at=_latest(s.last_activity_at, now),
            last_seen_at=_latest(s.last_seen_at, now),
        )
    )
    if not getattr(counted, "rowcount", 0):
        return Added.OVER_CAP
    if batch.devtools:
        common = {"session_id": state.session_id, "tab": batch.tab, "seq": batch.seq}
        connection.execute(insert(DevtoolsEvent), [{**common, **row} for row in batch.devtools])
    return Added.STORED


def segments(db: Session, session_id: int) -> Sequence[Row[str, int, int, int, int, int, bool]]:
    """The session's segments in playback order (by tab, then sequence number): the columns a
    manifest lists, as rows (a 30-minute session has hundreds; ORM objects cost 10x)."""
    r = ReplaySegment
    query = select(r.tab, r.seq, r.first_ms, r.last_ms, r.bytes, r.events, r.has_full_snapshot)
    return db.execute(query.where(r.session_id == session_id).order_by(r.tab, r.seq)).all()


def segment(db: Session, session_id: int, tab: str, seq: int) -> ReplaySegment | None:
    query = select(ReplaySegment).where(
        ReplaySegment.session_id == session_id, ReplaySegment.tab == tab, ReplaySegment.seq == seq
    )
    return db.scalars(query).one_or_none()


def marked_events(db: Session, session_id: int, limit: int) -> Sequence[DevtoolsEvent]:
    """What a player marks, in time order: pages, JS errors, console errors, failed requests,
    custom events (successful requests and console warnings are left out)."""
    d = DevtoolsEvent
    query = select(d).where(
        d.session_id == session_id,
        or_(
            d.kind.in_(("page", "error", "custom")),
            (d.kind == "network") & d.failed,
            (d.kind == "console") & (d.level == "error"),
        ),
    )
    return db.scalars(query.order_by(d.ts_ms, d.id).limit(limit)).all()


def session_keys(db: Session, session_ids: Sequence[int]) -> list[str]:
    """The blob keys of these sessions' segments."""
    if not session_ids:
        return []
    query = select(ReplaySegment.key).where(ReplaySegment.session_id.in_(session_ids))
    return list(db.scalars(query))


def indexed_keys(db: Session, keys: Sequence[str]) -> set[str]:
    """Which of ``keys`` have a segment row."""
    if not keys:
        return set()
    return set(db.scalars(select(ReplaySegment.key).where(ReplaySegment.key.in_(keys))))
