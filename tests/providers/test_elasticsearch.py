"""Elasticsearch / OpenSearch provider.

OpenSearch behaviour runs against osmem-server; Elasticsearch-only behaviour (``_pit``, auth, 429,
the ``_id`` sort refusal) against the facade in tests/peers/elasticsearch_fake.py.
"""

from __future__ import annotations

import base64
import dataclasses
import io
import json
import logging
import traceback
from collections.abc import AsyncGenerator, Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, cast
from urllib.parse import urlsplit

import httpx
import pytest
from osmem_server import OsmemServer
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
from replaylink.providers.elasticsearch import (
    ES_PIT,
    NO_PIT,
    OPENSEARCH_PIT,
    ElasticsearchProvider,
    ElasticsearchSettings,
    Plan,
    get_path,
    paging_plan,
    without_path,
)
from tests.peers.common import free_port, serve
from tests.peers.elasticsearch_fake import EsFakeState, make_app, self_signed_cert, serve_tls
from tests.peers.osmem_peer import (
    ECS_LOGS_MAPPING,
    KIBANA_LOGS_MAPPING,
    OsmemCluster,
    fresh_cluster,
    running_osmem,
)

KEY_ID = "eQWAIG0Bo0VqB8HXFH9-"
API_KEY = "dZ5ycVRJTU-5UW_RYfi1_w"
ENCODED = base64.b64encode(f"{KEY_ID}:{API_KEY}".encode()).decode()
PASSWORD = "hunter2-very-secret"
SECRETS = (API_KEY, ENCODED, PASSWORD)
ES_AUTH = {"api_key_id": KEY_ID, "api_key": API_KEY}
TOKEN = "s1.AbC9"
T0 = datetime(2026, 1, 1, tzinfo=UTC)
WINDOW = (T0, T0 + timedelta(hours=1))


def at(ms: int) -> str:
    return (T0 + timedelta(milliseconds=ms)).isoformat().replace("+00:00", "Z")


def doc(ms: int, message: str, tags: tuple[str, ...] = ("error",), **extra: Any) -> dict[str, Any]:
    return {"utc_time": at(ms), "message": message, "tags": list(tags), **extra}


def marked(ms: int, token: str = TOKEN, text: str = "boom", **extra: Any) -> dict[str, Any]:
    return doc(ms, f"[openReplaySessionToken={token}] {text}", **extra)


def seed_snippet_output(token: str) -> list[str]:
    """What the seed's monkey-patched stream writes for a print and an exception (its exact logic)."""
    out = io.StringIO()

    class F:
        def write(self, x: str) -> None:
            if token is not None and x != "\n":
                out.write(f"[openReplaySessionToken={token}] {x}")
            else:
                out.write(x)

        def flush(self) -> None:
            pass

    print("payment failed", file=F())
    try:
        raise ValueError("card declined")
    except ValueError as exc:
        value = type(exc)(f"[openReplaySessionToken={token}] " + str(exc))
        traceback.print_exception(type(value), value, exc.__traceback__, file=F())
    return out.getvalue().splitlines()


# --------------------------------------------------------------------------- fixtures


class Recorder(httpx.AsyncBaseTransport):
    """A real transport that remembers (method, path, JSON body) of every request."""

    def __init__(self, verify: Any) -> None:
        self.inner = httpx.AsyncHTTPTransport(verify=verify)
        self.requests: list[tuple[str, str, Any]] = []

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        body = json.loads(request.content) if request.content else None
        self.requests.append((request.method, request.url.path, body))
        return await self.inner.handle_async_request(request)

    async def aclose(self) -> None:
        await self.inner.aclose()

    def paths(self, method: str = "POST") -> list[str]:
        return [path for m, path, _ in self.requests if m == method]

    def searches(self) -> list[Any]:
        return [body for _, path, body in self.requests if path.endswith("_search")]


@pytest.fixture
def sleeps() -> list[float]:
    return []


@pytest.fixture
def recorder() -> list[Recorder]:
    return []


@pytest.fixture
def options(sleeps: list[float], recorder: list[Recorder]) -> ProviderOptions:
    async def sleep(seconds: float) -> None:
        sleeps.append(seconds)

    def transport(verify: Any) -> Recorder:
        recorder.append(Recorder(verify))
        return recorder[-1]

    # A timeout no healthy answer misses on a loaded machine; test_timeout sets its own short one.
    return ProviderOptions(sleep=sleep, request_timeout=5.0, max_retries=2, transport_factory=transport)


@pytest.fixture(scope="module")
def osmem_base() -> Iterator[OsmemServer]:
    with running_osmem() as server:
        yield server


@pytest.fixture
def cluster(osmem_base: OsmemServer) -> Iterator[OsmemCluster]:
    with fresh_cluster(osmem_base) as fresh:
        fresh.create_index("app-logs", KIBANA_LOGS_MAPPING)
        yield fresh


@pytest.fixture
def es(cluster: OsmemCluster) -> Iterator[tuple[EsFakeState, str]]:
    """An Elasticsearch 8 facade over ``cluster`` that wants the seed's API key."""
    state = EsFakeState(backend=cluster.url, api_keys={KEY_ID: API_KEY}, users={"elastic": PASSWORD})
    with serve(make_app(state)) as url:
        yield state, url


Make = Callable[..., ElasticsearchProvider]


@pytest.fixture
def make(options: ProviderOptions) -> Make:
    """Build a provider for ``host``; tests close it with ``async with`` (or :func:`collect`)."""

    def build(host: str, **fields: Any) -> ElasticsearchProvider:
        return ElasticsearchProvider(ElasticsearchSettings(host=host, **fields), options)

    return build


@pytest.fixture
def es_provider(es: tuple[EsFakeState, str], make: Make) -> ElasticsearchProvider:
    return make(es[1], **ES_AUTH)


async def collect(provider: ElasticsearchProvider, **query: Any) -> list[Record]:
    window = {"start": WINDOW[0], "end": WINDOW[1], "token": TOKEN, **query}
    async with provider:
        return [record async for record in provider.search(Query(**window))]


def assert_clean(*texts: str) -> None:
    for text in texts:
        for secret in SECRETS:
            assert secret not in text


# --------------------------------------------------------------------------- settings


def test_the_seed_field_names_are_accepted() -> None:
    """Seed 004: "Put your host address, port, id and api_key": ``id`` is the API key's id."""
    seeded = ElasticsearchSettings.model_validate(
        {"host": "es.example.com", "port": 9243, "id": KEY_ID, "api_key": API_KEY}
    )
    assert (seeded.port, seeded.api_key_id, seeded.authorization()) == (9243, KEY_ID, f"ApiKey {ENCODED}")
    stored = seeded.model_dump(mode="json") | {"api_key": API_KEY}
    assert "id" not in stored and stored["api_key_id"] == KEY_ID
    updated = ElasticsearchSettings.model_validate(stored | {"id": "another-id"})  # an update's merge
    assert updated.api_key_id == "another-id"


def test_registry_and_seed_defaults() -> None:
    assert get("elasticsearch") is ElasticsearchProvider
    assert (ElasticsearchProvider.name, ElasticsearchProvider.label) == ("elasticsearch", "Elasticsearch")
    settings = ElasticsearchSettings(host="es.example.com", api_key_id=KEY_ID, api_key=API_KEY)
    assert (settings.port, settings.indexes, settings.message_field, settings.timestamp_field) == (
        9200,
        "*log*",
        "message",
        "utc_time",
    )
    assert (settings.error_field, settings.error_values, settings.verify_tls) == ("tags", ["error"], True)
    schema = ElasticsearchSettings.model_json_schema()["properties"]
    assert schema["host"]["title"] == "Host"
    assert schema["api_key_id"]["title"] == "API key id"
    assert ElasticsearchSettings.secret_field_names() == ["api_key", "encoded_api_key", "password"]
    assert API_KEY not in repr(settings) and API_KEY not in str(settings.model_dump())


@pytest.mark.parametrize(
    ("host", "port", "expected"),
    [
        ("es.example.com", 9200, "https://es.example.com:9200"),
        ("https://es.example.com", 9200, "https://es.example.com:9200"),
        ("http://10.0.0.5:9200", 9300, "http://10.0.0.5:9200"),
        ("https://abc.es.io:443/", 9200, "https://abc.es.io:443"),
        ("es.example.com:9243", 9200, "https://es.example.com:9243"),
        ("es.example.com", 9243, "https://es.example.com:9243"),
        ("https://proxy.example.com/elastic/", 9200, "https://proxy.example.com:9200/elastic"),
        ("http://[::1]", 9200, "http://[::1]:9200"),
    ],
)
def test_host_forms(host: str, port: int, expected: str) -> None:
    assert ElasticsearchSettings(host=host, port=port).base_url() == expected
    # The saved (and echoed) port is the one in use: host's own port wins.
    assert ElasticsearchSettings(host=host, port=port).port == urlsplit(expected).port


def test_echoed_port_is_the_one_in_effect() -> None:
    settings = ElasticsearchSettings(host="http://127.0.0.1:9201")
    assert settings.model_dump(mode="json")["port"] == 9201
    assert ElasticsearchSettings.model_validate(settings.model_dump()).base_url() == "http://127.0.0.1:9201"


@pytest.mark.parametrize(
    "host",
    [
        "ftp://es.example.com",
        f"https://elastic:{PASSWORD}@es.example.com",
        "https://h:99999",
        "",
        "es example.com",
    ],
)
def test_bad_host(host: str) -> None:
    with pytest.raises(ValidationError) as caught:
        ElasticsearchSettings(host=host)
    assert [error["loc"] for error in caught.value.errors()] == [("host",)]
    assert_clean(str(caught.value))


def test_indexes_are_normalised_and_escaped() -> None:
    settings = ElasticsearchSettings(host="h", indexes=" app-logs , logs-*,-.ds-old*,remote:web ")
    assert settings.indexes == "app-logs,logs-*,-.ds-old*,remote:web"
    assert settings.index_path() == "app-logs,logs-*,-.ds-old*,remote:web"


@pytest.mark.parametrize("indexes", ["Logs", "a b", "a/b", "logs#1", " , ", "_all?"])
def test_bad_indexes(indexes: str) -> None:
    with pytest.raises(ValidationError) as caught:
        ElasticsearchSettings(host="h", indexes=indexes)
    assert [error["loc"] for error in caught.value.errors()] == [("indexes",)]


@pytest.mark.parametrize(
    ("fields", "bad"),
    [
        ({"api_key_id": KEY_ID}, ["api_key"]),
        ({"api_key": API_KEY}, ["api_key_id"]),
        ({"username": "elastic"}, ["password"]),
        ({"password": PASSWORD}, ["username"]),
        ({"api_key_id": KEY_ID, "api_key": API_KEY, "encoded_api_key": ENCODED}, ["encoded_api_key"]),
        ({"encoded_api_key": ENCODED, "username": "elastic", "password": PASSWORD}, ["username"]),
        ({"encoded_api_key": "not base64 at all"}, ["encoded_api_key"]),
        ({"encoded_api_key": base64.b64encode(b"no-colon").decode()}, ["encoded_api_key"]),
        ({"ca_cert": "-----BEGIN CERTIFICATE-----\nnope\n-----END CERTIFICATE-----"}, ["ca_cert"]),
        ({"timestamp_field": "utc time"}, ["timestamp_field"]),
        ({"error_values": []}, ["error_values"]),
        ({"kibana_url": "kibana.example.com"}, ["kibana_url"]),
    ],
)
def test_settings_errors_name_the_field(fields: dict[str, Any], bad: list[str]) -> None:
    with pytest.raises(ValidationError) as caught:
        ElasticsearchSettings(host="h", **fields)
    assert [error["loc"][0] for error in caught.value.errors()] == bad
    assert_clean(str(caught.value), repr(caught.value.errors()))


@pytest.mark.parametrize(
    "fields",
    [
        {},
        {"api_key_id": KEY_ID, "api_key": API_KEY},
        {"encoded_api_key": ENCODED},
        {"username": "elastic", "password": PASSWORD},
        {"api_key_id": "", "api_key": "", "username": " ", "kibana_url": "", "ca_cert": ""},
    ],
)
def test_one_auth_method_or_none(fields: dict[str, Any]) -> None:
    ElasticsearchSettings(host="h", **fields)


@pytest.mark.parametrize(
    ("root", "plan"),
    [
        ({"version": {"number": "9.1.0", "build_flavor": "default"}}, Plan(ES_PIT, "_shard_doc")),
        ({"version": {"number": "8.15.0"}}, Plan(ES_PIT, "_shard_doc")),
        ({"version": {"number": "7.12.0"}}, Plan(ES_PIT, "_shard_doc")),
        ({"version": {"number": "7.11.2"}}, NO_PIT),
        ({"version": {"number": "6.8.23"}}, NO_PIT),
        (None, Plan(ES_PIT, "_shard_doc")),
        ({"version": {"number": "3.8.0", "distribution": "opensearch"}}, Plan(OPENSEARCH_PIT, "_shard_doc")),
        ({"version": {"number": "2.11.1", "distribution": "opensearch"}}, Plan(OPENSEARCH_PIT, "_id")),
        ({"version": {"number": "2.3.0", "distribution": "opensearch"}}, NO_PIT),
        ({"version": {"number": "7.10.2", "distribution": "opensearch"}}, Plan(OPENSEARCH_PIT, "_id")),
    ],
)
def test_paging_plan(root: Any, plan: Plan) -> None:
    assert paging_plan(root) == plan


def test_dotted_paths() -> None:
    source = {"log.level": "warn", "log": {"logger": "app"}, "a.b": {"c": 1}, "message": "m"}
    assert [get_path(source, path) for path in ("log.level", "log.logger", "a.b.c", "nope.x")] == [
        "warn",
        "app",
        1,
        None,
    ]
    assert without_path({"error": {"message": "m", "type": "T"}}, "error.message") == {"error": {"type": "T"}}
    assert without_path(source, "message") == {k: v for k, v in source.items() if k != "message"}


# --------------------------------------------------------------------------- check()


async def test_check_ok_against_opensearch(
    cluster: OsmemCluster, make: Make, recorder: list[Recorder]
) -> None:
    cluster.seed("app-logs", [marked(1)])
    async with make(cluster.url, verify_tls=False) as provider:
        await provider.check()
    assert recorder[0].paths("GET") == ["/", "/*log*/_field_caps"]


async def test_check_ok_against_elasticsearch_each_auth_method(
    es: tuple[EsFakeState, str], make: Make
) -> None:
    state, url = es
    for fields in (
        {"api_key_id": KEY_ID, "api_key": API_KEY},
        {"encoded_api_key": ENCODED},
        {"username": "elastic", "password": PASSWORD},
    ):
        async with make(url, **fields) as provider:
            await provider.check()
    headers = [request["headers"]["authorization"] for request in state.requests]
    assert headers[0] == f"ApiKey {ENCODED}" and headers[2] == f"ApiKey {ENCODED}"
    assert headers[4].startswith("Basic ")


@pytest.mark.parametrize(
    ("fields", "field", "words"),
    [
        ({"api_key_id": KEY_ID, "api_key": "wrong-key-value"}, "api_key", "api_key_id and api_key"),
        (
            {"encoded_api_key": base64.b64encode(b"x:wrong-key-value").decode()},
            "encoded_api_key",
            "encoded_api_key",
        ),
        ({"username": "elastic", "password": "wrong-password"}, "password", "username and password"),
        ({}, "api_key", "api_key_id and api_key"),
    ],
)
async def test_check_bad_credentials(
    es: tuple[EsFakeState, str], make: Make, fields: dict[str, Any], field: str, words: str
) -> None:
    with pytest.raises(AuthError) as caught:
        async with make(es[1], **fields) as provider:
            await provider.check()
    assert caught.value.field == field and words in str(caught.value)
    assert "authenticat" in str(caught.value)
    assert_clean(str(caught.value), repr(caught.value), repr(provider))


async def test_check_permission_denied(
    es: tuple[EsFakeState, str], es_provider: ElasticsearchProvider
) -> None:
    es[0].no_read.add(KEY_ID)
    with pytest.raises(ProviderPermissionError) as caught:
        async with es_provider:
            await es_provider.check()
    assert caught.value.field == "indexes"
    assert "read privilege" in str(caught.value) and "is unauthorized" in str(caught.value)


async def test_check_tolerates_missing_monitor_privilege(
    es: tuple[EsFakeState, str], es_provider: ElasticsearchProvider
) -> None:
    es[0].no_monitor.add(KEY_ID)
    async with es_provider:
        await es_provider.check()
    assert [request["path"] for request in es[0].requests] == ["/", "/*log*/_field_caps"]


@pytest.mark.parametrize("indexes", ["*nomatch*", "missing-logs"])
async def test_check_index_pattern_matches_nothing(cluster: OsmemCluster, make: Make, indexes: str) -> None:
    with pytest.raises(NotFound) as caught:
        async with make(cluster.url, indexes=indexes) as provider:
            await provider.check()
    assert caught.value.field == "indexes" and indexes in str(caught.value)


async def test_check_timestamp_field_missing(cluster: OsmemCluster, make: Make) -> None:
    with pytest.raises(ProviderError) as caught:
        async with make(cluster.url, timestamp_field="@timestamp") as provider:
            await provider.check()
    assert caught.value.field == "timestamp_field" and "'@timestamp'" in str(caught.value)


async def test_check_timestamp_field_not_a_date(cluster: OsmemCluster, make: Make) -> None:
    with pytest.raises(ProviderError) as caught:
        async with make(cluster.url, timestamp_field="message") as provider:
            await provider.check()
    assert caught.value.field == "timestamp_field" and "mapped as text" in str(caught.value)


async def test_check_names_indexes_without_the_configured_fields(cluster: OsmemCluster, make: Make) -> None:
    """The default *log* also matches an ECS index: its documents (no utc_time) would never be found."""
    cluster.create_index("ecs-logs", ECS_LOGS_MAPPING)
    with pytest.raises(ProviderError) as caught:
        async with make(cluster.url) as provider:
            await provider.check()
    message = str(caught.value)
    assert caught.value.field == "timestamp_field"
    assert "1 of the 2 indexes" in message and "ecs-logs" in message and "'utc_time'" in message
    assert "they have '@timestamp'" in message
    # Narrowed to the index whose fields match, the check passes again.
    async with make(cluster.url, indexes="app-logs") as provider:
        await provider.check()
    cluster.create_index(
        "text-logs", {"utc_time": {"type": "date"}, "log": {"properties": {"original": {"type": "text"}}}}
    )
    with pytest.raises(ProviderError) as no_message:
        async with make(cluster.url, indexes="app-logs,text-logs") as provider:
            await provider.check()
    assert no_message.value.field == "message_field" and "text-logs" in str(no_message.value)
    assert "'log.original'" in str(no_message.value)


async def test_check_unreachable(make: Make, sleeps: list[float]) -> None:
    with pytest.raises(Unreachable) as caught:
        async with make(f"http://127.0.0.1:{free_port()}") as provider:
            await provider.check()
    assert caught.value.field == "host" and len(sleeps) == 2


async def test_tls_verification(cluster: OsmemCluster, make: Make, tmp_path: Path) -> None:
    cert = self_signed_cert()
    with serve_tls(make_app(EsFakeState(backend=cluster.url)), cert, tmp_path) as url:
        with pytest.raises(Unreachable) as caught:
            async with make(url) as provider:
                await provider.check()
        assert caught.value.field == "ca_cert"
        assert "TLS verification failed" in str(caught.value)
        assert "set ca_cert" in str(caught.value) and "verify_tls" in str(caught.value)
        for fields in ({"ca_cert": cert.cert_pem}, {"verify_tls": False}):
            async with make(url, **fields) as provider:
                await provider.check()


async def test_tls_to_a_plain_http_port(es: tuple[EsFakeState, str], make: Make) -> None:
    with pytest.raises(Unreachable) as caught:
        async with make(es[1].replace("http://", "https://")) as provider:
            await provider.check()
    assert caught.value.field == "host" and "put http://" in str(caught.value)


# --------------------------------------------------------------------------- search over OpenSearch (osmem)


async def test_pages_with_opensearch_pit(cluster: OsmemCluster, make: Make, recorder: list[Recorder]) -> None:
    ids = cluster.seed("app-logs", [marked(i * 10, _id=f"d{i:02}") for i in range(23)])
    records = await collect(make(cluster.url), page_size=5)
    assert [record.provider_id for record in records] == [f"app-logs/{i}" for i in ids]
    assert [record.timestamp for record in records] == sorted(record.timestamp for record in records)
    requests = recorder[0]
    assert requests.paths() == ["/*log*/_search/point_in_time"] + ["/_search"] * 5
    assert requests.paths("DELETE") == ["/_search/point_in_time"]
    bodies = requests.searches()
    assert all(body["sort"][1] == {"_shard_doc": "asc"} and body["size"] == 5 for body in bodies)
    assert (
        "search_after" not in bodies[0]
        and bodies[1]["search_after"][0] == records[4].timestamp.timestamp() * 1000
    )
    assert cluster.open_pits() == []


async def test_equal_timestamps_across_pages(cluster: OsmemCluster, make: Make) -> None:
    cluster.seed("app-logs", [marked(5, text=f"same ms {i}") for i in range(12)] + [marked(6)])
    records = await collect(make(cluster.url), page_size=5)
    assert len({record.provider_id for record in records}) == len(records) == 13


async def test_window_edges(cluster: OsmemCluster, make: Make) -> None:
    cluster.seed("app-logs", [marked(ms, text=f"at {ms}") for ms in (99, 100, 101, 199, 200, 201)])
    start = T0 + timedelta(milliseconds=100)
    records = await collect(make(cluster.url), start=start, end=start + timedelta(milliseconds=100))
    assert [record.message.split()[-1] for record in records] == ["100", "101", "199"]
    # sub-millisecond bounds: the server compares whole ms, the provider the exact instant
    sub = timedelta(microseconds=500)
    records = await collect(
        make(cluster.url), start=start + sub, end=start + timedelta(milliseconds=100) + sub
    )
    assert [record.message.split()[-1] for record in records] == ["101", "199", "200"]
    assert await collect(make(cluster.url), start=start, end=start) == []


async def test_token_versus_any(cluster: OsmemCluster, make: Make) -> None:
    cluster.seed(
        "app-logs",
        [
            marked(1, _id="mine"),
            marked(2, token="other.Token1", _id="other"),
            marked(3, token="s1.ABC9", _id="case"),  # the analyzer folds case; tokens do not
            marked(4, token=f"{TOKEN}.x2", _id="longer"),  # "s1.AbC9.x2" is not "s1.AbC9"
            marked(5, token="s1.AbC9 no", _id="mine2"),
            doc(6, "openreplaysessiontoken was not sent", _id="word"),
            doc(7, "nothing here", _id="plain"),
        ],
    )
    mine = await collect(make(cluster.url))
    assert [record.provider_id for record in mine] == ["app-logs/mine", "app-logs/mine2"]
    anything = await collect(make(cluster.url), token=None)
    assert [record.provider_id.split("/")[1] for record in anything] == [
        "mine",
        "other",
        "case",
        "longer",
        "mine2",
    ]


async def test_errors_only_by_tags(cluster: OsmemCluster, make: Make) -> None:
    cluster.seed(
        "app-logs",
        [
            marked(1, tags=("error",)),
            marked(2, tags=("info",)),
            marked(3, tags=("web", "error")),
            marked(4, tags=()),
        ],
    )
    errors = await collect(make(cluster.url))
    assert [record.attributes["tags"] for record in errors] == [["error"], ["web", "error"]]
    assert {record.level for record in errors} == {"error"}
    everything = await collect(make(cluster.url), errors_only=False)
    assert [record.level for record in everything] == ["error", "info", "error", "info"]


async def test_errors_only_by_level_field(cluster: OsmemCluster, make: Make) -> None:
    cluster.create_index("ecs-logs", ECS_LOGS_MAPPING)
    cluster.seed(
        "ecs-logs",
        [
            {
                "@timestamp": at(i),
                "message": f"[openReplaySessionToken={TOKEN}] {level} happened",
                "log": {"level": level, "logger": "app.payments"},
                "service": {"name": "checkout"},
                "host": {"name": "web-1"},
            }
            for i, level in enumerate(["ERROR", "fatal", "warn", "info", "critical"])
        ],
    )
    provider = make(
        cluster.url,
        indexes="ecs-logs",
        timestamp_field="@timestamp",
        error_field="log.level",
        error_values=["error", "fatal", "critical"],
    )
    records = await collect(provider)
    assert [record.level for record in records] == ["error", "critical", "critical"]
    assert {(record.service, record.host, record.logger) for record in records} == {
        ("checkout", "web-1", "app.payments")
    }


async def test_seed_snippet_output_and_exception_text(cluster: OsmemCluster, make: Make) -> None:
    lines = seed_snippet_output(TOKEN)
    assert lines[0] == f"[openReplaySessionToken={TOKEN}] payment failed"
    assert any(f"ValueError: [openReplaySessionToken={TOKEN}] card declined" in line for line in lines)
    per_line = [doc(i, line, _id=f"line{i}") for i, line in enumerate(lines)]
    cluster.seed("app-logs", [*per_line, doc(50, "\n".join(lines), _id="multiline"), marked(60, token="zz9")])
    records = {record.provider_id: record for record in await collect(make(cluster.url))}
    # the traceback's source-code line is written together with its "File ..." line: no marker of its own
    marked_lines = {f"app-logs/line{i}" for i, line in enumerate(lines) if f"={TOKEN}]" in line}
    assert len(marked_lines) == len(lines) - 1
    assert set(records) == marked_lines | {"app-logs/multiline"}
    assert records["app-logs/line0"].title == lines[0]
    (last,) = [i for i, line in enumerate(lines) if "ValueError:" in line]
    for exception in (records[f"app-logs/line{last}"], records["app-logs/multiline"]):
        assert exception.exception_type == "ValueError"
        assert exception.title == f"ValueError: [openReplaySessionToken={TOKEN}] card declined"


async def test_json_log_with_token_field(cluster: OsmemCluster, make: Make) -> None:
    cluster.create_index("ecs-logs", ECS_LOGS_MAPPING)
    cluster.seed(
        "ecs-logs",
        [
            {"@timestamp": at(1), "message": "checkout failed", "openReplaySessionToken": TOKEN, "_id": "a"},
            {"@timestamp": at(2), "message": "other session", "openReplaySessionToken": "zz9", "_id": "b"},
            {
                "@timestamp": at(3),
                "message": "ZeroDivisionError: division by zero",
                "openReplaySessionToken": TOKEN,
                "error": {"type": "ZeroDivisionError", "message": "division by zero"},
                "_id": "c",
            },
        ],
    )
    fields = {"indexes": "ecs-logs", "timestamp_field": "@timestamp"}
    records = await collect(make(cluster.url, **fields), errors_only=False)
    assert [record.provider_id for record in records] == ["ecs-logs/a", "ecs-logs/c"]
    assert records[0].attributes == {"@timestamp": at(1), "openReplaySessionToken": TOKEN}
    assert records[0].message == "checkout failed" and records[0].level == "info"
    assert (records[1].exception_type, records[1].title) == (
        "ZeroDivisionError",
        "ZeroDivisionError: division by zero",
    )
    anything = await collect(make(cluster.url, **fields), errors_only=False, token=None)
    assert len(anything) == 3


async def test_record_shape_and_kibana_link(cluster: OsmemCluster, make: Make) -> None:
    cluster.seed("app-logs", [marked(1500, _id="x1", text="x" * 40_000, extra={"n": 1})])
    (plain,) = await collect(make(cluster.url))
    assert plain.link is None and plain.provider_id == "app-logs/x1"
    assert plain.timestamp == T0 + timedelta(milliseconds=1500) and plain.timestamp.tzinfo is UTC
    assert len(plain.message.encode()) <= 16 * 1024 and "message" not in plain.attributes
    assert plain.attributes["extra"] == {"n": 1}
    (linked,) = await collect(make(cluster.url, kibana_url="https://kibana.example.com/s/ops/"))
    assert linked.link is not None
    assert linked.link.startswith(
        "https://kibana.example.com/s/ops/app/discover#/?_g=(time:(from:'2025-12-31T23:59:01.500000Z',"
        "to:'2026-01-01T00:01:01.500000Z'))&_a=(query:(language:kuery,query:'"
    )
    assert "_id:%22x1%22" in linked.link and "_index:%22app-logs%22" in linked.link


async def test_limit_and_early_stop_release_the_pit(cluster: OsmemCluster, make: Make) -> None:
    cluster.seed("app-logs", [marked(i) for i in range(10)])
    assert len(await collect(make(cluster.url), limit=3, page_size=2)) == 3
    assert cluster.open_pits() == []
    async with make(cluster.url) as provider:
        records = cast(
            AsyncGenerator[Record, None], provider.search(Query(*WINDOW, token=TOKEN, page_size=4))
        )
        await anext(records)
        assert len(cluster.open_pits()) == 1
        await records.aclose()
    assert cluster.open_pits() == []


async def test_missing_index_in_search(cluster: OsmemCluster, make: Make) -> None:
    with pytest.raises(NotFound) as caught:
        await collect(make(cluster.url, indexes="missing-logs"))
    assert caught.value.field == "indexes" and "missing-logs" in str(caught.value)


# --------------------------------------------------------------------------- search over Elasticsearch (fake)


async def test_pages_with_elasticsearch_pit(
    es: tuple[EsFakeState, str], es_provider: ElasticsearchProvider, cluster: OsmemCluster
) -> None:
    state, _ = es
    cluster.seed("app-logs", [marked(i) for i in range(11)])
    records = await collect(es_provider, page_size=4)
    assert len(records) == 11
    paths = [(request["method"], request["path"]) for request in state.requests]
    assert paths == [("GET", "/"), ("POST", "/*log*/_pit"), *[("POST", "/_search")] * 3, ("DELETE", "/_pit")]
    searches = [request for request in state.requests if request["path"] == "/_search"]
    assert all(search["body"]["sort"][1] == {"_shard_doc": "asc"} for search in searches)
    assert state.requests[1]["query"] == {"keep_alive": "1m"}
    assert state.open_pits == set() and cluster.open_pits() == []


@pytest.mark.parametrize("version", ["7.9.3", "7.11.2"])
async def test_old_elasticsearch_pages_without_pit(
    es: tuple[EsFakeState, str], es_provider: ElasticsearchProvider, cluster: OsmemCluster, version: str
) -> None:
    state, _ = es
    state.version = version
    cluster.seed("app-logs", [marked(3, text=f"same ms {i}") for i in range(9)])
    records = await collect(es_provider, page_size=4)
    assert len({record.provider_id for record in records}) == 9
    assert {request["path"] for request in state.requests} == {"/", "/*log*/_search"}
    assert all(request["body"]["sort"][1] == {"_id": "asc"} for request in state.requests[1:])


async def test_pit_refused_falls_back_to_search_after(
    es: tuple[EsFakeState, str], es_provider: ElasticsearchProvider, cluster: OsmemCluster
) -> None:
    state, _ = es
    state.version, state.pit = "7.17.0", False
    cluster.seed("app-logs", [marked(i) for i in range(6)])
    assert len(await collect(es_provider, page_size=4)) == 6
    assert [request["path"] for request in state.requests] == ["/", "/*log*/_pit", *["/*log*/_search"] * 2]


async def test_unknown_version_uses_elasticsearch_pit(
    es: tuple[EsFakeState, str], es_provider: ElasticsearchProvider, cluster: OsmemCluster
) -> None:
    state, _ = es
    state.no_monitor.add(KEY_ID)
    cluster.seed("app-logs", [marked(1)])
    assert len(await collect(es_provider)) == 1
    assert [request["path"] for request in state.requests] == ["/", "/*log*/_pit", "/_search", "/_pit"]


async def test_429_is_waited_out_then_raised(
    es: tuple[EsFakeState, str], make: Make, cluster: OsmemCluster, sleeps: list[float]
) -> None:
    state, url = es
    cluster.seed("app-logs", [marked(i) for i in range(3)])
    state.inject("429", times=2, path_contains="_search")
    assert len(await collect(make(url, **ES_AUTH))) == 3
    assert sleeps == [1.0, 1.0]
    state.inject("429", times=10, path_contains="_search")
    with pytest.raises(RateLimited) as caught:
        await collect(make(url, **ES_AUTH))
    assert caught.value.retry_after == 1.0 and sleeps == [1.0] * 5
    assert state.open_pits == set()


async def test_500_is_retried_then_raised(
    es: tuple[EsFakeState, str], make: Make, cluster: OsmemCluster, sleeps: list[float]
) -> None:
    state, url = es
    cluster.seed("app-logs", [marked(i) for i in range(3)])
    state.inject("500", path_contains="_search")
    assert len(await collect(make(url, **ES_AUTH))) == 3
    assert len(sleeps) == 1
    state.inject("500", times=5, path_contains="_search")
    with pytest.raises(ProviderError, match="HTTP 500 after 3 attempts: all shards failed"):
        await collect(make(url, **ES_AUTH))
    assert state.open_pits == set()


async def test_timeout(es: tuple[EsFakeState, str], options: ProviderOptions, sleeps: list[float]) -> None:
    es[0].inject("slow", times=3, delay=0.8)
    short = dataclasses.replace(options, request_timeout=0.5)
    provider = ElasticsearchProvider(ElasticsearchSettings(host=es[1], **ES_AUTH), short)
    with pytest.raises(Unreachable) as caught:
        async with provider:
            await provider.check()
    assert caught.value.field == "host" and "did not answer within 0.5 s" in str(caught.value)
    assert len(sleeps) == 2


@pytest.mark.parametrize(
    ("fault", "words"), [("bad_json", "not valid JSON"), ("truncated", "without a list of hits")]
)
async def test_malformed_answer(
    es: tuple[EsFakeState, str],
    es_provider: ElasticsearchProvider,
    cluster: OsmemCluster,
    fault: str,
    words: str,
) -> None:
    state, _ = es
    cluster.seed("app-logs", [marked(1)])
    state.inject(fault, path_contains="_search")
    with pytest.raises(ProviderError, match=words):
        await collect(es_provider)
    assert state.open_pits == set()


async def test_search_after_ignored_is_detected(
    es: tuple[EsFakeState, str], es_provider: ElasticsearchProvider, cluster: OsmemCluster
) -> None:
    state, _ = es
    cluster.seed("app-logs", [marked(i) for i in range(5)])
    async with es_provider:
        records = es_provider.search(Query(*WINDOW, token=TOKEN, page_size=2))
        await anext(records)
        state.inject("endless_cursor", times=5, path_contains="_search")
        with pytest.raises(ProviderError, match="same page twice"):
            async for _ in records:
                pass
    assert state.open_pits == set()


async def test_elasticsearch_8_refuses_id_sort_without_pit(
    es: tuple[EsFakeState, str], es_provider: ElasticsearchProvider, cluster: OsmemCluster
) -> None:
    """A PIT-less path on ES 8 (a proxy refusing _pit) surfaces ES's own reason, not a crash."""
    state, _ = es
    state.pit = False
    cluster.seed("app-logs", [marked(1)])
    with pytest.raises(ProviderError, match="Fielddata access on the _id field is disallowed"):
        await collect(es_provider)


# --------------------------------------------------------------------------- odd answers (mock transport)


def mocked(handler: Callable[[httpx.Request], httpx.Response], sleeps: list[float]) -> ElasticsearchProvider:
    async def sleep(seconds: float) -> None:
        sleeps.append(seconds)

    options = ProviderOptions(sleep=sleep, transport_factory=lambda _verify: httpx.MockTransport(handler))
    return ElasticsearchProvider(
        ElasticsearchSettings(host="es.example.com", encoded_api_key=ENCODED), options
    )


OPENSEARCH_ROOT = {"version": {"number": "2.3.0", "distribution": "opensearch"}}


@pytest.mark.parametrize(
    ("page", "words"),
    [
        (
            {
                "_shards": {
                    "failed": 1,
                    "failures": [{"index": "app-logs", "reason": {"reason": "bad date"}}],
                },
                "hits": {"hits": []},
            },
            r"could not search index app-logs \(bad date\)",
        ),
        ({"hits": {"hits": [{"_index": "app-logs", "_source": {}}]}}, "without _index or _id"),
        (
            {"hits": {"hits": [{"_index": "a", "_id": "1", "_source": {"utc_time": "yesterday"}}]}},
            "usable 'utc_time'",
        ),
        ({"hits": {"hits": ["not a hit"]}}, "without a list of hits"),
    ],
)
async def test_odd_search_answers(page: dict[str, Any], words: str, sleeps: list[float]) -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, json=OPENSEARCH_ROOT if request.url.path == "/" else page)

    with pytest.raises(ProviderError, match=words):
        await collect(mocked(handler, sleeps))


async def test_rejected_query_names_the_field(sleeps: list[float]) -> None:
    error = {
        "error": {
            "type": "search_phase_execution_exception",
            "reason": "failed to parse date field [utc_time]",
        }
    }

    def handler(request: httpx.Request) -> httpx.Response:
        return (
            httpx.Response(200, json=OPENSEARCH_ROOT)
            if request.url.path == "/"
            else httpx.Response(400, json=error)
        )

    with pytest.raises(ProviderError) as caught:
        await collect(mocked(handler, sleeps))
    assert caught.value.field == "timestamp_field"


async def test_epoch_timestamps_and_sort_fallback(sleeps: list[float]) -> None:
    hits = [
        {
            "_index": "a",
            "_id": "ms",
            "_source": {"utc_time": 1767225600123, "message": f"openReplaySessionToken={TOKEN}"},
            "sort": [1],
        },
        {
            "_index": "a",
            "_id": "s",
            "_source": {"utc_time": "1767225601", "message": f"openReplaySessionToken={TOKEN}"},
            "sort": [2],
        },
        {
            "_index": "a",
            "_id": "sort",
            "_source": {"utc_time": "01/01/2026", "message": f"openReplaySessionToken={TOKEN}"},
            "sort": [1767225602000],
        },
    ]

    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(
            200, json=OPENSEARCH_ROOT if request.url.path == "/" else {"hits": {"hits": hits}}
        )

    records = await collect(mocked(handler, sleeps), errors_only=False)
    assert [record.timestamp - T0 for record in records] == [
        timedelta(milliseconds=123),
        timedelta(seconds=1),
        timedelta(seconds=2),
    ]


# --------------------------------------------------------------------------- secrets


async def test_no_secret_in_messages_reprs_or_logs(
    es: tuple[EsFakeState, str], make: Make, cluster: OsmemCluster, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    state, url = es
    cluster.seed("app-logs", [marked(1)])
    messages: list[str] = []
    for fields in (
        {"api_key_id": KEY_ID, "api_key": API_KEY},
        {"encoded_api_key": ENCODED},
        {"username": "elastic", "password": PASSWORD},
    ):
        provider = make(url, **fields)
        messages += [repr(provider), repr(provider.settings), str(provider.settings.model_dump())]
        assert len(await collect(provider)) == 1
        state.no_read.update({KEY_ID, "elastic"})
        with pytest.raises(ProviderError) as caught:
            await collect(make(url, **fields))
        state.no_read.clear()
        messages += [str(caught.value), repr(caught.value)]
    wrong_key = API_KEY[::-1]
    with pytest.raises(AuthError) as caught:
        await collect(make(url, api_key_id=KEY_ID, api_key=wrong_key))
    messages += [str(caught.value), repr(caught.value)]
    assert_clean(caplog.text, *messages)
    assert wrong_key not in caplog.text + "".join(messages)


@pytest.mark.parametrize("status", [401, 403, 500])
@pytest.mark.parametrize("padding", [0, 290])
@pytest.mark.parametrize(
    "fields",
    [
        {"api_key_id": KEY_ID, "api_key": API_KEY},
        {"encoded_api_key": ENCODED},
        {"username": "elastic", "password": PASSWORD},
    ],
)
async def test_no_credential_in_a_message_that_echoes_the_request(
    fields: dict[str, str], padding: int, status: int, sleeps: list[float]
) -> None:
    """A provider (or a proxy in front of it) that echoes the request's ``Authorization`` header
    in its error shows no part of it: not the Basic credentials httpx encodes from username and
    password, and no part cut off at the message's length limit."""

    def handler(request: httpx.Request) -> httpx.Response:
        echo = "x" * padding + " " + request.headers.get("authorization", "")
        return httpx.Response(status, json={"error": {"reason": echo, "type": "security_exception"}})

    async def sleep(seconds: float) -> None:
        sleeps.append(seconds)

    options = ProviderOptions(sleep=sleep, transport_factory=lambda _verify: httpx.MockTransport(handler))
    provider = ElasticsearchProvider(ElasticsearchSettings(host="es.example.com", **fields), options)
    with pytest.raises(ProviderError) as caught:
        await collect(provider)
    basic = base64.b64encode(f"elastic:{PASSWORD}".encode()).decode()
    for text in (str(caught.value), repr(caught.value)):
        for secret in (*SECRETS, basic):
            assert not any(secret[at : at + 8] in text for at in range(len(secret) - 7)), text
