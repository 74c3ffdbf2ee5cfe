"""Parse and check one tracker batch: the envelope, the rrweb events, the devtools events.

The batch's bytes are stored as they came; what is read here goes into the index: timestamps,
counts, whether it holds a full snapshot, and the devtools events (strings bounded and cleaned
of what the databases cannot store: NUL characters, lone surrogates).
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from typing import Any

import msgspec

from replaylink.replay.store import MAX_SEQ, TAB

VERSION = 1
FULL_SNAPSHOT = 2
INCREMENTAL = 3
MOUSE_INTERACTION = 2
CLICK = 2
KINDS = ("page", "network", "console", "error", "custom")
MAX_DEVTOOLS = 1000
"""Devtools events indexed per batch; the rest stay in the blob only (and are counted)."""
MAX_DEVTOOLS_CHARS = 1_000_000
"""Devtools text indexed per batch (its strings and data JSON, in characters); past it, events
stay in the blob only (and are counted). Indexed text also counts towards the session's byte cap:
a small gzip body of repeated text would otherwise fill the database far beyond the cap."""

LIMITS = {
    "url": 4096,
    "message": 8192,
    "name": 256,
    "title": 1024,
    "level": 16,
    "stack": 16384,
    "error": 1024,
}
MAX_DATA_CHARS = 32768
"""Largest ``data`` JSON indexed whole; longer ones keep a preview (the blob keeps all)."""
MAX_STRING_CHARS = 16384
MAX_DEPTH = 20


class Malformed(Exception):
    """The batch is not what the contract says; ``str()`` is the reason, for the client."""


TOO_DEEP = (
    "the batch nests its JSON deeper than the decoder's limit (about 1,000 levels, a page's DOM "
    "about 500 elements deep); this batch cannot be stored, the tracker goes on with the next"
)


@dataclass
class Batch:
    tab: str
    seq: int
    events: int = 0
    has_full_snapshot: bool = False
    first_ms: int | None = None
    last_ms: int | None = None
    clicks: int = 0
    pages: int = 0
    js_errors: int = 0
    failed_requests: int = 0
    unknown_devtools: int = 0
    skipped_devtools: int = 0
    devtools_chars: int = 0
    """The indexed devtools rows' text (``MAX_DEVTOOLS_CHARS``)."""
    devtools: list[dict[str, Any]] = field(default_factory=list)
    """Rows for ``devtools_events`` (without session, tab and seq)."""

    def saw(self, moment: int) -> None:
        if self.first_ms is None or moment < self.first_ms:
            self.first_ms = moment
        if self.last_ms is None or moment > self.last_ms:
            self.last_ms = moment

    @property
    def empty(self) -> bool:
        return self.first_ms is None


def _no_constants(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


def decode_json(raw: bytes) -> Any:
    try:
        return json.loads(raw, parse_constant=_no_constants)
    except (ValueError, RecursionError) as exc:
        message = str(exc) if isinstance(exc, ValueError) else "nested too deeply"
        raise Malformed(f"the body is not valid UTF-8 JSON ({message[:200]})") from None


def clean(value: str, limit: int) -> str:
    """At most ``limit`` characters a text column can store."""
    value = value[:limit]
    if "\x00" in value:
        value = value.replace("\x00", "\ufffd")
    if not value.isascii():
        value = value.encode("utf-8", "replace").decode("utf-8")
    return value


def clean_data(value: Any, depth: int = 0) -> Any:
    """A JSON value with every string cleaned (keys too), nesting cut at ``MAX_DEPTH``."""
    if isinstance(value, str):
        return clean(value, MAX_STRING_CHARS)
    if depth >= MAX_DEPTH:
        return None
    if isinstance(value, dict):
        return {clean(str(k), 256): clean_data(v, depth + 1) for k, v in value.items()}
    if isinstance(value, list):
        return [clean_data(v, depth + 1) for v in value]
    return value


def bounded_data(value: dict[str, Any]) -> tuple[dict[str, Any] | None, int]:
    """``value`` cleaned, or a preview when its JSON is over ``MAX_DATA_CHARS``; and the length
    of the stored data's JSON (0 for None), which counts toward the batch's indexed text."""
    if not value:
        return None, 0
    cleaned = clean_data(value)
    text = json.dumps(cleaned, ensure_ascii=False)
    if len(text) > MAX_DATA_CHARS:
        preview = {"truncated": True, "preview": text[:1000]}
        return preview, len(json.dumps(preview, ensure_ascii=False))
    result: dict[str, Any] = cleaned
    return result, len(text)


def _number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


def _integer(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


_CHECKS = {
    "str": lambda v: isinstance(v, str),
    "int": _integer,
    "number": _number,
    "bool": lambda v: isinstance(v, bool),
    "object": lambda v: isinstance(v, dict),
}
_FIELDS: dict[str, tuple[dict[str, str], dict[str, str]]] = {
    # kind: (required, optional)
    "page": ({"url": "str"}, {"title": "str"}),
    "network": (
        {"method": "str", "url": "str", "status": "int", "duration": "number", "failed": "bool"},
        {"requestSize": "int", "responseSize": "int", "error": "str"},
    ),
    "console": ({"level": "str", "message": "str"}, {}),
    "error": ({"name": "str", "message": "str", "source": "str"}, {"stack": "str", "metadata": "object"}),
    "custom": ({"name": "str"}, {}),
}
_ARTICLE = {
    "str": "a string",
    "int": "an integer",
    "number": "a number",
    "bool": "true or false",
    "object": "an object",
}


def _check_fields(item: dict[str, Any], where: str, kind: str) -> None:
    required, optional = _FIELDS[kind]
    for name, expected in required.items():
        if not _CHECKS[expected](item.get(name)):
            raise Malformed(f"{where}.{name}: required, must be {_ARTICLE[expected]}")
    for name, expected in optional.items():
        value = item.get(name)
        if value is not None and not _CHECKS[expected](value):
            raise Malformed(f"{where}.{name}: must be {_ARTICLE[expected]} or absent")


def _devtools_row(item: dict[str, Any], kind: str, ts: int) -> tuple[dict[str, Any], int]:
    """The row a checked devtools item stores, and the characters of text it stores (its strings
    and its data's JSON), which count toward the batch's ``MAX_DEVTOOLS_CHARS``."""
    row: dict[str, Any] = {
        "kind": kind,
        "ts_ms": ts,
        "level": None,
        "name": None,
        "message": None,
        "url": None,
        "status": None,
        "duration_ms": None,
        "failed": False,
    }
    data: dict[str, Any] = {}
    if kind == "page":
        row["url"] = clean(item["url"], LIMITS["url"])
        if item.get("title") is not None:
            data = {"title": clean(item["title"], LIMITS["title"])}
    elif kind == "network":
        status = item["status"]
        failed = bool(item["failed"]) or status >= 400 or status == 0
        row.update(
            name=clean(item["method"], 16),
            url=clean(item["url"], LIMITS["url"]),
            status=max(min(status, 999), -1),
            duration_ms=float(item["duration"]),
            failed=failed,
        )
        data = {
            k: (clean(v, LIMITS["error"]) if isinstance(v, str) else v)
            for k in ("requestSize", "responseSize", "error")
            if (v := item.get(k)) is not None
        }
    elif kind == "console":
        row.update(
            level=clean(item["level"], LIMITS["level"]), message=clean(item["message"], LIMITS["message"])
        )
    elif kind == "error":
        row.update(
            name=clean(item["name"], LIMITS["name"]),
            message=clean(item["message"], LIMITS["message"]),
            level=clean(item["source"], LIMITS["level"]),
        )
        extra = {"stack": item.get("stack"), "metadata": item.get("metadata")}
        data = {k: v for k, v in extra.items() if v is not None}
    else:  # custom
        row["name"] = clean(item["name"], LIMITS["name"])
        if "payload" in item:
            data = {"payload": item["payload"]}
    text_chars = sum(len(value) for value in row.values() if isinstance(value, str))
    row["data"], data_chars = bounded_data(data)
    return row, text_chars + data_chars


def _timestamp(value: Any, where: str) -> int:
    if not _number(value) or value <= 0:
        raise Malformed(f"{where}: must be a positive number of milliseconds since the epoch")
    return int(value)


class _Probe(msgspec.Struct):
    """Of an incremental event's data, only what tells a click."""

    source: Any = None
    type: Any = None


class _Event(msgspec.Struct):
    """An rrweb event as the index reads it; ``data`` is skipped (validated as JSON, not decoded)."""

    type: int
    timestamp: float
    data: msgspec.Raw = msgspec.Raw(b"null")


class _Envelope(msgspec.Struct):
    v: Any = None
    tab: Any = None
    seq: Any = None
    events: list[_Event] = msgspec.field(default_factory=list)
    devtools: list[Any] = msgspec.field(default_factory=list)
    page: Any = None


class _ProbedEvent(msgspec.Struct):
    """An rrweb event whose ``data`` is an object (or null), decoded only for what tells a click."""

    type: int
    timestamp: float
    data: _Probe | None = None


class _ProbedEnvelope(_Envelope):
    events: list[_ProbedEvent] = msgspec.field(default_factory=list)  # type: ignore[assignment]


_DECODE_BATCH = msgspec.json.Decoder(_Envelope)
_DECODE_PROBED = msgspec.json.Decoder(_ProbedEnvelope)
_DECODE_PROBE = msgspec.json.Decoder(_Probe)


def _envelope(raw: bytes) -> _Envelope:
    """Decode with msgspec (10x the standard library on rrweb JSON, DOM data never built as objects).

    msgspec refuses lone UTF-16 surrogates, which JavaScript strings may hold: such a body is read
    by the standard library and re-encoded with the surrogates replaced (the blob keeps the original).
    """
    try:
        return _DECODE_BATCH.decode(raw)
    except msgspec.ValidationError as exc:
        raise Malformed(str(exc).replace("`$.", "`")) from None
    except msgspec.DecodeError:
        body = decode_json(raw)  # Malformed when it is not JSON at all
    if not isinstance(body, dict):
        raise Malformed("the body must be a JSON object")
    cleaned = json.dumps(body, ensure_ascii=False).encode("utf-8", "replace")
    try:
        return _DECODE_BATCH.decode(cleaned)
    except (msgspec.ValidationError, msgspec.DecodeError) as exc:
        raise Malformed(str(exc).replace("`$.", "`")) from None


def _is_click(data: msgspec.Raw | _Probe | None) -> bool:
    if isinstance(data, msgspec.Raw):
        try:
            data = _DECODE_PROBE.decode(data)
        except (msgspec.ValidationError, msgspec.DecodeError):
            return False
    return data is not None and data.source == MOUSE_INTERACTION and data.type == CLICK


def _decode(raw: bytes) -> _Envelope:
    """One pass over the body when every event's data is an object (rrweb's always is): the DOM
    data is scanned once, not kept as raw JSON and decoded again for clicks. Anything else takes
    :func:`_envelope`, which also says what is wrong."""
    try:
        try:
            return _DECODE_PROBED.decode(raw)
        except (msgspec.ValidationError, msgspec.DecodeError):
            return _envelope(raw)
    except RecursionError:  # msgspec's own limit on nesting (a DOM ~500 elements deep)
        raise Malformed(TOO_DEEP) from None


def _summarise_events(events: list[_Event] | list[_ProbedEvent], batch: Batch) -> None:
    """First and last timestamp, full snapshot, clicks; the per-event check only when one is bad."""
    if not events:
        return
    stamps = [event.timestamp for event in events]
    earliest, latest = min(stamps), max(stamps)
    if not (earliest > 0 and math.isfinite(latest)):
        for index, value in enumerate(stamps):
            _timestamp(value, f"events[{index}].timestamp")
    batch.saw(int(earliest))
    batch.saw(int(latest))
    batch.has_full_snapshot = any(event.type == FULL_SNAPSHOT for event in events)
    batch.clicks = sum(1 for event in events if event.type == INCREMENTAL and _is_click(event.data))


def parse_batch(raw: bytes) -> Batch:
    """Check a decompressed batch and read what the index needs. Raises :class:`Malformed`."""
    body = _decode(raw)
    if body.v != VERSION:
        raise Malformed(f"v: must be {VERSION} (this server speaks batch format {VERSION})")
    tab, seq = body.tab, body.seq
    if not isinstance(tab, str) or not TAB.fullmatch(tab):
        raise Malformed("tab: required, 1 to 64 characters of A-Z, a-z, 0-9, _ and -")
    if not isinstance(seq, int) or isinstance(seq, bool) or not 0 <= seq <= MAX_SEQ:
        raise Malformed(f"seq: required, an integer from 0 to {MAX_SEQ}")
    if body.page is not None and not isinstance(body.page, dict):
        raise Malformed("page: must be an object")
    batch = Batch(tab=tab, seq=seq, events=len(body.events))
    _summarise_events(body.events, batch)
    for index, item in enumerate(body.devtools):
        where = f"devtools[{index}]"
        if not isinstance(item, dict) or not isinstance(item.get("type"), str):
            raise Malformed(f"{where}: must be an object with a string type")
        ts = _timestamp(item.get("ts"), f"{where}.ts")
        kind = item["type"]
        if kind not in KINDS:
            batch.unknown_devtools += 1
            continue
        _check_fields(item, where, kind)
        batch.saw(ts)
        if len(batch.devtools) >= MAX_DEVTOOLS:
            batch.skipped_devtools += 1
            continue
        row, chars = _devtools_row(item, kind, ts)
        if batch.devtools_chars + chars > MAX_DEVTOOLS_CHARS:
            batch.skipped_devtools += 1
            continue
        batch.devtools_chars += chars
        batch.devtools.append(row)
        batch.pages += kind == "page"
        batch.js_errors += kind == "error"
        batch.failed_requests += row["failed"]
    return batch
