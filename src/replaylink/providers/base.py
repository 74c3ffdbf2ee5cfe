"""The provider protocol: settings, queries, records, typed errors.

Every provider module (one per log provider) exposes one class that follows
:class:`Provider`. The importer and the on-demand path call only what is here.
"""

from __future__ import annotations

import html
import json
import logging
import math
import re
import urllib.parse
from abc import ABC, abstractmethod
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field, fields
from datetime import UTC, datetime
from typing import Any, ClassVar, TypeVar

import httpx
from pydantic import BaseModel, ConfigDict, Field, SecretStr

from replaylink.providers.coerce import epoch_ms

log = logging.getLogger("replaylink.providers")
T = TypeVar("T")
R = TypeVar("R")

MARKER_NAME = "openReplaySessionToken"
"""The seeds' tag / attribute name, case-sensitive."""

MARKER_PREFIX = MARKER_NAME + "="
"""What the seeds' snippet writes in front of the token: ``openReplaySessionToken=<token>``."""


# --------------------------------------------------------------------------- errors


class ProviderError(Exception):
    """A provider call failed. ``str(err)`` is one sentence for the user, never a secret.

    Subclasses say why; ``field`` names the settings field the user should fix, if any.
    """

    def __init__(self, message: str, *, field: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.field = field

    @property
    def kind(self) -> str:
        """Stable machine-readable name of the failure (``auth``, ``rate_limited``...)."""
        return _KINDS.get(type(self), "provider_error")

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.message!r}, field={self.field!r})"


class AuthError(ProviderError):
    """The credentials were refused."""


class ProviderPermissionError(ProviderError):
    """The credentials are valid but may not read what ReplayLink needs."""


class NotFound(ProviderError):
    """An organization, project, log group or index does not exist."""


class Unreachable(ProviderError):
    """DNS, TLS, connection refused, or a timeout."""


MAX_RETRY_AFTER = 86_400.0
"""The longest wait a provider's rate limit may ask for; a larger one (or one that is not a
number) counts as this, and the importer waits at most its own backoff cap anyway."""


def bounded_wait(seconds: float) -> float:
    """A provider's requested wait, within ``[0, MAX_RETRY_AFTER]``."""
    return min(MAX_RETRY_AFTER, max(0.0, seconds)) if math.isfinite(seconds) else MAX_RETRY_AFTER


class RateLimited(ProviderError):
    """The provider asked us to slow down for longer than we are willing to wait inline."""

    def __init__(self, message: str, *, retry_after: float, field: str | None = None) -> None:
        super().__init__(message, field=field)
        self.retry_after = bounded_wait(float(retry_after))


def well_formed(items: Sequence[T], build: Callable[[T], R]) -> list[R]:
    """``build`` of each item, skipping those it refuses as malformed (``ProviderError``): one bad
    record must not stop its integration's polls for good. When it refuses every item, the answer
    is not the provider's (a wrong base URL, say), and its first refusal is raised."""
    built: list[R] = []
    refused: ProviderError | None = None
    for item in items:
        try:
            built.append(build(item))
        except ProviderError as exc:
            refused = refused or exc
    if refused is not None:
        if not built:
            raise refused
        log.warning("skipped %d malformed records of a page: %s", len(items) - len(built), refused.message)
    return built


_KINDS: dict[type[ProviderError], str] = {
    ProviderError: "provider_error",
    AuthError: "auth",
    ProviderPermissionError: "permission",
    NotFound: "not_found",
    Unreachable: "unreachable",
    RateLimited: "rate_limited",
}


PYDANTIC_PREFIXES = ("Value error, ", "Assertion failed, ")
"""What pydantic puts before the message of a validator's ValueError / AssertionError: the
message is ReplayLink's own, so answers give it without pydantic's wording."""


def validation_message(error: Mapping[str, Any]) -> str:
    """A pydantic error's message, without pydantic's prefix."""
    message = str(error.get("msg", "invalid"))
    for prefix in PYDANTIC_PREFIXES:
        if message.startswith(prefix):
            return message[len(prefix) :] or "invalid"
    return message


def redact(text: str, secrets: list[str]) -> str:
    """Replace every occurrence of any (non-trivial) secret in ``text``, as it is and as a provider
    or proxy echoing it would write it (JSON-escaped, URL-encoded, HTML-escaped)."""
    for secret in secrets:
        if secret and len(secret) >= 4:
            for spelling in _spellings(secret):
                text = text.replace(spelling, "********")
    return text


def _spellings(secret: str) -> list[str]:
    """``secret`` and its escaped forms, longest first (a form containing another goes first)."""
    forms = {
        secret,
        json.dumps(secret)[1:-1],
        json.dumps(secret, ensure_ascii=False)[1:-1],
        urllib.parse.quote(secret, safe=""),
        urllib.parse.quote_plus(secret),
        html.escape(secret),
    }
    return sorted(forms, key=len, reverse=True)


# --------------------------------------------------------------------------- settings


def secret_field(title: str, description: str | None = None, **kwargs: Any) -> Any:
    """A ``SecretStr`` settings field, flagged ``"secret": true`` in the JSON schema."""
    return Field(
        title=title,
        description=description,
        json_schema_extra={"secret": True},
        **kwargs,
    )


def address_field(title: str, description: str | None = None, *, url: bool = False, **kwargs: Any) -> Any:
    """A settings field that says where ReplayLink connects with the integration's credentials.

    Flagged ``"address": true`` in the JSON schema (the outbound guard checks it; stored secrets
    never follow a change of it); ``url=True`` also flags ``"format": "uri"`` (a full URL).
    """
    extra: dict[str, Any] = {"address": True, **kwargs.pop("json_schema_extra", {})}
    if url:
        extra["format"] = "uri"
    return Field(title=title, description=description, json_schema_extra=extra, **kwargs)


def url_field(title: str, description: str | None = None, **kwargs: Any) -> Any:
    """A URL that ReplayLink only shows (links), never connects to: ``"format": "uri"``, no address flag."""
    return Field(title=title, description=description, json_schema_extra={"format": "uri"}, **kwargs)


class ProviderSettings(BaseModel):
    """Base of every provider's ``Settings`` model: strict, bounded, secret-aware."""

    model_config = ConfigDict(
        extra="forbid", str_strip_whitespace=True, str_max_length=4096, hide_input_in_errors=True
    )

    def secret_values(self) -> list[str]:
        """Plain values of every secret field, for redaction."""
        out: list[str] = []
        for name in type(self).model_fields:
            value = getattr(self, name)
            if isinstance(value, SecretStr):
                out.append(value.get_secret_value())
        return out

    @classmethod
    def secret_field_names(cls) -> list[str]:
        """Fields flagged ``"secret": true``, in declaration order."""
        return cls._flagged("secret", True)

    @classmethod
    def address_field_names(cls) -> list[str]:
        """Fields flagged ``"address": true`` (where the credentials are sent), in declaration order."""
        return cls._flagged("address", True)

    @classmethod
    def url_field_names(cls) -> list[str]:
        """Fields whose value is a full URL (``"format": "uri"``): addresses and links alike."""
        return cls._flagged("format", "uri")

    @classmethod
    def _flagged(cls, key: str, value: object) -> list[str]:
        return [
            name
            for name, info in cls.model_fields.items()
            if isinstance(info.json_schema_extra, dict) and info.json_schema_extra.get(key) == value
        ]


# --------------------------------------------------------------------------- query / record


@dataclass(frozen=True, slots=True)
class Query:
    """What to fetch: records in ``[start, end)`` carrying ``token`` (or any token when None)."""

    start: datetime
    end: datetime
    token: str | None = None
    errors_only: bool = True
    page_size: int = 1000
    limit: int | None = None
    """Stop after this many records (on-demand caps); None pages to the end."""

    def __post_init__(self) -> None:
        if self.start.tzinfo is None or self.end.tzinfo is None:
            raise ValueError("Query.start and Query.end must be timezone-aware")
        if self.page_size < 1:
            raise ValueError("Query.page_size must be positive")

    @property
    def phrase(self) -> str:
        """The marker text to search for: ``openReplaySessionToken=<token>`` or just the prefix."""
        return MARKER_PREFIX + (self.token or "")

    @property
    def start_ms(self) -> int:
        return epoch_ms(self.start)

    @property
    def end_ms(self) -> int:
        return epoch_ms(self.end)


@dataclass(slots=True)
class StackFrame:
    filename: str | None = None
    function: str | None = None
    lineno: int | None = None
    module: str | None = None
    context: str | None = None
    in_app: bool | None = None


@dataclass(slots=True)
class Record:
    """One log line or error event, normalised across providers."""

    provider_id: str
    timestamp: datetime
    message: str
    level: str = "error"
    title: str = ""
    service: str | None = None
    host: str | None = None
    logger: str | None = None
    attributes: dict[str, Any] = field(default_factory=dict)
    link: str | None = None
    stack: list[StackFrame] | None = None
    exception_type: str | None = None


@dataclass(frozen=True, slots=True)
class Limits:
    """Size bounds applied to every record a provider produces."""

    message_bytes: int = 16 * 1024
    attributes_bytes: int = 64 * 1024
    title_chars: int = 300
    stack_frames: int = 100


def truncate_utf8(text: str, max_bytes: int) -> str:
    """Cut ``text`` to at most ``max_bytes`` of UTF-8 without splitting a character."""
    raw = text.encode("utf-8", "replace")
    if len(raw) <= max_bytes:
        return text
    return raw[: max(0, max_bytes - 3)].decode("utf-8", "ignore") + "..."


_MARKED = re.compile(re.escape(MARKER_PREFIX) + r"[0-9A-Za-z.]{1,128}")
MAX_KEPT_MARKERS = 16


def truncate_keeping_markers(text: str, max_bytes: int) -> str:
    """:func:`truncate_utf8`, followed by the ``openReplaySessionToken=...`` markers of the part
    cut off (at most ``MAX_KEPT_MARKERS``): an exception's last line, which names the token, comes
    after a long traceback, and the record must still attach."""
    cut = truncate_utf8(text, max_bytes)
    if cut is text or MARKER_PREFIX not in text:
        return cut
    kept = len(cut) - 3  # what truncate_utf8 kept of text, before its "..."
    markers = list(dict.fromkeys(_MARKED.findall(text, max(0, kept - len(MARKER_PREFIX) - 128))))
    missing = [marker for marker in markers if marker not in cut][:MAX_KEPT_MARKERS]
    return cut + "".join(f"\n{marker}" for marker in missing)


def bound_attributes(attributes: dict[str, Any], max_bytes: int) -> dict[str, Any]:
    """Keep ``attributes`` as they are when their JSON fits ``max_bytes``, else keep the
    largest prefix of keys that fits and flag the cut with ``"_truncated": true``."""
    encoded = json.dumps(attributes, default=str, ensure_ascii=False)
    if "\\u0000" in encoded or _UNSTORABLE.search(encoded):
        attributes = _storable_json(attributes)
        encoded = json.dumps(attributes, default=str, ensure_ascii=False)
    if len(encoded.encode()) <= max_bytes:
        return attributes
    out: dict[str, Any] = {"_truncated": True}
    used = 24
    # The token attribute first: a large attribute ahead of it must not cut it away.
    ordered = sorted(attributes.items(), key=lambda item: item[0] != MARKER_NAME)
    for key, value in ordered:
        piece = json.dumps({key: value}, default=str, ensure_ascii=False).encode()
        if used + len(piece) > max_bytes:
            if isinstance(value, str) and used + 64 < max_bytes:
                out[key] = truncate_utf8(value, max_bytes - used - len(key) - 16)
            break
        out[key] = value
        used += len(piece)
    return out


_UNSTORABLE = re.compile("[\x00\ud800-\udfff]")
"""NUL, which no database text column takes, and lone surrogates (JSON may escape them, as
``\\ud800``), which UTF-8 cannot encode: either one would fail the whole chunk's insert."""


def storable(text: str) -> str:
    """``text`` with NUL characters and lone surrogates replaced by U+FFFD."""
    return _UNSTORABLE.sub("\ufffd", text) if _UNSTORABLE.search(text) else text


def _storable_json(value: Any) -> Any:
    """The same JSON value with every string (keys too) :func:`storable`."""
    if isinstance(value, str):
        return storable(value)
    if isinstance(value, dict):
        return {_storable_json(k): _storable_json(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_storable_json(v) for v in value]
    return value


_TEXT_FIELDS = (
    "provider_id",
    "message",
    "level",
    "title",
    "service",
    "host",
    "logger",
    "link",
    "exception_type",
)
_FRAME_TEXT = ("filename", "function", "module", "context")


def bound_record(record: Record, limits: Limits) -> Record:
    """Complete a record and apply ``limits`` to it in place; return it.

    A traceback in the message fills the stack and exception type the provider left empty (before
    the message is cut, which could drop its last line); sizes are bounded, NUL characters and lone
    surrogates replaced (:func:`storable`).
    """
    from replaylink.providers.tracebacks import fill_exception  # imports this module

    fill_exception(record)
    for item, names in ((record, _TEXT_FIELDS), *((frame, _FRAME_TEXT) for frame in record.stack or ())):
        for name in names:
            value = getattr(item, name)
            if isinstance(value, str) and _UNSTORABLE.search(value):
                setattr(item, name, storable(value))
    record.message = truncate_keeping_markers(record.message, limits.message_bytes)
    record.title = (record.title or record.message.split("\n", 1)[0])[: limits.title_chars]
    record.attributes = bound_attributes(record.attributes, limits.attributes_bytes)
    if record.stack is not None and len(record.stack) > limits.stack_frames:
        record.stack = record.stack[-limits.stack_frames :]
    if record.timestamp.tzinfo is None:
        record.timestamp = record.timestamp.replace(tzinfo=UTC)
    else:
        record.timestamp = record.timestamp.astimezone(UTC)
    return record


def parse_tags(tags: Any) -> dict[str, str]:
    """``["env:prod", "team:a", "team:b", "bare"]`` as ``{"env": "prod", "team": "a,b", "bare": ""}``."""
    out: dict[str, str] = {}
    for tag in tags if isinstance(tags, list) else []:
        key, _, value = str(tag).partition(":")
        out[key] = f"{out[key]},{value}" if key in out else value
    return out


_LEVELS = {
    "emerg": "critical",
    "emergency": "critical",
    "alert": "critical",
    "crit": "critical",
    "critical": "critical",
    "fatal": "critical",
    "err": "error",
    "error": "error",
    "warn": "warning",
    "warning": "warning",
    "notice": "info",
    "info": "info",
    "ok": "info",
    "debug": "debug",
    "trace": "debug",
}


def normalize_level(level: str | None, default: str = "info") -> str:
    """Map a provider's level/status word onto critical/error/warning/info/debug."""
    if not level:
        return default
    return _LEVELS.get(str(level).strip().lower(), default)


# --------------------------------------------------------------------------- options


Sleep = Callable[[float], Awaitable[None]]


async def _asyncio_sleep(seconds: float) -> None:
    import asyncio

    await asyncio.sleep(seconds)


@dataclass(frozen=True, slots=True)
class ProviderOptions:
    """Operational knobs shared by every provider (not user credentials)."""

    request_timeout: float = 15.0
    """Seconds for any single HTTP request (connect + read)."""
    max_retries: int = 3
    """Retries of 5xx answers and timeouts, with exponential backoff and jitter."""
    backoff_base: float = 0.5
    backoff_cap: float = 8.0
    max_rate_limit_wait: float = 10.0
    """A rate limit that resets within this many seconds is waited out; longer ones raise."""
    max_rate_limit_waits: int = 3
    limits: Limits = field(default_factory=Limits)
    max_answer_bytes: int = 64 * 1024 * 1024
    """The most one HTTP answer's body may hold, as sent and once decoded (gzip); a larger one is
    refused while it is read (``AnswerTooLarge``). A page is at most 1,000 records (Sentry: 100
    full events), so 64 MiB is 64 KiB a record, four times the 16 KiB message ReplayLink keeps."""
    transport_factory: Callable[[Any], httpx.AsyncBaseTransport] | None = None
    """Builds the outbound transport from an httpx ``verify`` value (ReplayLink's server passes
    its connect-time address guard here); None = httpx's default transport."""
    sleep: Sleep = _asyncio_sleep
    on_rate_limit: Callable[[float], None] | None = None
    """Called with the wait in seconds each time the provider answers with a rate limit."""


AddressGuard = Callable[[str, int], object]
"""Called with host and port before a connection; raises ``ValueError`` (or ``OSError``) for an
address ReplayLink must not connect to. For clients that cannot take ``transport_factory``."""


# --------------------------------------------------------------------------- protocol


MAX_CHOICES = 500
"""The most values :meth:`Provider.choices` answers."""


class Provider(ABC):
    """One log provider. Subclasses set ``name``, ``label`` and ``Settings``."""

    name: ClassVar[str]
    label: ClassVar[str]
    Settings: ClassVar[type[ProviderSettings]]
    Options: ClassVar[type[ProviderOptions]] = ProviderOptions
    """The provider's own knobs: ``ProviderOptions`` or a subclass that adds some."""
    choice_fields: ClassVar[Mapping[str, object]] = {}
    """Settings fields whose values :meth:`choices` can list, each with a stand-in value that lets
    the other settings validate while that field is still being chosen."""

    def __init__(self, settings: ProviderSettings, options: ProviderOptions | None = None) -> None:
        if not isinstance(settings, self.Settings):
            raise TypeError(f"{type(self).__name__} needs {self.Settings.__name__}")
        self.settings = settings
        if options is None or not isinstance(options, self.Options):
            shared = options or ProviderOptions()
            options = self.make_options(**{f.name: getattr(shared, f.name) for f in fields(shared)})
        self.options = options

    @classmethod
    def make_options(cls, **offered: Any) -> ProviderOptions:
        """This provider's ``Options`` from what the caller offers; knobs it does not take are dropped.

        The server offers every knob it has (timeouts, the outbound transport, ``address_guard``...),
        so a provider declares what it needs in its own ``Options`` and nothing outside knows which.
        """
        taken = {f.name for f in fields(cls.Options)}
        return cls.Options(**{name: value for name, value in offered.items() if name in taken})

    async def choices(self, field: str, prefix: str = "") -> list[str]:
        """The values ``field`` may take with these settings (e.g. CloudWatch log groups), at most
        :data:`MAX_CHOICES`, those starting with ``prefix`` when given.

        Only for fields in ``choice_fields``; raises a ``ProviderError`` like :meth:`check`.
        """
        raise NotFound(f"{self.label} offers no choices for {field}.", field=field)

    def __repr__(self) -> str:
        return f"<{type(self).__name__} provider>"

    @abstractmethod
    async def check(self) -> None:
        """Verify credentials and permissions with the cheapest real call; raise a ProviderError."""

    @abstractmethod
    def search(self, query: Query) -> AsyncIterator[Record]:
        """Yield every matching record in ``[query.start, query.end)``, paging to the end."""

    async def aclose(self) -> None:  # noqa: B027 - optional hook
        """Release network resources."""

    async def __aenter__(self) -> Provider:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()
