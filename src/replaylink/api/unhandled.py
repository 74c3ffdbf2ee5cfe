"""Request ids, and the answer to every unhandled error: 500 ``internal`` naming the request id.

Each request carries an id: the caller's ``X-Request-ID`` when it is sane (1-128 letters, digits,
``.``, ``_``, ``-``, ``:``), else a new one; it is echoed in the ``X-Request-ID`` response header.
An exception no handler answered is logged with its traceback and the request id (logger
``replaylink.api``), and the client gets the documented error envelope with that id and nothing
of the exception (no traceback, no SQL).

Except when the database cannot be reached or is busy
(:func:`replaylink.store.unavailable.database_unavailable`), wherever it was found (an endpoint, a
dependency, a middleware, the session-start shortcut): then the answer is 503
``database_unavailable`` with ``Retry-After``, and the log gets one warning line per request, no
traceback (an outage would otherwise log one per request).
"""

from __future__ import annotations

import logging
import re
from uuid import uuid4

from asgi_correlation_id import CorrelationIdMiddleware, correlation_id
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse
from sqlalchemy.exc import SQLAlchemyError
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from replaylink.api.errors import database_unavailable_response, error_body
from replaylink.store.unavailable import database_unavailable, reason

REQUEST_ID_HEADER = "X-Request-ID"
_SANE_ID = re.compile(r"[A-Za-z0-9._:-]{1,128}")

log = logging.getLogger("replaylink.api")


def sane_request_id(value: str) -> bool:
    """May an incoming ``X-Request-ID`` be used (and logged, and echoed) as it is?"""
    return _SANE_ID.fullmatch(value) is not None


def internal_error(request_id: str | None, *, header: bool = True) -> JSONResponse:
    """500 ``internal``: the request id is all the client learns."""
    body = error_body(
        "internal",
        "Something went wrong on the server; it is logged under this request id. Retry, and if it "
        "persists, report the request id to the server's operator.",
        [{"request_id": request_id}],
    )
    headers = {REQUEST_ID_HEADER: request_id} if request_id and header else None
    return JSONResponse(body, status_code=500, headers=headers)


def _log_unhandled(scope: Scope, exc: BaseException, request_id: str | None) -> None:
    log.error(
        "unhandled error in %s %s (request id %s)",
        scope.get("method", "-"),
        scope.get("path", "-"),
        request_id,
        exc_info=exc,
    )


def unavailable_response(
    scope: Scope, exc: BaseException, request_id: str | None, headers: dict[str, str] | None = None
) -> JSONResponse:
    """The 503 ``database_unavailable`` answer to ``exc`` (which :func:`database_unavailable`
    accepted), logged as one warning line: what failed and why, without a traceback."""
    log.warning(
        "database unavailable in %s %s (request id %s): %s",
        scope.get("method", "-"),
        scope.get("path", "-"),
        request_id,
        reason(exc),
    )
    return database_unavailable_response(headers)


class UnhandledErrors:
    """Turns an exception raised anywhere inside into the 500 ``internal`` envelope (503
    ``database_unavailable`` when the database cannot be reached or is busy).

    Once the response has started (a streaming body failing halfway) nothing can be answered
    any more: the error is logged with the request id and re-raised, so the server drops the
    connection.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = False

        async def watching(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, receive, watching)
        except Exception as exc:
            request_id = correlation_id.get()
            if not started and database_unavailable(exc):
                response = unavailable_response(scope, exc, request_id)
            else:
                _log_unhandled(scope, exc, request_id)
                if started:
                    raise
                response = internal_error(request_id, header=False)
            # Sent through ``send``: CorrelationIdMiddleware adds the X-Request-ID header.
            await response(scope, receive, send)


class RequestIds(CorrelationIdMiddleware):
    """asgi-correlation-id's middleware without its Sentry extension.

    The extension tags the Sentry SDK's scope with each request id whenever ``sentry_sdk`` can be
    imported (the dev install has it), though the server never initializes Sentry: it cost about as
    much CPU per request as the rest of the middleware stack together (measured on session starts).
    """

    def __post_init__(self) -> None:
        super().__post_init__()
        self.sentry_extension = _no_sentry


def _no_sentry(_request_id: str) -> None:
    return None


def install_unhandled_errors(app: FastAPI) -> None:
    """Add request ids and the catch-all. Call after every other ``add_middleware``: both must be
    outermost. Errors of middleware added later still get the envelope, from the handler that
    Starlette's ServerErrorMiddleware calls."""
    app.add_middleware(UnhandledErrors)
    app.add_middleware(RequestIds, header_name=REQUEST_ID_HEADER, validator=sane_request_id)

    @app.exception_handler(SQLAlchemyError)
    async def _database(request: Request, exc: SQLAlchemyError) -> JSONResponse:
        # Answered here, inside the middleware, when the endpoint or a dependency failed: the
        # answer passes the CORS middleware. Any other database error goes on to the catch-all.
        if not database_unavailable(exc):
            raise exc
        return unavailable_response(request.scope, exc, correlation_id.get())

    @app.exception_handler(Exception)
    async def _outermost(request: Request, exc: Exception) -> JSONResponse:
        request_id = correlation_id.get() or uuid4().hex  # none yet when it failed outside
        if database_unavailable(exc):
            response = unavailable_response(request.scope, exc, request_id)
            response.headers[REQUEST_ID_HEADER] = request_id
            return response
        _log_unhandled(request.scope, exc, request_id)
        return internal_error(request_id)
