"""Read queries for sessions and their backend events: filtered keyset pages, summaries, timelines.

Listings are newest first on ``(started_at, id)`` (the ``ix_sessions_project_started`` index);
event filters are ``EXISTS`` probes on ``ix_backend_events_session``, so a page reads about
``limit`` sessions, not the whole project. A rare text (``q``, ``store.text_search``) drives the
listing instead; an error group's sessions come from its rollup rows (:func:`_in_group`).

A text search that walks sessions (its matches are many, or too costly to look up) does bounded
work: it walks stretches of sessions newest first and stops after its budget (the setting
``search_budget_ms``) even if its page
is not full. Such a page holds the matches found so far (each a true match, in order), its
``searched_to`` (where the walk stopped) and a ``next_cursor`` that resumes just past it, so
following the cursors finds every match once.
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Generic, TypeVar

from sqlalchemy import BigInteger, ColumnElement, Select, any_, cast, exists, func, select, text, tuple_
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.orm import Session

from replaylink.store import keyset
from replaylink.store.models import (
    BackendEvent,
    ErrorGroupSession,
    ErrorGroupTotal,
    RecordedSession,
    SessionEventCount,
)
from replaylink.store.text_search import TextSearch, search_text

T = TypeVar("T")
SESSIONS_CURSOR = "s"
COUNT_CAP = 100_000
"""Sessions counted at most when PostgreSQL has no statistics of the table yet."""
EVENTS_CURSOR = "e"
FIRST_STRETCH = 128
"""Sessions in such a walk's first stretch; the next ones are sized from the time left."""
LISTED_STRETCH_FACTOR = 16
"""A walk that tests a word through its list (``TextSearch.walk_list``) starts with stretches this
many times longer: each statement builds the list again (a few ms), each session costs little."""
Position = tuple[datetime, int]
"""A session's place in the listing: ``(started_at, id)``."""


@dataclass(frozen=True)
class SessionFilters:
    """What a session listing may be narrowed by. Times bound ``started_at``: ``[start, end)``."""

    start: datetime | None = None
    end: datetime | None = None
    has_backend_errors: bool | None = None
    provider: str | None = None
    text: str | None = None
    """Words (prefixes) all in a backend event's title or message: see ``store.text_search``."""
    user_id: str | None = None
    fingerprint: str | None = None
    """Only sessions with an event of this error group."""
    has_js_errors: bool | None = None
    """With (true) or without (false) JS errors in the recording (migration 0006 counters)."""
    has_failed_requests: bool | None = None


@dataclass
class SessionSummary:
    """A listed session with its backend event counts per provider and its first error's title."""

    session: RecordedSession
    counts: dict[str, int] = field(default_factory=dict)
    first_error_title: str | None = None

    @property
    def event_count(self) -> int:
        return sum(self.counts.values())


@dataclass
class Page(Generic[T]):
    items: list[T]
    next_cursor: str | None
    searched_to: datetime | None = None
    """Set when a text search stopped at its budget: sessions that started from then on (down to
    the cursor's) were all searched; ``next_cursor`` resumes from there."""


def _in_time(filters: SessionFilters) -> list[ColumnElement[bool]]:
    """The conditions on the sessions' start."""
    s = RecordedSession
    conditions = []
    if filters.start is not None:
        conditions.append(s.started_at >= filters.start)
    if filters.end is not None:
        conditions.append(s.started_at < filters.end)
    return conditions


def _sessions_query(
    db: Session, project_id: int, filters: SessionFilters, search: TextSearch | None, limit: int
) -> Select[RecordedSession]:
    s = RecordedSession
    e = BackendEvent
    query = select(s).where(s.project_id == project_id, *_in_time(filters))
    if filters.user_id is not None:
        query = query.where(s.user_id == filters.user_id)
    if filters.has_js_errors is not None:
        query = query.where((s.js_errors > 0) if filters.has_js_errors else (s.js_errors == 0))
    if filters.has_failed_requests is not None:
        query = query.where(
            (s.failed_requests > 0) if filters.has_failed_requests else (s.failed_requests == 0)
        )
    conditions: list[ColumnElement[bool]] = []
    if filters.provider and search is None:
        # One primary-key probe per session (0010), not a walk through its events.
        c = SessionEventCount
        query = query.where(exists().where(c.session_id == s.id, c.provider == filters.provider))
    elif filters.provider:
        conditions.append(e.provider == filters.provider)
    if search is not None and search.few and not conditions:
        # Driven from the few matching events' sessions: a rare text must not probe every session.
        query = query.where(search.among(s.id, search.session_ids))
    elif search is not None and search.few:
        conditions.append(search.condition())
        query = query.where(s.id.in_(select(e.session_id).where(e.project_id == project_id, *conditions)))
    else:
        if search is not None:
            conditions.append(search.walked())
        if conditions or filters.has_backend_errors:
            events = select(e.id).where(e.session_id == s.id, *conditions)
            if search is not None:
                # One probe per session, newest first, until the page is full: OFFSET 0 keeps
                # PostgreSQL from making it a join that first finds (and tokenizes) every match.
                events = events.offset(0)
            query = query.where(events.exists())
    if filters.has_backend_errors is False:
        query = query.where(~exists().where(e.session_id == s.id))
    if filters.fingerprint is not None:
        query = query.where(_in_group(db, project_id, filters.fingerprint, limit))
    return query


def _in_group(db: Session, project_id: int, fingerprint: str, limit: int) -> ColumnElement[bool]:
    """Sessions with an event of the error group, from its sessions in the rollup
    (``error_group_sessions``: one row per session, where the events index has one per event).

    A group in many sessions is found by walking sessions newest first and probing the group's
    row of each (about ``limit * sessions / group's sessions`` probes); a group in few, from its
    own session ids (a key range), sorted afterwards. The walk is chosen when it probes fewer
    sessions than the group has.
    """
    g, s, t = ErrorGroupSession, RecordedSession, ErrorGroupTotal
    in_group = (g.project_id == project_id, g.fingerprint == fingerprint)
    group = select(t.sessions).where(t.project_id == project_id, t.fingerprint == fingerprint)
    group_sessions = db.scalar(group)
    if group_sessions and group_sessions * group_sessions > (limit + 1) * _stored_sessions(db):
        return exists().where(*in_group, g.session_id == s.id)
    if db.get_bind().dialect.name == "postgresql":
        # One array computed first: as a join, the planner would rather scan every session.
        ids = select(func.array_agg(g.session_id)).where(*in_group).scalar_subquery()
        return s.id == any_(cast(ids, ARRAY(BigInteger)))
    return s.id.in_(select(g.session_id).where(*in_group))


def _stored_sessions(db: Session) -> int:
    """About how many sessions are stored (all projects: an upper bound), without counting them:
    PostgreSQL's planner statistics (``reltuples``; before the table's first analysis, a count
    stopped at COUNT_CAP), SQLite's largest rowid (sessions ever stored)."""
    if db.get_bind().dialect.name != "postgresql":
        return int(db.scalar(text("SELECT max(rowid) FROM sessions")) or 0)
    estimate = db.scalar(text("SELECT reltuples FROM pg_class WHERE oid = 'sessions'::regclass"))
    if estimate is not None and estimate >= 0:
        return int(estimate)
    capped = select(func.count()).select_from(select(RecordedSession.id).limit(COUNT_CAP).subquery())
    return int(db.scalar(capped) or 0)


def list_sessions(
    db: Session,
    project_id: int,
    filters: SessionFilters,
    *,
    limit: int,
    cursor: str | None = None,
    budget: float,
) -> Page[SessionSummary]:
    """One page of the project's sessions, newest first. Raises ``keyset.InvalidCursor``.

    A text search that walks starts no new stretch after ``budget`` seconds (0: one stretch;
    :func:`_walk`): its page may then be short, with ``searched_to`` and a cursor to go on from.
    """
    after: Position | None = None
    if cursor:
        started, session_id = keyset.decode(SESSIONS_CURSOR, cursor, datetime, int)
        assert isinstance(started, datetime) and isinstance(session_id, int)
        after = (started, session_id)
    search = search_text(db, filters.text) if filters.text else None
    query = _sessions_query(db, project_id, filters, search, limit)
    stopped: Position | None = None
    if search is not None and search.words and not search.few:
        first = FIRST_STRETCH * (LISTED_STRETCH_FACTOR if search.walk_list else 1)
        rows, stopped = _walk(db, project_id, filters, query, after, limit, first, budget)
    else:
        rows = _between(db, query, after, None, limit + 1)
    more = len(rows) > limit
    rows = rows[:limit]
    summaries = summarize(db, rows)
    if stopped is not None:
        return Page(summaries, keyset.encode(SESSIONS_CURSOR, *stopped), searched_to=stopped[0])
    next_cursor = keyset.encode(SESSIONS_CURSOR, rows[-1].started_at, rows[-1].id) if more else None
    return Page(summaries, next_cursor)


def _between(
    db: Session,
    query: Select[RecordedSession],
    after: Position | None,
    down_to: Position | None,
    limit: int,
) -> list[RecordedSession]:
    """Up to ``limit`` sessions of ``query`` newest first, after ``after`` and down to ``down_to``
    (included)."""
    s = RecordedSession
    if after is not None:
        query = query.where(tuple_(s.started_at, s.id) < tuple_(*after))
    if down_to is not None:
        query = query.where(tuple_(s.started_at, s.id) >= tuple_(*down_to))
    return list(db.scalars(query.order_by(s.started_at.desc(), s.id.desc()).limit(limit)))


def _walk(
    db: Session,
    project_id: int,
    filters: SessionFilters,
    query: Select[RecordedSession],
    after: Position | None,
    limit: int,
    first: int,
    budget: float,
) -> tuple[list[RecordedSession], Position | None]:
    """Up to ``limit + 1`` sessions of ``query`` after ``after``, walked a stretch of sessions at a
    time; and where the walk stopped (the last session it searched) when ``budget`` seconds ran
    out first, else None (the page is full or no session is left).

    Each stretch holds the next ``first`` sessions at first, then as many as the time left
    should allow at the last stretch's pace, with a margin (at most 8 times more).
    """
    found: list[RecordedSession] = []
    stretch = first
    began = last = time.monotonic()
    while True:
        end = _nth_session(db, project_id, filters, after, stretch)
        found += _between(db, query, after, end, limit + 1 - len(found))
        if len(found) > limit or end is None:
            return found, None
        after = end
        now = time.monotonic()
        left = budget - (now - began)
        if left <= 0:
            return found, end
        stretch = max(16, min(8 * stretch, int(0.8 * stretch * left / max(now - last, 1e-6))))
        last = now


def _nth_session(
    db: Session, project_id: int, filters: SessionFilters, after: Position | None, n: int
) -> Position | None:
    """The place of the ``n``-th session after ``after`` in the listing's time range (None: fewer
    are left), read from the listing's index alone."""
    s = RecordedSession
    query = select(s.started_at, s.id).where(s.project_id == project_id, *_in_time(filters))
    if after is not None:
        query = query.where(tuple_(s.started_at, s.id) < tuple_(*after))
    row = db.execute(query.order_by(s.started_at.desc(), s.id.desc()).offset(n - 1).limit(1)).first()
    return None if row is None else (row[0], row[1])


def summarize(db: Session, sessions: Sequence[RecordedSession]) -> list[SessionSummary]:
    """Event counts per provider and the first event's title, for a page of sessions (two queries)."""
    out = {row.id: SessionSummary(row) for row in sessions}
    if not out:
        return []
    e = BackendEvent
    c = SessionEventCount
    for session_id, provider, count in db.execute(
        select(c.session_id, c.provider, c.events).where(c.session_id.in_(out))
    ):
        out[session_id].counts[provider] = count
    with_events = [sid for sid, summary in out.items() if summary.counts]
    if with_events:
        first = (
            select(e.title)
            .where(e.session_id == RecordedSession.id)
            .order_by(e.timestamp, e.id)
            .limit(1)
            .scalar_subquery()
        )
        titles = select(RecordedSession.id, first).where(RecordedSession.id.in_(with_events))
        for session_id, title in db.execute(titles):
            out[session_id].first_error_title = title
    return list(out.values())


def get_session(db: Session, project_id: int, session_id: int) -> RecordedSession | None:
    row = db.get(RecordedSession, session_id)
    return row if row is not None and row.project_id == project_id else None


def counts_by_provider(events: Sequence[BackendEvent]) -> dict[str, int]:
    return dict(Counter(event.provider for event in events))


def event_counts(db: Session, session_id: int) -> dict[str, int]:
    c = SessionEventCount
    query = select(c.provider, c.events).where(c.session_id == session_id)
    return {provider: count for provider, count in db.execute(query)}


def session_events(
    db: Session,
    session_id: int,
    *,
    limit: int,
    cursor: str | None = None,
    provider: str | None = None,
) -> Page[BackendEvent]:
    """The session's backend events in time order, ``limit`` at a time. Raises ``keyset.InvalidCursor``."""
    e = BackendEvent
    query = select(e).where(e.session_id == session_id)
    if provider:
        query = query.where(e.provider == provider)
    if cursor:
        moment, event_id = keyset.decode(EVENTS_CURSOR, cursor, datetime, int)
        query = query.where(tuple_(e.timestamp, e.id) > tuple_(moment, event_id))
    rows = list(db.scalars(query.order_by(e.timestamp, e.id).limit(limit + 1)))
    more = len(rows) > limit
    rows = rows[:limit]
    next_cursor = keyset.encode(EVENTS_CURSOR, rows[-1].timestamp, rows[-1].id) if more else None
    return Page(rows, next_cursor)


def imported_record_ids(db: Session, session_id: int) -> set[tuple[str, str]]:
    """``(provider, provider_record_id)`` of every imported event of the session (whichever
    integration imported it, a deleted one included)."""
    e = BackendEvent
    query = select(e.provider, e.provider_record_id).where(e.session_id == session_id)
    return {(provider, record_id) for provider, record_id in db.execute(query)}
