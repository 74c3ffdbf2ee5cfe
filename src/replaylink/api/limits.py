"""Request body size limit, enforced while the body streams in."""

from __future__ import annotations

import json
import re

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from replaylink.api.errors import error_body

_JSON_NUL = re.compile(rb"(?<!\\)(?:\\\\)*\\u0000", re.IGNORECASE)
"""A JSON ``\u0000`` escape that is not itself an escaped backslash."""


def has_nul(scope: Scope, body: bytes) -> bool:
    """NUL characters anywhere in the request: no text column can store them (PostgreSQL refuses)."""
    target = scope.get("raw_path", b"") + b"?" + scope.get("query_string", b"")
    return b"%00" in target or b"\x00" in body or _JSON_NUL.search(body) is not None


class BodySizeLimit:
    """Answer 413 for a body over ``max_bytes`` (by Content-Length or by counting), and 400 for
    a request carrying NUL characters."""

    def __init__(self, app: ASGIApp, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        for name, value in scope.get("headers", ()):
            if name == b"content-length":
                try:
                    too_big = int(value) > self.max_bytes
                except ValueError:
                    too_big = False
                if too_big:
                    await self._too_large(send)
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
            if size > self.max_bytes:
                await self._too_large(send)
                return
            chunks.append(chunk)
            more = message.get("more_body", False)
        body = b"".join(chunks)
        if has_nul(scope, body):
            await self._reject(
                send, 400, "nul_character", "Text may not contain NUL characters; remove them and retry."
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

    async def _too_large(self, send: Send) -> None:
        await self._reject(
            send,
            413,
            "body_too_large",
            f"The request body is larger than {self.max_bytes} bytes; send less data per request.",
        )

    async def _reject(self, send: Send, status: int, code: str, message: str) -> None:
        body = json.dumps(error_body(code, message)).encode()
        await send(
            {
                "type": "http.response.start",
                "status": status,
                "headers": [
                    (b"content-type", b"application/json"),
                    (b"content-length", str(len(body)).encode()),
                ],
            }
        )
        await send({"type": "http.response.body", "body": body})
