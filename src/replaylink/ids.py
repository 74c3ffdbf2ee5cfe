"""Identifiers, random keys and the base62 text they are written in (the lowest layer)."""

from __future__ import annotations

import secrets
import time
from datetime import UTC, datetime

_EPOCH_MS = 1_704_067_200_000  # 2024-01-01T00:00:00Z
_RANDOM_BITS = 22
EPOCH = datetime.fromtimestamp(_EPOCH_MS / 1000, UTC)
"""Session ids count milliseconds from here: ``session_id >> RANDOM_BITS`` is the session's start
(the error-group rollup relies on it, migration 0013)."""
RANDOM_BITS = _RANDOM_BITS
_ALPHABET = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
_INDEX = {char: value for value, char in enumerate(_ALPHABET)}


def b62encode(number: int) -> str:
    if number < 0:
        raise ValueError("b62encode takes a non-negative integer")
    if number == 0:
        return "0"
    digits = []
    while number:
        number, rest = divmod(number, 62)
        digits.append(_ALPHABET[rest])
    return "".join(reversed(digits))


def b62decode(text: str) -> int:
    number = 0
    for char in text:
        number = number * 62 + _INDEX[char]
    return number


def new_session_id(now: float | None = None) -> int:
    """A 63-bit id that sorts by creation time: milliseconds since 2024 then 22 random bits."""
    ms = int((time.time() if now is None else now) * 1000) - _EPOCH_MS
    return (max(ms, 0) << _RANDOM_BITS) | secrets.randbits(_RANDOM_BITS)


def random_key(nbytes: int = 24) -> str:
    """A base62 random string carrying ``nbytes`` bytes of entropy."""
    return b62encode(int.from_bytes(secrets.token_bytes(nbytes), "big")).rjust(nbytes * 4 // 3 + 1, "0")
