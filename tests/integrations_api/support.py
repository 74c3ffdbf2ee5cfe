"""Shared by the integration settings API tests: every provider's peer, a :class:`Case` per
provider (valid settings and a way to make each check fail), fixtures and request helpers.

Each response body of every test is recorded and checked for secrets at teardown (``api``).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from fastapi.responses import JSONResponse, Response
from fastapi.testclient import TestClient
from sqlalchemy import text

from replaylink.api.app import create_app
from replaylink.config import Settings
from replaylink.integrations import settings as svc
from replaylink.runtime import Runtime
from replaylink.store import integrations as store
from replaylink.store.db import transaction
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
