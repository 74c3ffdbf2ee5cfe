"""Datadog Logs: ``POST /api/v2/logs/events/search`` with cursor paging.

The marker is searched twice in one query: as a quoted phrase in the log message (what the
seed's snippet prints) and as the ``@openReplaySessionToken`` attribute (JSON loggers).
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any, Literal, NoReturn
from urllib.parse import quote

import httpx
from pydantic import Field, SecretStr, StringConstraints, field_validator

from replaylink.providers.base import (
    MARKER_NAME,
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
    address_field,
    bound_record,
    normalize_level,
    secret_field,
    well_formed,
)
from replaylink.providers.coerce import as_dict, as_list, as_text, epoch_ms, parse_time
from replaylink.providers.http import HttpApi, retry_after_header

SEARCH_PATH = "/api/v2/logs/events/search"
VALIDATE_PATH = "/api/v1/validate"
MAX_PAGE = 1000
_SPECIAL = set('=-!&|><(){}[]"*?:\\# ')
"""Characters Datadog's search syntax needs escaped with a backslash."""
_TOKEN_END = r"(?![0-9A-Za-z]|\.[0-9A-Za-z])"
"""A token (``[0-9A-Za-z.]``) ends here; a sentence's final period is not part of it."""

DatadogSite = Literal[
    "datadoghq.com",
    "us3.datadoghq.com",
    "us5.datadoghq.com",
    "datadoghq.eu",
    "ap1.datadoghq.com",
    "ap2.datadoghq.com",
    "uk1.datadoghq.com",
    "ddog-gov.com",
    "us2.ddog-gov.com",
]
LogStatus = Literal["emergency", "alert", "critical", "error", "warn", "notice", "info", "debug", "ok"]
ERROR_STATUSES: tuple[LogStatus, ...] = ("error", "critical", "alert", "emergency")
IndexName = Annotated[str, StringConstraints(pattern=r"^[\w.*-]+$", max_length=100)]


class DatadogSettings(ProviderSettings):
    api_key: SecretStr = secret_field("API Key", "Organization Settings > API Keys.")
    application_key: SecretStr = secret_field(
        "Application Key", "Its owner needs the logs_read_data permission."
    )
    site: DatadogSite = address_field(
        "Site", "The Datadog site your organization lives on.", default="datadoghq.com"
    )
    indexes: list[IndexName] = Field(
        default_factory=lambda: ["*"],
        title="Indexes",
        description="Log indexes to search; * means all.",
        min_length=1,
        max_length=100,
    )
    base_url: str | None = address_field(
        "API base URL",
        "Overrides the site's API host (proxies); leave empty normally.",
        url=True,
        default=None,
        pattern=r"^https?://\S+$",
    )
    error_statuses: list[LogStatus] = Field(
        default_factory=lambda: list(ERROR_STATUSES),
        title="Error statuses",
        description="Log statuses imported as backend errors.",
        min_length=1,
    )

    @field_validator("base_url", mode="before")
    @classmethod
    def _blank_is_none(cls, value: Any) -> Any:
        """An empty form field means "use the site"."""
        return None if isinstance(value, str) and not value.strip() else value


def api_base(site: str) -> str:
    return f"https://api.{site}"


def app_base(site: str) -> str:
    """The web UI host: ``app.<site>`` for the historic sites, the site itself for newer ones."""
    return f"https://app.{site}" if site.count(".") == 1 else f"https://{site}"


def escape_term(value: str) -> str:
    return "".join("\\" + char if char in _SPECIAL else char for char in value)


def build_query(query: Query, error_statuses: list[str]) -> str:
    """``("openReplaySessionToken=<t>" OR @openReplaySessionToken:<t>)`` plus the status filter."""
    if query.token is None:
        attribute = "*"
        phrase = MARKER_PREFIX
    else:
        attribute = escape_term(query.token)
        phrase = MARKER_PREFIX + query.token.replace("\\", "\\\\").replace('"', '\\"')
    text = f'("{phrase}" OR @{MARKER_NAME}:{attribute})'
    if query.errors_only:
        text += " status:(" + " OR ".join(error_statuses) + ")"
    return text


def carries(record: Record, token: str | None) -> bool:
    """Whether ``record`` really holds the (case-sensitive) marker for ``token``, or any marker."""
    if token is None:
        return MARKER_PREFIX in record.message or MARKER_NAME in record.attributes
    if record.attributes.get(MARKER_NAME) == token:
        return True
    return re.search(re.escape(MARKER_PREFIX + token) + _TOKEN_END, record.message) is not None


def _rate_limit_reset(response: httpx.Response) -> float | None:
    """Datadog's ``X-RateLimit-Reset`` is the number of seconds until the window resets."""
    try:
        return float(response.headers["X-RateLimit-Reset"])
    except (KeyError, ValueError):
        return retry_after_header(response)


class DatadogProvider(Provider):
    name = "datadog"
    label = "Datadog"
    Settings = DatadogSettings

    def __init__(self, settings: ProviderSettings, options: ProviderOptions | None = None) -> None:
        super().__init__(settings, options)
        assert isinstance(self.settings, DatadogSettings)
        self.config: DatadogSettings = self.settings
        self.app_url = app_base(self.config.site)
        self.api = HttpApi(
            label=self.label,
            base_url=self.config.base_url or api_base(self.config.site),
            options=self.options,
            secrets=self.config.secret_values(),
            headers={
                "DD-API-KEY": self.config.api_key.get_secret_value(),
                "DD-APPLICATION-KEY": self.config.application_key.get_secret_value(),
                "Accept": "application/json",
            },
            retry_after=_rate_limit_reset,
            url_field="base_url" if self.config.base_url else "site",
        )

    async def aclose(self) -> None:
        await self.api.aclose()

    async def check(self) -> None:
        """One real logs search over the last minute: needs both keys and ``logs_read_data``."""
        now = datetime.now(UTC)
        probe = Query(start=now - timedelta(minutes=1), end=now, errors_only=False, page_size=1)
        payload = await self._search_page(self._body(probe, 1))
        for warning in payload["meta"].get("warnings") or []:
            if isinstance(warning, dict) and warning.get("code") == "unknown_index":
                detail = self.api.scrub(str(warning.get("detail") or warning.get("title") or ""))
                raise NotFound(
                    f"Datadog does not know some of the indexes ({detail[:200]}); check indexes.",
                    field="indexes",
                )

    async def search(self, query: Query) -> AsyncIterator[Record]:
        if query.start >= query.end or (query.limit is not None and query.limit <= 0):
            return
        seen_cursors: set[str] = set()
        count = 0
        cursor: str | None = None
        while True:
            limit = min(query.page_size, MAX_PAGE, query.limit - count if query.limit else MAX_PAGE)
            payload = await self._search_page(self._body(query, limit, cursor))
            for record in well_formed(payload["data"], self._record):
                if not query.start <= record.timestamp < query.end:
                    continue  # Datadog's ``to`` is inclusive and its ``from`` floored to the ms
                if not carries(record, query.token):
                    continue  # Datadog's phrase search ignores case and token boundaries
                yield bound_record(record, self.options.limits)
                count += 1
                if query.limit is not None and count >= query.limit:
                    return
            cursor = as_text(as_dict(payload["meta"].get("page")).get("after"))
            if cursor is None:
                return
            if cursor in seen_cursors:
                raise self._malformed("a page cursor it had already sent, so paging would never end")
            seen_cursors.add(cursor)

    # ------------------------------------------------------------------ requests

    def _body(self, query: Query, limit: int, cursor: str | None = None) -> dict[str, Any]:
        page: dict[str, Any] = {"limit": limit}
        if cursor is not None:
            page["cursor"] = cursor
        return {
            "filter": {
                "query": build_query(query, list(self.config.error_statuses)),
                "from": str(epoch_ms(query.start)),
                "to": str(epoch_ms(query.end)),
                "indexes": list(self.config.indexes),
            },
            "sort": "timestamp",
            "page": page,
        }

    async def _search_page(self, body: dict[str, Any]) -> dict[str, Any]:
        """POST one search page; return the payload with ``data`` a list and ``meta`` a dict."""
        response = await self.api.request("POST", SEARCH_PATH, json=body)
        if response.status_code != 200:
            await self._raise_for(response)
        payload = self.api.json(response)
        if not isinstance(payload, dict) or not isinstance(payload.get("data"), list):
            raise self._malformed("a search answer without a list of logs")
        payload["meta"] = as_dict(payload.get("meta"))
        return payload

    def _malformed(self, what: str) -> ProviderError:
        return ProviderError(
            f"Datadog sent {what}; check {self.api.url_field} points at Datadog's logs API.",
            field=self.api.url_field,
        )

    async def _raise_for(self, response: httpx.Response) -> NoReturn:
        status = response.status_code
        text = self.api.error_text(response)
        if status in (401, 403):
            if "permission" in text.lower():
                raise ProviderPermissionError(
                    f"Datadog refused to search logs ({text}); give the application key's owner the "
                    "logs_read_data permission or use another application_key.",
                    field="application_key",
                )
            if await self._api_key_valid():
                raise AuthError(
                    f"Datadog accepted the API key but refused the application key ({text}); "
                    "check application_key.",
                    field="application_key",
                )
            raise AuthError(f"Datadog refused the API key ({text}); check api_key and site.", field="api_key")
        if status == 404:
            raise NotFound(
                f"Datadog has no logs search API at this address ({text}); check {self.api.url_field}.",
                field=self.api.url_field,
            )
        if status == 400:
            raise ProviderError(f"Datadog rejected the logs search ({text}); check indexes.", field="indexes")
        raise ProviderError(f"Datadog answered HTTP {status} to the logs search: {text}.")

    async def _api_key_valid(self) -> bool:
        """Ask ``/api/v1/validate`` (API key only) which of the two keys Datadog refused."""
        response = await self.api.request("GET", VALIDATE_PATH)
        if response.status_code != 200:
            return False
        try:
            return response.json().get("valid") is True
        except (ValueError, AttributeError):
            return False

    # ------------------------------------------------------------------ records

    def _record(self, item: Any) -> Record:
        """One Datadog ``Log`` object as a :class:`Record`."""
        log_id = as_text(as_dict(item).get("id"))
        attrs = as_dict(as_dict(item).get("attributes"))
        timestamp = parse_time(attrs.get("timestamp"))
        if log_id is None or timestamp is None:
            raise self._malformed("a log without an id or a valid timestamp")
        fields = dict(as_dict(attrs.get("attributes")))
        tags = as_list(attrs.get("tags"))
        if tags:
            fields["tags"] = tags  # as Datadog shows them: ["env:prod", "bare"], never reshaped
        error = as_dict(fields.get("error"))
        kind = as_text(error.get("kind"))
        return Record(
            provider_id=log_id,
            timestamp=timestamp,
            message=str(attrs.get("message") or ""),
            level=normalize_level(as_text(attrs.get("status"))),
            title=": ".join(part for part in (kind, as_text(error.get("message"))) if part),
            service=as_text(attrs.get("service")),
            host=as_text(attrs.get("host")),
            logger=as_text(as_dict(fields.get("logger")).get("name")),
            attributes=fields,
            link=f"{self.app_url}/logs?event={quote(log_id, safe='')}",
            exception_type=kind,
        )
