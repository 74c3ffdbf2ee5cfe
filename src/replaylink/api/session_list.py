"""One page of sessions as the API lists them (shared by the sessions and backend-error endpoints).

Session ids are 63-bit integers: answers give them as strings (JavaScript numbers lose
precision above 2**53).
"""

from __future__ import annotations

from datetime import datetime, timedelta

from pydantic import BaseModel, Field
from sqlalchemy.orm import Session

from replaylink.api.params import bad_cursor
from replaylink.config import Settings
from replaylink.store import keyset
from replaylink.store import sessions_query as store
from replaylink.store.models import RecordedSession

_MS = timedelta(milliseconds=1)


class RecordingStats(BaseModel):
    """What the recording holds (all zero / null when nothing was recorded)."""

    started_at: datetime | None = Field(description="First recorded event.")
    ended_at: datetime | None = Field(description="Last recorded event.")
    duration_ms: int = Field(description="From the first to the last recorded event.")
    last_activity_at: datetime | None = Field(description="When the last batch arrived.")
    segments: int
    bytes: int
    pages_visited: int
    clicks: int
    js_errors: int
    failed_requests: int

    @classmethod
    def of(cls, row: RecordedSession) -> RecordingStats:
        started, ended = row.recording_started_at, row.recording_ended_at
        return cls(
            started_at=started,
            ended_at=ended,
            duration_ms=(ended - started) // _MS if started and ended else 0,
            last_activity_at=row.last_activity_at,
            segments=row.replay_segments,
            bytes=row.replay_bytes,
            pages_visited=row.pages_visited,
            clicks=row.clicks,
            js_errors=row.js_errors,
            failed_requests=row.failed_requests,
        )


def known_duration_ms(row: RecordedSession) -> int | None:
    """From the first to the last recorded event when there is a recording; else from the start to
    the last time the server heard of the session; ``None`` while only the start is known."""
    started, ended = row.recording_started_at, row.recording_ended_at
    if started is not None and ended is not None:
        return (ended - started) // _MS
    if row.last_seen_at > row.started_at:
        return (row.last_seen_at - row.started_at) // _MS
    return None


STARTED_AT = "When the session started (its token was issued)."
LAST_SEEN_AT = "The last time the server heard of the session: its start, a continuation or a batch."
DURATION_MS = (
    "From the first to the last recorded event when there is a recording (recording.duration_ms); "
    "without one, from started_at to last_seen_at; null while only the start is known."
)


class SessionRow(BaseModel):
    id: str = Field(description="Decimal string of the 63-bit session id.")
    started_at: datetime = Field(description=STARTED_AT)
    last_seen_at: datetime = Field(description=LAST_SEEN_AT)
    duration_ms: int | None = Field(description=DURATION_MS)
    page_url: str
    user_id: str | None
    backend_events: int = Field(description="Stored backend events of the session.")
    backend_events_by_provider: dict[str, int]
    first_error_title: str | None = Field(description="Title of the session's earliest backend event.")
    recording: RecordingStats

    @classmethod
    def of(cls, summary: store.SessionSummary) -> SessionRow:
        row = summary.session
        return cls(
            id=str(row.id),
            started_at=row.started_at,
            last_seen_at=row.last_seen_at,
            duration_ms=known_duration_ms(row),
            page_url=row.page_url,
            user_id=row.user_id,
            backend_events=summary.event_count,
            backend_events_by_provider=summary.counts,
            first_error_title=summary.first_error_title,
            recording=RecordingStats.of(row),
        )


SEARCHED_TO = (
    "Set when a text search (`q`) stopped at its time budget before the page was full: the sessions "
    "that started from this time on (down to the cursor's) were all searched, those listed are every "
    "match among them, and `next_cursor` searches further back. Null otherwise."
)


class SessionList(BaseModel):
    sessions: list[SessionRow]
    next_cursor: str | None = Field(description="Pass as `cursor` for the next page; null on the last page.")
    searched_to: datetime | None = Field(default=None, description=SEARCHED_TO)


def session_list(
    db: Session,
    project_id: int,
    filters: store.SessionFilters,
    limit: int,
    cursor: str | None,
    settings: Settings,
) -> SessionList:
    try:
        budget = settings.search_budget_ms / 1000
        page = store.list_sessions(db, project_id, filters, limit=limit, cursor=cursor, budget=budget)
    except keyset.InvalidCursor:
        raise bad_cursor() from None
    return SessionList(
        sessions=[SessionRow.of(s) for s in page.items],
        next_cursor=page.next_cursor,
        searched_to=page.searched_to,
    )
