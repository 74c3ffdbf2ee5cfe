"""Which provider records an integration's health already counted, so re-reads count nothing."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime

from sqlalchemy import ColumnElement, Delete, delete
from sqlalchemy.dialects import sqlite
from sqlalchemy.orm import Session

from replaylink.store.models import CountedRecord

SCANNED = "scanned"
"""The pseudo-outcome of a record itself: first counted when none of its outcomes is stored."""

Key = tuple[str, str]
"""(record key, outcome)"""


def first_counts(db: Session, integration_id: int, seen: Iterable[tuple[str, str, datetime]]) -> set[Key]:
    """Remember each ``(record key, outcome, record time)``; return the pairs never counted before
    (``(key, "scanned")`` is stored too, so it comes back only for a record never seen before).

    One ``INSERT ... ON CONFLICT DO NOTHING RETURNING`` of the batch's pairs: what it returns is what
    was new. The conflict check walks the primary key whatever the table's statistics say (a read by
    record keys first was planned as a scan of the integration's rows while the table was young).
    """
    pairs: dict[Key, datetime] = {}
    for key, outcome, at in seen:
        pairs.setdefault((key, outcome), at)
    if not pairs:
        return set()
    if db.get_bind().dialect.name == "postgresql":
        params = {
            "integration_id": integration_id,
            "keys": [key for key, _ in pairs],
            "outcomes": [outcome for _, outcome in pairs],
            "ats": [at.astimezone(UTC) for at in pairs.values()],
        }
        return {(key, outcome) for key, outcome in db.connection().exec_driver_sql(_PG_INSERT, params)}
    statement = (
        sqlite.insert(CountedRecord)
        .on_conflict_do_nothing()
        .returning(CountedRecord.record_key, CountedRecord.outcome)
    )
    rows = [
        {"integration_id": integration_id, "record_key": key, "outcome": outcome, "record_at": at}
        for (key, outcome), at in pairs.items()
    ]
    return {(key, outcome) for key, outcome in db.execute(statement, rows)}


_PG_INSERT = (
    f"INSERT INTO {CountedRecord.__tablename__} (integration_id, record_key, outcome, record_at) "
    "SELECT %(integration_id)s, batch.* FROM unnest(%(keys)s::varchar[], %(outcomes)s::varchar[], "
    "%(ats)s::timestamptz[]) AS batch ON CONFLICT DO NOTHING RETURNING record_key, outcome"
)
"""One statement and three arrays per page (an executemany with RETURNING cost more in Python
than the whole import did)."""


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
