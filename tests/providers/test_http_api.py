"""``HttpApi``'s secret scrubbing, shared by the HTTP providers."""

from __future__ import annotations

import asyncio
import base64
import html
import json
import urllib.parse
from collections.abc import AsyncIterator

import httpx
import pytest

from replaylink.providers.base import ProviderError, ProviderOptions, Unreachable
from replaylink.providers.http import HttpApi

SECRET = "SECRETdd0123456789abcdef"


def api(**kwargs: object) -> HttpApi:
    return HttpApi(label="Fake", base_url="http://127.0.0.1:9", options=ProviderOptions(), **kwargs)  # type: ignore[arg-type]


@pytest.mark.parametrize("cut_at", range(290, 300 + len(SECRET)))
def test_a_secret_cut_by_the_length_limit_shows_no_part(cut_at: int) -> None:
    """The provider's message is scrubbed before it is cut to 300 characters: cut first, the
    secret's head would no longer match it and would show."""
    body = {"errors": ["x" * (cut_at - len(SECRET)) + SECRET + " more"]}
    text = api(secrets=[SECRET]).error_text(httpx.Response(403, json=body))
    assert len(text) <= 300
    assert not any(SECRET[at : at + 6] in text for at in range(len(SECRET) - 5)), text


def test_credentials_the_requests_carry_are_scrubbed_too() -> None:
    """An ``Authorization`` header's credentials and Basic auth's encoded pair, which no provider
    lists among its secrets, are scrubbed from an echo."""
    basic = base64.b64encode(b"user:" + SECRET.encode()).decode()
    bearer = "tok_" + SECRET[::-1]
    for kwargs, credential in (
        ({"auth": ("user", SECRET)}, basic),
        ({"headers": {"Authorization": f"Bearer {bearer}"}}, bearer),
    ):
        echo = httpx.Response(401, json={"error": f"bad credentials: Basic {basic} / Bearer {bearer}"})
        text = api(secrets=[], **kwargs).error_text(echo)
        assert credential not in text and "********" in text


@pytest.mark.parametrize(
    "echo",
    [
        'upstream said {{"DD-API-KEY": {json}}}',  # a text body quoting the request as JSON
        "<p>key=<b>{html}</b> refused</p>",  # an HTML error page
        "GET /search?api_key={url} refused",  # a URL echoed with the key in its query
    ],
)
def test_a_secret_echoed_escaped_is_scrubbed_too(echo: str) -> None:
    """A secret with quotes, a backslash, ``&`` or ``<`` is written differently by whatever echoes
    it: the escaped copy showed in the check's 422, in health and on the Integrations card."""
    secret = 'Sec"ret\\key&<0123456789'
    body = echo.format(
        json=json.dumps(secret), html=html.escape(secret), url=urllib.parse.quote(secret, safe="")
    )
    text = api(secrets=[secret]).error_text(httpx.Response(401, text=body))
    assert "ret" not in text and "0123456789" not in text and "********" in text, text


async def test_an_answer_trickling_a_byte_at_a_time_times_out_as_a_whole() -> None:
    """httpx's timeout is per read: a body sent a byte every 50 ms never tripped it, and held the
    poll (and its lease) for good."""

    async def trickle() -> AsyncIterator[bytes]:
        while True:
            await asyncio.sleep(0.05)
            yield b" "

    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, content=trickle())

    options = ProviderOptions(
        request_timeout=0.2, max_retries=0, transport_factory=lambda _verify: httpx.MockTransport(handler)
    )
    slow = HttpApi(label="Fake", base_url="http://127.0.0.1:9", options=options, secrets=[])
    with pytest.raises(Unreachable, match=r"did not answer within 0\.2 s"):
        await slow.request("GET", "/logs")
    await slow.aclose()


def test_json_nested_deeper_than_the_parser_reads_is_a_provider_error() -> None:
    deep = httpx.Response(200, content=b"[" * 100_000 + b"]" * 100_000)
    with pytest.raises(ProviderError, match="not valid JSON"):
        api(secrets=[]).json(deep)
    assert api(secrets=[]).error_text(httpx.Response(500, content=b"[" * 100_000)) != ""
