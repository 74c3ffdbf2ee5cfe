"""sentry-sdk: tag events captured inside a request with ``openReplaySessionToken``.

``sentry_sdk.init(dsn=..., integrations=[ReplayLinkIntegration()])``, or, without the
integration, ``sentry_sdk.init(dsn=..., before_send=tag_event)``. Events captured outside a
request get no tag. An uncaught exception that Sentry captures after the request scope ended
(e.g. in Sentry's own ASGI middleware) is tagged from the note the SDK middlewares attach.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import sentry_sdk
from sentry_sdk.integrations import Integration
from sentry_sdk.scope import add_global_event_processor

from .context import noted_token, token_var
from .marker import MARKER

if TYPE_CHECKING:
    from sentry_sdk._types import Event, Hint


def tag_event(event: Event, hint: Hint) -> Event:
    """Set the tag on ``event`` when a token is current or noted on its exception."""
    token = token_var.get()
    exc_info = hint.get("exc_info") if hint else None
    if token is None and exc_info:
        token = noted_token(exc_info[1])
    if token is not None:
        event.setdefault("tags", {})[MARKER] = token
    return event


class ReplayLinkIntegration(Integration):
    """Registers :func:`tag_event` as an event processor while the integration is enabled."""

    identifier = "replaylink"

    @staticmethod
    def setup_once() -> None:
        add_global_event_processor(_process)


def _process(event: Event, hint: Hint) -> Event:
    if sentry_sdk.get_client().get_integration(ReplayLinkIntegration) is None:
        return event
    return tag_event(event, hint)
