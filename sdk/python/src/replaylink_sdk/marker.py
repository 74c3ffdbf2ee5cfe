"""How the token is written into log messages: the marker name and the prefix."""

from __future__ import annotations

MARKER = "openReplaySessionToken"
"""Case-sensitive name used in log lines, record attributes, Sentry tags and Celery headers."""

DEFAULT_PREFIX = "[" + MARKER + "={token}] "
"""The seed snippet's format: ``[openReplaySessionToken=<token>] message``."""


class Prefix:
    """Puts a rendered template (``{token}`` marks the token) in front of messages."""

    __slots__ = ("_head", "_tail", "last")

    def __init__(self, template: str = DEFAULT_PREFIX) -> None:
        head, found, tail = template.partition("{token}")
        if not found:
            raise ValueError("the prefix template must contain '{token}'")
        self._head = head
        self._tail = tail
        self.last = ("", head + tail)
        """(token, its prefix) of the latest :meth:`render`: one tuple, so threads never mix halves."""

    def render(self, token: str) -> str:
        """The prefix for ``token`` (kept for the next call: a request logs many lines)."""
        prefix = self._head + token + self._tail
        self.last = (token, prefix)
        return prefix

    def apply(self, message: str, token: str) -> str:
        """Return ``message`` prefixed, or unchanged when it already carries the prefix."""
        last_token, prefix = self.last
        if token is not last_token:
            prefix = self.render(token)
        return message if prefix in message else prefix + message
