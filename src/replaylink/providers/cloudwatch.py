"""AWS CloudWatch Logs: log events carrying ``openReplaySessionToken``, read with boto3.

A search runs ``FilterLogEvents`` on each configured log group with ONE quoted phrase (see
:func:`filter_pattern`), pages with ``nextToken`` through empty pages, then checks on the client
what the phrase cannot say: the exact marker or JSON attribute (:func:`carries_token`), the
window's exclusive end and, for ``errors_only``, the level. boto3 is synchronous: every call runs
in a worker thread, on one client per provider (boto3 clients are thread-safe).
"""

from __future__ import annotations

import asyncio
import functools
import json
import logging
import re
import threading
from collections.abc import AsyncIterator, Callable, Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any, ClassVar, TypeVar
from urllib.parse import quote, urlsplit

import boto3
from botocore.config import Config
from botocore.exceptions import (
    BotoCoreError,
    ClientError,
    ConnectTimeoutError,
    HTTPClientError,
    ReadTimeoutError,
)
from botocore.exceptions import ConnectionError as BotoConnectionError
from pydantic import Field, JsonValue, SecretStr, field_validator

from replaylink.providers.base import (
    MARKER_NAME,
    MARKER_PREFIX,
    MAX_CHOICES,
    AddressGuard,
    AuthError,
    NotFound,
    Provider,
    ProviderError,
    ProviderOptions,
    ProviderPermissionError,
    ProviderSettings,
    Query,
    RateLimited,
    Record,
    Unreachable,
    address_field,
    bound_record,
    normalize_level,
    redact,
    secret_field,
)
from replaylink.providers.coerce import EPOCH, epoch_ms
from replaylink.providers.tracebacks import parse_exception

if TYPE_CHECKING:
    from mypy_boto3_logs import CloudWatchLogsClient

T = TypeVar("T")

LABEL = "AWS CloudWatch Logs"
MAX_FILTER_PAGE = 10_000
"""FilterLogEvents' largest ``limit``."""
MAX_DESCRIBE_PAGE = 50
"""DescribeLogGroups' largest ``limit``."""
THROTTLE_RETRY_AFTER = 5.0
"""Seconds to wait after botocore's own retries gave up on a throttled call."""
MAX_JSON_CHARS = 256 * 1024
"""A message longer than this is not parsed as JSON (CloudWatch events are at most 1 MiB)."""
MAX_JSON_DEPTH = 32
MAX_TIMESTAMP_MS = 253_402_300_800_000
"""Year 10000: a later event timestamp is malformed (and would overflow datetime)."""
DEFAULT_ERROR_WORDS = ("error", "exception", "fatal", "critical", "traceback")
ERROR_LEVELS = ("error", "critical")
LEVEL_KEYS = ("level", "levelname", "severity", "log.level")
TITLE_KEYS = ("message", "msg")
LOGGER_KEYS = ("logger", "logger_name")
LOG_GROUP = re.compile(r"[.\-_/#A-Za-z0-9]{1,512}")
"""CloudWatch's log group name alphabet and length."""
TOKEN_PHRASE = re.compile(r"[0-9A-Za-z._-]{1,200}")
"""Tokens that can go inside a quoted filter phrase as they are (ReplayLink's use ``[0-9A-Za-z.]``)."""
CONSOLE_HOSTS = {
    "aws": "{region}.console.aws.amazon.com",
    "aws-cn": "{region}.console.amazonaws.cn",
    "aws-us-gov": "{region}.console.amazonaws-us-gov.com",
}
"""Console host per AWS partition; the isolated partitions have no public console."""

AUTH_FIELDS = {
    "UnrecognizedClientException": "aws_access_key_id",
    "InvalidClientTokenId": "aws_access_key_id",
    "InvalidAccessKeyId": "aws_access_key_id",
    "MissingAuthenticationToken": "aws_access_key_id",
    "InvalidSignatureException": "aws_secret_access_key",
    "SignatureDoesNotMatch": "aws_secret_access_key",
    "IncompleteSignature": "aws_secret_access_key",
    "ExpiredToken": "aws_session_token",
    "ExpiredTokenException": "aws_session_token",
}
"""Error codes meaning the credentials were refused, and the settings field to fix."""
DENIED_CODES = ("AccessDenied", "AccessDeniedException")
THROTTLE_CODES = ("ThrottlingException", "Throttling", "TooManyRequestsException", "RequestLimitExceeded")
_XML_CODE = re.compile(r"<Code>([^<]{1,100})</Code>")
_XML_MESSAGE = re.compile(r"<Message>([^<]{1,500})</Message>")


_BOTOCORE_LOG = logging.getLogger("botocore")
_BOTOCORE_LOG.setLevel(max(logging.INFO, _BOTOCORE_LOG.getEffectiveLevel()))
"""botocore's DEBUG lines print signed request headers, session token included: never emit them."""

_SESSION = boto3.session.Session()
"""Shared by every provider so botocore parses the service model once (clients take their own
credentials); sessions are not thread-safe, hence the lock around client creation."""
_SESSION_LOCK = threading.Lock()


def _logs_regions() -> dict[str, str]:
    """Every region botocore knows for CloudWatch Logs, mapped to its partition."""
    return {
        region: partition
        for partition in _SESSION.get_available_partitions()
        for region in _SESSION.get_available_regions("logs", partition_name=partition)
    }


REGIONS = _logs_regions()
REGION_CHOICES: list[JsonValue] = [region for region in sorted(REGIONS)]


# --------------------------------------------------------------------------- query helpers


def filter_pattern(token: str | None) -> str:
    """The ``filterPattern`` for a search: one quoted phrase that both log forms contain.

    A wanted token is searched as itself (``"<token>"``): it occurs in the text marker
    ``openReplaySessionToken=<token>`` and in a JSON attribute ``"openReplaySessionToken": "<token>"``
    at any depth and with any spacing. Any token (or one that cannot be quoted safely) is searched
    as the name ``"openReplaySessionToken"``, also common to both forms. One phrase means one call
    per page instead of an ``?A ?B`` OR (which CloudWatch cannot mix with a JSON ``{ $.x = ... }``
    pattern anyway), and moto evaluates it exactly. :func:`carries_token` then drops the lines that
    only mention the phrase.
    """
    phrase = token if token is not None and TOKEN_PHRASE.fullmatch(token) else MARKER_NAME
    return f'"{phrase}"'


def parse_json_message(message: str) -> dict[str, Any]:
    """The fields of a JSON-object log line (bounded), else an empty dict."""
    text = message.strip()
    if not text.startswith("{") or len(text) > MAX_JSON_CHARS:
        return {}
    try:
        value = json.loads(text)
    except (ValueError, RecursionError):
        return {}
    return value if isinstance(value, dict) else {}


def _marker_values(attributes: dict[str, Any]) -> Iterator[Any]:
    """Values of every ``openReplaySessionToken`` key in ``attributes``, at any depth (bounded)."""
    stack: list[tuple[Any, int]] = [(attributes, 0)]
    while stack:
        node, depth = stack.pop()
        if depth > MAX_JSON_DEPTH:
            continue
        children = node.values() if isinstance(node, dict) else node if isinstance(node, list) else ()
        if isinstance(node, dict) and MARKER_NAME in node:
            yield node[MARKER_NAME]
        stack.extend((child, depth + 1) for child in children if isinstance(child, dict | list))


def carries_token(message: str, attributes: dict[str, Any], token: str | None) -> bool:
    """Whether a line carries ``token`` (any token when None) as text marker or JSON attribute."""
    if token is None:
        return MARKER_PREFIX in message or any(
            isinstance(value, str) and value for value in _marker_values(attributes)
        )
    marker = re.compile(re.escape(MARKER_PREFIX + token) + r"(?![0-9A-Za-z.])")
    return bool(marker.search(message)) or any(value == token for value in _marker_values(attributes))


def compile_error_pattern(words: list[str]) -> re.Pattern[str]:
    """``\\b(?:word1|word2|...)\\b``, case-insensitive; each word is matched literally."""
    return re.compile(r"\b(?:" + "|".join(re.escape(word) for word in words) + r")\b", re.IGNORECASE)


def console_link(region: str, group: str, stream: str, timestamp_ms: int, event_id: str) -> str | None:
    """Deep link to one event in the CloudWatch console, in the console's ``$25``-style encoding
    (each path part URL-encoded twice, then ``%`` written as ``$``)."""
    host = CONSOLE_HOSTS.get(REGIONS.get(region, ""))
    if host is None:
        return None

    def part(value: str) -> str:
        return quote(quote(value, safe=""), safe="").replace("%", "$")

    return (
        f"https://{host.format(region=region)}/cloudwatch/home?region={region}"
        f"#logsV2:log-groups/log-group/{part(group)}/log-events/{part(stream)}"
        f"$3Fstart$3D{timestamp_ms}$26refEventId$3D{part(event_id)}"
    )


# --------------------------------------------------------------------------- settings


def _as_list(value: Any) -> Any:
    """Accept ``"a, b"`` as ``["a", "b"]`` (a form may send one string)."""
    return [item for item in value.split(",") if item.strip()] if isinstance(value, str) else value


class CloudWatchSettings(ProviderSettings):
    aws_access_key_id: str = Field(
        title="Access key ID",
        description="Of an IAM user with the CloudWatchReadOnlyAccess policy.",
        min_length=1,
        max_length=128,
        pattern=r"^[A-Za-z0-9]+$",
    )
    aws_secret_access_key: SecretStr = secret_field("Secret access key", min_length=1, max_length=256)
    aws_session_token: SecretStr | None = secret_field(
        "Session token", "Only for temporary (STS) credentials.", default=None, max_length=4096
    )
    region: str = address_field(
        "Region",
        "The AWS region of your log groups, e.g. us-east-1.",
        json_schema_extra={"enum": REGION_CHOICES},
    )
    log_group_names: list[str] = Field(
        title="Log groups", description="One or more log group names.", min_length=1, max_length=50
    )
    endpoint_url: str | None = address_field(
        "Endpoint URL",
        "Where requests go instead of the region's public endpoint (VPC endpoint, test server).",
        url=True,
        default=None,
    )
    error_pattern: list[str] = Field(
        list(DEFAULT_ERROR_WORDS),
        title="Error words",
        description=(
            "A plain-text line is an error when it contains one of these whole words (any case; "
            "compiled to \\b(?:word|...)\\b with re.IGNORECASE) or starts an exception line such as "
            "'ValueError: ...'. A JSON line's own level field wins."
        ),
        min_length=1,
        max_length=32,
    )

    _split_lists = field_validator("log_group_names", "error_pattern", mode="before")(_as_list)

    @field_validator("region")
    @classmethod
    def _region(cls, value: str) -> str:
        if value not in REGIONS:
            raise ValueError("is not an AWS region CloudWatch Logs runs in; pick one from the list")
        return value

    @field_validator("log_group_names")
    @classmethod
    def _log_groups(cls, value: list[str]) -> list[str]:
        names = [name.strip() for name in value]
        for name in names:
            if not LOG_GROUP.fullmatch(name):
                raise ValueError(
                    f"{name[:100]!r} is not a log group name (letters, digits, . - _ / #; 1 to 512)"
                )
        return list(dict.fromkeys(names))

    @field_validator("endpoint_url")
    @classmethod
    def _endpoint(cls, value: str | None) -> str | None:
        if not value:
            return None
        parts = urlsplit(value)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError("must be an http:// or https:// URL")
        return value.rstrip("/")

    @field_validator("error_pattern")
    @classmethod
    def _error_words(cls, value: list[str]) -> list[str]:
        words = [word.strip() for word in value]
        if any(not word or len(word) > 64 for word in words):
            raise ValueError("each error word must have 1 to 64 characters")
        return words  # matched literally (re.escape), so the pattern always compiles


# --------------------------------------------------------------------------- provider


@dataclass(frozen=True, slots=True)
class CloudWatchOptions(ProviderOptions):
    """The shared knobs plus the address guard boto3 needs (it takes no httpx transport)."""

    address_guard: AddressGuard | None = None
    """Checks where ``endpoint_url`` resolves to before each call."""


class CloudWatchProvider(Provider):
    name = "cloudwatch"
    label = LABEL
    Settings = CloudWatchSettings
    Options = CloudWatchOptions
    choice_fields: ClassVar[Mapping[str, object]] = {"log_group_names": ["picking"]}
    settings: CloudWatchSettings
    options: CloudWatchOptions

    def __init__(self, settings: ProviderSettings, options: ProviderOptions | None = None) -> None:
        super().__init__(settings, options)
        self._errors = compile_error_pattern(self.settings.error_pattern)
        self._secrets = [*self.settings.secret_values(), self.settings.aws_access_key_id]
        self._client: CloudWatchLogsClient | None = None
        self._client_lock = asyncio.Lock()

    async def client(self) -> CloudWatchLogsClient:
        """The boto3 ``logs`` client, built on first use in a worker thread (~0.1 s of model loading)."""
        async with self._client_lock:
            if self._client is None:
                self._client = await asyncio.to_thread(self._build_client)
            return self._client

    def _build_client(self) -> CloudWatchLogsClient:
        token = self.settings.aws_session_token
        config = Config(
            retries={"mode": "adaptive", "max_attempts": self.options.max_retries},  # retries, not total
            connect_timeout=self.options.request_timeout,
            read_timeout=self.options.request_timeout,
        )
        with _SESSION_LOCK:
            return _SESSION.client(
                "logs",
                region_name=self.settings.region,
                endpoint_url=self.settings.endpoint_url,
                aws_access_key_id=self.settings.aws_access_key_id,
                aws_secret_access_key=self.settings.aws_secret_access_key.get_secret_value(),
                aws_session_token=token.get_secret_value() if token else None,
                config=config,
            )

    async def aclose(self) -> None:
        if self._client is not None:
            self._client.close()
            self._client = None

    # ----------------------------------------------------------------- calls

    async def _call(self, method: Callable[..., T], /, group: str | None = None, **params: Any) -> T:
        """Run one boto3 call off the event loop and turn its failures into ProviderErrors."""
        await self._guard_endpoint()
        try:
            return await asyncio.to_thread(functools.partial(method, **params))
        except ClientError as exc:
            raise self._client_error(exc, group) from None
        except (BotoConnectionError, HTTPClientError) as exc:
            raise self._unreachable(exc) from None
        except BotoCoreError as exc:
            reason = redact(str(exc), self._secrets)[:300]
            raise ProviderError(f"{LABEL} request failed ({reason}).") from None

    async def _guard_endpoint(self) -> None:
        """Check the address endpoint_url resolves to now (boto3 has no transport hook for it)."""
        guard, url = self.options.address_guard, self.settings.endpoint_url
        if guard is None or not url:
            return
        parts = urlsplit(url)
        port = parts.port or (443 if parts.scheme == "https" else 80)
        try:
            await asyncio.to_thread(guard, parts.hostname or "", port)
        except (ValueError, OSError) as exc:
            raise Unreachable(
                f"Refusing to connect: {exc}; check endpoint_url.", field="endpoint_url"
            ) from None

    def _where(self) -> tuple[str, str]:
        """Where requests go, for messages: the endpoint URL when set, else the region."""
        if self.settings.endpoint_url:
            return f"at {self.settings.endpoint_url}", "endpoint_url"
        return f"in region {self.settings.region}", "region"

    def _unreachable(self, exc: BotoCoreError) -> Unreachable:
        where, field = self._where()
        if isinstance(exc, ConnectTimeoutError | ReadTimeoutError):
            message = (
                f"{LABEL} {where} did not answer within {self.options.request_timeout:g} s; "
                f"check {field} and the network, or try again later."
            )
        else:
            reason = redact(str(exc), self._secrets)[:200]
            message = f"Could not connect to {LABEL} {where} ({reason}); check {field} and the network."
        return Unreachable(message, field=field)

    def _client_error(self, exc: ClientError, group: str | None) -> ProviderError:
        error = exc.response.get("Error", {})
        code, text = str(error.get("Code", "")), str(error.get("Message", ""))
        if not code or code.isdigit():  # an XML error body where JSON was expected
            code = _first(_XML_CODE, text) or code
            text = _first(_XML_MESSAGE, text) or text
        text = redact(" ".join(text.split()), self._secrets)[:300]
        status = exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode")
        if code in AUTH_FIELDS:
            field = AUTH_FIELDS[code]
            return AuthError(f"{LABEL} refused the credentials ({text}); check {field}.", field=field)
        if code in DENIED_CODES or status == 403:
            return ProviderPermissionError(
                f"The access key may not read CloudWatch Logs ({text}); give its IAM user the "
                "CloudWatchReadOnlyAccess policy or fix aws_access_key_id.",
                field="aws_access_key_id",
            )
        if code == "ResourceNotFoundException":
            name = f"Log group {group!r}" if group else "A log group"
            return NotFound(
                f"{name} does not exist in {self.settings.region}; check log_group_names.",
                field="log_group_names",
            )
        if code in THROTTLE_CODES or status == 429:
            return RateLimited(
                f"{LABEL} is throttling requests; ReplayLink will retry in {THROTTLE_RETRY_AFTER:.0f} s.",
                retry_after=THROTTLE_RETRY_AFTER,
            )
        return ProviderError(f"{LABEL} answered {code or status}: {text}")

    # ----------------------------------------------------------------- API

    async def check(self) -> None:
        """Valid credentials, every configured log group exists, and its events may be read."""
        client = await self.client()
        now = datetime.now(UTC)
        for group in self.settings.log_group_names:
            if group not in await self.list_log_groups(prefix=group, limit=MAX_DESCRIBE_PAGE):
                raise NotFound(
                    f"Log group {group!r} does not exist in {self.settings.region}; check log_group_names.",
                    field="log_group_names",
                )
            await self._call(
                client.filter_log_events,
                group=group,
                logGroupName=group,
                startTime=epoch_ms(now - timedelta(minutes=1)),
                endTime=epoch_ms(now),
                limit=1,
            )

    async def choices(self, field: str, prefix: str = "") -> list[str]:
        """``log_group_names``: the log groups these credentials see in the region."""
        if field != "log_group_names":
            return await super().choices(field, prefix)
        return await self.list_log_groups(prefix or None, limit=MAX_CHOICES)

    async def list_log_groups(self, prefix: str | None = None, limit: int = 500) -> list[str]:
        """Log group names (optionally starting with ``prefix``), at most ``limit``, for pickers."""
        names: list[str] = []
        if limit < 1:
            return names
        client = await self.client()
        params: dict[str, Any] = {"limit": min(MAX_DESCRIBE_PAGE, limit)}
        if prefix:
            params["logGroupNamePrefix"] = prefix
        async for page in self._pages(client.describe_log_groups, None, params):
            groups = page.get("logGroups")
            for group in groups if isinstance(groups, list) else []:
                name = group.get("logGroupName") if isinstance(group, dict) else None
                if isinstance(name, str):
                    names.append(name)
            if len(names) >= limit:
                break
        return names[:limit]

    async def search(self, query: Query) -> AsyncIterator[Record]:
        start_ms, end_ms = epoch_ms(query.start), epoch_ms(query.end, ceil=True) - 1
        if end_ms < start_ms or query.limit == 0:
            return
        client = await self.client()
        count = 0
        for group in self.settings.log_group_names:
            params = {
                "logGroupName": group,
                "filterPattern": filter_pattern(query.token),
                "startTime": start_ms,
                "endTime": end_ms,  # CloudWatch's end is inclusive; the exact end is checked below
                "limit": min(query.page_size, MAX_FILTER_PAGE),
            }
            async for page in self._pages(client.filter_log_events, group, params):
                events = page.get("events")
                for event in events if isinstance(events, list) else []:
                    record = self._record(group, event)
                    if not self._wanted(record, query):
                        continue
                    yield bound_record(record, self.options.limits)
                    count += 1
                    if query.limit is not None and count >= query.limit:
                        return

    async def _pages(
        self, method: Callable[..., Any], group: str | None, params: dict[str, Any]
    ) -> AsyncIterator[dict[str, Any]]:
        """Every page of a ``nextToken``-paged call, empty ones included; stops on a token seen before."""
        seen: set[str] = set()
        while True:
            page = await self._call(method, group=group, **params)
            if not isinstance(page, dict):
                raise ProviderError(f"{LABEL} sent a response that is not an object.")
            yield page
            token = page.get("nextToken")
            if not token:
                return
            if not isinstance(token, str) or token in seen:
                raise ProviderError(
                    f"{LABEL} sent the same page token twice; stopped paging to avoid an endless loop."
                )
            seen.add(token)
            params = {**params, "nextToken": token}

    # ----------------------------------------------------------------- records

    def _record(self, group: str, event: Any) -> Record:
        """One filtered log event as a Record; ProviderError when a required field is missing."""
        if not isinstance(event, dict):
            raise ProviderError(f"{LABEL} sent a log event that is not an object.")
        event_id, timestamp = event.get("eventId"), event.get("timestamp")
        message, stream = event.get("message", ""), event.get("logStreamName")
        if (
            not isinstance(event_id, str)
            or not event_id
            or not isinstance(timestamp, int)
            or not 0 <= timestamp < MAX_TIMESTAMP_MS
            or not isinstance(message, str)
        ):
            raise ProviderError(f"{LABEL} sent a log event without eventId, timestamp or message.")
        stream = stream if isinstance(stream, str) else None
        attributes = parse_json_message(message)
        text = "\n".join(value for value in attributes.values() if isinstance(value, str)) or message
        exception = parse_exception(text)
        level = normalize_level(_first_str(attributes, LEVEL_KEYS), default="")
        if not level:
            level = "error" if exception or self._errors.search(text) else "info"
        return Record(
            provider_id=event_id,
            timestamp=EPOCH + timedelta(milliseconds=timestamp),
            message=message,
            level=level,
            title=exception.title if exception else _first_str(attributes, TITLE_KEYS) or "",
            service=group,
            host=stream,
            logger=_first_str(attributes, LOGGER_KEYS),
            attributes=attributes,
            link=console_link(self.settings.region, group, stream, timestamp, event_id) if stream else None,
            exception_type=exception.type if exception else None,
        )

    @staticmethod
    def _wanted(record: Record, query: Query) -> bool:
        return (
            query.start <= record.timestamp < query.end
            and (not query.errors_only or record.level in ERROR_LEVELS)
            and carries_token(record.message, record.attributes, query.token)
        )


def _first(pattern: re.Pattern[str], text: str) -> str | None:
    match = pattern.search(text)
    return match.group(1) if match else None


def _first_str(attributes: dict[str, Any], keys: tuple[str, ...]) -> str | None:
    for key in keys:
        value = attributes.get(key)
        if isinstance(value, str) and value:
            return value
    return None
