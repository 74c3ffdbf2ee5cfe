"""structlog processor (structlog itself is not imported: processors are plain callables).

``structlog.configure(processors=[SessionTokenProcessor(), ..., JSONRenderer()])``: inside a
request the event dict gets ``openReplaySessionToken=<token>`` and a string ``event`` is prefixed
``[openReplaySessionToken=<token>] ``; outside a request it passes through untouched.
"""

from __future__ import annotations

from collections.abc import MutableMapping
from typing import Any

from .context import token_var
from .marker import DEFAULT_PREFIX, MARKER, Prefix

EventDict = MutableMapping[str, Any]


class SessionTokenProcessor:
    """Adds the token key and prefixes the event; ``prefix`` is a template containing ``{token}``."""

    __slots__ = ("_prefix",)

    def __init__(self, prefix: str = DEFAULT_PREFIX) -> None:
        self._prefix = Prefix(prefix)

    def __call__(self, logger: Any, method_name: str, event_dict: EventDict) -> EventDict:
        token = token_var.get()
        if token is not None:
            event_dict[MARKER] = token
            event = event_dict.get("event")
            if isinstance(event, str):
                event_dict["event"] = self._prefix.apply(event, token)
        return event_dict
