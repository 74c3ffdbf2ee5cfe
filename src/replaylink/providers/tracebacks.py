"""Exceptions inside log text: a Python traceback's frames and its final ``Type: value`` line.

A logged exception often reaches a provider as plain text only (stderr, ``logger.exception``).
:func:`parse_exception` reads it back, also in the seed snippet's form, where every write to
stderr (each traceback chunk) and the exception's value start with ``[openReplaySessionToken=..]``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from replaylink.providers.base import MARKER_PREFIX, Record, StackFrame

_LEADING_MARKERS = re.compile(r"^(?:\[" + re.escape(MARKER_PREFIX) + r"[0-9A-Za-z._-]*\] ?)+")
"""The tags the seeds' patched stderr writes in front of each chunk (the value keeps its own)."""
_TRACEBACK = "Traceback (most recent call last):"
_FRAME = re.compile(r'^\s*File "(?P<file>[^"]*)", line (?P<line>\d+)(?:, in (?P<function>.+))?$')
_CARETS = re.compile(r"^\s*[\^~\s]+$")
_NAMED_TYPE = r"(?:[A-Za-z_]\w*\.)*[A-Za-z_]\w*(?:Error|Exception|Exit|Interrupt|Warning|Fault)"
_EXCEPTION_LINE = re.compile(r"^(" + _NAMED_TYPE + r"):[ \t]?(.*)$")
"""``ValueError: boom`` or ``java.lang.IllegalStateException: boom`` outside a traceback."""
_FINAL_LINE = re.compile(r"^((?:[A-Za-z_]\w*\.)*[A-Za-z_]\w*)(?::[ \t]?(.*))?$")
"""A traceback's last line: any class name (``KeyError: 'cart'``, ``StopIteration``)."""
MAX_SCAN_CHARS = 256 * 1024
"""Only the last this-many characters are read: the final exception is at the end."""


@dataclass(frozen=True, slots=True)
class ParsedException:
    type: str
    value: str
    stack: list[StackFrame] | None
    """Frames outermost first, as Python prints them; None without a traceback."""

    @property
    def title(self) -> str:
        return f"{self.type}: {self.value}" if self.value else self.type


def without_leading_markers(line: str) -> str:
    """``line`` without the seed snippet's ``[openReplaySessionToken=..]`` tags at its start."""
    return _LEADING_MARKERS.sub("", line) if MARKER_PREFIX in line else line


def parse_exception(text: str) -> ParsedException | None:
    """The last exception ``text`` shows: from its last traceback, else its last exception line."""
    lines = [without_leading_markers(line).rstrip() for line in text[-MAX_SCAN_CHARS:].splitlines()]
    starts = [i for i, line in enumerate(lines) if line.strip() == _TRACEBACK]
    if starts:
        parsed = _traceback(lines[starts[-1] + 1 :])
        if parsed is not None:
            return parsed
    for line in reversed(lines):
        match = _EXCEPTION_LINE.match(line.strip())
        if match:
            return ParsedException(match[1], match[2].strip(), None)
    return None


def _traceback(lines: list[str]) -> ParsedException | None:
    frames: list[StackFrame] = []
    for line in lines:
        if not line.strip() or _CARETS.match(line):
            continue
        frame = _FRAME.match(line)
        if frame:
            function = frame["function"]
            frames.append(StackFrame(filename=frame["file"], function=function, lineno=int(frame["line"])))
            continue
        if line[:1].isspace():
            if frames and frames[-1].context is None:
                frames[-1].context = line.strip()
            continue
        final = _FINAL_LINE.match(line.strip())
        if final:
            return ParsedException(final[1], (final[2] or "").strip(), frames or None)
        return None
    return None


def fill_exception(record: Record) -> Record:
    """Fill what the provider left empty (stack, exception type, title) from a traceback in the message."""
    if record.stack is not None and record.exception_type:
        return record
    parsed = parse_exception(record.message)
    if parsed is None or (record.exception_type and record.exception_type != parsed.type):
        return record
    if record.stack is None:
        record.stack = parsed.stack
    if not record.exception_type:
        record.exception_type = parsed.type
        record.title = record.title or parsed.title
    return record
