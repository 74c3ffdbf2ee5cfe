"""A contract fake of Datadog's Logs search API (``POST /api/v2/logs/events/search``).

It checks both keys like Datadog (403 ``{"errors": ["Forbidden"]}``), validates each request
with the official client's ``LogsListRequest`` model, evaluates the subset of the log search
syntax ReplayLink sends (quoted phrases and bare terms on the message, ``status:``/``service:``/
``host:``, ``@attribute:value`` with ``*`` wildcards, tags, ``AND``/``OR``/``NOT``/``-``,
parentheses), honours ``from``/``to`` (both inclusive), indexes, sort, ``page.limit`` and
cursors, and answers 400 with Datadog's error shape for a query it cannot parse.

Every well-formed search answer is kept in ``state.responses`` so tests can check it against
``LogsListResponse`` with :func:`validate_search_response`.

Faults (see ``tests/peers/common.py``): ``429`` (with Datadog's ``X-RateLimit-*`` headers),
``500``, ``slow``, ``truncated``, ``bad_json``, ``endless_cursor`` (the answer hands back the
cursor it was given), plus the Datadog-only ``bad_query`` (a 400 as for an unparsable query).
"""

from __future__ import annotations

import base64
import binascii
import bisect
import fnmatch
import json
import os
import re
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from functools import lru_cache
from typing import Any

from datadog_api_client.configuration import Configuration
from datadog_api_client.exceptions import OpenApiException
from datadog_api_client.model_utils import validate_and_convert_types
from datadog_api_client.v2.model.logs_list_request import LogsListRequest
from datadog_api_client.v2.model.logs_list_response import LogsListResponse
from fastapi import FastAPI, Request, Response
from fastapi.responses import JSONResponse

from tests.peers.common import FakeState, Fault, control_routes, serve, slow

SEARCH_PATH = "/api/v2/logs/events/search"
API_KEY = "fake-dd-api-key-4f1c2b7e9a"
APPLICATION_KEY = "fake-dd-app-key-8d3e6a0c51"
BAD_QUERY = "bad_query"
RESERVED = ("status", "service", "host", "source", "message")
"""Fields searched without ``@``; any other ``key:value`` is a tag search."""

Log = dict[str, Any]
Predicate = Callable[[Log], bool]
Matches = tuple[list[tuple[int, str]], list[Log]]
"""Matching logs in ascending (timestamp, id) order, and their sort keys."""


@dataclass
class DatadogState(FakeState):
    """Records are Datadog ``Log`` objects plus the ``index`` they live in."""

    api_key: str = API_KEY
    application_key: str = APPLICATION_KEY
    can_read_logs: bool = True
    """False: the application key's owner lacks ``logs_read_data``."""
    indexes: set[str] = field(default_factory=lambda: {"main"})
    responses: list[dict[str, Any]] = field(default_factory=list)
    version: int = 0
    """Bumped on every change of ``records``; keys ``match_cache``."""
    match_cache: dict[tuple[Any, ...], Matches] = field(default_factory=dict)

    def add_records(self, records: list[dict[str, Any]]) -> None:
        super().add_records(records)
        with self.lock:
            self.version += 1

    def inject(self, kind: str, times: int = 1, **kwargs: Any) -> None:
        if kind != BAD_QUERY:
            super().inject(kind, times, **kwargs)
            return
        with self.lock:
            self.faults.append(Fault(kind=kind, times=times, **kwargs))

    def clear(self) -> None:
        super().clear()
        with self.lock:
            self.responses.clear()
            self.version += 1


def make_log(
    message: str,
    *,
    timestamp: datetime,
    status: str = "info",
    service: str | None = None,
    host: str | None = None,
    attributes: dict[str, Any] | None = None,
    tags: list[str] | None = None,
    index: str = "main",
    log_id: str | None = None,
) -> Log:
    """One log in Datadog's native shape, as the search API returns it (plus ``index``)."""
    log_id = log_id or "AQAAAY" + base64.urlsafe_b64encode(os.urandom(18)).decode()
    attrs: dict[str, Any] = {
        "timestamp": timestamp.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z"),
        "message": message,
        "status": status,
        "tags": list(tags or []),
        "attributes": dict(attributes or {}),
    }
    attrs.update({name: value for name, value in (("service", service), ("host", host)) if value})
    return {"id": log_id, "type": "log", "index": index, "attributes": attrs}


# --------------------------------------------------------------------------- query language


class QueryError(ValueError):
    """A query this fake (and Datadog) cannot parse: answered with 400."""


_TOKEN = re.compile(r'\s*(?:(\()|(\))|"((?:[^"\\]|\\.)*)"|((?:[^\s()"\\]|\\.)+))', re.S)
_FIELD = re.compile(r"^((?:[^:\\]|\\.)+):(.*)$", re.S)


def _tokenize(text: str) -> list[tuple[str, str]]:
    tokens: list[tuple[str, str]] = []
    pos = 0
    while text[pos:].strip():
        match = _TOKEN.match(text, pos)
        if match is None:
            raise QueryError(f"Invalid query: unexpected character at position {pos}")
        lparen, rparen, phrase, word = match.groups()
        if lparen or rparen:
            tokens.append((lparen or rparen, ""))
        else:
            tokens.append(("phrase", phrase) if phrase is not None else ("word", word))
        pos = match.end()
    return tokens


def _unescape(raw: str) -> str:
    return re.sub(r"\\(.)", r"\1", raw, flags=re.S)


def _pattern(raw: str, *, wildcards: bool, flags: int = 0) -> re.Pattern[str]:
    """A full-match regex: escaped characters are literal, an unescaped ``*`` is a wildcard."""
    parts = re.findall(r"\\.|.", raw, flags=re.S)
    body = "".join(
        ".*" if part == "*" and wildcards else re.escape(part[-1] if part.startswith("\\") else part)
        for part in parts
    )
    return re.compile(body, flags | re.S)


def _message(log: Log) -> str:
    return str((log.get("attributes") or {}).get("message") or "")


def _field_values(log: Log, name: str) -> list[str]:
    attrs = log.get("attributes") or {}
    if name.startswith("@"):
        value: Any = attrs.get("attributes") or {}
        for key in name[1:].split("."):
            value = value.get(key) if isinstance(value, dict) else None
        found = value if isinstance(value, list) else [value]
    elif name in RESERVED:
        found = [attrs.get(name)]
    else:
        found = [tag.partition(":")[2] for tag in attrs.get("tags") or [] if tag.partition(":")[0] == name]
    return [
        v if isinstance(v, str) else json.dumps(v) for v in found if v is not None and not isinstance(v, dict)
    ]


class _Parser:
    """Recursive descent over ``or := and (OR and)*``, ``and := unary ([AND] unary)*``."""

    def __init__(self, text: str) -> None:
        self.tokens = _tokenize(text)
        self.pos = 0

    def parse(self) -> Predicate:
        predicate = self._or()
        if self.pos < len(self.tokens):
            raise QueryError(f"Invalid query: unexpected {self.tokens[self.pos][0]!r}")
        return predicate

    def _peek_word(self, word: str) -> bool:
        return self.pos < len(self.tokens) and self.tokens[self.pos] == ("word", word)

    def _next(self) -> tuple[str, str]:
        if self.pos >= len(self.tokens):
            raise QueryError("Invalid query: unexpected end of query")
        self.pos += 1
        return self.tokens[self.pos - 1]

    def _or(self) -> Predicate:
        parts = [self._and()]
        while self._peek_word("OR"):
            self.pos += 1
            parts.append(self._and())
        return parts[0] if len(parts) == 1 else lambda log: any(p(log) for p in parts)

    def _and(self) -> Predicate:
        parts = [self._unary()]
        while self.pos < len(self.tokens) and self.tokens[self.pos][0] != ")" and not self._peek_word("OR"):
            if self._peek_word("AND"):
                self.pos += 1
            parts.append(self._unary())
        return parts[0] if len(parts) == 1 else lambda log: all(p(log) for p in parts)

    def _unary(self) -> Predicate:
        kind, value = self._next()
        if (kind, value) == ("word", "NOT"):
            inner = self._unary()
        elif kind == "word" and value.startswith("-") and len(value) > 1:
            inner = self._term(kind, value[1:])
        else:
            return self._term(kind, value)
        return lambda log: not inner(log)

    def _term(self, kind: str, value: str) -> Predicate:
        if kind == "(":
            inner = self._or()
            if self._next()[0] != ")":
                raise QueryError("Invalid query: missing )")
            return inner
        if kind == ")" or value in ("AND", "OR"):
            raise QueryError(f"Invalid query: unexpected {value or kind!r}")
        if kind == "phrase":
            needle = _unescape(value).lower()
            return lambda log: needle in _message(log).lower()
        match = _FIELD.match(value)
        if match is None:
            term = _pattern(value, wildcards=True, flags=re.I)
            return lambda log: any(term.fullmatch(word) for word in re.split(r"[^\w.]+", _message(log)))
        name, rest = _unescape(match.group(1)), match.group(2)
        flags = re.I if name == "status" else 0
        patterns = [_pattern(rest, wildcards=True, flags=flags)] if rest else self._values(flags)
        return lambda log: any(p.fullmatch(v) for v in _field_values(log, name) for p in patterns)

    def _values(self, flags: int) -> list[re.Pattern[str]]:
        """The value after ``field:``: a word, a phrase, or ``(a OR b ...)``."""
        kind, value = self._next()
        if kind != "(":
            if kind not in ("word", "phrase"):
                raise QueryError("Invalid query: missing value after ':'")
            return [_pattern(value, wildcards=kind == "word", flags=flags)]
        patterns: list[re.Pattern[str]] = []
        while True:
            kind, value = self._next()
            if kind not in ("word", "phrase") or value in ("OR", "AND"):
                raise QueryError("Invalid query: bad value list")
            patterns.append(_pattern(value, wildcards=kind == "word", flags=flags))
            kind, value = self._next()
            if kind == ")":
                return patterns
            if (kind, value) != ("word", "OR"):
                raise QueryError("Invalid query: values in (...) must be joined with OR")


def parse_query(text: str) -> Predicate:
    """Compile a Datadog log query (the subset above) into a predicate over logs."""
    if text.strip() in ("", "*"):
        return lambda log: True
    return _Parser(text).parse()


# --------------------------------------------------------------------------- search


_RELATIVE = re.compile(r"^now(?:-(\d+)([smhd]))?$")
_UNITS = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days"}


def _ms(value: str) -> int:
    """Epoch ms from ``"1700000000000"``, ISO-8601 or ``now``/``now-15m``."""
    if value.isdigit():
        return int(value)
    relative = _RELATIVE.match(value)
    if relative is None:
        return _iso_ms(value)
    amount, unit = relative.groups()
    moment = datetime.now(UTC) - timedelta(**{_UNITS[unit or "s"]: int(amount or 0)})
    return int(moment.timestamp() * 1000)


@lru_cache(maxsize=65536)
def _iso_ms(value: str) -> int:
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        raise QueryError(f"Invalid time: {value!r}") from None
    moment = moment if moment.tzinfo else moment.replace(tzinfo=UTC)
    return (moment - datetime(1970, 1, 1, tzinfo=UTC)) // timedelta(milliseconds=1)


def _encode_cursor(key: tuple[int, str]) -> str:
    return base64.urlsafe_b64encode(json.dumps(list(key)).encode()).decode()


def _decode_cursor(cursor: str) -> tuple[int, str]:
    try:
        ms, log_id = json.loads(base64.urlsafe_b64decode(cursor.encode()))
        return int(ms), str(log_id)
    except (ValueError, TypeError, binascii.Error):
        raise QueryError("Invalid page cursor") from None


_CONFIG = Configuration()


def _validate(payload: Any, model: type, what: str) -> None:
    """Deserialize ``payload`` with the official client's model machinery; raise on mismatch."""
    converted = validate_and_convert_types(payload, (model,), [what], True, True, configuration=_CONFIG)
    if converted._unparsed:
        raise ValueError(f"{what} does not match {model.__name__}")


def validate_search_response(payload: dict[str, Any]) -> None:
    """Check a search answer against ``LogsListResponse`` (raises on any mismatch)."""
    unknown = set(payload) - {"data", "links", "meta"}
    if unknown:
        raise ValueError(f"unexpected keys {sorted(unknown)}")
    _validate(payload, LogsListResponse, "received_data")


def _key(log: Log) -> tuple[int, str]:
    """Sort key: timestamp in ms, then id (what a cursor points after)."""
    return _iso_ms(log["attributes"]["timestamp"]), log["id"]


def _matching(state: DatadogState, flt: dict[str, Any]) -> Matches:
    """Logs matching ``flt`` in ascending order with their keys; cached per filter and data version."""
    query = flt.get("query") or "*"
    start, end = _ms(flt.get("from") or "now-15m"), _ms(flt.get("to") or "now")
    wanted = tuple(flt.get("indexes") or ["*"])
    with state.lock:
        cache_key = (state.version, query, start, end, wanted)
        if cache_key in state.match_cache:
            return state.match_cache[cache_key]
        records = list(state.records)
    predicate = parse_query(query)
    found = sorted(
        (
            (_key(log), log)
            for log in records
            if any(fnmatch.fnmatchcase(log.get("index", "main"), name) for name in wanted)
            and start <= _key(log)[0] <= end
            and predicate(log)
        ),
        key=lambda pair: pair[0],
    )
    matches = ([key for key, _ in found], [log for _, log in found])
    with state.lock:
        state.match_cache = {cache_key: matches}
    return matches


def _page(matches: Matches, page: dict[str, Any], descending: bool) -> tuple[list[Log], bool]:
    """The logs after ``page.cursor`` (up to ``page.limit``), and whether more follow."""
    keys, logs = matches
    limit = page.get("limit", 10)
    after = _decode_cursor(page["cursor"]) if page.get("cursor") else None
    if descending:
        stop = len(keys) if after is None else bisect.bisect_left(keys, after)
        begin = max(0, stop - limit)
        return logs[begin:stop][::-1], begin > 0
    begin = 0 if after is None else bisect.bisect_right(keys, after)
    return logs[begin : begin + limit], begin + limit < len(logs)


def _unknown_indexes(state: DatadogState, wanted: list[str]) -> list[str]:
    names = [name for name in wanted if "*" not in name]
    if not names:
        return []
    with state.lock:
        known = state.indexes | {log.get("index", "main") for log in state.records}
    return [name for name in names if name not in known]


def search(state: DatadogState, body: dict[str, Any], base_url: str) -> dict[str, Any]:
    """Answer one search request body the way Datadog does."""
    try:
        _validate(body, LogsListRequest, "body")
    except (OpenApiException, ValueError) as exc:
        raise QueryError(f"Invalid request body: {exc}") from None
    flt = body.get("filter") or {}
    chunk, more = _page(_matching(state, flt), body.get("page") or {}, body.get("sort") != "timestamp")
    meta: dict[str, Any] = {"elapsed": 1, "request_id": os.urandom(8).hex(), "status": "done"}
    payload: dict[str, Any] = {
        "data": [{k: v for k, v in log.items() if k != "index"} for log in chunk],
        "meta": meta,
    }
    if more:
        meta["page"] = {"after": _encode_cursor(_key(chunk[-1]))}
        payload["links"] = {"next": f"{base_url}/api/v2/logs/events?page[cursor]={meta['page']['after']}"}
    missing = _unknown_indexes(state, flt.get("indexes") or ["*"])
    if missing:
        meta["warnings"] = [
            {
                "code": "unknown_index",
                "title": "One or several indexes are missing or invalid; "
                "results hold data from the other indexes",
                "detail": ", ".join(missing),
            }
        ]
    return payload


# --------------------------------------------------------------------------- HTTP


def _errors(status: int, *messages: str, headers: dict[str, str] | None = None) -> JSONResponse:
    return JSONResponse({"errors": list(messages)}, status_code=status, headers=headers)


def _refusal(state: DatadogState, request: Request, *, needs_app_key: bool = True) -> Response | None:
    if request.headers.get("dd-api-key") != state.api_key:
        return _errors(403, "Forbidden")
    if not needs_app_key:
        return None
    if request.headers.get("dd-application-key") != state.application_key:
        return _errors(403, "Forbidden")
    if not state.can_read_logs:
        return _errors(403, "Forbidden", "Failed permission authorization checks")
    return None


def _fault_response(fault: Fault) -> Response | None:
    if fault.kind == "429":
        reset = str(max(0, round(fault.retry_after)))
        headers = {
            "X-RateLimit-Limit": "300",
            "X-RateLimit-Period": "3600",
            "X-RateLimit-Remaining": "0",
            "X-RateLimit-Reset": reset,
            "X-RateLimit-Name": "logs_list",
        }
        return _errors(429, "Too many requests", headers=headers)
    if fault.kind == "500":
        return _errors(500, "Internal Server Error")
    if fault.kind == BAD_QUERY:
        return _errors(400, "Invalid query: unexpected token at position 0")
    if fault.kind == "bad_json":
        return Response("<html><body>502 Bad Gateway</body></html>", media_type="text/html")
    return None


def make_app(state: DatadogState) -> FastAPI:
    app = FastAPI(title="Datadog Logs fake")
    app.include_router(control_routes(state))

    @app.get("/api/v1/validate")
    async def validate(request: Request) -> Response:
        state.log_request(request)
        return _refusal(state, request, needs_app_key=False) or JSONResponse({"valid": True})

    @app.post(SEARCH_PATH)
    async def logs_search(request: Request) -> Response:
        try:
            body = json.loads(await request.body())
        except ValueError:
            body = None
        state.log_request(request, body)
        fault = state.take_fault(request.url.path)
        if fault is not None and fault.kind == "slow":
            await slow(fault)
        early = _fault_response(fault) if fault is not None else None
        early = early or _refusal(state, request)
        if early is not None:
            return early
        if not isinstance(body, dict):
            return _errors(400, "Invalid request body: expected a JSON object")
        try:
            payload = search(state, body, str(request.base_url).rstrip("/"))
        except QueryError as exc:
            return _errors(400, str(exc))
        if fault is not None and fault.kind == "endless_cursor":
            cursor = (body.get("page") or {}).get("cursor") or _encode_cursor((-1, ""))
            payload["meta"]["page"] = {"after": cursor}
        with state.lock:
            state.responses.append(payload)
        text = json.dumps(payload)
        if fault is not None and fault.kind == "truncated":
            text = text[: len(text) // 2]
        return Response(text, media_type="application/json")

    return app


@dataclass
class RunningDatadog:
    url: str
    state: DatadogState


@contextmanager
def running(state: DatadogState | None = None) -> Iterator[RunningDatadog]:
    """Serve the fake on 127.0.0.1 for the ``with`` block."""
    state = state or DatadogState()
    with serve(make_app(state)) as url:
        yield RunningDatadog(url=url, state=state)
