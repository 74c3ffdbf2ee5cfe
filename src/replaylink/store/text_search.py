"""Text search (``q``) over backend events: which words a request looks up through the index, and
which it checks on each event it reads.

Migration 0005 indexes each event's title and the first MESSAGE_CHARS characters of its message,
split into words at whitespace and ASCII punctuation (lower-cased, accents kept): a GIN index on
PG_DOCUMENT (PostgreSQL), the FTS5 table FTS_TABLE kept by triggers (SQLite). Neither is in the
models. Keep these constants in step with that migration.

An event matches when its text has, for every word of ``q``, a word starting with it. A prefix
costs what its postings cost: the index reads every posting of every word starting with it (FTS5
merges them, a GIN partial match builds their bitmap), 0.2-1 s for a word in every event. So each
request plans (:func:`search_text`) from estimates of how many events have each word, taken from
a sample of the stored words (:class:`WordSample`):

- the rarest words are looked up through the index while that costs less than checking the
  events they leave (:func:`lookup_words`); the others are checked on the events found
  (:meth:`TextSearch.checked`): PostgreSQL tests a substring first and tokenizes only the events
  that have it, SQLite calls :func:`has_words` (registered on every connection by ``store.db``),
  a few microseconds each. Up to FEW_MATCHES events found: the request works from their ids.
- words in many events (together) are not looked up: the request walks sessions or groups newest
  first, checking each event it reads, and stops when its page is full (many matches, short walk).
- words common alone but rare together (SQLite): the walk tests the rare word's list from the index
  on the walked index's rowid (:func:`filter_words`), reading only that word's events.

Estimates of several words together come from the sampled events that have them all (words of one
title go together). A stale sample is taken again in a background thread.
The estimates only choose the plan: every plan gives the same rows.
"""

from __future__ import annotations

import json
import logging
import random
import re
import threading
import time
from bisect import bisect_left
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from functools import lru_cache
from itertools import accumulate
from typing import Any

from sqlalchemy import (
    ColumnElement,
    Engine,
    Integer,
    Select,
    and_,
    case,
    column,
    false,
    func,
    literal,
    literal_column,
    select,
    table,
    true,
)
from sqlalchemy.orm import InstrumentedAttribute, Session, aliased

from replaylink.store import value_lists
from replaylink.store.models import BackendEvent

MESSAGE_CHARS = 4096
FTS_TABLE = "backend_events_fts"
PG_TEXT_INDEX = "ix_backend_events_text"
FEW_MATCHES = 5000
"""Up to this many matching events (any project), a text search starts from their ids."""
SAMPLE_EVENTS = 2000
"""Events read (at random) to estimate how many events have each word."""
SAMPLE_SECONDS = 1800.0
WALK_EVENTS_PER_PAGE = 100
"""A walk reads about this many events per page over the share of events that match."""
DRIVING_SHARE = 0.1
"""SQLite, reading every match: from a word's events (by id) if it is in at most this share."""
FILTER_POSTINGS = 50_000
"""A walk tests words through their list from the index (:func:`filter_words`) only when they
have at most this many postings (estimated): each statement of the walk builds the list (one word
of 20,000-50,000 postings: 2-14 ms at 1M on SQLite; a one-digit prefix of 200,000: 25-235 ms)."""
LOOKUP_BUDGET_US = 25_000.0
"""A lookup estimated to cost more (postings read, candidates checked) is not done: the request
walks instead, within its own budget (the session list stops and says how far it searched;
error groups are counted from a sample, ``store.group_estimates``)."""

EXACT_LOOKUP_US = 4 * LOOKUP_BUDGET_US
"""The most an unbounded lookup (``search_text(bounded=False)``) is estimated to cost: past it,
the search is not :attr:`TextSearch.few` whatever its matches (a cursor a client made up cannot
make a request read every posting of a word in every event: seconds at 1M)."""


@dataclass(frozen=True)
class Costs:
    """Microseconds per event, measured on bench.api's data (2 vCPUs)."""

    lookup: float
    """Looking a word up: per posting of the words starting with it (FTS5 merge, GIN bitmap)."""
    check: float
    """Reading an event found and checking the other words on it (:meth:`TextSearch.checked`)."""
    walk: float
    """Reading an event in a walk and checking every word (most fail at once on PostgreSQL)."""
    probe: float | None = None
    """An event in a walk tested against the looked-up words' list from the walked index alone
    (SQLite: its rowid; the row is read only for a candidate); None: not a plan (PostgreSQL)."""


COSTS = {
    "sqlite": Costs(lookup=1.2, check=8.0, walk=8.0, probe=0.4),
    "postgresql": Costs(lookup=0.3, check=25.0, walk=3.0),
}


def _costs(dialect: str) -> Costs:
    """The cost model of ``dialect`` (SQLite's for any other)."""
    return COSTS.get(dialect, COSTS["sqlite"])


SQLITE_FUNCTION = "replaylink_has_words"
_WORD = re.compile(r"[^\W_]+")  # runs of letters and digits (Unicode)
_PG_NUMBER = re.compile(r"[0-9]+[eE][0-9]+")
"""What PostgreSQL's default parser reads as a number (scientific notation) at a word's start."""

PG_SEARCH_WORK_MEM = "64MB"
"""Per search request: keeps the GIN index's bitmaps exact (no "recheck") up to about 10M events."""
PG_TEXT = f"backend_events.title || ' ' || left(backend_events.message, {MESSAGE_CHARS})"
PG_DOCUMENT = f"to_tsvector('simple'::regconfig, regexp_replace({PG_TEXT}, '[!-/:-@[-`{{-~]+', ' ', 'g'))"
"""The indexed expression, as in the index (or the planner ignores the index): ASCII punctuation
becomes spaces (the parser would keep ``app.handlers`` or ``a@b.c`` whole), then the ``simple``
parser and dictionary make lower-cased words."""
_FTS = table(FTS_TABLE, column("rowid", Integer))


def search_words(text: str) -> list[str]:
    """The words of a ``q``: runs of letters and digits (distinct, in order); the rest separates them."""
    return list(dict.fromkeys(_WORD.findall(text)))


# ----------------------------------------------------------------------------- SQLite's check


def _tokens(title: str | None, message: str | None) -> list[str]:
    """The words of an event's indexed text, lower-cased, as FTS5 ``unicode61`` splits letters and
    digits (and :func:`search_words` splits ``q``)."""
    return _WORD.findall(_indexed_text(title, message))


def _indexed_text(title: str | None, message: str | None) -> str:
    return f"{title or ''} {(message or '')[:MESSAGE_CHARS]}".lower()


@lru_cache(maxsize=64)
def _lowered(words_json: str) -> list[str]:
    return [word.lower() for word in json.loads(words_json)]


def _starts_a_word(text: str, start: str) -> bool:
    """Whether ``start`` is in ``text`` where no letter or digit precedes it (as a word's start)."""
    at = text.find(start)
    while at > 0 and text[at - 1].isalnum():
        at = text.find(start, at + 1)
    return at >= 0


def has_words(title: str | None, message: str | None, words_json: str) -> int:
    """1 if every word of ``words_json`` (a JSON list) starts a word of the event's indexed text
    (title, the message's first MESSAGE_CHARS characters; :func:`_tokens`), else 0."""
    text = _indexed_text(title, message)
    return int(all(_starts_a_word(text, start) for start in _lowered(words_json)))


def register_sqlite_functions(dbapi_connection: Any) -> None:
    """Make :func:`has_words` callable from SQL on a new SQLite connection."""
    dbapi_connection.create_function(SQLITE_FUNCTION, 3, has_words, deterministic=True)


# ----------------------------------------------------------------------------- expressions


def _sql_string(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


def _fts_matches(words: Sequence[str]) -> Select[tuple[int]]:
    """SQLite: rowids of the events with every word (each one quoted: a phrase, then ``*``)."""
    expression = " AND ".join('"' + word.replace('"', '""') + '"*' for word in words)
    return select(_FTS.c.rowid).where(literal_column(FTS_TABLE).bool_op("MATCH")(expression))


def _pg_number_start(word: str) -> str | None:
    """The number PostgreSQL's parser reads at the start of ``word`` when it reads the word as
    several tokens (``4e5e``: the number ``4e5``, then ``e``); None when it reads one token."""
    number = _PG_NUMBER.match(word)
    return number.group() if number and number.end() < len(word) else None


def _pg_query(words: Sequence[str], whole: Sequence[bool] | None = None) -> ColumnElement[Any]:
    """Every one of ``words`` as a prefix (``:*``), or as a whole lexeme where ``whole`` says."""
    whole = whole or [False] * len(words)
    query = " & ".join(
        _sql_string(word) + ("" if exact else ":*") for word, exact in zip(words, whole, strict=True)
    )
    return func.to_tsquery(literal_column("'simple'::regconfig"), query)


def _pg_matches(words: Sequence[str]) -> ColumnElement[bool]:
    """PostgreSQL: the indexed expression against every word as a prefix (``:*``).

    A word the parser splits (``4e5e`` becomes the phrase ``'4e5':* <-> 'e':*``) would make the
    index read every posting of its last part (``e``: most of the index, a second at 10M). The
    index is asked instead for the number it starts with, as a whole lexeme (a text word starting
    with ``4e5e`` makes exactly the token ``4e5``), and the events that have it are checked: the
    word as a substring, then the whole query (``IS TRUE``: not through the index)."""
    document: ColumnElement[Any] = literal_column(PG_DOCUMENT)
    numbers = {word: number for word in words if (number := _pg_number_start(word))}
    if not numbers:
        return document.bool_op("@@")(_pg_query(words))
    looked_up = _pg_query([numbers.get(word, word) for word in words], [word in numbers for word in words])
    whole_query = document.bool_op("@@")(_pg_query(words))
    return and_(document.bool_op("@@")(looked_up), _pg_substrings_then(list(numbers), whole_query))


def _pg_substrings_then(words: Sequence[str], test: ColumnElement[bool]) -> ColumnElement[bool]:
    """PostgreSQL, on each event read: every one of ``words`` as a substring of the indexed text
    (necessary: a word of the text is a substring of it), then ``test`` for the events that pass
    (``IS TRUE``, so that no index lookup replaces the check)."""
    lowered = func.lower(literal_column(PG_TEXT))
    substrings = [func.strpos(lowered, func.lower(literal(word))) > 0 for word in words]
    return case((and_(*substrings), test.is_(true())), else_=false()) == true()


@dataclass(frozen=True)
class TextSearch:
    """A ``q`` ready for one request's statements (:func:`search_text`).

    Every word is quoted: user text never becomes FTS5 or tsquery syntax (``NEAR``, ``OR``, ``*``,
    ``:``, ``-``, quotes...). No words: nothing matches.
    """

    dialect: str
    words: list[str]
    ids: list[int] | None = None
    """When at most ``FEW_MATCHES`` events match: their ids, looked up once through the index."""
    common: list[str] = field(default_factory=list)
    """The words not looked up through the index (:attr:`rare` are): checked on the events read."""
    session_ids: list[int] = field(default_factory=list)
    """With ``ids``: their events' sessions (distinct)."""
    walk_list: list[str] = field(default_factory=list)
    """Words a walk along sessions tests through their list from the index (:func:`filter_words`)."""

    @property
    def few(self) -> bool:
        """Few events match: statements should start from their ids."""
        return self.ids is not None

    @property
    def rare(self) -> list[str]:
        """The words looked up through the index."""
        return [word for word in self.words if word not in self.common]

    def indexed(self, words: Sequence[str] | None = None) -> ColumnElement[bool]:
        """Events with every one of ``words`` (default: all), looked up through the index."""
        words = self.words if words is None else words
        if self.dialect == "postgresql":
            return _pg_matches(words)
        return BackendEvent.id.in_(_fts_matches(words))

    def index_ids(self, words: Sequence[str]) -> Select[tuple[int]]:
        """SQLite: the ids (FTS5 rowids) of the events with every one of ``words``, from the index."""
        return _fts_matches(words)

    def checked(self, words: Sequence[str] | None = None) -> ColumnElement[bool]:
        """Events with every one of ``words`` (default: all), checked on each event read.

        PostgreSQL: a substring test of each word (necessary: a word of the text is a substring
        of it), then the indexed expression's tokens for the events that pass (``IS TRUE``, so
        that no index lookup replaces the check). SQLite: :func:`has_words`.
        """
        words = self.words if words is None else words
        if not words:
            return true()
        if self.dialect == "postgresql":
            return _pg_substrings_then(words, _pg_matches(words))
        words_json = json.dumps(list(words), ensure_ascii=False)
        return getattr(func, SQLITE_FUNCTION)(BackendEvent.title, BackendEvent.message, words_json) == 1

    def condition(self, *, index_first: bool = True) -> ColumnElement[bool]:
        """The test for one ``BackendEvent``.

        With few matches, ``id`` among their ids. Otherwise every word through the index
        (``index_first``), or every word checked on each event read: for a statement that walks
        another index and stops early (newest sessions, the newest event of a group), which
        should not look every match up first.
        """
        if not self.words or self.ids == []:
            return false()
        if self.ids is not None:
            return self.among(BackendEvent.id, self.ids)
        return self.indexed() if index_first else self.checked()

    def walked(self) -> ColumnElement[bool]:
        """The test for one ``BackendEvent`` of a walk along sessions (newest first) that stops
        when its page is full: :meth:`condition` without the index first, or the :attr:`walk_list`
        words through their list (:meth:`listed`) and the others checked on their events."""
        if not self.walk_list or self.few:
            return self.condition(index_first=False)
        return and_(
            self.listed(self.walk_list), self.checked([w for w in self.words if w not in self.walk_list])
        )

    def listed(self, words: Sequence[str]) -> ColumnElement[bool]:
        """Events with every one of ``words`` through the index, for a statement that walks another
        index: SQLite tests ``id + 0`` against the list the index gives (built once per statement,
        tested on the walked index's rowid before any row is read)."""
        if self.dialect == "postgresql":
            return _pg_matches(words)
        return (BackendEvent.id + literal_column("0")).in_(_fts_matches(words))

    def among(self, column: InstrumentedAttribute[int], values: list[int]) -> ColumnElement[bool]:
        """``column`` in ``values``, as one parameter (an array; a JSON list on SQLite)."""
        return value_lists.one_of(self.dialect, column, values, value_lists.INTEGERS)

    @contextmanager
    def all_matches(self, db: Session) -> Iterator[ColumnElement[bool]]:
        """The condition for a statement that reads every match (an aggregate), while it runs.

        Few matches: their ids. Many, on SQLite: the events of the :attr:`rare` words (if any)
        read by id, the other words checked on each; else each event the statement reads checked
        against the FTS5 list of every word (``id + 0``: the list is built once, not probed per
        id). PostgreSQL reads them through the index with table scans off: its planner would
        rather scan and tokenize every event again (~20 us each: 100 s on 10M events) than read
        the index's exact bitmap (14 s when all 10M match).
        """
        if self.few or not self.words:
            yield self.condition()
            return
        if self.dialect != "postgresql" and self.rare:
            yield and_(self.indexed(self.rare), self.checked(self.common))
            return
        if self.dialect != "postgresql":
            yield self.listed(self.words)
            return
        previous = db.scalar(select(func.current_setting("enable_seqscan")))
        db.execute(select(func.set_config("enable_seqscan", "off", True)))
        try:
            yield self.indexed()
        finally:
            db.execute(select(func.set_config("enable_seqscan", previous, True)))


# ----------------------------------------------------------------------------- planning


@dataclass(frozen=True)
class WordSample:
    """The words of a random sample of events (the whole table): how many events have each."""

    events: int
    """About how many events are stored (the span of their ids)."""
    sampled: int
    words: list[str]
    """Every distinct word of the sample, sorted."""
    running: list[int]
    """``running[i]``: sampled events having ``words[j]``, summed over ``j < i``."""
    taken_at: float
    holders: list[int] = field(default_factory=list)
    """``holders[i]``: the sampled events having ``words[i]``, as a bit set (bit ``k``: event ``k``)."""

    @classmethod
    def of(cls, texts: Sequence[tuple[str | None, str | None]], events: int) -> WordSample:
        bits: dict[str, int] = {}
        for k, (title, message) in enumerate(texts):
            bit = 1 << k
            for word in set(_tokens(title, message)):
                bits[word] = bits.get(word, 0) | bit
        words = sorted(bits)
        holders = [bits[word] for word in words]
        running = [0, *accumulate(holder.bit_count() for holder in holders)]
        return cls(events, len(texts), words, running, time.monotonic(), holders)

    def _range(self, word: str) -> tuple[int, int]:
        start = word.lower()
        return bisect_left(self.words, start), bisect_left(self.words, start + "\U0010ffff")

    def events_starting(self, word: str) -> float:
        """About how many events have a word starting with ``word`` (sums its words' events)."""
        if not self.sampled:
            return 0.0
        first, last = self._range(word)
        share = (self.running[last] - self.running[first]) / self.sampled
        return min(share, 1.0) * self.events

    def events_with_all(self, words: Sequence[str]) -> float:
        """About how many events have, for every one of ``words``, a word starting with it (the
        sampled events that do; half of one when none does). Unlike a product of
        :meth:`events_starting`, words that go together (a group's title) count once."""
        if not self.sampled:
            return 0.0
        together = (1 << self.sampled) - 1
        for word in words:
            first, last = self._range(word)
            having = 0
            for holder in self.holders[first:last]:
                having |= holder
            together &= having
        return max(together.bit_count(), 0.5) / self.sampled * self.events


_samples: dict[str, WordSample] = {}
_refreshing: set[str] = set()
_refreshing_lock = threading.Lock()
log = logging.getLogger(__name__)


def word_sample(db: Session) -> WordSample:
    """This database's :class:`WordSample`. Older than SAMPLE_SECONDS, it is taken again in a
    background thread (requests meanwhile use it as it is); a request takes it itself only when
    there is none yet, or when it is older than twice SAMPLE_SECONDS."""
    engine = db.get_bind().engine
    key = str(engine.url)
    sample = _samples.get(key)
    age = time.monotonic() - sample.taken_at if sample is not None else 0.0
    if sample is None or age > 2 * SAMPLE_SECONDS:
        sample = _samples[key] = _take_sample(db)
    elif age > SAMPLE_SECONDS:
        _refresh_in_background(engine, key)
    return sample


def _refresh_in_background(engine: Engine, key: str) -> None:
    with _refreshing_lock:
        if key in _refreshing:
            return
        _refreshing.add(key)

    def refresh() -> None:
        try:
            with Session(engine) as db:
                _samples[key] = _take_sample(db)
        except Exception:  # the next request tries again; the old sample serves meanwhile
            log.warning("text search: taking a word sample failed", exc_info=True)
        finally:
            with _refreshing_lock:
                _refreshing.discard(key)

    threading.Thread(target=refresh, name="replaylink-word-sample", daemon=True).start()


def _take_sample(db: Session) -> WordSample:
    """About SAMPLE_EVENTS events at random: PostgreSQL reads a random share of the table's pages
    (``TABLESAMPLE SYSTEM``: a few hundred page reads instead of one per event), SQLite reads
    random ids."""
    e = BackendEvent
    low, high = db.execute(select(func.min(e.id), func.max(e.id))).one()
    if low is None:
        return WordSample.of([], 0)
    events = high - low + 1
    if db.get_bind().dialect.name == "postgresql":
        share = min(100.0, 100.0 * SAMPLE_EVENTS / events)
        source = aliased(e, e.__table__.tablesample(func.system(share)))
        query = select(source.title, func.substr(source.message, 1, MESSAGE_CHARS))
    else:
        picked = random.Random().choices(range(low, high + 1), k=SAMPLE_EVENTS)
        listed = func.json_each(json.dumps(picked)).table_valued("value")
        query = select(e.title, func.substr(e.message, 1, MESSAGE_CHARS)).where(
            e.id.in_(select(listed.c.value))
        )
    rows = db.execute(query).all()
    return WordSample.of([(title, message) for title, message in rows], events)


Joint = Callable[[Sequence[str]], float]
"""About how many events have every one of some words (:meth:`WordSample.events_with_all`)."""


def lookup_words(
    dialect: str, estimates: dict[str, float], events: int, joint: Joint | None = None
) -> list[str] | None:
    """The words to look up through the index (the others are checked on the events found), or
    None for a walk; from each word's estimated events (:meth:`WordSample.events_starting`) and
    of several together (``joint``; default: the words assumed independent).

    Words are added rarest first while that costs less: looking a word up reads its postings,
    and each event it leaves is read and checked. A walk reads about WALK_EVENTS_PER_PAGE events
    per page over the share that matches. More than FEW_MATCHES estimated matches always walk:
    a page comes before the end of the first few thousand.
    """
    return _best_lookup(_costs(dialect), estimates, events, joint)[0]


def filter_words(
    dialect: str, estimates: dict[str, float], events: int, joint: Joint | None = None
) -> list[str]:
    """The words a walk tests through their list from the index (SQLite: the rowid in the walked
    index, so that only their candidates are read and checked), when that costs less than the
    plan of :func:`lookup_words`; else none.

    Words common alone but rare together (``Error36 handler 2``): the rare word's list is cheap
    to read, and the walk to a page is long but reads index entries, not events.
    """
    costs = _costs(dialect)
    if costs.probe is None or not events:
        return []
    joint = joint or _independent(estimates, events)
    best_cost = _best_lookup(costs, estimates, events, joint)[1]
    walked = _walked(joint(list(estimates)), events)
    best: list[str] = []
    chosen: list[str] = []
    postings = 0.0
    for word in sorted(estimates, key=estimates.__getitem__):
        chosen.append(word)
        postings += estimates[word]
        cost = postings * costs.lookup + walked * (costs.probe + joint(chosen) / events * costs.check)
        if cost < best_cost:
            best, best_cost = list(chosen), cost
    return best


def lookup_cost(
    dialect: str, estimates: dict[str, float], lookup: Sequence[str], joint: Joint | None = None
) -> float:
    """The estimated cost (microseconds) of reading the postings of ``lookup`` from the index, and
    with ``joint``, of checking the events they leave too (as :func:`lookup_words` counts it)."""
    costs = _costs(dialect)
    postings = sum(estimates[word] for word in lookup)
    return postings * costs.lookup + (joint(list(lookup)) * costs.check if joint else 0.0)


def _independent(estimates: dict[str, float], events: int) -> Joint:
    def joint(words: Sequence[str]) -> float:
        together = float(events)
        for word in words:
            together *= min(estimates[word] / events, 1.0) if events else 0.0
        return together

    return joint


def _walked(together: float, events: int) -> float:
    """About how many events a walk reads to fill a page when ``together`` of ``events`` match."""
    share = together / events if events else 0.0
    return min(float(events), WALK_EVENTS_PER_PAGE / share if share else float(events))


def _best_lookup(
    costs: Costs, estimates: dict[str, float], events: int, joint: Joint | None
) -> tuple[list[str] | None, float]:
    """:func:`lookup_words`'s plan (None: a walk) and its estimated cost in microseconds."""
    joint = joint or _independent(estimates, events)
    together = joint(list(estimates))
    walk_cost = costs.walk * _walked(together, events)
    if together > FEW_MATCHES:
        return None, walk_cost
    plan, cost = _cheapest_lookup(costs, estimates, joint)
    return (plan, cost) if cost <= walk_cost else (None, walk_cost)


def _cheapest_lookup(costs: Costs, estimates: dict[str, float], joint: Joint) -> tuple[list[str], float]:
    """The rarest words whose lookup (and the check of the events they leave) costs least."""
    best: list[str] = []
    best_cost = float("inf")
    chosen: list[str] = []
    postings = 0.0
    for word in sorted(estimates, key=estimates.__getitem__):
        chosen.append(word)
        postings += estimates[word]
        cost = postings * costs.lookup + joint(chosen) * costs.check
        if cost <= best_cost:
            best, best_cost = list(chosen), cost
    return best, best_cost


def _few_by_probe(
    db: Session, sample: WordSample, estimates: dict[str, float], words: list[str], lookup: list[str]
) -> TextSearch | None:
    """The matches, when a lookup estimated over the budget is so only because the word sample
    saw its rarest word at most once (an estimate of one sampled event's share: 5,000 events at
    10M for a word often in a few hundred): its events are read, at most as many as the budget
    checks (``LOOKUP_BUDGET_US / Costs.check``), each checked for the other words. None when
    there are more (the request walks), or when the postings alone cost more than the budget."""
    dialect = db.get_bind().dialect.name
    costs = _costs(dialect)
    once = 1.5 * sample.events / max(sample.sampled, 1)
    if (
        min(estimates[word] for word in lookup) > once
        or lookup_cost(dialect, estimates, lookup) > LOOKUP_BUDGET_US
    ):
        return None
    most = int(LOOKUP_BUDGET_US / costs.check)
    common = [word for word in words if word not in lookup]
    search = TextSearch(dialect, words, common=common)
    e = BackendEvent
    matched = case((search.checked(common), True), else_=False)
    candidates = select(e.id, e.session_id, matched).where(search.indexed(lookup)).limit(most + 1)
    rows = db.execute(candidates).all()
    if len(rows) > most:
        return None
    return _few(dialect, words, common, [(event_id, session_id) for event_id, session_id, ok in rows if ok])


def _few(dialect: str, words: list[str], common: list[str], found: Sequence[tuple[int, int]]) -> TextSearch:
    """A search of few matches: ``found``'s event ids and their sessions (distinct, in order)."""
    sessions = list(dict.fromkeys(session_id for _, session_id in found))
    return TextSearch(dialect, words, [event_id for event_id, _ in found], common, sessions)


def search_text(db: Session, text: str, *, bounded: bool = True, probe: bool = True) -> TextSearch:
    """Prepare ``text`` for one request: which words to look up (:func:`lookup_words`), which to
    check, and the ids of its matches if at most FEW_MATCHES. The estimates only pick the plan:
    every plan gives the same answer. ``bounded``: no lookup estimated over LOOKUP_BUDGET_US (a
    walk instead); False: a lookup in any case, the cheapest, unless it is estimated over
    EXACT_LOOKUP_US (for a caller that needs every match counted when there are few; then not
    :attr:`TextSearch.few`). ``probe``: a bounded lookup over the budget only because the word
    sample saw its rarest word once is tried within the budget (:func:`_few_by_probe`): for the
    session list, whose walk would take many requests to a page; error groups bound such searches
    with their posting frames instead (``store.posting_frames``).
    """
    dialect = db.get_bind().dialect.name
    words = search_words(text)
    if not words:
        return TextSearch(dialect, words)
    if dialect == "postgresql":
        # Verifying an event means tokenizing it again (~20 us): keep the index's bitmaps exact
        # (no page-level "recheck") for the rest of this transaction.
        db.execute(select(func.set_config("work_mem", PG_SEARCH_WORK_MEM, True)))  # SET LOCAL
    sample = word_sample(db)
    estimates = {word: sample.events_starting(word) for word in words}
    joint = sample.events_with_all
    filtered = filter_words(dialect, estimates, sample.events, joint)
    if sum(estimates[word] for word in filtered) > FILTER_POSTINGS:
        filtered = []  # bounded work: each stretch of the walk builds the list again
    lookup = None if filtered else lookup_words(dialect, estimates, sample.events, joint)
    if not bounded and lookup is None:
        costs = _costs(dialect)
        cheapest, cost = _cheapest_lookup(costs, estimates, joint)
        if cost > EXACT_LOOKUP_US:
            return TextSearch(dialect, words)  # not few: the caller does not count every match
        filtered, lookup = [], cheapest
    # Every word looked up: the index's postings are the work (at most FEW_MATCHES + 1 rows read);
    # else each event they leave is read and checked too.
    checking = joint if lookup is not None and len(lookup) < len(words) else None
    if (
        bounded
        and lookup is not None
        and lookup_cost(dialect, estimates, lookup, checking) > LOOKUP_BUDGET_US
    ):
        few = _few_by_probe(db, sample, estimates, words, lookup) if probe else None
        if few is not None:
            return few
        # Bounded work: a walk within the request's budget instead, testing the rarest word
        # through its list if that is short (much cheaper per walked event than checking each).
        lookup = None
        rarest = min(words, key=estimates.__getitem__)
        if _costs(dialect).probe is not None and estimates[rarest] <= FILTER_POSTINGS:
            filtered = [rarest]
    if lookup is None:
        # A walk; a statement that reads every match starts from the rarest word if it is rare enough.
        rarest = min(words, key=estimates.__getitem__)
        rare = estimates[rarest] <= sample.events * DRIVING_SHARE
        common = [word for word in words if not rare or word != rarest]
        return TextSearch(dialect, words, common=common, walk_list=filtered)
    common = [word for word in words if word not in lookup]
    search = TextSearch(dialect, words, common=common)
    matching = select(BackendEvent.id, BackendEvent.session_id).where(
        search.indexed(lookup), search.checked(common)
    )
    found = db.execute(matching.limit(FEW_MATCHES + 1)).all()
    if len(found) > FEW_MATCHES:
        return search
    return _few(dialect, words, common, [(event_id, session_id) for event_id, session_id in found])
