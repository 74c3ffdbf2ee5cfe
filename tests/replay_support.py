"""Replay test helpers: both replay stores (filesystem, S3 on moto's server), tracker-like batches.

Import the fixtures into a test module (``from tests.replay_support import *``-style, by name):
``settings`` there overrides conftest's, so ``rt`` and ``client`` get the parametrized store.
"""

from __future__ import annotations

import gzip
import json
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
from fastapi.testclient import TestClient
from httpx import Response

from replaylink.config import Settings
from tests.conftest import make_settings
from tests.peers.cloudwatch_peer import moto_server

BATCHES = "/ingest/v1/batches"
AWS_ENV = {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_DEFAULT_REGION": "us-east-1",
}


@pytest.fixture(scope="session")
def moto_endpoint() -> Iterator[str]:
    with moto_server() as endpoint:
        yield endpoint


@pytest.fixture(params=["fs", "s3"])
def replay_target(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> dict[str, Any]:
    """Settings for the replay store: the data directory, or a fresh bucket on moto."""
    if request.param == "fs":
        return {}
    endpoint: str = request.getfixturevalue("moto_endpoint")
    for name, value in AWS_ENV.items():
        monkeypatch.setenv(name, value)
    bucket = f"replays-{uuid.uuid4().hex[:12]}"
    boto3.client("s3", endpoint_url=endpoint).create_bucket(Bucket=bucket)
    return {"replay_store": f"s3://{bucket}/rl", "s3_endpoint_url": endpoint}


@pytest.fixture
def settings(db_url: str, tmp_path: Path, replay_target: dict[str, Any]) -> Settings:
    return make_settings(tmp_path / "data", db_url, **replay_target)


def now_ms() -> int:
    return int(time.time() * 1000)


def rrweb_events(t0: int, *, clicks: int = 2, full: bool = True, moves: int = 5) -> list[dict[str, Any]]:
    """Meta + full snapshot (when ``full``), then clicks and mouse moves, 10 ms apart."""
    events: list[dict[str, Any]] = []
    if full:
        events.append({"type": 4, "data": {"href": "https://shop.example/", "width": 1280, "height": 800}})
        events.append(
            {
                "type": 2,
                "data": {
                    "node": {"type": 0, "childNodes": [{"type": 2, "tagName": "html", "id": 2}], "id": 1},
                    "initialOffset": {"top": 0, "left": None},
                },
            }
        )
    events += [{"type": 3, "data": {"source": 2, "type": 2, "id": 7, "x": 3, "y": 4}} for _ in range(clicks)]
    events += [
        {"type": 3, "data": {"source": 1, "positions": [{"x": 1, "y": 2, "id": 7, "timeOffset": 0}]}}
        for _ in range(moves)
    ]
    for offset, event in enumerate(events):
        event["timestamp"] = t0 + offset * 10
    return events


def make_batch(
    seq: int,
    *,
    tab: str = "tab-1",
    t0: int | None = None,
    devtools: list[dict[str, Any]] | None = None,
    **kwargs: Any,
) -> dict[str, Any]:
    t0 = now_ms() - 1000 if t0 is None else t0
    body: dict[str, Any] = {
        "v": 1,
        "tab": tab,
        "seq": seq,
        "events": rrweb_events(t0, **kwargs),
        "devtools": devtools or [],
        "page": {"url": "https://shop.example/"},
    }
    return body


def encode(batch: Any) -> bytes:
    return json.dumps(batch).encode()


def start(client: TestClient, project_key: str, **headers: str) -> tuple[int, str]:
    answer = client.post("/ingest/v1/sessions", json={"projectKey": project_key}, headers=headers)
    assert answer.status_code == 200, answer.text
    body = answer.json()
    return int(body["sessionId"]), body["token"]


def post(
    client: TestClient,
    token: str | None,
    batch: Any,
    *,
    compress: bool = True,
    headers: dict[str, str] | None = None,
    raw: bytes | None = None,
) -> Response:
    data = raw if raw is not None else encode(batch)
    all_headers = {"Content-Type": "application/json", **(headers or {})}
    if compress and raw is None:
        data = gzip.compress(data)
        all_headers["Content-Encoding"] = "gzip"
    if token is not None:
        all_headers.setdefault("Authorization", f"Bearer {token}")
    return client.post(BATCHES, content=data, headers=all_headers)


def error_code(response: Response) -> str:
    code: str = response.json()["error"]["code"]
    return code
