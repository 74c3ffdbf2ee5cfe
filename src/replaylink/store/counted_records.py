"""Which provider records an integration's health already counted, so re-reads count nothing."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime

from sqlalchemy import delete
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from replaylink.store.models import CountedRecord

BATCH = 500

Key = tuple[str, str]
"""(record key, outcome)"""


def first_counts(db: Session, integration_id: int, seen: Iterable[tuple[str, str, datetime]]) -> set[Key]:
    """Remember each ``(record key, outcome, record time)``; return the pairs never counted before."""
    rows: dict[Key, datetime] = {}
    for key, outcome, at in seen:
        rows.setdefault((key, outcome), at)
    if not rows:
        return set()
    dialect = postgresql if db.get_bind().dialect.name == "postgresql" else sqlite
    values = [
        {"integration_id": integration_id, "record_key": key, "outcome": outcome, "record_at": at}
        for (key, outcome), at in rows.items()
    ]
    fresh: set[Key] = set()
    for start in range(0, len(values), BATCH):
        statement = (
            dialect.insert(CountedRecord)
            .values(values[start : start + BATCH])
            .on_conflict_do_nothing()
            .returning(CountedRecord.record_key, CountedRecord.outcome)
        )
        fresh.update((key, outcome) for key, outcome in db.execute(statement))
    return fresh


def forget_before(db: Session, integration_id: int, before: datetime) -> None:
    """Drop what no window will read again (records older than ``before``)."""
    db.execute(
        delete(CountedRecord).where(
            CountedRecord.integration_id == integration_id, CountedRecord.record_at < before
        )
    )
