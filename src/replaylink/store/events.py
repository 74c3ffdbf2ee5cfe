"""Backend events: their row type, idempotent batch insert, and the session windows correlation needs."""

from __future__ import annotations

import functools
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, TypedDict, cast

from sqlalchemy import JSON, Table, select
from sqlalchemy.dialects import postgresql
from sqlalchemy.orm import Session

from replaylink.store.models import BackendEvent, RecordedSession

BATCH = 500
TABLE = cast(Table, BackendEvent.__table__)
UNIQUE_KEY = ["integration_id", "provider_record_id", "session_id"]
_COLUMNS = [column for column in TABLE.c if column.name != "id" and column.computed is None]
_JSON_COLUMNS = {column.name for column in _COLUMNS if isinstance(column.type, JSON)}


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
    with one array per column (one short statement, prepared once); SQLite runs one
    ``INSERT ... ON CONFLICT DO NOTHING`` as the driver's executemany over tuples the column
    types' own bind processors made (SQLAlchemy's per-row parameter handling was a sixth of the
    pipeline's CPU), counting new rows by the driver's row count (triggers' rows not included).
    """
    if not rows:
        return 0
    if db.get_bind().dialect.name == "postgresql":
        return _insert_postgresql(db, rows)
    connection = db.connection()
    columns = _bound_columns(connection)
    tuples = []
    for row in rows:
        values = []
        for name, process, always in columns:
            value = row.get(name)
            if process is not None and (always or value is not None):
                value = process(value)
            values.append(value)
        tuples.append(tuple(values))
    result = connection.exec_driver_sql(_sqlite_insert(), tuples)
    return int(result.rowcount)


def _bound_columns(connection: Any) -> list[tuple[str, Any, bool]]:
    """(name, bind processor or None, whether None goes through it too) for each inserted column;
    JSON columns store None as JSON null, as SQLAlchemy's JSON type does."""
    dialect = connection.dialect
    return [(c.name, c.type.bind_processor(dialect), c.name in _JSON_COLUMNS) for c in _COLUMNS]


@functools.cache
def _sqlite_insert() -> str:
    names = ", ".join(f'"{column.name}"' for column in _COLUMNS)
    marks = ", ".join("?" for _ in _COLUMNS)
    return (
        f"INSERT INTO {BackendEvent.__tablename__} ({names}) VALUES ({marks}) "
        f"ON CONFLICT ({', '.join(UNIQUE_KEY)}) DO NOTHING"
    )


@functools.cache
def _unnest_insert() -> str:
    dialect = postgresql.dialect()
    arrays = ", ".join(
        # Base types (VARCHAR, not VARCHAR(n)): an over-long value fails like a plain insert would.
        f"%({column.name})b::{re.sub(r'[(].*[)]', '', column.type.compile(dialect=dialect))}[]"
        for column in _COLUMNS
    )
    names = ", ".join(f'"{column.name}"' for column in _COLUMNS)
    return (
        f"INSERT INTO {BackendEvent.__tablename__} ({names}) SELECT * FROM unnest({arrays}) "
        f"ON CONFLICT ({', '.join(UNIQUE_KEY)}) DO NOTHING RETURNING id"
    )


def _insert_postgresql(db: Session, rows: Sequence[EventRow]) -> int:
    from psycopg.types.json import Jsonb

    connection = db.connection()
    processors = {c.name: c.type.bind_processor(connection.dialect) for c in _COLUMNS}  # UTCDateTime
    inserted = 0
    for start in range(0, len(rows), BATCH):
        batch = rows[start : start + BATCH]
        params: dict[str, list[Any]] = {}
        for column in _COLUMNS:
            name = column.name
            values = [row.get(name) for row in batch]
            if name in _JSON_COLUMNS:  # None as JSON null, as SQLAlchemy's JSON type stores it
                values = [Jsonb(value) for value in values]
            elif (process := processors[name]) is not None:
                values = [None if value is None else process(value) for value in values]
            params[name] = values
        inserted += len(connection.exec_driver_sql(_unnest_insert(), params).all())
    return inserted


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
