"""Sumo Logic: the Search Job API (create a job, poll it, page its messages, delete it).

A job lives behind the cookies its create call set, so every search runs on its own
:class:`~replaylink.providers.http.HttpApi` (one cookie jar) and always deletes its job.
"""

from __future__ import annotations

import hashlib
import itertools
import json
import logging
import re
import time
from collections.abc import AsyncGenerator, AsyncIterator, Iterator
from contextlib import aclosing
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Literal, get_args
from urllib.parse import quote, urlencode, urlsplit

import httpx
from pydantic import Field, SecretStr

from replaylink.providers.base import (
    MARKER_PREFIX,
    AuthError,
    NotFound,
    Provider,
    ProviderError,
    ProviderOptions,
    ProviderPermissionError,
    ProviderSettings,
    Query,
    Record,
    Unreachable,
    address_field,
    bound_record,
    normalize_level,
    secret_field,
)
from replaylink.providers.coerce import as_text, epoch_ms, from_epoch_ms
from replaylink.providers.http import HttpApi
from replaylink.providers.tracebacks import parse_exception

log = logging.getLogger("replaylink.providers.sumologic")

Deployment = Literal["us1", "us2", "eu", "au", "ca", "de", "jp", "in", "kr", "ch", "fed"]
DEPLOYMENTS: tuple[str, ...] = get_args(Deployment)
JOBS_PATH = "/v1/search/jobs"
MAX_PAGE = 10_000
DONE = "DONE GATHERING RESULTS"
STOPPED = {
    "CANCELLED": "Sumo Logic cancelled the search job; ReplayLink will retry.",
    "FORCE PAUSED": "Sumo Logic paused the search at its message cap; narrow the window or error_filter.",
}
CHECK_WINDOW = timedelta(minutes=1)
_JSON_HEADERS = {"Accept": "application/json", "Content-Type": "application/json"}
_API_HOST = re.compile(r"api(?:\.([a-z0-9]+))?\.sumologic\.com")
_TOKEN_IN_TEXT = re.compile(re.escape(MARKER_PREFIX) + r"([0-9A-Za-z.]+)")
_MARKER_TAG = re.compile(r"\s*\[" + re.escape(MARKER_PREFIX) + r"[^\]]*\]\s*")
_LEVEL_KV = re.compile(r"""(?i)\b(?:level|severity)["']?\s*[=:]\s*["']?(\w+)""")
_LEVEL_WORD = re.compile(
    r"\b(EMERG|ALERT|CRIT(?:ICAL)?|FATAL|ERR(?:OR)?|WARN(?:ING)?|NOTICE|INFO|DEBUG|TRACE)\b"
)
_FIRST_WORD = re.compile(r"\W*(\w+)")
_ERROR_WORDS = re.compile(r"(?i)\b(error|exception|fail\w*|traceback|fatal|panic)\b")


class SumoLogicSettings(ProviderSettings):
    access_id: str = Field(
        title="Access ID", description="Administration > Security > Access Keys.", min_length=1
    )
    access_key: SecretStr = secret_field(
        "Access Key", "Shown once, when the access key is created.", min_length=1
    )
    deployment: Deployment = address_field(
        "Deployment",
        "Where your account lives: the part after 'service.' in its web address (us1: none).",
        default="us1",
    )
    base_url: str | None = address_field(
        "API base URL",
        "Overrides deployment, e.g. https://api.eu.sumologic.com/api; leave empty normally.",
        url=True,
        default=None,
        pattern=r"^https?://\S+$",
    )
    error_filter: str = Field(
        # Keywords match whole words: *Error / *Exception / traceback catch Python and Java
        # exception lines (``ValueError: ...``) that contain none of the plain words.
        "(error OR exception OR fail* OR traceback OR *Error OR *Exception)",
        title="Error filter",
        description="Sumo Logic keyword expression that selects error messages.",
        min_length=1,
    )


# --------------------------------------------------------------------------- addresses and queries


def api_base(settings: SumoLogicSettings) -> str:
    if settings.base_url:
        return settings.base_url.rstrip("/")
    if settings.deployment == "us1":
        return "https://api.sumologic.com/api"
    return f"https://api.{settings.deployment}.sumologic.com/api"


def host_of(url: str) -> str:
    """The host name of ``url``; empty when there is none or the URL is malformed."""
    try:
        return urlsplit(url).hostname or ""
    except ValueError:
        return ""


def deployment_of(url: str) -> str | None:
    """``us1`` for api.sumologic.com, ``eu`` for api.eu.sumologic.com, None for anything else."""
    match = _API_HOST.fullmatch(host_of(url))
    if match is None:
        return None
    found = match.group(1) or "us1"
    return found if found in DEPLOYMENTS else None


def ui_base(settings: SumoLogicSettings) -> str:
    """The web UI origin: from an official base_url's host, else from the deployment."""
    deployment = (deployment_of(settings.base_url) if settings.base_url else None) or settings.deployment
    return (
        "https://service.sumologic.com"
        if deployment == "us1"
        else f"https://service.{deployment}.sumologic.com"
    )


def quoted(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def build_query(query: Query, error_filter: str) -> str:
    """``"openReplaySessionToken=<token>"``, plus ``AND (<error_filter>)`` for errors only."""
    text = quoted(query.phrase)
    return f"{text} AND ({error_filter})" if query.errors_only else text


# --------------------------------------------------------------------------- records


def _parse_json(raw: str) -> dict[str, Any] | None:
    if not raw.lstrip().startswith("{"):
        return None
    try:
        parsed = json.loads(raw)
    except ValueError:
        return None
    return parsed if isinstance(parsed, dict) else None


def _level(raw: str, parsed: dict[str, Any] | None, default: str) -> str:
    """The JSON ``level``, a ``level=`` pair, an upper-case level word or the leading word."""
    if parsed is not None and isinstance(parsed.get("level"), str):
        return normalize_level(parsed["level"], default)
    head = _MARKER_TAG.sub("", raw[:300])
    match = _LEVEL_KV.search(head) or _LEVEL_WORD.search(head) or _FIRST_WORD.match(head)
    return normalize_level(match.group(1) if match else None, default)


def _provider_id(fields: dict[str, Any], raw: str) -> str:
    message_id = fields.get("_messageid")
    if isinstance(message_id, str | int) and str(message_id):
        return str(message_id)
    content = "\x1f".join((raw, str(fields.get("_messagetime")), str(fields.get("_sourceid"))))
    return "sha256:" + hashlib.sha256(content.encode()).hexdigest()[:32]


class _Converter:
    """Turns one message ``map`` into a :class:`Record` for one query."""

    def __init__(self, settings: SumoLogicSettings, query: Query) -> None:
        self.query = query
        self.ui = ui_base(settings) + "/ui/#/search/create?"

    def link(self, raw: str, at_ms: int) -> str:
        found = _TOKEN_IN_TEXT.search(raw)
        phrase = self.query.phrase if self.query.token or not found else found.group(0)
        params = {"query": quoted(phrase), "startTime": at_ms, "endTime": at_ms + 1000}
        return self.ui + urlencode(params, quote_via=quote)

    def record(self, fields: dict[str, Any]) -> Record | None:
        """None when the message is outside the window or has no usable time."""
        timestamp = from_epoch_ms(fields.get("_messagetime"))
        if timestamp is None or not self.query.start <= timestamp < self.query.end:
            return None
        raw = as_text(fields.get("_raw")) or ""
        parsed = _parse_json(raw)
        exception = parse_exception(raw)
        error_default = self.query.errors_only or exception is not None or bool(_ERROR_WORDS.search(raw))
        service_key = "_sourcecategory" if as_text(fields.get("_sourcecategory")) else "_collector"
        used = {"_raw", "_messageid", "_messagetime", "_sourcehost", service_key}
        attributes = {key: value for key, value in fields.items() if key not in used}
        if parsed is not None:
            attributes["json"] = parsed
        title = as_text(parsed.get("message") or parsed.get("msg")) if parsed else None
        return Record(
            provider_id=_provider_id(fields, raw),
            timestamp=timestamp,
            message=raw,
            level=_level(raw, parsed, "error" if error_default else "info"),
            title=exception.title if exception else title or "",
            service=as_text(fields.get(service_key)),
            host=as_text(fields.get("_sourcehost")),
            attributes=attributes,
            link=self.link(raw, epoch_ms(timestamp)),
            exception_type=exception.type if exception else None,
        )


def _object(value: Any, what: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise ProviderError(f"Sumo Logic sent an unexpected {what}; check base_url points at its API.")
    return value


# --------------------------------------------------------------------------- provider


POLL_FIRST = 0.25
"""Adaptive polling: seconds before the second status poll (the first one follows the create)."""
POLL_GROWTH = 1.5
"""Adaptive polling: each wait is this much longer than the one before..."""
POLL_MAX = 2.0
"""...up to this many seconds (reached after about 5 s)."""


def poll_waits(fixed: float | None) -> Iterator[float]:
    """The waits between one search job's status polls: ``fixed`` each time, or when None,
    :data:`POLL_FIRST` growing by :data:`POLL_GROWTH` up to :data:`POLL_MAX`.

    Most jobs over a poll window finish within a second or two, so the first polls come quickly
    (at 0, 0.25, 0.63, 1.19, 2.03 s), and a job is seen done at most 2 s after it finished, as
    with the former fixed 2 s; a long job is polled every 2 s. The create and the first three
    polls fall within the first second: Sumo Logic's documented limit is 4 API requests per
    second per access key. (Doubling would see a 2 s job only at 3.75 s.)
    """
    if fixed is not None:
        yield from itertools.repeat(fixed)
    wait = POLL_FIRST
    while True:
        yield wait
        wait = min(POLL_GROWTH * wait, POLL_MAX)


@dataclass(frozen=True, slots=True)
class SumoLogicOptions(ProviderOptions):
    """The shared knobs plus Sumo Logic's search-job polling."""

    job_poll_interval: float | None = None
    """Seconds between search-job status polls; None (the default): adaptive, see :func:`poll_waits`."""
    job_timeout: float = 300.0
    """Give up on a search job after this many seconds."""


class SumoLogicProvider(Provider):
    name = "sumologic"
    label = "Sumo Logic"
    Settings = SumoLogicSettings
    Options = SumoLogicOptions
    settings: SumoLogicSettings
    options: SumoLogicOptions

    @property
    def _url_field(self) -> str:
        return "base_url" if self.settings.base_url else "deployment"

    def _api(self) -> HttpApi:
        """A fresh client (and cookie jar) for one search job."""
        access_id = self.settings.access_id
        key = self.settings.access_key.get_secret_value()
        return HttpApi(
            label=self.label,
            base_url=api_base(self.settings),
            options=self.options,
            secrets=[key],  # and the Basic credentials HttpApi derives from ``auth``
            headers=_JSON_HEADERS,
            auth=(access_id, key),
            url_field=self._url_field,
        )

    async def check(self) -> None:
        """Create (and delete) a search job over the last minute: proves the key, the
        deployment, the Search Job API permission and the error_filter syntax at once."""
        end = datetime.now(UTC)
        api = self._api()
        try:
            job_id = await self._create(api, Query(start=end - CHECK_WINDOW, end=end))
            await self._delete(api, job_id)
        finally:
            await api.aclose()

    async def search(self, query: Query) -> AsyncIterator[Record]:
        api = self._api()
        try:
            job_id = await self._create(api, query)
            try:
                async with aclosing(self._records(api, job_id, query)) as records:
                    async for record in records:
                        yield record
            finally:
                await self._delete(api, job_id)
        finally:
            await api.aclose()

    # ----------------------------------------------------------------------- job steps

    async def _create(self, api: HttpApi, query: Query) -> str:
        body = {
            "query": build_query(query, self.settings.error_filter),
            "from": str(epoch_ms(query.start)),
            "to": str(epoch_ms(query.end, ceil=True)),
            "timeZone": "UTC",
            "byReceiptTime": False,
        }
        created = _object(await self._call(api, "POST", JOBS_PATH, json=body, job_call=False), "job")
        job_id = created.get("id")
        if not isinstance(job_id, str) or not job_id:
            raise ProviderError("Sumo Logic created a search job without an id; try again later.")
        return job_id

    async def _wait(self, api: HttpApi, job_id: str) -> int:
        """Poll until the job is done; return its message count."""
        waits = poll_waits(self.options.job_poll_interval)
        started = time.monotonic()
        waited = 0.0
        while True:
            status = _object(await self._call(api, "GET", f"{JOBS_PATH}/{job_id}"), "job status")
            errors = status.get("pendingErrors")
            if errors:
                detail = api.scrub(" ".join(str(errors[0] if isinstance(errors, list) else errors).split()))
                raise ProviderError(
                    f"Sumo Logic reported a search error ({detail[:300]}); check error_filter.",
                    field="error_filter",
                )
            state = status.get("state")
            if state == DONE:
                count = status.get("messageCount")
                if not isinstance(count, int) or isinstance(count, bool) or count < 0:
                    raise ProviderError("Sumo Logic sent a job status without a message count; try again.")
                return count
            if state in STOPPED:
                raise ProviderError(STOPPED[state])
            if max(time.monotonic() - started, waited) >= self.options.job_timeout:
                raise Unreachable(
                    f"Sumo Logic did not finish the search within {self.options.job_timeout:g} s; "
                    "ReplayLink will retry later."
                )
            wait = next(waits)
            await self.options.sleep(wait)
            waited += wait

    async def _records(self, api: HttpApi, job_id: str, query: Query) -> AsyncGenerator[Record, None]:
        """Wait for the job, then page its messages into records (window and limit applied)."""
        total = await self._wait(api, job_id)
        convert = _Converter(self.settings, query)
        page_size = min(query.page_size, MAX_PAGE)
        offset = yielded = 0
        while offset < total:
            params = {"offset": offset, "limit": page_size}
            answer = await self._call(api, "GET", f"{JOBS_PATH}/{job_id}/messages", params=params)
            page = _object(answer, "message page")
            messages = page.get("messages")
            if not isinstance(messages, list):
                raise ProviderError("Sumo Logic sent a message page without messages; try again later.")
            if not messages:
                return  # fewer messages than the status promised
            offset += len(messages)
            for item in messages:
                fields = item.get("map") if isinstance(item, dict) else None
                record = convert.record(fields) if isinstance(fields, dict) else None
                if record is None:
                    continue
                yield bound_record(record, self.options.limits)
                yielded += 1
                if query.limit is not None and yielded >= query.limit:
                    return

    async def _delete(self, api: HttpApi, job_id: str) -> None:
        """Free the job slot (Sumo allows 200 per org); a failure here is logged, not raised."""
        try:
            response = await api.request("DELETE", f"{JOBS_PATH}/{job_id}")
        except ProviderError as exc:
            log.warning("Sumo Logic search job %s was not deleted: %s", job_id, exc)
            return
        if not response.is_success and response.status_code != 404:
            log.warning("Sumo Logic search job %s was not deleted: HTTP %s", job_id, response.status_code)

    # ----------------------------------------------------------------------- HTTP

    async def _call(
        self, api: HttpApi, method: str, path: str, *, job_call: bool = True, **kwargs: Any
    ) -> Any:
        response = await api.request(method, path, **kwargs)
        if response.is_success:
            return api.json(response)
        raise self._error(api, response, job_call=job_call)

    def _error(self, api: HttpApi, response: httpx.Response, *, job_call: bool) -> ProviderError:
        status = response.status_code
        if response.is_redirect:
            return self._moved(response)
        if status == 401:
            return AuthError(
                "Sumo Logic did not accept the access ID and key; check access_id and access_key.",
                field="access_key",
            )
        detail = api.error_text(response)
        if status == 403:
            return ProviderPermissionError(
                f"Sumo Logic refused the search ({detail}); the Search Job API needs an Enterprise "
                "account and a role that may download search results for access_id.",
                field="access_id",
            )
        if status == 404 and job_call:
            return ProviderError(
                "Sumo Logic dropped the search job (idle too long or its session cookie was lost); "
                "ReplayLink will retry."
            )
        if status == 404:
            return NotFound(
                f"Sumo Logic has no Search Job API at this address; check {self._url_field}.",
                field=self._url_field,
            )
        if status == 400 and not job_call:
            return ProviderError(
                f"Sumo Logic rejected the search ({detail}); check error_filter.", field="error_filter"
            )
        return ProviderError(f"Sumo Logic answered HTTP {status} ({detail}).")

    def _moved(self, response: httpx.Response) -> ProviderError:
        """A 301 means the account lives on another deployment; say which one."""
        location = response.headers.get("Location", "")
        right = deployment_of(location)
        clear = " and clear base_url" if self.settings.base_url else ""
        if right is not None:
            message = f"Your account is on deployment '{right}'; set deployment to {right}{clear}."
        else:
            host = (host_of(location) or "another address")[:100]
            message = f"Sumo Logic redirected to {host}; set base_url to your deployment's API URL."
        return ProviderError(message, field=self._url_field if right is None else "deployment")
