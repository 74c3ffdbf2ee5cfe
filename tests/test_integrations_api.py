"""The integration settings API against every provider's peer: checks before save, masking,
PATCH keeping secrets, delete, pause/resume, history, validation, outbound safety, isolation.

Each provider has a :class:`Case`: valid settings for its running peer and a way to make its
check fail for each reason (auth, permission, not found, unreachable, rate limited). Every
response body of every test is recorded and checked for secrets at teardown (``api`` fixture).
"""

from __future__ import annotations

import logging
import socket
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, ExitStack, contextmanager
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from fastapi.responses import JSONResponse, Response
from fastapi.testclient import TestClient
from sqlalchemy import text

from replaylink import providers
from replaylink.api.app import create_app
from replaylink.config import Settings
from replaylink.integrations import settings as svc
from replaylink.runtime import Runtime
from replaylink.store import integrations as store
from replaylink.store.db import transaction
from tests.backend_events import add_event, add_session
from tests.conftest import Seeded, make_settings
from tests.peers import cloudwatch_peer as cw_peer
from tests.peers import datadog_fake, sentry_fake, sumologic_fake
from tests.peers.common import free_port, serve
from tests.peers.elasticsearch_fake import EsFakeState
from tests.peers.elasticsearch_fake import make_app as es_app
from tests.peers.osmem_peer import KIBANA_LOGS_MAPPING, fresh_cluster, running_osmem

FAST = {
    "provider_retries": 0,
    "provider_backoff_seconds": 0.0,
    "provider_timeout_seconds": 5.0,
    "provider_max_rate_limit_wait_seconds": 0.0,
    "initial_lookback_seconds": 3600.0,
}
"""No retries and no inline rate-limit waits: every failing check answers at once."""

MASK = "********"
KINDS = ("auth", "permission", "not_found", "unreachable", "rate_limited")
CW_SECRET = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYzSECRETKEY"
CW_GROUP = "/app/api"
ES_KEY_ID = "eQWAIG0Bo0VqB8HXFH9-"
ES_API_KEY = "dZ5ycVRJTU-5UW_RYfi1_w"
WRONG = {
    "datadog": "wrong-dd-api-key-000000000000",
    "sentry": "sntryu_" + "0" * 64,
    "sumologic": "wrong-sumo-access-key-0123456789",
    "elasticsearch": "wrong-es-api-key-value-0123",
}
SECRETS = {
    datadog_fake.API_KEY,
    datadog_fake.APPLICATION_KEY,
    sentry_fake.USER_TOKEN,
    sentry_fake.ORG_TOKEN,
    sumologic_fake.ACCESS_KEY,
    CW_SECRET,
    ES_API_KEY,
    *WRONG.values(),
}
URL_PASSWORD = "hunter2-in-url"


# --------------------------------------------------------------------------- peers


def aws_throttling_app() -> FastAPI:
    """An AWS JSON-protocol endpoint that throttles every call (moto cannot)."""
    app = FastAPI()

    @app.post("/")
    async def throttled() -> Response:
        return JSONResponse(
            {"__type": "ThrottlingException", "message": "Rate exceeded"},
            status_code=400,
            media_type="application/x-amz-json-1.1",
        )

    return app


@dataclass
class Peers:
    datadog: datadog_fake.RunningDatadog
    sentry: sentry_fake.RunningSentry
    sumo: sumologic_fake.RunningSumo
    moto: str
    logs: Any
    """A boto3 CloudWatch Logs client of moto (building one takes a while)."""
    es_state: EsFakeState
    es_url: str
    aws_throttling: str


@pytest.fixture(scope="module")
def peers() -> Iterator[Peers]:
    with ExitStack() as stack:
        osmem = stack.enter_context(running_osmem())
        cluster = stack.enter_context(fresh_cluster(osmem))
        cluster.create_index("app-logs", KIBANA_LOGS_MAPPING)
        es_state = EsFakeState(backend=cluster.url, api_keys={ES_KEY_ID: ES_API_KEY})
        moto = stack.enter_context(cw_peer.moto_server())
        yield Peers(
            datadog=stack.enter_context(datadog_fake.running()),
            sentry=stack.enter_context(sentry_fake.running()),
            sumo=stack.enter_context(sumologic_fake.running()),
            moto=moto,
            logs=cw_peer.client(moto),
            es_state=es_state,
            es_url=stack.enter_context(serve(es_app(es_state))),
            aws_throttling=stack.enter_context(serve(aws_throttling_app())),
        )


@dataclass(repr=False)
class World:
    """This test's peers, and every secret that must never show up in a response."""

    peers: Peers
    secrets: set[str]

    def __repr__(self) -> str:
        return "World(...)"  # keeps the secrets out of failure reports


@pytest.fixture
def leaks() -> set[str]:
    """Strings no response body or log line may contain (tests add the ones they make up)."""
    return set(SECRETS)


def reset(peers: Peers) -> None:
    """Every peer back to its defaults: no faults, no denials, moto with one log group."""
    peers.datadog.state.clear()
    peers.datadog.state.can_read_logs = True
    peers.sentry.state.clear()
    peers.sumo.state.clear()
    peers.es_state.clear()
    peers.es_state.no_read.clear()
    cw_peer.reset(peers.moto)
    peers.logs.create_log_group(logGroupName=CW_GROUP)


@pytest.fixture
def world(peers: Peers, leaks: set[str]) -> World:
    reset(peers)
    return World(peers, leaks)


# --------------------------------------------------------------------------- app and client


@pytest.fixture
def settings(db_url: str, tmp_path: Path) -> Settings:
    """Overrides conftest's: no retries or waits, so failing checks answer at once."""
    return make_settings(tmp_path / "data", db_url, **FAST)


@pytest.fixture
def api(client: TestClient, leaks: set[str], caplog: pytest.LogCaptureFixture) -> Iterator[TestClient]:
    """The API client; at teardown, no response body and no ReplayLink log line holds a secret."""
    caplog.set_level(logging.DEBUG, logger="replaylink")
    bodies: list[str] = []

    def record(response: httpx.Response) -> None:
        response.read()
        bodies.append(response.text)

    client.event_hooks["response"].append(record)
    yield client
    assert bodies
    logged = [r.getMessage() for r in caplog.records if r.name.startswith("replaylink")]
    for secret in leaks:
        for text_ in (*bodies, *logged):
            assert secret not in text_, f"a secret leaked into: {text_[:300]}"


@pytest.fixture
def private_api(db_url: str, tmp_path: Path, api: TestClient) -> Iterator[TestClient]:
    """The same database served with REPLAYLINK_BLOCK_PRIVATE_NETWORKS=true."""
    runtime = Runtime(make_settings(tmp_path / "private", db_url, block_private_networks=True, **FAST))
    with TestClient(create_app(runtime)) as private:
        private.event_hooks["response"] = api.event_hooks["response"]
        yield private
    runtime.close()


# --------------------------------------------------------------------------- provider table

Failure = Callable[[World], AbstractContextManager[dict[str, Any]]]


@dataclass(frozen=True)
class Case:
    provider: str
    label: str
    secret: str
    """The main secret field, set in ``valid``."""
    url_field: str
    valid: Callable[[Peers], dict[str, Any]]
    tweak: Callable[[Peers], dict[str, Any]]
    """A change of non-secret settings the peer still accepts."""
    failures: dict[str, Failure]

    def __str__(self) -> str:
        return self.provider


def _local(url: str) -> str:
    return url.replace("127.0.0.1", "localhost")


def _dead_url() -> str:
    return f"http://127.0.0.1:{free_port()}"


def _override(valid: Callable[[Peers], dict[str, Any]], **changes: Any) -> Failure:
    """A failure that only changes settings (values may be callables of the peers)."""

    @contextmanager
    def failure(world: World) -> Iterator[dict[str, Any]]:
        values = {k: v(world.peers) if callable(v) else v for k, v in changes.items()}
        yield valid(world.peers) | values

    return failure


def _with_state(valid: Callable[[Peers], dict[str, Any]], change: Callable[[Peers], None]) -> Failure:
    """A failure made on the peer's side (its state is reset by the ``world`` fixture)."""

    @contextmanager
    def failure(world: World) -> Iterator[dict[str, Any]]:
        change(world.peers)
        yield valid(world.peers)

    return failure


def datadog_valid(p: Peers) -> dict[str, Any]:
    return {
        "api_key": datadog_fake.API_KEY,
        "application_key": datadog_fake.APPLICATION_KEY,
        "base_url": p.datadog.url,
        "indexes": ["main"],
    }


def sentry_valid(p: Peers) -> dict[str, Any]:
    return {
        "token": sentry_fake.USER_TOKEN,
        "organization_slug": sentry_fake.ORG,
        "project_slug": sentry_fake.PROJECT,
        "base_url": p.sentry.url,
    }


def sumo_valid(p: Peers) -> dict[str, Any]:
    return {
        "access_id": sumologic_fake.ACCESS_ID,
        "access_key": sumologic_fake.ACCESS_KEY,
        "base_url": p.sumo.api_url,
    }


def cloudwatch_valid(p: Peers) -> dict[str, Any]:
    return {
        "aws_access_key_id": cw_peer.TEST_KEY,
        "aws_secret_access_key": CW_SECRET,
        "region": cw_peer.REGION,
        "log_group_names": [CW_GROUP],
        "endpoint_url": p.moto,
    }


def es_valid(p: Peers) -> dict[str, Any]:
    return {"host": p.es_url, "api_key_id": ES_KEY_ID, "api_key": ES_API_KEY}


def _iam(actions: tuple[str, ...], **changes: str) -> Failure:
    """moto checks signatures and IAM policies while an IAM user with ``actions`` exists."""

    @contextmanager
    def failure(world: World) -> Iterator[dict[str, Any]]:
        with cw_peer.iam_user(world.peers.moto, actions) as (key_id, secret):
            world.secrets.add(secret)
            real = {"aws_access_key_id": key_id, "aws_secret_access_key": secret}
            yield cloudwatch_valid(world.peers) | real | changes

    return failure


def _inject(peer: Callable[[Peers], Any], retry_after: float = 120) -> Callable[[Peers], None]:
    return lambda p: peer(p).state.inject("429", retry_after=retry_after)


CASES = [
    Case(
        provider="datadog",
        label="Datadog",
        secret="api_key",
        url_field="base_url",
        valid=datadog_valid,
        tweak=lambda p: {"error_statuses": ["error", "critical"]},
        failures={
            "auth": _override(datadog_valid, api_key=WRONG["datadog"]),
            "permission": _with_state(
                datadog_valid, lambda p: setattr(p.datadog.state, "can_read_logs", False)
            ),
            "not_found": _override(datadog_valid, indexes=["main", "nosuchindex"]),
            "unreachable": _override(datadog_valid, base_url=lambda p: _dead_url()),
            "rate_limited": _with_state(datadog_valid, _inject(lambda p: p.datadog)),
        },
    ),
    Case(
        provider="sentry",
        label="Sentry",
        secret="token",
        url_field="base_url",
        valid=sentry_valid,
        # an address change: the stored token does not follow it unless it is entered again
        tweak=lambda p: {"base_url": _local(p.sentry.url), "token": sentry_fake.USER_TOKEN},
        failures={
            "auth": _override(sentry_valid, token=WRONG["sentry"]),
            "permission": _override(sentry_valid, token=sentry_fake.ORG_TOKEN),
            "not_found": _override(sentry_valid, project_slug="nope"),
            "unreachable": _override(sentry_valid, base_url=lambda p: _dead_url()),
            "rate_limited": _with_state(sentry_valid, _inject(lambda p: p.sentry, 3600)),
        },
    ),
    Case(
        provider="sumologic",
        label="Sumo Logic",
        secret="access_key",
        url_field="base_url",
        valid=sumo_valid,
        tweak=lambda p: {"error_filter": "(error OR exception)"},
        failures={
            "auth": _override(sumo_valid, access_key=WRONG["sumologic"]),
            "permission": _with_state(sumo_valid, lambda p: setattr(p.sumo.state, "forbidden", True)),
            "not_found": _override(sumo_valid, base_url=lambda p: p.sumo.url + "/nope"),
            "unreachable": _override(sumo_valid, base_url=lambda p: _dead_url() + "/api"),
            "rate_limited": _with_state(sumo_valid, _inject(lambda p: p.sumo)),
        },
    ),
    Case(
        provider="cloudwatch",
        label="AWS CloudWatch Logs",
        secret="aws_secret_access_key",
        url_field="endpoint_url",
        valid=cloudwatch_valid,
        tweak=lambda p: {"error_pattern": ["error", "fatal"]},
        failures={
            "auth": _iam(("logs:*",), aws_access_key_id="AKIAWRONGWRONGWRONG1"),
            "permission": _iam(("logs:DescribeLogGroups",)),
            "not_found": _override(cloudwatch_valid, log_group_names=[CW_GROUP, "/app/missing"]),
            "unreachable": _override(cloudwatch_valid, endpoint_url=lambda p: _dead_url()),
            "rate_limited": _override(cloudwatch_valid, endpoint_url=lambda p: p.aws_throttling),
        },
    ),
    Case(
        provider="elasticsearch",
        label="Elasticsearch",
        secret="api_key",
        url_field="host",
        valid=es_valid,
        tweak=lambda p: {"error_values": ["error", "fatal"]},
        failures={
            "auth": _override(es_valid, api_key=WRONG["elasticsearch"]),
            "permission": _with_state(es_valid, lambda p: p.es_state.no_read.add(ES_KEY_ID)),
            "not_found": _override(es_valid, indexes="missing-logs"),
            "unreachable": _override(es_valid, host=lambda p: _dead_url()),
            "rate_limited": _with_state(es_valid, lambda p: p.es_state.inject("429")),
        },
    ),
]
BY_NAME = {case.provider: case for case in CASES}
each_provider = pytest.mark.parametrize("case", CASES, ids=str)


# --------------------------------------------------------------------------- helpers


def url(seeded: Seeded, provider: str, name: str = "default", project: int | None = None) -> str:
    return f"/api/v1/projects/{project or seeded.project_id}/integrations/{provider}/{name}"


def put(
    api: TestClient, seeded: Seeded, case: Case, settings: dict[str, Any], **params: Any
) -> httpx.Response:
    return api.put(
        url(seeded, case.provider), params=params, json={"settings": settings}, headers=seeded.auth()
    )


def history(api: TestClient, seeded: Seeded, provider: str, name: str = "default") -> list[dict[str, Any]]:
    response = api.get(url(seeded, provider, name) + "/history", headers=seeded.auth())
    assert response.status_code == 200
    rows: list[dict[str, Any]] = response.json()
    return rows


def listed(api: TestClient, seeded: Seeded, project: int | None = None) -> list[dict[str, Any]]:
    response = api.get(f"/api/v1/projects/{project or seeded.project_id}/integrations", headers=seeded.auth())
    assert response.status_code == 200
    rows: list[dict[str, Any]] = response.json()
    return rows


def stored_secrets(rt: Runtime, seeded: Seeded, provider: str, name: str = "default") -> dict[str, Any]:
    with transaction(rt.sessions) as db:
        row = store.find(db, seeded.project_id, provider, name)
        assert row is not None
        return svc.stored_raw(row, rt.vault)


def count_rows(rt: Runtime, table: str) -> int:
    with rt.engine.connect() as conn:
        return int(conn.execute(text(f"SELECT COUNT(*) FROM {table}")).scalar_one())


def assert_nothing_saved(api: TestClient, rt: Runtime, seeded: Seeded, provider: str) -> None:
    assert listed(api, seeded) == []
    assert api.get(url(seeded, provider), headers=seeded.auth()).status_code == 404
    assert history(api, seeded, provider) == []
    assert count_rows(rt, "integrations") == 0
    assert count_rows(rt, "integration_history") == 0


def without_lag(integration: dict[str, Any]) -> dict[str, Any]:
    """The integration without ``health.lag_seconds`` (now minus the checkpoint: it grows)."""
    health = {k: v for k, v in integration["health"].items() if k != "lag_seconds"}
    return integration | {"health": health}


def assert_masked(view: dict[str, Any], case: Case, given: dict[str, Any]) -> None:
    """Secrets as ******** + last 4, unset secrets null, every given non-secret value shown."""
    secret_names = svc.secret_fields(case.provider)
    assert case.secret in secret_names
    for name in secret_names:
        value = given.get(name)
        assert view[name] == (MASK + value[-4:] if value else None)
    for name, value in given.items():
        if name not in secret_names:
            assert view[name] == value


# --------------------------------------------------------------------------- per provider


@each_provider
def test_create_with_a_passing_check(api: TestClient, world: World, seeded: Seeded, case: Case) -> None:
    valid = case.valid(world.peers)
    created = put(api, seeded, case, valid)
    assert created.status_code == 201, created.text
    body = created.json()
    assert (body["provider"], body["name"], body["enabled"], body["paused"]) == (
        case.provider,
        "default",
        True,
        False,
    )
    assert_masked(body["settings"], case, valid)
    assert body["poll_interval_seconds"] == 15
    health = body["health"]
    assert health["status"] == "pending"
    assert health["last_success_at"] is None and health["last_error_at"] is None
    assert health["last_error"] is None and health["consecutive_failures"] == 0
    assert health["lag_seconds"] >= FAST["initial_lookback_seconds"]
    assert (health["records_scanned"], health["events_imported"]) == (0, 0)
    assert datetime.fromisoformat(health["next_poll_at"])

    assert [without_lag(row) for row in listed(api, seeded)] == [without_lag(body)]
    assert without_lag(api.get(url(seeded, case.provider), headers=seeded.auth()).json()) == without_lag(body)
    [entry] = history(api, seeded, case.provider)
    assert entry["action"] == "created" and entry["actor"].startswith("api-key:")
    assert entry["changes"][case.secret] == "changed"
    assert entry["changes"][case.url_field] == {"old": None, "new": body["settings"][case.url_field]}


@each_provider
def test_create_refused_by_each_failing_check(
    api: TestClient, rt: Runtime, world: World, seeded: Seeded, case: Case
) -> None:
    assert set(case.failures) == set(KINDS)
    for kind in KINDS:
        reset(world.peers)
        with case.failures[kind](world) as settings:
            refused = put(api, seeded, case, settings)
        assert refused.status_code == 422, (kind, refused.text)
        error = refused.json()["error"]
        assert error["code"] == "check_failed"
        assert error["details"]["kind"] == kind
        assert error["message"].startswith(f"{case.label} refused these settings: ")
        assert_nothing_saved(api, rt, seeded, case.provider)

    with case.failures["unreachable"](world) as settings:  # ?check=false: saved all the same
        saved = put(api, seeded, case, settings, check="false")
    assert saved.status_code in (200, 201), saved.text
    assert [row["name"] for row in listed(api, seeded)] == ["default"]
    assert saved.json()["settings"][case.url_field] == settings[case.url_field]
    assert [h["action"] for h in history(api, seeded, case.provider)] == ["created"]
    recheck = api.post(url(seeded, case.provider) + "/check", headers=seeded.auth())
    assert recheck.status_code == 422 and recheck.json()["error"]["details"]["kind"] == "unreachable"


@each_provider
def test_patch_keeps_secrets(api: TestClient, rt: Runtime, world: World, seeded: Seeded, case: Case) -> None:
    valid, tweak = case.valid(world.peers), case.tweak(world.peers)
    created = put(api, seeded, case, valid).json()
    path = url(seeded, case.provider)

    omitted = api.patch(path, json={"settings": tweak}, headers=seeded.auth())
    assert omitted.status_code == 200, omitted.text
    view = omitted.json()["settings"]
    assert_masked(view, case, {k: v for k, v in valid.items() if k not in tweak or k == case.secret})
    assert stored_secrets(rt, seeded, case.provider)[case.secret] == valid[case.secret]

    echoed = api.patch(
        path, json={"settings": view, "poll_interval_seconds": 60}, headers=seeded.auth()
    )  # the masked values sent back as they were shown
    assert echoed.status_code == 200, echoed.text
    assert echoed.json()["settings"] == view and echoed.json()["poll_interval_seconds"] == 60
    assert stored_secrets(rt, seeded, case.provider)[case.secret] == valid[case.secret]
    check = api.post(path + "/check", headers=seeded.auth())
    assert check.status_code == 200 and check.json()["ok"] is True

    with case.failures["auth"](world) as refused:
        changed = {k: v for k, v in refused.items() if valid.get(k) != v}
        wrong = api.patch(path, json={"settings": changed}, headers=seeded.auth())
    assert wrong.status_code == 422 and wrong.json()["error"]["details"]["kind"] == "auth"
    assert stored_secrets(rt, seeded, case.provider)[case.secret] == valid[case.secret]

    actions = history(api, seeded, case.provider)
    assert [h["action"] for h in actions] == ["updated", "updated", "created"]
    tweaked, echoed_entry = actions[1]["changes"], actions[0]["changes"]
    assert set(tweaked) == {k for k in tweak if created["settings"][k] != view[k]}
    assert case.secret not in tweaked
    assert echoed_entry == {"poll_interval_seconds": {"old": 15, "new": 60}}


@each_provider
def test_put_replaces(api: TestClient, rt: Runtime, world: World, seeded: Seeded, case: Case) -> None:
    valid, tweak = case.valid(world.peers), case.tweak(world.peers)
    created = put(api, seeded, case, valid).json()
    replaced = api.put(
        url(seeded, case.provider),
        json={"settings": valid | tweak, "poll_interval_seconds": 120},
        headers=seeded.auth(),
    )
    assert replaced.status_code == 200, replaced.text
    body = replaced.json()
    assert body["created_at"] == created["created_at"]
    assert body["poll_interval_seconds"] == 120
    assert_masked(body["settings"], case, valid | tweak)
    assert [row["settings"] for row in listed(api, seeded)] == [body["settings"]]

    echoed = put(api, seeded, case, body["settings"])  # a form sent back as it was shown, masked
    assert echoed.status_code == 200, echoed.text
    assert echoed.json()["settings"] == body["settings"]
    assert stored_secrets(rt, seeded, case.provider)[case.secret] == valid[case.secret]

    with case.failures["auth"](world) as other:
        unchecked = put(api, seeded, case, other, check="false")
    assert unchecked.status_code == 200
    assert stored_secrets(rt, seeded, case.provider)[case.secret] == other[case.secret]
    latest, unchanged, first_replace, _ = history(api, seeded, case.provider)
    assert [h["action"] for h in (latest, unchanged, first_replace)] == ["replaced"] * 3
    assert unchanged["changes"] == {}
    assert case.secret not in first_replace["changes"]
    assert set(tweak) & set(first_replace["changes"])
    assert latest["changes"][case.secret] == "changed"


@each_provider
def test_delete_keeps_events_unless_purged(
    api: TestClient, rt: Runtime, world: World, seeded: Seeded, case: Case
) -> None:
    path = url(seeded, case.provider)
    session = add_session(rt, seeded.project_id)

    def create_with_event() -> int:
        assert put(api, seeded, case, case.valid(world.peers), check="false").status_code in (200, 201)
        with transaction(rt.sessions) as db:
            row = store.find(db, seeded.project_id, case.provider, "default")
            assert row is not None
            row_id = row.id
        add_event(rt, session, provider=case.provider, integration_id=row_id)
        return row_id

    create_with_event()
    kept = api.delete(path, headers=seeded.auth())
    assert kept.status_code == 200 and kept.json() == {"deleted": True, "events_purged": 0}
    assert api.get(path, headers=seeded.auth()).status_code == 404
    assert listed(api, seeded) == []
    with rt.engine.connect() as conn:
        events = conn.execute(text("SELECT integration_id FROM backend_events")).all()
    assert events == [(None,)]  # detached, not deleted

    create_with_event()
    purged = api.delete(path, params={"purge_events": "true"}, headers=seeded.auth())
    assert purged.status_code == 200 and purged.json() == {"deleted": True, "events_purged": 1}
    assert count_rows(rt, "backend_events") == 1  # only the first integration's detached event
    assert count_rows(rt, "integrations") == 0
    assert api.delete(path, headers=seeded.auth()).status_code == 404

    actions = [(h["action"], h["changes"]) for h in history(api, seeded, case.provider)]
    assert actions[0] == ("deleted", {"purge_events": True})
    assert actions[2] == ("deleted", {"purge_events": False})
    assert [a for a, _ in actions] == ["deleted", "created", "deleted", "created"]


@each_provider
def test_pause_and_resume(api: TestClient, world: World, seeded: Seeded, case: Case) -> None:
    path = url(seeded, case.provider)
    assert put(api, seeded, case, case.valid(world.peers), check="false").status_code == 201
    paused = api.post(path + "/pause", headers=seeded.auth(seeded.project_api_key))
    assert paused.status_code == 200
    assert paused.json()["paused"] is True
    assert paused.json()["health"]["status"] == "paused"
    assert paused.json()["health"]["next_poll_at"] is None
    again = api.post(path + "/pause", headers=seeded.auth())
    assert again.status_code == 200 and again.json()["paused"] is True
    assert listed(api, seeded)[0]["health"]["status"] == "paused"

    resumed = api.post(path + "/resume", headers=seeded.auth())
    assert resumed.status_code == 200
    assert resumed.json()["paused"] is False
    assert resumed.json()["health"]["status"] == "pending"
    assert resumed.json()["health"]["next_poll_at"] is not None

    entries = history(api, seeded, case.provider)
    assert [h["action"] for h in entries] == ["resumed", "paused", "created"]
    assert entries[1]["actor"] != entries[0]["actor"]  # project key paused, admin key resumed
    assert entries[0]["actor"] == entries[2]["actor"]


@each_provider
def test_check_endpoint(api: TestClient, world: World, seeded: Seeded, case: Case) -> None:
    path = url(seeded, case.provider)
    assert api.post(path + "/check", headers=seeded.auth()).status_code == 404
    valid = case.valid(world.peers)
    assert put(api, seeded, case, valid).status_code == 201

    ok = api.post(path + "/check", headers=seeded.auth())
    assert ok.status_code == 200
    assert ok.json() == {"ok": True, "message": f"{case.label} accepted these settings."}
    merged = api.post(path + "/check", json={"settings": case.tweak(world.peers)}, headers=seeded.auth())
    assert merged.status_code == 200
    with case.failures["auth"](world) as refused:
        changed = {k: v for k, v in refused.items() if valid.get(k) != v}
        bad = api.post(path + "/check", json={"settings": changed}, headers=seeded.auth())
    assert bad.status_code == 422 and bad.json()["error"]["details"]["kind"] == "auth"
    assert api.post(path + "/check", json={}, headers=seeded.auth()).status_code == 200  # stored kept

    unsaved = url(seeded, case.provider, "second") + "/check"
    assert api.post(unsaved, json={"settings": valid}, headers=seeded.auth()).status_code == 200
    # checks with settings are recorded (passed or refused), checks of the stored settings are not
    entries = history(api, seeded, case.provider)
    assert [h["action"] for h in entries] == ["checked", "checked", "created"]
    assert entries[0]["changes"] == {"fields": sorted(changed)}
    assert history(api, seeded, case.provider, "second") == []
    assert [row["name"] for row in listed(api, seeded)] == ["default"]


def test_several_integrations_of_one_provider(api: TestClient, world: World, seeded: Seeded) -> None:
    case = BY_NAME["sentry"]
    for name in ("default", "eu-2", "b_side"):
        response = api.put(
            url(seeded, case.provider, name),
            params={"check": "false"},
            json={"settings": case.valid(world.peers)},
            headers=seeded.auth(),
        )
        assert response.status_code == 201 and response.json()["name"] == name
    assert [row["name"] for row in listed(api, seeded)] == ["b_side", "default", "eu-2"]
    assert api.delete(url(seeded, case.provider, "eu-2"), headers=seeded.auth()).status_code == 200
    assert [row["name"] for row in listed(api, seeded)] == ["b_side", "default"]


# --------------------------------------------------------------------------- catalogue and picker


FIELDS = {
    "datadog": {"api_key", "application_key", "site", "indexes", "base_url", "error_statuses"},
    "sentry": {"token", "organization_slug", "project_slug", "base_url"},
    "sumologic": {"access_id", "access_key", "deployment", "base_url", "error_filter"},
    "cloudwatch": {
        "aws_access_key_id",
        "aws_secret_access_key",
        "aws_session_token",
        "region",
        "log_group_names",
        "endpoint_url",
        "error_pattern",
    },
    "elasticsearch": {
        "host",
        "port",
        "api_key_id",
        "api_key",
        "indexes",
        "encoded_api_key",
        "username",
        "password",
        "verify_tls",
        "ca_cert",
        "message_field",
        "timestamp_field",
        "error_field",
        "error_values",
        "kibana_url",
    },
}
SECRET_FIELDS = {
    "datadog": ["api_key", "application_key"],
    "sentry": ["token"],
    "sumologic": ["access_key"],
    "cloudwatch": ["aws_secret_access_key", "aws_session_token"],
    "elasticsearch": ["api_key", "encoded_api_key", "password"],
}
SEED_TITLES = {
    "datadog": {"api_key": "API Key", "application_key": "Application Key"},
    "sumologic": {"access_id": "Access ID", "access_key": "Access Key"},
    "cloudwatch": {"aws_access_key_id": "Access key ID", "aws_secret_access_key": "Secret access key"},
    "sentry": {"token": "Token"},
}


def test_provider_catalogue(api: TestClient, seeded: Seeded) -> None:
    assert api.get("/api/v1/integrations/providers").status_code == 401
    response = api.get("/api/v1/integrations/providers", headers=seeded.auth(seeded.project_api_key))
    assert response.status_code == 200
    catalogue = {item["name"]: item for item in response.json()}
    assert list(catalogue) == list(FIELDS)
    for name, item in catalogue.items():
        assert item["label"] == BY_NAME[name].label
        props = item["settings_schema"]["properties"]
        assert set(props) == FIELDS[name]
        assert item["secret_fields"] == sorted(SECRET_FIELDS[name])
        assert sorted(f for f, p in props.items() if p.get("secret") is True) == sorted(SECRET_FIELDS[name])
        for field_name, title in SEED_TITLES.get(name, {}).items():
            assert props[field_name]["title"] == title
    datadog = catalogue["datadog"]["settings_schema"]["properties"]
    assert datadog["site"]["default"] == "datadoghq.com"
    assert {
        "datadoghq.com",
        "datadoghq.eu",
        "us3.datadoghq.com",
        "us5.datadoghq.com",
        "ap1.datadoghq.com",
    } <= set(datadog["site"]["enum"])
    sumo = catalogue["sumologic"]["settings_schema"]["properties"]
    assert sumo["deployment"]["default"] == "us1"
    assert {"us1", "us2", "eu", "au", "ca", "de", "jp", "in", "fed"} <= set(sumo["deployment"]["enum"])
    regions = catalogue["cloudwatch"]["settings_schema"]["properties"]["region"]["enum"]
    assert {"us-east-1", "eu-west-1", "ap-southeast-2"} <= set(regions) and regions == sorted(regions)
    es = catalogue["elasticsearch"]["settings_schema"]
    assert es["properties"]["indexes"]["default"] == "*log*"
    assert es["properties"]["port"]["default"] == 9200
    assert es["properties"]["message_field"]["default"] == "message"
    assert es["properties"]["timestamp_field"]["default"] == "utc_time"
    assert es["required"] == ["host"]
    sentry = catalogue["sentry"]["settings_schema"]
    assert set(sentry["required"]) == {"token", "organization_slug", "project_slug"}


def test_cloudwatch_log_group_picker(api: TestClient, world: World, seeded: Seeded) -> None:
    for group in ("/svc/b", "/svc/a", "/other/x"):
        world.peers.logs.create_log_group(logGroupName=group)
    credentials = {
        "aws_access_key_id": cw_peer.TEST_KEY,
        "aws_secret_access_key": CW_SECRET,
        "region": cw_peer.REGION,
        "endpoint_url": world.peers.moto,
    }
    path = "/api/v1/integrations/cloudwatch/log-groups"
    picked = api.post(
        path, json=credentials | {"prefix": "/svc/"}, headers=seeded.auth(seeded.project_api_key)
    )
    assert picked.status_code == 200, picked.text
    assert picked.json() == {"log_groups": ["/svc/a", "/svc/b"]}
    everything = api.post(path, json=credentials, headers=seeded.auth())
    assert everything.json() == {"log_groups": ["/app/api", "/other/x", "/svc/a", "/svc/b"]}
    assert api.post(path, json=credentials | {"prefix": "/none"}, headers=seeded.auth()).json() == {
        "log_groups": []
    }

    assert api.post(path, json=credentials).status_code == 401
    bad_region = api.post(path, json=credentials | {"region": "mars-north-1"}, headers=seeded.auth())
    assert bad_region.status_code == 422
    assert [d["field"] for d in bad_region.json()["error"]["details"]] == ["region"]
    metadata = api.post(
        path, json=credentials | {"endpoint_url": "http://169.254.169.254"}, headers=seeded.auth()
    )
    assert metadata.status_code == 422
    assert [d["field"] for d in metadata.json()["error"]["details"]] == ["endpoint_url"]
    unreachable = api.post(path, json=credentials | {"endpoint_url": _dead_url()}, headers=seeded.auth())
    assert unreachable.status_code == 422
    assert unreachable.json()["error"]["details"]["kind"] == "unreachable"
    missing = api.post(path, json={"region": cw_peer.REGION}, headers=seeded.auth())
    assert missing.status_code == 422
    assert {d["field"] for d in missing.json()["error"]["details"]} == {
        "aws_access_key_id",
        "aws_secret_access_key",
    }
    with cw_peer.iam_user(world.peers.moto) as (key_id, secret):
        world.secrets.add(secret)
        refused = api.post(path, json=credentials | {"aws_access_key_id": key_id}, headers=seeded.auth())
    assert refused.status_code == 422 and refused.json()["error"]["details"]["kind"] == "auth"


def test_choices_are_a_generic_capability(api: TestClient, world: World, seeded: Seeded) -> None:
    """The picker is one route for every provider; the catalogue says which fields have choices."""
    for group in ("/svc/b", "/svc/a"):
        world.peers.logs.create_log_group(logGroupName=group)
    catalogue = api.get("/api/v1/integrations/providers", headers=seeded.auth()).json()
    offered = {item["name"]: item["choice_fields"] for item in catalogue}
    assert offered == {name: list(providers.get(name).choice_fields) for name in providers.names()}
    assert offered["cloudwatch"] == ["log_group_names"]
    settings = cloudwatch_valid(world.peers) | {"log_group_names": "not/ a valid group!"}
    path = "/api/v1/integrations/cloudwatch/choices/log_group_names"
    picked = api.post(path, json={"settings": settings, "prefix": "/svc/"}, headers=seeded.auth())
    assert picked.status_code == 200, picked.text
    assert picked.json() == {"field": "log_group_names", "choices": ["/svc/a", "/svc/b"]}
    assert api.post(path, json={"settings": settings}).status_code == 401
    unsafe = api.post(
        path, json={"settings": settings | {"endpoint_url": "http://169.254.169.254"}}, headers=seeded.auth()
    )
    assert unsafe.status_code == 422 and unsafe.json()["error"]["code"] == "invalid_settings"
    for provider in providers.names():
        for field in providers.get(provider).Settings.model_fields:
            if field in offered[provider]:
                continue
            none = api.post(
                f"/api/v1/integrations/{provider}/choices/{field}",
                json={"settings": {}},
                headers=seeded.auth(),
            )
            assert none.status_code == 404 and none.json()["error"]["code"] == "no_choices", (provider, field)
    unknown = api.post("/api/v1/integrations/nope/choices/x", json={}, headers=seeded.auth())
    assert unknown.status_code == 404 and unknown.json()["error"]["code"] == "unknown_provider"


def test_health_reports_failures_and_attention(
    api: TestClient, rt: Runtime, world: World, seeded: Seeded
) -> None:
    case = BY_NAME["datadog"]
    assert put(api, seeded, case, case.valid(world.peers), check="false").status_code == 201
    with transaction(rt.sessions) as db:
        row = store.find(db, seeded.project_id, "datadog", "default")
        assert row is not None
        row.consecutive_failures = 3
        row.last_error = "Datadog rate limit reached; ReplayLink will retry in 60 s."
        row.last_error_kind = "rate_limited"
        row.last_error_at = row.created_at
        row.records_scanned = 42
        row.events_imported = 7
    health = listed(api, seeded)[0]["health"]
    assert health["status"] == "failing" and health["consecutive_failures"] == 3
    assert health["last_error_kind"] == "rate_limited" and health["last_error"].startswith("Datadog rate")
    assert health["last_error_at"] is not None
    assert (health["records_scanned"], health["events_imported"]) == (42, 7)
    with transaction(rt.sessions) as db:
        row = store.find(db, seeded.project_id, "datadog", "default")
        assert row is not None
        row.needs_attention = True
    assert listed(api, seeded)[0]["health"]["status"] == "needs_attention"
    fixed = api.patch(url(seeded, "datadog"), json={"settings": {"indexes": ["main"]}}, headers=seeded.auth())
    assert fixed.status_code == 200 and fixed.json()["health"]["status"] == "failing"


# --------------------------------------------------------------------------- bad input


def _dd(**changes: Any) -> dict[str, Any]:
    return {"api_key": "a" * 32, "application_key": "b" * 40} | changes


def _sentry(**changes: Any) -> dict[str, Any]:
    return {"token": "t" * 40, "organization_slug": "acme", "project_slug": "backend"} | changes


def _sumo(**changes: Any) -> dict[str, Any]:
    return {"access_id": "suABC", "access_key": "k" * 32} | changes


def _cw(**changes: Any) -> dict[str, Any]:
    return {
        "aws_access_key_id": "AKIAEXAMPLE",
        "aws_secret_access_key": "s" * 40,
        "region": "us-east-1",
        "log_group_names": ["/app/api"],
    } | changes


def _es(**changes: Any) -> dict[str, Any]:
    return {"host": "https://es.example.com", "api_key_id": "id1", "api_key": "k" * 22} | changes


CREDENTIALS_IN_URL = f"https://user:{URL_PASSWORD}@example.com"
BAD_SETTINGS: dict[str, list[tuple[str, dict[str, Any], set[str]]]] = {
    "missing fields": [
        ("datadog", {"api_key": "a" * 32}, {"application_key"}),
        ("sentry", {}, {"token", "organization_slug", "project_slug"}),
        ("sumologic", {"access_id": "suABC"}, {"access_key"}),
        (
            "cloudwatch",
            {"aws_access_key_id": "AKIAEXAMPLE"},
            {"aws_secret_access_key", "region", "log_group_names"},
        ),
        ("elasticsearch", {"port": 9200}, {"host"}),
        ("elasticsearch", _es(api_key=None), {"api_key"}),
    ],
    "wrong types and unknown fields": [
        ("datadog", _dd(indexes="main"), {"indexes"}),
        ("datadog", _dd(api_key=12345), {"api_key"}),
        ("datadog", _dd(color="blue"), {"color"}),
        ("sentry", _sentry(organization_slug=["acme"]), {"organization_slug"}),
        ("sentry", _sentry(project_slug="not a slug!"), {"project_slug"}),
        ("sumologic", _sumo(access_id={"id": 1}), {"access_id"}),
        ("cloudwatch", _cw(log_group_names=5), {"log_group_names"}),
        ("cloudwatch", _cw(log_group_names=[]), {"log_group_names"}),
        ("elasticsearch", _es(port="nine thousand"), {"port"}),
        ("elasticsearch", _es(port=70000), {"port"}),
        ("elasticsearch", _es(verify_tls="maybe"), {"verify_tls"}),
    ],
    "oversized values": [
        ("datadog", _dd(api_key="a" * 5000), {"api_key"}),
        ("sentry", _sentry(token="t" * 5000), {"token"}),
        ("sumologic", _sumo(error_filter="e" * 5000), {"error_filter"}),
        ("cloudwatch", _cw(aws_secret_access_key="s" * 300), {"aws_secret_access_key"}),
        ("cloudwatch", _cw(log_group_names=[f"/g/{i}" for i in range(51)]), {"log_group_names"}),
        ("elasticsearch", _es(host="h" * 5000), {"host"}),
        ("elasticsearch", _es(error_values=["e"] * 21), {"error_values"}),
    ],
    "not in the list": [
        ("datadog", _dd(site="datadoghq.evil"), {"site"}),
        ("sumologic", _sumo(deployment="mars"), {"deployment"}),
        ("cloudwatch", _cw(region="mars-north-1"), {"region"}),
        ("cloudwatch", _cw(region="US-EAST-1"), {"region"}),
    ],
    "credentials in URLs": [
        ("datadog", _dd(base_url=CREDENTIALS_IN_URL), {"base_url"}),
        ("sentry", _sentry(base_url=CREDENTIALS_IN_URL), {"base_url"}),
        ("sumologic", _sumo(base_url=CREDENTIALS_IN_URL), {"base_url"}),
        ("cloudwatch", _cw(endpoint_url=CREDENTIALS_IN_URL), {"endpoint_url"}),
        ("elasticsearch", _es(host=CREDENTIALS_IN_URL), {"host"}),
        ("elasticsearch", _es(host=f"user:{URL_PASSWORD}@es.example.com:9200"), {"host"}),
        ("elasticsearch", _es(kibana_url=CREDENTIALS_IN_URL), {"kibana_url"}),
    ],
    "other schemes": [
        ("datadog", _dd(base_url="file:///etc/passwd"), {"base_url"}),
        ("sentry", _sentry(base_url="file:///etc/passwd"), {"base_url"}),
        ("sumologic", _sumo(base_url="ftp://api.sumologic.com/api"), {"base_url"}),
        ("cloudwatch", _cw(endpoint_url="file:///etc/passwd"), {"endpoint_url"}),
        ("elasticsearch", _es(host="file:///etc/passwd"), {"host"}),
        ("elasticsearch", _es(host="gopher://es.example.com:9200"), {"host"}),
    ],
    "several fields at once": [
        (
            "sentry",
            _sentry(project_slug="not a slug!", base_url="http://169.254.169.254"),
            {"project_slug", "base_url"},
        ),
        ("elasticsearch", _es(port="x", host="http://169.254.169.254"), {"port", "host"}),
        (
            "cloudwatch",
            _cw(region="mars-1", endpoint_url="http://[fd00:ec2::254]"),
            {"region", "endpoint_url"},
        ),
    ],
    "cloud metadata": [
        ("elasticsearch", _es(host=host), {"host"})
        for host in ("169.254.169.254", "169.254.169.254:9200", "[fd00:ec2::254]:9200", "2852039166:9200")
    ],
}
METADATA_URLS = [
    "http://169.254.169.254",
    "http://169.254.169.254/latest/meta-data/",
    "http://[fd00:ec2::254]",
    "http://[fd00:ec2::254]:80/latest",
    "http://[::ffff:169.254.169.254]",
    "http://2852039166/",
    "http://0251.0376.0251.0376/",
]
for _provider, _build, _field in [
    ("datadog", _dd, "base_url"),
    ("sentry", _sentry, "base_url"),
    ("sumologic", _sumo, "base_url"),
    ("cloudwatch", _cw, "endpoint_url"),
    ("elasticsearch", _es, "host"),
    ("elasticsearch", _es, "kibana_url"),
]:
    BAD_SETTINGS["cloud metadata"] += [(_provider, _build(**{_field: u}), {_field}) for u in METADATA_URLS]


@pytest.mark.parametrize("category", BAD_SETTINGS)
def test_bad_settings_are_refused_field_by_field(
    api: TestClient, rt: Runtime, leaks: set[str], seeded: Seeded, category: str
) -> None:
    leaks.add(URL_PASSWORD)
    for provider, raw, fields in BAD_SETTINGS[category]:
        for check in ("true", "false"):
            response = api.put(
                url(seeded, provider), params={"check": check}, json={"settings": raw}, headers=seeded.auth()
            )
            assert response.status_code == 422, (provider, fields, response.text)
            error = response.json()["error"]
            assert error["code"] == "invalid_settings"
            named = [detail["field"].split(".")[0] for detail in error["details"]]
            assert sorted(named) == sorted(fields), (provider, raw if len(str(raw)) < 500 else fields)
            assert all(detail["message"] for detail in error["details"])
    for provider in {provider for provider, _, _ in BAD_SETTINGS[category]}:
        assert_nothing_saved(api, rt, seeded, provider)


def test_patch_and_check_validate_too(api: TestClient, world: World, seeded: Seeded) -> None:
    case = BY_NAME["sentry"]
    assert put(api, seeded, case, case.valid(world.peers)).status_code == 201
    path = url(seeded, "sentry")
    for bad in ({"base_url": "http://169.254.169.254"}, {"project_slug": "-"}, {"extra": 1}):
        patched = api.patch(path, json={"settings": bad}, headers=seeded.auth())
        assert patched.status_code == 422 and patched.json()["error"]["code"] == "invalid_settings"
        checked = api.post(path + "/check", json={"settings": bad}, headers=seeded.auth())
        assert checked.status_code == 422 and checked.json()["error"]["code"] == "invalid_settings"
    assert [h["action"] for h in history(api, seeded, "sentry")] == ["created"]
    assert listed(api, seeded)[0]["settings"]["base_url"] == world.peers.sentry.url


BAD_BODIES = [
    {},
    {"settings": "api_key=abc"},
    {"settings": [1, 2]},
    {"settings": {f"k{i}": i for i in range(65)}},
    {"settings": _dd(), "poll_interval_seconds": 1},
    {"settings": _dd(), "poll_interval_seconds": 7200},
    {"settings": _dd(), "poll_interval_seconds": "often"},
]


def test_bad_request_bodies(api: TestClient, rt: Runtime, seeded: Seeded) -> None:
    for body in BAD_BODIES:
        response = api.put(
            url(seeded, "datadog"), params={"check": "false"}, json=body, headers=seeded.auth()
        )
        assert response.status_code == 422, response.text
        assert response.json()["error"]["code"] == "invalid_request"
    assert_nothing_saved(api, rt, seeded, "datadog")


def test_oversized_body_is_refused(api: TestClient, rt: Runtime, seeded: Seeded) -> None:
    response = api.put(
        url(seeded, "elasticsearch"),
        params={"check": "false"},
        json={"settings": _es(ca_cert="A" * 70_000)},
        headers=seeded.auth(),
    )
    assert response.status_code == 413
    assert_nothing_saved(api, rt, seeded, "elasticsearch")


def test_bad_integration_names(api: TestClient, rt: Runtime, seeded: Seeded) -> None:
    for name in ("Default", "bad name", "-lead", "_lead", "émoji", "dot.ted", "x" * 65):
        response = api.put(
            url(seeded, "datadog", name),
            params={"check": "false"},
            json={"settings": _dd()},
            headers=seeded.auth(),
        )
        assert response.status_code == 422, response.text
        assert response.json()["error"]["code"] == ("invalid_request" if len(name) > 64 else "invalid_name")
    assert count_rows(rt, "integrations") == 0


ROUTES = [
    ("GET", ""),
    ("PUT", ""),
    ("PATCH", ""),
    ("DELETE", ""),
    ("POST", "/check"),
    ("POST", "/pause"),
    ("POST", "/resume"),
    ("GET", "/history"),
]


def test_unknown_provider_is_404_on_every_route(api: TestClient, seeded: Seeded) -> None:
    for method, suffix in ROUTES:
        body = {"settings": _dd()} if method in ("PUT", "PATCH", "POST") else None
        response = api.request(method, url(seeded, "splunk") + suffix, json=body, headers=seeded.auth())
        assert response.status_code == 404, (method, suffix, response.text)
        assert response.json()["error"]["code"] == "unknown_provider"
        assert "datadog, sentry, sumologic, cloudwatch, elasticsearch" in response.json()["error"]["message"]


# --------------------------------------------------------------------------- outbound safety


@each_provider
def test_loopback_refused_when_private_networks_are_blocked(
    private_api: TestClient, rt: Runtime, world: World, seeded: Seeded, case: Case
) -> None:
    literal = private_api.put(
        url(seeded, case.provider), json={"settings": case.valid(world.peers)}, headers=seeded.auth()
    )
    assert literal.status_code == 422, literal.text
    error = literal.json()["error"]
    assert error["code"] == "invalid_settings"
    assert error["details"] == [
        {
            "field": case.url_field,
            "message": f"{case.url_field} points at a loopback or private address "
            "(REPLAYLINK_BLOCK_PRIVATE_NETWORKS is on); ReplayLink will not connect there.",
        }
    ]
    # a name passes the save-time check but is refused when the connection is made
    by_name = case.valid(world.peers)
    by_name[case.url_field] = _local(by_name[case.url_field])
    refused = private_api.put(url(seeded, case.provider), json={"settings": by_name}, headers=seeded.auth())
    assert refused.status_code == 422, refused.text
    assert refused.json()["error"]["details"]["kind"] == "unreachable"
    assert "will not connect there" in refused.json()["error"]["message"]
    assert_nothing_saved(private_api, rt, seeded, case.provider)

    saved = private_api.put(
        url(seeded, case.provider),
        params={"check": "false"},
        json={"settings": by_name},
        headers=seeded.auth(),
    )
    assert saved.status_code == 201
    recheck = private_api.post(url(seeded, case.provider) + "/check", headers=seeded.auth())
    assert recheck.status_code == 422 and "will not connect there" in recheck.json()["error"]["message"]


@each_provider
def test_a_name_resolving_to_the_metadata_service_is_refused_at_connect_time(
    api: TestClient, world: World, seeded: Seeded, case: Case, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The saved host name passes the save-time check; the check's connection is refused because
    the name now resolves to 169.254.169.254 (the OS resolver is replaced, not ReplayLink code)."""
    real = socket.getaddrinfo

    def resolver(host: Any, port: Any, *args: Any, **kwargs: Any) -> Any:
        if host == "rebind.test":
            return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", ("169.254.169.254", int(port or 80)))]
        return real(host, port, *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", resolver)
    settings = case.valid(world.peers)
    settings[case.url_field] = settings[case.url_field].replace("127.0.0.1", "rebind.test")
    saved = put(api, seeded, case, settings, check="false")
    assert saved.status_code == 201
    checked = api.post(url(seeded, case.provider) + "/check", headers=seeded.auth())
    assert checked.status_code == 422, checked.text
    assert checked.json()["error"]["details"]["kind"] == "unreachable"
    assert "link-local or cloud-metadata address" in checked.json()["error"]["message"]


# --------------------------------------------------------------------------- isolation


def test_project_keys_see_only_their_project(api: TestClient, world: World, seeded: Seeded) -> None:
    case = BY_NAME["datadog"]
    other = url(seeded, "datadog", project=seeded.other_project_id)
    created = api.put(
        other, params={"check": "false"}, json={"settings": case.valid(world.peers)}, headers=seeded.auth()
    )
    assert created.status_code == 201
    outsider = seeded.auth(seeded.project_api_key)
    assert (
        api.get(f"/api/v1/projects/{seeded.other_project_id}/integrations", headers=outsider).status_code
        == 404
    )
    for method, suffix in ROUTES:
        body = {"settings": case.valid(world.peers)} if method in ("PUT", "PATCH", "POST") else None
        response = api.request(method, other + suffix, json=body, headers=outsider)
        assert response.status_code == 404, (method, suffix, response.text)
        assert response.json()["error"]["code"] == "not_found"
    for name in ("default", "nope"):  # absent integrations answer the same
        assert api.get(url(seeded, "datadog", name), headers=outsider).status_code == 404

    owner = seeded.auth(seeded.other_api_key)
    [row] = listed(api, seeded, seeded.other_project_id)
    assert row["paused"] is False
    assert without_lag(row) == without_lag(api.get(other, headers=owner).json())
    assert [h["action"] for h in api.get(other + "/history", headers=owner).json()] == ["created"]
    assert api.get(f"/api/v1/projects/{seeded.project_id}/integrations", headers=owner).status_code == 404
