"""Request dependencies: the runtime, a database session, the caller (an API key or a signed-in user)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager, nullcontext
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Annotated

import anyio
from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from sqlalchemy.orm import Session
from starlette.datastructures import State

from replaylink.api import session_cookie
from replaylink.api.errors import ApiError, not_found
from replaylink.integrations import service
from replaylink.providers.base import Provider
from replaylink.runtime import Runtime
from replaylink.store import auth_sessions
from replaylink.store.accounts import api_key_by_plain, mark_key_used
from replaylink.store.db import is_read_only, write_transaction
from replaylink.store.models import Integration, Project, RecordedSession
from replaylink.store.sessions_query import get_session

MAX_ID = 2**31 - 1
"""Project ids are 32-bit; anything larger cannot exist (and must not reach the database)."""

_bearer = HTTPBearer(auto_error=False, description="An API key from `replaylink apikey create`.")


async def get_runtime(request: Request) -> Runtime:
    # async: FastAPI runs a plain ``def`` dependency in a worker thread, a round trip per request.
    runtime: Runtime = request.app.state.runtime
    return runtime


RuntimeDep = Annotated[Runtime, Depends(get_runtime)]


DB_SLOTS = 24
"""Requests using the database at once (the others wait, on the event loop, for a slot).

Fewer than the server's 40 worker threads and than PostgreSQL's pool of 30 connections: a
request holds its connection across several worker-thread calls (endpoint, response, commit), so
if every thread could be waiting for a connection, the requests holding them would never get a
thread to finish, and all would wait out the pool timeout (what 90 concurrent requests did).
"""


@asynccontextmanager
async def database_turn(state: State, *, writes: bool) -> AsyncIterator[None]:
    """Wait for a turn at the database of the app with this ``state``, on the event loop (holding
    no worker thread).

    Writers on SQLite first queue, one at a time, on the app's write gate (SQLite has one writer);
    then every request takes one of ``DB_SLOTS``.
    """
    gate = state.sqlite_write_gate if writes and state.sqlite_write_gate else nullcontext()
    async with gate, state.db_slots:  # the gate first: writers in its queue hold no slot
        yield


async def get_db(runtime: RuntimeDep, request: Request) -> AsyncIterator[Session]:
    """The request's session, committed when the endpoint returns normally, rolled back on error.

    GET, HEAD and OPTIONS get a read-only session (on SQLite a WAL reader: it neither waits for nor
    blocks writers), other methods a write session, each in its :func:`database_turn`.
    """
    writes = request.method not in session_cookie.SAFE_METHODS
    async with database_turn(request.app.state, writes=writes):
        session = (runtime.sessions if writes else runtime.read_sessions)()
        try:
            yield session
        except BaseException:
            with anyio.CancelScope(shield=True):
                await anyio.to_thread.run_sync(session.close)
            raise
        with anyio.CancelScope(shield=True):
            await anyio.to_thread.run_sync(_commit_and_close, session)


def _commit_and_close(session: Session) -> None:
    with session:
        session.commit()


Db = Annotated[Session, Depends(get_db, scope="function")]
"""The request's session. ``scope="function"``: committed when the endpoint returns, before the
answer is sent (FastAPI's default runs a yield dependency's exit after the response), so no success
is answered for a write that fails to commit, and the client's next request sees what it wrote."""


@dataclass(frozen=True)
class Caller:
    """Who is calling: an API key (scoped to one project or to all) or a signed-in dashboard user."""

    key_id: int | None
    project_ids: frozenset[int] | None
    """The projects the caller may see; None = every project (an admin)."""
    user_id: int | None = None
    email: str | None = None

    @property
    def is_admin(self) -> bool:
        return self.project_ids is None

    def can_see(self, project_id: int) -> bool:
        return self.project_ids is None or project_id in self.project_ids

    @property
    def actor(self) -> str:
        """How change history names the caller."""
        return f"user:{self.email}" if self.email else f"api-key:{self.key_id}"


@contextmanager
def _writable(db: Session, runtime: Runtime) -> Iterator[Session]:
    """``db`` when it may write, else a short write transaction of its own (a GET's bookkeeping)."""
    if not is_read_only(db):
        yield db
        return
    with write_transaction(runtime.sessions) as own:
        yield own


def _key_caller(db: Session, runtime: Runtime, plain: str) -> Caller:
    key = api_key_by_plain(db, plain[:200])
    if key is None:
        raise ApiError(401, "unauthorized", "This API key is unknown or revoked; create a new one.")
    moment = datetime.now(UTC)
    if key.last_used_at is None or moment - key.last_used_at > timedelta(minutes=1):
        with _writable(db, runtime) as writer:
            mark_key_used(writer, key.id, moment)
    scope = None if key.project_id is None else frozenset({key.project_id})
    return Caller(key_id=key.id, project_ids=scope)


def _cookie_caller(request: Request, db: Session, runtime: Runtime, token: str) -> Caller:
    settings = runtime.settings
    found = auth_sessions.resolve(db, token)
    if found is None:
        raise ApiError(401, "unauthorized", "Your sign-in has expired; sign in again.")
    row, user = found
    if request.method not in session_cookie.SAFE_METHODS and not session_cookie.csrf_ok(
        settings.keys.secret_key, token, request.headers.get(session_cookie.CSRF_HEADER)
    ):
        raise ApiError(
            403,
            "csrf_failed",
            f"Send the {session_cookie.CSRF_HEADER} header with the value of the "
            f"{session_cookie.CSRF_COOKIE} cookie; reload the page if this persists.",
        )
    moment = datetime.now(UTC)
    if auth_sessions.touch_due(row, moment):
        with _writable(db, runtime) as writer:
            idle = timedelta(seconds=settings.dashboard_idle_seconds)
            auth_sessions.touch(writer, row, idle=idle, at=moment)
    scope = None if user.is_admin else auth_sessions.project_ids(db, user.id)
    return Caller(key_id=None, project_ids=scope, user_id=user.id, email=user.email)


def get_caller(
    request: Request,
    db: Db,
    runtime: RuntimeDep,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> Caller:
    """An API key (``Authorization: Bearer``) or, without one, the dashboard's sign-in cookie."""
    if credentials is not None and credentials.scheme.lower() == "bearer" and credentials.credentials:
        return _key_caller(db, runtime, credentials.credentials)
    if request.headers.get("authorization"):
        raise ApiError(401, "unauthorized", "Send the API key as 'Authorization: Bearer <key>'.")
    token = request.cookies.get(session_cookie.SESSION_COOKIE)
    if token:
        return _cookie_caller(request, db, runtime, token)
    raise ApiError(
        401,
        "unauthorized",
        "Send an API key as 'Authorization: Bearer <key>' (create one with `replaylink apikey create`), "
        "or sign in to the dashboard.",
    )


CallerDep = Annotated[Caller, Depends(get_caller)]


def require_admin(caller: CallerDep) -> Caller:
    if not caller.is_admin:
        raise ApiError(403, "forbidden", "This needs an admin user, or an API key not scoped to a project.")
    return caller


AdminDep = Annotated[Caller, Depends(require_admin)]


def visible_project(db: Session, caller: Caller, project_id: int) -> Project:
    """The project, or 404 when it does not exist or the caller's key cannot see it."""
    in_range = 0 < project_id <= MAX_ID
    project = db.get(Project, project_id) if in_range and caller.can_see(project_id) else None
    if project is None:
        raise not_found(f"Project {project_id}")
    return project


def provider_or_404(name: str) -> type[Provider]:
    """The provider class, or 404 ``unknown_provider`` naming the known ones."""
    return service.require_provider(name)


def existing_integration(db: Db, caller: CallerDep, project_id: int, provider: str, name: str) -> Integration:
    """The integration, or 404 when it (or its project) is not visible to the caller."""
    visible_project(db, caller, project_id)
    return service.get(db, project_id, provider, name)


def session_or_404(db: Session, caller: Caller, project_id: int, session_id: int) -> RecordedSession:
    """The project's session, or 404 when it does not exist or the caller's key cannot see it."""
    visible_project(db, caller, project_id)
    row = get_session(db, project_id, session_id)
    if row is None:
        raise not_found(f"Session {session_id}")
    return row
