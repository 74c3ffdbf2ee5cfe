"""Backend errors grouped by fingerprint: counts, sessions affected, first/last seen, a sample.

Groups are ordered by event count (most frequent first), then fingerprint; the cursor is the
last group's ``(count, fingerprint)``, applied in ``HAVING``.
"""

from __future__ import annotations

from collections.abc import Sequence
from contextlib import nullcontext
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import ColumnElement, String, and_, func, literal, or_, select, union_all
from sqlalchemy.orm import Session

from replaylink.store import keyset
from replaylink.store.models import BackendEvent
from replaylink.store.sessions_query import Page, search_text

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


def _conditions(
    project_id: int, filters: GroupFilters, text: ColumnElement[bool] | None
) -> list[ColumnElement[bool]]:
    e = BackendEvent
    conditions: list[ColumnElement[bool]] = [e.project_id == project_id]
    if filters.start is not None:
        conditions.append(e.timestamp >= filters.start)
    if filters.end is not None:
        conditions.append(e.timestamp < filters.end)
    if filters.provider:
        conditions.append(e.provider == filters.provider)
    if text is not None:
        conditions.append(text)
    return conditions


def list_groups(
    db: Session, project_id: int, filters: GroupFilters, *, limit: int, cursor: str | None = None
) -> Page[ErrorGroup]:
    """One page of error groups, most frequent first. Raises ``keyset.InvalidCursor``."""
    e = BackendEvent
    search = search_text(db, filters.text) if filters.text else None
    with search.all_matches(db) if search else nullcontext(None) as text:
        conditions = _conditions(project_id, filters, text)
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
                or_(
                    func.count() < last_count,
                    and_(func.count() == last_count, e.fingerprint > last_fingerprint),
                )
            )
        rows = db.execute(query.order_by(count.desc(), e.fingerprint).limit(limit + 1)).all()
    more = len(rows) > limit
    groups = [ErrorGroup(*row) for row in rows[:limit]]
    # Each group's newest matching event: walk the group's index, check the text on the way.
    text = search.condition(index_first=False) if search else None
    attach_samples(db, groups, _conditions(project_id, filters, text))
    next_cursor = keyset.encode(GROUPS_CURSOR, groups[-1].count, groups[-1].fingerprint) if more else None
    return Page(groups, next_cursor)


def attach_samples(db: Session, groups: Sequence[ErrorGroup], conditions: list[ColumnElement[bool]]) -> None:
    """The latest matching event of each group: one index probe per group, all in one statement.

    One statement, so that a text filter's lookup (an ``IN`` list on SQLite) is evaluated once.
    """
    if not groups:
        return
    e = BackendEvent
    names = [select(literal(g.fingerprint, String).label("fingerprint")) for g in groups]
    wanted = union_all(*names).subquery()
    latest = (
        select(e.id)
        .where(*conditions, e.fingerprint == wanted.c.fingerprint)
        .order_by(e.timestamp.desc(), e.id.desc())
        .limit(1)
        .scalar_subquery()
    )
    query = select(wanted.c.fingerprint, latest)
    sample_ids: dict[str, int | None] = {fingerprint: event_id for fingerprint, event_id in db.execute(query)}
    found = [event_id for event_id in sample_ids.values() if event_id is not None]
    samples = {row.id: row for row in db.scalars(select(e).where(e.id.in_(found)))} if found else {}
    for group in groups:
        sample_id = sample_ids.get(group.fingerprint)
        group.sample = samples.get(sample_id) if sample_id is not None else None


def group_exists(db: Session, project_id: int, fingerprint: str) -> bool:
    e = BackendEvent
    query = select(e.id).where(e.project_id == project_id, e.fingerprint == fingerprint).limit(1)
    return db.scalar(query) is not None
