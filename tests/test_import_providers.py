"""The importer against each provider's peer: the seeds' log forms land on the right session.

One adapter per provider seeds native records (a Datadog log, a CloudWatch event, a Sentry event,
a Sumo Logic message, an Elasticsearch document) in the forms the seeds and the SDK produce:

- the seed snippet's line ``[openReplaySessionToken=<token>] message``;
- the seed snippet's exception ``ValueError: [openReplaySessionToken=<token>] boom``;
- a JSON log line carrying the token as an attribute (the Sentry tag, for Sentry).

Each test runs on SQLite and on PostgreSQL.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, ExitStack
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import pytest
from osmem_server import OsmemServer

from replaylink import providers
from replaylink.importer.worker import Importer
from replaylink.runtime import Runtime
from replaylink.store.db import transaction
from replaylink.store.models import Integration
from tests.conftest import Seeded
from tests.importer_support import (
    Clock,
    add_integration,
    context_for,
    events,
    integration,
    new_session,
    one_round,
    settings,  # noqa: F401 (the fixture)
)
from tests.peers import cloudwatch_peer, datadog_fake, sentry_fake, sumologic_fake
from tests.peers.osmem_peer import KIBANA_LOGS_MAPPING, OsmemCluster, fresh_cluster, running_osmem

PROVIDERS = providers.names()
"""From the registry: a provider added there without an adapter below fails here."""
GROUP = "/app/api"
INDEX = "app-logs"
PLAIN = "payment failed with error 402"
"""Error-looking on every provider's default error filter (status, words, ``fail*``, tags)."""


def seed_line(token: str, text: str = PLAIN) -> str:
    """Exactly what the seed's patched stdout writes for ``print(text)`` inside a request."""
    return f"[openReplaySessionToken={token}] {text}"


def seed_exception(token: str, value: str = "boom") -> str:
    """The last line of the seed's traceback: it prefixes the exception's message with the marker."""
    return f"ValueError: [openReplaySessionToken={token}] {value}"


# --------------------------------------------------------------------------- adapters


@dataclass
class Adapter:
    """One provider's peer, with native-record builders for the three forms."""

    name: str
    raw: dict[str, Any]
    """Integration settings pointing at the peer."""
    flush: Callable[[list[Any]], None]
    plain: Callable[[str, datetime, str], Any]
    exception: Callable[[str, datetime, str], Any]
    json_attribute: Callable[[str, datetime, str], Any]
    attribute_search: bool = True
    """False: the provider searches the raw text only and cannot find a token held as an attribute."""

    def add(self, *records: Any) -> None:
        self.flush(list(records))


def _datadog(fake: datadog_fake.RunningDatadog) -> Adapter:
    fake.state.clear()

    def plain(token: str, at: datetime, record_id: str) -> Any:
        return datadog_fake.make_log(seed_line(token), timestamp=at, status="error", log_id=record_id)

    def exception(token: str, at: datetime, record_id: str) -> Any:
        return datadog_fake.make_log(seed_exception(token), timestamp=at, status="error", log_id=record_id)

    def json_attribute(token: str, at: datetime, record_id: str) -> Any:
        # A JSON logger: Datadog parses the line, so the token is a (nested) attribute, not in the text.
        return datadog_fake.make_log(
            "db timeout",
            timestamp=at,
            status="error",
            attributes={"openReplaySessionToken": token, "logger": {"name": "app.db"}},
            log_id=record_id,
        )

    raw = {
        "api_key": datadog_fake.API_KEY,
        "application_key": datadog_fake.APPLICATION_KEY,
        "base_url": fake.url,
    }
    return Adapter("datadog", raw, fake.state.add_records, plain, exception, json_attribute)


def _cloudwatch(endpoint: str) -> Adapter:
    cloudwatch_peer.reset(endpoint)
    cloudwatch_peer.create_groups(endpoint, GROUP)

    def line(message: str, at: datetime, record_id: str) -> tuple[int, str]:
        return int(at.timestamp() * 1000), message

    def plain(token: str, at: datetime, record_id: str) -> Any:
        return line(seed_line(token), at, record_id)

    def exception(token: str, at: datetime, record_id: str) -> Any:
        return line(seed_exception(token), at, record_id)

    def json_attribute(token: str, at: datetime, record_id: str) -> Any:
        body = {"level": "error", "message": "db timeout", "ctx": {"openReplaySessionToken": token}}
        return line(json.dumps(body), at, record_id)

    def flush(records: list[Any]) -> None:
        cloudwatch_peer.seed(endpoint, GROUP, "web/1", records)

    raw = {
        "aws_access_key_id": cloudwatch_peer.TEST_KEY,
        "aws_secret_access_key": cloudwatch_peer.TEST_KEY,
        "region": cloudwatch_peer.REGION,
        "log_group_names": [GROUP],
        "endpoint_url": endpoint,
    }
    return Adapter("cloudwatch", raw, flush, plain, exception, json_attribute)


def _hex_id(record_id: str) -> str:
    return (record_id.encode().hex() + "0" * 32)[:32]


def _sentry(fake: sentry_fake.RunningSentry) -> Adapter:
    fake.state.clear()

    def plain(token: str, at: datetime, record_id: str) -> Any:
        # A captured log message (sentry-sdk's logging integration) inside a tagged request.
        event = sentry_fake.sentry_event(token, at, event_id=_hex_id(record_id))
        event["message"] = seed_line(token)
        event["entries"] = [{"type": "message", "data": {"formatted": seed_line(token)}}]
        event["metadata"] = {"title": seed_line(token)}
        event["title"] = seed_line(token)
        return event

    def exception(token: str, at: datetime, record_id: str) -> Any:
        return sentry_fake.sentry_event(
            token,
            at,
            exc_type="ValueError",
            value=f"[openReplaySessionToken={token}] boom",
            event_id=_hex_id(record_id),
        )

    def tagged(token: str, at: datetime, record_id: str) -> Any:
        # Only the tag: the seed's `scope.set_tag('openReplaySessionToken', ...)`.
        return sentry_fake.sentry_event(
            token, at, exc_type="TimeoutError", value="db timeout", event_id=_hex_id(record_id)
        )

    raw = {
        "token": sentry_fake.USER_TOKEN,
        "organization_slug": sentry_fake.ORG,
        "project_slug": sentry_fake.PROJECT,
        "base_url": fake.url,
    }
    return Adapter("sentry", raw, fake.state.add_records, plain, exception, tagged)


def _sumologic(fake: sumologic_fake.RunningSumo) -> Adapter:
    fake.state.clear()
    fake.state.polls_to_done = 1  # done at the first status poll: no job-poll sleeps

    def plain(token: str, at: datetime, record_id: str) -> Any:
        return sumologic_fake.message(seed_line(token), at, message_id=record_id)

    def exception(token: str, at: datetime, record_id: str) -> Any:
        return sumologic_fake.message(seed_exception(token), at, message_id=record_id)

    def json_attribute(token: str, at: datetime, record_id: str) -> Any:
        body = {"level": "error", "message": "db timeout", "openReplaySessionToken": token}
        return sumologic_fake.message(json.dumps(body), at, message_id=record_id)

    raw = {
        "access_id": sumologic_fake.ACCESS_ID,
        "access_key": sumologic_fake.ACCESS_KEY,
        "base_url": fake.api_url,
    }
    return Adapter(
        "sumologic", raw, fake.state.add_records, plain, exception, json_attribute, attribute_search=False
    )


def _elasticsearch(cluster: OsmemCluster) -> Adapter:
    cluster.create_index(INDEX, {**KIBANA_LOGS_MAPPING, "openReplaySessionToken": {"type": "keyword"}})

    def doc(at: datetime, record_id: str, **fields: Any) -> dict[str, Any]:
        when = at.isoformat().replace("+00:00", "Z")
        return {"_id": record_id, "utc_time": when, "tags": ["error"], **fields}

    def plain(token: str, at: datetime, record_id: str) -> Any:
        return doc(at, record_id, message=seed_line(token))

    def exception(token: str, at: datetime, record_id: str) -> Any:
        return doc(at, record_id, message=seed_exception(token))

    def json_attribute(token: str, at: datetime, record_id: str) -> Any:
        # A JSON logger shipped to Elasticsearch: the token is a field of the document.
        return doc(at, record_id, message="db timeout", openReplaySessionToken=token)

    def flush(records: list[Any]) -> None:
        cluster.seed(INDEX, records)

    return Adapter("elasticsearch", {"host": cluster.url}, flush, plain, exception, json_attribute)


# --------------------------------------------------------------------------- fixtures


@pytest.fixture(scope="module")
def peers() -> Iterator[Callable[[str], Any]]:
    """Each provider's server, started on first use and kept for the module."""
    started: dict[str, Any] = {}
    with ExitStack() as stack:

        def get(name: str) -> Any:
            if name not in started:
                factory: dict[str, Callable[[], AbstractContextManager[Any]]] = {
                    "datadog": datadog_fake.running,
                    "cloudwatch": cloudwatch_peer.moto_server,
                    "sentry": sentry_fake.running,
                    "sumologic": sumologic_fake.running,
                    "osmem": running_osmem,
                }
                started[name] = stack.enter_context(factory[name]())
            return started[name]

        yield get


@pytest.fixture(params=PROVIDERS)
def adapter(request: pytest.FixtureRequest, peers: Any) -> Iterator[Adapter]:
    name = request.param
    if name == "elasticsearch":
        server: OsmemServer = peers("osmem")
        with fresh_cluster(server) as cluster:
            yield _elasticsearch(cluster)
        return
    build: dict[str, Callable[[Any], Adapter]] = {
        "datadog": _datadog,
        "cloudwatch": _cloudwatch,
        "sentry": _sentry,
        "sumologic": _sumologic,
    }
    yield build[name](peers(name))


@dataclass
class Setup:
    rt: Runtime
    seeded: Seeded
    clock: Clock
    adapter: Adapter
    integration_id: int
    importer: Importer


@pytest.fixture
def setup(rt: Runtime, seeded: Seeded, clock: Clock, adapter: Adapter) -> Setup:
    integration_id = add_integration(rt, seeded.project_id, adapter.name, adapter.raw, clock)
    with transaction(rt.sessions) as db:
        row = db.get(Integration, integration_id)
        assert row is not None
        row.checkpoint = clock.now - timedelta(minutes=30)  # one window chunk keeps the test quick
    importer = Importer(context_for(rt, clock), owner="worker-a")
    return Setup(rt, seeded, clock, adapter, integration_id, importer)


# --------------------------------------------------------------------------- tests


async def test_seed_snippet_line_and_exception_land_on_the_right_session(setup: Setup) -> None:
    rt, clock, adapter = setup.rt, setup.clock, setup.adapter
    sid_a, token_a = new_session(rt, setup.seeded.project_id, clock.now - timedelta(minutes=20))
    sid_b, token_b = new_session(rt, setup.seeded.project_id, clock.now - timedelta(minutes=20))
    at = clock.now - timedelta(minutes=5)
    adapter.add(
        adapter.plain(token_a, at, "rec-plain-a"),
        adapter.exception(token_a, at + timedelta(seconds=1), "rec-exc-a"),
        adapter.plain(token_b, at + timedelta(seconds=2), "rec-plain-b"),
    )

    results = await one_round(setup.importer)

    assert [r.outcome for r in results] == ["ok"], results
    mine = events(rt, session_id=sid_a)
    assert [e.title for e in mine] == [PLAIN, "ValueError: boom"]
    assert mine[1].exception_type == "ValueError"  # every provider reads it from the text too
    assert all(
        e.provider == adapter.name and e.project_id == setup.seeded.project_id and e.fingerprint for e in mine
    )
    assert all(e.integration_id == setup.integration_id and e.level == "error" for e in mine)
    assert [e.title for e in events(rt, session_id=sid_b)] == [PLAIN]
    row = integration(rt, setup.integration_id)
    assert row.outcomes == {"matched": 3}
    assert row.events_imported == 3 and row.consecutive_failures == 0 and row.last_error is None


async def test_json_log_line_with_the_token_as_an_attribute(setup: Setup) -> None:
    rt, clock, adapter = setup.rt, setup.clock, setup.adapter
    sid, token = new_session(rt, setup.seeded.project_id, clock.now - timedelta(minutes=20))
    adapter.add(adapter.json_attribute(token, clock.now - timedelta(minutes=3), "rec-json"))

    results = await one_round(setup.importer)

    assert [r.outcome for r in results] == ["ok"], results
    stored = events(rt, session_id=sid)
    if adapter.attribute_search:
        assert len(stored) == 1
        assert stored[0].level == "error" and stored[0].provider == adapter.name
        assert integration(rt, setup.integration_id).outcomes == {"matched": 1}
    else:
        # Sumo Logic searches the raw text for the marker "openReplaySessionToken=": a token held
        # only as a JSON key is never returned, so nothing is scanned (the SDK's JSON formatters put
        # the marker in the message field as well; see the next test).
        assert stored == []
        assert integration(rt, setup.integration_id).records_scanned == 0


@pytest.mark.parametrize("adapter", ["sumologic"], indirect=True)
async def test_sumologic_json_log_line_with_the_marker_in_its_message(setup: Setup) -> None:
    """The SDK's JSON formatters: the marker at the start of the message field, and the attribute."""
    rt, clock, adapter = setup.rt, setup.clock, setup.adapter
    sid, token = new_session(rt, setup.seeded.project_id, clock.now - timedelta(minutes=20))
    body = {"level": "error", "message": seed_line(token, "db timeout"), "openReplaySessionToken": token}
    adapter.add(sumologic_fake.message(json.dumps(body), clock.now - timedelta(minutes=3), message_id="j1"))

    await one_round(setup.importer)

    stored = events(rt, session_id=sid)
    assert [(e.title, e.level) for e in stored] == [("db timeout", "error")]
    assert stored[0].attributes and stored[0].attributes["json"]["openReplaySessionToken"] == token


async def test_several_records_each_kept_and_repeated_windows_import_once(setup: Setup) -> None:
    rt, clock, adapter = setup.rt, setup.clock, setup.adapter
    sid, token = new_session(rt, setup.seeded.project_id, clock.now - timedelta(minutes=20))
    at = clock.now - timedelta(minutes=4)
    adapter.add(*(adapter.plain(token, at + timedelta(seconds=i), f"rec-{i}") for i in range(4)))

    await one_round(setup.importer)
    clock.advance(seconds=20)  # the next window re-reads the overlap: the same records again
    await one_round(setup.importer)

    stored = events(rt, session_id=sid)
    assert len(stored) == 4
    assert len({e.provider_record_id for e in stored}) == 4
    row = integration(rt, setup.integration_id)
    assert row.records_scanned == 4 and row.events_imported == 4  # read twice, counted once
    assert row.outcomes == {"matched": 4}


async def test_a_worker_down_for_days_resumes_at_its_checkpoint(setup: Setup) -> None:
    """An outage longer than the initial look-back delays records; it never drops them."""
    rt, clock, adapter = setup.rt, setup.clock, setup.adapter
    sid, token = new_session(
        rt, setup.seeded.project_id, clock.now - timedelta(days=3), lifetime=timedelta(days=4)
    )
    with transaction(rt.sessions) as db:
        row = db.get(Integration, setup.integration_id)
        assert row is not None
        row.checkpoint = clock.now - timedelta(days=3)  # the last poll before the workers went down
    adapter.add(
        adapter.plain(token, clock.now - timedelta(days=2, hours=12), "rec-old"),
        adapter.plain(token, clock.now - timedelta(hours=1), "rec-new"),
    )

    results = await one_round(setup.importer)

    assert [r.outcome for r in results] == ["ok"], results
    assert len(events(rt, session_id=sid)) == 2
    assert integration(rt, setup.integration_id).checkpoint == clock.now


@pytest.mark.parametrize("adapter", ["sentry"], indirect=True)
async def test_sentry_tagged_event_keeps_its_stack_and_exception_type(setup: Setup) -> None:
    rt, clock = setup.rt, setup.clock
    sid, token = new_session(rt, setup.seeded.project_id, clock.now - timedelta(minutes=20))
    other, _ = new_session(rt, setup.seeded.project_id, clock.now - timedelta(minutes=20))
    at = clock.now - timedelta(minutes=2)
    setup.adapter.add(
        sentry_fake.sentry_event(token, at, exc_type="KeyError", value="'cart'", event_id="ab" * 16),
        sentry_fake.sentry_event(None, at, exc_type="KeyError", value="untagged", event_id="cd" * 16),
    )

    await one_round(setup.importer)

    (event,) = events(rt, session_id=sid)
    assert event.provider_record_id == "ab" * 16
    assert event.exception_type == "KeyError"
    assert event.title == "KeyError: 'cart'"
    assert event.stack is not None
    assert [(f["filename"], f["function"], f["lineno"]) for f in event.stack] == [
        ("app/views.py", "checkout", 42),
        ("app/pricing.py", "price", 7),
    ]
    assert event.attributes and event.attributes["tags"]["openReplaySessionToken"] == token
    assert event.link and "ab" * 16 in event.link
    assert events(rt, session_id=other) == []
    assert len(events(rt)) == 1  # the untagged event is not even fetched


@pytest.mark.parametrize("adapter", ["sentry"], indirect=True)
async def test_sentry_events_read_per_issue_are_stored_as_read_from_their_details(
    setup: Setup, peers: Callable[[str], Any]
) -> None:
    """A page's events are read with one request per issue; the events stored from those bodies
    equal the ones stored when each event is read from its detail (here: its issue is gone)."""
    rt, clock, fake = setup.rt, setup.clock, peers("sentry")
    sid, token = new_session(rt, setup.seeded.project_id, clock.now - timedelta(minutes=20))
    at = clock.now - timedelta(minutes=4)
    setup.adapter.add(
        *(
            sentry_fake.sentry_event(
                token,
                at + timedelta(seconds=i, milliseconds=137 * i),
                group_id=str(101 + i % 2),
                exc_type=f"Error{i}",
                tags={"logger": "app.payments"},
            )
            for i in range(6)
        ),
        sentry_fake.sentry_event(token, at + timedelta(seconds=9), group_id=None),
    )
    await one_round(setup.importer)
    first = [request["path"] for request in fake.state.requests]

    fake.state.gone_issues.update({"101", "102"})
    fake.state.requests.clear()
    second = add_integration(
        rt, setup.seeded.project_id, "sentry", setup.adapter.raw, clock, name="by-detail"
    )
    await one_round(setup.importer)

    def stored(integration_id: int) -> list[dict[str, Any]]:
        kept = [e for e in events(rt, session_id=sid) if e.integration_id == integration_id]
        skip = {"id", "integration_id", "imported_at"}
        return [{k: v for k, v in vars(e).items() if not k.startswith("_") and k not in skip} for e in kept]

    per_issue, per_event = stored(setup.integration_id), stored(second)
    assert len(per_issue) == 7 and per_issue == per_event
    assert [e["exception_type"] for e in per_issue] == [f"Error{i}" for i in range(6)] + ["ValueError"]
    assert per_issue[1]["timestamp"] == at + timedelta(seconds=1, milliseconds=137)
    details = f"/api/0/projects/{sentry_fake.ORG}/{sentry_fake.PROJECT}/events/"
    assert sum(path.startswith(details) for path in first) == 1  # the event without an issue
    assert sum("/issues/" in path for path in first) == 2
    assert sum(request["path"].startswith(details) for request in fake.state.requests) == 7
