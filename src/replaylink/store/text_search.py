"""Text search (``q``) over backend events: which words a request looks up through the index, and
which it checks on each event it reads.

Migration 0005 indexes each event's title and the first MESSAGE_CHARS characters of its message,
split into words at whitespace and ASCII punctuation (lower-cased, accents kept): a GIN index on
PG_DOCUMENT (PostgreSQL), the FTS5 table FTS_TABLE kept by triggers (SQLite). Neither is in the
models. Keep these constants in step with that migration.

An event matches when its text has, for every word of ``q``, a word starting with it. A prefix
costs what its postings cost: the index reads every posting of every word starting with it (FTS5
merges them, a GIN partial match builds their bitmap), 0.2-1 s for a word in every event. So a
request plans per word (:func:`search_text`):

- a *rare* word (few events have a word starting with it) is looked up through the index;
- a *common* word is checked on the events the request reads (:meth:`TextSearch.checked`):
  PostgreSQL tests a substring first and tokenizes only the events that have it, SQLite calls
  :func:`has_words` (registered on every connection by ``store.db``), a few microseconds each.

With a rare word, the request looks up the rare words' events, checks the common words on them,
and works from their ids when at most FEW_MATCHES remain. Otherwise (only common words, or more
matches) it walks sessions or groups newest first, checking each event it reads, and stops when
its page is full: many matches mean a short walk.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any

from sqlalchemy import (
    BigInteger,
    ColumnElement,
    Integer,
    Select,
    and_,
    any_,
    bindparam,
    case,
    column,
    false,
    func,
    literal,
    literal_column,
    select,
    table,
    text,
    true,
)
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.orm import Session

from replaylink.store.models import BackendEvent

MESSAGE_CHARS = 4096
FTS_TABLE = "backend_events_fts"
PG_TEXT_INDEX = "ix_backend_events_text"
FEW_MATCHES = 5000
"""Up to this many matching events (any project), a text search starts from their ids."""
COMMON_EVENTS = FEW_MATCHES
"""A word starting more than this many events' words is checked per event, not looked up."""
SQLITE_FUNCTION = "replaylink_has_words"
_WORD = re.compile(r"[^\W_]+")  # runs of letters and digits (Unicode)

PG_SEARCH_WORK_MEM = "64MB"
"""Per search request: keeps the GIN index's bitmaps exact (no "recheck") up to about 10M events."""
PG_TEXT = f"backend_events.title || ' ' || left(backend_events.message, {MESSAGE_CHARS})"
PG_DOCUMENT = f"to_tsvector('simple'::regconfig, regexp_replace({PG_TEXT}, '[!-/:-@[-`{{-~]+', ' ', 'g'))"
"""The indexed expression, as in the index (or the planner ignores the index): ASCII punctuation
becomes spaces (the parser would keep ``app.handlers`` or ``a@b.c`` whole), then the ``simple``
parser and dictionary make lower-cased words."""
_FTS = table(FTS_TABLE, column("rowid", Integer))


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


# ----------------------------------------------------------------------------- SQLite's check


@lru_cache(maxsize=64)
def _starts_of(words_json: str) -> list[str]:
    return [word.lower() for word in json.loads(words_json)]


def has_words(title: str | None, message: str | None, words_json: str) -> int:
    """1 if every word of ``words_json`` (a JSON list) starts a word of the indexed text, else 0.

    The text is what migration 0005 indexes (title, the message's first MESSAGE_CHARS characters),
    split as :func:`search_words` splits ``q`` and lower-cased: the FTS5 ``unicode61`` tokens of
    that text, for letters and digits.
    """
    starts = _starts_of(words_json)
    tokens = _WORD.findall(f"{title or ''} {(message or '')[:MESSAGE_CHARS]}".lower())
    return int(all(any(token.startswith(start) for token in tokens) for start in starts))


def register_sqlite_functions(dbapi_connection: Any) -> None:
    """Make :func:`has_words` callable from SQL on a new SQLite connection."""
    dbapi_connection.create_function(SQLITE_FUNCTION, 3, has_words, deterministic=True)


# ----------------------------------------------------------------------------- expressions


def _sql_string(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


def _fts_expression(words: Sequence[str], *, prefix: bool = True) -> str:
    """An FTS5 query with every word quoted (a phrase), as a prefix (``*``) unless ``prefix`` is False."""
    star = "*" if prefix else ""
    return " AND ".join('"' + word.replace('"', '""') + '"' + star for word in words)


def _fts_matches(words: Sequence[str], *, prefix: bool = True) -> Select[tuple[int]]:
    """SQLite: rowids of the events with every word."""
    expression = _fts_expression(words, prefix=prefix)
    return select(_FTS.c.rowid).where(literal_column(FTS_TABLE).bool_op("MATCH")(expression))


def _pg_matches(words: Sequence[str]) -> ColumnElement[bool]:
    """PostgreSQL: the indexed expression against every word as a prefix (``:*``)."""
    query = " & ".join(f"{_sql_string(word)}:*" for word in words)
    tsquery = func.to_tsquery(literal_column("'simple'::regconfig"), query)
    return literal_column(PG_DOCUMENT).bool_op("@@")(tsquery)


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
    """The words in too many events to look up: checked on each event read instead."""

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
            lowered = func.lower(literal_column(PG_TEXT))
            substrings = [func.strpos(lowered, func.lower(literal(word))) > 0 for word in words]
            return case((and_(*substrings), _pg_matches(words).is_(true())), else_=false()) == true()
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
            if self.dialect == "postgresql":
                ids = bindparam("text_ids", self.ids, type_=ARRAY(BigInteger), unique=True)
                return BackendEvent.id == any_(ids)
            listed = func.json_each(json.dumps(self.ids)).table_valued("value")
            return BackendEvent.id.in_(select(listed.c.value))
        return self.indexed() if index_first else self.checked()

    @contextmanager
    def all_matches(self, db: Session) -> Iterator[ColumnElement[bool]]:
        """The condition for a statement that reads every match (an aggregate), while it runs.

        Few matches: their ids. Many: SQLite checks each event the statement reads against the
        FTS5 list (``id + 0``: the list is built once, not probed per id). PostgreSQL reads them
        through the index with table scans off: its planner would rather scan and tokenize every
        event again (~20 us each: 100 s on 10M events) than read the index's exact bitmap (14 s
        when all 10M match).
        """
        if self.few or not self.words:
            yield self.condition()
            return
        if self.dialect != "postgresql":
            yield (BackendEvent.id + literal_column("0")).in_(_fts_matches(self.words))
            return
        previous = db.scalar(select(func.current_setting("enable_seqscan")))
        db.execute(select(func.set_config("enable_seqscan", "off", True)))
        try:
            yield self.indexed()
        finally:
            db.execute(select(func.set_config("enable_seqscan", previous, True)))


# ----------------------------------------------------------------------------- planning


def _common_sqlite(db: Session, words: Sequence[str]) -> list[str]:
    """The words that are, as whole words, in more than COMMON_EVENTS events (FTS5 streams a
    whole word's postings, so each probe reads at most that many)."""
    common = []
    for word in words:
        probe = _fts_matches([word], prefix=False).limit(COMMON_EVENTS + 1).subquery()
        if (db.scalar(select(func.count()).select_from(probe)) or 0) > COMMON_EVENTS:
            common.append(word)
    return common


_PG_STATISTICS = text(
    "SELECT s.most_common_elems::text::text[], s.most_common_elem_freqs, c.reltuples "
    "FROM pg_stats s JOIN pg_class c ON c.relname = 'backend_events' "
    "AND c.relnamespace = to_regnamespace(s.schemaname) "
    "WHERE s.schemaname = current_schema() AND s.tablename = :index"
)


def _common_postgres(db: Session, words: Sequence[str]) -> list[str]:
    """The words that start words of more than COMMON_EVENTS events, by the planner's statistics
    of the indexed expression (``ANALYZE``: its most common words and their shares of events).

    A word starting no common word is rare (the least common of them is in about 0.02 % of the
    events). Without statistics (a new or small table) every word is rare.
    """
    row = db.execute(_PG_STATISTICS, {"index": PG_TEXT_INDEX}).first()
    if row is None or not row[0] or row[2] is None or row[2] <= 0:
        return []
    elements, shares, events = row[0], row[1], float(row[2])
    common = []
    for word in words:
        start = word.lower()
        share = sum(f for element, f in zip(elements, shares, strict=False) if element.startswith(start))
        if min(share, 1.0) * events > COMMON_EVENTS:
            common.append(word)
    return common


def search_text(db: Session, text: str) -> TextSearch:
    """Prepare ``text`` for one request: which words are common, and the ids of its matches if few."""
    dialect = db.get_bind().dialect.name
    words = search_words(text)
    if not words:
        return TextSearch(dialect, words)
    if dialect == "postgresql":
        # Verifying an event means tokenizing it again (~20 us): keep the index's bitmaps exact
        # (no page-level "recheck") for the rest of this transaction.
        db.execute(select(func.set_config("work_mem", PG_SEARCH_WORK_MEM, True)))  # SET LOCAL
        common = _common_postgres(db, words)
    else:
        common = _common_sqlite(db, words)
    search = TextSearch(dialect, words, common=common)
    if not search.rare:
        return search  # a walk: every word is in many events
    probe = select(BackendEvent.id).where(search.indexed(search.rare), search.checked(common))
    found = list(db.scalars(probe.limit(FEW_MATCHES + 1)))
    return TextSearch(dialect, words, found, common) if len(found) <= FEW_MATCHES else search
