"""The FastAPI application."""

from __future__ import annotations

import asyncio
import gc
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import anyio
from fastapi import FastAPI
from fastapi.middleware.cors import CORSMiddleware
from starlette.types import ASGIApp, Receive, Scope, Send

from replaylink import __version__
from replaylink.api import (
    api_keys,
    auth,
    backend_errors,
    choices,
    diagnostics,
    error_histograms,
    health,
    ingest,
    integrations,
    metrics,
    projects,
    replay,
    replay_ingest,
    sessions,
    static,
    users,
    webui,
)
from replaylink.api.access_log import redact_tokens
from replaylink.api.deps import DB_SLOTS
from replaylink.api.docs import install_docs
from replaylink.api.errors import install_error_handlers
from replaylink.api.ingest_http import BATCHES_PATH
from replaylink.api.limits import BodySizeLimit
from replaylink.api.unhandled import install_unhandled_errors
from replaylink.importer import metrics as importer_metrics
from replaylink.runtime import Runtime
from replaylink.runtime_importer import make_importer


class ApiCORS:
    """CORS for /api/v1 from settings; /ingest answers CORS per project itself."""

    def __init__(self, app: ASGIApp, /, **options: Any) -> None:
        self.app = app
        self.cors = CORSMiddleware(app, **options)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and str(scope.get("path", "")).startswith("/ingest/"):
            await self.app(scope, receive, send)
        else:
            await self.cors(scope, receive, send)


def create_app(runtime: Runtime, *, run_importer: bool = False) -> FastAPI:
    redact_tokens()

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        # What start-up made lives as long as the process: out of the garbage collector's full
        # passes, which otherwise walk it all (~50 ms) every few hundred requests.
        gc.freeze()
        if not run_importer:
            yield
            return
        importer = make_importer(runtime)
        task = asyncio.create_task(importer.run(), name="importer")
        try:
            yield
        finally:
            importer.stop()
            await task

    app = FastAPI(
        lifespan=lifespan,
        title="ReplayLink",
        version=__version__,
        description="Backend errors from your log providers, on each recorded session's timeline.",
        docs_url=None,  # served offline by install_docs
        redoc_url=None,
    )
    app.state.runtime = runtime
    # Where requests queue for the database without holding a worker thread (see deps.get_db).
    app.state.db_slots = anyio.CapacityLimiter(DB_SLOTS)
    app.state.sqlite_write_gate = anyio.Lock() if runtime.settings.is_sqlite else None
    app.state.session_starts = ingest.session_starts(runtime, app.state)
    importer_metrics.register_lag(runtime.sessions)
    install_error_handlers(app)
    install_docs(app)
    for router in (
        health.router,
        metrics.router,
        ingest.router,
        replay_ingest.router,
        projects.router,
        integrations.router,
        choices.router,
        diagnostics.router,
        sessions.router,
        replay.router,
        backend_errors.router,
        static.router,
        error_histograms.router,
        auth.router,
        users.router,
        api_keys.router,
    ):
        app.include_router(router)
    app.add_middleware(ingest.SessionStartShortcut)  # innermost: inside the limits and request ids
    app.add_middleware(
        ApiCORS,
        allow_origins=runtime.settings.cors_origins,
        allow_methods=["GET", "POST", "PUT", "PATCH", "DELETE"],
        allow_headers=["Authorization", "Content-Type", "X-CSRF-Token"],
    )
    app.add_middleware(
        BodySizeLimit,
        max_bytes=runtime.settings.max_body_bytes,
        own_limits={BATCHES_PATH: runtime.settings.replay_max_batch_bytes},
    )
    install_unhandled_errors(app)  # after every other middleware: request ids and the 500 envelope
    app.include_router(webui.router)  # keep last: its catch-all answers only what no other route does
    return app
