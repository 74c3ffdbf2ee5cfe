"""``/api/v1/projects/{id}/sessions``: sessions with their backend errors, and live backend logs.

Session ids are 63-bit integers: paths take them as integers, answers give them as strings
(JavaScript numbers lose precision above 2**53).
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Query, Response
from pydantic import BaseModel, Field

from replaylink import ondemand
from replaylink.aio import run_async
from replaylink.api.answers import json_answer
from replaylink.api.deps import CallerDep, Db, RuntimeDep, session_or_404, visible_project
from replaylink.api.params import (
    DEFAULT_LIMIT,
    Cursor,
    Limit,
    ProjectId,
    ProviderFilter,
    SearchText,
    SessionId,
    Since,
    Until,
    UserId,
    bad_cursor,
)
from replaylink.api.session_list import (
    DURATION_MS,
    LAST_SEEN_AT,
    STARTED_AT,
    RecordingStats,
    SessionList,
    known_duration_ms,
    session_list,
)
from replaylink.api.timeline import EventOut, imported_event, merged_timeline
from replaylink.store import keyset
from replaylink.store import sessions_query as store

router = APIRouter(prefix="/api/v1/projects/{project_id}/sessions", tags=["sessions"])

DEFAULT_EVENTS = 200
MAX_EVENTS = 1000


class SessionDetail(BaseModel):
    id: str
    project_id: int
    started_at: datetime = Field(description=STARTED_AT)
    last_seen_at: datetime = Field(description=LAST_SEEN_AT)
    token_expires_at: datetime = Field(
        description="When the session's token stops being valid (not when the user left): a new "
        "session starts after it."
    )
    duration_ms: int | None = Field(description=DURATION_MS)
    page_url: str
    user_agent: str
    user_id: str | None
    metadata: dict[str, Any] | None
    token: str | None = Field(
        None, description="The token issued at start: what the backend logs carry (to search them by hand)."
    )
    backend_events: int
    backend_events_by_provider: dict[str, int]
    recording: RecordingStats
    events: list[EventOut] = Field(description="Backend events in time order.")
    next_events_cursor: str | None = Field(description="Pass as `events_cursor` for more events.")


class ProviderAnswer(BaseModel):
    integration_id: int
    provider: str
    name: str
    status: str = Field(description="ok, error, rate_limited or timeout")
    message: str | None = Field(description="Why it failed, for the user; never holds a secret.")
    truncated: bool = Field(description="More records matched than the cap (or the answer stopped early).")
    cached: bool
    fetched_at: datetime | None
    expires_at: datetime | None = Field(description="When the cached answer is refreshed.")
    retry_after: float | None
    records: int = Field(description="Live records this integration returned.")


class BackendLogs(BaseModel):
    session_id: str
    window_start: datetime
    window_end: datetime
    providers: list[ProviderAnswer]
    events: list[EventOut] = Field(
        description="Imported events and live records merged in time order, without duplicates."
    )
    imported_truncated: bool = Field(description="Only the first imported events are merged here.")


@router.get("", response_model=SessionList)
def list_sessions(
    project_id: ProjectId,
    db: Db,
    caller: CallerDep,
    runtime: RuntimeDep,
    since: Since = None,
    until: Until = None,
    has_backend_errors: Annotated[bool | None, Query(description="With (true) or without (false).")] = None,
    has_js_errors: Annotated[bool | None, Query(description="Recorded JS errors: with or without.")] = None,
    has_failed_requests: Annotated[
        bool | None, Query(description="Recorded failed requests: with or without.")
    ] = None,
    provider: ProviderFilter = None,
    text: SearchText = None,
    user_id: UserId = None,
    cursor: Cursor = None,
    limit: Limit = DEFAULT_LIMIT,
) -> Response:
    """Sessions, newest first, with their backend event counts per provider and first error."""
    visible_project(db, caller, project_id)
    filters = store.SessionFilters(
        start=since,
        end=until,
        has_backend_errors=has_backend_errors,
        has_js_errors=has_js_errors,
        has_failed_requests=has_failed_requests,
        provider=provider,
        text=text,
        user_id=user_id,
    )
    return json_answer(session_list(db, project_id, filters, limit, cursor, runtime.settings))


@router.get("/{session_id}", response_model=SessionDetail)
def get_session(
    project_id: ProjectId,
    session_id: SessionId,
    db: Db,
    caller: CallerDep,
    events_cursor: Cursor = None,
    events_limit: Annotated[int, Query(ge=1, le=MAX_EVENTS)] = DEFAULT_EVENTS,
) -> Response:
    """The session and its backend events in time order, each placed on the session's timeline."""
    row = session_or_404(db, caller, project_id, session_id)
    try:
        page = store.session_events(db, row.id, limit=events_limit, cursor=events_cursor)
    except keyset.InvalidCursor:
        raise bad_cursor() from None
    whole = events_cursor is None and page.next_cursor is None
    counts = store.counts_by_provider(page.items) if whole else store.event_counts(db, row.id)
    answer = SessionDetail(
        id=str(row.id),
        project_id=row.project_id,
        started_at=row.started_at,
        last_seen_at=row.last_seen_at,
        token_expires_at=row.token_expires_at,
        duration_ms=known_duration_ms(row),
        page_url=row.page_url,
        user_agent=row.user_agent,
        user_id=row.user_id,
        metadata=row.metadata_,
        token=row.token,
        backend_events=sum(counts.values()),
        backend_events_by_provider=counts,
        recording=RecordingStats.of(row),
        events=[imported_event(event, row) for event in page.items],
        next_events_cursor=page.next_cursor,
    )
    return json_answer(answer)


@router.get("/{session_id}/backend-logs", response_model=BackendLogs)
def backend_logs(
    project_id: ProjectId,
    session_id: SessionId,
    db: Db,
    caller: CallerDep,
    rt: RuntimeDep,
    provider: ProviderFilter = None,
    refresh: Annotated[bool, Query(description="Ignore cached answers and ask the providers again.")] = False,
) -> BackendLogs:
    """Query each enabled integration live for this session (all levels), merged with imported events.

    Integrations are asked concurrently, each capped and timed out on its own; a failing
    integration is reported in ``providers`` and does not fail the others.
    """
    row = session_or_404(db, caller, project_id, session_id)
    db.commit()  # hold no transaction (nor SQLite lock) while the providers answer
    found = run_async(lambda: ondemand.backend_logs(rt, row, provider=provider, refresh=refresh))
    return BackendLogs(
        session_id=str(row.id),
        window_start=found.start,
        window_end=found.end,
        providers=[
            ProviderAnswer(
                integration_id=r.integration_id,
                provider=r.provider,
                name=r.name,
                status=r.status,
                message=r.message,
                truncated=r.truncated,
                cached=r.cached,
                fetched_at=r.fetched_at,
                expires_at=r.expires_at,
                retry_after=r.retry_after,
                records=len(r.records),
            )
            for r in found.results
        ],
        events=merged_timeline(found.imported, found.live, row),
        imported_truncated=found.imported_truncated,
    )
