"""Identifiers and random keys."""

from __future__ import annotations

import secrets
import time

from replaylink.tokens import b62encode

_EPOCH_MS = 1_704_067_200_000  # 2024-01-01T00:00:00Z
_RANDOM_BITS = 22


def new_session_id(now: float | None = None) -> int:
    """A 63-bit id that sorts by creation time: milliseconds since 2024 then 22 random bits."""
    ms = int((time.time() if now is None else now) * 1000) - _EPOCH_MS
    return (max(ms, 0) << _RANDOM_BITS) | secrets.randbits(_RANDOM_BITS)


def random_key(nbytes: int = 24) -> str:
    """A base62 random string carrying ``nbytes`` bytes of entropy."""
    return b62encode(int.from_bytes(secrets.token_bytes(nbytes), "big")).rjust(nbytes * 4 // 3 + 1, "0")
