"""A provider record as backend-event fields: bounded to the columns, titled and fingerprinted.

Shared by the importer (which stores them as events) and the on-demand path (which returns them
live), so a record reads the same whichever way it arrives.
"""

from __future__ import annotations

from dataclasses import fields
from datetime import UTC
from typing import Any

from replaylink.fingerprint import fingerprint, strip_marker
from replaylink.providers.base import Record, StackFrame
from replaylink.store.events import EventFields

_FRAME_FIELDS = tuple(item.name for item in fields(StackFrame))


def frame_dict(frame: StackFrame) -> dict[str, Any]:
    """``dataclasses.asdict(frame)`` without its recursive deep copy (a frame holds scalars only):
    asdict was a fifth of the import pipeline's CPU on records with stacks."""
    return {name: getattr(frame, name) for name in _FRAME_FIELDS}


def event_fields(record: Record, provider: str) -> EventFields:
    """The event columns ``record`` fills (the caller adds project, session and integration)."""
    title = strip_marker(record.title or record.message.split("\n", 1)[0])[:512]
    return {
        "provider_record_id": record.provider_id[:512],
        "timestamp": record.timestamp.astimezone(UTC),
        "level": (record.level or "error")[:16],
        "title": title,
        "message": record.message,
        "exception_type": (record.exception_type or None) and record.exception_type[:256],
        "service": record.service[:512] if record.service else None,
        "host": record.host[:512] if record.host else None,
        "logger": record.logger[:256] if record.logger else None,
        "stack": [frame_dict(frame) for frame in record.stack] if record.stack else None,
        "link": record.link,
        "attributes": record.attributes or None,
        "fingerprint": fingerprint(provider, record.exception_type, title),
    }
