"""Error groups of a text search with many matches, counted from a fixed sample of the events.

Counting every match of a word in most events reads them all (seconds at 1M events). When a
search's matches are not few (``TextSearch.few``), the groups are counted from a sample instead:
SAMPLE_IDS event ids spread evenly from the lowest to the highest id stored when the first page
was asked (:class:`Frame`), each read by its primary key and checked (filters and text). A sampled
event that matches stands for :attr:`Frame.stride` ids. The frame travels in the page's cursor,
so every page of one listing ranks the same sample: the order is deterministic and pages neither
skip nor repeat a group (events stored later are outside the frame).

What an estimate says (``ErrorGroup.estimated``): ``count`` is the sampled matches times the
stride; ``sessions`` the lesser of that count and the group's stored sessions (every match in a
session of its own at most); ``first_seen`` and ``last_seen`` the oldest and newest sampled match;
the sample event the last stored sampled match (no walk through a group's events for its newest
match: a group whose events seldom match would read many). A group none of whose sampled events
matches is not listed: narrow ``q`` or the time range for exact counts. The sample is of the whole
table: a project or a time range holding a small share of the events gets fewer sampled events,
hence coarser estimates.

When the id frame holds fewer than MIN_SAMPLED matches (or the word sample tells it would: the
id frame is not read then), the groups are estimated from a posting frame instead
(``store.posting_frames``): the events the text index gives for the rarest words of ``q``, the
other words and the filters checked on each; exact when that reads every such event. Neither
frame costs more than its bound: no listing counts every match of a lookup but a page after a
first page of exact counts (its cursor carries no frame), through the lookup of
``text_search.search_text(bounded=False)`` (at most ``EXACT_LOOKUP_US``), and only while the
matches are few (else the cursor is refused: start again).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy import ColumnElement, DateTime, func, select, type_coerce
from sqlalchemy.orm import Session

from replaylink.store import error_group_rollup, keyset, posting_frames
from replaylink.store.models import BackendEvent, ErrorGroupTotal
from replaylink.store.posting_frames import PostingFrame
from replaylink.store.text_search import MESSAGE_CHARS, TextSearch, has_words, word_sample

SAMPLE_IDS = 2000
"""Event ids read (by primary key) to estimate the groups of one listing."""
MIN_SAMPLED = 20
"""Fewer sampled matches are too few to estimate from: the listing samples the rarest words'
events instead (a posting frame), if reading their postings is affordable; else the id frame's
estimates stand."""
CURSOR = "ge"
"""A page of estimated groups: ``(count, low, high, size, fingerprint)``."""


@dataclass(frozen=True)
class Frame:
    """The sampled ids: ``size`` of them spread evenly over ``[low, high]``."""

    low: int
    high: int
    size: int

    @property
    def stride(self) -> float:
        """Ids each sampled id stands for."""
        return (self.high - self.low + 1) / self.size

    def ids(self) -> list[int]:
        span = self.high - self.low + 1
        return [self.low + (k * span) // self.size for k in range(self.size)]


@dataclass
class Estimate:
    """A group's figures from the sample (``count`` scaled, the others as sampled)."""

    fingerprint: str
    count: int
    sessions: int
    first_seen: datetime
    last_seen: datetime
    newest: int
    """The last stored of the sampled matches (the group's sample event; a posting frame's: the
    latest)."""
    sampled: int = 0
    """Its sampled matches."""
    exact: bool = False
    """Every match was counted (a whole posting frame): the figures are the group's own."""


def new_frame(db: Session) -> Frame | None:
    """The frame over the ids stored now; None when there are at most SAMPLE_IDS of them (then
    counting every match reads no more than a sample would)."""
    e = BackendEvent
    # Apart: SQLite reads min() or max() alone from the end of the table, not both together.
    low, high = db.scalar(select(func.min(e.id))), db.scalar(select(func.max(e.id)))
    if low is None or high is None or high - low + 1 <= SAMPLE_IDS:
        return None
    return Frame(low, high, SAMPLE_IDS)


def too_few_expected(db: Session, search: TextSearch, frame: Frame) -> bool:
    """Whether the word sample (``text_search.WordSample``) tells that fewer than MIN_SAMPLED of
    the frame's ids have the words of ``search`` (False without a sample of events)."""
    sample = word_sample(db)
    if not sample.sampled or not sample.events:
        return False
    return sample.events_with_all(search.words) / sample.events * frame.size < MIN_SAMPLED


def encode(count: int, fingerprint: str, frame: Frame) -> str:
    return keyset.encode(CURSOR, count, frame.low, frame.high, frame.size, fingerprint)


Aggregate = tuple[str, int, datetime, datetime, int]
"""A group's sampled matches: fingerprint, how many, oldest and newest time, last stored id."""


def _sampled_matches(db: Session, search: TextSearch, sampled: list[ColumnElement[bool]]) -> list[Aggregate]:
    """Each group's sampled events that meet ``sampled`` and ``search``. SQLite checks and counts
    them in the statement (``text_search.has_words`` is registered on its connections).
    PostgreSQL's check tokenizes each event (~40 us: 80 ms for a sample): their text is read
    instead, checked here by ``has_words`` (~3 us; PostgreSQL's parser splits a few runs of
    letters and digits otherwise, which an estimate can bear) and counted."""
    e = BackendEvent
    if db.get_bind().dialect.name != "postgresql":
        query = (
            select(e.fingerprint, func.count(), func.min(e.timestamp), func.max(e.timestamp), func.max(e.id))
            .where(*sampled, search.checked())
            .group_by(e.fingerprint)
        )
        return [
            (fingerprint, n, first, last, newest) for fingerprint, n, first, last, newest in db.execute(query)
        ]
    words = json.dumps(search.words, ensure_ascii=False)
    text = func.substr(e.message, 1, MESSAGE_CHARS)
    # Thousands of rows: Core rows, times as the driver gives them (aware, in the connection's
    # zone; compared as instants), made UTC for the groups' first and last only.
    moment_column = type_coerce(e.timestamp, DateTime(timezone=True))
    groups: dict[str, Aggregate] = {}
    rows = db.connection().execute(select(e.fingerprint, moment_column, e.id, e.title, text).where(*sampled))
    for fingerprint, moment, event_id, title, message in rows.all():
        if not has_words(title, message, words):
            continue
        _, n, first, last, newest = groups.get(fingerprint, (fingerprint, 0, moment, moment, event_id))
        groups[fingerprint] = (
            fingerprint,
            n + 1,
            min(first, moment),
            max(last, moment),
            max(newest, event_id),
        )
    return [
        (fp, n, first.astimezone(UTC), last.astimezone(UTC), newest)
        for fp, n, first, last, newest in groups.values()
    ]


def decode(cursor: str) -> tuple[tuple[int, str], Frame]:
    """A cursor of :func:`encode`: the last group's place and the frame. Raises
    ``keyset.InvalidCursor`` (a cursor is untrusted: the frame's size is the one handed out)."""
    count, low, high, size, fingerprint = keyset.decode(CURSOR, cursor, int, int, int, int, str)
    assert isinstance(count, int) and isinstance(low, int) and isinstance(high, int)
    assert isinstance(size, int) and isinstance(fingerprint, str)
    if size != SAMPLE_IDS or not 0 <= low <= high - size + 1:
        raise keyset.InvalidCursor("damaged cursor")
    return (count, fingerprint), Frame(low, high, size)


def estimated_groups(
    db: Session,
    project_id: int,
    frame: Frame | PostingFrame,
    conditions: list[ColumnElement[bool]],
    search: TextSearch,
    *,
    limit: int,
    position: tuple[int, str] | None,
) -> tuple[list[Estimate], int]:
    """Up to ``limit`` groups after ``position``, most frequent first by estimate, from the
    frame's events that meet ``conditions`` and ``search``; and how many sampled events match."""
    e, t = BackendEvent, ErrorGroupTotal
    if isinstance(frame, PostingFrame):
        found = _from_postings(db, frame, search, conditions)
    else:
        sampled = [search.among(e.id, frame.ids()), *conditions]
        found = [
            Estimate(fingerprint, max(n, round(n * frame.stride)), 0, first, last, newest, n)
            for fingerprint, n, first, last, newest in _sampled_matches(db, search, sampled)
        ]
    ranked = sorted(
        (g for g in found if error_group_rollup.follows(g.count, g.fingerprint, position)),
        key=lambda g: (-g.count, g.fingerprint),
    )[:limit]
    estimated = [g for g in ranked if not g.exact]
    if estimated:
        stored = select(t.fingerprint, t.sessions).where(
            t.project_id == project_id, t.fingerprint.in_([g.fingerprint for g in estimated])
        )
        sessions = {fingerprint: n for fingerprint, n in db.execute(stored)}
        for group in estimated:
            group.sessions = min(group.count, sessions.get(group.fingerprint, group.count))
    return ranked, sum(g.sampled for g in found)


def _from_postings(
    db: Session, frame: PostingFrame, search: TextSearch, conditions: list[ColumnElement[bool]]
) -> list[Estimate]:
    """The groups of a posting frame's matches (exact ones with their distinct sessions)."""
    found = posting_frames.sampled(db, frame, search, conditions)
    estimates = []
    for g in found.groups:
        assert g.first is not None and g.last is not None and g.newest is not None
        count = g.count if found.exact else max(g.count, round(g.count * found.scale))
        sessions = len(g.sessions) if found.exact else 0
        figures = (count, sessions, g.first, g.last, g.newest[1])
        estimates.append(Estimate(g.fingerprint, *figures, sampled=g.count, exact=found.exact))
    return estimates
