"""Small coercions every provider needs: epoch milliseconds, timestamps, loosely typed JSON.

Provider answers are untrusted JSON: these helpers never raise on a wrong type, they answer
an empty value (or None) instead, so a malformed field degrades one record, not a poll.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MS = timedelta(milliseconds=1)


def epoch_ms(moment: datetime, *, ceil: bool = False) -> int:
    """Exact integer milliseconds since the epoch of an aware datetime, floored (or ceiled)."""
    ms, rest = divmod(moment - EPOCH, _MS)
    return ms + 1 if ceil and rest else ms


def from_epoch_ms(value: Any) -> datetime | None:
    """Epoch milliseconds (an int or a numeric string) as an aware UTC datetime; None when unusable."""
    if isinstance(value, bool):
        return None
    try:
        return EPOCH + timedelta(milliseconds=int(value))
    except (TypeError, ValueError, OverflowError):
        return None


def parse_time(value: Any, *, epochs: bool = False) -> datetime | None:
    """An ISO-8601 string as an aware datetime (UTC when it names no zone); None when unparsable.

    With ``epochs``, also numbers (or numeric strings) of epoch seconds, milliseconds,
    microseconds or nanoseconds, told apart by magnitude.
    """
    if isinstance(value, str):
        try:
            parsed = datetime.fromisoformat(value)
        except ValueError:
            if not epochs:
                return None
            try:
                value = float(value)
            except ValueError:
                return None
        else:
            return parsed if parsed.tzinfo is not None else parsed.replace(tzinfo=UTC)
    if not epochs or not isinstance(value, int | float) or isinstance(value, bool):
        return None
    for scale in (1e17, 1e14, 1e11):
        if abs(value) >= scale:
            value /= 1000
    try:
        return EPOCH + timedelta(seconds=value)
    except (OverflowError, ValueError):
        return None


def as_dict(value: Any) -> dict[str, Any]:
    """``value`` when it is a JSON object, else ``{}``."""
    return value if isinstance(value, dict) else {}


def as_list(value: Any) -> list[Any]:
    """``value`` when it is a JSON array, else ``[]``."""
    return value if isinstance(value, list) else []


def as_text(value: Any) -> str | None:
    """``value`` when it is a non-empty string, else None."""
    return value if isinstance(value, str) and value else None


def as_int(value: Any) -> int | None:
    """``value`` when it is an integer (not a boolean), else None."""
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def joined_text(value: Any) -> str:
    """Any JSON value as text: arrays one item per line, null as ``""``."""
    if isinstance(value, list):
        return "\n".join(joined_text(item) for item in value)
    return "" if value is None else str(value)
