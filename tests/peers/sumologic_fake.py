"""A stateful contract fake of Sumo Logic's Search Job API.

Sumo publishes no OpenAPI spec for it, so the shapes follow the documented examples
(help.sumologic.com/docs/api/search-job): create answers 202 ``{"id", "link"}`` and sets the
session cookies every follow-up call needs (404 without them); a job goes NOT STARTED ->
GATHERING RESULTS -> DONE GATHERING RESULTS over polls; messages page by offset/limit (<= 10,000);
an unpolled job is cancelled (404); a wrong deployment answers 301 with the right ``Location``.

It evaluates the query subset ReplayLink sends: quoted phrases, bare terms with ``*`` wildcards,
``AND`` (also implicit), ``OR``, ``NOT`` and parentheses, case-insensitively against ``_raw``.
"""

from __future__ import annotations

import base64
import itertools
import re
import secrets
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field, fields
from datetime import UTC, datetime, timedelta
from typing import Any

from fastapi import FastAPI, Request, Response
from fastapi.responses import JSONResponse

from tests.peers.common import FakeState, Fault, control_routes, serve, slow

ACCESS_ID = "suFAKEACCESS01"
ACCESS_KEY = "fakeSumoAccessKey0123456789abcdef"
JOBS = "/api/v1/search/jobs"
DONE = "DONE GATHERING RESULTS"
MAX_LIMIT = 10_000
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_FIELD_TYPES = {
    "_messageid": "long",
    "_sourceid": "long",
    "_size": "long",
    "_messagetime": "long",
    "_receipttime": "long",
    "_messagecount": "int",
    "_collectorid": "long",
    "_blockid": "long",
}
_KNOBS = (
    "access_id",
    "access_key",
    "polls_to_done",
    "seconds_to_done",
    "idle_timeout",
    "max_active_jobs",
    "moved_to",
    "forbidden",
    "final_state",
    "pending_error",
    "clock_offset",
)
_MOVED = "The requested resource SHOULD be accessed through returned URI in Location Header."

Matcher = Callable[[str], bool]


# --------------------------------------------------------------------------- query subset


class QueryError(ValueError):
    """The fake cannot parse the query (Sumo answers 400 parse.error)."""


_LEXEME = re.compile(r'\s*(?:(\()|(\))|"((?:[^"\\]|\\.)*)"|([^\s()"]+))')


def _tokens(text: str) -> list[tuple[str, str]]:
    out: list[tuple[str, str]] = []
    pos = 0
    while text[pos:].strip():
        match = _LEXEME.match(text, pos)
        if match is None:
            raise QueryError(f"cannot parse {text[pos:]!r}")
        opening, closing, phrase, term = match.groups()
        if opening or closing:
            out.append(((opening or closing), ""))
        elif phrase is not None:
            out.append(("phrase", re.sub(r"\\(.)", r"\1", phrase)))
        else:
            out.append(("term", term))
        pos = match.end()
    return out


class _Parser:
    """``or := and (OR and)*``; ``and := unary ([AND] unary)*``; ``unary := NOT unary | (or) | atom``."""

    def __init__(self, text: str) -> None:
        self.tokens = _tokens(text)
        self.pos = 0

    def parse(self) -> Matcher:
        matcher = self.either()
        if self.pos != len(self.tokens):
            raise QueryError("unexpected text after the expression")
        return matcher

    def word(self, value: str) -> bool:
        if self.pos < len(self.tokens) and self.tokens[self.pos] == ("term", value):
            self.pos += 1
            return True
        return False

    def either(self) -> Matcher:
        parts = [self.both()]
        while self.word("OR"):
            parts.append(self.both())
        return lambda raw: any(part(raw) for part in parts)

    def both(self) -> Matcher:
        parts = [self.unary()]
        while self.pos < len(self.tokens) and self.tokens[self.pos][0] != ")":
            if self.tokens[self.pos] == ("term", "OR"):
                break
            self.word("AND")
            parts.append(self.unary())
        return lambda raw: all(part(raw) for part in parts)

    def unary(self) -> Matcher:
        if self.pos >= len(self.tokens):
            raise QueryError("expression ends too early")
        kind, value = self.tokens[self.pos]
        self.pos += 1
        if kind == "term" and value == "NOT":
            inner = self.unary()
            return lambda raw: not inner(raw)
        if kind == "(":
            inner = self.either()
            if self.pos >= len(self.tokens) or self.tokens[self.pos][0] != ")":
                raise QueryError("missing )")
            self.pos += 1
            return inner
        if kind == "phrase":
            needle = value.lower()
            return lambda raw: needle in raw.lower()
        if kind == ")" or value in ("AND", "OR") or "|" in value:
            raise QueryError(f"unexpected {value or kind!r}")
        pattern = re.compile(r"(?<!\w)" + r"\w*".join(map(re.escape, value.split("*"))) + r"(?!\w)", re.I)
        return lambda raw: pattern.search(raw) is not None


def compile_query(text: str) -> Matcher:
    return _Parser(text).parse()


# --------------------------------------------------------------------------- state


@dataclass
class Job:
    id: str
    session: str
    matches: list[dict[str, Any]]
    final_state: str
    pending_errors: list[str]
    touched: float
    created: float = 0.0
    polls: int = 0
    gone: bool = False


@dataclass
class SumoState(FakeState):
    """Records are Sumo message maps (see :func:`message`); ``clear`` resets the knobs below."""

    access_id: str = ACCESS_ID
    access_key: str = ACCESS_KEY
    polls_to_done: int = 3
    seconds_to_done: float | None = None
    """When set, a job is done this many seconds (the fake's clock) after its creation, however
    often it is polled (as the real service behaves), instead of after ``polls_to_done`` polls."""
    idle_timeout: float = 30.0
    max_active_jobs: int = 200
    moved_to: str | None = None
    """Answer every API call with 301 to this deployment (``eu``, ``us1``...)."""
    forbidden: bool = False
    final_state: str = DONE
    """State new jobs end in: DONE GATHERING RESULTS, CANCELLED or FORCE PAUSED."""
    pending_error: str | None = None
    clock_offset: float = 0.0
    jobs: dict[str, Job] = field(default_factory=dict)
    deleted: set[str] = field(default_factory=set)

    def clear(self) -> None:
        """Forget records, faults, requests and jobs, and put every knob back to its default."""
        super().clear()
        defaults = {item.name: item.default for item in fields(SumoState)}
        with self.lock:
            self.jobs.clear()
            self.deleted.clear()
            for name in _KNOBS:
                setattr(self, name, defaults[name])

    def now(self) -> float:
        return time.monotonic() + self.clock_offset

    def advance(self, seconds: float) -> None:
        """Move the fake's clock (idle cancellation) without sleeping."""
        self.clock_offset += seconds

    @property
    def active(self) -> set[str]:
        """Jobs created and neither deleted nor cancelled for inactivity."""
        return {job_id for job_id, job in self.jobs.items() if job_id not in self.deleted and not job.gone}

    def requests_to(self, method: str, path_part: str = "") -> list[dict[str, Any]]:
        return [r for r in self.requests if r["method"] == method and path_part in r["path"]]


# --------------------------------------------------------------------------- seed helpers

_message_ids = itertools.count(1)


def epoch_ms(moment: datetime) -> int:
    return (moment - _EPOCH) // timedelta(milliseconds=1)


def message(
    raw: str,
    at: datetime | int,
    *,
    host: str = "web-1",
    category: str = "prod/checkout",
    collector: str = "checkout-collector",
    message_id: str | None = None,
    **extra: str,
) -> dict[str, str]:
    """One Sumo message ``map`` as the messages endpoint returns it (all values strings)."""
    ms = at if isinstance(at, int) else epoch_ms(at)
    number = next(_message_ids)
    return {
        "_messageid": message_id or str(-(2**63) + number),
        "_messagetime": str(ms),
        "_receipttime": str(ms + 250),
        "_raw": raw,
        "_sourcehost": host,
        "_sourcecategory": category,
        "_sourcename": "/var/log/app/app.log",
        "_source": "app-logs",
        "_collector": collector,
        "_collectorid": "1579",
        "_sourceid": "1640",
        "_blockid": str(-(2**63) + 100 + number),
        "_format": "t:cache:o:0:l:23:p:yyyy-MM-dd HH:mm:ss,SSS",
        "_size": str(len(raw.encode())),
        "_messagecount": str(number),
        **extra,
    }


def token_messages(
    n: int, start: datetime, *, tokens: Sequence[str], step_ms: int = 1
) -> list[dict[str, str]]:
    """``n`` messages one ``step_ms`` apart, cycling ``tokens``; every third one is INFO."""
    out = []
    for i in range(n):
        token = tokens[i % len(tokens)]
        level, text = ("INFO", "request served") if i % 3 == 2 else ("ERROR", "payment failed")
        raw = f"2026-01-01 00:00:00,000 {level} [openReplaySessionToken={token}] {text} #{i}"
        out.append(message(raw, epoch_ms(start) + i * step_ms))
    return out


# --------------------------------------------------------------------------- HTTP


def _error(status: int, code: str, text: str, headers: dict[str, str] | None = None) -> JSONResponse:
    body = {"status": status, "id": secrets.token_hex(5).upper(), "code": code, "message": text}
    return JSONResponse(body, status_code=status, headers=headers)


def _api_origin(deployment: str) -> str:
    return "https://api.sumologic.com" if deployment == "us1" else f"https://api.{deployment}.sumologic.com"


def _refusal(state: SumoState, request: Request) -> Response | None:
    """Deployment, credentials and account checks that apply to every call."""
    if state.moved_to:
        location = _api_origin(state.moved_to) + request.url.path
        return _error(301, "moved", _MOVED, headers={"Location": location})
    expected = base64.b64encode(f"{state.access_id}:{state.access_key}".encode()).decode()
    if request.headers.get("authorization") != f"Basic {expected}":
        return _error(401, "unauthorized", "Credential could not be verified.")
    if state.forbidden:
        return _error(403, "forbidden", "This operation is not allowed for your account type.")
    return None


async def _fault(fault: Fault | None) -> Response | None:
    if fault is None:
        return None
    if fault.kind == "slow":
        await slow(fault)
    elif fault.kind == "429":
        headers = {"Retry-After": f"{fault.retry_after:g}"} if fault.retry_after > 0 else None
        return _error(429, "rate.limit.exceeded", "The API request rate is too high.", headers)
    elif fault.kind == "500":
        return _error(500, "internal.error", "Internal server error.")
    elif fault.kind == "bad_json":
        return Response("<html>502 Bad Gateway</html>", media_type="application/json")
    return None


def _truncate(response: Response) -> Response:
    body = bytes(response.body)
    return Response(body[: len(body) // 2], status_code=response.status_code, media_type="application/json")


def _parse_time(value: Any) -> int | None:
    """Epoch ms (number or digit string) or ISO 8601 (naive = UTC, the zone we accept)."""
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    if not isinstance(value, str):
        return None
    if value.lstrip("-").isdigit():
        return int(value)
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        return None
    return epoch_ms(moment if moment.tzinfo else moment.replace(tzinfo=UTC))


def _fields(maps: list[dict[str, Any]]) -> list[dict[str, Any]]:
    names = dict.fromkeys(name for item in maps for name in item)
    return [{"name": n, "fieldType": _FIELD_TYPES.get(n, "string"), "keyField": False} for n in names]


class _Api:
    """The route handlers, closed over one :class:`SumoState`."""

    def __init__(self, state: SumoState) -> None:
        self.state = state

    async def serve(self, request: Request, handler: Callable[[Fault | None], Response]) -> Response:
        refusal = _refusal(self.state, request)
        if refusal is not None:
            return refusal
        fault = self.state.take_fault(request.url.path)
        faulted = await _fault(fault)
        if faulted is not None:
            return faulted
        response = handler(fault)
        return _truncate(response) if fault is not None and fault.kind == "truncated" else response

    def job(self, request: Request, job_id: str) -> Job | Response:
        """The caller's job, touched; 404 for unknown ids, foreign cookies and idle jobs."""
        job = self.state.jobs.get(job_id)
        if job is not None and not job.gone and self.state.now() - job.touched > self.state.idle_timeout:
            job.gone = True
        if job is None or job.gone or job_id in self.state.deleted:
            return _error(404, "jobid.invalid", "Job ID is invalid.")
        if request.cookies.get("JSESSIONID") != job.session:
            return _error(404, "jobid.invalid", "Job ID is invalid.")
        job.touched = self.state.now()
        return job

    def create(self, request: Request, body: Any) -> Response:
        if "application/json" not in request.headers.get("content-type", ""):
            return _error(415, "contenttype.invalid", "Invalid content type.")
        if not isinstance(body, dict) or not isinstance(body.get("query"), str) or not body["query"]:
            return _error(400, "searchjob.no.query", "No 'query' parameter was provided.")
        if not (body.get("timeZone") or body.get("timezone")):
            return _error(400, "searchjob.empty.timezone", "The 'timezone' cannot be blank.")
        start, end = _parse_time(body.get("from")), _parse_time(body.get("to"))
        if start is None:
            return _error(400, "searchjob.invalid.timestamp.from", "The 'from' field is invalid.")
        if end is None:
            return _error(400, "searchjob.invalid.timestamp.to", "The 'to' field is invalid.")
        if end < start:
            return _error(400, "searchjob.to.smaller.than.from", "'from' cannot be later than 'to'.")
        try:
            matcher = compile_query(body["query"])
        except QueryError:
            return _error(400, "searchjob.parse.error", "Unable to parse query.")
        if len(self.state.active) >= self.state.max_active_jobs:
            return _error(429, "rate.limit.exceeded", "Too many active search jobs.")
        with self.state.lock:
            matches = [
                item
                for item in self.state.records
                if start <= int(item["_messagetime"]) <= end and matcher(str(item.get("_raw", "")))
            ]
        matches.sort(key=lambda item: int(item["_messagetime"]), reverse=True)
        job = Job(
            id=secrets.token_hex(8).upper(),
            session=secrets.token_urlsafe(16),
            matches=matches,
            final_state=self.state.final_state,
            pending_errors=[self.state.pending_error] if self.state.pending_error else [],
            touched=self.state.now(),
            created=self.state.now(),
        )
        self.state.jobs[job.id] = job
        href = f"{request.base_url}api/v1/search/jobs/{job.id}"
        response = JSONResponse({"id": job.id, "link": {"rel": "self", "href": href}}, status_code=202)
        response.headers["Location"] = href
        response.set_cookie("JSESSIONID", job.session, path="/", httponly=True)
        response.set_cookie("AWSALB", secrets.token_urlsafe(12), path="/")
        return response

    def progress(self, job: Job) -> tuple[str, int]:
        """The job's state and how many of its matches it has found so far."""
        duration = self.state.seconds_to_done
        if duration is not None:
            elapsed = self.state.now() - job.created
            if elapsed >= duration:
                return job.final_state, len(job.matches)
            return "GATHERING RESULTS", int(len(job.matches) * elapsed / duration)
        if job.polls >= self.state.polls_to_done:
            return job.final_state, len(job.matches)
        if job.polls <= 1:
            return "NOT STARTED", 0
        return "GATHERING RESULTS", len(job.matches) * job.polls // self.state.polls_to_done

    def status(self, job: Job, fault: Fault | None) -> Response:
        job.polls += 1
        state, count = self.progress(job)
        if fault is not None and fault.kind == "endless_cursor":
            count += 1_000_000
        errors, job.pending_errors = job.pending_errors, []
        body = {
            "state": state,
            "messageCount": count,
            "recordCount": 0,
            "pendingWarnings": [],
            "pendingErrors": errors,
            "histogramBuckets": [],
        }
        return JSONResponse(body)

    def messages(self, job: Job, request: Request) -> Response:
        try:
            offset = int(request.query_params["offset"])
        except (KeyError, ValueError):
            return _error(400, "offset.missing", "Offset is missing.")
        try:
            limit = int(request.query_params["limit"])
        except (KeyError, ValueError):
            return _error(400, "limit.missing", "Limit is missing.")
        if offset < 0:
            return _error(400, "offset.negative", "Offset cannot be negative.")
        if limit <= 0:
            return _error(400, "limit.zero" if limit == 0 else "limit.negative", "Limit must be positive.")
        found = job.matches[: self.progress(job)[1]]
        page = found[offset : offset + min(limit, MAX_LIMIT)]
        return JSONResponse({"fields": _fields(page), "messages": [{"map": item} for item in page]})

    def delete(self, job: Job) -> Response:
        self.state.deleted.add(job.id)
        return JSONResponse({"id": job.id})


def make_app(state: SumoState) -> FastAPI:
    app = FastAPI(title="Sumo Logic Search Job API (fake)")
    app.include_router(control_routes(state))
    api = _Api(state)

    def on_job(
        request: Request, job_id: str, then: Callable[[Job, Fault | None], Response]
    ) -> Callable[[Fault | None], Response]:
        def handler(fault: Fault | None) -> Response:
            job = api.job(request, job_id)
            return job if isinstance(job, Response) else then(job, fault)

        return handler

    @app.post(JOBS)
    async def create(request: Request) -> Response:
        try:
            body = await request.json()
        except ValueError:
            body = None
        state.log_request(request, body)
        return await api.serve(request, lambda _fault: api.create(request, body))

    @app.get(JOBS + "/{job_id}")
    async def status(request: Request, job_id: str) -> Response:
        state.log_request(request)
        return await api.serve(request, on_job(request, job_id, api.status))

    @app.get(JOBS + "/{job_id}/messages")
    async def messages(request: Request, job_id: str) -> Response:
        state.log_request(request)
        return await api.serve(request, on_job(request, job_id, lambda job, _: api.messages(job, request)))

    @app.delete(JOBS + "/{job_id}")
    async def delete(request: Request, job_id: str) -> Response:
        state.log_request(request)
        return await api.serve(request, on_job(request, job_id, lambda job, _: api.delete(job)))

    return app


@dataclass
class RunningSumo:
    url: str
    state: SumoState

    @property
    def api_url(self) -> str:
        """What ReplayLink's ``base_url`` setting takes."""
        return self.url + "/api"

    @property
    def deleted(self) -> set[str]:
        return self.state.deleted

    @property
    def active(self) -> set[str]:
        return self.state.active


@contextmanager
def running(**knobs: Any) -> Iterator[RunningSumo]:
    """Serve a fresh fake on 127.0.0.1; ``knobs`` set :class:`SumoState` fields."""
    state = SumoState(**knobs)
    with serve(make_app(state)) as url:
        yield RunningSumo(url, state)
