"""Test data: sessions and backend events written straight to the store (as the importer would)."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime, timedelta
from typing import Any

from replaylink.fingerprint import fingerprint as fingerprint_of
from replaylink.ids import new_session_id
from replaylink.runtime import Runtime
from replaylink.store import integrations
from replaylink.store.db import transaction
from replaylink.store.error_groups import ErrorGroup, GroupFilters, list_groups
from replaylink.store.models import BackendEvent, RecordedSession

T0 = datetime(2026, 3, 2, 10, 0, tzinfo=UTC)
_record_ids = itertools.count(1)


def add_integration(rt: Runtime, project_id: int, name: str = "main") -> int:
    """A Datadog integration without credentials (the events' ``integration_id``); its id."""
    with transaction(rt.sessions) as db:
        return integrations.create(
            db,
            project_id=project_id,
            provider="datadog",
            name=name,
            settings={},
            secrets=None,
            poll_interval=15,
            lookback=timedelta(hours=1),
        ).id


def add_session(
    rt: Runtime,
    project_id: int,
    started_at: datetime = T0,
    *,
    seen_for: timedelta = timedelta(minutes=5),
    lifetime: timedelta = timedelta(hours=2),
    user_id: str | None = None,
    page_url: str = "https://shop.example/cart",
    session_id: int | None = None,
) -> RecordedSession:
    row = RecordedSession(
        id=session_id if session_id is not None else new_session_id(started_at.timestamp()),
        project_id=project_id,
        started_at=started_at,
        last_seen_at=started_at + seen_for,
        token_expires_at=started_at + lifetime,
        page_url=page_url,
        user_agent="pytest",
        user_id=user_id,
        metadata_=None,
    )
    with transaction(rt.sessions) as db:
        db.add(row)
    return row


def add_event(
    rt: Runtime,
    session: RecordedSession,
    after: timedelta = timedelta(seconds=30),
    *,
    provider: str = "datadog",
    title: str = "ValueError: boom",
    message: str | None = None,
    level: str = "error",
    integration_id: int | None = None,
    record_id: str | None = None,
    exception_type: str | None = "ValueError",
    fingerprint: str | None = None,
    **extra: Any,
) -> BackendEvent:
    message = title if message is None else message
    row = BackendEvent(
        project_id=session.project_id,
        session_id=session.id,
        integration_id=integration_id,
        provider=provider,
        provider_record_id=record_id or f"rec-{next(_record_ids)}",
        timestamp=session.started_at + after,
        level=level,
        title=title,
        message=message,
        exception_type=exception_type,
        fingerprint=fingerprint or fingerprint_of(provider, exception_type, message),
        imported_at=datetime.now(UTC),
        **extra,
    )
    with transaction(rt.sessions) as db:
        db.add(row)
    return row


def every_page(rt: Runtime, project_id: int, filters: GroupFilters, limit: int) -> list[ErrorGroup]:
    """The error groups of every page of a listing, ``limit`` a page, following its cursors."""
    groups: list[ErrorGroup] = []
    cursor = None
    while True:
        with transaction(rt.sessions) as db:
            page = list_groups(db, project_id, filters, limit=limit, cursor=cursor)
        groups += page.items
        if page.next_cursor is None:
            return groups
        cursor = page.next_cursor
