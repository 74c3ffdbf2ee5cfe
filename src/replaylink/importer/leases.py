"""Leases: one worker polls an integration at a time; an expired lease is taken over.

Claiming selects due rows (``FOR UPDATE SKIP LOCKED`` on PostgreSQL; ignored by SQLite) and
then takes each with a conditional update on its lease version, which is atomic on both.
Every later write of the poll names the version it claimed, so a worker whose lease was
taken over cannot commit.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import or_, select, update
from sqlalchemy.orm import Session, sessionmaker

from replaylink.store.models import Integration


class LeaseLost(Exception):
    """Another worker took this integration over; this poll must not commit."""


@dataclass(frozen=True)
class Lease:
    """A claimed integration: a snapshot of what the poll needs, and the lease version."""

    integration_id: int
    version: int
    owner: str
    project_id: int
    provider: str
    name: str
    settings: dict[str, Any]
    secrets: str | None
    checkpoint: datetime | None
    poll_interval: float
    consecutive_failures: int

    @property
    def label(self) -> str:
        return f"{self.provider}/{self.name} (project {self.project_id})"


def _due(now: datetime) -> Any:
    return (
        Integration.enabled.is_(True),
        Integration.paused.is_(False),
        Integration.next_poll_at <= now,
        or_(Integration.lease_expires_at.is_(None), Integration.lease_expires_at < now),
    )


def claim_due(
    sessions: sessionmaker[Session], owner: str, now: datetime, limit: int, lease_for: timedelta
) -> list[Lease]:
    """Claim up to ``limit`` due integrations for ``owner``."""
    until = now + lease_for
    with sessions() as db, db.begin():
        if db.get_bind().dialect.name == "postgresql":
            rows = _claim_locking(db, owner, now, until, limit)
        else:
            rows = _claim_conditional(db, owner, now, until, limit)
        return [_lease(row, owner) for row in rows]


def _claim_locking(db: Session, owner: str, now: datetime, until: datetime, limit: int) -> list[Integration]:
    """PostgreSQL: lock due rows, skipping those another worker is claiming right now."""
    rows = db.scalars(
        select(Integration)
        .where(*_due(now))
        .order_by(Integration.next_poll_at)
        .limit(limit)
        .with_for_update(skip_locked=True)
    ).all()
    for row in rows:
        row.lease_owner = owner
        row.lease_expires_at = until
        row.lease_version += 1
    db.flush()
    return list(rows)


def _claim_conditional(
    db: Session, owner: str, now: datetime, until: datetime, limit: int
) -> list[Integration]:
    """SQLite: one atomic conditional UPDATE (the write lock serialises claimers), then read back."""
    due_ids = select(Integration.id).where(*_due(now)).order_by(Integration.next_poll_at).limit(limit)
    db.execute(
        update(Integration)
        .where(Integration.id.in_(due_ids.scalar_subquery()), *_due(now))
        .values(lease_owner=owner, lease_expires_at=until, lease_version=Integration.lease_version + 1)
        .execution_options(synchronize_session=False)
    )
    return list(
        db.scalars(
            select(Integration).where(Integration.lease_owner == owner, Integration.lease_expires_at == until)
        )
    )


def _lease(row: Integration, owner: str) -> Lease:
    return Lease(
        integration_id=row.id,
        version=row.lease_version,
        owner=owner,
        project_id=row.project_id,
        provider=row.provider,
        name=row.name,
        settings=dict(row.settings),
        secrets=row.secrets,
        checkpoint=row.checkpoint,
        poll_interval=row.poll_interval_seconds,
        consecutive_failures=row.consecutive_failures,
    )


def held(lease: Lease) -> Any:
    """The WHERE clause that holds only while ``lease`` is still ours."""
    return (Integration.id == lease.integration_id) & (Integration.lease_version == lease.version)


def lock_for_commit(db: Session, lease: Lease, values: dict[str, Any]) -> Integration:
    """First statement of every commit: update our row only if the lease is still ours."""
    result = db.execute(
        update(Integration).where(held(lease)).values(**values).execution_options(synchronize_session=False)
    )
    if getattr(result, "rowcount", 0) != 1:
        raise LeaseLost(lease.label)
    row = db.get(Integration, lease.integration_id, populate_existing=True)
    if row is None:  # deleted meanwhile
        raise LeaseLost(lease.label)
    return row


def renew(sessions: sessionmaker[Session], lease: Lease, until: datetime) -> None:
    with sessions() as db, db.begin():
        lock_for_commit(db, lease, {"lease_expires_at": until})


def release(sessions: sessionmaker[Session], lease: Lease, now: datetime) -> None:
    """Give the lease back early (a stopped or failed poll); no progress is written."""
    with sessions() as db, db.begin():
        db.execute(
            update(Integration)
            .where(held(lease))
            .values(lease_owner=None, lease_expires_at=None, next_poll_at=now)
            .execution_options(synchronize_session=False)
        )
