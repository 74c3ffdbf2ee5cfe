"""Retention: delete sessions started before the cutoff, their backend events, cached live logs
and recordings (index rows first, then their blobs: a crash in between leaves unindexed blobs,
which the orphan sweep removes, never an index row without its blob).

Runs in batches, each in its own short transaction, so a large purge never holds a long lock
(SQLite) or a huge transaction (PostgreSQL). Events dated before the cutoff go too, whatever
their session; expired on-demand cache entries are dropped.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from sqlalchemy import delete, select
from sqlalchemy.orm import Session, sessionmaker

from replaylink.replay import index as replay_index
from replaylink.replay.store import ReplayStore
from replaylink.store import live_cache
from replaylink.store.db import transaction
from replaylink.store.models import (
    BackendEvent,
    DevtoolsEvent,
    OnDemandCache,
    Project,
    RecordedSession,
    ReplaySegment,
)

BATCH = 1000


@dataclass
class Purged:
    sessions: int = 0
    events: int = 0
    cache_entries: int = 0
    segments: int = 0
    doomed_keys: list[str] = field(default_factory=list, repr=False)
    """Blobs whose rows this batch deleted: removed once the batch commits."""


def _count(result: object) -> int:
    return int(getattr(result, "rowcount", 0) or 0)


def _purge_sessions(db: Session, project_id: int, cutoff: datetime, purged: Purged) -> bool:
    """One batch of old sessions with their events and cache entries; False when none were left."""
    ids = list(
        db.scalars(
            select(RecordedSession.id)
            .where(RecordedSession.project_id == project_id, RecordedSession.started_at < cutoff)
            .limit(BATCH)
        )
    )
    if not ids:
        return False
    purged.doomed_keys = replay_index.session_keys(db, ids)
    purged.segments += len(purged.doomed_keys)
    db.execute(delete(DevtoolsEvent).where(DevtoolsEvent.session_id.in_(ids)))
    db.execute(delete(ReplaySegment).where(ReplaySegment.session_id.in_(ids)))
    purged.events += _count(db.execute(delete(BackendEvent).where(BackendEvent.session_id.in_(ids))))
    purged.cache_entries += _count(db.execute(delete(OnDemandCache).where(OnDemandCache.session_id.in_(ids))))
    purged.sessions += _count(db.execute(delete(RecordedSession).where(RecordedSession.id.in_(ids))))
    return True


def _purge_old_events(db: Session, project_id: int, cutoff: datetime, purged: Purged) -> bool:
    ids = list(
        db.scalars(
            select(BackendEvent.id)
            .where(BackendEvent.project_id == project_id, BackendEvent.timestamp < cutoff)
            .limit(BATCH)
        )
    )
    if not ids:
        return False
    purged.events += _count(db.execute(delete(BackendEvent).where(BackendEvent.id.in_(ids))))
    return True


def purge(
    factory: sessionmaker[Session],
    retention_days: int,
    now: datetime | None = None,
    replay_store: ReplayStore | None = None,
) -> Purged:
    """Delete everything older than ``retention_days``; returns how much went.

    Without ``replay_store`` the blobs of purged recordings stay for the orphan sweep.
    """
    now = now or datetime.now(UTC)
    cutoff = now - timedelta(days=retention_days)
    purged = Purged()
    with transaction(factory) as db:
        project_ids = list(db.scalars(select(Project.id)))
    for project_id in project_ids:
        for step in (_purge_sessions, _purge_old_events):
            more = True
            while more:
                with transaction(factory) as db:
                    more = step(db, project_id, cutoff, purged)
                if purged.doomed_keys and replay_store is not None:
                    replay_store.delete(purged.doomed_keys)
                purged.doomed_keys = []
    with transaction(factory) as db:
        purged.cache_entries += live_cache.purge_expired(db, now)
    return purged
