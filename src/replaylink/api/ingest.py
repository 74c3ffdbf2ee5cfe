"""``POST /ingest/v1/sessions``: the browser tracker starts (or continues) a session."""

from __future__ import annotations

import time
from datetime import datetime, timedelta
from typing import Annotated

import anyio
from fastapi import APIRouter, Request, Response
from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from replaylink.api.deps import RuntimeDep, database_turn
from replaylink.api.errors import ApiError
from replaylink.api.ingest_http import BATCHES_PATH, cors_headers
from replaylink.runtime import Runtime
from replaylink.store.accounts import origin_allowed, project_by_key
from replaylink.store.db import write_transaction
from replaylink.store.models import RecordedSession
from replaylink.store.sessions import start_session

router = APIRouter(prefix="/ingest/v1", tags=["ingest"])

MetaKey = Annotated[str, StringConstraints(min_length=1, max_length=64)]
MetaValue = Annotated[str, StringConstraints(max_length=1024)] | int | float | bool | None


class SessionStart(BaseModel):
    model_config = ConfigDict(extra="ignore")

    projectKey: str = Field(min_length=1, max_length=64, description="The project key the tracker was given.")
    url: str = Field("", max_length=2048, description="The page URL.")
    userAgent: str = Field("", max_length=1024)
    userId: str | None = Field(None, max_length=256)
    metadata: dict[MetaKey, MetaValue] | None = Field(None, max_length=50)
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
def preflight(request: Request) -> Response:
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


@router.post("/sessions", response_model=SessionStarted)
async def create_session(
    body: SessionStart, request: Request, response: Response, rt: RuntimeDep
) -> SessionStarted:
    """Start a session, or continue the one a still-valid token of this project names."""
    origin = request.headers.get("origin")
    # The whole start (read the project, write the session, commit) is one worker-thread call
    # inside the request's database turn: on SQLite the write lock is held for that call only.
    async with database_turn(request, writes=True):
        project_id, session, token = await anyio.to_thread.run_sync(_start, rt, body, origin)
    response.headers.update(cors_headers(origin))
    settings = rt.settings
    return SessionStarted(
        sessionId=str(session.id),
        token=token,
        expiresAt=session.token_expires_at,
        projectId=project_id,
        serverTime=time.time_ns() // 1_000_000,
        batch=BatchSettings(
            url=BATCHES_PATH,
            flushIntervalMs=settings.replay_flush_interval_ms,
            maxRawBytes=settings.replay_flush_raw_bytes,
            maxCompressedBytes=settings.replay_max_batch_bytes,
        ),
    )


def _start(rt: Runtime, body: SessionStart, origin: str | None) -> tuple[int, RecordedSession, str]:
    with write_transaction(rt.sessions) as db:
        project = project_by_key(db, body.projectKey)
        if project is None:
            raise ApiError(
                404,
                "unknown_project",
                "No project has this project key; copy it from `replaylink project list`.",
            )
        if not origin_allowed(project.allowed_origins, origin):
            raise ApiError(403, "origin_not_allowed", "This origin may not start sessions for this project.")
        session, token = start_session(
            db,
            rt.signer,
            project_id=project.id,
            lifetime=timedelta(seconds=rt.settings.session_lifetime_seconds),
            page_url=body.url,
            user_agent=body.userAgent,
            user_id=body.userId,
            metadata=body.metadata,
            token=body.token,
        )
        return project.id, session, token
