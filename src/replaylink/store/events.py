"""Backend events: their row type, idempotent batch insert, and the session windows correlation needs."""

from __future__ import annotations

import functools
import itertools
import json
import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, TypedDict, cast

import msgspec
from sqlalchemy import JSON, Column, Dialect, Table, select
from sqlalchemy.dialects import postgresql
from sqlalchemy.orm import Session

from replaylink.store.models import BackendEvent, RecordedSession
from replaylink.store.sqlite_inserts import insert_sliced
from replaylink.store.types import driver_processor
from replaylink.store.value_lists import INTEGERS, STRINGS, one_of

BATCH = 500
TABLE = cast(Table, BackendEvent.__table__)
UNIQUE_KEY = ["integration_id", "provider_record_id", "session_id"]
_COLUMNS = [column for column in TABLE.c if column.name != "id" and column.computed is None]
_JSON_COLUMNS = {column.name for column in _COLUMNS if isinstance(column.type, JSON)}
_JSON_ENCODER = msgspec.json.Encoder()


class EventFields(TypedDict):
    """What a provider record gives a backend event (bounded to the column sizes)."""

    provider_record_id: str
    timestamp: datetime
    level: str
    title: str
    message: str
    exception_type: str | None
    service: str | None
    host: str | None
    logger: str | None
    stack: list[dict[str, Any]] | None
    link: str | None
    attributes: dict[str, Any] | None
    fingerprint: str


class EventRow(EventFields):
    """One ``backend_events`` row to insert: the record's fields and where it belongs."""

    project_id: int
    session_id: int
    integration_id: int | None
    provider: str
    imported_at: datetime


@dataclass(frozen=True, slots=True)
class SessionWindow:
    """What correlation needs to know of a session."""

    project_id: int
    started_at: datetime
    ends_at: datetime
    """When its token expires (the end of the session's lifetime)."""


def insert_events(db: Session, rows: Sequence[EventRow]) -> int:
    """Insert rows, skipping any already stored (same integration, record id and session).

    Returns how many were new. PostgreSQL takes each batch as one ``INSERT ... SELECT unnest(...)``
    with one array per column (one short statement, prepared once). SQLite takes multi-row
    ``INSERT ... VALUES (...), (...) ON CONFLICT DO NOTHING`` statements of power-of-two sizes
    (so a few cached statements serve every batch), over values the column types' own bind
    processors made, counting new rows by the driver's row count (triggers' rows not included).
    """
    if not rows:
        return 0
    if db.get_bind().dialect.name == "postgresql":
        return _insert_postgresql(db, rows)
    return _insert_sqlite(db, rows)


def _insert_sqlite(db: Session, rows: Sequence[EventRow]) -> int:
    """Multi-row statements rather than an executemany of one row per statement: FTS5 writes out
    what its trigger indexed at the end of every statement, and that per-row flush was 40 % of the
    pipeline's CPU on SQLite."""
    connection = db.connection()
    values = list(itertools.chain.from_iterable(zip(*_column_values(connection.dialect, rows), strict=True)))
    results = insert_sliced(connection, _SQLITE_HEAD, len(_COLUMNS), values, _SQLITE_TAIL)
    return sum(result.rowcount for result in results)


_NAMES = ", ".join(f'"{column.name}"' for column in _COLUMNS)
_SQLITE_HEAD = f"INSERT INTO {BackendEvent.__tablename__} ({_NAMES})"
_SQLITE_TAIL = f"ON CONFLICT ({', '.join(UNIQUE_KEY)}) DO NOTHING"


def _column_values(dialect: Dialect, rows: Sequence[EventRow]) -> list[list[Any]]:
    """Each column's values (in ``_COLUMNS`` order) as the driver takes them: through the column
    type's bind processor, JSON columns through ``json_text``. Built column by column (a list
    comprehension per column, not a Python step per value)."""
    columns: list[list[Any]] = []
    for column in _COLUMNS:
        name = column.name
        values = [row.get(name) for row in rows]
        if name in _JSON_COLUMNS:
            values = bound_values(values, json_text, keep_none=False)
        elif (process := driver_processor(column.type, dialect)) is not None:
            values = bound_values(values, process)
        columns.append(values)
    return columns


_UNSET = object()


def bound_values(values: list[Any], process: Callable[[Any], Any], *, keep_none: bool = True) -> list[Any]:
    """``process`` of each value; a value that is the previous one (``imported_at``, the
    attributes of a record naming two sessions) is processed once. ``keep_none``: None stays
    None (SQL NULL)."""
    out: list[Any] = []
    append = out.append
    last: Any = _UNSET
    done: Any = None
    for value in values:
        if value is not last:
            last = value
            done = None if value is None and keep_none else process(value)
        append(done)
    return out


def _base_type(column: Column[Any]) -> str:
    """The column's PostgreSQL type without its length (VARCHAR, not VARCHAR(n)): an over-long
    value fails like a plain insert would. JSON columns travel as text."""
    if column.name in _JSON_COLUMNS:
        return "text"
    return re.sub(r"[(].*[)]", "", column.type.compile(dialect=postgresql.dialect()))


@functools.cache
def _unnest_insert() -> str:
    """One statement over one binary array per column; it answers how many rows were new (not a
    row per new event). JSON columns travel as text arrays (encoded by ``json_text``) and are cast
    to jsonb by the server: psycopg's per-value Jsonb dumper (the standard library's encoder) was
    the biggest client-side cost of the PostgreSQL insert."""
    arrays = ", ".join(f"%({column.name})b::{_base_type(column)}[]" for column in _COLUMNS)
    selected = ", ".join(
        f'"{column.name}"::jsonb' if column.name in _JSON_COLUMNS else f'"{column.name}"'
        for column in _COLUMNS
    )
    return (
        f"WITH inserted AS (INSERT INTO {BackendEvent.__tablename__} ({_NAMES}) SELECT {selected} "
        f"FROM unnest({arrays}) AS batch({_NAMES}) "
        f"ON CONFLICT ({', '.join(UNIQUE_KEY)}) DO NOTHING RETURNING 1) SELECT count(*) FROM inserted"
    )


def _insert_postgresql(db: Session, rows: Sequence[EventRow]) -> int:
    """Arrays rather than one JSON text of the batch: JSON halved the client's CPU for the insert
    (6 ms a page instead of 12) but added as much to the server's (its parse), which is the part
    that does not scale out with more importers."""
    connection = db.connection()
    inserted = 0
    for start in range(0, len(rows), BATCH):
        columns = _column_values(connection.dialect, rows[start : start + BATCH])
        params = {column.name: values for column, values in zip(_COLUMNS, columns, strict=True)}
        inserted += connection.exec_driver_sql(_unnest_insert(), params).scalar_one()
    return inserted


def json_text(value: Any) -> str:
    """A JSON column's text; None is JSON null, as SQLAlchemy's JSON type stores it. msgspec
    (several times the standard library's speed), or ``json.dumps`` for what msgspec refuses
    (strings with lone surrogates, which provider JSON can carry; datetimes there as ``str``)."""
    try:
        return _JSON_ENCODER.encode(value).decode()
    except (TypeError, ValueError):  # UnicodeEncodeError is a ValueError
        return json.dumps(value, default=str)


def session_windows(db: Session, session_ids: Iterable[int]) -> dict[int, SessionWindow]:
    """The windows of those of ``session_ids`` that exist: one statement, the ids as one array
    (``value_lists.one_of``; an expanding ``IN`` bound a parameter per id)."""
    ids = list(set(session_ids))
    if not ids:
        return {}
    query = select(
        RecordedSession.id,
        RecordedSession.project_id,
        RecordedSession.started_at,
        RecordedSession.token_expires_at,
    ).where(one_of(db.get_bind().dialect.name, RecordedSession.id, ids, INTEGERS))
    return {
        sid: SessionWindow(project_id, started, ends) for sid, project_id, started, ends in db.execute(query)
    }


def without_detached_copies(
    db: Session, rows: Sequence[EventRow], *, project_id: int, provider: str, before: datetime
) -> Sequence[EventRow]:
    """``rows`` less those timed before ``before`` whose record is already stored for the same
    session as an event of a deleted integration (kept, detached, when it was deleted without
    ``purge_events``).

    Events are unique per integration, and a detached event has none: a re-created integration's
    look-back would store every record its predecessor had imported a second time. ``before`` is
    the importing integration's creation: records after it were never read by a predecessor that
    was gone by then, so steady polls ask nothing. One statement over the older records' ids.
    """
    older = [row for row in rows if row["timestamp"] < before]
    if not older:
        return rows
    e = BackendEvent
    ids = list({row["provider_record_id"] for row in older})
    query = select(e.provider_record_id, e.session_id).where(
        e.integration_id.is_(None),
        e.project_id == project_id,
        e.provider == provider,
        one_of(db.get_bind().dialect.name, e.provider_record_id, ids, STRINGS),
    )
    stored = {(record_id, session_id) for record_id, session_id in db.execute(query)}
    if not stored:
        return rows
    return [row for row in rows if (row["provider_record_id"], row["session_id"]) not in stored]
