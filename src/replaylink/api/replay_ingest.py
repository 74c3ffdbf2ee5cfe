"""``POST /ingest/v1/batches``: the tracker's recorded events, authenticated by the session token.

Answers 204 when stored (also for a batch already stored: retries are idempotent); errors use
the JSON envelope and always carry the CORS header, so the tracker can read why it was refused
(401 start a new session, 409 stop recording, 413 split, 429 and 503 wait Retry-After). The project's
allowed origins are enforced by refusing the write (403), not by hiding the answer.

The checks and the blob run in a worker thread first; the one database write then waits for its
turn at the database like every other writer (on SQLite the app's write gate), holding no thread
while it waits.
"""

from __future__ import annotations

from fastapi import APIRouter, Request, Response
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import JSONResponse

from replaylink.api.deps import database_turn
from replaylink.api.errors import error_body
from replaylink.api.ingest_http import BATCHES_PATH, cors_headers
from replaylink.replay.ingest import Outcome, Refused
from replaylink.runtime import Runtime

router = APIRouter(tags=["ingest"])

TOKEN_HEADER = "x-openreplay-sessiontoken"
ALLOWED_HEADERS = "Authorization, Content-Type, Content-Encoding, X-OpenReplay-SessionToken"


def session_token(request: Request) -> str | None:
    """From ``Authorization: Bearer``, else ``X-OpenReplay-SessionToken``, else ``?token=`` (sendBeacon)."""
    authorization = request.headers.get("authorization", "")
    scheme, _, credentials = authorization.partition(" ")
    if scheme.lower() == "bearer" and credentials.strip():
        return credentials.strip()
    return request.headers.get(TOKEN_HEADER) or request.query_params.get("token") or None


@router.options(BATCHES_PATH, include_in_schema=False)
def preflight(request: Request) -> Response:
    """Any origin may ask; the POST checks the session's project's allowed origins."""
    headers = cors_headers(request.headers.get("origin"))
    headers.update(
        {
            "Access-Control-Allow-Methods": "POST, OPTIONS",
            "Access-Control-Allow-Headers": ALLOWED_HEADERS,
            "Access-Control-Max-Age": "600",
        }
    )
    return Response(status_code=204, headers=headers)


@router.post(
    BATCHES_PATH,
    status_code=204,
    response_class=Response,
    responses={
        400: {"description": "Malformed batch (the message says what)."},
        401: {"description": "invalid_token or session_expired: start a new session."},
        403: {"description": "origin_not_allowed"},
        409: {"description": "session_too_large or session_too_long: stop recording."},
        413: {"description": "batch_too_large / body_too_large: send smaller batches."},
        429: {"description": "rate_limited: wait Retry-After seconds."},
        503: {"description": "store_unavailable or database_unavailable: retry after Retry-After seconds."},
    },
)
async def post_batch(request: Request) -> Response:
    """Store one batch: ``{"v": 1, "tab", "seq", "events": [rrweb], "devtools": [...], "page"}``,
    JSON, optionally gzip (``Content-Encoding: gzip``, or recognised by its magic bytes)."""
    runtime: Runtime = request.app.state.runtime
    origin = request.headers.get("origin")
    headers = cors_headers(origin)
    body = await request.body()
    ingestor = runtime.ingestor
    try:
        step = await run_in_threadpool(
            ingestor.prepare,
            session_token(request),
            body,
            encoding=request.headers.get("content-encoding"),
            origin=origin,
        )
        if not isinstance(step, Outcome):
            async with database_turn(request.app.state, writes=True):
                await run_in_threadpool(ingestor.add_segment, step)
    except Refused as refused:
        if refused.retry_after is not None:
            headers["Retry-After"] = str(refused.retry_after)
            headers["Access-Control-Expose-Headers"] = "Retry-After"
        return JSONResponse(
            error_body(refused.code, refused.message), status_code=refused.status, headers=headers
        )
    return Response(status_code=204, headers=headers)
