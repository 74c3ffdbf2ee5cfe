"""``HttpApi``'s secret scrubbing, shared by the HTTP providers."""

from __future__ import annotations

import base64

import httpx
import pytest

from replaylink.providers.base import ProviderOptions
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
