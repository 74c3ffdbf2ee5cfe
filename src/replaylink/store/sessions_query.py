"""Read queries for sessions and their backend events: filtered keyset pages, summaries, timelines.

Listings are newest first on ``(started_at, id)`` (the ``ix_sessions_project_started`` index);
event filters are ``EXISTS`` probes on ``ix_backend_events_session``, so a page reads about
``limit`` sessions, not the whole project. A rare error group or text (``q``, full-text indexes of
migration 0005) drives the listing instead.
"""

from __future__ import annotations

import json
import re
from collections import Counter
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime
from typing import Generic, TypeVar

from sqlalchemy import (
    BigInteger,
    ColumnElement,
    Integer,
    Select,
    any_,
    bindparam,
    column,
    exists,
    false,
    func,
    literal_column,
    select,
    table,
    true,
    tuple_,
)
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.orm import Session

from replaylink.store import keyset
from replaylink.store.models import BackendEvent, RecordedSession, SessionEventCount

T = TypeVar("T")
SESSIONS_CURSOR = "s"
EVENTS_CURSOR = "e"


@dataclass(frozen=True)
class SessionFilters:
    """What a session listing may be narrowed by. Times bound ``started_at``: ``[start, end)``."""

    start: datetime | None = None
    end: datetime | None = None
    has_backend_errors: bool | None = None
    provider: str | None = None
    text: str | None = None
    """Words (prefixes) all in a backend event's title or message: see :class:`TextSearch`."""
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


# ----------------------------------------------------------------------------- text search
#
# Migration 0005 indexes each event's title and the first MESSAGE_CHARS characters of its message,
# split into words at whitespace and ASCII punctuation (lower-cased, accents kept): a GIN index on
# PG_DOCUMENT (PostgreSQL), the FTS5 table FTS_TABLE kept by triggers (SQLite). Neither is in the
# models. Keep these constants in step with that migration.

MESSAGE_CHARS = 4096
FTS_TABLE = "backend_events_fts"
PG_TEXT_INDEX = "ix_backend_events_text"
FEW_MATCHES = 5000
"""Up to this many matching events (any project), a text search starts from their ids."""
_WORD = re.compile(r"[^\W_]+")  # runs of letters and digits (Unicode)

PG_SEARCH_WORK_MEM = "64MB"
"""Per search request: keeps the GIN index's bitmaps exact (no "recheck") up to about 10M events."""
PG_TEXT = f"backend_events.title || ' ' || left(backend_events.message, {MESSAGE_CHARS})"
PG_DOCUMENT = f"to_tsvector('simple'::regconfig, regexp_replace({PG_TEXT}, '[!-/:-@[-`{{-~]+', ' ', 'g'))"
"""The indexed expression, as in the index (or the planner ignores the index): ASCII punctuation
becomes spaces (the parser would keep ``app.handlers`` or ``a@b.c`` whole), then the ``simple``
parser and dictionary make lower-cased words."""
_FTS = table(FTS_TABLE, column("rowid", Integer))


def _sql_string(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


def in_models(_object: object, name: str | None, type_: str, _reflected: bool, _compare_to: object) -> bool:
    """Alembic ``include_object``: False for the text-search objects of migration 0005 (not in the models)."""
    if name is None:
        return True
    if type_ == "table":
        return not name.startswith(FTS_TABLE)
    return not (type_ == "index" and name == PG_TEXT_INDEX)


def search_words(text: str) -> list[str]:
    """The words of a ``q``: runs of letters and digits (distinct, in order); the rest separates them."""
    return list(dict.fromkeys(_WORD.findall(text)))


def _fts_matches(words: Sequence[str]) -> Select[int]:
    """SQLite: rowids of the events with every word (each one quoted: a phrase, then ``*``)."""
    expression = " AND ".join('"' + word.replace('"', '""') + '"*' for word in words)
    return select(_FTS.c.rowid).where(literal_column(FTS_TABLE).bool_op("MATCH")(expression))


@dataclass(frozen=True)
class TextSearch:
    """A ``q`` ready for one request's statements (:func:`search_text`).

    An event matches when its indexed text has, for every word, a word starting with it, in any
    case. Every word is quoted: user text never becomes FTS5 or tsquery syntax (``NEAR``, ``OR``,
    ``*``, ``:``, ``-``, quotes...). No words: nothing matches.
    """

    dialect: str
    words: list[str]
    ids: list[int] | None = None
    """When at most ``FEW_MATCHES`` events match: their ids, looked up once through the index."""

    @property
    def few(self) -> bool:
        """Few events match: statements should start from their ids."""
        return self.ids is not None

    def condition(self, *, index_first: bool = True) -> ColumnElement[bool]:
        """The test for one ``BackendEvent``.

        With few matches, ``id`` among their ids. Otherwise, on PostgreSQL, the indexed expression;
        on SQLite ``id IN (FTS5 lookup)``, evaluated once per statement (keep one per statement).

        ``index_first=False`` is for a statement that walks another index and stops early (newest
        sessions, the newest event of a group): it checks each event it reads instead of looking
        the matches up first. SQLite (``id + 0``) then does not fetch every listed event by id;
        PostgreSQL (``IS TRUE``, which no index serves) does not scan the text index once per
        session or group, which costs the whole prefix's postings each time.
        """
        if not self.words or self.ids == []:
            return false()
        if self.dialect == "postgresql":
            if self.ids is not None:
                ids = bindparam("text_ids", self.ids, type_=ARRAY(BigInteger), unique=True)
                return BackendEvent.id == any_(ids)
            query = " & ".join(f"{_sql_string(word)}:*" for word in self.words)
            tsquery = func.to_tsquery(literal_column("'simple'::regconfig"), query)
            matched = literal_column(PG_DOCUMENT).bool_op("@@")(tsquery)
            return matched if index_first else matched.is_(true())
        event_id = BackendEvent.id if index_first else BackendEvent.id + literal_column("0")
        if self.ids is not None:
            listed = func.json_each(json.dumps(self.ids)).table_valued("value")
            return event_id.in_(select(listed.c.value))
        return event_id.in_(_fts_matches(self.words))

    @contextmanager
    def all_matches(self, db: Session) -> Iterator[ColumnElement[bool]]:
        """The condition for a statement that reads every match (an aggregate), while it runs.

        Few matches: their ids. Many: SQLite checks each event the statement reads against the
        FTS5 list. PostgreSQL reads them through the index with table scans off: its planner
        would rather scan and tokenize every event again (~20 us each: 100 s on 10M events) than
        read the index's exact bitmap (14 s when all 10M match).
        """
        if self.dialect != "postgresql" or self.few:
            yield self.condition(index_first=self.few)
            return
        previous = db.scalar(select(func.current_setting("enable_seqscan")))
        db.execute(select(func.set_config("enable_seqscan", "off", True)))
        try:
            yield self.condition()
        finally:
            db.execute(select(func.set_config("enable_seqscan", previous, True)))


def search_text(db: Session, text: str) -> TextSearch:
    """Prepare ``text`` for one request: through the index, the ids of its matches if few."""
    search = TextSearch(db.get_bind().dialect.name, search_words(text))
    if not search.words:
        return search
    if search.dialect == "postgresql":
        # Verifying an event means tokenizing it again (~20 us): keep the index's bitmaps exact
        # (no page-level "recheck") for the rest of this transaction.
        db.execute(select(func.set_config("work_mem", PG_SEARCH_WORK_MEM, True)))  # SET LOCAL
        probe = select(BackendEvent.id).where(search.condition())
    else:
        probe = _fts_matches(search.words)
    found = list(db.scalars(probe.limit(FEW_MATCHES + 1)))
    return TextSearch(search.dialect, search.words, found) if len(found) <= FEW_MATCHES else search


def _sessions_query(db: Session, project_id: int, filters: SessionFilters) -> Select[RecordedSession]:
    s = RecordedSession
    e = BackendEvent
    query = select(s).where(s.project_id == project_id)
    if filters.start is not None:
        query = query.where(s.started_at >= filters.start)
    if filters.end is not None:
        query = query.where(s.started_at < filters.end)
    if filters.user_id is not None:
        query = query.where(s.user_id == filters.user_id)
    if filters.has_js_errors is not None:
        query = query.where((s.js_errors > 0) if filters.has_js_errors else (s.js_errors == 0))
    if filters.has_failed_requests is not None:
        query = query.where(
            (s.failed_requests > 0) if filters.has_failed_requests else (s.failed_requests == 0)
        )
    conditions: list[ColumnElement[bool]] = []
    search = search_text(db, filters.text) if filters.text else None
    if filters.provider and search is None:
        # One primary-key probe per session (0010), not a walk through its events.
        c = SessionEventCount
        query = query.where(exists().where(c.session_id == s.id, c.provider == filters.provider))
    elif filters.provider:
        conditions.append(e.provider == filters.provider)
    if search is not None and search.few:
        # Driven from the few matching events: a rare text must not probe every session.
        conditions.append(search.condition())
        query = query.where(s.id.in_(select(e.session_id).where(e.project_id == project_id, *conditions)))
    else:
        if search is not None:
            conditions.append(search.condition(index_first=False))
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
        # Driven from the error group's index: a rare group must not scan every session.
        query = query.where(
            s.id.in_(
                select(BackendEvent.session_id).where(
                    BackendEvent.project_id == project_id, BackendEvent.fingerprint == filters.fingerprint
                )
            )
        )
    return query


def list_sessions(
    db: Session, project_id: int, filters: SessionFilters, *, limit: int, cursor: str | None = None
) -> Page[SessionSummary]:
    """One page of the project's sessions, newest first. Raises ``keyset.InvalidCursor``."""
    s = RecordedSession
    query = _sessions_query(db, project_id, filters)
    if cursor:
        started, session_id = keyset.decode(SESSIONS_CURSOR, cursor, datetime, int)
        query = query.where(tuple_(s.started_at, s.id) < tuple_(started, session_id))
    rows = list(db.scalars(query.order_by(s.started_at.desc(), s.id.desc()).limit(limit + 1)))
    more = len(rows) > limit
    rows = rows[:limit]
    summaries = summarize(db, rows)
    next_cursor = keyset.encode(SESSIONS_CURSOR, rows[-1].started_at, rows[-1].id) if more else None
    return Page(summaries, next_cursor)


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


def imported_record_ids(db: Session, session_id: int) -> set[tuple[int | None, str]]:
    """``(integration_id, provider_record_id)`` of every imported event of the session."""
    e = BackendEvent
    query = select(e.integration_id, e.provider_record_id).where(e.session_id == session_id)
    return {(integration_id, record_id) for integration_id, record_id in db.execute(query)}
