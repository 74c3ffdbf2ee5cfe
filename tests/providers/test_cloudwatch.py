"""CloudWatch Logs provider against moto in server mode (tests/peers/cloudwatch_peer.py).

moto cannot throttle, so throttling is produced with botocore's Stubber, and an empty page that
still carries ``nextToken`` (real CloudWatch sends them, moto never does) with a botocore event
hook. Both mock botocore's transport, not ReplayLink code.
"""

from __future__ import annotations

import asyncio
import json
import logging
import socket
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from botocore.awsrequest import AWSResponse
from botocore.exceptions import EndpointConnectionError
from botocore.stub import Stubber
from pydantic import ValidationError

from replaylink.providers import get
from replaylink.providers.base import (
    AuthError,
    NotFound,
    ProviderError,
    ProviderOptions,
    ProviderPermissionError,
    Query,
    RateLimited,
    Record,
    Unreachable,
)
from replaylink.providers.cloudwatch import (
    REGIONS,
    CloudWatchOptions,
    CloudWatchProvider,
    CloudWatchSettings,
    carries_token,
    compile_error_pattern,
    console_link,
    filter_pattern,
    parse_json_message,
)
from tests.peers import cloudwatch_peer as peer
from tests.peers.common import free_port

SECRET = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYzSECRETKEY"
SESSION_TOKEN = "FwoGZXIvYXdzEXAMPLESESSIONTOKENvalue0123456789"
TOKEN = "v1.AbCdEf0123.sig"
GROUP = "/app/api"
NOW = datetime.now(UTC).replace(microsecond=0) - timedelta(hours=1)


async def _no_sleep(seconds: float) -> None:
    return None


OPTIONS = ProviderOptions(request_timeout=0.5, max_retries=0, sleep=_no_sleep)
"""max_retries=0: botocore's own retry backoff sleeps for real and cannot be injected."""


def ms(moment: datetime) -> int:
    return int(moment.timestamp() * 1000)


def at(seconds: float) -> int:
    """Epoch ms of NOW + seconds."""
    return ms(NOW + timedelta(seconds=seconds))


# --------------------------------------------------------------------------- fixtures


@pytest.fixture(scope="module")
def moto_endpoint() -> Iterator[str]:
    with peer.moto_server() as endpoint:
        yield endpoint


@pytest.fixture
def moto(moto_endpoint: str) -> str:
    peer.reset(moto_endpoint)
    return moto_endpoint


def make_settings(endpoint: str | None, **overrides: Any) -> CloudWatchSettings:
    values: dict[str, Any] = {
        "aws_access_key_id": peer.TEST_KEY,
        "aws_secret_access_key": SECRET,
        "region": peer.REGION,
        "log_group_names": [GROUP],
        "endpoint_url": endpoint,
    }
    return CloudWatchSettings(**(values | overrides))


def make_provider(endpoint: str | None, **overrides: Any) -> CloudWatchProvider:
    return CloudWatchProvider(make_settings(endpoint, **overrides), OPTIONS)


def window(start: float = -60, end: float = 60, **kwargs: Any) -> Query:
    kwargs.setdefault("errors_only", False)
    return Query(start=NOW + timedelta(seconds=start), end=NOW + timedelta(seconds=end), **kwargs)


async def collect(provider: CloudWatchProvider, query: Query) -> list[Record]:
    try:
        return [record async for record in provider.search(query)]
    finally:
        await provider.aclose()


async def on_call(provider: CloudWatchProvider, operation: str, handler: Callable[..., Any]) -> None:
    """Register a botocore ``before-call`` hook on the provider's client."""
    client = await provider.client()
    client.meta.events.register(f"before-call.cloudwatch-logs.{operation}", handler)


def fake_response(parsed: dict[str, Any]) -> tuple[AWSResponse, dict[str, Any]]:
    # botocore-stubs want HTTPHeaders; AWSResponse wraps any mapping in a HeadersDict.
    return AWSResponse("http://fake", 200, {}, None), parsed  # type: ignore[arg-type]


# --------------------------------------------------------------------------- settings and helpers


def test_registry_and_schema() -> None:
    assert get("cloudwatch") is CloudWatchProvider
    schema = CloudWatchSettings.model_json_schema()
    props = schema["properties"]
    assert props["aws_access_key_id"]["title"] == "Access key ID"
    assert props["aws_secret_access_key"]["title"] == "Secret access key"
    assert props["aws_secret_access_key"]["secret"] is True
    assert CloudWatchSettings.secret_field_names() == ["aws_secret_access_key", "aws_session_token"]
    regions = props["region"]["enum"]
    assert {"us-east-1", "eu-west-1", "cn-north-1", "us-gov-west-1"} <= set(regions)
    assert set(regions) == set(REGIONS)
    assert set(schema["required"]) == {
        "aws_access_key_id",
        "aws_secret_access_key",
        "region",
        "log_group_names",
    }


def test_settings_validation() -> None:
    with pytest.raises(ValidationError, match="not an AWS region CloudWatch Logs runs in"):
        make_settings(None, region="mars-north-1")
    with pytest.raises(ValidationError, match="log_group_names"):
        make_settings(None, log_group_names=[])
    with pytest.raises(ValidationError, match="not a log group name"):
        make_settings(None, log_group_names=["bad name!"])
    with pytest.raises(ValidationError, match="http:// or https://"):
        make_settings(None, endpoint_url="ftp://example.com")
    with pytest.raises(ValidationError, match="1 to 64 characters"):
        make_settings(None, error_pattern=["x" * 65])
    settings = make_settings("http://127.0.0.1:9/", log_group_names="/a, /b,/a", error_pattern="oops, boom")
    assert settings.log_group_names == ["/a", "/b"]
    assert settings.error_pattern == ["oops", "boom"]
    assert settings.endpoint_url == "http://127.0.0.1:9"
    assert make_settings(None).error_pattern == ["error", "exception", "fatal", "critical", "traceback"]


def test_filter_pattern() -> None:
    assert filter_pattern(TOKEN) == f'"{TOKEN}"'
    assert filter_pattern(None) == '"openReplaySessionToken"'
    # a token that cannot be quoted safely falls back to the marker name (checked client-side)
    assert filter_pattern('a" ?b') == '"openReplaySessionToken"'


def test_carries_token() -> None:
    line = f"[openReplaySessionToken={TOKEN}] message"
    assert carries_token(line, {}, TOKEN)
    assert carries_token(line, {}, None)
    assert not carries_token(line, {}, TOKEN[:-1])  # a prefix of the token is another token
    assert not carries_token(f"GET /?t={TOKEN}", {}, TOKEN)
    assert not carries_token("no marker here", {}, None)
    nested = {"ctx": {"req": [{"openReplaySessionToken": TOKEN}]}}
    assert carries_token(json.dumps(nested), nested, TOKEN)
    assert carries_token(json.dumps(nested), nested, None)
    assert not carries_token("{}", {"openReplaySessionToken": None}, None)
    assert not carries_token("{}", {"openReplaySessionToken": "other"}, TOKEN)


def test_parse_json_message_is_bounded() -> None:
    assert parse_json_message('  {"a": 1} ') == {"a": 1}
    assert parse_json_message("[1, 2]") == {}
    assert parse_json_message("{not json") == {}
    assert parse_json_message("{" * 100_000) == {}
    deep = '{"a":' * 5000 + "1" + "}" * 5000
    assert parse_json_message(deep) == {}  # RecursionError is caught


def test_error_pattern_whole_words() -> None:
    pattern = compile_error_pattern(["error", "exception"])
    assert pattern.search("[ERROR] db down")
    assert pattern.search("an Exception occurred")
    assert not pattern.search("errors=0 terror")


def test_console_link() -> None:
    link = console_link("eu-west-1", "/aws/lambda/fn", "2024/01/01/[$LATEST]ab", 1700000000000, "3791")
    assert link == (
        "https://eu-west-1.console.aws.amazon.com/cloudwatch/home?region=eu-west-1"
        "#logsV2:log-groups/log-group/$252Faws$252Flambda$252Ffn"
        "/log-events/2024$252F01$252F01$252F$255B$2524LATEST$255Dab$3Fstart$3D1700000000000"
        "$26refEventId$3D3791"
    )
    cn = console_link("cn-north-1", "g", "s", 1, "1")
    assert cn is not None and cn.startswith("https://cn-north-1.console.amazonaws.cn/cloudwatch/")
    gov = console_link("us-gov-west-1", "g", "s", 1, "1")
    assert gov is not None and gov.startswith("https://us-gov-west-1.console.amazonaws-us-gov.com/")
    assert console_link("us-iso-east-1", "g", "s", 1, "1") is None


# --------------------------------------------------------------------------- check()


async def test_check_ok(moto: str) -> None:
    peer.create_groups(moto, GROUP, "/app/worker")
    provider = make_provider(moto, log_group_names=[GROUP, "/app/worker"])
    await provider.check()
    await provider.aclose()


async def test_check_missing_group_is_named(moto: str) -> None:
    peer.create_groups(moto, GROUP, "/app/missing-but-prefix")
    provider = make_provider(moto, log_group_names=[GROUP, "/app/missing"])
    with pytest.raises(NotFound) as caught:
        await provider.check()
    assert "'/app/missing'" in str(caught.value)
    assert caught.value.field == "log_group_names"
    await provider.aclose()


async def test_bad_keys_are_auth_errors(moto: str) -> None:
    peer.create_groups(moto, GROUP)
    with peer.iam_user(moto) as (key_id, secret):
        await make_provider(moto, aws_access_key_id=key_id, aws_secret_access_key=secret).check()

        wrong_id = make_provider(moto, aws_access_key_id="AKIAWRONGWRONGWRONG1")
        with pytest.raises(AuthError) as caught:
            await wrong_id.check()
        assert caught.value.field == "aws_access_key_id"
        assert "security token included in the request is invalid" in str(caught.value)

        wrong_secret = make_provider(moto, aws_access_key_id=key_id)
        with pytest.raises(AuthError) as caught:
            await wrong_secret.check()
        assert caught.value.field == "aws_secret_access_key"
        for text in (str(caught.value), repr(caught.value)):
            assert SECRET not in text and secret not in text and "<" not in text


async def test_missing_permission(moto: str) -> None:
    peer.create_groups(moto, GROUP)
    with peer.iam_user(moto, actions=["logs:DescribeLogGroups"]) as (key_id, secret):
        provider = make_provider(moto, aws_access_key_id=key_id, aws_secret_access_key=secret)
        with pytest.raises(ProviderPermissionError) as caught:
            await provider.check()
    assert "CloudWatchReadOnlyAccess" in str(caught.value)
    assert caught.value.field == "aws_access_key_id"


async def test_unreachable_endpoint() -> None:
    provider = make_provider(f"http://127.0.0.1:{free_port()}")
    with pytest.raises(Unreachable) as caught:
        await provider.check()
    assert caught.value.field == "endpoint_url"
    assert "endpoint_url" in str(caught.value)


async def test_silent_endpoint_times_out() -> None:
    with socket.socket() as listener:  # accepts connections (backlog) and never answers
        listener.bind(("127.0.0.1", 0))
        listener.listen()
        provider = make_provider(f"http://127.0.0.1:{listener.getsockname()[1]}")
        with pytest.raises(Unreachable, match=r"did not answer within 0\.5 s"):
            await collect(provider, window())


async def test_throttling_is_rate_limited() -> None:
    provider = make_provider("http://127.0.0.1:9")
    client = await provider.client()
    with Stubber(client) as stub:
        stub.add_client_error(
            "filter_log_events",
            service_error_code="ThrottlingException",
            service_message="Rate exceeded",
            http_status_code=400,
        )
        with pytest.raises(RateLimited) as caught:
            await collect(provider, window())
    assert 1 <= caught.value.retry_after <= 10


@pytest.mark.parametrize(
    ("code", "status", "error", "field"),
    [
        ("UnrecognizedClientException", 400, AuthError, "aws_access_key_id"),
        ("InvalidSignatureException", 400, AuthError, "aws_secret_access_key"),
        ("ExpiredTokenException", 400, AuthError, "aws_session_token"),
        ("AccessDeniedException", 400, ProviderPermissionError, "aws_access_key_id"),
        ("ResourceNotFoundException", 400, NotFound, "log_group_names"),
        ("InvalidParameterException", 400, ProviderError, None),
        ("ServiceUnavailableException", 503, ProviderError, None),
    ],
)
async def test_aws_error_codes(code: str, status: int, error: type[ProviderError], field: str | None) -> None:
    """The JSON error codes real CloudWatch answers with (moto answers IAM failures in XML)."""
    provider = make_provider("http://127.0.0.1:9", aws_session_token=SESSION_TOKEN)
    with Stubber(await provider.client()) as stub:
        stub.add_client_error(
            "filter_log_events",
            service_error_code=code,
            service_message=f"Denied for {SECRET} and {SESSION_TOKEN}",
            http_status_code=status,
        )
        with pytest.raises(ProviderError) as caught:
            await collect(provider, window())
    assert type(caught.value) is error
    assert caught.value.field == field
    assert SECRET not in str(caught.value) and SESSION_TOKEN not in str(caught.value)
    if error is NotFound:
        assert f"{GROUP!r}" in str(caught.value)


async def test_unreachable_region_is_named() -> None:
    provider = make_provider(None, region="eu-west-3")

    def refuse(request: Any, **_: Any) -> None:
        raise EndpointConnectionError(endpoint_url=request.url)

    (await provider.client()).meta.events.register("before-send.cloudwatch-logs.FilterLogEvents", refuse)
    with pytest.raises(Unreachable) as caught:
        await collect(provider, window())
    assert caught.value.field == "region"
    assert "in region eu-west-3" in str(caught.value)


async def test_client_uses_adaptive_retries_and_timeouts() -> None:
    provider = CloudWatchProvider(
        make_settings(None), ProviderOptions(request_timeout=3, max_retries=4, sleep=_no_sleep)
    )
    config = (await provider.client()).meta.config
    # botocore-stubs' Config declares none of the options it sets as attributes.
    assert config.retries == {"mode": "adaptive", "total_max_attempts": 5}  # type: ignore[attr-defined]
    assert (config.connect_timeout, config.read_timeout) == (3, 3)  # type: ignore[attr-defined]
    assert (await provider.client()) is (await provider.client())
    await provider.aclose()


# --------------------------------------------------------------------------- search()


async def test_seed_lines_and_record_fields(moto: str) -> None:
    peer.seed(
        moto,
        GROUP,
        "web/1",
        [
            (at(0), f"[openReplaySessionToken={TOKEN}] message"),
            (at(1), f"ValueError: [openReplaySessionToken={TOKEN}] boom"),
            (at(2), "Traceback (most recent call last):"),
        ],
    )
    records = await collect(make_provider(moto), window(token=TOKEN))
    assert [r.message for r in records] == [
        f"[openReplaySessionToken={TOKEN}] message",
        f"ValueError: [openReplaySessionToken={TOKEN}] boom",
    ]
    errors = await collect(make_provider(moto), window(token=TOKEN, errors_only=True))
    assert [r.message for r in errors] == [records[1].message]
    plain, error = records
    assert (plain.level, plain.exception_type) == ("info", None)
    assert error.level == "error"
    assert error.exception_type == "ValueError"
    assert error.title == f"ValueError: [openReplaySessionToken={TOKEN}] boom"
    assert error.timestamp == NOW + timedelta(seconds=1)
    assert error.timestamp.tzinfo is UTC
    assert (error.service, error.host) == (GROUP, "web/1")
    assert error.provider_id and error.provider_id != plain.provider_id
    assert error.link is not None
    assert error.link.startswith("https://us-east-1.console.aws.amazon.com/cloudwatch/home?region=us-east-1#")
    assert f"log-group/$252Fapp$252Fapi/log-events/web$252F1$3Fstart$3D{at(1)}" in error.link


async def test_json_line_with_token_attribute(moto: str) -> None:
    lines = [
        json.dumps({"level": "error", "openReplaySessionToken": TOKEN, "message": "db down"}),
        json.dumps({"level": "info", "openReplaySessionToken": TOKEN, "message": "an error, handled"}),
        json.dumps({"severity": "ERROR", "ctx": {"openReplaySessionToken": "other.token"}}),
        json.dumps({"level": "error", "message": f"mentions {TOKEN} only"}),
    ]
    peer.seed(moto, GROUP, "s", [(at(i), line) for i, line in enumerate(lines)])
    provider = make_provider(moto)
    by_token = await collect(provider, window(token=TOKEN))
    assert [r.message for r in by_token] == lines[:2]
    first = by_token[0]
    assert first.attributes["openReplaySessionToken"] == TOKEN
    assert (first.level, first.title) == ("error", "db down")
    assert by_token[1].level == "info"  # the JSON level wins over the word "error"

    errors = await collect(make_provider(moto), window(errors_only=True))
    assert [r.message for r in errors] == [lines[0], lines[2]]


async def test_token_vs_any(moto: str) -> None:
    peer.seed(
        moto,
        GROUP,
        "s",
        [
            (at(0), f"error [openReplaySessionToken={TOKEN}] a"),
            (at(1), "error [openReplaySessionToken=other.token] b"),
            (at(2), f"error [openReplaySessionToken={TOKEN}x] c"),
            (at(3), "error without marker"),
        ],
    )
    mine = await collect(make_provider(moto), window(token=TOKEN))
    assert [r.message[-1] for r in mine] == ["a"]
    every = await collect(make_provider(moto), window(token=None))
    assert [r.message[-1] for r in every] == ["a", "b", "c"]


async def test_errors_only(moto: str) -> None:
    peer.seed(
        moto,
        GROUP,
        "s",
        [
            (at(0), f"INFO [openReplaySessionToken={TOKEN}] fine"),
            (at(1), f"[ERROR] [openReplaySessionToken={TOKEN}] db down"),
            (at(2), f"java.lang.IllegalStateException: [openReplaySessionToken={TOKEN}] bad"),
            (at(3), f"WARN [openReplaySessionToken={TOKEN}] errors=0"),
        ],
    )
    records = await collect(make_provider(moto), window(token=TOKEN, errors_only=True))
    assert [r.message for r in records] == [
        f"[ERROR] [openReplaySessionToken={TOKEN}] db down",
        f"java.lang.IllegalStateException: [openReplaySessionToken={TOKEN}] bad",
    ]
    assert records[1].exception_type == "java.lang.IllegalStateException"
    custom = make_provider(moto, error_pattern=["fine"])
    records = await collect(custom, window(token=TOKEN, errors_only=True))
    assert [r.message.split()[-1] for r in records] == ["fine", "bad"]


async def test_window_edges(moto: str) -> None:
    start, end = NOW, NOW + timedelta(seconds=10)
    peer.seed(
        moto,
        GROUP,
        "s",
        [
            (ms(start) - 1, f"[openReplaySessionToken={TOKEN}] before"),
            (ms(start), f"[openReplaySessionToken={TOKEN}] at start"),
            (ms(end) - 1, f"[openReplaySessionToken={TOKEN}] last ms"),
            (ms(end), f"[openReplaySessionToken={TOKEN}] at end"),
        ],
    )
    query = Query(start=start, end=end, token=TOKEN, errors_only=False)
    records = await collect(make_provider(moto), query)
    assert [r.message.split("] ")[1] for r in records] == ["at start", "last ms"]
    # an end between two milliseconds still includes the millisecond it cuts
    sub_ms = Query(start=start, end=end + timedelta(microseconds=500), token=TOKEN, errors_only=False)
    assert len(await collect(make_provider(moto), sub_ms)) == 3
    empty = Query(start=start, end=start, token=TOKEN, errors_only=False)
    assert await collect(make_provider(moto), empty) == []


async def test_pages_and_limit(moto: str) -> None:
    peer.seed(moto, GROUP, "s", [(at(i), f"[openReplaySessionToken={TOKEN}] n{i}") for i in range(25)])
    provider = make_provider(moto)
    calls: list[dict[str, Any]] = []
    await on_call(provider, "FilterLogEvents", lambda params, **_: calls.append(json.loads(params["body"])))
    records = await collect(provider, window(token=TOKEN, page_size=4))
    assert [r.message.split()[-1] for r in records] == [f"n{i}" for i in range(25)]
    assert len(calls) == 7 and all(call["limit"] == 4 for call in calls)
    assert "nextToken" not in calls[0] and all("nextToken" in call for call in calls[1:])
    query = window(token=TOKEN)
    assert calls[0]["filterPattern"] == f'"{TOKEN}"'
    assert (calls[0]["startTime"], calls[0]["endTime"]) == (ms(query.start), ms(query.end) - 1)

    limited = await collect(make_provider(moto), window(token=TOKEN, page_size=4, limit=6))
    assert len(limited) == 6


async def test_empty_page_with_next_token_is_followed(moto: str) -> None:
    peer.seed(moto, GROUP, "s", [(at(i), f"[openReplaySessionToken={TOKEN}] n{i}") for i in range(3)])
    provider = make_provider(moto)
    client = await provider.client()
    calls = 0

    def first_page_empty(**_: Any) -> Any:
        nonlocal calls
        calls += 1
        return fake_response({"events": [], "nextToken": "INJECTED"}) if calls == 1 else None

    def drop_injected(params: dict[str, Any], **_: Any) -> dict[str, Any]:
        return {k: v for k, v in params.items() if v != "INJECTED"}

    # botocore-stubs type handlers as returning None; provide-client-params ones return the params.
    client.meta.events.register(
        "provide-client-params.cloudwatch-logs.FilterLogEvents",
        drop_injected,  # type: ignore[arg-type]
    )
    await on_call(provider, "FilterLogEvents", first_page_empty)
    records = await collect(provider, window(token=TOKEN))
    assert calls == 2
    assert len(records) == 3


async def test_repeating_next_token_stops() -> None:
    provider = make_provider("http://127.0.0.1:9")
    await on_call(provider, "FilterLogEvents", lambda **_: fake_response({"events": [], "nextToken": "same"}))
    with pytest.raises(ProviderError, match="same page token twice"):
        await asyncio.wait_for(collect(provider, window()), timeout=10)


@pytest.mark.parametrize(
    "page",
    [
        {"events": [{"message": "x"}]},
        {"events": [{"eventId": "1", "timestamp": "soon", "message": "x"}]},
        {"events": ["not an event"]},
        {"events": [{"eventId": "1", "timestamp": 1, "message": ["x"]}]},
        {"events": [{"eventId": "1", "timestamp": 10**20, "message": "x"}]},
    ],
)
async def test_malformed_events_raise_provider_error(page: dict[str, Any]) -> None:
    provider = make_provider("http://127.0.0.1:9")
    await on_call(provider, "FilterLogEvents", lambda **_: fake_response(page))
    with pytest.raises(ProviderError, match="log event"):
        await collect(provider, window())


async def test_several_log_groups(moto: str) -> None:
    peer.seed(moto, GROUP, "a", [(at(0), f"[openReplaySessionToken={TOKEN}] api")])
    peer.seed(moto, "/app/worker", "b", [(at(1), f"[openReplaySessionToken={TOKEN}] worker")])
    peer.seed(moto, "/app/other", "c", [(at(2), f"[openReplaySessionToken={TOKEN}] other")])
    provider = make_provider(moto, log_group_names=[GROUP, "/app/worker"])
    records = await collect(provider, window(token=TOKEN))
    assert [(r.service, r.host, r.message.split()[-1]) for r in records] == [
        (GROUP, "a", "api"),
        ("/app/worker", "b", "worker"),
    ]
    assert len({r.provider_id for r in records}) == 2


async def test_search_missing_group_is_named(moto: str) -> None:
    peer.create_groups(moto, GROUP)
    provider = make_provider(moto, log_group_names=[GROUP, "/app/gone"])
    with pytest.raises(NotFound, match="'/app/gone'"):
        await collect(provider, window())


async def test_list_log_groups_pages_and_prefix(moto: str) -> None:
    names = [f"/svc/n{i:02}" for i in range(60)]
    peer.create_groups(moto, *names, "/other/x")
    provider = make_provider(moto)
    calls = 0

    def count(**_: Any) -> None:
        nonlocal calls
        calls += 1

    await on_call(provider, "DescribeLogGroups", count)
    assert await provider.list_log_groups(prefix="/svc/") == names
    assert calls == 2
    assert await provider.list_log_groups(prefix="/svc/", limit=55) == names[:55]
    assert await provider.list_log_groups(prefix="/other") == ["/other/x"]
    assert len(await provider.list_log_groups()) == 61
    await provider.aclose()


async def test_no_secret_in_messages_reprs_or_logs(moto: str, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    peer.create_groups(moto, GROUP)
    seen: list[str] = []
    with peer.iam_user(moto) as (key_id, _):
        settings = make_settings(
            moto, aws_access_key_id=key_id, aws_secret_access_key=SECRET, aws_session_token=SESSION_TOKEN
        )
        provider = CloudWatchProvider(settings, OPTIONS)
        for action in (provider.check(), collect(provider, window())):
            with pytest.raises(ProviderError) as caught:
                await action
            seen += [str(caught.value), repr(caught.value)]
        seen += [repr(provider), repr(settings), str(settings)]
    # moto runs in this process and logs the headers it receives: that is the server's log, not ours
    ours = [record.getMessage() for record in caplog.records if not record.name.startswith("moto")]
    assert not logging.getLogger("botocore.endpoint").isEnabledFor(logging.DEBUG)  # it prints headers
    text = "\n".join(seen + ours)
    assert SECRET not in text and SESSION_TOKEN not in text


# --------------------------------------------------------------------------- own options, choices


def test_options_are_the_providers_own() -> None:
    """The boto3 address guard is CloudWatch's knob: offered to every provider, taken by this one."""
    guard = lambda host, port: None  # noqa: E731
    options = CloudWatchProvider.make_options(address_guard=guard, job_timeout=1.0, request_timeout=2.0)
    assert isinstance(options, CloudWatchOptions)
    assert options.address_guard is guard and options.request_timeout == 2.0
    assert not hasattr(ProviderOptions(), "address_guard")
    # A plain ProviderOptions is upgraded, keeping every shared knob.
    provider = CloudWatchProvider(make_settings(None), OPTIONS)
    assert isinstance(provider.options, CloudWatchOptions)
    assert provider.options.request_timeout == 0.5 and provider.options.address_guard is None


async def test_address_guard_runs_before_every_call(moto: str) -> None:
    peer.create_groups(moto, GROUP)
    seen: list[tuple[str, int]] = []

    def guard(host: str, port: int) -> None:
        seen.append((host, port))
        if len(seen) > 1:
            raise ValueError(f"{host} resolves to a link-local or cloud-metadata address")

    options = CloudWatchProvider.make_options(request_timeout=0.5, max_retries=0, address_guard=guard)
    provider = CloudWatchProvider(make_settings(moto), options)
    with pytest.raises(Unreachable) as refused:
        await provider.check()
    await provider.aclose()
    assert refused.value.field == "endpoint_url" and "link-local" in refused.value.message
    host = moto.split("://", 1)[1].rsplit(":", 1)[0]
    assert seen[0] == (host, int(moto.rsplit(":", 1)[1]))


async def test_log_group_choices(moto: str) -> None:
    peer.create_groups(moto, "/svc/b", "/svc/a", "/other/x")
    assert list(CloudWatchProvider.choice_fields) == ["log_group_names"]
    provider = make_provider(moto)
    try:
        assert await provider.choices("log_group_names", "/svc/") == ["/svc/a", "/svc/b"]
        assert await provider.choices("log_group_names") == ["/other/x", "/svc/a", "/svc/b"]
        with pytest.raises(NotFound) as none:
            await provider.choices("region")
        assert none.value.field == "region"
    finally:
        await provider.aclose()
