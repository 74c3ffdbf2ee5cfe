"""The orphan sweep: delete blobs no index row names (a write killed between blob and row, a
batch refused after its blob was written, a retention run stopped midway, leftover temp files).

Only blobs older than the grace period go: a blob is written before its row commits, so a young
unindexed blob may belong to a batch still being stored.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from sqlalchemy.orm import Session, sessionmaker

from replaylink.replay import index
from replaylink.replay.store import ReplayStore, StoredKey
from replaylink.store.db import transaction

PAGE = 500


@dataclass
class Swept:
    scanned: int = 0
    deleted: int = 0


def _pages(keys: Iterator[StoredKey], size: int) -> Iterator[list[StoredKey]]:
    page: list[StoredKey] = []
    for key in keys:
        page.append(key)
        if len(page) >= size:
            yield page
            page = []
    if page:
        yield page


def sweep(
    factory: sessionmaker[Session], store: ReplayStore, grace: timedelta, now: datetime | None = None
) -> Swept:
    """Delete the store's unindexed blobs older than ``grace``; returns how many were looked at and went."""
    cutoff = (now or datetime.now(UTC)) - grace
    swept = Swept()
    for page in _pages(store.list(), PAGE):
        swept.scanned += len(page)
        old = [item.key for item in page if item.modified_at < cutoff]
        if not old:
            continue
        with transaction(factory) as db:
            indexed = index.indexed_keys(db, old)
        orphans = [key for key in old if key not in indexed]
        if orphans:
            store.delete(orphans)
            swept.deleted += len(orphans)
    return swept
