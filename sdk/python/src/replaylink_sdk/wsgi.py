"""WSGI middleware (Flask, Bottle, Pyramid, any WSGI app): the token is current per request.

Flask: ``app.wsgi_app = SessionTokenMiddleware(app.wsgi_app)``; other apps:
``app = SessionTokenMiddleware(app)``.
The token is current while the app is called, while each chunk of the response iterable is
produced (streamed responses) and while it is closed; it is reset in between, so a server that
iterates elsewhere or forgets ``close()`` never sees a stale token.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from typing import TYPE_CHECKING, Any

from .context import call_with_token
from .headers import HEADER, HeaderReader

if TYPE_CHECKING:
    from _typeshed.wsgi import StartResponse, WSGIApplication, WSGIEnvironment


class SessionTokenMiddleware:
    """Makes the request's token current; see :class:`replaylink_sdk.asgi.SessionTokenMiddleware`."""

    def __init__(
        self, app: WSGIApplication, header_names: Sequence[str] = (HEADER,), baggage: bool = True
    ) -> None:
        self.app = app
        self._reader = HeaderReader(header_names, baggage)

    def __call__(self, environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
        token = self._reader.from_environ(environ)
        result = call_with_token(token, self.app, environ, start_response)
        if isinstance(result, (list, tuple)):
            return result
        return _TokenIterable(result, token)


_DONE: Any = object()


class _TokenIterable:
    """A response iterable that runs each step of the wrapped one with the token current."""

    __slots__ = ("_iterator", "_result", "_token")

    def __init__(self, result: Iterable[bytes], token: str | None) -> None:
        self._result = result
        self._token = token
        self._iterator: Iterator[bytes] = call_with_token(token, iter, result)

    def __iter__(self) -> Iterator[bytes]:
        return self

    def __next__(self) -> bytes:
        chunk: bytes = call_with_token(self._token, next, self._iterator, _DONE)
        if chunk is _DONE:
            raise StopIteration
        return chunk

    def close(self) -> None:
        close = getattr(self._result, "close", None)
        if close is not None:
            call_with_token(self._token, close)
