"""Backend errors grouped by fingerprint: counts, sessions affected, first/last seen, a sample.

Groups are ordered by event count (most frequent first), then fingerprint; the cursor is the
last group's ``(count, fingerprint)``. Without a provider or text filter the groups come from the
rollup (``store.error_group_rollup``); with one, from the matching events.
"""

from __future__ import annotations

from collections.abc import Sequence
from contextlib import nullcontext
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import ColumnElement, and_, func, or_, select
from sqlalchemy.orm import Session

from replaylink.store import error_group_rollup, keyset
from replaylink.store.models import BackendEvent, ErrorGroupTotal
from replaylink.store.sessions_query import Page
from replaylink.store.text_search import search_text

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
    position = _position(cursor) if cursor else None
    if not filters.provider and not filters.text:
        if filters.start is None and filters.end is None:
            found = error_group_rollup.all_time(db, project_id, limit=limit + 1, cursor=position)
        else:
            found = error_group_rollup.window(
                db, project_id, filters.start, filters.end, limit=limit + 1, cursor=position
            )
        groups = [ErrorGroup(g.fingerprint, g.count, g.sessions, g.first_seen, g.last_seen) for g in found]
        return _page(db, project_id, filters, groups, limit, None)
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
        if position:
            last_count, last_fingerprint = position
            query = query.having(
                or_(
                    func.count() < last_count,
                    and_(func.count() == last_count, e.fingerprint > last_fingerprint),
                )
            )
        rows = db.execute(query.order_by(count.desc(), e.fingerprint).limit(limit + 1)).all()
    # Each group's newest matching event: walk the group's index, check the text on the way.
    text = search.condition(index_first=False) if search else None
    return _page(db, project_id, filters, [ErrorGroup(*row) for row in rows], limit, text)


def _position(cursor: str) -> tuple[int, str]:
    count, fingerprint = keyset.decode(GROUPS_CURSOR, cursor, int, str)
    assert isinstance(count, int) and isinstance(fingerprint, str)
    return count, fingerprint


def _page(
    db: Session,
    project_id: int,
    filters: GroupFilters,
    groups: list[ErrorGroup],
    limit: int,
    text: ColumnElement[bool] | None,
) -> Page[ErrorGroup]:
    """The first ``limit`` of ``groups`` (one more tells there is a next page) with their samples."""
    more = len(groups) > limit
    groups = groups[:limit]
    attach_samples(db, project_id, groups, _conditions(project_id, filters, text))
    next_cursor = keyset.encode(GROUPS_CURSOR, groups[-1].count, groups[-1].fingerprint) if more else None
    return Page(groups, next_cursor)


def attach_samples(
    db: Session, project_id: int, groups: Sequence[ErrorGroup], conditions: list[ColumnElement[bool]]
) -> None:
    """The latest matching event of each group: one index probe per group, all in one statement
    driven by the groups' totals (one ``IN`` parameter list, whatever the page's size).

    One statement, so that a text filter's lookup (an ``IN`` list on SQLite) is evaluated once.
    """
    if not groups:
        return
    e, t = BackendEvent, ErrorGroupTotal
    latest = (
        select(e.id)
        .where(*conditions, e.fingerprint == t.fingerprint)
        .order_by(e.timestamp.desc(), e.id.desc())
        .limit(1)
        .scalar_subquery()
    )
    query = select(t.fingerprint, latest).where(
        t.project_id == project_id, t.fingerprint.in_([g.fingerprint for g in groups])
    )
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
