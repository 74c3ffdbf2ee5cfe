"""``POST /ingest/v1/sessions``: the browser tracker starts (or continues) a session."""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any

import msgspec
from asgi_correlation_id import correlation_id
from fastapi import APIRouter, Request, Response
from fastapi.exceptions import RequestValidationError
from pydantic import AllowInfNan, BaseModel, ConfigDict, Field, StringConstraints, ValidationError
from sqlalchemy.exc import IntegrityError
from starlette.datastructures import State
from starlette.types import ASGIApp, Receive, Scope, Send

from replaylink.api.deps import database_turn
from replaylink.api.errors import ApiError, api_error_response, validation_error_response
from replaylink.api.group_commit import GroupCommit, each_alone_on_failure
from replaylink.api.ingest_http import BATCHES_PATH, cors_headers
from replaylink.api.unhandled import unavailable_response
from replaylink.runtime import Runtime
from replaylink.store.accounts import projects_by_keys
from replaylink.store.db import write_transaction
from replaylink.store.sessions import MAX_METADATA_KEYS, StartedSession, start_sessions
from replaylink.store.sessions import SessionStart as NewSession
from replaylink.store.unavailable import database_unavailable

log = logging.getLogger("replaylink.ingest")

router = APIRouter(prefix="/ingest/v1", tags=["ingest"])

MetaKey = Annotated[str, StringConstraints(min_length=1, max_length=64)]
MetaValue = (
    Annotated[str, StringConstraints(max_length=1024)]
    | int
    | Annotated[float, AllowInfNan(False)]
    | bool
    | None
)
"""(``1e400`` reads as infinity: refused, as ``NaN`` and ``Infinity`` are.)"""


class SessionStart(BaseModel):
    model_config = ConfigDict(extra="ignore")

    projectKey: str = Field(min_length=1, max_length=64, description="The project key the tracker was given.")
    url: str = Field("", max_length=2048, description="The page URL.")
    userAgent: str = Field("", max_length=1024)
    userId: str | None = Field(None, max_length=256)
    metadata: dict[MetaKey, MetaValue] | None = Field(None, max_length=MAX_METADATA_KEYS)
    token: str | None = Field(None, max_length=256, description="The token of the session to continue.")


class BatchSettings(BaseModel):
    url: str = Field(description="Where to POST batches (relative to the ingest point's origin).")
    flushIntervalMs: int
    maxRawBytes: int = Field(description="Flush once this much JSON is queued.")
    maxCompressedBytes: int = Field(description="Largest request body the batch endpoint takes.")


class SessionStarted(BaseModel):
    sessionId: str = Field(description="Decimal string: the id is a 63-bit integer.")
    token: str = Field(description="Send it to your backend in the X-OpenReplay-SessionToken header.")
    expiresAt: datetime
    projectId: int
    serverTime: int = Field(description="The server's clock, ms since the epoch (correct event times by it).")
    batch: BatchSettings


@router.options("/sessions", include_in_schema=False)
async def preflight(request: Request) -> Response:
    """Preflight cannot see the project key (it is in the body): the POST enforces each project's origins."""
    headers = cors_headers(request.headers.get("origin"))
    headers.update(
        {
            "Access-Control-Allow-Methods": "POST, OPTIONS",
            "Access-Control-Allow-Headers": "Content-Type",
            "Access-Control-Max-Age": "600",
        }
    )
    return Response(status_code=204, headers=headers)


_REQUEST_BODY = {
    "required": True,
    "content": {"application/json": {"schema": SessionStart.model_json_schema()}},
}
"""The body as the docs show it: the endpoint parses it itself (see :func:`parse_start`)."""


@router.post("/sessions", response_model=SessionStarted, openapi_extra={"requestBody": _REQUEST_BODY})
async def create_session(request: Request) -> Response:
    """Start a session, or continue the one a still-valid token of this project names.

    In the app, :class:`SessionStartShortcut` answers this route before FastAPI's routing.
    """
    return await start_response(request)


async def start_response(request: Request) -> Response:
    """The answer to a session start: 200 with the session, or the error envelope of a refusal.

    Concurrent starts are written together (:class:`~replaylink.api.group_commit.GroupCommit`):
    one transaction, one worker-thread call and one commit per batch.
    """
    origin = request.headers.get("origin")
    try:
        body = parse_start(await request.body(), request.headers.get("content-type"))
        starts: GroupCommit[StartRequest, StartedSession] = request.app.state.session_starts
        started = await starts.submit(StartRequest(body, origin, datetime.now(UTC)))
    except ApiError as exc:
        return api_error_response(exc)
    except RequestValidationError as exc:
        return validation_error_response(exc)
    except Exception as exc:
        if not database_unavailable(exc):
            raise  # the 500 envelope of UnhandledErrors
        # Answered here rather than by the catch-all for the CORS headers: the tracker reads the
        # status and Retry-After (cross-origin) and tries again then.
        headers = cors_headers(origin)
        if headers:
            headers["Access-Control-Expose-Headers"] = "Retry-After"
        return unavailable_response(request.scope, exc, correlation_id.get(), headers)
    answer = {
        "sessionId": str(started.id),
        "token": started.token,
        "expiresAt": started.expires_at,
        "projectId": started.project_id,
        "serverTime": time.time_ns() // 1_000_000,
        "batch": _batch_settings(request.app.state.runtime),
    }
    # Built here, not by ``response_model`` (which would validate the answer a second time).
    return Response(msgspec.json.encode(answer), media_type="application/json", headers=cors_headers(origin))


class SessionStartShortcut:
    """Answers ``POST /ingest/v1/sessions`` (every recorded page view calls it) without FastAPI's
    routing, dependency and exception layers, which cost more CPU than the start itself.

    Add it innermost (before the other middleware): the body limits, request ids and the 500
    envelope still apply. Its answers are :func:`start_response`'s, the route's own.
    """

    PATH = router.prefix + "/sessions"

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["path"] == self.PATH and scope["method"] == "POST":
            response = await start_response(Request(scope, receive))
            await response(scope, receive, send)
        else:
            await self.app(scope, receive, send)


def parse_start(raw: bytes, content_type: str | None) -> SessionStart:
    """The body as FastAPI would read it for a ``SessionStart`` parameter (JSON only with a JSON
    content type, 400 ``malformed_json`` / 422 ``invalid_request`` alike), parsed by pydantic's
    JSON parser straight from the bytes."""
    if not raw:
        raise RequestValidationError([{"type": "missing", "loc": ("body",), "msg": "Field required"}])
    if not _is_json(content_type):
        raise RequestValidationError([{"type": "model_attributes_type", "loc": ("body",), "msg": _NOT_JSON}])
    try:
        return SessionStart.model_validate_json(raw)
    except ValidationError as exc:
        errors = exc.errors(include_url=False, include_context=False)
        raise RequestValidationError([{**e, "loc": ("body", *e["loc"])} for e in errors]) from None


_NOT_JSON = "Input should be a valid dictionary or object to extract fields from"
"""FastAPI's words for a body without a JSON content type."""


def _is_json(content_type: str | None) -> bool:
    if not content_type:
        return False
    main, _, subtype = content_type.partition(";")[0].strip().lower().partition("/")
    return main == "application" and (subtype == "json" or subtype.endswith("+json"))


@dataclass(frozen=True, slots=True)
class StartRequest:
    """One start waiting for its batch."""

    body: SessionStart
    origin: str | None
    at: datetime


def session_starts(runtime: Runtime, state: State) -> GroupCommit[StartRequest, StartedSession]:
    """The app's group commit of session starts (``state``: the app's, for its database turn)."""

    def write(requests: Sequence[StartRequest]) -> list[StartedSession | Exception]:
        try:
            return _write_starts(runtime, requests)
        except Exception as exc:
            if not database_unavailable(exc):
                raise  # each request of the batch is tried alone
            return [exc] * len(requests)  # alone, each would fail the same way

    return GroupCommit(each_alone_on_failure(write), lambda: database_turn(state, writes=True))


def _batch_settings(rt: Runtime) -> dict[str, Any]:
    settings = rt.settings
    return {
        "url": BATCHES_PATH,
        "flushIntervalMs": settings.replay_flush_interval_ms,
        "maxRawBytes": settings.replay_flush_raw_bytes,
        "maxCompressedBytes": settings.replay_max_batch_bytes,
    }


ID_DRAWS = 3
"""Transactions a batch of starts may take: new session ids are 22 random bits per millisecond, and
another batch or process may have stored the same one (the insert then fails as a whole)."""


def _write_starts(rt: Runtime, requests: Sequence[StartRequest]) -> list[StartedSession | Exception]:
    """Record a batch of starts; drawn again (with new ids) when the database refuses its ids."""
    for _ in range(ID_DRAWS - 1):
        try:
            return _write_starts_once(rt, requests)
        except IntegrityError:
            log.info("a new session id was taken meanwhile; writing the batch again with new ids")
    return _write_starts_once(rt, requests)


def _write_starts_once(rt: Runtime, requests: Sequence[StartRequest]) -> list[StartedSession | Exception]:
    """One transaction: look up every project key, refuse what must be refused, record the rest."""
    lifetime = timedelta(seconds=rt.settings.session_lifetime_seconds)
    with write_transaction(rt.sessions) as db:
        projects = projects_by_keys(db, {r.body.projectKey for r in requests})
        outcomes: list[StartedSession | Exception | None] = []
        starts: list[NewSession] = []
        for request in requests:
            project = projects.get(request.body.projectKey)
            if project is None:
                outcomes.append(
                    ApiError(
                        404,
                        "unknown_project",
                        "No project has this project key; copy it from `replaylink project list`.",
                    )
                )
            elif not project.allows(request.origin):
                outcomes.append(
                    ApiError(
                        403, "origin_not_allowed", "This origin may not start sessions for this project."
                    )
                )
            else:
                outcomes.append(None)
                starts.append(_new_session(project.id, request))
        started = iter(start_sessions(db, rt.signer, lifetime, starts))
    return [next(started) if outcome is None else outcome for outcome in outcomes]


def _new_session(project_id: int, request: StartRequest) -> NewSession:
    body = request.body
    return NewSession(
        project_id=project_id,
        page_url=body.url,
        user_agent=body.userAgent,
        user_id=body.userId,
        metadata=body.metadata,
        token=body.token,
        at=request.at,
    )
