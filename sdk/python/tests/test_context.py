"""The token's context, its plausibility check and header parsing."""

from __future__ import annotations

import asyncio

import pytest
from sdk_support import OTHER, TOKEN

from replaylink_sdk import get_token, is_plausible_token, use_token
from replaylink_sdk.context import annotate, noted_token
from replaylink_sdk.headers import HeaderReader, token_from_baggage

HOSTILE = [
    TOKEN + "\r\nX-Injected: 1",
    TOKEN + "\n",
    "A" * 10_240,
    TOKEN[:20] + "é" + TOKEN[21:],
    "openReplaySessionToken=" + TOKEN,
    TOKEN.replace(".", " "),
    "." * 20,
    "a" * 15,
    "a" * 100,
    "",
]


@pytest.mark.parametrize("value", [TOKEN, "a" * 16, "A.b" * 33])
def test_plausible_tokens(value: str) -> None:
    assert is_plausible_token(value)


@pytest.mark.parametrize("value", [*HOSTILE, None, 42, TOKEN.encode()])
def test_implausible_values(value: object) -> None:
    assert not is_plausible_token(value)


def test_use_token_as_context_manager_nests_and_resets() -> None:
    assert get_token() is None
    with use_token(TOKEN):
        assert get_token() == TOKEN
        with use_token(OTHER):
            assert get_token() == OTHER
        with use_token("bad\r\nvalue"):
            assert get_token() is None
        assert get_token() == TOKEN
    assert get_token() is None


def test_use_token_decorates_sync_and_async_functions() -> None:
    @use_token(TOKEN)
    def job() -> str | None:
        return get_token()

    @use_token(OTHER)
    async def async_job() -> str | None:
        await asyncio.sleep(0)
        return get_token()

    assert job() == TOKEN
    assert asyncio.run(async_job()) == OTHER
    assert get_token() is None


def test_exception_leaving_a_token_scope_keeps_type_and_gets_a_note() -> None:
    with pytest.raises(KeyError) as caught, use_token(TOKEN):
        raise KeyError("missing")
    assert caught.value.args == ("missing",)
    assert noted_token(caught.value) == TOKEN


def test_notes_never_break_an_exception() -> None:
    odd = ValueError("odd")
    odd.__notes__ = "not a list"  # type: ignore[assignment]
    annotate(odd, TOKEN)
    assert odd.__notes__ == "not a list"
    forged = ValueError("forged")
    forged.__notes__ = ["openReplaySessionToken=forged value"]
    assert noted_token(forged) is None
    assert noted_token(None) is None


def test_header_reader_environ_and_asgi() -> None:
    reader = HeaderReader()
    assert reader.from_environ({"HTTP_X_OPENREPLAY_SESSIONTOKEN": TOKEN}) == TOKEN
    assert reader.from_asgi([(b"x-openreplay-sessiontoken", TOKEN.encode())]) == TOKEN
    assert reader.from_environ({}) is None
    assert reader.from_asgi([(b"accept", b"*/*")]) is None


def test_header_names_are_configurable_and_first_plausible_wins() -> None:
    reader = HeaderReader(["X-Session", "X-OpenReplay-SessionToken"], baggage=False)
    environ = {"HTTP_X_SESSION": "not plausible!", "HTTP_X_OPENREPLAY_SESSIONTOKEN": TOKEN}
    assert reader.from_environ(environ) == TOKEN
    headers = [(b"x-session", OTHER.encode()), (b"x-openreplay-sessiontoken", TOKEN.encode())]
    assert reader.from_asgi(headers) == OTHER
    assert reader.from_environ({"HTTP_BAGGAGE": f"openReplaySessionToken={TOKEN}"}) is None


def test_baggage_entry() -> None:
    assert token_from_baggage(f"userId=alice, openReplaySessionToken = {TOKEN};ttl=1,x=y") == TOKEN
    assert token_from_baggage("openReplaySessionToken=bad%20value") is None
    assert token_from_baggage(f"openReplaySessionToken={TOKEN}," + "x=y," * 3000) is None
    reader = HeaderReader()
    assert reader.from_asgi([(b"baggage", f"openReplaySessionToken={TOKEN}".encode())]) == TOKEN


@pytest.mark.parametrize("value", HOSTILE)
def test_hostile_headers_are_ignored(value: str) -> None:
    reader = HeaderReader()
    raw = value.encode("utf-8")
    assert reader.from_environ({"HTTP_X_OPENREPLAY_SESSIONTOKEN": raw.decode("latin-1")}) is None
    assert reader.from_asgi([(b"x-openreplay-sessiontoken", raw)]) is None
    assert reader.from_asgi([(b"baggage", b"openReplaySessionToken=" + raw)]) is None
