"""A retrying, rate-limit-aware, secret-safe httpx client shared by the HTTP providers."""

from __future__ import annotations

import asyncio
import base64
import json
import logging
import random
from collections.abc import Callable, Mapping
from typing import Any

import httpx

from replaylink.providers.base import (
    ProviderError,
    ProviderOptions,
    RateLimited,
    Unreachable,
    bounded_wait,
    redact,
)

log = logging.getLogger("replaylink.providers")

RetryAfter = Callable[[httpx.Response], float | None]
"""Reads how long to wait from a 429 answer's headers (seconds), or None when unknown."""


WHOLE_ANSWER_TIMEOUTS = 4
"""A whole answer (headers and body) gets this many request timeouts."""

_MIB = 1024 * 1024


class AnswerTooLarge(ProviderError):
    """An answer's body passed ``ProviderOptions.max_answer_bytes``, as sent or once decoded.

    Its ``kind`` is ``provider_error``. :meth:`HttpApi.request` does not retry it: the same request
    gets the same answer, and each try would download the limit again.
    """


def retry_after_header(response: httpx.Response) -> float | None:
    """Standard ``Retry-After`` in seconds (HTTP-date form is rare for APIs; ignored)."""
    value = response.headers.get("Retry-After")
    try:
        return float(value) if value is not None else None
    except ValueError:
        return None


def backoff_delay(attempt: int, options: ProviderOptions) -> float:
    """Exponential backoff with "equal jitter": ``uniform(c / 2, c)``, ``c = min(cap, base * 2**attempt)``.

    The upper half, not full jitter's ``uniform(0, c)``: a retry never comes back almost at once.
    """
    ceiling = min(options.backoff_cap, options.backoff_base * (2**attempt))
    return random.uniform(ceiling / 2, ceiling)


def _credentials(headers: Mapping[str, str], auth: httpx.Auth | tuple[str, str] | None) -> list[str]:
    """What every request carries as credentials, to scrub whatever the provider echoes: the
    ``Authorization`` header's credentials (after its scheme), and Basic auth's password and its
    encoded ``user:password`` (what the header then carries)."""
    found = [
        value.partition(" ")[2] or value for name, value in headers.items() if name.lower() == "authorization"
    ]
    if isinstance(auth, tuple):
        user, password = auth
        found += [password, base64.b64encode(f"{user}:{password}".encode()).decode()]
    return found


class HttpApi:
    """One provider's HTTP API: base URL, auth headers, timeouts, retries, rate limits.

    ``label`` names the provider in user-facing messages; ``secrets`` are scrubbed from
    every message this class produces.
    """

    def __init__(
        self,
        *,
        label: str,
        base_url: str,
        options: ProviderOptions,
        secrets: list[str],
        headers: Mapping[str, str] | None = None,
        auth: httpx.Auth | tuple[str, str] | None = None,
        retry_after: RetryAfter = retry_after_header,
        url_field: str = "base_url",
        verify: Any = True,
        follow_redirects: bool = False,
    ) -> None:
        self.label = label
        self.options = options
        self.secrets = [*secrets, *_credentials(headers or {}, auth)]
        self.retry_after = retry_after
        self.url_field = url_field
        factory = options.transport_factory
        transport = factory(verify) if factory is not None else None
        self.client = httpx.AsyncClient(
            base_url=base_url,
            headers=dict(headers or {}),
            auth=auth,
            timeout=httpx.Timeout(options.request_timeout),
            transport=transport,
            verify=verify,
            follow_redirects=follow_redirects,
        )

    async def aclose(self) -> None:
        await self.client.aclose()

    def scrub(self, text: str) -> str:
        return redact(text, self.secrets)

    async def request(self, method: str, url: str, **kwargs: Any) -> httpx.Response:
        """Send with retries. Returns any non-429, non-5xx answer, its body read; the caller maps 4xx.

        A body larger than ``max_answer_bytes`` (as sent or decoded) raises ``AnswerTooLarge``
        as soon as it passes the limit, never retried; a 429 and a 5xx that is retried are not read.
        """
        attempt = 0
        waits = 0
        while True:
            try:
                # httpx's timeout is per read: a body trickling a byte a second never trips it.
                async with (
                    asyncio.timeout(self.options.request_timeout * WHOLE_ANSWER_TIMEOUTS),
                    self.client.stream(method, url, **kwargs) as response,
                ):
                    status = response.status_code
                    if status != 429 and not (status >= 500 and attempt < self.options.max_retries):
                        await self._read(response)
            except (httpx.TimeoutException, TimeoutError):
                if attempt < self.options.max_retries:
                    await self.options.sleep(backoff_delay(attempt, self.options))
                    attempt += 1
                    continue
                raise Unreachable(
                    f"{self.label} did not answer within {self.options.request_timeout:g} s; "
                    f"check {self.url_field} and the network, or try again later.",
                    field=self.url_field,
                ) from None
            except httpx.TransportError as exc:
                if attempt < self.options.max_retries and _retryable(exc):
                    await self.options.sleep(backoff_delay(attempt, self.options))
                    attempt += 1
                    continue
                reason = self.scrub(str(exc)) or type(exc).__name__
                raise Unreachable(
                    f"Could not connect to {self.label} ({reason}); check {self.url_field}.",
                    field=self.url_field,
                ) from None
            except ProviderError:
                raise
            if response.status_code == 429:
                wait = self.retry_after(response)
                wait = 1.0 if wait is None else bounded_wait(wait)
                if self.options.on_rate_limit is not None:
                    self.options.on_rate_limit(wait)
                if wait <= self.options.max_rate_limit_wait and waits < self.options.max_rate_limit_waits:
                    log.info("%s rate limit: waiting %.1f s", self.label, wait)
                    await self.options.sleep(wait)
                    waits += 1
                    continue
                raise RateLimited(
                    f"{self.label} rate limit reached; ReplayLink will retry in {wait:.0f} s.",
                    retry_after=wait,
                )
            if response.status_code >= 500:
                if attempt < self.options.max_retries:
                    await self.options.sleep(backoff_delay(attempt, self.options))
                    attempt += 1
                    continue
                raise ProviderError(
                    f"{self.label} answered HTTP {response.status_code} after "
                    f"{attempt + 1} attempts: {self.error_text(response)}"
                )
            return response

    async def _read(self, response: httpx.Response) -> None:
        """Read ``response``'s body into it (``response.content``), refusing it with
        ``AnswerTooLarge`` once more than ``max_answer_bytes`` arrived or were decoded; leaving
        the ``stream`` block then closes the connection with the rest unread.

        httpx's own decoders undo the ``Content-Encoding``: one raw chunk (at most 64 KiB) inflates
        at most about 1,000 times (zlib's limit), so a gzip bomb is stopped within that of the limit.
        """
        limit = self.options.max_answer_bytes
        declared = response.headers.get("Content-Length", "").strip()
        if declared.isdigit() and int(declared) > limit:
            raise self._too_large(response)
        if response.is_stream_consumed:  # a transport that answers with its body read (tests' mocks)
            if len(response.content) > limit:
                raise self._too_large(response)
            return
        parts: list[bytes] = []
        decoded = 0
        try:
            async for piece in response.aiter_bytes():
                decoded += len(piece)
                if decoded > limit or response.num_bytes_downloaded > limit:
                    raise self._too_large(response)
                parts.append(piece)
        except httpx.DecodingError:
            raise ProviderError(
                f"{self.label} sent a compressed answer that could not be decoded (Content-Encoding: "
                f"{self.scrub(response.headers.get('Content-Encoding', ''))[:40]}); check {self.url_field} "
                "points at the provider's API."
            ) from None
        # What ``Response.aread`` would have stored: json(), text and content read it from here.
        response._content = b"".join(parts)

    def _too_large(self, response: httpx.Response) -> AnswerTooLarge:
        return AnswerTooLarge(
            f"{self.label} sent an answer larger than {_size(self.options.max_answer_bytes)} "
            f"(HTTP {response.status_code}), more than a page of records should be, so ReplayLink "
            f"stopped reading it; check {self.url_field} points at the provider's API, or narrow "
            "what the integration searches.",
            field=self.url_field,
        )

    def error_text(self, response: httpx.Response, limit: int = 300) -> str:
        """The provider's own error message from a response body, shortened and scrubbed."""
        try:
            body: Any = response.json()
        except (ValueError, RecursionError):  # JSONDecodeError and UnicodeDecodeError are ValueErrors
            body = response.text
        text = _first_message(body) if not isinstance(body, str) else body
        # Scrubbed before it is cut: a secret cut in two no longer matches, and half of it would show.
        return " ".join(self.scrub(text or response.reason_phrase).split())[:limit]

    def json(self, response: httpx.Response) -> Any:
        """Decode a JSON body or raise ``ProviderError`` (never a bare decode error)."""
        try:
            return response.json()
        except (ValueError, RecursionError):  # JSONDecodeError and UnicodeDecodeError are ValueErrors
            raise ProviderError(
                f"{self.label} sent a response that is not valid JSON (HTTP {response.status_code}); "
                "check base_url points at the provider's API."
            ) from None


def _size(count: int) -> str:
    return f"{count // _MIB} MiB" if count >= _MIB and count % _MIB == 0 else f"{count:,} bytes"


def _first_message(body: Any) -> str:
    """Find a human message in a typical JSON error body."""
    if isinstance(body, dict):
        for key in ("errors", "error", "detail", "message", "reason", "msg"):
            if key in body:
                return _first_message(body[key])
        return json.dumps(body)[:300]
    if isinstance(body, list):
        return "; ".join(_first_message(item) for item in body[:3])
    return str(body)


_PERMANENT = ("CERTIFICATE_VERIFY_FAILED", "will not connect there", "certificate verify failed")


def _retryable(exc: httpx.TransportError) -> bool:
    """Connection failures worth retrying: not TLS verification, not the outbound guard's refusals."""
    if isinstance(exc, httpx.UnsupportedProtocol):
        return False
    text = f"{exc} {exc.__context__ or ''}"
    return not any(marker in text for marker in _PERMANENT)
