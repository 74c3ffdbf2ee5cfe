"""The database goes away (every connection drops, new ones are refused) and comes back: every
request it fails answers 503 ``database_unavailable`` with ``Retry-After``, logs one warning line
(no traceback, no address of the database, no password), and the same requests succeed again once
it is back.

PostgreSQL, through a TCP proxy the test takes down (:mod:`tests.peers.tcp_proxy`), the shared
server staying up. Plus the line between "unavailable" and a failing statement, on real errors.
"""

from __future__ import annotations

import logging
import sqlite3
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DBAPIError, OperationalError

from replaylink.api.app import create_app
from replaylink.runtime import Runtime
from replaylink.store.db import make_engine
from replaylink.store.unavailable import database_unavailable
from tests.conftest import Seeded, _truncate_all, make_settings
from tests.peers.tcp_proxy import TcpProxy, proxying
from tests.replay_support import make_batch, post

pytestmark = pytest.mark.postgres

PASSWORD = "hunter2-outage"
"""In the proxied URL (the ``test`` database trusts local connections: never sent): must not leak."""
ORIGIN = {"Origin": "https://shop.example"}


class Outage:
    def __init__(self, proxy: TcpProxy, client: TestClient, seeded: Seeded, port: int) -> None:
        self.proxy = proxy
        self.client = client
        self.seeded = seeded
        self.port = port

    def start(self) -> httpx.Response:
        body = {"projectKey": self.seeded.project_key, "url": "https://shop.example/"}
        return self.client.post("/ingest/v1/sessions", json=body, headers=ORIGIN)

    def session_list(self) -> httpx.Response:
        path = f"/api/v1/projects/{self.seeded.project_id}/sessions"
        return self.client.get(path, headers=self.seeded.auth())

    def project(self) -> httpx.Response:
        return self.client.get(f"/api/v1/projects/{self.seeded.project_id}", headers=self.seeded.auth())


@pytest.fixture
def outage(pg_schema_url: str, tmp_path: Path) -> Iterator[Outage]:
    _truncate_all(pg_schema_url)
    url = make_url(pg_schema_url)
    with proxying((url.host or "127.0.0.1", url.port or 5432)) as proxy:
        proxied = url.set(port=proxy.port, password=PASSWORD).render_as_string(hide_password=False)
        runtime = Runtime(make_settings(tmp_path / "data", proxied))
        try:
            seeded = Seeded(runtime)
            with TestClient(create_app(runtime)) as client:
                yield Outage(proxy, client, seeded, proxy.port)
        finally:
            proxy.up()
            runtime.close()


def assert_unavailable(answer: httpx.Response, outage: Outage) -> None:
    assert answer.status_code == 503, answer.text
    assert answer.json()["error"]["code"] == "database_unavailable"
    assert "unreachable" in answer.json()["error"]["message"]
    assert answer.headers["retry-after"] == "5"
    assert answer.headers["x-request-id"]
    for leak in (PASSWORD, str(outage.port), "postgres", "Traceback", "psycopg", "sqlalchemy"):
        assert leak.lower() not in answer.text.lower()


def assert_logged_without_traceback(caplog: pytest.LogCaptureFixture, outage: Outage) -> None:
    warnings = [r for r in caplog.records if "database unavailable" in r.getMessage()]
    assert warnings and all(r.levelno == logging.WARNING for r in warnings)
    assert not [r for r in caplog.records if r.exc_info], "a traceback was logged"
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR]
    assert PASSWORD not in caplog.text


def test_session_start_answers_503_to_retry_while_the_database_is_down(
    outage: Outage, caplog: pytest.LogCaptureFixture
) -> None:
    assert outage.start().status_code == 200
    outage.proxy.down()
    with caplog.at_level(logging.INFO):
        answers = [outage.start() for _ in range(3)]
    for answer in answers:
        assert_unavailable(answer, outage)
        # Cross-origin, the tracker can read the status and when to try again.
        assert answer.headers["access-control-allow-origin"] == ORIGIN["Origin"]
        assert "retry-after" in answer.headers["access-control-expose-headers"].lower()
    assert_logged_without_traceback(caplog, outage)
    outage.proxy.up()
    again = outage.start()
    assert again.status_code == 200, again.text
    assert again.json()["token"]


def test_api_reads_answer_503_while_the_database_is_down_and_200_once_it_is_back(
    outage: Outage, caplog: pytest.LogCaptureFixture
) -> None:
    assert outage.session_list().status_code == 200
    assert outage.project().status_code == 200
    outage.proxy.down()
    with caplog.at_level(logging.INFO):
        listed, project = outage.session_list(), outage.project()
    assert_unavailable(listed, outage)
    assert_unavailable(project, outage)
    assert_logged_without_traceback(caplog, outage)
    outage.proxy.up()
    assert outage.session_list().status_code == 200
    assert outage.project().status_code == 200


def test_an_api_write_answers_503_while_the_database_is_down(
    outage: Outage, caplog: pytest.LogCaptureFixture
) -> None:
    outage.proxy.down()
    with caplog.at_level(logging.INFO):
        created = outage.client.post(
            "/api/v1/projects", json={"name": "During the outage"}, headers=outage.seeded.auth()
        )
    assert_unavailable(created, outage)
    assert_logged_without_traceback(caplog, outage)
    outage.proxy.up()
    created = outage.client.post("/api/v1/projects", json={"name": "After"}, headers=outage.seeded.auth())
    assert created.status_code == 201, created.text


def test_batches_answer_the_same_503_while_the_database_is_down(outage: Outage) -> None:
    token = outage.start().json()["token"]
    assert post(outage.client, token, make_batch(0)).status_code == 204
    outage.proxy.down()
    answer = post(outage.client, token, make_batch(1))
    assert_unavailable(answer, outage)
    outage.proxy.up()
    assert post(outage.client, token, make_batch(1)).status_code == 204


# ------------------------------------------------------------- unavailable, or a failing statement


def test_a_refused_or_lost_connection_is_unavailable_a_failing_statement_is_not(
    pg_schema_url: str,
) -> None:
    url = make_url(pg_schema_url)
    with proxying((url.host or "127.0.0.1", url.port or 5432)) as proxy:
        engine = make_engine(url.set(port=proxy.port).render_as_string(hide_password=False))
        try:
            with engine.connect() as conn:
                failures: list[DBAPIError] = []
                for statement in (
                    "SELECT 1 / 0",
                    "SELECT no_such_column",
                    "SET LOCAL statement_timeout = 10; SELECT pg_sleep(1)",
                ):
                    with pytest.raises(DBAPIError) as failed:
                        conn.exec_driver_sql(statement)
                    failures.append(failed.value)
                    conn.rollback()
                assert not any(database_unavailable(f) for f in failures)
                proxy.down()
                with pytest.raises(OperationalError) as lost:
                    conn.execute(text("SELECT 1"))
            assert database_unavailable(lost.value)
            with pytest.raises(OperationalError) as refused, engine.connect():
                pass
            assert database_unavailable(refused.value)
        finally:
            engine.dispose()


def test_sqlite_busy_after_the_timeout_is_unavailable(tmp_path: Path) -> None:
    path = tmp_path / "busy.db"
    holder = sqlite3.connect(path, isolation_level=None)
    other = sqlite3.connect(path, timeout=0.05, isolation_level=None)
    try:
        holder.execute("CREATE TABLE t (x)")
        holder.execute("BEGIN IMMEDIATE")
        with pytest.raises(sqlite3.OperationalError) as busy:
            other.execute("BEGIN IMMEDIATE")
        with pytest.raises(sqlite3.OperationalError) as missing:
            other.execute("SELECT * FROM no_such_table")
    finally:
        holder.close()
        other.close()
    assert database_unavailable(busy.value)
    assert not database_unavailable(missing.value)
