"""Error groups read from the rollup of migration 0008 instead of from every event.

All time: ``error_group_totals``. A window ``[start, end)`` is a signed sum of UTC day buckets,
hour buckets and events read through the group index, its edges rounded to the nearest hour and
day (``store.window_pieces``). Ranking a window does not sum every group's buckets: a cheap upper
bound of each group's count (its day buckets over the days the window touches, or its all-time
total for a window of many days) orders the candidates, and exact counts are read for the likely
ones, until no group left can rank on the page (``_rank``). A window of a few hours reads its few
buckets and events for every group at once (``_rank_all``). On PostgreSQL these statements run
without parallel workers (their start costs more than the few thousand rows they would share).

Distinct sessions do not add up across buckets: for the groups of the page they come from the
totals when the window holds every event of the group; otherwise sessions that started well inside
the window are counted per start hour (``error_group_session_hours``, 0014) and, in the partial
hours at the ends, from ``error_group_sessions`` (ordered by the session start in the id); those
that started near an edge from that table too, by their first and last event of the group (0016).
One statement for the page: a union of per-group ranges (``_sessions``). First and last seen are
two probes of the group index per group.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import (
    ColumnElement,
    Connection,
    CursorResult,
    Row,
    ScalarSelect,
    Select,
    and_,
    func,
    or_,
    select,
    union_all,
)
from sqlalchemy.orm import Session

from replaylink.ids import EPOCH, RANDOM_BITS
from replaylink.store.models import (
    BackendEvent,
    ErrorGroupBucket,
    ErrorGroupSession,
    ErrorGroupSessionHour,
    ErrorGroupTotal,
)
from replaylink.store.value_lists import STRINGS, one_of
from replaylink.store.window_pieces import DAY, HOUR, Buckets, Events, Piece, ceil, floor, pieces, whole_days

SHORT_WINDOW = 6 * HOUR
"""Windows up to this long are ranked from all groups' buckets and events at once."""
BOUND_DAYS = 8
"""Windows touching more UTC days take each group's all-time total as its bound."""
SPREAD_SLACK = 0.8
"""How far below an even spread of its bound a group's count is expected to go (``_rank``)."""
MILLISECOND = timedelta(milliseconds=1)
HOUR_MS = 3_600_000
"""Sessions are counted per start hour (``error_group_session_hours``) in hours of this many ms."""
OFFSET_SLACK_MS = 1000
"""The groups' event offsets widened by this much: the databases round event times to ms."""


@dataclass
class Aggregate:
    fingerprint: str
    count: int
    sessions: int
    first_seen: datetime
    last_seen: datetime


def _core(db: Session) -> Connection:
    """The session's connection: these statements return plain rows, without the ORM's row handling."""
    return db.connection()


def _dialect(db: Session) -> str:
    return db.get_bind().dialect.name


def _piece_counts(
    dialect: str, project_id: int, piece: Piece, fingerprints: Sequence[str] | None
) -> Select[str, int]:
    """Events per group in a piece (times its sign), of ``fingerprints`` only unless ``None``:
    bucket rows by their keys, or events through the group index."""
    if isinstance(piece, Events):
        e = BackendEvent
        conditions = [e.project_id == project_id, e.timestamp >= piece.lo, e.timestamp < piece.hi]
        if fingerprints is not None:
            conditions.append(one_of(dialect, e.fingerprint, fingerprints, STRINGS))
        return select(e.fingerprint, func.count() * piece.sign).where(*conditions).group_by(e.fingerprint)
    b = ErrorGroupBucket
    conditions = [b.project_id == project_id, b.period == piece.period, *_starts(b.start, piece)]
    if fingerprints is not None:
        conditions.append(one_of(dialect, b.fingerprint, fingerprints, STRINGS))
    return select(b.fingerprint, b.events if piece.sign == 1 else b.events * piece.sign).where(*conditions)


def _starts(column: Any, piece: Buckets) -> list[ColumnElement[bool]]:
    """SQL: a bucket row's start is one of the piece's (consecutive: a range by group)."""
    first, last = piece.starts[0], piece.starts[-1]
    return [column == first] if first == last else [column >= first, column <= last]


def _counts_query(
    dialect: str, project_id: int, parts: list[Piece], fingerprints: Sequence[str] | None
) -> Select[str, int]:
    """Events per group in the window made of ``parts`` (groups with none left out)."""
    queries = [_piece_counts(dialect, project_id, p, fingerprints) for p in parts]
    union = (union_all(*queries) if len(queries) > 1 else queries[0]).subquery()
    fingerprint, events = union.c
    total = func.sum(events)
    return select(fingerprint, total.label("n")).group_by(fingerprint).having(total > 0)


def ranks_after(
    count: ColumnElement[int] | Any, fingerprint: ColumnElement[str] | Any, cursor: tuple[int, str]
) -> ColumnElement[bool]:
    """SQL: a group of ``count`` and ``fingerprint`` comes after ``cursor`` in the groups' order
    (most events first, then fingerprint)."""
    last_count, last_fingerprint = cursor
    return or_(count < last_count, and_(count == last_count, fingerprint > last_fingerprint))


def follows(count: int, fingerprint: str, cursor: tuple[int, str] | None) -> bool:
    """Whether a group ranks after ``cursor`` (the Python twin of ``ranks_after``)."""
    return cursor is None or count < cursor[0] or (count == cursor[0] and fingerprint > cursor[1])


def all_time(
    db: Session,
    project_id: int,
    *,
    limit: int,
    cursor: tuple[int, str] | None,
    among: Sequence[str] | None = None,
) -> list[Aggregate]:
    """Up to ``limit`` groups over every stored event, most frequent first, after ``cursor`` (of
    the fingerprints ``among`` only, unless None)."""
    if among is not None and not among:
        return []
    t = ErrorGroupTotal
    query = select(t.fingerprint, t.events, t.sessions, t.first_seen, t.last_seen).where(
        t.project_id == project_id
    )
    if among is not None:
        query = query.where(one_of(_dialect(db), t.fingerprint, list(among), STRINGS))
    if cursor is not None:
        query = query.where(ranks_after(t.events, t.fingerprint, cursor))
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
    among: Sequence[str] | None = None,
) -> list[Aggregate]:
    """Up to ``limit`` groups with events in ``[start, end)``, most frequent first, after ``cursor``
    (of the fingerprints ``among`` only, unless None)."""
    if among is not None and not among:
        return []
    if _dialect(db) == "postgresql":
        # Each statement reads a few thousand index entries: parallel workers cost more to start
        # than they save (SET LOCAL: for the rest of this transaction only).
        _core(db).execute(select(func.set_config("max_parallel_workers_per_gather", "0", True)))
    t = ErrorGroupTotal
    first, last = (
        _core(db)
        .execute(select(func.min(t.first_seen), func.max(t.last_seen)).where(t.project_id == project_id))
        .one()
    )
    if first is None or last is None:
        return []
    # Bounded by the stored events' days, so that every piece is a list of bucket keys.
    start = floor(first, DAY) if start is None else max(start, floor(first, DAY))
    end = floor(last, DAY) + DAY if end is None else min(end, floor(last, DAY) + DAY)
    parts = pieces(start, end)
    if not parts:
        return []
    if end - start <= SHORT_WINDOW:
        ranked = _rank_all(db, project_id, parts, limit, cursor, among)
    else:
        stored = (floor(first, DAY), floor(last, DAY) + DAY)
        bounds, share = _bounds(db, project_id, start, end, stored, among)
        with bounds:
            ranked = _rank(db, project_id, parts, bounds, share, limit, cursor)
    return _complete(db, project_id, ranked, start, end)


def _rank_all(
    db: Session,
    project_id: int,
    parts: list[Piece],
    limit: int,
    cursor: tuple[int, str] | None,
    among: Sequence[str] | None,
) -> list[tuple[str, int]]:
    """The page's groups and counts, from every group's (or ``among``'s) buckets and events in the
    window."""
    query = _counts_query(_dialect(db), project_id, parts, among).subquery()
    fingerprint, count = query.c
    ranked = select(fingerprint, count)
    if cursor is not None:
        ranked = ranked.where(ranks_after(count, fingerprint, cursor))
    rows = _core(db).execute(ranked.order_by(count.desc(), fingerprint).limit(limit))
    return [(fp, int(n)) for fp, n in rows]


def _bounds(
    db: Session,
    project_id: int,
    start: datetime,
    end: datetime,
    stored: tuple[datetime, datetime],
    among: Sequence[str] | None,
) -> tuple[CursorResult[str, int], float]:
    """Every group with events near the window and an upper bound of its count in it, largest
    first: its day buckets over the days the window touches, or its total past ``BOUND_DAYS``;
    and the window's share of the time the bounds count (``stored``: the stored events' days).
    Read as the ranking goes (usually a tenth of the rows: SQLite returns them one step at a time)."""
    lo, hi = floor(start, DAY), ceil(end, DAY)
    if hi - lo > BOUND_DAYS * DAY:
        t = ErrorGroupTotal
        totals = select(t.fingerprint, t.events.label("n")).where(t.project_id == project_id)
        if among is not None:
            totals = totals.where(one_of(_dialect(db), t.fingerprint, list(among), STRINGS))
        query = totals.subquery()
        lo, hi = stored
    else:
        query = _counts_query(_dialect(db), project_id, [whole_days(lo, hi)], among).subquery()
    fingerprint, bound = query.c
    ordered = select(fingerprint, bound).order_by(bound.desc(), fingerprint)
    return _core(db).execute(ordered), (end - start) / (hi - lo)


def _rank(
    db: Session,
    project_id: int,
    parts: list[Piece],
    bounds: Iterator[Row[str, int]],
    share: float,
    limit: int,
    cursor: tuple[int, str] | None,
) -> list[tuple[str, int]]:
    """The page's groups and counts: exact counts of the groups in ``bounds`` order until the next
    group's bound is below the page's last count (no group left can rank on the page).

    The first batch: the groups whose bound reaches ``SPREAD_SLACK`` x ``share`` (the window's part
    of what the bounds count) x the ``limit``-th bound, the page's last count if events were
    spread evenly. Then, while the page is full, every group whose bound reaches its last count
    (two batches at most); while it is not, a batch twice the last one."""
    ordered = _Bounds(bounds)
    chunk = ordered.take(limit)
    if chunk:
        chunk += ordered.reaching(chunk[-1][1] * share * SPREAD_SLACK)
    page: list[tuple[int, str]] = []
    while chunk:
        fingerprints = [fp for fp, _ in chunk]
        counts = _core(db).execute(_counts_query(_dialect(db), project_id, parts, fingerprints))
        page += [(int(n), fp) for fp, n in counts if n and follows(int(n), fp, cursor)]
        page = sorted(page, key=lambda g: (-g[0], g[1]))[:limit]
        chunk = ordered.reaching(page[-1][0]) if len(page) == limit else ordered.take(2 * len(chunk))
    return [(fp, n) for n, fp in page]


class _Bounds:
    """Groups and their bounds, largest first, read as they are asked for."""

    def __init__(self, rows: Iterator[Row[str, int]]) -> None:
        self._rows = rows
        self._next = next(rows, None)

    def _pop(self) -> tuple[str, int]:
        assert self._next is not None
        row = (self._next[0], int(self._next[1]))
        self._next = next(self._rows, None)
        return row

    def take(self, count: int) -> list[tuple[str, int]]:
        """The next ``count`` groups (fewer at the end)."""
        return [self._pop() for _ in range(count) if self._next is not None]

    def reaching(self, reach: float) -> list[tuple[str, int]]:
        """The next groups whose bound is at least ``reach``."""
        out = []
        while self._next is not None and self._next[1] >= reach:
            out.append(self._pop())
        return out


@dataclass(frozen=True)
class _Groups:
    """The page's groups whose sessions and first and last seen are read for a window."""

    dialect: str
    project_id: int
    fingerprints: list[str]

    def of(self, project_id: Any, fingerprint: Any) -> list[ColumnElement[bool]]:
        """SQL: a row of a table of these columns belongs to one of the groups."""
        return [project_id == self.project_id, one_of(self.dialect, fingerprint, self.fingerprints, STRINGS)]


def _complete(
    db: Session, project_id: int, ranked: list[tuple[str, int]], start: datetime, end: datetime
) -> list[Aggregate]:
    """The page's groups with distinct sessions, first and last seen in the window: the totals'
    when the window holds all the group's events, else counted (``_sessions``) and probed."""
    if not ranked:
        return []
    t = ErrorGroupTotal
    wanted = [fp for fp, _ in ranked]
    totals = (
        _core(db)
        .execute(
            select(
                t.fingerprint, t.sessions, t.first_seen, t.last_seen, t.min_offset_ms, t.max_offset_ms
            ).where(t.project_id == project_id, one_of(_dialect(db), t.fingerprint, wanted, STRINGS))
        )
        .all()
    )
    found = {fp: (sessions, lo, hi) for fp, sessions, lo, hi, _, _ in totals if start <= lo and hi < end}
    rest = [fp for fp in wanted if fp not in found]
    if rest:
        offsets = [(lo, hi) for fp, _, _, _, lo, hi in totals if fp not in found]
        groups = _Groups(_dialect(db), project_id, rest)
        sessions = _sessions(db, groups, offsets, start, end)
        for fp, first, last in _core(db).execute(_seen(groups, start, end)):
            found[fp] = (sessions.get(fp, 0), first, last)
    return [Aggregate(fp, n, int(found[fp][0]), found[fp][1], found[fp][2]) for fp, n in ranked]


def _seen(groups: _Groups, start: datetime, end: datetime) -> Select[str, datetime, datetime]:
    """First and last event of each group in the window: two probes of the group index each."""
    e, t = BackendEvent, ErrorGroupTotal
    inside = _group_events_in(start, end)
    first = select(e.timestamp).where(*inside).order_by(e.timestamp).limit(1).scalar_subquery()
    last = select(e.timestamp).where(*inside).order_by(e.timestamp.desc()).limit(1).scalar_subquery()
    return select(t.fingerprint, first, last).where(*groups.of(t.project_id, t.fingerprint))


def _sessions(
    db: Session,
    groups: _Groups,
    offsets: list[tuple[int | None, int | None]],
    start: datetime,
    end: datetime,
) -> dict[str, int]:
    """Distinct sessions of each group in the window.

    Every event lies ``[lo, hi]`` ms after the start its session id encodes (the groups' offsets,
    widened by ``OFFSET_SLACK_MS``). Sessions that started in ``[start - lo, end - hi)`` have all
    their events in the window: counted per start hour (``_sessions_started``). Those that started
    within ``hi - lo`` before either of these edges have an event in the window exactly when their
    last event of the group is at or after its start and their first before its end (the window is
    longer than any session's span of the group's events): counted from ``error_group_sessions``
    by a key range and its first and last seen (0016). No other session has events in the window.
    A window shorter than ``hi - lo`` is counted from all its events."""
    known = [(lo, hi) for lo, hi in offsets if lo is not None and hi is not None]
    lo = min((b[0] for b in known), default=0) - OFFSET_SLACK_MS
    hi = max((b[1] for b in known), default=0) + OFFSET_SLACK_MS
    a, b = _ms(start, floor=True) - hi, _ms(start, floor=False) - lo
    c, d = _ms(end, floor=True) - hi, _ms(end, floor=False) - lo
    if len(known) < len(groups.fingerprints) or b > c:
        t = ErrorGroupTotal
        query = select(t.fingerprint, _distinct_sessions(start, end)).where(
            *groups.of(t.project_id, t.fingerprint)
        )
        return {fp: int(n) for fp, n in _core(db).execute(query)}
    parts = [
        *_sessions_started(groups, b, c),
        _members(groups, a, b, (start, end)),
        _members(groups, c, d, (start, end)),
    ]
    counts: dict[str, int] = dict.fromkeys(groups.fingerprints, 0)
    for fp, n in _core(db).execute(union_all(*parts)):
        counts[fp] += int(n)
    return counts


def _sessions_started(groups: _Groups, lo: int, hi: int) -> list[Select[str, int]]:
    """Sessions per group that started in ``[lo, hi)`` (ms since the ids' epoch), in parts to be
    added up: whole hours summed from ``error_group_session_hours``, the partial hours at either
    end counted from ``error_group_sessions`` by key range."""
    first, last = -(-lo // HOUR_MS), hi // HOUR_MS  # the whole hours: [first, last)
    if first >= last:
        return [_members(groups, lo, hi)]
    h = ErrorGroupSessionHour
    hours = (
        select(h.fingerprint, func.sum(h.sessions))
        .where(*groups.of(h.project_id, h.fingerprint), h.start_hour >= first, h.start_hour < last)
        .group_by(h.fingerprint)
    )
    return [hours, _members(groups, lo, first * HOUR_MS), _members(groups, last * HOUR_MS, hi)]


def _members(
    groups: _Groups, lo: int, hi: int, seen: tuple[datetime, datetime] | None = None
) -> Select[str, int]:
    """Rows of ``error_group_sessions`` per group whose sessions started in ``[lo, hi)`` (ms since
    the ids' epoch): one key range per group; of those whose first and last seen reach into
    ``[seen)`` only, unless None."""
    m = ErrorGroupSession
    conditions = [
        *groups.of(m.project_id, m.fingerprint),
        m.session_id >= lo << RANDOM_BITS,
        m.session_id < hi << RANDOM_BITS,
    ]
    if seen is not None:
        conditions += [m.last_seen >= seen[0], m.first_seen < seen[1]]
    return select(m.fingerprint, func.count()).where(*conditions).group_by(m.fingerprint)


def _distinct_sessions(start: datetime, end: datetime) -> ScalarSelect[int]:
    """Distinct sessions of the group of the outer ``error_group_totals`` row with events in
    ``[start, end)`` (0 when empty): one range of the group index. One group per subquery:
    PostgreSQL aggregates a range without hashing or sorting all groups' rows together (half the
    CPU)."""
    e = BackendEvent
    sessions = select(func.count(func.distinct(e.session_id)))
    return sessions.where(*_group_events_in(start, end)).scalar_subquery()


def _ms(t: datetime, *, floor: bool) -> int:
    """Milliseconds from the session ids' epoch to ``t``, rounded down or up."""
    ms = MILLISECOND
    return (t - EPOCH) // ms if floor else -((EPOCH - t) // ms)


def _group_events_in(start: datetime, end: datetime) -> list[ColumnElement[bool]]:
    """The events of the outer ``error_group_totals`` row's group in ``[start, end)`` (a range of
    the group index)."""
    e, t = BackendEvent, ErrorGroupTotal
    same_group = [e.project_id == t.project_id, e.fingerprint == t.fingerprint]
    return [*same_group, e.timestamp >= start, e.timestamp < end]
