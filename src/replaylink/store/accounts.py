"""Projects, users and API keys."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy import bindparam, select, update
from sqlalchemy.orm import Session

from replaylink.ids import random_key
from replaylink.security import hash_api_key, hash_password, new_api_key
from replaylink.store.models import ApiKey, Project, User


def now() -> datetime:
    return datetime.now(UTC)


def create_project(db: Session, name: str, allowed_origins: list[str] | None = None) -> Project:
    project = Project(name=name, public_key=random_key(15), allowed_origins=allowed_origins, created_at=now())
    db.add(project)
    db.flush()
    return project


def list_projects(db: Session, only_id: int | None = None) -> list[Project]:
    query = select(Project).order_by(Project.id)
    if only_id is not None:
        query = query.where(Project.id == only_id)
    return list(db.scalars(query))


def project_by_key(db: Session, public_key: str) -> Project | None:
    return db.scalar(select(Project).where(Project.public_key == public_key))


@dataclass(frozen=True, slots=True)
class ProjectAccess:
    """What starting a session needs of a project: its id and who may record for it."""

    id: int
    allowed_origins: list[str] | None

    def allows(self, origin: str | None) -> bool:
        return origin_allowed(self.allowed_origins, origin)


_PROJECTS_BY_KEY = select(Project.public_key, Project.id, Project.allowed_origins).where(
    Project.public_key.in_(bindparam("keys", expanding=True))
)
"""Built once: building a statement costs more CPU than running this one."""


def projects_by_keys(db: Session, public_keys: Iterable[str]) -> dict[str, ProjectAccess]:
    """The projects of these project keys (unknown keys are left out), in one query."""
    wanted = list(set(public_keys))
    if not wanted:
        return {}
    rows = db.execute(_PROJECTS_BY_KEY, {"keys": wanted})
    return {key: ProjectAccess(id, origins) for key, id, origins in rows}


def origin_allowed(allowed_origins: list[str] | None, origin: str | None) -> bool:
    """May a page at ``origin`` record for a project with these allowed origins (None = any)?
    Compared as :func:`canonical_origin` (origins stored before it was applied on save too)."""
    if allowed_origins is None or "*" in allowed_origins:
        return True
    return origin is not None and canonical_origin(origin) in {canonical_origin(o) for o in allowed_origins}


_DEFAULT_PORTS = (("https://", ":443"), ("http://", ":80"))


def canonical_origin(origin: str) -> str:
    """An origin as a browser sends it in ``Origin``: lower case, no default port, no trailing
    ``/`` (``https://Shop.Example.com:443/`` is ``https://shop.example.com``)."""
    value = origin.strip().rstrip("/").lower()
    for scheme, port in _DEFAULT_PORTS:
        if value.startswith(scheme) and value.endswith(port):
            return value.removesuffix(port)
    return value


def create_user(db: Session, email: str, password: str, is_admin: bool = False) -> User:
    user = User(
        email=email.strip().lower(),
        password_hash=hash_password(password),
        is_admin=is_admin,
        created_at=now(),
    )
    db.add(user)
    db.flush()
    return user


@dataclass(frozen=True)
class NewApiKey:
    id: int
    key: str
    """The plain key: shown once, never stored."""
    project_id: int | None


def create_api_key(
    db: Session, project_id: int | None = None, name: str = "", user_id: int | None = None
) -> NewApiKey:
    key = new_api_key()
    row = ApiKey(
        key_hash=hash_api_key(key),
        prefix=key[:12],
        name=name,
        project_id=project_id,
        user_id=user_id,
        created_at=now(),
    )
    db.add(row)
    db.flush()
    return NewApiKey(id=row.id, key=key, project_id=project_id)


def api_key_by_plain(db: Session, key: str) -> ApiKey | None:
    row = db.scalar(select(ApiKey).where(ApiKey.key_hash == hash_api_key(key)))
    if row is None or row.revoked_at is not None:
        return None
    return row


def mark_key_used(db: Session, key_id: int, at: datetime) -> None:
    db.execute(update(ApiKey).where(ApiKey.id == key_id).values(last_used_at=at))


def is_empty(db: Session) -> bool:
    """True before the first project or user exists."""
    return db.scalar(select(Project.id).limit(1)) is None and db.scalar(select(User.id).limit(1)) is None
