"""The on-demand cache: one integration's live answer for one session, kept until it expires."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import Any

from sqlalchemy import delete, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from replaylink.store.models import OnDemandCache


def fresh(
    db: Session, session_id: int, integration_ids: Iterable[int], now: datetime
) -> dict[int, OnDemandCache]:
    """Unexpired entries of the session, by integration id."""
    ids = list(integration_ids)
    if not ids:
        return {}
    query = select(OnDemandCache).where(
        OnDemandCache.session_id == session_id,
        OnDemandCache.integration_id.in_(ids),
        OnDemandCache.expires_at > now,
    )
    return {row.integration_id: row for row in db.scalars(query)}


def save(
    db: Session,
    *,
    session_id: int,
    integration_id: int,
    fetched_at: datetime,
    expires_at: datetime,
    truncated: bool,
    records: list[dict[str, Any]],
) -> None:
    """Insert or replace the entry (concurrent requests for one session both succeed)."""
    values = {
        "session_id": session_id,
        "integration_id": integration_id,
        "fetched_at": fetched_at,
        "expires_at": expires_at,
        "truncated": truncated,
        "records": records,
    }
    dialect = postgresql if db.get_bind().dialect.name == "postgresql" else sqlite
    statement = dialect.insert(OnDemandCache).values(**values)
    statement = statement.on_conflict_do_update(
        index_elements=["session_id", "integration_id"],
        set_={key: statement.excluded[key] for key in values if key not in ("session_id", "integration_id")},
    )
    db.execute(statement)


def purge_expired(db: Session, now: datetime) -> int:
    result = db.execute(delete(OnDemandCache).where(OnDemandCache.expires_at <= now))
    return int(getattr(result, "rowcount", 0) or 0)
