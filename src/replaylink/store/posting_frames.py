"""Error groups of a text search estimated from the events its index finds (a posting frame).

The id frame (``store.group_estimates``: SAMPLE_IDS ids spread over the table) samples every
event alike. When the words of ``q`` are common alone but rare together (``Error36 handler 2``:
each word in 2 % of events or more, together in 0.1 %), when a prefix matches few events, or when
a project or time range holds few of the matches, it finds fewer than MIN_SAMPLED matches. A
posting frame samples where the matches are: the events that the text index (FTS5 table on
SQLite, the GIN expression on PostgreSQL) gives for the rarest words of ``q``, in evenly spaced
blocks of ids. The other words and the listing's filters (project, provider, time range) are
checked on each such event; a sampled match stands for ``span / ids in the blocks`` events.

Bounded work:
- the words looked up are the rarest ones whose postings the index reads (all of them: FTS5
  merges a prefix's words, a GIN index builds the bitmap) within POSTINGS_BUDGET_US, by the
  estimates of ``text_search.WordSample`` and SCAN_US; none affordable: no posting frame;
- the blocks (BLOCKS of them over ``[low, high]``, one every ``stride`` ids, each ``width`` ids
  long) are as wide as lets about CANDIDATES of the looked-up words' events in. At most
  MAX_CANDIDATES are read, in id order; past that (the words' estimate was far off), the rest of
  the frame is not read and the part read stands for the whole span.

Exact (``exact``, not ``estimated``) when the blocks cover every id (``width == stride``: the
looked-up words are in at most CANDIDATES events) and every candidate was read: counts, distinct
sessions, first and last seen are then the matches' own, and the other words are checked with
the database's own test (``TextSearch.checked``). Estimated otherwise; on PostgreSQL the other
words are then checked in Python (``text_search.has_words``: tokenizing in the database costs
~25 us an event; the two differ in rare tokens such as ``5e5e``, which an estimate can bear).

The frame (which words, ``low``, ``high``, ``width``) travels in the cursor (kind CURSOR), so
every page of a listing ranks the same sample; a cursor's frame is checked (``check``) before
any work.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime
from typing import cast

from sqlalchemy import ColumnElement, TextClause, and_, case, func, literal, select, text
from sqlalchemy.orm import Session

from replaylink.store import keyset
from replaylink.store.models import BackendEvent
from replaylink.store.text_search import MESSAGE_CHARS, TextSearch, WordSample, has_words, word_sample

CANDIDATES = 1000
"""About how many of the looked-up words' events a posting frame reads (each a row read, 5-25 us
on SQLite 1M, more when its page is not cached: the rows differ from one ``q`` to the next)."""
MAX_CANDIDATES = 2 * CANDIDATES
"""At most this many are read (in id order), whatever the words' estimate said."""
BLOCKS = 256
"""Blocks of ids a frame's span is cut into (one range each in PostgreSQL's bitmap of ids)."""
SCAN_US = {"sqlite": 0.2, "postgresql": 0.6}
"""Microseconds per posting the index reads for a looked-up word, measured on bench.api's data:
FTS5 0.05 (one word: ``"Error32"*``, 21,000 postings in 1 ms at 1M) to 0.17 (``"2"*``, 222,000
postings of ~60,000 words, 38 ms); a GIN prefix bitmap 0.45 (``error32:*``, 102,000 postings in
43 ms at 10M) to 0.65 (``error7:*``, 250,000 in 160 ms)."""
POSTINGS_BUDGET_US = {"sqlite": 25_000.0, "postgresql": 30_000.0}
"""Words whose postings (estimated) cost more to read are not looked up: about half the p99 aimed
at for a request on SQLite (50 ms at 1M events); on PostgreSQL (100 ms at 10M) less than half, as
an estimate off by half and a slower prefix (0.7 us a posting) may cost twice as much."""
PG_BLOCK_IDS = 200_000
"""PostgreSQL: the blocks cover at most this many ids (the id index's ranges ANDed with the text
index's bitmap cost ~0.035 us an id: 634,000 ids in 22 ms at 10M), whatever fewer candidates
that leaves."""
PROBED = 5 * CANDIDATES
"""PostgreSQL: an estimate up to this many events is checked by counting (at most CANDIDATES + 1
rows read)."""
CURSOR = "gp"
"""A page of groups from a posting frame: ``(count, words, low, high, width, fingerprint)``."""


@dataclass(frozen=True)
class PostingFrame:
    """The events of the looked-up words (``words``: a bit per word of ``q``) whose ids are in
    the blocks ``[low + k * stride, low + k * stride + width)`` within ``[low, high]``."""

    words: int
    low: int
    high: int
    width: int

    @property
    def stride(self) -> int:
        return stride(self.low, self.high)

    @property
    def whole(self) -> bool:
        """The blocks cover every id of the span."""
        return self.width >= self.stride

    def looked_up(self, words: Sequence[str]) -> list[str]:
        return [word for n, word in enumerate(words) if self.words >> n & 1]

    def blocks(self) -> list[tuple[int, int]]:
        """The blocks as inclusive id ranges."""
        if self.whole:
            return [(self.low, self.high)]
        starts = range(self.low, self.high + 1, self.stride)
        return [(start, min(start + self.width - 1, self.high)) for start in starts]

    def covered(self, end: int) -> int:
        """Ids of the blocks below ``end`` (and within the span)."""
        end = min(end, self.high + 1)
        if end <= self.low:
            return 0
        full, rest = divmod(end - self.low, self.stride)
        return full * min(self.width, self.stride) + min(rest, self.width)


def stride(low: int, high: int) -> int:
    """Ids from one block's start to the next: the span cut into BLOCKS."""
    return max(1, math.ceil((high - low + 1) / BLOCKS))


@dataclass
class Matches:
    """A group's sampled matches."""

    fingerprint: str
    count: int = 0
    sessions: set[int] = field(default_factory=set)
    first: datetime | None = None
    last: datetime | None = None
    newest: tuple[datetime, int] | None = None
    """The latest match (time, id): the group's sample event."""

    def add(self, session_id: int, moment: datetime, event_id: int) -> None:
        self.count += 1
        self.sessions.add(session_id)
        self.first = moment if self.first is None else min(self.first, moment)
        self.last = moment if self.last is None else max(self.last, moment)
        self.newest = max(self.newest or (moment, event_id), (moment, event_id))


@dataclass
class Sampled:
    """What a posting frame's events hold: each group's matches, the events each sampled match
    stands for, and whether that is every match (``scale`` 1, nothing left out)."""

    groups: list[Matches]
    scale: float
    exact: bool


def _choose_words(db: Session, search: TextSearch, sample: WordSample) -> list[str]:
    """The rarest words whose postings are affordable, rarest first, while the words chosen are
    in more than CANDIDATES events (another word narrows the blocks' events no further then)."""
    scan, budget = _scan_and_budget(search.dialect)
    chosen: list[str] = []
    postings = 0.0
    for word in sorted(search.words, key=sample.events_starting):
        if chosen and sample.events_with_all(chosen) <= CANDIDATES:
            break
        postings += _postings(db, search, word, sample)
        if postings * scan > budget:
            break
        chosen.append(word)
    return chosen


def _postings(db: Session, search: TextSearch, word: str, sample: WordSample) -> float:
    """About how many postings the index reads for ``word``: the word sample's estimate, and on
    PostgreSQL at least the planner's (from the GIN expression's statistics, exact for a word in
    many events, where a sample of table pages is off by half at times: the budget is for the
    work done, ~1 ms to plan)."""
    estimate = sample.events_starting(word)
    if search.dialect != "postgresql" or estimate * SCAN_US["postgresql"] > POSTINGS_BUDGET_US["postgresql"]:
        return estimate
    query = select(BackendEvent.id).where(search.indexed([word]))
    compiled = query.compile(dialect=db.get_bind().dialect)
    plan = db.connection().exec_driver_sql(f"EXPLAIN (FORMAT JSON) {compiled}", compiled.params).scalar()
    assert plan is not None
    return max(estimate, float(plan[0]["Plan"]["Plan Rows"]))


def new_frame(db: Session, search: TextSearch, low: int, high: int) -> PostingFrame | None:
    """A posting frame over ``[low, high]`` for ``search``, or None when looking up even its
    rarest word costs more than POSTINGS_BUDGET_US."""
    sample = word_sample(db)
    chosen = _choose_words(db, search, sample)
    if not chosen:
        return None
    mask = sum(1 << search.words.index(word) for word in chosen)
    expected = max(_events_with(db, search, chosen, low, high, sample), 1.0)
    step = stride(low, high)
    if expected <= CANDIDATES:
        return PostingFrame(mask, low, high, step)
    share = CANDIDATES / expected
    if search.dialect == "postgresql":
        share = min(share, PG_BLOCK_IDS / (high - low + 1))
    return PostingFrame(mask, low, high, min(step, max(1, math.floor(step * share))))


def _events_with(
    db: Session, search: TextSearch, words: list[str], low: int, high: int, sample: WordSample
) -> float:
    """How many events in ``[low, high]`` have ``words``. SQLite counts them from the FTS5 list
    (0.05-0.2 us a posting: cheaper than the rows that a 2,000-event sample's estimate, off by
    half or twice, would read too many). PostgreSQL counting reads the heap: it estimates them,
    and counts up to CANDIDATES + 1 of them when the estimate is at most PROBED (the frame is
    then whole, hence exact, when they are few: a word the sample saw once or never is estimated
    at 2,500-5,000 events at 10M, and is often in a few hundred)."""
    if search.dialect == "postgresql":
        estimate = sample.events_with_all(words)
        if estimate > PROBED:
            return estimate
        e = BackendEvent
        first = select(e.id).where(search.indexed(words), _span(low, high)).limit(CANDIDATES + 1)
        with _without_table_scans(db):
            found = db.scalar(select(func.count()).select_from(first.subquery())) or 0
        return float(found) if found <= CANDIDATES else max(estimate, float(found))
    ids = search.index_ids(words)
    rowid = ids.selected_columns[0]
    listed = ids.where(rowid >= low, rowid <= high).subquery()
    return float(db.connection().scalar(select(func.count()).select_from(listed)) or 0)


def check(frame: PostingFrame, search: TextSearch, db: Session) -> None:
    """Raise ``keyset.InvalidCursor`` unless a cursor's frame names words of ``search`` whose
    postings are affordable (twice the budget: the word sample may have been taken again since)."""
    words = frame.looked_up(search.words)
    if not words or frame.words >> len(search.words):
        raise keyset.InvalidCursor("damaged cursor")
    sample = word_sample(db)
    scan, budget = _scan_and_budget(search.dialect)
    if sum(sample.events_starting(word) for word in words) * scan > 2 * budget:
        raise keyset.InvalidCursor("damaged cursor")
    if search.dialect == "postgresql" and not _pg_bounded(frame, sample.events_with_all(words)):
        raise keyset.InvalidCursor("damaged cursor")


def _pg_bounded(frame: PostingFrame, estimate: float) -> bool:
    """PostgreSQL reads every candidate of a frame before it sorts them: blocks of at most
    PG_BLOCK_IDS ids, or a whole frame only for words that were probed (twice: the word sample
    may have been taken again since the first page)."""
    if frame.whole:
        return estimate <= 2 * PROBED
    return frame.covered(frame.high + 1) <= PG_BLOCK_IDS + BLOCKS


def _scan_and_budget(dialect: str) -> tuple[float, float]:
    known = dialect if dialect in SCAN_US else "sqlite"
    return SCAN_US[known], POSTINGS_BUDGET_US[known]


def encode(count: int, fingerprint: str, frame: PostingFrame) -> str:
    return keyset.encode(CURSOR, count, frame.words, frame.low, frame.high, frame.width, fingerprint)


def decode(cursor: str) -> tuple[tuple[int, str], PostingFrame]:
    """A cursor of :func:`encode`: the last group's place and the frame (its words are checked
    against the search by :func:`check`). Raises ``keyset.InvalidCursor``."""
    count, words, low, high, width, fingerprint = keyset.decode(CURSOR, cursor, int, int, int, int, int, str)
    assert isinstance(count, int) and isinstance(words, int) and isinstance(low, int)
    assert isinstance(high, int) and isinstance(width, int) and isinstance(fingerprint, str)
    if words <= 0 or not 0 <= low <= high or not 1 <= width <= stride(low, high):
        raise keyset.InvalidCursor("damaged cursor")
    return (count, fingerprint), PostingFrame(words, low, high, width)


def sampled(
    db: Session, frame: PostingFrame, search: TextSearch, conditions: list[ColumnElement[bool]]
) -> Sampled:
    """The frame's events (at most MAX_CANDIDATES, in id order) checked: ``conditions`` and the
    words not looked up."""
    words = frame.looked_up(search.words)
    others = [word for word in search.words if word not in words]
    if search.dialect == "postgresql":
        rows = _postgresql_rows(db, frame, search, words, others, conditions)
    else:
        rows = _sqlite_rows(db, frame, search, words, others, conditions)
    end = frame.high + 1
    if len(rows) > MAX_CANDIDATES:
        end = rows[MAX_CANDIDATES][0]  # every candidate below it was read
        rows = rows[:MAX_CANDIDATES]
    groups: dict[str, Matches] = {}
    for event_id, fingerprint, session_id, moment, matched in rows:
        if matched:
            groups.setdefault(fingerprint, Matches(fingerprint)).add(session_id, moment, event_id)
    covered = frame.covered(end)
    span = frame.high - frame.low + 1
    exact = frame.whole and end > frame.high
    return Sampled(list(groups.values()), 1.0 if exact else span / max(covered, 1), exact)


@contextmanager
def _without_table_scans(db: Session) -> Iterator[None]:
    """PostgreSQL, while a statement runs: no table scan (the planner would rather scan and
    tokenize every event than read the text index for words in more than a few events)."""
    previous = db.scalar(select(func.current_setting("enable_seqscan")))
    db.execute(select(func.set_config("enable_seqscan", "off", True)))
    try:
        yield
    finally:
        db.execute(select(func.set_config("enable_seqscan", previous, True)))


def _span(low: int, high: int) -> ColumnElement[bool]:
    """PostgreSQL: the ids of the span, tested on the rows the text index gives (``id + 0``: a
    range over the whole table is no index's to read)."""
    return (BackendEvent.id + 0).between(low, high)


def _blocks(frame: PostingFrame) -> TextClause:
    """PostgreSQL: the id is in one of the frame's blocks (hundreds of ranges), the frame's own
    integers written into the SQL: as two bound parameters a block, binding and parsing them took
    longer than the rest of the statement's client work (about 10 ms a page)."""
    e = BackendEvent
    ranges = " OR ".join(f"{e.__tablename__}.id BETWEEN {int(a)} AND {int(b)}" for a, b in frame.blocks())
    return text(f"({ranges})")


Row = tuple[int, str, int, datetime, bool]
"""A candidate: id, fingerprint, session, time, whether it matches."""


def _sqlite_rows(
    db: Session,
    frame: PostingFrame,
    search: TextSearch,
    words: list[str],
    others: list[str],
    conditions: list[ColumnElement[bool]],
) -> list[Row]:
    """The candidates from the FTS5 list of ``words`` (no row read for those outside the
    blocks), then each candidate's row checked in the statement."""
    e = BackendEvent
    ids = search.index_ids(words)
    rowid = ids.selected_columns[0]
    ids = ids.where(rowid >= frame.low, rowid <= frame.high)
    if not frame.whole:
        ids = ids.where((rowid - frame.low) % frame.stride < frame.width)
    ordered = ids.order_by(rowid).limit(MAX_CANDIDATES + 1)
    candidates = cast(list[int], db.connection().scalars(ordered).all())
    matched = case((and_(*conditions, search.checked(others)), True), else_=False)
    query = select(e.id, e.fingerprint, e.session_id, e.timestamp, matched).where(
        search.among(e.id, candidates)
    )
    rows = db.execute(query.order_by(e.id))
    return [(event_id, group, session, moment, bool(ok)) for event_id, group, session, moment, ok in rows]


def _postgresql_rows(
    db: Session,
    frame: PostingFrame,
    search: TextSearch,
    words: list[str],
    others: list[str],
    conditions: list[ColumnElement[bool]],
) -> list[Row]:
    """The candidates from the GIN bitmap of ``words`` and the id index's ranges (the heap is read
    for them only), the filters tested in the statement; the other words there too when the frame
    is whole (the database's own test, exact), else in Python (``has_words``)."""
    e = BackendEvent
    # Not whole: a bitmap of the id index's ranges, ANDed with the text index's.
    in_blocks = _span(frame.low, frame.high) if frame.whole else _blocks(frame)
    tested = [*conditions, search.checked(others)] if frame.whole else conditions
    matched = case((and_(*tested), True), else_=False)
    text = func.substr(e.message, 1, MESSAGE_CHARS) if others and not frame.whole else literal(None)
    query = (
        select(e.id, e.fingerprint, e.session_id, e.timestamp, matched, e.title, text)
        .where(search.indexed(words), in_blocks)
        .order_by(e.id + 0)  # not along the primary key, testing the words on each event
        .limit(MAX_CANDIDATES + 1)
    )
    with _without_table_scans(db):
        found = db.execute(query).all()
    if frame.whole or not others:
        return [(event_id, group, session, moment, ok) for event_id, group, session, moment, ok, *_ in found]
    checked = json.dumps(others, ensure_ascii=False)
    return [
        (event_id, group, session, moment, ok and bool(has_words(title, message, checked)))
        for event_id, group, session, moment, ok, title, message in found
    ]
