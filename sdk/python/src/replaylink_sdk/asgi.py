"""ASGI middleware (Starlette, FastAPI, Quart, any ASGI app): the token is current per request.

``app.add_middleware(SessionTokenMiddleware)`` in Starlette/FastAPI, or wrap any app:
``app = SessionTokenMiddleware(app)``. Add it last so it is the outermost of your middlewares:
everything inside it (handlers, background tasks, tasks they spawn) sees the token.
"""

from __future__ import annotations

from collections.abc import Awaitable, MutableMapping, Sequence
from typing import Any, Callable

from .context import await_with_token
from .headers import HEADER, HeaderReader

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]


class SessionTokenMiddleware:
    """Makes the request's token current for ``http`` and ``websocket`` scopes.

    The token is read from ``header_names`` (first plausible value wins), then from the W3C
    ``baggage`` entry ``openReplaySessionToken`` unless ``baggage=False``. An exception that
    escapes the app gets the token as a note (:func:`replaylink_sdk.context.annotate`).
    """

    def __init__(self, app: ASGIApp, header_names: Sequence[str] = (HEADER,), baggage: bool = True) -> None:
        self.app = app
        self._reader = HeaderReader(header_names, baggage)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] not in ("http", "websocket"):
            await self.app(scope, receive, send)
            return
        token = self._reader.from_asgi(scope["headers"])
        await await_with_token(token, self.app, scope, receive, send)
