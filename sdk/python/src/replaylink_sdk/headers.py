"""Reading the token from request headers (WSGI/Django ``environ`` or ASGI header pairs)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from .context import is_plausible_token
from .marker import MARKER

HEADER = "X-OpenReplay-SessionToken"
"""The header the browser tracker sends (the seed documentation's name)."""

BAGGAGE_KEY = MARKER
MAX_BAGGAGE = 8192
"""W3C baggage limit; longer ``baggage`` headers are not parsed."""


def token_from_baggage(baggage: str) -> str | None:
    """The plausible ``openReplaySessionToken`` entry of a W3C ``baggage`` header, if any."""
    if len(baggage) > MAX_BAGGAGE or BAGGAGE_KEY not in baggage:
        return None
    for member in baggage.split(","):
        key, _, value = member.partition("=")
        if key.strip(" \t") == BAGGAGE_KEY:
            value = value.partition(";")[0].strip(" \t")  # OWS only: CR/LF stay and are refused
            return value if is_plausible_token(value) else None
    return None


class HeaderReader:
    """Finds the token in the configured headers (first plausible wins), then in ``baggage``.

    A value that is not a plausible token is ignored entirely.
    """

    __slots__ = ("_asgi_names", "_asgi_wanted", "_baggage", "_environ_keys")

    def __init__(self, header_names: Sequence[str] = (HEADER,), baggage: bool = True) -> None:
        if isinstance(header_names, str):
            header_names = (header_names,)
        self._environ_keys = tuple("HTTP_" + name.upper().replace("-", "_") for name in header_names)
        self._asgi_names = tuple(name.lower().encode("latin-1") for name in header_names)
        self._asgi_wanted = frozenset((*self._asgi_names, b"baggage"))
        self._baggage = baggage

    def from_environ(self, environ: Mapping[str, Any]) -> str | None:
        """Token from a WSGI environ or Django ``request.META``."""
        values = [environ.get(key) for key in self._environ_keys]
        return self._choose(values, environ.get("HTTP_BAGGAGE"))

    def from_asgi(self, headers: Iterable[tuple[bytes, bytes]]) -> str | None:
        """Token from ASGI ``scope["headers"]`` (lower-case names, latin-1 values)."""
        found: dict[bytes, str] = {}
        for name, value in headers:
            if name in self._asgi_wanted and name not in found:
                found[name] = value.decode("latin-1")
        if not found:
            return None
        return self._choose([found.get(name) for name in self._asgi_names], found.get(b"baggage"))

    def _choose(self, values: list[Any], baggage: object) -> str | None:
        for value in values:
            if is_plausible_token(value):
                return value
        if self._baggage and isinstance(baggage, str):
            return token_from_baggage(baggage)
        return None
