"""SentryProvider against the contract fake, itself checked against Sentry's published OpenAPI."""

from __future__ import annotations

import functools
import json
import logging
import os
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import jsonschema
import pytest
from pydantic import ValidationError

from replaylink.providers.base import (
    AuthError,
    NotFound,
    ProviderError,
    ProviderOptions,
    ProviderPermissionError,
    Query,
    RateLimited,
    Record,
    StackFrame,
    Unreachable,
)
from replaylink.providers.sentry import (
    SentryProvider,
    SentrySettings,
    event_link,
    search_text,
    ui_root,
)
from tests.peers.common import free_port
from tests.peers.sentry_fake import (
    ORG,
    ORG_TOKEN,
    PROJECT,
    PROJECT_ID,
    USER_TOKEN,
    RunningSentry,
    running,
    sentry_event,
)
from tests.providers.conftest import Sleeps

SPEC = Path(os.environ.get("SENTRY_OPENAPI", "/work/shared/specs/sentry-openapi-derefed.json"))
T0 = datetime(2026, 3, 2, 12, 0, tzinfo=UTC)
EVENTS_PATH = f"/api/0/organizations/{ORG}/events/"
DETAIL_PATH = f"/api/0/projects/{ORG}/{PROJECT}/events/"
ISSUE = "1341191803"
"""``sentry_event``'s default issue id."""


def issue_path(issue: str = ISSUE) -> str:
    return f"/api/0/organizations/{ORG}/issues/{issue}/events/"


@pytest.fixture(scope="module")
def server() -> Iterator[RunningSentry]:
    with running() as fake:
        yield fake


@pytest.fixture
def fake(server: RunningSentry) -> RunningSentry:
    server.state.clear()
    return server


def make(
    url: str,
    sleeps: Sleeps,
    *,
    token: str = USER_TOKEN,
    organization_slug: str = ORG,
    project_slug: str = PROJECT,
    request_timeout: float = 5.0,
) -> SentryProvider:
    """A provider on the fake. The timeout leaves a loaded host's fake time to answer (at 0.5 s a
    page of 230 events was sometimes retried, which the request counts below notice)."""
    settings = SentrySettings(
        token=token, organization_slug=organization_slug, project_slug=project_slug, base_url=url
    )
    options = ProviderOptions(request_timeout=request_timeout, max_retries=2, sleep=sleeps)
    return SentryProvider(settings, options)


async def collect(provider: SentryProvider, query: Query) -> list[Record]:
    async with provider:
        return [record async for record in provider.search(query)]


def window(seconds: float = 3600, **kwargs: Any) -> Query:
    return Query(start=T0, end=T0 + timedelta(seconds=seconds), **kwargs)


def at(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)


def requests_to(fake: RunningSentry, path: str) -> list[dict[str, Any]]:
    return [request for request in fake.state.requests if request["path"] == path]


def requests_under(fake: RunningSentry, prefix: str) -> list[dict[str, Any]]:
    return [request for request in fake.state.requests if request["path"].startswith(prefix)]


def detail_requests(fake: RunningSentry) -> list[dict[str, Any]]:
    return [request for request in requests_under(fake, DETAIL_PATH) if request["path"] != DETAIL_PATH]


# --------------------------------------------------------------------------- the fake vs Sentry's spec


def _nullable(node: Any) -> Any:
    """OpenAPI 3.0 ``nullable: true`` as JSON Schema's ``"null"`` type."""
    if isinstance(node, list):
        return [_nullable(item) for item in node]
    if not isinstance(node, dict):
        return node
    out = {key: _nullable(value) for key, value in node.items()}
    if out.pop("nullable", False):
        if isinstance(out.get("type"), str):
            out["type"] = [out["type"], "null"]
        if "enum" in out:
            out["enum"] = [*out["enum"], None]
    return out


@functools.cache
def sentry_spec() -> dict[str, Any]:
    """Sentry's published OpenAPI (already dereferenced), read once per test session."""
    if not SPEC.exists():
        pytest.skip(f"Sentry's OpenAPI is not at {SPEC}")
    spec: dict[str, Any] = json.loads(SPEC.read_text())
    return spec


def validate(template: str, body: Any) -> None:
    """Check a 200 body against the response schema of ``GET <template>``."""
    operation = sentry_spec()["paths"][template]["get"]
    schema = _nullable(operation["responses"]["200"]["content"]["application/json"]["schema"])
    jsonschema.Draft7Validator(schema).validate(body)


def test_fake_answers_match_sentry_openapi(fake: RunningSentry) -> None:
    event = sentry_event("tok1", at(1))
    fake.state.add_records([event, sentry_event("tok2", at(2))])
    org, project = "{organization_id_or_slug}", "{project_id_or_slug}"
    headers = {"Authorization": f"Bearer {USER_TOKEN}"}
    params = (
        ("dataset", "errors"),
        ("field", "id"),
        ("field", "timestamp"),
        ("field", "tags[openReplaySessionToken]"),
        ("query", "has:openReplaySessionToken"),
        ("start", "2026-03-02T12:00:00"),
        ("end", "2026-03-02T13:00:00"),
        ("sort", "timestamp"),
        ("per_page", "1"),
    )
    with httpx.Client(base_url=fake.url, headers=headers) as client:
        validate(f"/api/0/organizations/{org}/", client.get(f"/api/0/organizations/{ORG}/").json())
        validate(f"/api/0/projects/{org}/{project}/", client.get(f"/api/0/projects/{ORG}/{PROJECT}/").json())
        page = client.get(EVENTS_PATH, params=params)
        validate(f"/api/0/organizations/{org}/events/", page.json())
        detail = client.get(f"/api/0/projects/{ORG}/{PROJECT}/events/{event['id']}/")
        validate(f"/api/0/projects/{org}/{project}/events/{{event_id}}/", detail.json())
    assert page.json()["data"] == [
        {"id": event["id"], "timestamp": "2026-03-02T12:00:01+00:00", "tags[openReplaySessionToken]": "tok1"}
    ]
    assert page.links["next"]["results"] == "true"
    assert page.links["next"]["cursor"] == "0:1:0"
    assert page.links["previous"]["results"] == "false"


def test_fake_issue_events_match_sentry_openapi(fake: RunningSentry) -> None:
    """An issue's events: Sentry's ``SimpleEventSerializer`` shape (the published schema) and,
    with ``full=true``, its ``EventSerializer`` shape: the event detail's schema without what only
    the detail endpoint adds."""
    events = [sentry_event("tok1", at(1)), sentry_event("tok2", at(2)), sentry_event("tok3", at(3))]
    fake.state.add_records([*events, sentry_event("tok4", at(4), group_id="77")])
    org, project = "{organization_id_or_slug}", "{project_id_or_slug}"
    headers = {"Authorization": f"Bearer {USER_TOKEN}"}
    wanted = "id:[" + ",".join(event["id"] for event in events[:2]) + "]"
    window = (("start", "2026-03-02T12:00:00"), ("end", "2026-03-02T13:00:00"), ("query", wanted))
    with httpx.Client(base_url=fake.url, headers=headers) as client:
        simple = client.get(issue_path(), params=(*window, ("per_page", "1")))
        full = client.get(issue_path(), params=(*window, ("full", "true")))
        unknown = client.get(issue_path("999"), params=window)
    validate(f"/api/0/organizations/{org}/issues/{{issue_id}}/events/", simple.json())
    operation = sentry_spec()["paths"][f"/api/0/projects/{org}/{project}/events/{{event_id}}/"]["get"]
    detail_schema = _nullable(operation["responses"]["200"]["content"]["application/json"]["schema"])
    only_detail = {"release", "userReport", "sdkUpdates", "nextEventID", "previousEventID", "resolvedWith"}
    full_schema = {**detail_schema, "required": sorted(set(detail_schema["required"]) - only_detail)}
    for body in full.json():
        jsonschema.Draft7Validator(full_schema).validate(body)
    assert [body["id"] for body in simple.json()] == [events[1]["id"]]  # newest first
    assert simple.links["next"]["results"] == "true"
    assert [body["id"] for body in full.json()] == [events[1]["id"], events[0]["id"]]
    assert full.json()[0]["entries"] == events[1]["entries"]
    assert unknown.status_code == 404


async def test_requests_use_only_documented_parameters(fake: RunningSentry, sleeps: Sleeps) -> None:
    fake.state.add_records([sentry_event("tok1", at(1))])
    await collect(make(fake.url, sleeps), Query(start=at(0.25), end=at(9.5), token="tok1"))
    operation = sentry_spec()["paths"]["/api/0/organizations/{organization_id_or_slug}/events/"]["get"]
    documented = {parameter["name"] for parameter in operation["parameters"]}
    [request] = requests_to(fake, EVENTS_PATH)
    [bodies] = requests_to(fake, issue_path())
    assert set(request["query"]) <= documented
    template = "/api/0/organizations/{organization_id_or_slug}/issues/{issue_id}/events/"
    issue_operation = sentry_spec()["paths"][template]["get"]
    assert set(bodies["query"]) <= {parameter["name"] for parameter in issue_operation["parameters"]}
    assert request["headers"]["authorization"] == bodies["headers"]["authorization"] == f"Bearer {USER_TOKEN}"
    assert request["query"]["query"] == "tags[openReplaySessionToken]:tok1 level:[error,fatal]"
    assert request["query"]["project"] == PROJECT_ID
    assert (request["query"]["start"], request["query"]["end"]) == (
        "2026-03-02T12:00:00",
        "2026-03-02T12:00:10",
    )


# --------------------------------------------------------------------------- check()


async def test_check_passes_with_a_user_token(fake: RunningSentry, sleeps: Sleeps) -> None:
    async with make(fake.url, sleeps) as provider:
        await provider.check()
    paths = [request["path"] for request in fake.state.requests]
    assert paths == [f"/api/0/projects/{ORG}/{PROJECT}/", EVENTS_PATH]


@pytest.mark.parametrize(
    ("overrides", "error", "field", "words"),
    [
        ({"token": "sntryu_" + "0" * 64}, AuthError, "token", "refused the token"),
        ({"token": ORG_TOKEN}, ProviderPermissionError, "token", "event:read"),
        ({"organization_slug": "nope"}, NotFound, "organization_slug", "no organization 'nope'"),
        ({"project_slug": "nope"}, NotFound, "project_slug", "no project 'nope'"),
    ],
)
async def test_check_names_the_field_to_fix(
    fake: RunningSentry,
    sleeps: Sleeps,
    overrides: dict[str, Any],
    error: type[ProviderError],
    field: str,
    words: str,
) -> None:
    with pytest.raises(error) as caught:
        async with make(fake.url, sleeps, **overrides) as provider:
            await provider.check()
    assert type(caught.value) is error
    assert caught.value.field == field
    assert words in str(caught.value)
    assert USER_TOKEN not in str(caught.value) and ORG_TOKEN not in str(caught.value)


async def test_check_unreachable(sleeps: Sleeps) -> None:
    with pytest.raises(Unreachable) as caught:
        async with make(f"http://127.0.0.1:{free_port()}", sleeps) as provider:
            await provider.check()
    assert caught.value.field == "base_url"


async def test_check_long_rate_limit_raises(fake: RunningSentry, sleeps: Sleeps) -> None:
    fake.state.inject("429", retry_after=3600)
    with pytest.raises(RateLimited) as caught:
        async with make(fake.url, sleeps) as provider:
            await provider.check()
    assert 3500 < caught.value.retry_after <= 3601
    assert sleeps.waits == []


async def test_check_retries_a_500(fake: RunningSentry, sleeps: Sleeps) -> None:
    fake.state.inject("500")
    async with make(fake.url, sleeps) as provider:
        await provider.check()
    assert len(sleeps.waits) == 1


async def test_check_timeout_is_unreachable(fake: RunningSentry, sleeps: Sleeps) -> None:
    fake.state.inject("slow", times=3, delay=1.0)
    with pytest.raises(Unreachable) as caught:
        async with make(fake.url, sleeps, request_timeout=0.5) as provider:
            await provider.check()
    assert "did not answer" in str(caught.value)
    assert len(sleeps.waits) == 2


@pytest.mark.parametrize("fault", ["bad_json", "truncated"])
async def test_check_bad_json_is_a_provider_error(fake: RunningSentry, sleeps: Sleeps, fault: str) -> None:
    fake.state.inject(fault)
    with pytest.raises(ProviderError) as caught:
        async with make(fake.url, sleeps) as provider:
            await provider.check()
    assert type(caught.value) is ProviderError
    assert "not valid JSON" in str(caught.value)


# --------------------------------------------------------------------------- search()


async def test_search_pages_through_everything_in_order(fake: RunningSentry, sleeps: Sleeps) -> None:
    events = [sentry_event(f"tok{i % 7}", at(i)) for i in range(250)]
    fake.state.add_records(events[::-1])
    records = await collect(make(fake.url, sleeps), window(page_size=1000))
    assert [record.provider_id for record in records] == [event["id"] for event in events]
    pages = requests_to(fake, EVENTS_PATH)
    assert [page["query"].get("cursor") for page in pages] == [None, "0:100:0", "0:200:0"]
    assert {page["query"]["per_page"] for page in pages} == {"100"}
    # The three pages' bodies: one issue, at most 100 events per request.
    sizes = [request["query"]["query"].count(",") + 1 for request in requests_to(fake, issue_path())]
    assert sizes == [100, 100, 50]


async def test_search_window_is_start_inclusive_end_exclusive(fake: RunningSentry, sleeps: Sleeps) -> None:
    # The fake, like Sentry, keeps whole seconds and includes ``end``: only the client is exact.
    inside = [sentry_event("t", at(s)) for s in (0.5, 1, 10.499)]
    outside = [sentry_event("t", at(s)) for s in (0, 0.4, 10.5, 10.9, 11)]
    fake.state.add_records(inside + outside)
    records = await collect(make(fake.url, sleeps), Query(start=at(0.5), end=at(10.5)))
    assert [record.provider_id for record in records] == [event["id"] for event in inside]
    assert records[0].timestamp == at(0.5)


async def test_search_one_token_or_any(fake: RunningSentry, sleeps: Sleeps) -> None:
    mine = [sentry_event("abc.1", at(1)), sentry_event("abc.1", at(2))]
    fake.state.add_records([*mine, sentry_event("other", at(3)), sentry_event(None, at(4))])
    one = await collect(make(fake.url, sleeps), window(token="abc.1"))
    assert [record.provider_id for record in one] == [event["id"] for event in mine]
    every = await collect(make(fake.url, sleeps), window())
    assert [record.attributes["tags"]["openReplaySessionToken"] for record in every] == [
        "abc.1",
        "abc.1",
        "other",
    ]


async def test_search_errors_only_or_all_levels(fake: RunningSentry, sleeps: Sleeps) -> None:
    levels = ["error", "fatal", "warning", "info"]
    fake.state.add_records([sentry_event("t", at(i), level=level) for i, level in enumerate(levels)])
    errors = await collect(make(fake.url, sleeps), window())
    assert [record.level for record in errors] == ["error", "critical"]
    everything = await collect(make(fake.url, sleeps), window(errors_only=False))
    assert [record.level for record in everything] == ["error", "critical", "warning", "info"]


@pytest.mark.parametrize("path", ["/events/", "/issues/"])
async def test_search_waits_out_a_short_rate_limit(fake: RunningSentry, sleeps: Sleeps, path: str) -> None:
    fake.state.add_records([sentry_event("t", at(i)) for i in range(3)])
    fake.state.inject("429", retry_after=1, path_contains=path)
    records = await collect(make(fake.url, sleeps), window())
    assert len(records) == 3
    assert len(sleeps.waits) == 1 and 1 <= sleeps.waits[0] <= 2


async def test_search_stops_on_a_cursor_that_never_ends(fake: RunningSentry, sleeps: Sleeps) -> None:
    fake.state.add_records([sentry_event("t", at(i)) for i in range(3)])
    fake.state.inject("endless_cursor", times=10, path_contains=EVENTS_PATH)
    with pytest.raises(ProviderError, match="cursor it had already sent"):
        await collect(make(fake.url, sleeps), window())
    assert len(requests_to(fake, EVENTS_PATH)) == 2


@pytest.mark.parametrize(("group_id", "path"), [(None, DETAIL_PATH), (ISSUE, issue_path())])
async def test_search_bad_json_mid_search(
    fake: RunningSentry, sleeps: Sleeps, group_id: str | None, path: str
) -> None:
    # An event without an issue is read from its detail; one with an issue from its issue's events.
    fake.state.add_records([sentry_event("t", at(1), group_id=group_id)])
    fake.state.inject("truncated", path_contains=path)
    with pytest.raises(ProviderError, match="not valid JSON"):
        await collect(make(fake.url, sleeps), window())


async def test_search_stops_at_the_limit(fake: RunningSentry, sleeps: Sleeps) -> None:
    fake.state.add_records([sentry_event("t", at(i)) for i in range(30)])
    records = await collect(make(fake.url, sleeps), window(limit=3))
    assert len(records) == 3
    # Bodies are read for the records still wanted only: one issue request naming three events.
    [bodies] = requests_to(fake, issue_path())
    assert bodies["query"]["query"] == "id:[" + ",".join(record.provider_id for record in records) + "]"
    assert detail_requests(fake) == []


async def test_search_reads_bodies_per_issue_the_same_as_details(fake: RunningSentry, sleeps: Sleeps) -> None:
    """A page's events are read in full with one request per issue of the page: the records equal
    those made from each event's detail (read when the issue is gone), at a fraction of the requests."""
    issues = ["11", "22", ISSUE]
    events = [
        sentry_event(f"tok{i % 7}", at(i + i % 10 / 10), group_id=issues[i % 3], exc_type=f"E{i % 4}")
        for i in range(230)
    ]
    orphans = [sentry_event("tok", at(240.25), group_id=None), sentry_event("tok", at(241), group_id=None)]
    fake.state.add_records(events + orphans)

    per_issue = await collect(make(fake.url, sleeps), window())
    issue_requests = len(requests_under(fake, f"/api/0/organizations/{ORG}/issues/"))
    orphan_details = detail_requests(fake)
    fake.state.requests.clear()
    fake.state.gone_issues.update(issues)
    per_event = await collect(make(fake.url, sleeps), window())

    assert per_issue == per_event
    assert [record.provider_id for record in per_issue] == [event["id"] for event in events + orphans]
    assert per_issue[1].timestamp == at(1.1) and per_issue[1].exception_type == "E1"
    assert per_issue[-2].stack is not None and per_issue[-2].link is not None
    assert per_issue[-2].link.endswith(f"discover/{PROJECT}:{orphans[0]['id']}/")
    assert issue_requests == 3  # three Discover pages read together, three issues on them
    assert sorted(request["path"].rsplit("/", 2)[-2] for request in orphan_details) == sorted(
        orphan["id"] for orphan in orphans
    )
    assert len(detail_requests(fake)) == len(events) + len(orphans)


async def test_events_of_a_merged_issue_are_read_from_their_details(
    fake: RunningSentry, sleeps: Sleeps
) -> None:
    # Sentry redirects a merged issue's URLs to the issue it went into: not followed, the events
    # are read alone (the token never goes to an address Sentry named).
    events = [sentry_event("tok", at(1), group_id="11"), sentry_event("tok", at(2), group_id="11")]
    fake.state.add_records(events)
    fake.state.merged_issues["11"] = ISSUE
    records = await collect(make(fake.url, sleeps), window())
    assert [record.exception_type for record in records] == ["ValueError", "ValueError"]
    assert len(requests_to(fake, issue_path("11"))) == 1 and requests_to(fake, issue_path()) == []
    assert len(detail_requests(fake)) == 2


async def test_record_carries_exception_stack_and_link(fake: RunningSentry, sleeps: Sleeps) -> None:
    event = sentry_event("tok", at(5), exc_type="KeyError", value="'cart'", tags={"logger": "app"})
    fake.state.add_records([event])
    [record] = await collect(make(fake.url, sleeps), window())
    assert record.provider_id == event["id"]
    assert record.timestamp == at(5)
    assert record.exception_type == "KeyError"
    assert record.title == "KeyError: 'cart'"
    assert record.message == "KeyError: 'cart'"
    assert record.stack == [
        StackFrame("app/views.py", "checkout", 42, "app.views", "    total = price(cart)", True),
        StackFrame("app/pricing.py", "price", 7, "app.pricing", '    raise ValueError("boom")', True),
    ]
    assert (record.service, record.host, record.logger) == (PROJECT, "web-1", "app")
    assert record.attributes["tags"]["openReplaySessionToken"] == "tok"
    assert record.attributes["project"] == PROJECT
    assert record.attributes["contexts"]["runtime"]["name"] == "CPython"
    assert record.link == f"{fake.url}/organizations/{ORG}/issues/1341191803/events/{event['id']}/"


async def test_record_without_issue_or_detail(fake: RunningSentry, sleeps: Sleeps) -> None:
    orphan = sentry_event("tok", at(1), group_id=None)
    lagging = sentry_event("tok", at(2))
    fake.state.add_records([orphan, lagging])
    fake.state.lost_details.add(lagging["id"])
    first, second = await collect(make(fake.url, sleeps), window())
    assert first.link == f"{fake.url}/organizations/{ORG}/discover/{PROJECT}:{orphan['id']}/"
    assert second.stack is None
    assert second.title == "ValueError: boom"
    assert second.attributes["tags"] == {"openReplaySessionToken": "tok"}
    assert second.timestamp == at(2)


async def test_self_hosted_base_url_with_a_path_prefix(sleeps: Sleeps) -> None:
    with running(prefix="/sentry") as hosted:
        event = sentry_event("tok", at(1))
        hosted.state.add_records([event])
        async with make(hosted.url + "/api/0/", sleeps) as provider:
            await provider.check()
        [record] = await collect(make(hosted.url, sleeps), window())
    assert hosted.url.endswith("/sentry")
    assert record.link == f"{hosted.url}/organizations/{ORG}/issues/1341191803/events/{event['id']}/"


def test_malformed_events_give_provider_errors(sleeps: Sleeps) -> None:
    provider = make("https://sentry.example.com", sleeps)
    garbage = {"entries": "x", "tags": [1, {"key": 2}], "contexts": [], "metadata": None, "dateCreated": 5}
    record = provider._record({"id": "a" * 32, "timestamp": "2026-03-02T12:00:00+00:00"}, garbage)
    assert (record.stack, record.exception_type, record.attributes["tags"]) == (None, None, {})
    with pytest.raises(ProviderError, match="valid id"):
        provider._record({"id": None}, {})
    with pytest.raises(ProviderError, match="valid timestamp"):
        provider._record({"id": "b" * 32, "timestamp": "yesterday"}, {})


# --------------------------------------------------------------------------- settings, helpers, secrets


def test_settings_schema_and_validation() -> None:
    schema = SentrySettings.model_json_schema()
    assert schema["properties"]["token"]["secret"] is True
    assert schema["properties"]["token"]["title"] == "Token"
    assert set(schema["required"]) == {"token", "organization_slug", "project_slug"}
    ok = SentrySettings(token="x", organization_slug="acme", project_slug="web_api")
    assert ok.base_url == "https://sentry.io"
    pasted = SentrySettings(
        token="x", organization_slug="a", project_slug="b", base_url=" https://sentry.example.com/api/0/ "
    )
    assert pasted.base_url == "https://sentry.example.com"
    for bad in ({"organization_slug": "my org"}, {"project_slug": "12345"}, {"project_slug": "-web"}):
        with pytest.raises(ValidationError, match="Sentry slug"):
            SentrySettings(**{"token": "x", "organization_slug": "a", "project_slug": "b", **bad})
    with pytest.raises(ValidationError, match="token"):
        SentrySettings(token="", organization_slug="a", project_slug="b")
    for url in ("sentry.io", "ftp://sentry.io", "https://sentry.io/?x=1"):
        with pytest.raises(ValidationError, match="http"):
            SentrySettings(token="x", organization_slug="a", project_slug="b", base_url=url)


def test_links_and_search_text() -> None:
    assert ui_root("https://de.sentry.io", "acme") == "https://acme.sentry.io"
    assert ui_root("https://sentry.io", "acme") == "https://acme.sentry.io"
    assert (
        ui_root("https://errors.example.com/sentry", "acme")
        == "https://errors.example.com/sentry/organizations/acme"
    )
    assert (
        event_link("https://acme.sentry.io", "web", "e1", "42")
        == "https://acme.sentry.io/issues/42/events/e1/"
    )
    assert search_text(window(errors_only=False)) == "has:openReplaySessionToken"
    assert (
        search_text(window(token='a "b"')) == 'tags[openReplaySessionToken]:"a \\"b\\"" level:[error,fatal]'
    )


async def test_no_secret_in_messages_reprs_or_logs(
    fake: RunningSentry, sleeps: Sleeps, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    wrong = "sntryu_" + "7" * 64
    fake.state.add_records([sentry_event("t", at(1))])
    fake.state.inject("429", retry_after=1)
    fake.state.inject("500")
    errors: list[ProviderError] = []
    for token in (wrong, ORG_TOKEN, USER_TOKEN):
        provider = make(fake.url, sleeps, token=token)
        assert token not in repr(provider) and token not in repr(provider.settings)
        assert token not in provider.settings.model_dump_json()
        try:
            await collect(provider, window())
        except ProviderError as exc:
            errors.append(exc)
    assert [type(error) for error in errors] == [AuthError, ProviderPermissionError]
    shown = caplog.text + "".join(str(error) + repr(error) for error in errors)
    for secret in (wrong, ORG_TOKEN, USER_TOKEN):
        assert secret not in shown
