"""Dashboard sign-in sessions (server-side) and which projects a user may see.

The browser's cookie holds a random token; only its SHA-256 is stored, so a database leak
gives no usable session. Sessions expire when idle and at an absolute limit.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from sqlalchemy import delete, select, update
from sqlalchemy.orm import Session

from replaylink.ids import random_key
from replaylink.security import hash_api_key
from replaylink.store.models import AuthSession, User, UserProject

TOUCH_EVERY = timedelta(minutes=1)
"""A session's expiry is pushed forward at most this often (one write per minute, not per request)."""


def now() -> datetime:
    return datetime.now(UTC)


@dataclass(frozen=True)
class NewSignIn:
    token: str
    """The cookie value: shown to the browser once, never stored."""
    session: AuthSession


def start(
    db: Session, user: User, *, idle: timedelta, absolute: timedelta, user_agent: str = "", ip: str = ""
) -> NewSignIn:
    token = random_key(32)
    moment = now()
    row = AuthSession(
        token_hash=hash_api_key(token),
        user_id=user.id,
        created_at=moment,
        last_seen_at=moment,
        expires_at=min(moment + idle, moment + absolute),
        absolute_expires_at=moment + absolute,
        user_agent=user_agent[:256],
        ip=ip[:64],
    )
    db.add(row)
    db.flush()
    return NewSignIn(token=token, session=row)


def resolve(db: Session, token: str) -> tuple[AuthSession, User] | None:
    """The live session and its user for a cookie token; None otherwise. Only reads (see :func:`touch`)."""
    if not token or len(token) > 200:
        return None
    row = db.scalar(select(AuthSession).where(AuthSession.token_hash == hash_api_key(token)))
    if row is None or row.expires_at <= now():
        return None
    user = db.get(User, row.user_id)
    if user is None:
        return None
    return row, user


def touch_due(row: AuthSession, at: datetime) -> bool:
    """Is the session's idle expiry due to be pushed forward (at most once per ``TOUCH_EVERY``)?"""
    return at - row.last_seen_at >= TOUCH_EVERY


def touch(db: Session, row: AuthSession, *, idle: timedelta, at: datetime) -> None:
    """Record use of the session at ``at``: its idle expiry moves to ``at + idle`` (capped)."""
    expires = min(at + idle, row.absolute_expires_at)
    db.execute(
        update(AuthSession).where(AuthSession.id == row.id).values(last_seen_at=at, expires_at=expires)
    )


def end(db: Session, token: str) -> bool:
    result = db.execute(delete(AuthSession).where(AuthSession.token_hash == hash_api_key(token)))
    return bool(getattr(result, "rowcount", 0))


def end_all_for_user(db: Session, user_id: int) -> None:
    db.execute(delete(AuthSession).where(AuthSession.user_id == user_id))


def purge_expired(db: Session) -> int:
    result = db.execute(delete(AuthSession).where(AuthSession.expires_at <= now()))
    return int(getattr(result, "rowcount", 0) or 0)


def project_ids(db: Session, user_id: int) -> frozenset[int]:
    return frozenset(db.scalars(select(UserProject.project_id).where(UserProject.user_id == user_id)))


def set_project_ids(db: Session, user_id: int, ids: set[int]) -> None:
    db.execute(delete(UserProject).where(UserProject.user_id == user_id))
    db.add_all(UserProject(user_id=user_id, project_id=pid) for pid in sorted(ids))
    db.flush()
