"""Which provider records an integration's health already counted, so re-reads count nothing."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime

from sqlalchemy import delete, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from replaylink.store.models import CountedRecord

SCANNED = "scanned"
"""The pseudo-outcome of a record itself: first counted when none of its outcomes is stored."""

BATCH = 500
Key = tuple[str, str]
"""(record key, outcome)"""


def first_counts(db: Session, integration_id: int, seen: Iterable[tuple[str, str, datetime]]) -> set[Key]:
    """Remember each ``(record key, outcome, record time)``; return the pairs never counted before
    (``(key, "scanned")`` when the record itself is new).

    One read of what is stored for the batch's records (per 500 keys; the statement is cached),
    then one executemany of the new pairs: a re-read overlap, the common case, writes nothing.
    """
    pairs: dict[Key, datetime] = {}
    for key, outcome, at in seen:
        pairs.setdefault((key, outcome), at)
    if not pairs:
        return set()
    keys = sorted({key for key, _ in pairs})
    stored: set[Key] = set()
    for start in range(0, len(keys), BATCH):
        of_batch = select(CountedRecord.record_key, CountedRecord.outcome).where(
            CountedRecord.integration_id == integration_id,
            CountedRecord.record_key.in_(keys[start : start + BATCH]),
        )
        stored.update((key, outcome) for key, outcome in db.execute(of_batch))
    known_records = {key for key, _ in stored}
    fresh = {pair for pair in pairs if pair not in stored and pair[1] != SCANNED}
    fresh |= {pair for pair in pairs if pair[1] == SCANNED and pair[0] not in known_records}
    new_rows = [
        {
            "integration_id": integration_id,
            "record_key": key,
            "outcome": outcome,
            "record_at": pairs[key, outcome],
        }
        for key, outcome in fresh
        if outcome != SCANNED
    ]
    if new_rows:
        dialect = postgresql if db.get_bind().dialect.name == "postgresql" else sqlite
        db.execute(dialect.insert(CountedRecord).on_conflict_do_nothing(), new_rows)
    return fresh


def forget_before(db: Session, integration_id: int, before: datetime) -> None:
    """Drop what no window will read again (records older than ``before``)."""
    db.execute(
        delete(CountedRecord).where(
            CountedRecord.integration_id == integration_id, CountedRecord.record_at < before
        )
    )
