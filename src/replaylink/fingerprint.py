"""Group the same error across sessions: provider + exception type + normalised message."""

from __future__ import annotations

import hashlib
import re

from replaylink.providers.base import MARKER_PREFIX

_MARKER = re.compile(r"\[?" + re.escape(MARKER_PREFIX) + r"[0-9A-Za-z.]*\]?\s*")
_VOLATILE = re.compile(
    r"""
    (?=[\da-fA-F'"])  # every value starts so: other positions fail before the branches are tried
    (?:
      [0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}  # uuids
    | \b0x[0-9a-fA-F]+\b                                                         # addresses
    | \b[0-9a-fA-F]{12,}\b                                                       # hashes, ids
    | \d+(?:\.\d+)*                                                              # numbers, versions, ips
    | '[^']{0,200}' | "[^"]{0,200}"                                              # quoted values
    )
    """,
    re.VERBOSE,
)


def normalise(message: str) -> str:
    """First line without the token marker, volatile values replaced, spaces collapsed, lowercased."""
    first = message.strip().split("\n", 1)[0][:1000]
    if MARKER_PREFIX in first:
        first = _MARKER.sub("", first)
    first = _VOLATILE.sub("<>", first)
    return " ".join(first.split()).lower()[:500]  # str.split's whitespace is the regex \s


def strip_marker(text: str) -> str:
    """A title without the ``[openReplaySessionToken=...]`` noise."""
    return _MARKER.sub("", text).strip() if MARKER_PREFIX in text else text


def fingerprint(provider: str, exception_type: str | None, message: str) -> str:
    key = f"{provider}\x00{exception_type or ''}\x00{normalise(message)}"
    return hashlib.sha256(key.encode("utf-8", "replace")).hexdigest()[:32]
