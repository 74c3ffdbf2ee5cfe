"""Django middleware, sync and async: add ``"replaylink_sdk.django.SessionTokenMiddleware"`` first.

Settings (optional): ``REPLAYLINK_HEADER_NAMES`` (default ``["X-OpenReplay-SessionToken"]``) and
``REPLAYLINK_BAGGAGE`` (default ``True``). Django turns view exceptions into 500 responses inside
the middleware chain and logs them there (``django.request``), so those lines carry the token.
Bodies of ``StreamingHttpResponse`` are produced after the middleware returns; to tag logs
written while streaming, also wrap the WSGI application with
:class:`replaylink_sdk.wsgi.SessionTokenMiddleware`.
"""

from __future__ import annotations

from typing import Any, Callable

from asgiref.sync import iscoroutinefunction, markcoroutinefunction
from django.conf import settings

from .context import await_with_token, call_with_token
from .headers import HEADER, HeaderReader


class SessionTokenMiddleware:
    """Makes the request's token current while the rest of the chain and the view run."""

    sync_capable = True
    async_capable = True

    def __init__(self, get_response: Callable[[Any], Any]) -> None:
        self.get_response = get_response
        self._reader = HeaderReader(
            getattr(settings, "REPLAYLINK_HEADER_NAMES", (HEADER,)),
            getattr(settings, "REPLAYLINK_BAGGAGE", True),
        )
        self._async = iscoroutinefunction(get_response)
        if self._async:
            markcoroutinefunction(self)

    def __call__(self, request: Any) -> Any:
        token = self._reader.from_environ(request.META)
        if self._async:
            return await_with_token(token, self.get_response, request)
        return call_with_token(token, self.get_response, request)
