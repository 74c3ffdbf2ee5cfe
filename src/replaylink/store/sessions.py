"""Recorded browser sessions: start, continue, look up."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy.orm import Session

from replaylink.ids import new_session_id
from replaylink.store.models import RecordedSession
from replaylink.tokens import TokenSigner


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
    """Continue the session of a still-valid token of this project, else start a new one.

    Returns the session and its token.
    """
    at = at or datetime.now(UTC)
    if token:
        verification = signer.verify(token, now=at.timestamp())
        data = verification.data
        if verification.valid and data is not None and data.project_id == project_id:
            existing = db.get(RecordedSession, data.session_id)
            if existing is not None and existing.project_id == project_id:
                existing.last_seen_at = max(existing.last_seen_at, at)
                if page_url:
                    existing.page_url = page_url
                if user_id:
                    existing.user_id = user_id
                if metadata:
                    existing.metadata_ = {**(existing.metadata_ or {}), **metadata}
                return existing, token
    expires = at + lifetime
    session = RecordedSession(
        id=new_session_id(at.timestamp()),
        project_id=project_id,
        started_at=at,
        last_seen_at=at,
        token_expires_at=expires,
        page_url=page_url,
        user_agent=user_agent,
        user_id=user_id,
        metadata_=metadata or None,
    )
    session.token = signer.mint(session.id, project_id, int(expires.timestamp()))
    db.add(session)
    db.flush()
    return session, session.token
