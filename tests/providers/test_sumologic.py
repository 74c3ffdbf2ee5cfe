"""Sumo Logic provider against the stateful Search Job API fake (tests/peers/sumologic_fake.py)."""

from __future__ import annotations

import asyncio
import logging
import re
from collections.abc import Callable, Iterator
from contextlib import aclosing
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest

from replaylink.providers.base import (
    AuthError,
    NotFound,
    ProviderError,
    ProviderPermissionError,
    Query,
    RateLimited,
    Record,
    Unreachable,
)
from replaylink.providers.sumologic import (
    SumoLogicOptions,
    SumoLogicProvider,
    SumoLogicSettings,
    api_base,
    build_query,
    deployment_of,
    ui_base,
)
from tests.peers.common import free_port
from tests.peers.sumologic_fake import (
    ACCESS_ID,
    ACCESS_KEY,
    RunningSumo,
    compile_query,
    message,
    running,
    token_messages,
)
from tests.providers.conftest import Sleeps

START = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
END = START + timedelta(hours=1)


@pytest.fixture(scope="module")
def server() -> Iterator[RunningSumo]:
    with running() as fake:
        yield fake


@pytest.fixture
def fake(server: RunningSumo) -> RunningSumo:
    server.state.clear()
    return server


@pytest.fixture
def make(fake: RunningSumo, sleeps: Sleeps) -> Callable[..., SumoLogicProvider]:
    def build(options: dict[str, Any] | None = None, **settings: Any) -> SumoLogicProvider:
        values = {"access_id": ACCESS_ID, "access_key": ACCESS_KEY, "base_url": fake.api_url, **settings}
        knobs = {"sleep": sleeps, "request_timeout": 2.0, "job_poll_interval": 1.0, **(options or {})}
        return SumoLogicProvider(SumoLogicSettings(**values), SumoLogicOptions(**knobs))

    return build


async def collect(provider: SumoLogicProvider, **query: Any) -> list[Record]:
    spec: dict[str, Any] = {"start": START, "end": END, **query}
    return [record async for record in provider.search(Query(**spec))]


def assert_jobs_deleted(fake: RunningSumo) -> None:
    created = set(fake.state.jobs)
    assert created, "no search job was created"
    assert fake.deleted == created
    assert fake.active == set()


# --------------------------------------------------------------------------- settings and helpers


def test_settings_schema_lists_deployments_and_flags_the_key() -> None:
    schema = SumoLogicSettings.model_json_schema()
    props = schema["properties"]
    assert props["access_id"]["title"] == "Access ID"
    assert props["access_key"]["title"] == "Access Key"
    assert props["access_key"]["secret"] is True
    assert props["deployment"]["default"] == "us1"
    assert props["deployment"]["enum"] == [
        "us1",
        "us2",
        "eu",
        "au",
        "ca",
        "de",
        "jp",
        "in",
        "kr",
        "ch",
        "fed",
    ]
    assert props["error_filter"]["default"] == (
        "(error OR exception OR fail* OR traceback OR *Error OR *Exception)"
    )
    assert SumoLogicSettings.secret_field_names() == ["access_key"]


def test_settings_reject_unknown_deployment_and_bad_url() -> None:
    with pytest.raises(ValueError):
        SumoLogicSettings(access_id="a", access_key="k", deployment="mars")
    with pytest.raises(ValueError):
        SumoLogicSettings(access_id="a", access_key="k", base_url="ftp://x")


@pytest.mark.parametrize(
    ("deployment", "api", "ui"),
    [
        ("us1", "https://api.sumologic.com/api", "https://service.sumologic.com"),
        ("eu", "https://api.eu.sumologic.com/api", "https://service.eu.sumologic.com"),
        ("fed", "https://api.fed.sumologic.com/api", "https://service.fed.sumologic.com"),
    ],
)
def test_deployment_addresses(deployment: str, api: str, ui: str) -> None:
    settings = SumoLogicSettings(access_id="a", access_key="k", deployment=deployment)
    assert api_base(settings) == api
    assert ui_base(settings) == ui


def test_base_url_wins_over_deployment() -> None:
    settings = SumoLogicSettings(
        access_id="a", access_key="k", deployment="eu", base_url="https://api.jp.sumologic.com/api/"
    )
    assert api_base(settings) == "https://api.jp.sumologic.com/api"
    assert ui_base(settings) == "https://service.jp.sumologic.com"
    proxied = settings.model_copy(update={"base_url": "https://proxy.internal/sumo"})
    assert ui_base(proxied) == "https://service.eu.sumologic.com"


def test_deployment_of_location() -> None:
    assert deployment_of("https://api.sumologic.com/api/v1/search/jobs") == "us1"
    assert deployment_of("https://api.kr.sumologic.com/api/v1/search/jobs") == "kr"
    assert deployment_of("https://api.evil.example/api") is None


def test_build_query() -> None:
    one = Query(start=START, end=END, token="abc.123")
    assert build_query(one, "(error OR exception OR fail*)") == (
        '"openReplaySessionToken=abc.123" AND ((error OR exception OR fail*))'
    )
    anyone = Query(start=START, end=END, errors_only=False)
    assert build_query(anyone, "x") == '"openReplaySessionToken="'
    odd = Query(start=START, end=END, token='a"b', errors_only=False)
    assert build_query(odd, "x") == '"openReplaySessionToken=a\\"b"'


def test_fake_query_subset() -> None:
    matches = compile_query('"openReplaySessionToken=t1" AND ((error OR exception OR fail*))')
    assert matches("[openReplaySessionToken=t1] Payment FAILED")
    assert matches("ERROR [openReplaySessionToken=t1] boom")
    assert not matches("INFO [openReplaySessionToken=t1] fine")
    assert not matches("ERROR [openReplaySessionToken=t2] boom")
    assert compile_query("a NOT b")("a c") and not compile_query("a NOT b")("a b")


# --------------------------------------------------------------------------- check()


async def test_check_creates_and_deletes_one_job(fake: RunningSumo, make: Callable[..., Any]) -> None:
    await make().check()
    assert len(fake.state.jobs) == 1
    assert_jobs_deleted(fake)
    created = fake.state.requests_to("POST")[0]["body"]
    assert created["timeZone"] == "UTC" and created["byReceiptTime"] is False
    assert 60_000 <= int(created["to"]) - int(created["from"]) <= 60_001


async def test_check_wrong_key_is_auth_error(make: Callable[..., Any]) -> None:
    with pytest.raises(AuthError) as caught:
        await make(access_key="wrong-key-0123456789").check()
    assert "access_id" in str(caught.value) and "access_key" in str(caught.value)
    assert caught.value.field == "access_key"
    assert "wrong-key-0123456789" not in str(caught.value) + repr(caught.value)


async def test_check_forbidden_is_permission_error(fake: RunningSumo, make: Callable[..., Any]) -> None:
    fake.state.forbidden = True
    with pytest.raises(ProviderPermissionError) as caught:
        await make().check()
    assert "not allowed for your account type" in str(caught.value)
    assert caught.value.kind == "permission"


async def test_check_wrong_deployment_names_the_right_one(
    fake: RunningSumo, make: Callable[..., Any]
) -> None:
    fake.state.moved_to = "eu"
    with pytest.raises(ProviderError) as caught:
        await make().check()
    assert str(caught.value) == "Your account is on deployment 'eu'; set deployment to eu and clear base_url."
    assert caught.value.field == "deployment"


async def test_check_wrong_deployment_without_base_url(make: Callable[..., Any]) -> None:
    seen: list[str] = []

    def moved(request: httpx.Request) -> httpx.Response:
        seen.append(str(request.url))
        return httpx.Response(301, headers={"Location": "https://api.eu.sumologic.com/api/v1/search/jobs"})

    provider = make(base_url=None, options={"transport_factory": lambda verify: httpx.MockTransport(moved)})
    with pytest.raises(ProviderError) as caught:
        await provider.check()
    assert str(caught.value) == "Your account is on deployment 'eu'; set deployment to eu."
    assert seen == ["https://api.sumologic.com/api/v1/search/jobs"]


async def test_check_redirect_elsewhere_asks_for_base_url(make: Callable[..., Any]) -> None:
    def moved(request: httpx.Request) -> httpx.Response:
        return httpx.Response(301, headers={"Location": "https://sumo.example.org/api/v1/search/jobs"})

    provider = make(options={"transport_factory": lambda verify: httpx.MockTransport(moved)})
    with pytest.raises(ProviderError, match=re.escape("sumo.example.org; set base_url")) as caught:
        await provider.check()
    assert caught.value.field == "base_url"


async def test_check_wrong_path_is_not_found(fake: RunningSumo, make: Callable[..., Any]) -> None:
    with pytest.raises(NotFound) as caught:
        await make(base_url=fake.url + "/nope").check()
    assert caught.value.field == "base_url"


async def test_check_bad_error_filter_names_the_field(fake: RunningSumo, make: Callable[..., Any]) -> None:
    with pytest.raises(ProviderError, match="Unable to parse query") as caught:
        await make(error_filter="(error OR").check()
    assert caught.value.field == "error_filter"
    assert fake.state.jobs == {}


async def test_check_unreachable(make: Callable[..., Any]) -> None:
    provider = make(base_url=f"http://127.0.0.1:{free_port()}/api", options={"max_retries": 1})
    with pytest.raises(Unreachable) as caught:
        await provider.check()
    assert caught.value.field == "base_url"


# --------------------------------------------------------------------------- search()


async def test_search_pages_and_maps_records(fake: RunningSumo, make: Callable[..., Any]) -> None:
    fake.state.add_records(token_messages(30, START, tokens=["tokA"], step_ms=1000))
    records = await collect(make(), token="tokA", errors_only=False, page_size=7)

    assert len(records) == 30
    pages = fake.state.requests_to("GET", "/messages")
    assert [(p["query"]["offset"], p["query"]["limit"]) for p in pages] == [
        ("0", "7"),
        ("7", "7"),
        ("14", "7"),
        ("21", "7"),
        ("28", "7"),
    ]
    assert records[0].timestamp == START + timedelta(seconds=29)  # Sumo returns the newest first
    first = records[1]
    assert first.timestamp == START + timedelta(seconds=28)
    assert first.provider_id.startswith("-92233720368547")
    assert first.message.endswith("payment failed #28")
    assert (first.level, first.host, first.service) == ("error", "web-1", "prod/checkout")
    assert first.attributes["_collector"] == "checkout-collector"
    assert "_raw" not in first.attributes
    assert first.link is not None
    assert first.link.startswith(
        "https://service.sumologic.com/ui/#/search/create?query=%22openReplaySession"
    )
    assert "startTime=" in first.link
    assert {r.level for r in records} == {"error", "info"}
    assert len({r.provider_id for r in records}) == 30
    assert_jobs_deleted(fake)


async def test_page_size_is_capped_at_ten_thousand(fake: RunningSumo, make: Callable[..., Any]) -> None:
    fake.state.add_records(token_messages(3, START, tokens=["t"]))
    assert len(await collect(make(), token="t", page_size=50_000)) == 2
    assert fake.state.requests_to("GET", "/messages")[0]["query"]["limit"] == "10000"


async def test_state_progression_polls_with_interval(
    fake: RunningSumo, make: Callable[..., Any], sleeps: Sleeps
) -> None:
    fake.state.polls_to_done = 4
    fake.state.add_records(token_messages(3, START, tokens=["t"]))
    await collect(make(options={"job_poll_interval": 2.5}), token="t")
    job_id = next(iter(fake.state.jobs))
    assert len(fake.state.requests_to("GET", f"/jobs/{job_id}")) - 1 == 4  # minus the messages page
    assert sleeps.waits == [2.5, 2.5, 2.5]


async def test_default_polling_starts_fast_and_backs_off_to_two_seconds(
    fake: RunningSumo, make: Callable[..., Any], sleeps: Sleeps
) -> None:
    fake.state.polls_to_done = 7
    fake.state.add_records(token_messages(3, START, tokens=["t"]))
    assert len(await collect(make(options={"job_poll_interval": None}), token="t")) == 2
    assert sleeps.waits == [0.25, 0.375, 0.5625, 0.84375, 1.265625, 1.8984375]  # x1.5 from 0.25 s


async def test_adaptive_polling_sees_a_timed_job_done_soon_after_it_finishes(
    fake: RunningSumo, make: Callable[..., Any], sleeps: Sleeps
) -> None:
    """A job that takes 0.6 s (the fake's clock moved by each wait) is polled at 0, 0.25, 0.625 s."""

    async def clock_sleep(seconds: float) -> None:
        await sleeps(seconds)
        fake.state.advance(seconds)

    fake.state.seconds_to_done = 0.6
    fake.state.add_records(token_messages(4, START, tokens=["t"]))
    provider = make(options={"job_poll_interval": None, "sleep": clock_sleep})
    assert len(await collect(provider, token="t")) == 3
    assert sleeps.waits == [0.25, 0.375]
    job_id = next(iter(fake.state.jobs))
    assert len(fake.state.requests_to("GET", f"/jobs/{job_id}")) - 1 == 3  # minus the messages page


async def test_adaptive_polling_keeps_the_job_timeout(
    fake: RunningSumo, make: Callable[..., Any], sleeps: Sleeps
) -> None:
    fake.state.polls_to_done = 1000
    provider = make(options={"job_poll_interval": None, "job_timeout": 9.0})
    with pytest.raises(Unreachable, match="did not finish the search within 9 s"):
        await collect(provider, token="t")
    assert sleeps.waits == [0.25, 0.375, 0.5625, 0.84375, 1.265625, 1.8984375, 2.0, 2.0]  # 9.2 s
    assert_jobs_deleted(fake)


async def test_window_start_inclusive_end_exclusive(fake: RunningSumo, make: Callable[..., Any]) -> None:
    at = {
        "before": START - timedelta(milliseconds=1),
        "start": START,
        "last": END - timedelta(milliseconds=1),
    }
    at["end"] = END
    fake.state.add_records(
        [message(f"ERROR [openReplaySessionToken=w] {name}", moment) for name, moment in at.items()]
    )
    records = await collect(make(), token="w")
    assert sorted(r.message.rsplit(" ", 1)[1] for r in records) == ["last", "start"]
    body = fake.state.requests_to("POST")[0]["body"]
    assert (int(body["from"]), int(body["to"])) == (1772366400000, 1772370000000)


async def test_one_token_or_any(fake: RunningSumo, make: Callable[..., Any]) -> None:
    fake.state.add_records(token_messages(12, START, tokens=["one", "two", "three"]))
    fake.state.add_records([message("ERROR no marker here", START)])
    provider = make()
    assert {r.message.split("=")[1].split("]")[0] for r in await collect(provider, token="two")} == {"two"}
    every = await collect(provider, token=None, errors_only=False)
    assert len(every) == 12
    assert fake.state.requests_to("POST")[-1]["body"]["query"] == '"openReplaySessionToken="'


async def test_errors_only_or_all_levels(fake: RunningSumo, make: Callable[..., Any]) -> None:
    fake.state.add_records(
        [
            message("INFO [openReplaySessionToken=e] checkout ok", START),
            message("[openReplaySessionToken=e] upstream call failed", START),
            message('{"level": "warn", "msg": "[openReplaySessionToken=e] slow exception path"}', START),
            message("[openReplaySessionToken=e] everything fine", START),
        ]
    )
    provider = make()
    errors = await collect(provider, token="e")
    assert sorted(r.message for r in errors) == sorted(
        [
            "[openReplaySessionToken=e] upstream call failed",
            '{"level": "warn", "msg": "[openReplaySessionToken=e] slow exception path"}',
        ]
    )
    levels = {r.message: r.level for r in await collect(provider, token="e", errors_only=False)}
    assert levels == {
        "INFO [openReplaySessionToken=e] checkout ok": "info",
        "[openReplaySessionToken=e] upstream call failed": "error",
        '{"level": "warn", "msg": "[openReplaySessionToken=e] slow exception path"}': "warning",
        "[openReplaySessionToken=e] everything fine": "info",
    }


async def test_json_and_exception_records(fake: RunningSumo, make: Callable[..., Any]) -> None:
    traceback = (
        "Traceback (most recent call last):\n"
        '  File "app.py", line 3, in <module>\n'
        "[openReplaySessionToken=x] ValueError: [openReplaySessionToken=x] bad amount"
    )
    fake.state.add_records(
        [
            message(traceback, START),
            message('{"level": "error", "message": "declined [openReplaySessionToken=x]", "user": 7}', START),
        ]
    )
    records = {r.message[:1]: r for r in await collect(make(), token=None, errors_only=False)}
    exc = records["T"]
    assert exc.exception_type == "ValueError"
    assert exc.title == "ValueError: [openReplaySessionToken=x] bad amount"
    assert exc.level == "error"
    data = records["{"]
    assert data.attributes["json"]["user"] == 7
    assert (data.title, data.level) == ("declined [openReplaySessionToken=x]", "error")
    assert "openReplaySessionToken%3Dx" in (data.link or "")


async def test_missing_message_id_gets_a_stable_content_hash(
    fake: RunningSumo, make: Callable[..., Any]
) -> None:
    item = message("ERROR [openReplaySessionToken=h] boom", START)
    del item["_messageid"]
    fake.state.add_records([item])
    first = await collect(make(), token="h")
    again = await collect(make(), token="h")
    assert first[0].provider_id == again[0].provider_id
    assert first[0].provider_id.startswith("sha256:")


async def test_limit_stops_early_and_deletes(fake: RunningSumo, make: Callable[..., Any]) -> None:
    fake.state.add_records(token_messages(30, START, tokens=["l"]))
    assert len(await collect(make(), token="l", errors_only=False, limit=4, page_size=3)) == 4
    assert len(fake.state.requests_to("GET", "/messages")) == 2
    assert_jobs_deleted(fake)


async def test_two_searches_at_once_keep_their_own_cookies(
    fake: RunningSumo, make: Callable[..., Any]
) -> None:
    fake.state.add_records(token_messages(20, START, tokens=["p", "q"]))
    provider = make()
    p, q = await asyncio.gather(collect(provider, token="p"), collect(provider, token="q"))
    assert (len(p), len(q)) == (7, 7)
    assert_jobs_deleted(fake)


# --------------------------------------------------------------------------- the job is always deleted


async def test_job_deleted_when_consumer_stops_early(fake: RunningSumo, make: Callable[..., Any]) -> None:
    fake.state.add_records(token_messages(10, START, tokens=["b"]))
    async with aclosing(make().search(Query(start=START, end=END, token="b"))) as records:
        async for _ in records:
            break
    assert_jobs_deleted(fake)


async def test_job_deleted_when_an_abandoned_generator_is_finalized(
    fake: RunningSumo, make: Callable[..., Any]
) -> None:
    fake.state.add_records(token_messages(10, START, tokens=["g"]))
    records = make().search(Query(start=START, end=END, token="g"))
    async for _ in records:
        break
    del records  # asyncio's async-generator finalizer now schedules aclose()
    for _ in range(200):
        if fake.deleted:
            break
        await asyncio.sleep(0.01)
    assert_jobs_deleted(fake)


async def test_pending_errors_raise_with_sumo_message(fake: RunningSumo, make: Callable[..., Any]) -> None:
    fake.state.pending_error = "Field 'fail' not found."
    with pytest.raises(
        ProviderError, match=re.escape("(Field 'fail' not found.); check error_filter.")
    ) as caught:
        await collect(make(), token="t")
    assert caught.value.field == "error_filter"
    assert_jobs_deleted(fake)


@pytest.mark.parametrize(("state", "words"), [("CANCELLED", "cancelled"), ("FORCE PAUSED", "narrow")])
async def test_stopped_job_raises_and_is_deleted(
    fake: RunningSumo, make: Callable[..., Any], state: str, words: str
) -> None:
    fake.state.final_state = state
    with pytest.raises(ProviderError, match=words):
        await collect(make(), token="t")
    assert_jobs_deleted(fake)


async def test_job_timeout(fake: RunningSumo, make: Callable[..., Any], sleeps: Sleeps) -> None:
    fake.state.polls_to_done = 1000
    provider = make(options={"job_poll_interval": 2.0, "job_timeout": 9.0})
    with pytest.raises(Unreachable, match="did not finish the search within 9 s"):
        await collect(provider, token="t")
    assert sleeps.waits == [2.0] * 5
    assert_jobs_deleted(fake)


async def test_idle_job_is_dropped_between_pages(fake: RunningSumo, make: Callable[..., Any]) -> None:
    fake.state.add_records(token_messages(6, START, tokens=["i"]))
    seen = 0
    with pytest.raises(ProviderError, match="dropped the search job"):
        async for _ in make().search(Query(start=START, end=END, token="i", errors_only=False, page_size=2)):
            seen += 1
            if seen == 2:
                fake.state.advance(31)
    assert seen == 2
    assert len(fake.state.requests_to("DELETE")) == 1


# --------------------------------------------------------------------------- transport faults


async def test_cookies_are_required(fake: RunningSumo, make: Callable[..., Any]) -> None:
    fake.state.add_records(token_messages(3, START, tokens=["c"]))
    assert len(await collect(make(), token="c")) == 2
    job_id = next(iter(fake.state.jobs))
    cookie = fake.state.requests_to("GET", "/messages")[0]["headers"]["cookie"]
    assert "JSESSIONID=" in cookie and "AWSALB=" in cookie
    assert job_id in fake.deleted
    async with httpx.AsyncClient(auth=(ACCESS_ID, ACCESS_KEY), base_url=fake.api_url) as bare:
        created = await bare.post("/v1/search/jobs", json={"query": "x", "from": 0, "to": 1})
        assert created.status_code == 400  # timeZone is required
        created = await bare.post(
            "/v1/search/jobs", json={"query": "x", "from": 0, "to": 1, "timeZone": "UTC"}
        )
        assert created.status_code == 202
        assert set(created.json()) == {"id", "link"}
        status_path = f"/v1/search/jobs/{created.json()['id']}"
        assert (await bare.get(status_path)).status_code == 200
        bare.cookies.clear()
        assert (await bare.get(status_path)).status_code == 404


async def test_short_rate_limit_is_waited_out(
    fake: RunningSumo, make: Callable[..., Any], sleeps: Sleeps
) -> None:
    fake.state.add_records(token_messages(3, START, tokens=["r"]))
    fake.state.inject("429", retry_after=3, path_contains="/messages")
    fake.state.inject("429", retry_after=0)  # no Retry-After header, as Sumo sends
    assert len(await collect(make(), token="r")) == 2
    assert 3.0 in sleeps.waits and 1.0 in sleeps.waits
    assert_jobs_deleted(fake)


async def test_long_rate_limit_is_raised(fake: RunningSumo, make: Callable[..., Any]) -> None:
    fake.state.add_records(token_messages(3, START, tokens=["r"]))
    fake.state.inject("429", retry_after=120, path_contains="/messages")
    with pytest.raises(RateLimited) as caught:
        await collect(make(), token="r")
    assert caught.value.retry_after == 120
    assert_jobs_deleted(fake)


async def test_server_errors_are_retried(fake: RunningSumo, make: Callable[..., Any], sleeps: Sleeps) -> None:
    fake.state.add_records(token_messages(3, START, tokens=["s"]))
    fake.state.inject("500", times=2)
    assert len(await collect(make(), token="s")) == 2
    assert len(sleeps.waits) >= 2
    assert_jobs_deleted(fake)


async def test_persistent_server_error_raises(fake: RunningSumo, make: Callable[..., Any]) -> None:
    fake.state.add_records(token_messages(3, START, tokens=["s"]))
    fake.state.inject("500", times=10, path_contains="/messages")
    with pytest.raises(ProviderError, match="HTTP 500 after 4 attempts: Internal server error"):
        await collect(make(), token="s")
    assert_jobs_deleted(fake)


async def test_request_timeout(fake: RunningSumo, make: Callable[..., Any]) -> None:
    fake.state.add_records(token_messages(3, START, tokens=["s"]))
    fake.state.inject("slow", times=2, delay=1.0, path_contains="/messages")
    provider = make(options={"request_timeout": 0.2, "max_retries": 1})
    with pytest.raises(Unreachable, match=re.escape("did not answer within 0.2 s")):
        await collect(provider, token="s")
    assert_jobs_deleted(fake)


@pytest.mark.parametrize("kind", ["bad_json", "truncated"])
async def test_bad_json_is_a_provider_error(fake: RunningSumo, make: Callable[..., Any], kind: str) -> None:
    fake.state.add_records(token_messages(3, START, tokens=["j"]))
    fake.state.inject(kind, path_contains="/messages")
    with pytest.raises(ProviderError, match="not valid JSON"):
        await collect(make(), token="j")
    assert_jobs_deleted(fake)


async def test_overstated_message_count_stops_on_empty_page(
    fake: RunningSumo, make: Callable[..., Any]
) -> None:
    fake.state.polls_to_done = 1
    fake.state.add_records(token_messages(3, START, tokens=["e"]))
    fake.state.inject("endless_cursor", path_contains="/jobs/")  # status claims a million more
    assert len(await collect(make(), token="e", errors_only=False)) == 3
    assert len(fake.state.requests_to("GET", "/messages")) == 2
    assert_jobs_deleted(fake)


@pytest.mark.parametrize(
    ("create", "status", "page", "words"),
    [
        ([], {}, {}, "unexpected job"),
        ({"id": ""}, {}, {}, "without an id"),
        ({"id": "J"}, ["x"], {}, "unexpected job status"),
        ({"id": "J"}, {"state": "DONE GATHERING RESULTS"}, {}, "without a message count"),
        (
            {"id": "J"},
            {"state": "DONE GATHERING RESULTS", "messageCount": 1},
            {"fields": []},
            "without messages",
        ),
        ({"id": "J"}, {"state": "DONE GATHERING RESULTS", "messageCount": 1}, [], "unexpected message page"),
    ],
)
async def test_malformed_answers_are_provider_errors(
    make: Callable[..., Any], create: Any, status: Any, page: Any, words: str
) -> None:
    deleted: list[str] = []

    def answer(request: httpx.Request) -> httpx.Response:
        if request.method == "DELETE":
            deleted.append(request.url.path)
            return httpx.Response(200, json={"id": "J"})
        body = create if request.method == "POST" else page if "messages" in request.url.path else status
        return httpx.Response(202 if request.method == "POST" else 200, json=body)

    provider = make(options={"transport_factory": lambda verify: httpx.MockTransport(answer)})
    with pytest.raises(ProviderError, match=words):
        await collect(provider, token="m")
    assert deleted == ([] if words in ("unexpected job", "without an id") else ["/api/v1/search/jobs/J"])


async def test_odd_message_items_are_skipped(make: Callable[..., Any]) -> None:
    def answer(request: httpx.Request) -> httpx.Response:
        if request.method == "POST":
            return httpx.Response(202, json={"id": "J"})
        if "messages" in request.url.path:
            return httpx.Response(200, json={"messages": [None, {"map": "x"}, {"map": {"_raw": "no time"}}]})
        return httpx.Response(200, json={"state": "DONE GATHERING RESULTS", "messageCount": 3})

    provider = make(options={"transport_factory": lambda verify: httpx.MockTransport(answer)})
    assert await collect(provider, token="o") == []


# --------------------------------------------------------------------------- secrets


async def test_no_secret_in_messages_reprs_or_logs(
    fake: RunningSumo, make: Callable[..., Any], caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    provider = make()
    wrong = make(access_key="another-key-entirely")
    texts = [repr(provider), repr(provider.settings), str(provider.settings.model_dump())]
    scenarios: list[tuple[SumoLogicProvider, Callable[[], None]]] = [
        (wrong, lambda: None),
        (provider, lambda: setattr(fake.state, "forbidden", True)),
        (provider, lambda: setattr(fake.state, "moved_to", "de")),
        (provider, lambda: fake.state.inject("500", times=10)),
        (provider, lambda: fake.state.inject("429", retry_after=500)),
        (provider, lambda: setattr(fake.state, "pending_error", f"bad query with {ACCESS_KEY}")),
    ]
    for chosen, setup in scenarios:
        fake.state.clear()
        setup()
        with pytest.raises(ProviderError) as caught:
            await collect(chosen, token="z")
        texts += [str(caught.value), repr(caught.value)]
    texts.append(caplog.text)
    for text in texts:
        assert ACCESS_KEY not in text
        assert "another-key-entirely" not in text
    assert "bad query with ********" in texts[-3]
