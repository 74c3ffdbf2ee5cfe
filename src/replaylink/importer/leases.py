"""Leases: one worker polls an integration at a time; an expired lease is taken over.

Claiming is one ``UPDATE ... RETURNING`` of the due rows a locking subquery picks
(``FOR UPDATE SKIP LOCKED`` on PostgreSQL; SQLite's write lock serialises claimers), which
also bumps each row's lease version. Every later write of the poll names the version it
claimed, so a worker whose lease was taken over cannot commit. Claims, renewals and releases
are single statements (:func:`~replaylink.importer.one_statement.one_statement`).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import (
    BigInteger,
    Connection,
    Delete,
    Executable,
    Integer,
    Select,
    bindparam,
    func,
    or_,
    select,
    update,
)
from sqlalchemy.orm import Session, sessionmaker

from replaylink.importer.one_statement import one_statement
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
    created_at: datetime
    checkpoint: datetime | None
    poll_interval: float
    consecutive_failures: int
    outcomes: dict[str, int]
    """Token outcome counters when claimed (only the lease holder adds to them)."""
    rejected_samples: list[dict[str, Any]]

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


_LEASE_COLUMNS = (
    Integration.id,
    Integration.lease_version,
    Integration.project_id,
    Integration.provider,
    Integration.name,
    Integration.settings,
    Integration.secrets,
    Integration.created_at,
    Integration.checkpoint,
    Integration.poll_interval_seconds,
    Integration.consecutive_failures,
    Integration.outcomes,
    Integration.rejected_samples,
)


def claim_due(
    sessions: sessionmaker[Session], owner: str, now: datetime, limit: int, lease_for: timedelta
) -> list[Lease]:
    """Claim up to ``limit`` due integrations for ``owner``: one ``UPDATE ... RETURNING``.

    The due rows are chosen by a subquery that locks them (``FOR UPDATE SKIP LOCKED`` on
    PostgreSQL, so concurrent claimers take different rows; SQLite's write lock serialises
    claimers), and the update repeats the due condition, so a row claimed meanwhile is skipped.
    """
    due_ids = (
        select(Integration.id)
        .where(*_due(now))
        .order_by(Integration.next_poll_at)
        .limit(limit)
        .with_for_update(skip_locked=True)
    )
    claim = (
        update(Integration)
        .where(Integration.id.in_(due_ids.scalar_subquery()), *_due(now))
        .values(
            lease_owner=owner, lease_expires_at=now + lease_for, lease_version=Integration.lease_version + 1
        )
        .returning(*_LEASE_COLUMNS)
    )
    with one_statement(sessions) as conn:
        return [_lease(row, owner) for row in conn.execute(claim)]


def _lease(row: Any, owner: str) -> Lease:
    return Lease(
        integration_id=row.id,
        version=row.lease_version,
        owner=owner,
        project_id=row.project_id,
        provider=row.provider,
        name=row.name,
        settings=dict(row.settings),
        secrets=row.secrets,
        created_at=row.created_at,
        checkpoint=row.checkpoint,
        poll_interval=row.poll_interval_seconds,
        consecutive_failures=row.consecutive_failures,
        outcomes=dict(row.outcomes or {}),
        rejected_samples=list(row.rejected_samples or []),
    )


def held(lease: Lease) -> Any:
    """The WHERE clause that holds only while ``lease`` is still ours."""
    return (Integration.id == lease.integration_id) & (Integration.lease_version == lease.version)


def held_update(values: dict[str, Any], *, then: Delete | None = None) -> Executable:
    """An UPDATE of the integration whose lease the bind parameters ``lease_id`` and
    ``held_version`` name; ``values`` may be bind parameters too, so that a statement is built
    (and its cache key made) once; no bind parameter may be named like a column (Core would add
    it to the SET clause). Run it with :func:`execute_held`.

    ``then`` (PostgreSQL): a DELETE that runs in the same statement, only if the update did (it
    is limited to the updated row's id), so it needs no transaction of its own to be undone; the
    statement then answers how many rows were updated.
    """
    lease_id, version = bindparam("lease_id", type_=Integer()), bindparam("held_version", type_=BigInteger())
    statement = update(Integration).where(Integration.id == lease_id, Integration.lease_version == version)
    statement = statement.values(**values)
    if then is None:
        return statement.execution_options(synchronize_session=False)
    changed = statement.returning(Integration.id).cte("changed")
    dependent = then.where(then.table.c.integration_id.in_(select(changed.c.id))).cte("dependent")
    return select(func.count()).select_from(changed).add_cte(dependent)


def execute_held(
    db: Session | Connection, lease: Lease, statement: Executable, params: dict[str, Any] | None = None
) -> None:
    """Run a :func:`held_update` for ``lease``; raise LeaseLost if the lease is no longer ours
    (the caller's transaction then rolls back whatever it wrote)."""
    result = db.execute(
        statement, {"lease_id": lease.integration_id, "held_version": lease.version, **(params or {})}
    )
    updated = result.scalar_one() if isinstance(statement, Select) else getattr(result, "rowcount", 0)
    if updated != 1:
        raise LeaseLost(lease.label)


def lock_for_commit(db: Session | Connection, lease: Lease, values: dict[str, Any]) -> None:
    """Update our row only if the lease is still ours, else raise LeaseLost."""
    execute_held(db, lease, held_update(values))


def renew(sessions: sessionmaker[Session], lease: Lease, until: datetime) -> None:
    with one_statement(sessions) as conn:
        lock_for_commit(conn, lease, {"lease_expires_at": until})


def release(sessions: sessionmaker[Session], lease: Lease, now: datetime) -> None:
    """Give the lease back early (a stopped or failed poll); no progress is written."""
    with one_statement(sessions) as conn:
        conn.execute(
            update(Integration)
            .where(held(lease))
            .values(lease_owner=None, lease_expires_at=None, next_poll_at=now)
        )
