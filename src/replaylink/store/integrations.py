"""Integration rows and their change history."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from replaylink.store.models import BackendEvent, Integration, IntegrationChange


def find(db: Session, project_id: int, provider: str, name: str) -> Integration | None:
    return db.scalar(
        select(Integration).where(
            Integration.project_id == project_id, Integration.provider == provider, Integration.name == name
        )
    )


def list_for_project(db: Session, project_id: int) -> list[Integration]:
    query = select(Integration).where(Integration.project_id == project_id)
    return list(db.scalars(query.order_by(Integration.provider, Integration.name)))


def create(
    db: Session,
    *,
    project_id: int,
    provider: str,
    name: str,
    settings: dict[str, Any],
    secrets: str | None,
    poll_interval: float,
    lookback: timedelta,
) -> Integration:
    moment = datetime.now(UTC)
    row = Integration(
        project_id=project_id,
        provider=provider,
        name=name,
        settings=settings,
        secrets=secrets,
        enabled=True,
        paused=False,
        created_at=moment,
        updated_at=moment,
        poll_interval_seconds=poll_interval,
        next_poll_at=moment,
        checkpoint=moment - lookback,
        lease_version=0,
        consecutive_failures=0,
        needs_attention=False,
        records_scanned=0,
        events_imported=0,
        outcomes={},
        rejected_samples=[],
    )
    db.add(row)
    db.flush()
    return row


def remove(db: Session, row: Integration, purge_events: bool) -> int:
    """Delete the integration; its events stay (detached) unless ``purge_events``."""
    purged = 0
    if purge_events:
        # Locked first: a poll inserting this integration's events holds the row (its foreign key
        # check) until it commits, and this waits for it; the delete then sees those events too.
        # Unlocked, they were committed after the delete's snapshot and kept, detached by the
        # row's own delete (ON DELETE SET NULL). (No-op on SQLite, which has one writer.)
        db.execute(select(Integration.id).where(Integration.id == row.id).with_for_update())
        result = db.execute(delete(BackendEvent).where(BackendEvent.integration_id == row.id))
        purged = int(getattr(result, "rowcount", 0) or 0)
    db.delete(row)
    db.flush()
    return purged


def record_change(
    db: Session, row: Integration, action: str, actor: str, changes: dict[str, Any] | None = None
) -> None:
    db.add(
        IntegrationChange(
            project_id=row.project_id,
            provider=row.provider,
            name=row.name,
            action=action,
            actor=actor,
            changes=changes or {},
            at=datetime.now(UTC),
        )
    )


def history(
    db: Session, project_id: int, provider: str, name: str, limit: int = 200
) -> list[IntegrationChange]:
    query = (
        select(IntegrationChange)
        .where(
            IntegrationChange.project_id == project_id,
            IntegrationChange.provider == provider,
            IntegrationChange.name == name,
        )
        .order_by(IntegrationChange.at.desc(), IntegrationChange.id.desc())
        .limit(limit)
    )
    return list(db.scalars(query))


def all_with_secrets(db: Session) -> list[Integration]:
    return list(db.scalars(select(Integration).where(Integration.secrets.is_not(None))))


def list_all(db: Session) -> list[Integration]:
    query = select(Integration).order_by(Integration.project_id, Integration.provider, Integration.name)
    return list(db.scalars(query))
