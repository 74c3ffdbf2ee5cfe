"""Opaque keyset cursors: the sort key of the last row of a page, base64url-encoded.

A cursor is ``base64url("<kind>:<part>:<part>...")``; only the last part may hold a ``:``.
Datetimes travel as epoch microseconds, so a cursor survives any time zone and both databases'
precision. ``kind`` stops a cursor of
one listing from being replayed against another.
"""

from __future__ import annotations

import base64
import binascii
from datetime import UTC, datetime, timedelta

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
MAX_CURSOR_CHARS = 512
Part = int | str | datetime


class InvalidCursor(ValueError):
    """A cursor that this server did not hand out (or for another listing)."""


def encode(kind: str, *parts: Part) -> str:
    fields = [kind]
    for part in parts:
        if isinstance(part, datetime):
            fields.append("t" + str((part - _EPOCH) // timedelta(microseconds=1)))
        elif isinstance(part, int):
            fields.append("i" + str(part))
        else:
            fields.append("s" + part)
    raw = ":".join(fields).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode(kind: str, cursor: str, *types: type[Part]) -> list[Part]:
    """The parts of a cursor of ``kind``, one per type in ``types``; raises :class:`InvalidCursor`."""
    arity = len(types)
    if len(cursor) > MAX_CURSOR_CHARS:
        raise InvalidCursor("cursor too long")
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
    except (binascii.Error, ValueError):
        raise InvalidCursor("not base64") from None
    fields = raw.split(":", arity)
    if len(fields) != arity + 1 or fields[0] != kind:
        raise InvalidCursor("not a cursor of this listing")
    try:
        parts = [_part(field) for field in fields[1:]]
    except (ValueError, OverflowError, IndexError):
        raise InvalidCursor("damaged cursor") from None
    if not all(isinstance(part, wanted) for part, wanted in zip(parts, types, strict=True)):
        raise InvalidCursor("damaged cursor")
    return parts


def _part(field: str) -> Part:
    tag, value = field[0], field[1:]
    if tag == "t":
        return _EPOCH + timedelta(microseconds=int(value))
    if tag == "i":
        number = int(value)
        if not -(2**63) <= number < 2**63:
            raise ValueError(field)
        return number
    if tag == "s" and "\x00" not in value:
        return value
    raise ValueError(field)
