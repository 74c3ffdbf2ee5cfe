"""``/api/v1/users`` (admin): dashboard users, created or invited from Preferences > Users."""

from __future__ import annotations

import secrets
from datetime import datetime

from fastapi import APIRouter, Path, Response
from pydantic import BaseModel, Field
from sqlalchemy import func, or_, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from replaylink.api.deps import MAX_ID, AdminDep, Db
from replaylink.api.errors import ApiError, not_found
from replaylink.security import hash_password
from replaylink.store import accounts, auth_sessions
from replaylink.store.models import Project, User

router = APIRouter(prefix="/api/v1/users", tags=["users"])
UserId = Path(gt=0, le=MAX_ID)


class UserRow(BaseModel):
    id: int
    email: str
    is_admin: bool
    project_ids: list[int] = Field(description="Projects a non-admin user sees (admins see all).")
    created_at: datetime


class UserCreated(UserRow):
    password: str | None = Field(
        description="The generated one-time password when none was given: shown once, hand it to the user."
    )


class UserIn(BaseModel):
    email: str = Field(min_length=3, max_length=320, pattern=r"^[^@\s]+@[^@\s]+$")
    password: str | None = Field(None, min_length=8, max_length=1024, description="Omit to generate one.")
    is_admin: bool = False
    project_ids: list[int] = Field(default_factory=list, max_length=1000)


class UserPatch(BaseModel):
    is_admin: bool | None = None
    project_ids: list[int] | None = Field(None, max_length=1000)
    password: str | None = Field(None, min_length=8, max_length=1024)


def _row(db: Session, user: User) -> UserRow:
    return UserRow(
        id=user.id,
        email=user.email,
        is_admin=user.is_admin,
        project_ids=sorted(auth_sessions.project_ids(db, user.id)),
        created_at=user.created_at,
    )


def _checked_projects(db: Session, ids: list[int]) -> set[int]:
    wanted = {i for i in ids if 0 < i <= MAX_ID}
    found = set(db.scalars(select(Project.id).where(Project.id.in_(wanted)))) if wanted else set()
    missing = sorted(set(ids) - found)
    if missing:
        problem = [{"field": "project_ids", "message": "unknown project"}]
        raise ApiError(422, "unknown_project", f"There is no project {missing[0]}.", problem)
    return found


def _locked(db: Session, user_id: int) -> tuple[User, int]:
    """The user (else 404) and how many admins there are, with the user and every admin row locked
    in id order (PostgreSQL; SQLite's writers take turns anyway). Concurrent changes of admins then
    see each other's, so the last admin stays; a sign-in in progress (which reads the user FOR
    SHARE) finishes first, so a new password or a delete also ends it."""
    rows = db.execute(
        select(User.id, User.is_admin)
        .where(or_(User.is_admin.is_(True), User.id == user_id))
        .order_by(User.id)
        .with_for_update()
    ).all()
    user = db.get(User, user_id, populate_existing=True)
    if user is None:
        raise not_found(f"User {user_id}")
    return user, sum(1 for row in rows if row.is_admin)


@router.get("", response_model=list[UserRow])
def list_users(db: Db, _: AdminDep) -> list[UserRow]:
    return [_row(db, u) for u in db.scalars(select(User).order_by(User.id))]


@router.post("", response_model=UserCreated, status_code=201)
def create_user(body: UserIn, db: Db, _: AdminDep) -> UserCreated:
    """Create a user; without a password one is generated and shown once in the answer."""
    projects = _checked_projects(db, body.project_ids)
    generated = None if body.password else secrets.token_urlsafe(12)
    email = body.email.strip().lower()
    if db.scalar(select(User.id).where(func.lower(User.email) == email)) is not None:
        raise ApiError(409, "user_exists", f"A user with the email {email} already exists.")
    try:
        with db.begin_nested():
            user = accounts.create_user(db, email, body.password or generated or "", is_admin=body.is_admin)
    except IntegrityError:
        raise ApiError(409, "user_exists", f"A user with the email {email} already exists.") from None
    auth_sessions.set_project_ids(db, user.id, projects)
    return UserCreated(**_row(db, user).model_dump(), password=generated)


@router.patch("/{user_id}", response_model=UserRow)
def update_user(body: UserPatch, db: Db, caller: AdminDep, user_id: int = UserId) -> UserRow:
    """Change admin rights, project access or the password (a new password signs the user out)."""
    user, admins = _locked(db, user_id)
    if body.is_admin is False and user.is_admin and admins <= 1:
        raise ApiError(409, "last_admin", "This is the last admin; make another user admin first.")
    if body.is_admin is not None:
        user.is_admin = body.is_admin
    if body.project_ids is not None:
        auth_sessions.set_project_ids(db, user.id, _checked_projects(db, body.project_ids))
    if body.password is not None:
        user.password_hash = hash_password(body.password)
        auth_sessions.end_all_for_user(db, user.id)
    db.flush()
    return _row(db, user)


@router.delete("/{user_id}", status_code=204)
def delete_user(db: Db, caller: AdminDep, user_id: int = UserId) -> Response:
    """Delete the user and end their sign-ins (their API keys stay, unowned)."""
    user, admins = _locked(db, user_id)
    if caller.user_id == user.id:
        raise ApiError(409, "self_delete", "You cannot delete yourself; ask another admin.")
    if user.is_admin and admins <= 1:
        raise ApiError(409, "last_admin", "This is the last admin; make another user admin first.")
    auth_sessions.end_all_for_user(db, user.id)
    auth_sessions.set_project_ids(db, user.id, set())
    db.delete(user)
    return Response(status_code=204)
