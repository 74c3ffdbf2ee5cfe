"""A contract fake of Sentry's read API: organization, project, events (Discover), an issue's
events and event detail.

It speaks the subset ReplayLink sends, in Sentry's shapes (checked against Sentry's published
OpenAPI in tests/providers/test_sentry.py): bearer tokens (401), an organization token that may not
read events (403), unknown organization, project or issue (404), the search terms ``has:<tag>``,
``tags[<tag>]:<value>``, ``level:<l>`` / ``level:[a,b]`` and ``id:<id>`` / ``id:[a,b]``,
start/end, sort, ``per_page`` <= 100 and ``Link`` header paging with Sentry's ``<offset>`` cursors.
Like Sentry it keeps Discover timestamps to the second, and it treats ``end`` as inclusive: the
worst case a client must filter for.

An issue's events (``/organizations/{org}/issues/{id}/events/``) come newest first, as Sentry's
``SimpleEventSerializer`` renders them, or with ``full=true`` as its ``EventSerializer`` does: the
event detail without what only the detail endpoint adds (release, user report, SDK updates,
neighbouring event ids).

Records are event details exactly as the event detail endpoint returns them; build them with
:func:`sentry_event`. Faults come from :mod:`tests.peers.common`.
"""

from __future__ import annotations

import bisect
import json
import math
import re
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from fastapi import APIRouter, Depends, FastAPI, Request, Response
from fastapi.responses import JSONResponse

from tests.peers.common import FakeState, Fault, control_routes, serve, slow

ORG = "acme"
PROJECT = "backend"
PROJECT_ID = "4505278496"
USER_TOKEN = "sntryu_" + "5e" * 32
"""A user auth token with event:read, org:read and project:read."""
ORG_TOKEN = "sntrys_" + "a1" * 32
"""An organization token: it may read the project but not events."""
MAX_PER_PAGE = 100
ROW_FIELDS = {"id", "title", "timestamp", "level", "message", "project", "project.id", "issue.id"}
DETAIL_ONLY = ("release", "userReport", "sdkUpdates", "nextEventID", "previousEventID", "resolvedWith")
"""Keys the event detail endpoint adds to Sentry's ``EventSerializer`` body."""
_TAG_FIELD = re.compile(r"tags\[(.+)\]")
_TERM = re.compile(r'\s*([\w.\[\]-]+):("(?:[^"\\]|\\.)*"|\[[^\]]*\]|\S+)')
_CURSOR = re.compile(r"\d+:(\d+):[01]")
_EVENT_ID = re.compile(r"[0-9a-fA-F]{32}|[0-9a-fA-F]{8}(-[0-9a-fA-F]{4}){3}-[0-9a-fA-F]{12}")
_DENIED = {"detail": "You do not have permission to perform this action."}
_MISSING = {"detail": "The requested resource does not exist"}


# --------------------------------------------------------------------------- records


def sentry_event(
    token: str | None,
    timestamp: datetime,
    *,
    level: str = "error",
    exc_type: str = "ValueError",
    value: str = "boom",
    frames: list[dict[str, Any]] | None = None,
    tags: dict[str, str] | None = None,
    event_id: str | None = None,
    group_id: str | None = "1341191803",
) -> dict[str, Any]:
    """One event as Sentry's event detail endpoint returns it, tagged with ``token`` if given."""
    event_id = event_id or uuid.uuid4().hex
    all_tags = {"level": level, "environment": "prod", "server_name": "web-1", **(tags or {})}
    if token is not None:
        all_tags["openReplaySessionToken"] = token
    title = f"{exc_type}: {value}"
    return {
        "id": event_id,
        "eventID": event_id,
        "groupID": group_id,
        "projectID": PROJECT_ID,
        "title": title,
        "message": "",
        "location": "app/views.py",
        "culprit": "app.views in checkout",
        "platform": "python",
        "type": "error",
        "dateCreated": timestamp.astimezone(UTC).isoformat().replace("+00:00", "Z"),
        "dateReceived": timestamp.astimezone(UTC).isoformat().replace("+00:00", "Z"),
        "size": 2048,
        "dist": None,
        "tags": [{"key": key, "value": val} for key, val in sorted(all_tags.items())],
        "entries": [
            {
                "type": "exception",
                "data": {
                    "values": [
                        {
                            "type": exc_type,
                            "value": value,
                            "module": None,
                            "mechanism": {"type": "generic", "handled": False},
                            "stacktrace": {"frames": frames if frames is not None else default_frames()},
                        }
                    ]
                },
            }
        ],
        "contexts": {"runtime": {"name": "CPython", "version": "3.12.4", "type": "runtime"}},
        "context": {},
        "metadata": {"type": exc_type, "value": value},
        "sdk": {"name": "sentry.python", "version": "2.10.0"},
        "packages": {},
        "errors": [],
        "user": None,
        "release": None,
        "userReport": None,
        "occurrence": None,
        "sdkUpdates": [],
        "resolvedWith": [],
        "nextEventID": None,
        "previousEventID": None,
        "_meta": {},
    }


def default_frames() -> list[dict[str, Any]]:
    """Two Python frames in Sentry's shape, outermost call first."""
    return [
        _frame("app/views.py", "checkout", 42, "app.views", "    total = price(cart)"),
        _frame("app/pricing.py", "price", 7, "app.pricing", '    raise ValueError("boom")'),
    ]


def _frame(filename: str, function: str, lineno: int, module: str, line: str) -> dict[str, Any]:
    return {
        "filename": filename,
        "absPath": f"/srv/{filename}",
        "function": function,
        "module": module,
        "lineNo": lineno,
        "colNo": None,
        "inApp": True,
        "context": [[lineno - 1, ""], [lineno, line], [lineno + 1, ""]],
        "vars": None,
    }


def _event_time(event: dict[str, Any]) -> datetime:
    """The event's timestamp as Sentry stores it for search: whole seconds."""
    return datetime.fromisoformat(event["dateCreated"]).replace(microsecond=0)


@dataclass
class SentryState(FakeState):
    """Records are event details, indexed by id and kept in timestamp order."""

    by_id: dict[str, dict[str, Any]] = field(default_factory=dict)
    tags_of: dict[str, dict[str, str]] = field(default_factory=dict)
    timeline: list[tuple[datetime, str]] = field(default_factory=list)
    lost_details: set[str] = field(default_factory=set)
    """Event ids that are listed but whose body cannot be read yet (Sentry's storage lagging):
    their detail answers 404 and their issue's event list leaves them out."""
    by_issue: dict[str, list[tuple[datetime, str]]] = field(default_factory=dict)
    """Each issue's events in timestamp order."""
    gone_issues: set[str] = field(default_factory=set)
    """Issue ids deleted since their events were listed: their event list answers 404."""
    merged_issues: dict[str, str] = field(default_factory=dict)
    """Issue id -> the issue it was merged into: Sentry redirects (302) to the new issue's URL."""
    version: int = 0
    last_search: tuple[Any, list[dict[str, Any]]] | None = None

    def add_records(self, records: list[dict[str, Any]]) -> None:
        super().add_records(records)
        with self.lock:
            for event in records:
                self.by_id[event["id"]] = event
                self.tags_of[event["id"]] = {tag["key"]: tag["value"] for tag in event["tags"]}
                bisect.insort(self.timeline, (_event_time(event), event["id"]))
                if event["groupID"]:
                    issue = self.by_issue.setdefault(event["groupID"], [])
                    bisect.insort(issue, (_event_time(event), event["id"]))
            self.version += 1

    def clear(self) -> None:
        super().clear()
        with self.lock:
            for index in (
                self.merged_issues,
                self.by_id,
                self.tags_of,
                self.timeline,
                self.lost_details,
                self.by_issue,
                self.gone_issues,
            ):
                index.clear()
            self.version += 1

    def search(self, start: datetime, end: datetime, text: str) -> list[dict[str, Any]]:
        """Events matching the search ``text`` with ``start <= timestamp <= end`` (whole seconds,
        end inclusive), oldest first. The last answer is kept for the next pages."""
        with self.lock:
            key = (start, end, text, self.version)
            if self.last_search is None or self.last_search[0] != key:
                predicates = parse_search(text)
                low = bisect.bisect_left(self.timeline, (start.replace(microsecond=0), ""))
                high = bisect.bisect_right(self.timeline, (end, "~"))
                found = [
                    self.by_id[event_id]
                    for _, event_id in self.timeline[low:high]
                    if all(test(event_id, self.tags_of[event_id]) for test in predicates)
                ]
                self.last_search = (key, found)
            return self.last_search[1]

    def issue_events(
        self, issue: str, start: datetime, end: datetime, text: str
    ) -> list[dict[str, Any]] | None:
        """The issue's readable events matching ``text`` in ``[start, end]`` (whole seconds), newest
        first; None for an unknown issue. An ``id:`` term is looked up, like Snuba's event id index."""
        with self.lock:
            timeline = self.by_issue.get(issue)
            if timeline is None or issue in self.gone_issues:
                return None
            predicates = parse_search(text)
            named = event_ids_in(text)
            if named is None:
                low = bisect.bisect_left(timeline, (start.replace(microsecond=0), ""))
                high = bisect.bisect_right(timeline, (end, "~"))
                candidates = timeline[low:high]
            else:
                events = (self.by_id[event_id] for event_id in named if event_id in self.by_id)
                candidates = sorted(
                    (_event_time(event), event["id"]) for event in events if event["groupID"] == issue
                )
                candidates = [
                    entry for entry in candidates if start.replace(microsecond=0) <= entry[0] <= end
                ]
            return [
                self.by_id[event_id]
                for _, event_id in reversed(candidates)
                if event_id not in self.lost_details
                and all(test(event_id, self.tags_of[event_id]) for test in predicates)
            ]


# --------------------------------------------------------------------------- search syntax


class BadRequest(Exception):
    """Answered as Sentry's 400 ``{"detail": ...}``."""


Predicate = Callable[[str, dict[str, str]], bool]
"""A search term as a test of an event's id and tags."""


def parse_search(text: str) -> list[Predicate]:
    """The search subset ReplayLink sends, as predicates over an event's id and tags."""
    predicates: list[Predicate] = []
    position = 0
    for match in _TERM.finditer(text):
        if match.start() != position:
            break
        position = match.end()
        predicates.append(_predicate(match.group(1), _values(match.group(2))))
    if text[position:].strip():
        raise BadRequest(f"Parse error at '{text[position:][:20]}'")
    return predicates


def event_ids_in(text: str) -> set[str] | None:
    """The event ids an ``id:`` term of ``text`` names, or None without one."""
    for match in _TERM.finditer(text):
        if match.group(1) == "id":
            return {value.replace("-", "").lower() for value in _values(match.group(2))}
    return None


def _values(raw: str) -> list[str]:
    if raw.startswith('"'):
        try:
            return [json.loads(raw)]
        except ValueError:
            raise BadRequest(f"Invalid quoted value {raw[:20]}") from None
    if raw.startswith("["):
        return [value.strip() for value in raw[1:-1].split(",")]
    return [raw]


def _predicate(key: str, values: list[str]) -> Predicate:
    if key == "has":
        return lambda _, tags: values[0] in tags
    if key == "id":
        if not all(_EVENT_ID.fullmatch(value) for value in values):
            raise BadRequest(f"{values[0][:40]} is not a valid UUID")
        wanted = {value.replace("-", "").lower() for value in values}
        return lambda event_id, _: event_id in wanted
    tag_match = _TAG_FIELD.fullmatch(key)
    name = tag_match.group(1) if tag_match else key
    return lambda _, tags: tags.get(name) in values


def _row(event: dict[str, Any], tags: dict[str, str], fields: list[str]) -> dict[str, Any]:
    known = {
        "id": event["id"],
        "title": event["title"],
        "timestamp": _event_time(event).isoformat(),
        "level": tags.get("level", "error"),
        "message": event["message"] or event["title"],
        "project": PROJECT,
        "project.id": int(PROJECT_ID),
        "issue.id": int(event["groupID"]) if event["groupID"] else None,
    }
    row = {}
    for name in fields:
        tag_match = _TAG_FIELD.fullmatch(name)
        row[name] = tags.get(tag_match.group(1), "") if tag_match else known[name]
    return row


def _meta(fields: list[str]) -> dict[str, Any]:
    kinds = {"timestamp": "date", "project.id": "integer", "issue.id": "integer"}
    return {
        "fields": {name: kinds.get(name, "string") for name in fields},
        "units": {name: None for name in fields},
        "isMetricsData": False,
        "dataset": "errors",
    }


def _parse_when(value: str | None, default: datetime) -> datetime:
    if value is None:
        return default
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        raise BadRequest(f"{value} is not a valid ISO8601 date query") from None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def _link(request: Request, cursor: str, rel: str, results: bool) -> str:
    url = request.url.include_query_params(cursor=cursor)
    return f'<{url}>; rel="{rel}"; results="{str(results).lower()}"; cursor="{cursor}"'


# --------------------------------------------------------------------------- app


def _organization(request: Request) -> dict[str, Any]:
    return {
        "id": "1",
        "slug": ORG,
        "name": "Acme",
        "status": {"id": "active", "name": "active"},
        "dateCreated": "2021-01-14T22:08:52.711809Z",
        "isEarlyAdopter": False,
        "require2FA": False,
        "avatar": {"avatarType": "letter_avatar", "avatarUuid": None},
        "links": {"organizationUrl": str(request.base_url), "regionUrl": str(request.base_url)},
        "hasAuthProvider": False,
        "allowMemberInvite": True,
        "allowMemberProjectCreation": True,
        "allowSuperuserAccess": False,
    }


_PROJECT_FLAGS = [
    "hasFeedbacks",
    "hasFlags",
    "hasInsightsAgentMonitoring",
    "hasInsightsAppStart",
    "hasInsightsAssets",
    "hasInsightsCaches",
    "hasInsightsDb",
    "hasInsightsHttp",
    "hasInsightsMCP",
    "hasInsightsQueues",
    "hasInsightsScreenLoad",
    "hasInsightsVitals",
    "hasLogs",
    "hasMinifiedStackTrace",
    "hasMonitors",
    "hasNewFeedbacks",
    "hasProfiles",
    "hasReplays",
    "hasSessions",
    "hasTraceMetrics",
    "isBookmarked",
    "isDynamicallySampled",
    "isInternal",
    "isPublic",
    "dataScrubber",
    "dataScrubberDefaults",
    "scmSourceContextEnabled",
    "scrubIPAddresses",
    "tempestFetchScreenshots",
]
"""The project detail's required booleans that are false here."""


def _project(request: Request) -> dict[str, Any]:
    """Project detail with every field Sentry's schema requires."""
    return {
        **dict.fromkeys(_PROJECT_FLAGS, False),
        "id": PROJECT_ID,
        "slug": PROJECT,
        "name": "Backend",
        "platform": "python",
        "platforms": ["python"],
        "status": "active",
        "dateCreated": "2021-01-14T22:08:52.711809Z",
        "firstEvent": "2021-01-14T22:08:52.711809Z",
        "firstTransactionEvent": False,
        "access": ["event:read", "org:read", "project:read"],
        "hasAccess": True,
        "isMember": True,
        "features": [],
        "avatar": {"avatarType": "letter_avatar", "avatarUuid": None},
        "color": "#3f70bf",
        "teams": [{"id": "2", "name": "Backend", "slug": "backend"}],
        "latestRelease": None,
        "options": {},
        "digestsMinDelay": 180,
        "digestsMaxDelay": 600,
        "subjectPrefix": "",
        "subjectTemplate": "$shortID - $title",
        "allowedDomains": ["*"],
        "resolveAge": 0,
        "safeFields": [],
        "sensitiveFields": [],
        "storeCrashReports": None,
        "scrapeJavaScript": True,
        "securityToken": "0" * 32,
        "securityTokenHeader": None,
        "verifySSL": True,
        "builtinSymbolSources": [],
        "symbolSources": "[]",
        "debugFilesRole": None,
        "defaultEnvironment": None,
        "dynamicSamplingBiases": None,
        "enableAutoReleaseCreation": True,
        "fingerprintingRules": "",
        "groupingConfig": "newstyle:2023-01-11",
        "groupingEnhancements": "",
        "derivedGroupingEnhancements": "",
        "secondaryGroupingConfig": None,
        "secondaryGroupingExpiry": 0,
        "relayPiiConfig": None,
        "processingIssues": 0,
        "highlightTags": [],
        "highlightContext": {},
        "highlightPreset": {"tags": [], "context": {}},
        "autofixAutomationTuning": "off",
        "seerScannerAutomation": False,
        "seerNightshiftTweaks": None,
        "organization": _organization(request),
    }


@dataclass
class Caller:
    """Who is asking (``user`` or ``org`` token) and whether paging should never end."""

    kind: str
    endless: bool


class Answer(Exception):
    """Answer with ``response`` instead of the API (a fault or a refused token)."""

    def __init__(self, response: Response) -> None:
        self.response = response


async def _answer(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, Answer)
    return exc.response


def make_app(state: SentryState, prefix: str = "") -> FastAPI:
    """The fake; its API lives under ``prefix`` (a self-hosted Sentry behind a path)."""
    app = FastAPI()
    app.add_exception_handler(Answer, _answer)
    app.include_router(control_routes(state))
    api = APIRouter(prefix=prefix + "/api/0")
    tokens = {f"Bearer {USER_TOKEN}": "user", f"Bearer {ORG_TOKEN}": "org"}

    async def gate(request: Request) -> Caller:
        """Log the request, play a queued fault, then check the bearer token."""
        state.log_request(request)
        fault = state.take_fault(request.url.path)
        endless = fault is not None and fault.kind == "endless_cursor"
        if fault is not None and not endless:
            answer = await _fault_answer(fault)
            if answer is not None:
                raise Answer(answer)
        kind = tokens.get(request.headers.get("authorization", ""))
        if kind is None:
            raise Answer(JSONResponse({"detail": "Invalid token"}, status_code=401))
        return Caller(kind, endless)

    caller_of = Depends(gate)

    @api.get("/organizations/{org}/")
    async def organization(request: Request, org: str, caller: Caller = caller_of) -> Response:
        if org != ORG:
            return JSONResponse(_MISSING, status_code=404)
        return JSONResponse(_organization(request))

    @api.get("/projects/{org}/{project}/")
    async def project(request: Request, org: str, project: str, caller: Caller = caller_of) -> Response:
        if org != ORG or project not in (PROJECT, PROJECT_ID):
            return JSONResponse(_MISSING, status_code=404)
        return JSONResponse(_project(request))

    @api.get("/projects/{org}/{project}/events/{event_id}/")
    async def event(org: str, project: str, event_id: str, caller: Caller = caller_of) -> Response:
        if org != ORG or project not in (PROJECT, PROJECT_ID):
            return JSONResponse(_MISSING, status_code=404)
        if caller.kind != "user":
            return JSONResponse(_DENIED, status_code=403)
        found = state.by_id.get(event_id)
        if found is None or event_id in state.lost_details:
            return JSONResponse({"detail": "Event not found"}, status_code=404)
        return JSONResponse(found)

    @api.get("/organizations/{org}/issues/{issue_id}/events/")
    async def issue_events(request: Request, org: str, issue_id: str, caller: Caller = caller_of) -> Response:
        if org != ORG:
            return JSONResponse(_MISSING, status_code=404)
        if caller.kind != "user":
            return JSONResponse(_DENIED, status_code=403)
        merged_into = state.merged_issues.get(issue_id)
        if merged_into is not None:
            moved = request.url.path.replace(f"/issues/{issue_id}/", f"/issues/{merged_into}/")
            return Response(status_code=302, headers={"Location": str(request.url.replace(path=moved))})
        try:
            return _issue_events(state, request, issue_id)
        except BadRequest as exc:
            return JSONResponse({"detail": str(exc)}, status_code=400)

    @api.get("/organizations/{org}/events/")
    async def events(request: Request, org: str, caller: Caller = caller_of) -> Response:
        if org != ORG:
            return JSONResponse(_MISSING, status_code=404)
        if caller.kind != "user":
            return JSONResponse(_DENIED, status_code=403)
        try:
            return _events(state, request, caller.endless)
        except BadRequest as exc:
            return JSONResponse({"detail": str(exc)}, status_code=400)

    app.include_router(api)
    return app


def _events(state: SentryState, request: Request, endless: bool) -> Response:
    params = request.query_params
    if params.get("dataset") != "errors":
        raise BadRequest("This fake only knows dataset=errors")
    fields = params.getlist("field")
    unknown = [name for name in fields if name not in ROW_FIELDS and not _TAG_FIELD.fullmatch(name)]
    if not fields or unknown:
        raise BadRequest(f"Invalid field(s): {unknown or 'none given'}")
    if any(value not in (PROJECT_ID, PROJECT, "-1") for value in params.getlist("project")):
        raise BadRequest("Invalid project ids")
    sort = params.get("sort", "-timestamp")
    if sort.lstrip("-") not in fields:
        raise BadRequest(f"Cannot sort by a field that is not selected: {sort}")
    per_page = params.get("per_page", str(MAX_PER_PAGE))
    if not per_page.isdigit() or not 0 < int(per_page) <= MAX_PER_PAGE:
        raise BadRequest(f"Invalid per_page parameter. Max allowed value is {MAX_PER_PAGE}.")
    cursor = params.get("cursor")
    cursor_match = _CURSOR.fullmatch(cursor or "0:0:0")
    if cursor_match is None:
        raise BadRequest("Invalid cursor parameter.")
    offset, size = int(cursor_match.group(1)), int(per_page)

    now = datetime.now(UTC)
    start = _parse_when(params.get("start"), now - timedelta(days=14))
    end = _parse_when(params.get("end"), now)
    matches = state.search(start, end, params.get("query", ""))
    if sort.startswith("-"):
        matches = matches[::-1]
    rows = [_row(event, state.tags_of[event["id"]], fields) for event in matches[offset : offset + size]]
    more = len(matches) > offset + size
    next_cursor = f"0:{offset + size}:0"
    if endless:
        next_cursor, more = cursor or "0:0:0", True
    links = [
        _link(request, f"0:{max(0, offset - size)}:1", "previous", offset > 0),
        _link(request, next_cursor, "next", more),
    ]
    return JSONResponse({"data": rows, "meta": _meta(fields)}, headers={"Link": ", ".join(links)})


def _issue_events(state: SentryState, request: Request, issue_id: str) -> Response:
    """``GET /organizations/{org}/issues/{id}/events/``: like Sentry, 90 days by default."""
    params = request.query_params
    per_page = params.get("per_page", str(MAX_PER_PAGE))
    if not per_page.isdigit() or not 0 < int(per_page) <= MAX_PER_PAGE:
        raise BadRequest(f"Invalid per_page parameter. Max allowed value is {MAX_PER_PAGE}.")
    cursor_match = _CURSOR.fullmatch(params.get("cursor") or "0:0:0")
    if cursor_match is None:
        raise BadRequest("Invalid cursor parameter.")
    offset, size = int(cursor_match.group(1)), int(per_page)
    now = datetime.now(UTC)
    end = _parse_when(params.get("end"), now)
    start = _parse_when(params.get("start"), end - timedelta(days=90))
    found = state.issue_events(issue_id, start, end, params.get("query", ""))
    if found is None:
        return JSONResponse(_MISSING, status_code=404)
    full = params.get("full") in ("1", "true")
    page = [full_event(event) if full else simple_event(event) for event in found[offset : offset + size]]
    links = [
        _link(request, f"0:{max(0, offset - size)}:1", "previous", offset > 0),
        _link(request, f"0:{offset + size}:0", "next", len(found) > offset + size),
    ]
    return JSONResponse(page, headers={"Link": ", ".join(links)})


def full_event(event: dict[str, Any]) -> dict[str, Any]:
    """An event as Sentry's ``EventSerializer`` renders it (an issue's events with ``full=true``)."""
    return {key: value for key, value in event.items() if key not in DETAIL_ONLY} | {"crashFile": None}


def simple_event(event: dict[str, Any]) -> dict[str, Any]:
    """An event as Sentry's ``SimpleEventSerializer`` renders it (an issue's events by default)."""
    keys = ("id", "groupID", "eventID", "projectID", "message", "title", "location", "culprit")
    return {key: event[key] for key in keys} | {
        "event.type": event["type"],
        "user": event["user"],
        "tags": event["tags"],
        "platform": event["platform"],
        "dateCreated": event["dateCreated"],
        "crashFile": None,
        "metadata": event["metadata"],
    }


async def _fault_answer(fault: Fault) -> Response | None:
    """What a queued fault answers instead of the API, or None to go on (after a ``slow`` wait)."""
    if fault.kind == "429":
        reset = math.ceil(time.time() + fault.retry_after)
        headers = {
            "X-Sentry-Rate-Limit-Limit": "40",
            "X-Sentry-Rate-Limit-Remaining": "0",
            "X-Sentry-Rate-Limit-Reset": str(reset),
        }
        return JSONResponse(
            {"detail": "You are attempting to use this endpoint too frequently."}, 429, headers
        )
    if fault.kind == "500":
        return JSONResponse({"detail": "Internal Error"}, status_code=500)
    if fault.kind == "truncated":
        return Response('{"data": [{"id": "9f1c', media_type="application/json")
    if fault.kind == "bad_json":
        return Response("<html>Bad gateway</html>", media_type="application/json")
    await slow(fault)
    return None


# --------------------------------------------------------------------------- running


@dataclass
class RunningSentry:
    """A fake on 127.0.0.1: point ``base_url`` at ``url``; seed and fault it through ``state``."""

    url: str
    state: SentryState


@contextmanager
def running(prefix: str = "") -> Iterator[RunningSentry]:
    """Serve a fresh fake in a thread; ``prefix`` puts its API under a path, like a proxy would."""
    state = SentryState()
    with serve(make_app(state, prefix)) as url:
        yield RunningSentry(url=url + prefix, state=state)
