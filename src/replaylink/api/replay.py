"""The player's API: a session's replay manifest, its segments, and the timeline of marked events.

``GET .../replay`` lists the segments (fetch them progressively, a tab's in ``seq`` order, from
the last full snapshot before a seek target); ``GET .../replay/{tab}/{seq}`` answers the stored
batch as the tracker sent it (``Content-Encoding: gzip``, immutable); ``GET .../timeline`` merges
the recording's devtools events with the session's backend events, each placed on the recording.
Recorded text is untrusted: it is returned as JSON data only.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Path, Query, Request, Response
from pydantic import BaseModel, Field
from sqlalchemy import select

from replaylink.api.deps import CallerDep, Db, RuntimeDep, session_or_404
from replaylink.api.errors import ApiError, not_found
from replaylink.api.params import ProjectId, SessionId
from replaylink.api.timeline import EventOut, imported_event
from replaylink.replay import index
from replaylink.replay.store import MAX_SEQ, StoreError
from replaylink.store.models import BackendEvent, DevtoolsEvent, RecordedSession

router = APIRouter(prefix="/api/v1/projects/{project_id}/sessions/{session_id}", tags=["replay"])

Tab = Annotated[str, Path(pattern=r"^[A-Za-z0-9_-]{1,64}$", description="The tab id the tracker chose.")]
Seq = Annotated[int, Path(ge=0, le=MAX_SEQ)]
IMMUTABLE = "private, max-age=31536000, immutable"
DEFAULT_TIMELINE = 5000
MAX_TIMELINE = 20000


class SegmentOut(BaseModel):
    tab: str
    seq: int
    first_ms: int = Field(description="Earliest event, ms since the epoch (the browser's clock).")
    last_ms: int
    offset_ms: int = Field(description="first_ms from the recording's start.")
    bytes: int = Field(description="Compressed size.")
    events: int
    has_full_snapshot: bool = Field(description="Playback (or a seek) can start at this segment.")
    url: str = Field(description="Path of the segment's bytes.")


class Manifest(BaseModel):
    session_id: str
    project_id: int
    started_at: datetime = Field(description="When the session started (server clock).")
    recording_started_at: datetime | None = Field(description="First recorded event; null: no recording.")
    recording_ended_at: datetime | None
    duration_ms: int
    tabs: list[str]
    bytes: int
    segments: list[SegmentOut] = Field(description="By tab, then seq: each tab's playback order.")


class TimelineItem(BaseModel):
    kind: Literal["page", "js_error", "failed_request", "console_error", "custom", "backend"]
    ts_ms: int = Field(description="ms since the epoch.")
    offset_ms: int = Field(description="From the recording's start (the session's start without one).")
    outside_recording: bool = Field(description="Before the first or after the last recorded event.")
    tab: str | None
    title: str = Field(description="One line for a marker's tooltip.")
    message: str | None
    url: str | None
    status: int | None
    level: str | None
    duration_ms: float | None
    data: dict[str, Any] | None = Field(description="Stack, payload, sizes... (recorded, untrusted).")
    backend: EventOut | None = Field(description="The backend event, for kind=backend.")


class Timeline(BaseModel):
    session_id: str
    recording_started_at: datetime | None
    recording_ended_at: datetime | None
    events: list[TimelineItem] = Field(description="In time order.")
    truncated: bool = Field(description="More events than `limit` (of either source) were left out.")


def _ms(moment: datetime | None) -> int | None:
    return None if moment is None else int(moment.timestamp() * 1000)


def _origin_ms(row: RecordedSession) -> int:
    return _ms(row.recording_started_at) or int(row.started_at.timestamp() * 1000)


@router.get("/replay", response_model=Manifest)
def manifest(project_id: ProjectId, session_id: SessionId, db: Db, caller: CallerDep) -> Response:
    """The recording's segments, to fetch progressively; an empty list when nothing was recorded."""
    row = session_or_404(db, caller, project_id, session_id)
    segments = index.segments(db, row.id)
    origin = _origin_ms(row)
    base = f"/api/v1/projects/{project_id}/sessions/{row.id}/replay"
    started, ended = row.recording_started_at, row.recording_ended_at
    # Validated once and serialised by pydantic (hundreds of segments: FastAPI's second validation
    # and the standard library's JSON encoder were half the request).
    answer = Manifest.model_validate(
        {
            "session_id": str(row.id),
            "project_id": row.project_id,
            "started_at": row.started_at,
            "recording_started_at": started,
            "recording_ended_at": ended,
            "duration_ms": (_ms(ended) or 0) - (_ms(started) or 0),
            "tabs": sorted({s.tab for s in segments}),
            "bytes": sum(s.bytes for s in segments),
            "segments": [
                {
                    "tab": s.tab,
                    "seq": s.seq,
                    "first_ms": s.first_ms,
                    "last_ms": s.last_ms,
                    "offset_ms": s.first_ms - origin,
                    "bytes": s.bytes,
                    "events": s.events,
                    "has_full_snapshot": s.has_full_snapshot,
                    "url": f"{base}/{s.tab}/{s.seq}",
                }
                for s in segments
            ],
        }
    )
    return Response(answer.model_dump_json(), media_type="application/json")


@router.get(
    "/replay/{tab}/{seq}",
    response_class=Response,
    responses={200: {"content": {"application/json": {}}, "description": "The batch JSON, gzip-encoded."}},
)
def segment(
    project_id: ProjectId,
    session_id: SessionId,
    tab: Tab,
    seq: Seq,
    request: Request,
    db: Db,
    caller: CallerDep,
    rt: RuntimeDep,
) -> Response:
    """One stored batch, byte for byte as the tracker sent it (``Content-Encoding: gzip``)."""
    row = session_or_404(db, caller, project_id, session_id)
    found = index.segment(db, row.id, tab, seq)
    if found is None:
        raise not_found(f"Segment {tab}/{seq} of session {row.id}")
    db.commit()  # hold no transaction while the store answers
    etag = f'"{found.digest}"'
    headers = {"ETag": etag, "Cache-Control": IMMUTABLE}
    if etag in request.headers.get("if-none-match", ""):
        return Response(status_code=304, headers=headers)
    try:
        data = rt.replay_store.get(found.key)
    except StoreError as exc:
        raise ApiError(503, "store_unavailable", f"Recording storage failed ({exc}); retry.") from None
    if data is None:
        raise ApiError(
            404, "segment_missing", f"Segment {tab}/{seq} is indexed but its blob is gone from the store."
        )
    headers["Content-Encoding"] = "gzip"
    return Response(content=data, media_type="application/json", headers=headers)


def _devtools_item(event: DevtoolsEvent) -> TimelineItem:
    kind: Any
    if event.kind == "error":
        kind, title = "js_error", f"{event.name}: {event.message}"
    elif event.kind == "network":
        kind, title = "failed_request", f"{event.name} {event.url} {event.status}"
    elif event.kind == "console":
        kind, title = "console_error", event.message or ""
    elif event.kind == "page":
        kind, title = "page", event.url or ""
    else:
        kind, title = "custom", event.name or ""
    return TimelineItem(
        kind=kind,
        ts_ms=event.ts_ms,
        offset_ms=0,
        outside_recording=False,
        tab=event.tab,
        title=title[:300],
        message=event.message,
        url=event.url,
        status=event.status,
        level=event.level,
        duration_ms=event.duration_ms,
        data=event.data,
        backend=None,
    )


def _backend_item(event: BackendEvent, row: RecordedSession) -> TimelineItem:
    return TimelineItem(
        kind="backend",
        ts_ms=int(event.timestamp.timestamp() * 1000),
        offset_ms=0,
        outside_recording=False,
        tab=None,
        title=f"{event.provider}: {event.title}"[:300],
        message=None,
        url=event.link,
        status=None,
        level=event.level,
        duration_ms=None,
        data=None,
        backend=imported_event(event, row),
    )


@router.get("/timeline", response_model=Timeline)
def timeline(
    project_id: ProjectId,
    session_id: SessionId,
    db: Db,
    caller: CallerDep,
    limit: Annotated[int, Query(ge=1, le=MAX_TIMELINE, description="Events per source.")] = DEFAULT_TIMELINE,
) -> Timeline:
    """Pages, JS errors, failed requests, console errors, custom events and backend events, in time
    order, each with ``offset_ms`` on the recording (backend events dated outside it are flagged)."""
    row = session_or_404(db, caller, project_id, session_id)
    recorded = index.marked_events(db, row.id, limit + 1)
    backend = db.scalars(
        select(BackendEvent)
        .where(BackendEvent.session_id == row.id)
        .order_by(BackendEvent.timestamp, BackendEvent.id)
        .limit(limit + 1)
    ).all()
    truncated = len(recorded) > limit or len(backend) > limit
    items = [_devtools_item(e) for e in recorded[:limit]] + [_backend_item(e, row) for e in backend[:limit]]
    origin = _origin_ms(row)
    first, last = _ms(row.recording_started_at), _ms(row.recording_ended_at)
    for item in items:
        item.offset_ms = item.ts_ms - origin
        item.outside_recording = first is None or last is None or not first <= item.ts_ms <= last
    items.sort(key=lambda item: (item.ts_ms, item.kind == "backend"))
    return Timeline(
        session_id=str(row.id),
        recording_started_at=row.recording_started_at,
        recording_ended_at=row.recording_ended_at,
        events=items,
        truncated=truncated,
    )
