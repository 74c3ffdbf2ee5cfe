"""Find every session token in a provider record.

Tokens appear as the marker ``openReplaySessionToken=<token>`` anywhere in the message (plain,
inside ``[...]`` as the seeds' snippet prints it, inside exception text), or as the value of an
attribute or tag named ``openReplaySessionToken`` at any depth of the record's attributes.
"""

from __future__ import annotations

import re
from typing import Any

import msgspec

from replaylink.providers.base import MARKER_NAME, MARKER_PREFIX, Record

_TOKEN_IN_TEXT = re.compile(re.escape(MARKER_PREFIX) + r"([0-9A-Za-z.]{1,128})")
_TOKEN_VALUE = re.compile(r"[0-9A-Za-z.]{1,128}")
MAX_DEPTH = 8
MAX_NODES = 2000
MAX_TOKENS = 16
_ENCODE = msgspec.json.Encoder().encode
_MARKER_NAME_BYTES = MARKER_NAME.encode()


def tokens_in_text(text: str) -> list[str]:
    if MARKER_PREFIX not in text:
        return []
    return [match.rstrip(".") or match for match in _TOKEN_IN_TEXT.findall(text)]


def tokens_in_attributes(attributes: Any) -> list[str]:
    """Values of keys named ``openReplaySessionToken`` at any depth (bounded), plus markers in strings."""
    spelled = _spelled(attributes)
    if spelled == 0:
        return []
    if spelled == 1 and isinstance(attributes, dict):
        # Spelled once: when that is a top-level key with a string value (a JSON formatter's or
        # structlog's field, the common form), it is the only token and the walk is not needed.
        value = attributes.get(MARKER_NAME)
        if isinstance(value, str):
            return _attribute_tokens(value)
    found: list[str] = []
    stack: list[tuple[Any, int]] = [(attributes, 0)]
    nodes = 0
    while stack and nodes < MAX_NODES:
        node, depth = stack.pop()
        nodes += 1
        if isinstance(node, dict):
            for key, value in node.items():
                if key == MARKER_NAME and isinstance(value, str):
                    found.extend(_attribute_tokens(value))
                elif depth < MAX_DEPTH and isinstance(value, dict | list):
                    stack.append((value, depth + 1))
                elif isinstance(value, str) and MARKER_PREFIX in value:
                    found.extend(tokens_in_text(value))
        elif isinstance(node, list):
            for item in node:
                if depth < MAX_DEPTH and isinstance(item, dict | list):
                    stack.append((item, depth + 1))
                elif isinstance(item, str) and MARKER_PREFIX in item:
                    found.extend(tokens_in_text(item))
    return found


def _spelled(attributes: Any) -> int:
    """How often MARKER_NAME is spelled in ``attributes`` (-1: unknown). Both token forms spell it,
    and an encoding (C speed) shows every key and string verbatim: most records carry no token in
    their attributes, and this skips their walk. JSON (msgspec, a third of ``repr``'s time) for
    what JSON holds, which is what providers return; ``repr`` for the rest."""
    try:
        return _ENCODE(attributes).count(_MARKER_NAME_BYTES)
    except (TypeError, ValueError, OverflowError, RecursionError):  # not JSON-able, lone surrogates
        pass
    try:
        return repr(attributes).count(MARKER_NAME)
    except RecursionError:
        return -1


def _attribute_tokens(value: str) -> list[str]:
    """The token(s) of an ``openReplaySessionToken`` attribute's value."""
    value = value.strip()
    if _TOKEN_VALUE.fullmatch(value):
        return [value]
    return tokens_in_text(value) or ([value[:128]] if value else [])


def record_tokens(record: Record) -> list[str]:
    """Every distinct token a record carries, in order of appearance (at most ``MAX_TOKENS``)."""
    found = tokens_in_text(record.message)
    if record.attributes:
        found.extend(tokens_in_attributes(record.attributes))
    if len(found) <= 1:
        return found
    return list(dict.fromkeys(found))[:MAX_TOKENS]
