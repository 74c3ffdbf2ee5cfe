"""Elasticsearch and OpenSearch: one code path over plain HTTP (JSON works with both flavours).

Search: ``POST /<indexes>/_search`` with a ``bool`` filter of the marker, the time window (``range``
on ``timestamp_field``) and, for errors only, the error filter (``terms`` on ``error_field``).

The marker. The standard analyzer splits ``[openReplaySessionToken=abc.DEF1] boom`` into
``openreplaysessiontoken``, ``abc.def1``, ``boom``: brackets and ``=`` separate words and case is
folded. So ``match_phrase`` on ``openReplaySessionToken=<token>`` finds the marker wherever it stands
(the start of a printed line or inside an exception message) and ``openReplaySessionToken=`` (one
word) finds every marked line. JSON loggers that carry the token as a field are matched by
``match_phrase`` (exact on ``keyword``, analysed on ``text``) or ``exists`` on ``openReplaySessionToken``.
Since the analyzer folds case and splits ``abc.1`` into ``abc``, ``1``, hits are re-checked exactly
here, as is the window (the server compares whole milliseconds).

Paging: ``search_after`` sorted by the timestamp and a tiebreaker, so that documents sharing a
timestamp are never skipped or repeated. Under a point in time (PIT) the tiebreaker is
``_shard_doc`` (Elasticsearch >= 7.12, OpenSearch >= 3.3); otherwise it is ``_id``, which every
cluster on those paths still sorts on (OpenSearch 2.4-3.2 PIT, and the no-PIT fallback for
Elasticsearch < 7.12 and OpenSearch < 2.4). Elasticsearch 8+ forbids sorting on ``_id`` but always
has PIT. The flavour comes from ``GET /``; a PIT that cannot be opened (400/404/405) falls back to
plain ``search_after``; an opened PIT is always released.
"""

from __future__ import annotations

import base64
import binascii
import logging
import re
import ssl
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Annotated, Any, NoReturn, Self
from urllib.parse import SplitResult, quote, urlsplit

import httpx
from pydantic import (
    ConfigDict,
    Field,
    SecretStr,
    StringConstraints,
    ValidationError,
    field_validator,
    model_validator,
)
from pydantic_core import InitErrorDetails, PydanticCustomError

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
    Unreachable,
    address_field,
    bound_record,
    normalize_level,
    secret_field,
    url_field,
)
from replaylink.providers.coerce import as_dict, epoch_ms, joined_text, parse_time
from replaylink.providers.http import HttpApi
from replaylink.providers.tracebacks import parse_exception

log = logging.getLogger("replaylink.providers.elasticsearch")

MAX_PAGE = 10_000
"""Elasticsearch's default ``index.max_result_window`` caps ``size``."""
KEEP_ALIVE = "1m"
_DATE_TYPES = {"date", "date_nanos"}
_FIELD_CANDIDATES = {
    "timestamp_field": ("@timestamp", "utc_time", "timestamp", "time"),
    "message_field": ("message", "event.original", "log.original", "msg"),
}
"""Where logs usually keep their time and text (ECS, Kibana's samples, common loggers)."""
_LEVEL_FIELDS = ("log.level", "level", "severity", "loglevel")
_SERVICE_FIELDS = ("service.name", "service")
_HOST_FIELDS = ("host.name", "host.hostname", "host")
_LOGGER_FIELDS = ("log.logger", "logger", "logger_name")
_INDEX_ITEM = re.compile(r"^-?[a-z0-9.*][a-z0-9._*+:-]*$")

FieldName = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9_@][A-Za-z0-9_@.-]*$", max_length=255)]
ErrorValue = Annotated[str, StringConstraints(min_length=1, max_length=100)]


# --------------------------------------------------------------------------- settings


class ElasticsearchSettings(ProviderSettings):
    """Where the cluster is, how to sign in, and which fields hold what."""

    model_config = ConfigDict(hide_input_in_errors=True)

    host: str = address_field(
        "Host",
        "es.example.com, https://es.example.com or http://10.0.0.5:9200 (https by default).",
        min_length=1,
    )
    port: int = address_field("Port", "Used unless host has a :port.", default=9200, ge=1, le=65535)
    api_key_id: str | None = Field(
        None,
        title="API key id",
        description="The id of the API key (the `id` its creation answered; `id` is accepted too).",
    )
    api_key: SecretStr | None = secret_field("API key", "The api_key of the API key.", default=None)
    encoded_api_key: SecretStr | None = secret_field(
        "Encoded API key", "Instead of id + API key: the base64 'encoded' value Kibana shows.", default=None
    )
    username: str | None = Field(None, title="Username", description="Instead of an API key: basic auth.")
    password: SecretStr | None = secret_field("Password", default=None)
    indexes: str = Field(
        "*log*", title="Indexes", description="Index names or patterns, separated by commas."
    )
    verify_tls: bool = Field(True, title="Verify TLS certificate")
    ca_cert: str | None = Field(
        None,
        title="CA certificate",
        description="PEM text of the CA that signed the cluster's certificate (self-managed clusters).",
        max_length=65536,
    )
    message_field: FieldName = Field("message", title="Message field")
    timestamp_field: FieldName = Field(
        "utc_time", title="Timestamp field", description="A date field; ECS logs use @timestamp."
    )
    error_field: FieldName = Field(
        "tags", title="Error field", description="Field that marks error logs, e.g. tags or log.level."
    )
    error_values: list[ErrorValue] = Field(
        default_factory=lambda: ["error"],
        title="Error values",
        description="Values of the error field that mean error, e.g. error, fatal, critical "
        "(also matched in lower, UPPER and Capitalised case).",
        min_length=1,
        max_length=20,
    )
    kibana_url: str | None = url_field(
        "Kibana URL",
        "For links to each log in Discover, e.g. https://kibana.example.com (never sent credentials).",
        default=None,
        pattern=r"^https?://\S+$",
    )

    @field_validator(
        "api_key_id",
        "api_key",
        "encoded_api_key",
        "username",
        "password",
        "ca_cert",
        "kibana_url",
        mode="before",
    )
    @classmethod
    def _blank_is_none(cls, value: Any) -> Any:
        """An empty form field means "not set"."""
        return None if isinstance(value, str) and not value.strip() else value

    @field_validator("host")
    @classmethod
    def _valid_host(cls, value: str) -> str:
        parts = _split_host(value)
        if parts.scheme not in ("http", "https") or not re.fullmatch(r"[\w.:-]+", parts.hostname or ""):
            raise PydanticCustomError("host", "Enter a host name or an http(s):// URL.")
        if parts.username is not None or parts.query or parts.fragment:
            raise PydanticCustomError(
                "host", "Enter the host without credentials or query; use the auth fields to sign in."
            )
        try:
            parts.port  # noqa: B018 - raises on a bad port
        except ValueError:
            raise PydanticCustomError("host", "The port in host must be a number from 1 to 65535.") from None
        return value.rstrip("/")

    @field_validator("indexes")
    @classmethod
    def _valid_indexes(cls, value: str) -> str:
        items = [item.strip() for item in value.split(",") if item.strip()]
        if not items:
            raise PydanticCustomError("indexes", "Enter at least one index name or pattern, e.g. *log*.")
        for item in items:
            if not _INDEX_ITEM.match(item) or len(item) > 255:
                raise PydanticCustomError(
                    "indexes",
                    "{item} is not an index name or pattern: use lowercase letters, digits, * . _ - + "
                    "and separate several with commas.",
                    {"item": repr(item)},
                )
        return ",".join(items)

    @field_validator("ca_cert")
    @classmethod
    def _valid_ca_cert(cls, value: str | None) -> str | None:
        if value is not None:
            try:
                ssl.create_default_context(cadata=value)
            except (ssl.SSLError, ValueError):
                raise PydanticCustomError(
                    "ca_cert", "Paste the CA certificate as PEM text (-----BEGIN CERTIFICATE----- ...)."
                ) from None
        return value

    @field_validator("encoded_api_key")
    @classmethod
    def _valid_encoded_key(cls, value: SecretStr | None) -> SecretStr | None:
        if value is not None:
            try:
                decoded = base64.b64decode(value.get_secret_value(), validate=True).decode()
            except (binascii.Error, UnicodeDecodeError):
                decoded = ""
            if ":" not in decoded:
                raise PydanticCustomError(
                    "encoded_api_key", "Paste the encoded API key (base64 of id:api_key) as Kibana shows it."
                )
        return value

    @field_validator("kibana_url")
    @classmethod
    def _strip_slash(cls, value: str | None) -> str | None:
        return value.rstrip("/") if value else value

    @model_validator(mode="before")
    @classmethod
    def _id_is_api_key_id(cls, data: Any) -> Any:
        """``id``, as the seed documentation names the API key's id, is ``api_key_id`` (and wins
        over one already there: settings merged for an update put the new value last)."""
        if isinstance(data, dict) and "id" in data:
            data = {key: value for key, value in data.items() if key != "id"} | {"api_key_id": data["id"]}
        return data

    @model_validator(mode="after")
    def _port_in_effect(self) -> Self:
        """A port in host wins over ``port``, so ``port`` always says the one in use (echoed as saved)."""
        in_host = _split_host(self.host).port
        if in_host is not None:
            self.port = in_host
        return self

    @model_validator(mode="after")
    def _one_auth_method(self) -> Self:
        """Each sign-in method complete, at most one of them; an open cluster needs none."""
        problems: list[tuple[str, str]] = []
        for first, second, first_label, second_label in (
            ("api_key_id", "api_key", "API key id", "API key"),
            ("username", "password", "username", "password"),
        ):
            if getattr(self, first) and not getattr(self, second):
                problems.append((second, f"Enter the {second_label} that goes with the {first_label}."))
            if getattr(self, second) and not getattr(self, first):
                problems.append((first, f"Enter the {first_label} that goes with the {second_label}."))
        chosen = [
            name
            for name, complete in (
                ("api_key_id", self.api_key_id and self.api_key),
                ("encoded_api_key", self.encoded_api_key),
                ("username", self.username and self.password),
            )
            if complete
        ]
        problems += [
            (name, "Use one way to sign in: API key id + API key, encoded API key, or username + password.")
            for name in chosen[1:]
        ]
        if problems:
            raise ValidationError.from_exception_data(
                type(self).__name__,
                [
                    InitErrorDetails(type=PydanticCustomError("auth", message), loc=(name,), input=None)
                    for name, message in problems
                ],
            )
        return self

    def base_url(self) -> str:
        """``scheme://host:port[/path]``: https unless host says otherwise, host's own port first."""
        parts = _split_host(self.host)
        hostname = parts.hostname or ""
        if ":" in hostname:
            hostname = f"[{hostname}]"
        return f"{parts.scheme}://{hostname}:{parts.port or self.port}{parts.path.rstrip('/')}"

    def index_path(self) -> str:
        """``indexes`` as one URL path segment (commas and wildcards kept)."""
        return quote(self.indexes, safe=",*:")

    def auth_fields(self) -> tuple[str, str]:
        """(the credential fields in words, the field to flag) for an authentication failure."""
        if self.encoded_api_key:
            return "encoded_api_key", "encoded_api_key"
        if self.username:
            return "username and password", "password"
        return "api_key_id and api_key", "api_key"

    def authorization(self) -> str | None:
        """The ``Authorization: ApiKey ...`` value, or None for basic auth or an open cluster."""
        if self.encoded_api_key:
            return "ApiKey " + self.encoded_api_key.get_secret_value()
        if self.api_key_id and self.api_key:
            pair = f"{self.api_key_id}:{self.api_key.get_secret_value()}"
            return "ApiKey " + base64.b64encode(pair.encode()).decode()
        return None

    def tls_verify(self) -> ssl.SSLContext | bool:
        """httpx ``verify``: off, a context trusting ``ca_cert``, or the system CAs."""
        if not self.verify_tls:
            return False
        if self.ca_cert:
            return ssl.create_default_context(cadata=self.ca_cert)
        return True


def _split_host(host: str) -> SplitResult:
    return urlsplit(host if "://" in host else "https://" + host)


# --------------------------------------------------------------------------- paging plan


@dataclass(frozen=True, slots=True)
class PitApi:
    """One flavour's point-in-time endpoints."""

    open_suffix: str
    id_key: str
    close_path: str
    close_body: Callable[[str], dict[str, Any]]


ES_PIT = PitApi("_pit", "id", "/_pit", lambda pit_id: {"id": pit_id})
OPENSEARCH_PIT = PitApi(
    "_search/point_in_time", "pit_id", "/_search/point_in_time", lambda pit_id: {"pit_id": [pit_id]}
)


@dataclass(frozen=True, slots=True)
class Plan:
    """How to page through one cluster: a PIT API (None = plain search_after) and the tiebreaker."""

    pit: PitApi | None
    tiebreaker: str


NO_PIT = Plan(None, "_id")


def paging_plan(root: Any) -> Plan:
    """The plan for a cluster from its ``GET /`` answer (None when we may not read it)."""
    version = as_dict(as_dict(root).get("version"))
    match = re.match(r"(\d+)\.(\d+)", str(version.get("number") or ""))
    number = (int(match[1]), int(match[2])) if match else None
    if version.get("distribution") == "opensearch":
        if number == (7, 10):  # compatibility.override_main_response_version hides the real one
            number = None
        if number is not None and number < (2, 4):
            return NO_PIT
        return Plan(OPENSEARCH_PIT, "_shard_doc" if number is not None and number >= (3, 3) else "_id")
    if number is None or number >= (7, 12):
        return Plan(ES_PIT, "_shard_doc")
    return NO_PIT


@dataclass(slots=True)
class _Pit:
    api: PitApi
    id: str


# --------------------------------------------------------------------------- provider


class ElasticsearchProvider(Provider):
    name = "elasticsearch"
    label = "Elasticsearch"
    Settings = ElasticsearchSettings

    def __init__(self, settings: ProviderSettings, options: ProviderOptions | None = None) -> None:
        super().__init__(settings, options)
        assert isinstance(self.settings, ElasticsearchSettings)
        self.config: ElasticsearchSettings = self.settings
        headers = {"Accept": "application/json"}
        secrets = self.config.secret_values()
        authorization = self.config.authorization()
        if authorization is not None:
            headers["Authorization"] = authorization  # HttpApi scrubs its credentials too
        username, password = self.config.username, self.config.password
        self.api = HttpApi(
            label=self.label,
            base_url=self.config.base_url(),
            options=self.options,
            secrets=secrets,
            headers=headers,
            auth=(username, password.get_secret_value()) if username and password else None,
            url_field="host",
            verify=self.config.tls_verify(),
        )
        self._plan: Plan | None = None

    async def aclose(self) -> None:
        await self.api.aclose()

    async def check(self) -> None:
        """Reachable and signed in (``GET /``), ``indexes`` matches an index whose mapping has
        ``timestamp_field`` as a date (``_field_caps`` needs only the ``read`` privilege)."""
        await self._paging_plan()
        field = self.config.timestamp_field
        asked = [field, self.config.message_field, *_FIELD_CANDIDATES["timestamp_field"]]
        asked += _FIELD_CANDIDATES["message_field"]
        response = await self._request(
            "GET",
            f"/{self.config.index_path()}/_field_caps",
            params={"fields": ",".join(dict.fromkeys(asked)), "include_unmapped": "true"},
        )
        if response.status_code != 200:
            self._raise_for(response, "read the index mappings")
        caps = as_dict(self.api.json(response))
        if caps.get("indices") == []:
            raise NotFound(
                f"No Elasticsearch index matches {self.config.indexes!r}; check indexes.", field="indexes"
            )
        types = set(as_dict(as_dict(caps.get("fields")).get(field))) - {"unmapped"}
        if not types:
            raise ProviderError(
                f"No index matching {self.config.indexes!r} has a field {field!r}; check timestamp_field "
                "(ECS logs use @timestamp).",
                field="timestamp_field",
            )
        if not types <= _DATE_TYPES:
            raise ProviderError(
                f"The field {field!r} is mapped as {', '.join(sorted(types - _DATE_TYPES))} in some indexes, "
                "not as a date; check timestamp_field or narrow indexes.",
                field="timestamp_field",
            )
        self._check_coverage(caps)

    def _check_coverage(self, caps: dict[str, Any]) -> None:
        """Refuse when some matching indexes lack the timestamp or message field: their documents
        would never be found, silently. Names the field those indexes have instead."""
        indices = [name for name in caps.get("indices") or [] if isinstance(name, str)]
        fields = as_dict(caps.get("fields"))

        def lacking(name: str) -> list[str]:
            unmapped = as_dict(as_dict(fields.get(name)).get("unmapped"))
            if name not in fields or (unmapped and "indices" not in unmapped):
                return indices
            return [index for index in unmapped.get("indices") or [] if isinstance(index, str)]

        for setting in ("timestamp_field", "message_field"):
            configured = getattr(self.config, setting)
            missing = lacking(configured)
            if not missing:
                continue
            instead = next(
                (
                    c
                    for c in _FIELD_CANDIDATES[setting]
                    if c != configured and not set(missing) & set(lacking(c))
                ),
                None,
            )
            fix = f"they have {instead!r}: set {setting} to it" if instead else f"check {setting}"
            shown = ", ".join(missing[:5]) + (f" and {len(missing) - 5} more" if len(missing) > 5 else "")
            raise ProviderError(
                f"{len(missing)} of the {len(indices)} indexes matching {self.config.indexes!r} have no "
                f"{configured!r} field ({shown}), so their documents are never found; {fix}, "
                "or narrow indexes.",
                field=setting,
            )

    async def search(self, query: Query) -> AsyncIterator[Record]:
        if query.start >= query.end or (query.limit is not None and query.limit <= 0):
            return
        plan = await self._paging_plan()
        pit = await self._open_pit(plan.pit) if plan.pit else None
        tiebreaker = plan.tiebreaker if pit is not None else NO_PIT.tiebreaker
        count = 0
        after: list[Any] | None = None
        try:
            while True:
                size = min(query.page_size, MAX_PAGE, query.limit - count if query.limit else MAX_PAGE)
                hits = await self._search_page(self._body(query, size, tiebreaker, after), pit)
                for hit in hits:
                    record = self._record(hit, query)
                    if record is None:
                        continue
                    yield bound_record(record, self.options.limits)
                    count += 1
                    if query.limit is not None and count >= query.limit:
                        return
                if len(hits) < size:
                    return
                previous, after = after, _sort_values(hits[-1])
                if after == previous:
                    raise ProviderError(
                        "Elasticsearch sent the same page twice, so paging would never end; "
                        "check host points at Elasticsearch or OpenSearch."
                    )
        finally:
            if pit is not None:
                await self._close_pit(pit)

    # ------------------------------------------------------------------ requests

    async def _request(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        """``HttpApi.request``, with TLS failures explained in terms of our settings."""
        try:
            return await self.api.request(method, path, **kwargs)
        except Unreachable as exc:
            error = _tls_error(exc)
            if error is None:
                raise
            if isinstance(error, ssl.SSLCertVerificationError):
                reason = self.api.scrub(error.verify_message or str(error))
                raise Unreachable(
                    f"TLS verification failed for {self.config.base_url()} ({reason}); set ca_cert to the "
                    "CA that signed the cluster's certificate, or set verify_tls to false.",
                    field="ca_cert",
                ) from None
            raise Unreachable(
                f"TLS handshake with {self.config.base_url()} failed ({self.api.scrub(str(error))}); "
                "put http:// in host if the cluster does not use TLS, or set ca_cert or verify_tls.",
                field="host",
            ) from None

    async def _paging_plan(self) -> Plan:
        """Flavour and version from ``GET /`` (once). 403 = signed in without the ``monitor``
        privilege: assume a recent Elasticsearch and let the PIT fallback sort it out."""
        if self._plan is None:
            response = await self._request("GET", "/")
            if response.status_code == 403:
                self._plan = paging_plan(None)
            elif response.status_code != 200:
                self._raise_for(response, "tell its version")
            else:
                self._plan = paging_plan(self.api.json(response))
        return self._plan

    async def _open_pit(self, api: PitApi) -> _Pit | None:
        response = await self._request(
            "POST", f"/{self.config.index_path()}/{api.open_suffix}", params={"keep_alive": KEEP_ALIVE}
        )
        if response.status_code in (400, 404, 405) and _error_type(response) != "index_not_found_exception":
            log.info(
                "Elasticsearch point in time unavailable (%s); paging with search_after alone",
                self.api.error_text(response),
            )
            return None
        if response.status_code != 200:
            self._raise_for(response, "open a point in time")
        pit_id = as_dict(self.api.json(response)).get(api.id_key)
        if not isinstance(pit_id, str) or not pit_id:
            raise _malformed("a point in time without an id")
        return _Pit(api, pit_id)

    async def _close_pit(self, pit: _Pit) -> None:
        """Release the PIT; a failure only costs server memory until keep_alive runs out."""
        try:
            response = await self._request("DELETE", pit.api.close_path, json=pit.api.close_body(pit.id))
        except ProviderError as exc:
            log.warning("Could not release an Elasticsearch point in time (%s)", exc.message)
            return
        if response.status_code >= 400:
            log.warning(
                "Could not release an Elasticsearch point in time (HTTP %s: %s)",
                response.status_code,
                self.api.error_text(response),
            )

    def _body(self, query: Query, size: int, tiebreaker: str, after: list[Any] | None) -> dict[str, Any]:
        config = self.config
        token_field: dict[str, Any] = (
            {"match_phrase": {MARKER_NAME: query.token}}
            if query.token
            else {"exists": {"field": MARKER_NAME}}
        )
        filters: list[dict[str, Any]] = [
            {
                "bool": {
                    "should": [{"match_phrase": {config.message_field: query.phrase}}, token_field],
                    "minimum_should_match": 1,
                }
            },
            {
                "range": {
                    config.timestamp_field: {
                        "gte": epoch_ms(query.start),
                        "lt": epoch_ms(query.end, ceil=True),
                        "format": "epoch_millis",
                    }
                }
            },
        ]
        if query.errors_only:
            filters.append({"terms": {config.error_field: _case_variants(config.error_values)}})
        body: dict[str, Any] = {
            "size": size,
            "query": {"bool": {"filter": filters}},
            "sort": [
                {config.timestamp_field: {"order": "asc", "unmapped_type": "date"}},
                {tiebreaker: "asc"},
            ],
            "track_total_hits": False,
        }
        if after is not None:
            body["search_after"] = after
        return body

    async def _search_page(self, body: dict[str, Any], pit: _Pit | None) -> list[dict[str, Any]]:
        """One page of hits; under a PIT, keep the id the cluster hands back."""
        if pit is not None:
            body = {**body, "pit": {"id": pit.id, "keep_alive": KEEP_ALIVE}}
        path = "/_search" if pit is not None else f"/{self.config.index_path()}/_search"
        response = await self._request("POST", path, json=body)
        if response.status_code != 200:
            self._raise_for(response, "search")
        payload = as_dict(self.api.json(response))
        hits = as_dict(payload.get("hits")).get("hits")
        if not isinstance(hits, list) or not all(isinstance(hit, dict) for hit in hits):
            raise _malformed("a search answer without a list of hits")
        shards = as_dict(payload.get("_shards"))
        if shards.get("failed"):
            failure = as_dict(next(iter(shards.get("failures") or []), None))
            reason = self.api.scrub(str(as_dict(failure.get("reason")).get("reason") or "unknown reason"))
            raise ProviderError(
                f"Elasticsearch could not search index {failure.get('index') or '?'} ({reason[:200]}); "
                "check timestamp_field or narrow indexes.",
                field="indexes",
            )
        if pit is not None and isinstance(payload.get("pit_id"), str):
            pit.id = payload["pit_id"]
        return hits

    def _raise_for(self, response: httpx.Response, action: str) -> NoReturn:
        """Map an error answer onto a typed error naming the setting to fix."""
        status = response.status_code
        text = self.api.error_text(response)
        config = self.config
        if status == 401:
            words, field = config.auth_fields()
            raise AuthError(f"Elasticsearch refused the credentials ({text}); check {words}.", field=field)
        if status == 403:
            raise ProviderPermissionError(
                f"Elasticsearch did not allow us to {action} ({text}); give the API key or user the read "
                f"privilege on {config.indexes!r}, or change indexes.",
                field="indexes",
            )
        if _error_type(response) == "index_not_found_exception":
            raise NotFound(
                f"Elasticsearch has no index {config.indexes!r} ({text}); check indexes.", field="indexes"
            )
        if status == 404:
            raise NotFound(
                f"Elasticsearch answered 404 when asked to {action} ({text}); check host.", field="host"
            )
        if status == 400:
            suspect = next(
                (
                    name
                    for name in ("timestamp_field", "error_field", "message_field")
                    if getattr(config, name) in text
                ),
                None,
            )
            raise ProviderError(
                f"Elasticsearch rejected the request to {action} ({text}); check "
                f"{suspect or 'message_field, timestamp_field and error_field'}.",
                field=suspect,
            )
        raise ProviderError(f"Elasticsearch answered HTTP {status} when asked to {action}: {text}.")

    # ------------------------------------------------------------------ records

    def _record(self, hit: dict[str, Any], query: Query) -> Record | None:
        """A hit as a :class:`Record`; None when the exact marker or window check fails."""
        index, doc_id = hit.get("_index"), hit.get("_id")
        if not isinstance(index, str) or not isinstance(doc_id, str):
            raise _malformed("a hit without _index or _id")
        source = as_dict(hit.get("_source"))
        config = self.config
        sort = hit.get("sort")
        timestamp = parse_time(get_path(source, config.timestamp_field), epochs=True) or parse_time(
            sort[0] if isinstance(sort, list) and sort else None, epochs=True
        )
        if timestamp is None:
            raise _malformed(f"a hit without a usable {config.timestamp_field!r}")
        message = joined_text(get_path(source, config.message_field))
        if not (query.start <= timestamp < query.end and self._has_marker(source, message, query.token)):
            return None
        exception_type, title = _exception(source, message)
        attributes = without_path(source, config.message_field)
        return Record(
            provider_id=f"{index}/{doc_id}",
            timestamp=timestamp,
            message=message,
            level=self._level(source),
            title=title,
            service=_first_text(source, _SERVICE_FIELDS),
            host=_first_text(source, _HOST_FIELDS),
            logger=_first_text(source, _LOGGER_FIELDS),
            attributes=attributes,
            link=self._link(index, doc_id, timestamp),
            exception_type=exception_type,
        )

    @staticmethod
    def _has_marker(source: dict[str, Any], message: str, token: str | None) -> bool:
        """The exact, case-sensitive marker in the message, or the token as a field."""
        field = source.get(MARKER_NAME)
        if token is None:
            return MARKER_PREFIX in message or field is not None
        return (
            field == token
            or re.search(re.escape(MARKER_PREFIX + token) + r"(?![0-9A-Za-z]|\.[0-9A-Za-z])", message)
            is not None
        )

    def _level(self, source: dict[str, Any]) -> str:
        """A level field when present, else "error" when the error filter matches, else "info"."""
        for name in _LEVEL_FIELDS:
            level = normalize_level(joined_text(get_path(source, name)), default="")
            if level:
                return level
        value = get_path(source, self.config.error_field)
        values = value if isinstance(value, list) else [value]
        wanted = {item.lower() for item in self.config.error_values}
        return "error" if any(str(item).lower() in wanted for item in values if item is not None) else "info"

    def _link(self, index: str, doc_id: str, timestamp: datetime) -> str | None:
        """Kibana Discover filtered to this one document, a minute either side of it."""
        if not self.config.kibana_url:
            return None
        window = [
            (timestamp + timedelta(minutes=delta)).isoformat().replace("+00:00", "Z") for delta in (-1, 1)
        ]
        kql = f"_index:{_kql_string(index)} and _id:{_kql_string(doc_id)}"
        state = f"(time:(from:'{window[0]}',to:'{window[1]}'))"
        app = f"(query:(language:kuery,query:{_rison_string(kql)}))"
        safe = "():,'!*"
        return (
            f"{self.config.kibana_url}/app/discover#/?_g={quote(state, safe=safe)}&_a={quote(app, safe=safe)}"
        )


# --------------------------------------------------------------------------- helpers


def get_path(source: Any, path: str) -> Any:
    """``source[path]`` for a dotted name, flat (``{"log.level": ..}``), nested or mixed."""
    if not isinstance(source, dict):
        return None
    if path in source:
        return source[path]
    head, dot, rest = path.partition(".")
    while dot:
        if head in source:
            found = get_path(source[head], rest)
            if found is not None:
                return found
        step, dot, rest = rest.partition(".")
        head = f"{head}.{step}"
    return None


def without_path(source: dict[str, Any], path: str) -> dict[str, Any]:
    """A copy of ``source`` without the (dotted) ``path``; untouched branches are shared."""
    if path in source:
        return {key: value for key, value in source.items() if key != path}
    head, dot, rest = path.partition(".")
    while dot:
        if isinstance(source.get(head), dict) and get_path(source[head], rest) is not None:
            return {**source, head: without_path(source[head], rest)}
        step, dot, rest = rest.partition(".")
        head = f"{head}.{step}"
    return dict(source)


def _exception(source: dict[str, Any], message: str) -> tuple[str | None, str]:
    """(exception type, "Type: value" title) from ECS ``error.*`` or a traceback's exception line."""
    kind = _first_text(source, ("error.type",))
    if kind:
        detail = _first_text(source, ("error.message",))
        return kind, f"{kind}: {detail}" if detail else kind
    parsed = parse_exception(message)
    return (parsed.type, parsed.title) if parsed else (None, "")


def _sort_values(hit: dict[str, Any]) -> list[Any]:
    values = hit.get("sort")
    if not isinstance(values, list) or not values:
        raise _malformed("a hit without sort values")
    return values


def _error_type(response: httpx.Response) -> str | None:
    try:
        error = as_dict(as_dict(response.json()).get("error"))
    except ValueError:
        return None
    kind = error.get("type") or as_dict(next(iter(error.get("root_cause") or []), None)).get("type")
    return kind if isinstance(kind, str) else None


def _tls_error(exc: BaseException) -> ssl.SSLError | None:
    """The ``ssl`` error behind a connection failure, if there is one."""
    seen: set[int] = set()
    pending: list[BaseException | None] = [exc]
    while pending:
        current = pending.pop()
        if current is None or id(current) in seen:
            continue
        if isinstance(current, ssl.SSLError):
            return current
        seen.add(id(current))
        pending += [current.__cause__, current.__context__]
    return None


def _malformed(what: str) -> ProviderError:
    return ProviderError(f"Elasticsearch sent {what}; check host points at Elasticsearch or OpenSearch.")


def _first_text(source: dict[str, Any], names: tuple[str, ...]) -> str | None:
    for name in names:
        value = get_path(source, name)
        if isinstance(value, str) and value:
            return value
    return None


def _case_variants(values: list[str]) -> list[str]:
    """Each value as written, lower, UPPER and Capitalised: ``keyword`` fields match exactly."""
    variants = (str, str.lower, str.upper, str.capitalize)
    return list(dict.fromkeys(variant(value) for value in values for variant in variants))


def _kql_string(value: str) -> str:
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _rison_string(value: str) -> str:
    return "'" + value.replace("!", "!!").replace("'", "!'") + "'"
