"""Request body size limit, enforced while the body streams in."""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from typing import Any

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from replaylink.api.errors import error_body

_JSON_NUL = re.compile(rb"(?<!\\)(?:\\\\)*\\u0000", re.IGNORECASE)
"""A JSON ``\u0000`` escape that is not itself an escaped backslash."""


_CONSTANTS = (b"NaN", b"Infinity")
"""In every non-standard constant's spelling (``-Infinity`` too)."""


class _NonStandardConstant(ValueError):
    """``NaN``, ``Infinity`` or ``-Infinity``: Python's json reads them, JSON has no such thing."""


def _refuse_constant(name: str) -> Any:
    raise _NonStandardConstant(name)


def non_standard_constant(scope: Scope, body: bytes) -> str | None:
    """The first ``NaN``/``Infinity``/``-Infinity`` of a JSON body (as FastAPI would parse it), if any.

    FastAPI reads bodies with Python's json, which accepts these constants; no database column
    or JSON client can take them (PostgreSQL's jsonb refuses NaN), so they are refused up front.
    A body that is not JSON at all is left to the endpoint (it answers ``malformed_json``).
    """
    if not any(name in body for name in _CONSTANTS) or not _is_json(scope):
        return None  # the usual case, at the cost of a substring search instead of a parse
    try:
        json.loads(body, parse_constant=_refuse_constant)
    except _NonStandardConstant as exc:
        return str(exc)
    except (ValueError, RecursionError):
        return None
    return None


def _is_json(scope: Scope) -> bool:
    """Whether FastAPI parses this body as JSON: no Content-Type, or ``*/json`` / ``*/*+json``."""
    content_type = next((v for k, v in scope.get("headers", ()) if k == b"content-type"), None)
    if content_type is None:
        return True
    subtype = content_type.split(b";", 1)[0].strip().lower().rpartition(b"/")[2]
    return subtype == b"json" or subtype.endswith(b"+json")


def has_nul(scope: Scope, body: bytes) -> bool:
    """NUL characters anywhere in the request: no text column can store them (PostgreSQL refuses)."""
    target = scope.get("raw_path", b"") + b"?" + scope.get("query_string", b"")
    return b"%00" in target or b"\x00" in body or _JSON_NUL.search(body) is not None


def _encoded(scope: Scope) -> bool:
    """A ``Content-Encoding`` other than identity (which no endpoint but the batches one decodes)."""
    return any(
        name == b"content-encoding" and value.strip().lower() not in (b"", b"identity")
        for name, value in scope.get("headers", ())
    )


class BodySizeLimit:
    """Answer 413 for a body over ``max_bytes`` (by Content-Length or by counting), and 400 for
    a request carrying NUL characters or a JSON body with ``NaN``/``Infinity``/``-Infinity``.

    ``own_limits`` maps paths that check their own (possibly binary, compressed) content to their
    size limit: those bodies are only counted against it, and a refusal there carries the CORS
    header a browser needs to read it (those paths answer CORS themselves).
    """

    def __init__(self, app: ASGIApp, max_bytes: int, own_limits: Mapping[str, int] | None = None) -> None:
        self.app = app
        self.default_max_bytes = max_bytes
        self.own_limits = dict(own_limits or {})

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        own_limit = self.own_limits.get(scope.get("path", ""))
        max_bytes = own_limit or self.default_max_bytes
        extra: list[tuple[bytes, bytes]] = []
        if own_limit is not None:
            origin = next((v for k, v in scope.get("headers", ()) if k == b"origin"), None)
            if origin:
                extra = [(b"access-control-allow-origin", origin), (b"vary", b"Origin")]
        for name, value in scope.get("headers", ()):
            if name == b"content-length":
                try:
                    too_big = int(value) > max_bytes
                except ValueError:
                    too_big = False
                if too_big:
                    await self._too_large(send, max_bytes, extra)
                    return
        # Bodies are small (<= max_bytes): buffer, then replay, so an oversized stream is
        # refused before any endpoint sees (and possibly half-parses) it.
        chunks: list[bytes] = []
        size = 0
        more = True
        while more:
            message = await receive()
            if message["type"] != "http.request":
                return  # client went away
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > max_bytes:
                await self._too_large(send, max_bytes, extra)
                return
            chunks.append(chunk)
            more = message.get("more_body", False)
        body = b"".join(chunks)
        if own_limit is None and _encoded(scope):
            await self._reject(
                send,
                415,
                "unsupported_encoding",
                "This endpoint reads its body as sent: remove Content-Encoding (only the replay "
                "batches endpoint takes gzip).",
            )
            return
        if own_limit is None and has_nul(scope, body):
            await self._reject(
                send, 400, "nul_character", "Text may not contain NUL characters; remove them and retry."
            )
            return
        constant = None if own_limit is not None else non_standard_constant(scope, body)
        if constant is not None:
            await self._reject(
                send,
                400,
                "malformed_json",
                f"The request body is not valid JSON: {constant} is not a JSON value; "
                "send a finite number, null or a string instead.",
            )
            return
        replayed = False

        async def replay() -> Message:
            nonlocal replayed
            if not replayed:
                replayed = True
                return {"type": "http.request", "body": body, "more_body": False}
            return await receive()

        await self.app(scope, replay, send)

    async def _too_large(self, send: Send, max_bytes: int, extra: list[tuple[bytes, bytes]]) -> None:
        await self._reject(
            send,
            413,
            "body_too_large",
            f"The request body is larger than {max_bytes} bytes; send less data per request.",
            extra,
        )

    async def _reject(
        self, send: Send, status: int, code: str, message: str, extra: Sequence[tuple[bytes, bytes]] = ()
    ) -> None:
        body = json.dumps(error_body(code, message)).encode()
        await send(
            {
                "type": "http.response.start",
                "status": status,
                "headers": [
                    (b"content-type", b"application/json"),
                    (b"content-length", str(len(body)).encode()),
                    *extra,
                ],
            }
        )
        await send({"type": "http.response.body", "body": body})
