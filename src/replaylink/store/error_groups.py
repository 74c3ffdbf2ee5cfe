"""Backend errors grouped by fingerprint: counts, sessions affected, first/last seen, a sample.

Groups are ordered by event count (most frequent first), then fingerprint; the cursor is the
last group's ``(count, fingerprint)``, applied in ``HAVING``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import ColumnElement, and_, func, or_, select
from sqlalchemy.orm import Session

from replaylink.store import keyset
from replaylink.store.models import BackendEvent
from replaylink.store.sessions_query import Page, text_match

GROUPS_CURSOR = "g"


@dataclass(frozen=True)
class GroupFilters:
    """Times bound the events' ``timestamp``: ``[start, end)``."""

    start: datetime | None = None
    end: datetime | None = None
    provider: str | None = None
    text: str | None = None


@dataclass
class ErrorGroup:
    fingerprint: str
    count: int
    sessions: int
    first_seen: datetime
    last_seen: datetime
    sample: BackendEvent | None = None


def _conditions(project_id: int, filters: GroupFilters) -> list[ColumnElement[bool]]:
    e = BackendEvent
    conditions: list[ColumnElement[bool]] = [e.project_id == project_id]
    if filters.start is not None:
        conditions.append(e.timestamp >= filters.start)
    if filters.end is not None:
        conditions.append(e.timestamp < filters.end)
    if filters.provider:
        conditions.append(e.provider == filters.provider)
    if filters.text:
        conditions.append(text_match(filters.text))
    return conditions


def list_groups(
    db: Session, project_id: int, filters: GroupFilters, *, limit: int, cursor: str | None = None
) -> Page[ErrorGroup]:
    """One page of error groups, most frequent first. Raises ``keyset.InvalidCursor``."""
    e = BackendEvent
    conditions = _conditions(project_id, filters)
    count = func.count().label("n")
    query = (
        select(
            e.fingerprint,
            count,
            func.count(func.distinct(e.session_id)),
            func.min(e.timestamp),
            func.max(e.timestamp),
        )
        .where(*conditions)
        .group_by(e.fingerprint)
    )
    if cursor:
        last_count, last_fingerprint = keyset.decode(GROUPS_CURSOR, cursor, int, str)
        query = query.having(
            or_(func.count() < last_count, and_(func.count() == last_count, e.fingerprint > last_fingerprint))
        )
    rows = db.execute(query.order_by(count.desc(), e.fingerprint).limit(limit + 1)).all()
    more = len(rows) > limit
    groups = [ErrorGroup(*row) for row in rows[:limit]]
    attach_samples(db, groups, conditions)
    next_cursor = keyset.encode(GROUPS_CURSOR, groups[-1].count, groups[-1].fingerprint) if more else None
    return Page(groups, next_cursor)


def attach_samples(db: Session, groups: Sequence[ErrorGroup], conditions: list[ColumnElement[bool]]) -> None:
    """The latest matching event of each group (one index probe per group)."""
    e = BackendEvent
    for group in groups:
        query = select(e).where(*conditions, e.fingerprint == group.fingerprint)
        group.sample = db.scalar(query.order_by(e.timestamp.desc(), e.id.desc()).limit(1))


def group_exists(db: Session, project_id: int, fingerprint: str) -> bool:
    e = BackendEvent
    query = select(e.id).where(e.project_id == project_id, e.fingerprint == fingerprint).limit(1)
    return db.scalar(query) is not None
