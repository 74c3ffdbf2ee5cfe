"""Recorded browser sessions: start, continue, look up.

:func:`start_sessions` records many starts in the caller's transaction with a fixed number of
statements (the session server groups concurrent starts into one transaction): one SELECT of the
sessions that tokens ask to continue, one UPDATE per continued session, one executemany INSERT
of the new ones. Core statements, not the ORM's unit of work: no objects are built for rows the
caller never reads.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, cast

from sqlalchemy import Table, bindparam, insert, select, update
from sqlalchemy.orm import Session

from replaylink.ids import new_session_id
from replaylink.store.models import RecordedSession
from replaylink.tokens import TokenSigner

_table = cast(Table, RecordedSession.__table__)
_sessions = _table.c
MAX_METADATA_KEYS = 50
"""A session's metadata keys, over all the starts that continue it (each start sends at most as many)."""
_CHANGED = ("last_seen_at", "page_url", "user_id", "metadata")
"""What continuing a session may change (also the UPDATE's bind names, prefixed ``new_``)."""

# Built once: building a statement costs more CPU than running it for a batch.
_CONTINUED = select(
    _sessions.id, _sessions.project_id, _sessions.token_expires_at, *(_sessions[n] for n in _CHANGED)
).where(_sessions.id.in_(bindparam("ids", expanding=True)))
_CONTINUE = (
    update(_table)
    .where(_sessions.id == bindparam("session_id"))
    .values({name: bindparam(f"new_{name}") for name in _CHANGED})
)
_INSERT = insert(_table)


@dataclass(frozen=True, slots=True)
class SessionStart:
    """One start as the tracker asked for it (``token``: the session it wants to continue)."""

    project_id: int
    page_url: str
    user_agent: str
    user_id: str | None
    metadata: dict[str, Any] | None
    token: str | None
    at: datetime


@dataclass(frozen=True, slots=True)
class StartedSession:
    id: int
    project_id: int
    token: str
    expires_at: datetime


def start_sessions(
    db: Session, signer: TokenSigner, lifetime: timedelta, starts: Sequence[SessionStart]
) -> list[StartedSession]:
    """Continue the session a still-valid token of the same project names, else start a new one;
    one answer per start, in order. Nothing is committed."""
    claimed = [_claimed_session(signer, start) for start in starts]
    wanted = list({session_id for session_id in claimed if session_id is not None})
    existing: dict[int, dict[str, Any]] = {}
    if wanted:
        existing = {row.id: dict(row._mapping) for row in db.execute(_CONTINUED, {"ids": wanted})}
    answers: list[StartedSession] = []
    new_rows: list[dict[str, Any]] = []
    new_ids: set[int] = set()
    changed: dict[int, dict[str, Any]] = {}
    for start, session_id in zip(starts, claimed, strict=True):
        row = existing.get(session_id) if session_id is not None else None
        if row is not None and start.token and row["project_id"] == start.project_id:
            _continue(row, start)
            changed[row["id"]] = row
            answers.append(StartedSession(row["id"], start.project_id, start.token, row["token_expires_at"]))
            continue
        new = _new_row(signer, lifetime, start, taken=new_ids)
        new_ids.add(new["id"])
        new_rows.append(new)
        answers.append(StartedSession(new["id"], start.project_id, new["token"], new["token_expires_at"]))
    if changed:
        params = [
            {"session_id": sid, **{f"new_{n}": row[n] for n in _CHANGED}} for sid, row in changed.items()
        ]
        db.execute(_CONTINUE, params)
    if new_rows:
        db.execute(_INSERT, new_rows)
    return answers


def _claimed_session(signer: TokenSigner, start: SessionStart) -> int | None:
    """The session id a valid token of the start's project names, else None."""
    if not start.token:
        return None
    verification = signer.verify(start.token, now=start.at.timestamp())
    data = verification.data
    if verification.valid and data is not None and data.project_id == start.project_id:
        return data.session_id
    return None


def _continue(row: dict[str, Any], start: SessionStart) -> None:
    row["last_seen_at"] = max(row["last_seen_at"], start.at)
    if start.page_url:
        row["page_url"] = start.page_url
    if start.user_id:
        row["user_id"] = start.user_id
    if start.metadata:
        merged = dict(row["metadata"] or {})
        for key, value in start.metadata.items():
            if key in merged or len(merged) < MAX_METADATA_KEYS:  # keys beyond the limit are dropped
                merged[key] = value
        row["metadata"] = merged


def _new_row(
    signer: TokenSigner, lifetime: timedelta, start: SessionStart, taken: set[int]
) -> dict[str, Any]:
    session_id = new_session_id(start.at.timestamp())
    while session_id in taken:  # same millisecond, same 22 random bits: draw again
        session_id = new_session_id(start.at.timestamp())
    expires = start.at + lifetime
    return {
        "id": session_id,
        "project_id": start.project_id,
        "started_at": start.at,
        "last_seen_at": start.at,
        "token_expires_at": expires,
        "page_url": start.page_url,
        "user_agent": start.user_agent,
        "user_id": start.user_id,
        "metadata": start.metadata or None,
        "token": signer.mint(session_id, start.project_id, int(expires.timestamp())),
    }


def start_session(
    db: Session,
    signer: TokenSigner,
    *,
    project_id: int,
    lifetime: timedelta,
    page_url: str,
    user_agent: str,
    user_id: str | None,
    metadata: dict[str, Any] | None,
    token: str | None,
    at: datetime | None = None,
) -> tuple[RecordedSession, str]:
    """One start (see :func:`start_sessions`): the session and its token."""
    start = SessionStart(
        project_id=project_id,
        page_url=page_url,
        user_agent=user_agent,
        user_id=user_id,
        metadata=metadata,
        token=token,
        at=at or datetime.now(UTC),
    )
    (started,) = start_sessions(db, signer, lifetime, [start])
    session = db.get(RecordedSession, started.id, populate_existing=True)
    if session is None:  # pragma: no cover - it was written just above, in this transaction
        raise LookupError(f"session {started.id} vanished")
    return session, started.token
