"""Backend events placed on a session's timeline, as the API returns them.

Event text comes from log providers and is untrusted: it is returned as JSON data only.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any, Literal

from pydantic import BaseModel, Field

from replaylink.ondemand import session_end
from replaylink.store.models import BackendEvent, RecordedSession

_MS = timedelta(milliseconds=1)


class EventOut(BaseModel):
    source: Literal["imported", "live"] = Field(
        description="imported: stored by the importer; live: fetched on demand, not stored."
    )
    id: str | None = Field(description="The stored event's id (null for live records).")
    session_id: str
    integration_id: int | None
    provider: str
    provider_record_id: str
    timestamp: datetime
    offset_ms: int | None = Field(
        description="Milliseconds from the session's start; negative when logged before it (clocks drift)."
    )
    outside_session: bool | None = Field(
        description="True when logged before the session started or after it ended (see ends_at)."
    )
    level: str
    title: str
    message: str
    exception_type: str | None
    service: str | None
    host: str | None
    logger: str | None
    stack: list[dict[str, Any]] | None
    link: str | None
    attributes: dict[str, Any] | None
    fingerprint: str


def placement(moment: datetime, session: RecordedSession | None) -> dict[str, Any]:
    """``offset_ms`` and ``outside_session`` of ``moment`` on ``session`` (nulls without a session)."""
    if session is None:
        return {"offset_ms": None, "outside_session": None}
    return {
        "offset_ms": (moment - session.started_at) // _MS,
        "outside_session": moment < session.started_at or moment > session_end(session),
    }


def imported_event(event: BackendEvent, session: RecordedSession | None) -> EventOut:
    return EventOut(
        source="imported",
        id=str(event.id),
        session_id=str(event.session_id),
        integration_id=event.integration_id,
        provider=event.provider,
        provider_record_id=event.provider_record_id,
        timestamp=event.timestamp,
        level=event.level,
        title=event.title,
        message=event.message,
        exception_type=event.exception_type,
        service=event.service,
        host=event.host,
        logger=event.logger,
        stack=event.stack,
        link=event.link,
        attributes=event.attributes,
        fingerprint=event.fingerprint,
        **placement(event.timestamp, session),
    )


def live_event(record: dict[str, Any], session: RecordedSession) -> EventOut:
    moment = datetime.fromisoformat(record["timestamp"])
    return EventOut.model_validate(
        {**record, "source": "live", "id": None, "session_id": str(session.id), **placement(moment, session)}
    )


def merged_timeline(
    imported: list[BackendEvent], live: list[dict[str, Any]], session: RecordedSession
) -> list[EventOut]:
    """Imported events and live records in time order (imported first on a tie)."""
    events = [imported_event(event, session) for event in imported]
    events += [live_event(record, session) for record in live]
    return sorted(events, key=lambda event: (event.timestamp, event.source != "imported"))
