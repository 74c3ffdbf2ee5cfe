"""DatadogProvider against the Datadog Logs contract fake (tests/peers/datadog_fake.py)."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Callable, Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest

from replaylink.providers import get
from replaylink.providers.base import (
    AuthError,
    NotFound,
    Provider,
    ProviderError,
    ProviderOptions,
    ProviderPermissionError,
    Query,
    RateLimited,
    Record,
    Unreachable,
    parse_tags,
)
from replaylink.providers.datadog import DatadogProvider, DatadogSettings, build_query
from tests.peers.common import free_port
from tests.peers.datadog_fake import (
    API_KEY,
    APPLICATION_KEY,
    SEARCH_PATH,
    RunningDatadog,
    make_log,
    running,
    validate_search_response,
)

T0 = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
TOKEN = "s1.AbCdEf0123"
OTHER = "s2.ZyXwVu9876"
SECRETS = (API_KEY, APPLICATION_KEY)


class Sleeps(list[float]):
    """A fake ``ProviderOptions.sleep`` that records the waits instead of sleeping."""

    async def __call__(self, seconds: float) -> None:
        self.append(seconds)


@pytest.fixture(scope="module")
def server() -> Iterator[RunningDatadog]:
    with running() as peer:
        yield peer


@pytest.fixture
def peer(server: RunningDatadog) -> Iterator[RunningDatadog]:
    server.state.clear()
    server.state.can_read_logs = True
    yield server
    for payload in server.state.responses:
        validate_search_response(payload)


@pytest.fixture
def sleeps() -> Sleeps:
    return Sleeps()


MakeProvider = Callable[..., DatadogProvider]


@pytest.fixture
async def make(peer: RunningDatadog, sleeps: Sleeps) -> AsyncIterator[MakeProvider]:
    """Build providers pointed at the fake; settings and options can be overridden."""
    made: list[DatadogProvider] = []

    def build(options: dict[str, Any] | None = None, **settings: Any) -> DatadogProvider:
        values = {"api_key": API_KEY, "application_key": APPLICATION_KEY, "base_url": peer.url, **settings}
        opts = {"sleep": sleeps, "request_timeout": 0.5, "max_retries": 2, **(options or {})}
        provider = DatadogProvider(DatadogSettings(**values), ProviderOptions(**opts))
        made.append(provider)
        return provider

    yield build
    for provider in made:
        await provider.aclose()


def seed(peer: RunningDatadog, *logs: dict[str, Any]) -> None:
    peer.state.add_records(list(logs))


def snippet_line(token: str, text: str) -> str:
    """What the seed's ``F.write`` prints: ``f"[openReplaySessionToken={token}] {x}"``."""
    return f"[openReplaySessionToken={token}] {text}"


async def collect(provider: Provider, **query: Any) -> list[Record]:
    params: dict[str, Any] = {"start": T0, "end": T0 + timedelta(hours=1), **query}
    return [record async for record in provider.search(Query(**params))]


def search_bodies(peer: RunningDatadog) -> list[dict[str, Any]]:
    return [r["body"] for r in peer.state.requests if r["path"] == SEARCH_PATH]


# --------------------------------------------------------------------------- settings and hosts


def test_registry_and_settings_schema() -> None:
    assert get("datadog") is DatadogProvider
    schema = DatadogSettings.model_json_schema()
    props = schema["properties"]
    assert set(schema["required"]) == {"api_key", "application_key"}
    assert props["api_key"]["title"] == "API Key" and props["api_key"]["secret"] is True
    assert props["application_key"]["title"] == "Application Key" and props["application_key"]["secret"]
    assert DatadogSettings.secret_field_names() == ["api_key", "application_key"]
    assert props["site"]["default"] == "datadoghq.com"
    assert "us2.ddog-gov.com" in props["site"]["enum"] and len(props["site"]["enum"]) == 9
    settings = DatadogSettings(api_key="k" * 32, application_key="a" * 40, base_url="")
    assert settings.indexes == ["*"] and settings.base_url is None
    assert settings.error_statuses == ["error", "critical", "alert", "emergency"]


@pytest.mark.parametrize(
    "bad",
    [{"site": "datadoghq.org"}, {"indexes": []}, {"indexes": ["main OR x"]}, {"error_statuses": ["OR"]}],
)
def test_settings_reject_bad_values(bad: dict[str, Any]) -> None:
    with pytest.raises(ValueError):
        DatadogSettings(api_key="k" * 32, application_key="a" * 40, **bad)


@pytest.mark.parametrize(
    ("site", "api", "app"),
    [
        ("datadoghq.com", "https://api.datadoghq.com", "https://app.datadoghq.com"),
        ("datadoghq.eu", "https://api.datadoghq.eu", "https://app.datadoghq.eu"),
        ("ddog-gov.com", "https://api.ddog-gov.com", "https://app.ddog-gov.com"),
        ("us3.datadoghq.com", "https://api.us3.datadoghq.com", "https://us3.datadoghq.com"),
        ("ap1.datadoghq.com", "https://api.ap1.datadoghq.com", "https://ap1.datadoghq.com"),
        ("us2.ddog-gov.com", "https://api.us2.ddog-gov.com", "https://us2.ddog-gov.com"),
    ],
)
async def test_site_picks_api_and_app_hosts(site: str, api: str, app: str) -> None:
    settings = DatadogSettings(api_key="k" * 32, application_key="a" * 40, site=site)
    provider = DatadogProvider(settings)
    record = provider._record(make_log("x", timestamp=T0, log_id="AQAAAYabc-_1"))
    await provider.aclose()
    assert str(provider.api.client.base_url).rstrip("/") == api
    assert record.link == f"{app}/logs?event=AQAAAYabc-_1"


async def test_base_url_wins_over_site(make: MakeProvider, peer: RunningDatadog) -> None:
    provider = make(site="datadoghq.eu")
    await provider.check()
    assert peer.state.requests[-1]["path"] == SEARCH_PATH


def test_query_text() -> None:
    one = Query(start=T0, end=T0 + timedelta(minutes=1), token=TOKEN)
    anyone = Query(start=T0, end=T0 + timedelta(minutes=1), errors_only=False)
    assert build_query(one, ["error", "critical"]) == (
        f'("openReplaySessionToken={TOKEN}" OR @openReplaySessionToken:{TOKEN}) status:(error OR critical)'
    )
    assert build_query(anyone, ["error"]) == '("openReplaySessionToken=" OR @openReplaySessionToken:*)'
    odd = Query(start=T0, end=T0 + timedelta(minutes=1), token='a"b:c', errors_only=False)
    assert build_query(odd, []) == '("openReplaySessionToken=a\\"b:c" OR @openReplaySessionToken:a\\"b\\:c)'


def test_tags_become_a_dict() -> None:
    assert parse_tags(["env:prod", "team:a", "team:b", "bare", "url:http://x"]) == {
        "env": "prod",
        "team": "a,b",
        "bare": "",
        "url": "http://x",
    }
    assert parse_tags(None) == {}


# --------------------------------------------------------------------------- check()


async def test_check_ok_sends_both_keys_and_a_cheap_search(make: MakeProvider, peer: RunningDatadog) -> None:
    await make(indexes=["main"]).check()
    (request,) = peer.state.requests
    assert request["headers"]["dd-api-key"] == API_KEY
    assert request["headers"]["dd-application-key"] == APPLICATION_KEY
    assert request["body"]["page"] == {"limit": 1}
    assert request["body"]["filter"]["indexes"] == ["main"]
    window = int(request["body"]["filter"]["to"]) - int(request["body"]["filter"]["from"])
    assert window == 60_000


async def test_check_bad_api_key(make: MakeProvider) -> None:
    with pytest.raises(AuthError) as info:
        await make(api_key="wrong-api-key-123456").check()
    assert info.value.field == "api_key" and "API key" in str(info.value)


async def test_check_bad_application_key(make: MakeProvider, peer: RunningDatadog) -> None:
    with pytest.raises(AuthError) as info:
        await make(application_key="wrong-app-key-123456").check()
    assert info.value.field == "application_key"
    assert [r["path"] for r in peer.state.requests] == [SEARCH_PATH, "/api/v1/validate"]


async def test_check_missing_permission(make: MakeProvider, peer: RunningDatadog) -> None:
    peer.state.can_read_logs = False
    with pytest.raises(ProviderPermissionError) as info:
        await make().check()
    assert info.value.field == "application_key"
    assert "logs_read_data" in str(info.value) and "Failed permission authorization checks" in str(info.value)


async def test_check_unknown_index(make: MakeProvider) -> None:
    with pytest.raises(NotFound) as info:
        await make(indexes=["main", "nosuchindex"]).check()
    assert info.value.field == "indexes" and "nosuchindex" in str(info.value)


async def test_check_unreachable(make: MakeProvider, sleeps: Sleeps) -> None:
    with pytest.raises(Unreachable) as info:
        await make(base_url=f"http://127.0.0.1:{free_port()}").check()
    assert info.value.field == "base_url"
    assert len(sleeps) == 2  # max_retries


async def test_check_rate_limited_long(make: MakeProvider, peer: RunningDatadog, sleeps: Sleeps) -> None:
    peer.state.inject("429", retry_after=120)
    with pytest.raises(RateLimited) as info:
        await make().check()
    assert info.value.retry_after == 120
    assert sleeps == []


async def test_check_500_then_ok_is_retried(make: MakeProvider, peer: RunningDatadog, sleeps: Sleeps) -> None:
    peer.state.inject("500")
    await make().check()
    assert len(sleeps) == 1
    assert len(peer.state.requests) == 2


async def test_check_timeout_is_unreachable(make: MakeProvider, peer: RunningDatadog) -> None:
    peer.state.inject("slow", times=2, delay=1.0)
    with pytest.raises(Unreachable):
        await make(options={"request_timeout": 0.2, "max_retries": 1}).check()


@pytest.mark.parametrize("fault", ["bad_json", "truncated"])
async def test_check_bad_json_is_provider_error(make: MakeProvider, peer: RunningDatadog, fault: str) -> None:
    peer.state.inject(fault)
    with pytest.raises(ProviderError) as info:
        await make().check()
    assert info.value.kind == "provider_error" and "not valid JSON" in str(info.value)


async def test_bad_request_carries_datadogs_message(make: MakeProvider, peer: RunningDatadog) -> None:
    peer.state.inject("bad_query")
    with pytest.raises(ProviderError) as info:
        await collect(make())
    assert info.value.kind == "provider_error"
    assert "Invalid query: unexpected token at position 0" in str(info.value)


@pytest.mark.parametrize(
    "payload",
    [
        [],
        {"data": "nope"},
        {"data": [{"id": "x", "attributes": {"message": "m"}}]},
        {"data": [{"attributes": {"timestamp": "2026-03-01T12:00:00Z"}}]},
        {"data": [{"id": "x", "attributes": {"timestamp": "yesterday"}}]},
        {"data": [None]},
    ],
)
async def test_malformed_answers_are_provider_errors(payload: Any) -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, json=payload)

    options = ProviderOptions(transport_factory=lambda verify: httpx.MockTransport(handler))
    settings = DatadogSettings(api_key="k" * 32, application_key="a" * 40)
    async with DatadogProvider(settings, options) as provider:
        with pytest.raises(ProviderError) as info:
            await collect(provider)
    assert info.value.field == "site" and type(info.value) is ProviderError


async def test_a_malformed_log_beside_good_ones_is_skipped_not_fatal(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """One bad record used to fail every poll of its window, for good: it is skipped (and logged);
    only a page with no record that reads is an error (the test above)."""
    message = f"[openReplaySessionToken={TOKEN}] boom"
    good = {"id": "ok", "attributes": {"timestamp": "2026-03-01T12:00:01Z", "message": message}}
    page = {"data": [{"id": "x", "attributes": {"message": "no time"}}, good, None, {"id": 5}]}

    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, json=page)

    options = ProviderOptions(transport_factory=lambda verify: httpx.MockTransport(handler))
    settings = DatadogSettings(api_key="k" * 32, application_key="a" * 40)
    async with DatadogProvider(settings, options) as provider:
        records = await collect(provider)
    assert [record.provider_id for record in records] == ["ok"]
    assert "skipped 3 malformed records" in caplog.text


# --------------------------------------------------------------------------- search()


async def test_search_pages_through_every_cursor(make: MakeProvider, peer: RunningDatadog) -> None:
    seed(
        peer,
        *(
            make_log(snippet_line(TOKEN, f"boom {i}"), timestamp=T0 + timedelta(seconds=i), status="error")
            for i in range(25)
        ),
    )
    records = await collect(make(), page_size=10)
    assert [r.message for r in records] == [snippet_line(TOKEN, f"boom {i}") for i in range(25)]
    bodies = search_bodies(peer)
    assert len(bodies) == 3
    assert [b["page"].get("cursor") is None for b in bodies] == [True, False, False]
    assert all(b["page"]["limit"] == 10 and b["sort"] == "timestamp" for b in bodies)
    assert bodies[0]["filter"]["from"] == str(int(T0.timestamp() * 1000))
    assert bodies[0]["filter"]["indexes"] == ["*"]


async def test_page_size_is_capped_at_1000_and_limit_stops_early(
    make: MakeProvider, peer: RunningDatadog
) -> None:
    seed(peer, *(make_log(snippet_line(TOKEN, "x"), timestamp=T0, status="error") for _ in range(5)))
    assert len(await collect(make(), page_size=5000)) == 5
    assert len(await collect(make(), page_size=5000, limit=3)) == 3
    assert [b["page"]["limit"] for b in search_bodies(peer)] == [1000, 3]


async def test_window_is_start_inclusive_end_exclusive(make: MakeProvider, peer: RunningDatadog) -> None:
    end = T0 + timedelta(minutes=5)
    moments = {
        "before": T0 - timedelta(milliseconds=1),
        "at start": T0,
        "last ms": end - timedelta(milliseconds=1),
        "at end": end,
    }
    seed(
        peer,
        *(make_log(snippet_line(TOKEN, name), timestamp=at, status="error") for name, at in moments.items()),
    )
    records = await collect(make(), end=end)
    assert [r.message for r in records] == [snippet_line(TOKEN, "at start"), snippet_line(TOKEN, "last ms")]
    assert records[0].timestamp == T0


async def test_one_token_or_any_token(make: MakeProvider, peer: RunningDatadog) -> None:
    messages = [
        snippet_line(TOKEN, "mine"),
        snippet_line(OTHER, "theirs"),
        snippet_line(TOKEN + ".9", "longer token"),
        f"ended a sentence with openReplaySessionToken={TOKEN}.",
        snippet_line(TOKEN.upper(), "wrong case"),
        "no marker at all",
    ]
    seed(
        peer,
        *(
            make_log(text, timestamp=T0 + timedelta(seconds=i), status="error")
            for i, text in enumerate(messages)
        ),
    )
    provider = make()
    mine = await collect(provider, token=TOKEN)
    assert [r.message for r in mine] == [messages[0], messages[3]]
    assert [r.message for r in await collect(provider)] == messages[:5]


async def test_errors_only_or_all_levels(make: MakeProvider, peer: RunningDatadog) -> None:
    statuses = ["error", "critical", "emergency", "warn", "info", "debug"]
    seed(peer, *(make_log(snippet_line(TOKEN, s), timestamp=T0, status=s) for s in statuses))
    provider = make()
    errors = await collect(provider, token=TOKEN)
    assert sorted(r.level for r in errors) == ["critical", "critical", "error"]
    everything = await collect(provider, token=TOKEN, errors_only=False)
    assert len(everything) == len(statuses)
    narrow = await collect(make(error_statuses=["critical"]), token=TOKEN)
    assert [r.message for r in narrow] == [snippet_line(TOKEN, "critical")]


async def test_indexes_setting_is_honoured(make: MakeProvider, peer: RunningDatadog) -> None:
    seed(
        peer,
        make_log(snippet_line(TOKEN, "main"), timestamp=T0, status="error"),
        make_log(snippet_line(TOKEN, "audit"), timestamp=T0, status="error", index="audit"),
    )
    assert len(await collect(make())) == 2
    assert [r.message for r in await collect(make(indexes=["audit"]))] == [snippet_line(TOKEN, "audit")]


async def test_short_rate_limit_is_waited_out(
    make: MakeProvider, peer: RunningDatadog, sleeps: Sleeps
) -> None:
    seed(peer, make_log(snippet_line(TOKEN, "x"), timestamp=T0, status="error"))
    peer.state.inject("429", retry_after=2)
    assert len(await collect(make(), token=TOKEN)) == 1
    assert sleeps == [2.0]


async def test_long_rate_limit_is_raised_with_retry_after(
    make: MakeProvider, peer: RunningDatadog, sleeps: Sleeps
) -> None:
    peer.state.inject("429", retry_after=900)
    with pytest.raises(RateLimited) as info:
        await collect(make(), token=TOKEN)
    assert info.value.retry_after == 900 and sleeps == []


async def test_endless_cursor_stops_with_an_error(make: MakeProvider, peer: RunningDatadog) -> None:
    seed(peer, *(make_log(snippet_line(TOKEN, "x"), timestamp=T0, status="error") for _ in range(3)))
    peer.state.inject("endless_cursor", times=1000)
    with pytest.raises(ProviderError, match="cursor"):
        await collect(make(), page_size=2)
    assert len(search_bodies(peer)) == 2


async def test_seed_snippet_output_and_traceback_are_found(make: MakeProvider, peer: RunningDatadog) -> None:
    traceback_text = (
        "Traceback (most recent call last):\n"
        '  File "app.py", line 3, in handler\n'
        f"ValueError: [openReplaySessionToken={TOKEN}] bad input"
    )
    seed(
        peer,
        make_log(snippet_line(TOKEN, "GET /cart failed"), timestamp=T0, status="error", service="shop"),
        make_log(
            traceback_text,
            timestamp=T0 + timedelta(seconds=1),
            status="error",
            attributes={
                "error": {"kind": "ValueError", "message": f"[openReplaySessionToken={TOKEN}] bad input"}
            },
        ),
    )
    records = await collect(make(), token=TOKEN)
    assert records[0].message == f"[openReplaySessionToken={TOKEN}] GET /cart failed"
    assert records[0].title == records[0].message and records[0].service == "shop"
    assert records[1].exception_type == "ValueError"
    assert records[1].title == f"ValueError: [openReplaySessionToken={TOKEN}] bad input"


async def test_attribute_form_token_is_found(make: MakeProvider, peer: RunningDatadog) -> None:
    seed(
        peer,
        make_log(
            "checkout failed",
            timestamp=T0,
            status="error",
            attributes={"openReplaySessionToken": TOKEN, "logger": {"name": "shop.checkout"}},
        ),
        make_log("unrelated JSON log", timestamp=T0, status="error", attributes={"user": "x"}),
    )
    provider = make()
    for query in ({"token": TOKEN}, {}):
        (record,) = await collect(provider, **query)
        assert record.message == "checkout failed"
        assert record.attributes["openReplaySessionToken"] == TOKEN
    assert await collect(provider, token=OTHER) == []


async def test_record_fields(make: MakeProvider, peer: RunningDatadog) -> None:
    seed(
        peer,
        make_log(
            snippet_line(TOKEN, "boom\nsecond line"),
            timestamp=T0 + timedelta(milliseconds=250),
            status="emergency",
            service="api",
            host="web-1",
            tags=["env:prod", "version:1.2"],
            attributes={"http": {"status_code": 500}, "logger": {"name": "api.views"}},
            log_id="AQAAAYrecord1",
        ),
    )
    (record,) = await collect(make(site="datadoghq.eu"), token=TOKEN)
    assert record.provider_id == "AQAAAYrecord1"
    assert record.timestamp == T0 + timedelta(milliseconds=250) and record.timestamp.tzinfo is not None
    assert (record.level, record.service, record.host, record.logger) == (
        "critical",
        "api",
        "web-1",
        "api.views",
    )
    assert record.attributes == {
        "http": {"status_code": 500},
        "logger": {"name": "api.views"},
        "tags": ["env:prod", "version:1.2"],
    }
    assert record.title == snippet_line(TOKEN, "boom") and record.exception_type is None
    assert record.link == "https://app.datadoghq.eu/logs?event=AQAAAYrecord1"


async def test_empty_window_sends_nothing(make: MakeProvider, peer: RunningDatadog) -> None:
    assert await collect(make(), end=T0) == []
    assert await collect(make(), limit=0) == []
    assert peer.state.requests == []


# --------------------------------------------------------------------------- secrets


async def test_no_secret_in_errors_reprs_or_logs(
    make: MakeProvider, peer: RunningDatadog, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    errors: list[ProviderError] = []
    scenarios: list[tuple[dict[str, Any], str | None]] = [
        ({"api_key": "wrong-api-key-123456"}, None),
        ({"application_key": "wrong-app-key-123456"}, None),
        ({}, "429"),
        ({}, "500"),
        ({}, "bad_json"),
        ({}, "bad_query"),
        ({"base_url": f"http://127.0.0.1:{free_port()}"}, None),
    ]
    for settings, fault in scenarios:
        if fault:
            peer.state.inject(fault, times=5, retry_after=60)
        provider = make(**settings)
        assert "fake-dd" not in repr(provider) + repr(provider.settings) + str(provider.settings)
        with pytest.raises(ProviderError) as info:
            await provider.check()
        errors.append(info.value)
        peer.state.clear()
    peer.state.can_read_logs = False
    with pytest.raises(ProviderPermissionError) as info:
        await make().check()
    errors.append(info.value)
    seen = caplog.text + "".join(f"{e}{e!r}{e.message}" for e in errors)
    assert caplog.records, "expected httpx and the retry loop to log"
    for secret in (*SECRETS, "wrong-api-key-123456", "wrong-app-key-123456"):
        assert secret not in seen


# --------------------------------------------------------------------------- the fake itself


def test_fake_speaks_datadogs_error_shapes(peer: RunningDatadog) -> None:
    keys = {"DD-API-KEY": API_KEY, "DD-APPLICATION-KEY": APPLICATION_KEY}
    body = {"filter": {"query": "status:(error OR", "from": "0", "to": "1"}, "page": {"limit": 10}}
    with httpx.Client(base_url=peer.url) as client:
        bad = client.post(SEARCH_PATH, json=body, headers=keys)
        assert bad.status_code == 400 and bad.json()["errors"][0].startswith("Invalid query")
        too_big = client.post(SEARCH_PATH, json={"page": {"limit": 1001}}, headers=keys)
        assert too_big.status_code == 400
        refused = client.post(SEARCH_PATH, json={}, headers={"DD-API-KEY": API_KEY})
        assert refused.status_code == 403 and refused.json() == {"errors": ["Forbidden"]}
        peer.state.inject("429", retry_after=7)
        limited = client.post(SEARCH_PATH, json={}, headers=keys)
        assert limited.status_code == 429 and limited.headers["X-RateLimit-Reset"] == "7"
        assert {
            "x-ratelimit-limit",
            "x-ratelimit-period",
            "x-ratelimit-remaining",
            "x-ratelimit-name",
        } <= set(limited.headers)


def test_fake_sorts_pages_and_evaluates_queries(peer: RunningDatadog) -> None:
    seed(
        peer,
        *(make_log(f"line {i}", timestamp=T0 + timedelta(seconds=i), status="warn") for i in range(5)),
        make_log("tagged", timestamp=T0, status="error", tags=["env:prod"], attributes={"user": {"id": 42}}),
    )
    keys = {"DD-API-KEY": API_KEY, "DD-APPLICATION-KEY": APPLICATION_KEY}
    window = {"from": T0.isoformat(), "to": (T0 + timedelta(minutes=1)).isoformat()}

    def messages(query: str, **extra: Any) -> list[str]:
        body = {"filter": {"query": query, **window}, **extra}
        with httpx.Client(base_url=peer.url) as client:
            payload = client.post(SEARCH_PATH, json=body, headers=keys).json()
        return [log["attributes"]["message"] for log in payload["data"]]

    assert messages("status:warn", sort="-timestamp", page={"limit": 2}) == ["line 4", "line 3"]
    assert messages("env:prod @user.id:42") == ["tagged"]
    assert messages("LINE -status:error", sort="timestamp", page={"limit": 1}) == ["line 0"]
    assert messages('"line 2" OR (tagged AND NOT env:dev)', sort="timestamp") == ["tagged", "line 2"]
