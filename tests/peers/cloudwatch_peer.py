"""moto in server mode as the CloudWatch Logs peer: start, reset, seed, and enforce IAM auth.

moto keeps its state per process (all servers in one process share it): call :func:`reset`
between tests. IAM enforcement is a process-wide moto setting too; :func:`iam_user` turns it on
and always turns it off again.
"""

from __future__ import annotations

import json
import logging
import multiprocessing
import threading
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any, Literal

import boto3
import httpx
from moto.server import ThreadedMotoServer

from tests.peers.common import free_port

REGION = "us-east-1"
TEST_KEY = "testing"
"""moto accepts any credentials while IAM auth is off."""
MAX_BATCH = 10_000
"""PutLogEvents takes at most 10,000 events (and 1 MiB) per call."""
MAX_BATCH_BYTES = 900_000


@contextmanager
def moto_server(port: int | None = None) -> Iterator[str]:
    """A moto server thread on 127.0.0.1 (a free port by default); yields its endpoint URL."""
    logging.getLogger("werkzeug").setLevel(logging.WARNING)  # one line per request otherwise
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port or free_port(), verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    try:
        yield f"http://{host}:{port}"
    finally:
        server.stop()


def _serve_forever(port: int) -> None:
    with moto_server(port):
        threading.Event().wait()


@contextmanager
def moto_process() -> Iterator[str]:
    """A moto server in a child process (benchmarks: a thread would share this one's GIL)."""
    port = free_port()
    process = multiprocessing.get_context("spawn").Process(target=_serve_forever, args=(port,), daemon=True)
    process.start()
    endpoint = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                httpx.get(f"{endpoint}/moto-api/data.json", timeout=1).raise_for_status()
                break
            except httpx.TransportError:
                if time.monotonic() > deadline or not process.is_alive():
                    raise RuntimeError("the moto server did not start") from None
                time.sleep(0.1)
        yield endpoint
    finally:
        process.terminate()
        process.join(timeout=5)


def reset(endpoint: str) -> None:
    """Forget every log group, IAM user and key."""
    httpx.post(f"{endpoint}/moto-api/reset").raise_for_status()


def client(
    endpoint: str, service: Literal["logs", "iam"] = "logs", key: str = TEST_KEY, secret: str = TEST_KEY
) -> Any:
    return boto3.client(
        service,
        endpoint_url=endpoint,
        region_name=REGION,
        aws_access_key_id=key,
        aws_secret_access_key=secret,
    )


def create_groups(endpoint: str, *names: str) -> None:
    logs = client(endpoint)
    for name in names:
        logs.create_log_group(logGroupName=name)


def seed(endpoint: str, group: str, stream: str, events: Sequence[tuple[int, str]]) -> None:
    """Write ``(timestamp_ms, message)`` events to ``group``/``stream`` (created when missing)."""
    logs = client(endpoint)
    groups = logs.describe_log_groups(logGroupNamePrefix=group)["logGroups"]
    if group not in [item["logGroupName"] for item in groups]:
        logs.create_log_group(logGroupName=group)
    streams = logs.describe_log_streams(logGroupName=group, logStreamNamePrefix=stream)["logStreams"]
    if stream not in [item["logStreamName"] for item in streams]:
        logs.create_log_stream(logGroupName=group, logStreamName=stream)
    for batch in _batches(sorted(events)):
        answer = logs.put_log_events(
            logGroupName=group,
            logStreamName=stream,
            logEvents=[{"timestamp": ts, "message": message} for ts, message in batch],
        )
        assert not answer.get("rejectedLogEventsInfo"), "moto only keeps events of the last 14 days"


def _batches(events: Sequence[tuple[int, str]]) -> Iterator[Sequence[tuple[int, str]]]:
    start, size = 0, 0
    for index, (_, message) in enumerate(events):
        size += len(message.encode()) + 26
        if index - start >= MAX_BATCH or size > MAX_BATCH_BYTES:
            yield events[start:index]
            start, size = index, len(message.encode()) + 26
    if start < len(events):
        yield events[start:]


@contextmanager
def iam_user(endpoint: str, actions: Sequence[str] = ("logs:*",)) -> Iterator[tuple[str, str]]:
    """Create an IAM user allowed ``actions``, then make moto check every request's signature and
    policy; yields the user's ``(access_key_id, secret_access_key)``."""
    iam = client(endpoint, "iam")
    iam.create_user(UserName="replaylink")
    iam.put_user_policy(
        UserName="replaylink",
        PolicyName="read-logs",
        PolicyDocument=json.dumps(
            {
                "Version": "2012-10-17",
                "Statement": [{"Effect": "Allow", "Action": list(actions), "Resource": "*"}],
            }
        ),
    )
    key = iam.create_access_key(UserName="replaylink")["AccessKey"]
    _set_no_auth_count(endpoint, "0")
    try:
        yield key["AccessKeyId"], key["SecretAccessKey"]
    finally:
        _set_no_auth_count(endpoint, "inf")


def _set_no_auth_count(endpoint: str, count: str) -> None:
    """moto's INITIAL_NO_AUTH_ACTION_COUNT: requests served before auth is enforced (inf = never)."""
    httpx.post(f"{endpoint}/moto-api/reset-auth", content=count.encode()).raise_for_status()
