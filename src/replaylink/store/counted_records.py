"""Which provider records an integration's health already counted, so re-reads count nothing."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from datetime import datetime
from typing import cast

from sqlalchemy import ColumnElement, Connection, Delete, Table, delete
from sqlalchemy.orm import Session

from replaylink.store.events import bound_values, json_text
from replaylink.store.models import CountedRecord
from replaylink.store.sqlite_inserts import insert_sliced
from replaylink.store.types import driver_processor

SCANNED = "scanned"
"""The pseudo-outcome of a record itself: first counted when none of its outcomes was stored."""

Key = tuple[str, str]
"""(record key, outcome)"""


def first_counts(db: Session, integration_id: int, seen: Iterable[tuple[str, str, datetime]]) -> set[Key]:
    """Remember each ``(record key, outcome, record time)``; return the pairs never counted before,
    and ``(key, "scanned")`` for each record none of whose outcomes was stored before.

    One ``INSERT ... ON CONFLICT DO NOTHING RETURNING`` of the batch's pairs: what it returns is what
    was new (the conflict check walks the primary key whatever the table's statistics say). A record
    is new when none of its pairs was stored before the insert: PostgreSQL asks that in the same
    statement (its sub-query sees the table as it was before), SQLite by reading the stored pairs of
    the records that had a new one (none when a window is read again). Rows ``scanned`` stored by
    earlier versions count as a stored pair, so they keep their records counted.
    """
    pairs: dict[Key, datetime] = {}
    for key, outcome, at in seen:
        pairs.setdefault((key, outcome), at)
    if not pairs:
        return set()
    connection = db.connection()
    if connection.dialect.name == "postgresql":
        batch = json_text([(key, outcome, at) for (key, outcome), at in pairs.items()])
        params = {"integration_id": integration_id, "pairs": batch}
        new = connection.exec_driver_sql(_PG_INSERT, params).scalar_one()
        first = {(key, outcome) for key, outcome, _ in new}
        return first | {(key, SCANNED) for key, _, stored in new if not stored}
    first = _sqlite_insert(connection, integration_id, pairs)
    return first | {(key, SCANNED) for key in _sqlite_only_new(connection, integration_id, first)}


def _sqlite_insert(connection: Connection, integration_id: int, pairs: dict[Key, datetime]) -> set[Key]:
    ats = list(pairs.values())
    if (process := driver_processor(_RECORD_AT.type, connection.dialect)) is not None:
        ats = bound_values(ats, process)  # a record's pairs share its time: formatted once
    values = [
        value
        for ((key, outcome), at) in zip(pairs, ats, strict=True)
        for value in (integration_id, key, outcome, at)
    ]
    results = insert_sliced(connection, _SQLITE_HEAD, 4, values, _SQLITE_TAIL)
    return {cast(Key, tuple(row)) for result in results for row in result}


def _sqlite_only_new(connection: Connection, integration_id: int, first: set[Key]) -> set[str]:
    """The records of ``first`` whose every stored pair is in ``first`` (none was stored before)."""
    added = Counter(key for key, _ in first)
    if not added:
        return set()
    stored = connection.exec_driver_sql(_SQLITE_STORED, (integration_id, json_text(list(added))))
    return {key for key, count in stored if count == added[key]}


_RECORD_AT = cast(Table, CountedRecord.__table__).c.record_at
_SQLITE_HEAD = f"INSERT INTO {CountedRecord.__tablename__} (integration_id, record_key, outcome, record_at)"
_SQLITE_TAIL = "ON CONFLICT DO NOTHING RETURNING record_key, outcome"
_SQLITE_STORED = (
    f"SELECT record_key, count(*) FROM {CountedRecord.__tablename__} WHERE integration_id = ? "
    "AND record_key IN (SELECT value FROM json_each(?)) GROUP BY record_key"
)
_PG_INSERT = (
    f"WITH inserted AS (INSERT INTO {CountedRecord.__tablename__} "
    "(integration_id, record_key, outcome, record_at) "
    "SELECT %(integration_id)s, pair->>0, pair->>1, (pair->>2)::timestamptz "
    "FROM jsonb_array_elements(%(pairs)s::jsonb) AS pair "
    "ON CONFLICT DO NOTHING RETURNING record_key, outcome) "
    "SELECT coalesce(json_agg(json_build_array(record_key, outcome, EXISTS ("
    f"SELECT FROM {CountedRecord.__tablename__} stored "
    "WHERE stored.integration_id = %(integration_id)s AND stored.record_key = inserted.record_key"
    "))), '[]') FROM inserted"
)
"""One statement per page: the pairs go as one JSON text (msgspec) and come back as one, each new
pair with whether its record had a pair stored before the statement (an array per column went
through psycopg's list dumper in Python, a row per new pair through the result machinery)."""


def forget_before(db: Session, integration_id: int, before: datetime) -> None:
    """Drop what no window will read again (records older than ``before``)."""
    db.execute(forgetting(integration_id, before))


def forgetting(
    integration_id: int | ColumnElement[int], before: datetime | ColumnElement[datetime]
) -> Delete:
    """The statement of :func:`forget_before` (the importer runs it inside its chunk's UPDATE on
    PostgreSQL)."""
    return delete(CountedRecord).where(
        CountedRecord.integration_id == integration_id, CountedRecord.record_at < before
    )
