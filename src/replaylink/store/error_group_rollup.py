"""Error groups read from the rollup of migration 0008 instead of from every event.

All time: ``error_group_totals``. A window ``[start, end)`` is cut into whole UTC days (day
buckets), whole hours at its edges (hour buckets) and at most two partial hours (read from the
events), so a request reads at most a day bucket per group and day, 46 hour buckets per group and
two hours of events, whatever the window. Distinct sessions do not add up across buckets: for the
groups of the page they come from the totals when the window holds every event of the group, and
otherwise from the group's events in the window (one ``IN`` over the covering index
``ix_backend_events_groups``).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import ColumnElement, Select, and_, func, or_, select, union_all
from sqlalchemy.orm import Session

from replaylink.store.models import BackendEvent, ErrorGroupBucket, ErrorGroupTotal

HOUR = timedelta(hours=1)
DAY = timedelta(days=1)


@dataclass(frozen=True)
class Piece:
    """A part of a window: whole buckets of ``period`` ('d', 'h') starting in ``[lo, hi)``, or
    events (``period`` 'e') timed in ``[lo, hi)``; ``None`` is unbounded."""

    period: str
    lo: datetime | None
    hi: datetime | None


@dataclass
class Aggregate:
    fingerprint: str
    count: int
    sessions: int
    first_seen: datetime
    last_seen: datetime


def _floor(t: datetime, width: timedelta) -> datetime:
    t = t.astimezone(UTC)
    if width == DAY:
        return t.replace(hour=0, minute=0, second=0, microsecond=0)
    return t.replace(minute=0, second=0, microsecond=0)


def _ceil(t: datetime, width: timedelta) -> datetime:
    floor = _floor(t, width)
    return floor if floor == t else floor + width


def pieces(start: datetime | None, end: datetime | None) -> list[Piece]:
    """``[start, end)`` as day buckets, hour buckets and events, in that order of preference."""
    if start is not None and end is not None and end <= start:
        return []
    days_lo = _ceil(start, DAY) if start is not None else None
    days_hi = _floor(end, DAY) if end is not None else None
    if days_lo is not None and days_hi is not None and days_lo >= days_hi:  # no whole day inside
        assert start is not None and end is not None
        hours_lo, hours_hi = _ceil(start, HOUR), _floor(end, HOUR)
        if hours_lo >= hours_hi:
            return [Piece("e", start, end)]
        return _nonempty(
            [Piece("e", start, hours_lo), Piece("h", hours_lo, hours_hi), Piece("e", hours_hi, end)]
        )
    out = [Piece("d", days_lo, days_hi)]
    if start is not None:
        assert days_lo is not None
        out += [Piece("h", _ceil(start, HOUR), days_lo), Piece("e", start, _ceil(start, HOUR))]
    if end is not None:
        assert days_hi is not None
        out += [Piece("h", days_hi, _floor(end, HOUR)), Piece("e", _floor(end, HOUR), end)]
    return _nonempty(out)


def _nonempty(items: list[Piece]) -> list[Piece]:
    return [p for p in items if p.lo is None or p.hi is None or p.lo < p.hi]


def _piece_query(project_id: int, piece: Piece) -> Select[str, int, datetime, datetime]:
    if piece.period == "e":
        e = BackendEvent
        conditions: list[ColumnElement[bool]] = [e.project_id == project_id]
        if piece.lo is not None:
            conditions.append(e.timestamp >= piece.lo)
        if piece.hi is not None:
            conditions.append(e.timestamp < piece.hi)
        return (
            select(e.fingerprint, func.count(), func.min(e.timestamp), func.max(e.timestamp))
            .where(*conditions)
            .group_by(e.fingerprint)
        )
    b = ErrorGroupBucket
    conditions = [b.project_id == project_id, b.period == piece.period]
    if piece.lo is not None:
        conditions.append(b.start >= piece.lo)
    if piece.hi is not None:
        conditions.append(b.start < piece.hi)
    return select(b.fingerprint, b.events, b.first_seen, b.last_seen).where(*conditions)


def _after(
    count: ColumnElement[int] | Any, fingerprint: ColumnElement[str] | Any, cursor: tuple[int, str]
) -> ColumnElement[bool]:
    last_count, last_fingerprint = cursor
    return or_(count < last_count, and_(count == last_count, fingerprint > last_fingerprint))


def all_time(db: Session, project_id: int, *, limit: int, cursor: tuple[int, str] | None) -> list[Aggregate]:
    """Up to ``limit`` groups over every stored event, most frequent first, after ``cursor``."""
    t = ErrorGroupTotal
    query = select(t.fingerprint, t.events, t.sessions, t.first_seen, t.last_seen).where(
        t.project_id == project_id
    )
    if cursor is not None:
        query = query.where(_after(t.events, t.fingerprint, cursor))
    rows = db.execute(query.order_by(t.events.desc(), t.fingerprint).limit(limit)).all()
    return [Aggregate(*row) for row in rows]


def window(
    db: Session,
    project_id: int,
    start: datetime | None,
    end: datetime | None,
    *,
    limit: int,
    cursor: tuple[int, str] | None,
) -> list[Aggregate]:
    """Up to ``limit`` groups with events in ``[start, end)``, most frequent first, after ``cursor``."""
    parts = pieces(start, end)
    if not parts:
        return []
    queries = [_piece_query(project_id, p) for p in parts]
    union = (union_all(*queries) if len(queries) > 1 else queries[0]).subquery()
    fingerprint, events, first, last = union.c
    count = func.sum(events).label("n")
    query = select(fingerprint, count, func.min(first), func.max(last)).group_by(fingerprint)
    if cursor is not None:
        query = query.having(_after(func.sum(events), fingerprint, cursor))
    rows = db.execute(query.order_by(count.desc(), fingerprint).limit(limit)).all()
    groups = [Aggregate(fp, int(n), 0, lo, hi) for fp, n, lo, hi in rows]
    _count_sessions(db, project_id, groups, start, end)
    return groups


def _count_sessions(
    db: Session, project_id: int, groups: list[Aggregate], start: datetime | None, end: datetime | None
) -> None:
    """Distinct sessions of each group in the window: the totals' when the window holds all the
    group's events, else counted from its events (one index range per group, one statement)."""
    if not groups:
        return
    t = ErrorGroupTotal
    totals = {
        fp: (sessions, lo, hi)
        for fp, sessions, lo, hi in db.execute(
            select(t.fingerprint, t.sessions, t.first_seen, t.last_seen).where(
                t.project_id == project_id, t.fingerprint.in_([g.fingerprint for g in groups])
            )
        )
    }
    counted = []
    for group in groups:
        sessions, lo, hi = totals.get(group.fingerprint, (0, None, None))
        if lo is not None and hi is not None and (start is None or start <= lo) and (end is None or hi < end):
            group.sessions = int(sessions)
        else:
            counted.append(group)
    if not counted:
        return
    e = BackendEvent
    conditions: list[ColumnElement[bool]] = [e.project_id == project_id]
    if start is not None:
        conditions.append(e.timestamp >= start)
    if end is not None:
        conditions.append(e.timestamp < end)
    query = (
        select(e.fingerprint, func.count(func.distinct(e.session_id)))
        .where(*conditions, e.fingerprint.in_([g.fingerprint for g in counted]))
        .group_by(e.fingerprint)
    )
    found = {fingerprint: n for fingerprint, n in db.execute(query)}
    for group in counted:
        group.sessions = int(found.get(group.fingerprint, 0))
