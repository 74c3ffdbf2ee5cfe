"""Sentry: error events carrying the ``openReplaySessionToken`` tag.

A search lists events with the organization events (Discover) API,
``GET /api/0/organizations/{org}/events/?dataset=errors``, paged with the ``Link`` header. Discover
cannot return what a stored event holds (sub-second time, every tag, contexts, stack frames with
their source lines; at most 20 fields), so the events of every few pages are then read in full with
one request per issue among them (per 100 of its events):
``GET /api/0/organizations/{org}/issues/{issue}/events/?full=true&query=id:[...]`` answers the same
bodies as the event detail. Only an event without an issue, or one its issue did not return, is read
alone from its detail, ``GET /api/0/projects/{org}/{project}/events/{id}/``.
"""

from __future__ import annotations

import asyncio
import re
import time
from collections.abc import AsyncIterator, Coroutine
from datetime import UTC, datetime, timedelta
from typing import Any, TypeVar, cast

import httpx
from pydantic import Field, SecretStr, field_validator

from replaylink.providers.base import (
    MARKER_NAME,
    AuthError,
    NotFound,
    Provider,
    ProviderError,
    ProviderOptions,
    ProviderPermissionError,
    ProviderSettings,
    Query,
    Record,
    StackFrame,
    address_field,
    bound_record,
    normalize_level,
    secret_field,
    well_formed,
)
from replaylink.providers.coerce import as_dict, as_int, as_list, as_text, parse_time
from replaylink.providers.http import HttpApi, retry_after_header

MAX_PAGE = 100
"""Sentry's maximum (and default) ``per_page`` on the events APIs."""
BATCH_ROWS = 500
"""Event rows (whole Discover pages) whose bodies are read together: an issue on several of those
pages costs one request, not one per page."""
DETAIL_CONCURRENCY = 5
"""Event bodies requested at once (an issue's events, or one event's detail); Sentry also limits
concurrent requests per caller."""
ERROR_LEVELS = ("error", "fatal")
MARKER_FIELD = f"tags[{MARKER_NAME}]"
EVENT_FIELDS = ("id", "timestamp", "level", "title", "message", "project", "issue.id", MARKER_FIELD)
_ISSUE_ID = re.compile(r"[1-9][0-9]{0,19}")
SCOPES = "event:read, org:read and project:read"
SLUG = re.compile(r"(?![0-9]+$)[A-Za-z0-9][A-Za-z0-9_-]{0,99}")
"""Sentry's slug alphabet (organizations: letters, digits, hyphens; projects add underscores)."""
_PLAIN_VALUE = re.compile(r"[\w.-]+")

Params = list[tuple[str, str]]
T = TypeVar("T")


class SentrySettings(ProviderSettings):
    token: SecretStr = secret_field(
        "Token",
        f"A Sentry auth token with {SCOPES} (Account > API > Auth Tokens).",
        min_length=1,
    )
    organization_slug: str = Field(title="Organization slug", description="As in your Sentry URLs.")
    project_slug: str = Field(title="Project slug", description="As on Sentry's Projects page.")
    base_url: str = address_field(
        "Base URL",
        "https://sentry.io, https://us.sentry.io, https://de.sentry.io or your own Sentry.",
        url=True,
        default="https://sentry.io",
    )

    @field_validator("organization_slug", "project_slug")
    @classmethod
    def _slug(cls, value: str) -> str:
        if not SLUG.fullmatch(value):
            raise ValueError(
                "must be a Sentry slug as it appears in your Sentry URLs: letters, digits, '-' and '_', "
                "not only digits"
            )
        return value

    @field_validator("base_url")
    @classmethod
    def _base_url(cls, value: str) -> str:
        """Keep scheme, host, port and path prefix; drop a pasted ``/api/0`` and trailing slashes."""
        try:
            url = httpx.URL(value)
        except httpx.InvalidURL:
            url = httpx.URL()
        if url.scheme not in ("http", "https") or not url.host or url.userinfo or url.query or url.fragment:
            raise ValueError(
                "must be an http(s) address such as https://sentry.io or https://sentry.example.com"
            )
        path = url.path.rstrip("/").removesuffix("/api/0")
        return str(url.copy_with(path=path or "/")).rstrip("/")


# --------------------------------------------------------------------------- pure helpers


def search_text(query: Query) -> str:
    """The Sentry search string: ``has:<tag>`` or ``tags[<tag>]:<token>``, plus the levels."""
    text = f"has:{MARKER_NAME}" if query.token is None else f"{MARKER_FIELD}:{_quote(query.token)}"
    if query.errors_only:
        text += " level:[" + ",".join(ERROR_LEVELS) + "]"
    return text


def _quote(value: str) -> str:
    if _PLAIN_VALUE.fullmatch(value):
        return value
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _utc_seconds(moment: datetime, *, up: bool) -> str:
    """``moment`` in UTC, floored (or ceiled) to the second: Sentry stores whole seconds."""
    moment = moment.astimezone(UTC)
    whole = moment.replace(microsecond=0)
    if up and whole < moment:
        whole += timedelta(seconds=1)
    return whole.strftime("%Y-%m-%dT%H:%M:%S")


def rate_limit_wait(response: httpx.Response) -> float | None:
    """Seconds until ``X-Sentry-Rate-Limit-Reset`` (whole UTC epoch seconds), else ``Retry-After``.

    At least one second: a concurrency limit answers with a reset that is already due."""
    try:
        return max(1.0, float(response.headers["X-Sentry-Rate-Limit-Reset"]) - time.time())
    except (KeyError, ValueError):
        return retry_after_header(response)


def ui_root(base_url: str, organization: str) -> str:
    """Where the organization's pages live: ``https://<org>.sentry.io`` on SaaS (any region),
    ``<base_url>/organizations/<org>`` on a self-hosted Sentry."""
    host = httpx.URL(base_url).host
    if host == "sentry.io" or host.endswith(".sentry.io"):
        return f"https://{organization}.sentry.io"
    return f"{base_url}/organizations/{organization}"


def event_link(root: str, project_slug: str, event_id: str, group_id: str | None) -> str:
    """The event inside its issue (Sentry's own ``web_url``), or in Discover when it has none."""
    if group_id:
        return f"{root}/issues/{group_id}/events/{event_id}/"
    return f"{root}/discover/{project_slug}:{event_id}/"


def issue_of(row: dict[str, Any]) -> str | None:
    """The numeric issue id of an events row (Sentry sends an integer), or None without one."""
    value = row.get("issue.id")
    if isinstance(value, bool) or not isinstance(value, int | str):
        return None
    text = str(value)
    return text if _ISSUE_ID.fullmatch(text) else None


def tag_dict(tags: Any) -> dict[str, str]:
    """Sentry's ``[{"key": k, "value": v}, ...]`` as ``{k: v}``."""
    out: dict[str, str] = {}
    for tag in as_list(tags):
        key, value = as_dict(tag).get("key"), as_dict(tag).get("value")
        if isinstance(key, str) and value is not None:
            out[key] = str(value)
    return out


def main_exception(detail: dict[str, Any]) -> dict[str, Any]:
    """The last value of the ``exception`` entry: the exception that was finally raised."""
    for entry in as_list(detail.get("entries")):
        if as_dict(entry).get("type") == "exception":
            values = [as_dict(value) for value in as_list(as_dict(entry.get("data")).get("values"))]
            if values:
                return values[-1]
    return {}


def stack_frames(exception: dict[str, Any]) -> list[StackFrame] | None:
    """Sentry frames (outermost call first) as :class:`StackFrame` s, or None without a stack."""
    frames = as_list(as_dict(exception.get("stacktrace")).get("frames"))
    if not frames:
        return None
    return [_frame(as_dict(frame)) for frame in frames]


def _frame(frame: dict[str, Any]) -> StackFrame:
    lineno = as_int(frame.get("lineNo"))
    context = None
    for line in as_list(frame.get("context")):
        if isinstance(line, list) and len(line) == 2 and line[0] == lineno and isinstance(line[1], str):
            context = line[1]
    in_app = frame.get("inApp")
    return StackFrame(
        filename=as_text(frame.get("filename")) or as_text(frame.get("absPath")),
        function=as_text(frame.get("function")),
        lineno=lineno,
        module=as_text(frame.get("module")),
        context=context,
        in_app=in_app if isinstance(in_app, bool) else None,
    )


def _window(query: Query) -> Params:
    """``start`` and ``end`` in whole seconds, widened to cover ``query``'s window."""
    return [("start", _utc_seconds(query.start, up=False)), ("end", _utc_seconds(query.end, up=True))]


async def _bounded(calls: list[Coroutine[Any, Any, T]]) -> list[T]:
    """Await ``calls``, at most :data:`DETAIL_CONCURRENCY` at once, in order; the first failure
    (in call order) is raised once all have ended."""
    gate = asyncio.Semaphore(DETAIL_CONCURRENCY)

    async def run(call: Coroutine[Any, Any, T]) -> T:
        async with gate:
            return await call

    results = await asyncio.gather(*(run(call) for call in calls), return_exceptions=True)
    for result in results:
        if isinstance(result, BaseException):
            raise result
    return cast(list[T], results)


# --------------------------------------------------------------------------- provider


class SentryProvider(Provider):
    name = "sentry"
    label = "Sentry"
    Settings = SentrySettings

    def __init__(self, settings: ProviderSettings, options: ProviderOptions | None = None) -> None:
        super().__init__(settings, options)
        assert isinstance(self.settings, SentrySettings)
        self.config: SentrySettings = self.settings
        self.org = self.config.organization_slug
        self.project = self.config.project_slug
        self.ui_root = ui_root(self.config.base_url, self.org)
        self.api = HttpApi(
            label=self.label,
            base_url=self.config.base_url,
            options=self.options,
            secrets=self.config.secret_values(),
            headers={
                "Authorization": f"Bearer {self.config.token.get_secret_value()}",
                "Accept": "application/json",
            },
            retry_after=rate_limit_wait,
        )
        self._project_id: str | None = None

    async def aclose(self) -> None:
        await self.api.aclose()

    async def check(self) -> None:
        """Read the project (org:read, project:read) and query its events once (event:read)."""
        project_id = await self._resolve_project()
        now = datetime.now(UTC)
        probe = Query(start=now - timedelta(hours=1), end=now, errors_only=False, page_size=1)
        await self._events_page(self._events_params(probe, project_id))

    async def search(self, query: Query) -> AsyncIterator[Record]:
        if query.start >= query.end or (query.limit is not None and query.limit <= 0):
            return
        count = 0
        async for rows in self._batches(query, await self._resolve_project()):
            position = 0
            while position < len(rows):
                # With a limit, read no more bodies than the records still wanted.
                size = len(rows) if query.limit is None else query.limit - count
                chunk = rows[position : position + size]
                position += len(chunk)
                for record in await self._records(chunk, query):
                    # Sentry's window is whole seconds and its end inclusive: filter exactly here.
                    if not query.start <= record.timestamp < query.end:
                        continue
                    yield bound_record(record, self.options.limits)
                    count += 1
                    if query.limit is not None and count >= query.limit:
                        return

    # ------------------------------------------------------------------ requests

    async def _resolve_project(self) -> str:
        """The project's numeric id (the events API filters by id), read once."""
        if self._project_id is None:
            response = await self.api.request("GET", f"/api/0/projects/{self.org}/{self.project}/")
            if response.status_code != 200:
                await self._raise_for(response, "read the project")
            project_id = as_dict(self.api.json(response)).get("id")
            if not isinstance(project_id, str | int) or isinstance(project_id, bool):
                raise self._malformed("a project without an id")
            self._project_id = str(project_id)
        return self._project_id

    def _events_params(self, query: Query, project_id: str) -> Params:
        return [
            ("dataset", "errors"),
            *(("field", field) for field in EVENT_FIELDS),
            ("query", search_text(query)),
            ("project", project_id),
            *_window(query),
            ("sort", "timestamp"),
            ("per_page", str(min(query.page_size, MAX_PAGE))),
        ]

    async def _batches(self, query: Query, project_id: str) -> AsyncIterator[list[dict[str, Any]]]:
        """Event rows, whole pages at a time: up to :data:`BATCH_ROWS` of them, so that an issue
        seen on several pages costs one body request for all; page by page under a limit."""
        batch: list[dict[str, Any]] = []
        async for rows in self._pages(query, project_id):
            batch.extend(rows)
            if query.limit is not None or len(batch) >= BATCH_ROWS:
                yield batch
                batch = []
        if batch:
            yield batch

    async def _pages(self, query: Query, project_id: str) -> AsyncIterator[list[dict[str, Any]]]:
        """Every page of event rows, following ``rel="next"`` while it says ``results="true"``."""
        first = self._events_params(query, project_id)
        params = first
        seen: set[str] = set()
        while True:
            rows, response = await self._events_page(params)
            yield rows
            after = response.links.get("next", {})
            cursor = after.get("cursor")
            if not rows or after.get("results") != "true" or not cursor:
                return
            if cursor in seen:
                raise ProviderError(
                    "Sentry sent a page cursor it had already sent, so paging would never end; "
                    "check base_url points at Sentry."
                )
            seen.add(cursor)
            params = [*first, ("cursor", cursor)]

    async def _events_page(self, params: Params) -> tuple[list[dict[str, Any]], httpx.Response]:
        response = await self.api.request("GET", f"/api/0/organizations/{self.org}/events/", params=params)
        if response.status_code != 200:
            await self._raise_for(response, "query events")
        rows = as_dict(self.api.json(response)).get("data")
        if not isinstance(rows, list):
            raise self._malformed("an events answer without a data list")
        return [as_dict(row) for row in rows], response

    async def _issue_bodies(
        self, issue: str, event_ids: list[str], query: Query
    ) -> dict[str, dict[str, Any]]:
        """Full bodies of an issue's ``event_ids`` by id: those Sentry returned. An issue deleted or
        merged since the events were listed (404, or a redirect to the issue it went into) gives
        none, so its events are read alone."""
        params = [
            ("full", "true"),
            ("query", "id:[" + ",".join(event_ids) + "]"),
            *_window(query),
            ("per_page", str(len(event_ids))),
        ]
        path = f"/api/0/organizations/{self.org}/issues/{issue}/events/"
        response = await self.api.request("GET", path, params=params)
        if response.status_code == 404 or response.is_redirect:
            return {}
        if response.status_code != 200:
            await self._raise_for(response, "read an issue's events")
        items = self.api.json(response)
        if not isinstance(items, list):
            raise self._malformed("an issue's events answer that is not a list")
        wanted = set(event_ids)
        bodies: dict[str, dict[str, Any]] = {}
        for item in items:
            body = as_dict(item)
            event_id = (as_text(body.get("id")) or "").lower()
            if event_id in wanted:
                bodies[event_id] = body
        return bodies

    async def _detail(self, event_id: str) -> dict[str, Any] | None:
        """The full event, or None when Sentry cannot return it (yet): the row still counts."""
        path = f"/api/0/projects/{self.org}/{self.project}/events/{event_id}/"
        response = await self.api.request("GET", path)
        if response.status_code == 404:
            return None
        if response.status_code != 200:
            await self._raise_for(response, "read an event")
        return as_dict(self.api.json(response))

    async def _records(self, rows: list[dict[str, Any]], query: Query) -> list[Record]:
        """Rows completed with their full bodies (see :meth:`_bodies`)."""
        identified = well_formed(rows, lambda row: (row, self._row_id(row)))
        rows, ids = [row for row, _ in identified], [event_id for _, event_id in identified]
        bodies = await self._bodies(rows, ids, query)
        return well_formed(identified, lambda pair: self._record(pair[0], bodies.get(pair[1])))

    async def _bodies(
        self, rows: list[dict[str, Any]], ids: list[str], query: Query
    ) -> dict[str, dict[str, Any]]:
        """Full bodies by event id: one request per issue of ``rows`` (per 100 of its events), then a
        detail request for each event still without one. An event Sentry cannot return (yet) has none."""
        members: dict[str, list[str]] = {}
        for row, event_id in zip(rows, ids, strict=True):
            issue = issue_of(row)
            if issue is not None:
                members.setdefault(issue, []).append(event_id)
        requests = [
            self._issue_bodies(issue, event_ids[first : first + MAX_PAGE], query)
            for issue, event_ids in members.items()
            for first in range(0, len(event_ids), MAX_PAGE)
        ]
        bodies: dict[str, dict[str, Any]] = {}
        for found in await _bounded(requests):
            bodies.update(found)
        alone = [event_id for event_id in dict.fromkeys(ids) if event_id not in bodies]
        for event_id, detail in zip(alone, await _bounded([self._detail(i) for i in alone]), strict=True):
            if detail is not None:
                bodies[event_id] = detail
        return bodies

    async def _raise_for(self, response: httpx.Response, action: str) -> None:
        status = response.status_code
        text = self.api.error_text(response)
        if status == 401:
            raise AuthError(f"Sentry refused the token ({text}); check token.", field="token")
        if status == 403:
            raise ProviderPermissionError(
                f"Sentry did not let the token {action} ({text}); use a user auth token or an internal "
                f"integration token with {SCOPES} (organization tokens, sntrys_..., cannot read events).",
                field="token",
            )
        if status == 404:
            await self._raise_not_found(text)
        raise ProviderError(f"Sentry answered HTTP {status} when asked to {action}: {text}.")

    async def _raise_not_found(self, text: str) -> None:
        """Tell an unknown organization from an unknown project (Sentry says 404 for both)."""
        response = await self.api.request("GET", f"/api/0/organizations/{self.org}/")
        if response.status_code == 404:
            raise NotFound(
                f"Sentry has no organization {self.org!r} at this address ({text}); "
                "check organization_slug and base_url.",
                field="organization_slug",
            )
        raise NotFound(
            f"Sentry has no project {self.project!r} in organization {self.org!r} ({text}); "
            "check project_slug.",
            field="project_slug",
        )

    def _malformed(self, what: str) -> ProviderError:
        return ProviderError(f"Sentry sent {what}; check base_url points at Sentry.", field="base_url")

    # ------------------------------------------------------------------ records

    def _row_id(self, row: dict[str, Any]) -> str:
        event_id = as_text(row.get("id"))
        if event_id is None or not re.fullmatch(r"[0-9a-fA-F]{32}", event_id):
            raise self._malformed("an event without a valid id")
        return event_id.lower()

    def _record(self, row: dict[str, Any], detail: dict[str, Any] | None) -> Record:
        """One events row, completed by its detail when there is one."""
        detail = detail or {}
        event_id = self._row_id(row)
        timestamp = parse_time(detail.get("dateCreated")) or parse_time(row.get("timestamp"))
        if timestamp is None:
            raise self._malformed("an event without a valid timestamp")
        tags = tag_dict(detail.get("tags"))
        marker = row.get(MARKER_FIELD)
        if isinstance(marker, str) and marker:
            tags.setdefault(MARKER_NAME, marker)
        exception = main_exception(detail)
        kind = as_text(exception.get("type")) or as_text(as_dict(detail.get("metadata")).get("type"))
        value = as_text(exception.get("value")) or as_text(as_dict(detail.get("metadata")).get("value"))
        summary = ": ".join(part for part in (kind, value) if part)
        project = as_text(row.get("project")) or self.project
        group_id = as_text(detail.get("groupID"))
        attributes: dict[str, Any] = {"tags": tags, "project": project}
        for key in ("projectID", "groupID", "culprit", "platform", "location"):
            if as_text(detail.get(key)):
                attributes[key] = detail[key]
        if as_dict(detail.get("contexts")):
            attributes["contexts"] = detail["contexts"]
        return Record(
            provider_id=event_id,
            timestamp=timestamp,
            message=as_text(detail.get("message")) or as_text(row.get("message")) or summary,
            level=normalize_level(as_text(row.get("level")) or tags.get("level"), default="error"),
            title=summary or as_text(row.get("title")) or as_text(detail.get("title")) or "",
            service=project,
            host=tags.get("server_name"),
            logger=tags.get("logger"),
            attributes=attributes,
            link=event_link(self.ui_root, project, event_id, group_id),
            stack=stack_frames(exception),
            exception_type=kind,
        )
