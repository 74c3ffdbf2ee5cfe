"""Backend events: their row type, idempotent batch insert, and the session windows correlation needs."""

from __future__ import annotations

import functools
import json
import re
import sqlite3
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, TypedDict, cast

import msgspec
from sqlalchemy import JSON, Table, select
from sqlalchemy.dialects import postgresql
from sqlalchemy.orm import Session

from replaylink.store.models import BackendEvent, RecordedSession

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
    """One statement per power-of-two slice of the rows, rather than an executemany of one row per
    statement: FTS5 writes out what its trigger indexed at the end of every statement, and that
    per-row flush was 40 % of the pipeline's CPU on SQLite."""
    connection = db.connection()
    values = _sqlite_values(connection, rows)
    width = len(_COLUMNS)
    most = _sqlite_slice_rows(connection.connection.dbapi_connection)
    inserted = done = 0
    while done < len(rows):
        size = min(most, 1 << ((len(rows) - done).bit_length() - 1))
        chunk = values[done * width : (done + size) * width]
        inserted += connection.exec_driver_sql(_sqlite_insert(size), tuple(chunk)).rowcount
        done += size
    return inserted


def _sqlite_values(connection: Any, rows: Sequence[EventRow]) -> list[Any]:
    """Every row's column values in statement order, flat, through the columns' bind processors
    (JSON columns through ``json_text``). A value identical to the previous row's (``imported_at``,
    the ids, the attributes of a record naming two sessions) is processed once."""
    values: list[Any] = []
    append = values.append
    columns: list[tuple[str, Any, bool]] = [
        (c.name, json_text, True)
        if c.name in _JSON_COLUMNS
        else (c.name, c.type.bind_processor(connection.dialect), False)
        for c in _COLUMNS
    ]
    last: dict[str, tuple[Any, Any]] = {}
    for row in rows:
        for name, process, always in columns:
            value = row.get(name)
            if process is not None and (always or value is not None):
                seen = last.get(name)
                if seen is not None and seen[0] is value:
                    value = seen[1]
                else:
                    processed = process(value)
                    last[name] = (value, processed)
                    value = processed
            append(value)
    return values


def _sqlite_slice_rows(dbapi_connection: Any) -> int:
    """The most rows one statement may carry: a power of two, at most 512, within the
    connection's limit on bound parameters (32,766 since SQLite 3.32, 999 before)."""
    limit = int(dbapi_connection.getlimit(sqlite3.SQLITE_LIMIT_VARIABLE_NUMBER))
    rows = max(1, min(512, limit // len(_COLUMNS)))
    return 1 << (rows.bit_length() - 1)


@functools.lru_cache(maxsize=16)
def _sqlite_insert(rows: int) -> str:
    names = ", ".join(f'"{column.name}"' for column in _COLUMNS)
    marks = "(" + ", ".join("?" for _ in _COLUMNS) + ")"
    return (
        f"INSERT INTO {BackendEvent.__tablename__} ({names}) VALUES {', '.join([marks] * rows)} "
        f"ON CONFLICT ({', '.join(UNIQUE_KEY)}) DO NOTHING"
    )


@functools.cache
def _unnest_insert() -> str:
    """JSON columns travel as text arrays (encoded by ``json_text``) and are cast to jsonb by
    the server: psycopg's per-value Jsonb dumper (the standard library's encoder) was the
    biggest client-side cost of the PostgreSQL insert."""
    dialect = postgresql.dialect()
    arrays = ", ".join(
        # Base types (VARCHAR, not VARCHAR(n)): an over-long value fails like a plain insert would.
        f"%({column.name})b::"
        + (
            "text"
            if column.name in _JSON_COLUMNS
            else re.sub(r"[(].*[)]", "", column.type.compile(dialect=dialect))
        )
        + "[]"
        for column in _COLUMNS
    )
    names = ", ".join(f'"{column.name}"' for column in _COLUMNS)
    selected = ", ".join(
        f'"{column.name}"::jsonb' if column.name in _JSON_COLUMNS else f'"{column.name}"'
        for column in _COLUMNS
    )
    return (
        f"INSERT INTO {BackendEvent.__tablename__} ({names}) SELECT {selected} "
        f"FROM unnest({arrays}) AS batch({names}) "
        f"ON CONFLICT ({', '.join(UNIQUE_KEY)}) DO NOTHING RETURNING id"
    )


def _insert_postgresql(db: Session, rows: Sequence[EventRow]) -> int:
    connection = db.connection()
    processors = {c.name: c.type.bind_processor(connection.dialect) for c in _COLUMNS}  # UTCDateTime
    inserted = 0
    for start in range(0, len(rows), BATCH):
        batch = rows[start : start + BATCH]
        params: dict[str, list[Any]] = {}
        for column in _COLUMNS:
            name = column.name
            values = [row.get(name) for row in batch]
            if name in _JSON_COLUMNS:
                values = [json_text(value) for value in values]
            elif (process := processors[name]) is not None:
                values = [None if value is None else process(value) for value in values]
            params[name] = values
        inserted += len(connection.exec_driver_sql(_unnest_insert(), params).all())
    return inserted


def json_text(value: Any) -> str:
    """A JSON column's text; None is JSON null, as SQLAlchemy's JSON type stores it. msgspec
    (several times the standard library's speed), or ``json.dumps`` for what msgspec refuses
    (strings with lone surrogates, which provider JSON can carry)."""
    try:
        return _JSON_ENCODER.encode(value).decode()
    except (TypeError, ValueError):  # UnicodeEncodeError is a ValueError
        return json.dumps(value)


def session_windows(db: Session, session_ids: Iterable[int]) -> dict[int, SessionWindow]:
    ids = list(set(session_ids))
    found: dict[int, SessionWindow] = {}
    for start in range(0, len(ids), 1000):
        query = select(
            RecordedSession.id,
            RecordedSession.project_id,
            RecordedSession.started_at,
            RecordedSession.token_expires_at,
        ).where(RecordedSession.id.in_(ids[start : start + 1000]))
        for sid, project_id, started_at, ends_at in db.execute(query):
            found[sid] = SessionWindow(project_id, started_at, ends_at)
    return found
