"""Concurrent writers never fail each other (SQLite and PostgreSQL); unhandled errors answer the envelope.

- Many session starts, session continuations, API writes and API reads at once, against a real
  ``replaylink serve`` (asyncio clients) and against the in-process app (threads): no error, and
  every started session is stored exactly once.
- A read request whose bookkeeping writes (an API key's ``last_used_at``) while another connection
  holds the write lock waits for it instead of failing (SQLite's BUSY_SNAPSHOT).
- An exception nothing handled answers 500 ``internal`` with the request id (also in the log and
  the ``X-Request-ID`` header), from an endpoint, a database failure and a middleware; no
  traceback or SQL reaches the client.
"""

from __future__ import annotations

import asyncio
import logging
import re
import sqlite3
import subprocess
import sys
import threading
import time
from collections.abc import AsyncIterator, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import create_engine, func, select, text, update
from starlette.types import ASGIApp, Receive, Scope, Send

from replaylink.api import users as users_api
from replaylink.api.app import create_app
from replaylink.api.deps import Caller
from replaylink.api.errors import ApiError
from replaylink.api.users import UserPatch
from replaylink.config import environment_without_settings
from replaylink.runtime import Runtime
from replaylink.store import accounts
from replaylink.store import integrations as integrations_store
from replaylink.store.db import ReadOnlySessionError, transaction
from replaylink.store.models import ApiKey, BackendEvent, Integration, Project, RecordedSession, User
from tests.backend_events import add_integration, add_session
from tests.conftest import TEST_ENCRYPTION, TEST_SECRET, Seeded
from tests.peers.common import free_port

BIN = Path(sys.executable).with_name("replaylink")
ORIGIN = {"Origin": "https://shop.example"}


def start_body(project_key: str, index: int, token: str | None = None) -> dict[str, Any]:
    body: dict[str, Any] = {
        "projectKey": project_key,
        "url": f"https://shop.example/p/{index}",
        "userAgent": f"agent-{index % 7}",
        "userId": f"user-{index % 13}",
        "metadata": {"plan": "pro" if index % 2 else "free", "n": index},
    }
    if token:
        body["token"] = token
    return body


def stored_sessions(rt: Runtime, project_id: int) -> list[int]:
    with transaction(rt.sessions) as db:
        return list(db.scalars(select(RecordedSession.id).where(RecordedSession.project_id == project_id)))


def forget_key_use(rt: Runtime) -> None:
    """Every API key looks unused: the next request with one writes its ``last_used_at``."""
    with transaction(rt.sessions) as db:
        db.execute(update(ApiKey).values(last_used_at=None))


# ----------------------------------------------------------------------------- a real server


@pytest.fixture
def served(rt: Runtime, seeded: Seeded, tmp_path: Path) -> Iterator[str]:
    """``replaylink serve`` on the test's database (SQLite file or PostgreSQL schema)."""
    port = free_port()
    env = environment_without_settings()
    env.update(
        REPLAYLINK_DATA_DIR=str(tmp_path / "serve-data"),
        REPLAYLINK_DATABASE_URL=rt.settings.sqlalchemy_url,
        REPLAYLINK_SECRET_KEY=TEST_SECRET,
        REPLAYLINK_ENCRYPTION_KEY=TEST_ENCRYPTION,
        REPLAYLINK_PORT=str(port),
    )
    log = tmp_path / "serve.log"
    with log.open("w") as handle:
        proc = subprocess.Popen(
            [str(BIN), "serve", "--no-importer"], stdout=handle, stderr=subprocess.STDOUT, env=env
        )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                if httpx.get(base + "/healthz").status_code == 200:
                    break
            except httpx.TransportError:
                time.sleep(0.1)
            if time.monotonic() > deadline or proc.poll() is not None:
                pytest.fail("serve did not start: " + log.read_text())
        yield base
    finally:
        proc.terminate()
        proc.wait(timeout=20)
    assert "Traceback" not in log.read_text(), log.read_text()


async def burst(base: str, seeded: Seeded, starts: int, writes: int) -> list[httpx.Response]:
    """``starts`` session starts (a tenth continuing an earlier one), ``writes`` API writes and as
    many API reads, all at once, each on its own connection."""
    limits = httpx.Limits(max_connections=starts + 3 * writes)
    async with httpx.AsyncClient(base_url=base, timeout=60, limits=limits) as http:
        first = await http.post(
            "/ingest/v1/sessions", json=start_body(seeded.project_key, -1), headers=ORIGIN
        )
        token = first.json()["token"]

        def start(i: int) -> Any:
            body = start_body(seeded.project_key, i, token if i % 10 == 0 else None)
            return http.post("/ingest/v1/sessions", json=body, headers=ORIGIN)

        calls = [start(i) for i in range(starts)]
        calls += [
            http.post("/api/v1/projects", json={"name": f"p{i}"}, headers=seeded.auth())
            for i in range(writes)
        ]
        calls += [
            http.patch(
                f"/api/v1/projects/{seeded.other_project_id}", json={"name": f"o{i}"}, headers=seeded.auth()
            )
            for i in range(writes)
        ]
        calls += [
            http.get("/api/v1/projects", headers=seeded.auth(seeded.project_api_key)) for _ in range(writes)
        ]
        return [first, *await asyncio.gather(*calls)]


def test_serve_takes_concurrent_starts_and_api_writes_without_errors(
    served: str, rt: Runtime, seeded: Seeded
) -> None:
    forget_key_use(rt)
    answers = asyncio.run(burst(served, seeded, starts=60, writes=10))

    failed = [
        (a.request.method, a.request.url.path, a.status_code, a.text[:200]) for a in answers if a.is_error
    ]
    assert failed == []
    starts = [a.json() for a in answers if a.request.url.path == "/ingest/v1/sessions"]
    first_id = starts[0]["sessionId"]
    continued = [s for i, s in enumerate(starts[1:]) if i % 10 == 0]
    assert {s["sessionId"] for s in continued} == {first_id}
    new_ids = {int(s["sessionId"]) for s in starts} - {int(first_id)}
    assert len(new_ids) == 60 - len(continued)
    stored = stored_sessions(rt, seeded.project_id)
    assert sorted(stored) == sorted({*new_ids, int(first_id)})  # each exactly once
    with transaction(rt.sessions) as db:
        assert db.scalar(select(func.count()).select_from(Project)) == 2 + 10


# ----------------------------------------------------------------------------- in process


def test_in_process_threads_start_sessions_and_write_without_errors(
    client: TestClient, rt: Runtime, seeded: Seeded
) -> None:
    forget_key_use(rt)

    def one(i: int) -> tuple[str, int, Any]:
        kind = i % 4
        if kind == 0:
            answer = client.patch(
                f"/api/v1/projects/{seeded.other_project_id}", json={"name": f"o{i}"}, headers=seeded.auth()
            )
        elif kind == 1:
            answer = client.get("/api/v1/projects", headers=seeded.auth(seeded.project_api_key))
        else:
            answer = client.post(
                "/ingest/v1/sessions", json=start_body(seeded.project_key, i), headers=ORIGIN
            )
        return ("start" if kind >= 2 else "api", answer.status_code, answer.json())

    with ThreadPoolExecutor(max_workers=32) as pool:
        results = list(pool.map(one, range(160)))

    assert [r for r in results if r[1] != 200] == []
    started = [int(r[2]["sessionId"]) for r in results if r[0] == "start"]
    assert len(set(started)) == len(started) == 80
    assert sorted(stored_sessions(rt, seeded.project_id)) == sorted(started)


async def _asgi_burst(app: FastAPI, seeded: Seeded, count: int) -> list[httpx.Response]:
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://replaylink") as http:
        calls = [
            http.post("/ingest/v1/sessions", json=start_body(seeded.project_key, i), headers=ORIGIN)
            for i in range(count)
        ]
        calls += [
            http.post("/api/v1/projects", json={"name": f"a{i}"}, headers=seeded.auth())
            for i in range(count // 4)
        ]
        return list(await asyncio.gather(*calls))


def test_in_process_asyncio_clients_start_sessions_without_errors(rt: Runtime, seeded: Seeded) -> None:
    answers = asyncio.run(_asgi_burst(create_app(rt), seeded, 80))

    assert [(a.status_code, a.text[:200]) for a in answers if a.is_error] == []
    started = [int(a.json()["sessionId"]) for a in answers if a.request.url.path == "/ingest/v1/sessions"]
    assert len(set(started)) == 80
    assert sorted(stored_sessions(rt, seeded.project_id)) == sorted(started)


@contextmanager
def write_lock_held(rt: Runtime, seconds: float) -> Iterator[None]:
    """Another connection writes (and holds the write lock) for ``seconds``, from its own thread."""
    taken = threading.Event()

    def hold() -> None:
        url = rt.settings.sqlalchemy_url
        if url.startswith("sqlite"):
            conn = sqlite3.connect(url.split("///", 1)[1], isolation_level=None)
            conn.execute("BEGIN IMMEDIATE")
            conn.execute("UPDATE projects SET name = name || ''")
            taken.set()
            time.sleep(seconds)
            conn.execute("COMMIT")
            conn.close()
            return
        engine = create_engine(url)
        with engine.begin() as connection:
            connection.execute(text("UPDATE projects SET name = name || ''"))
            connection.execute(text("UPDATE api_keys SET name = name || ''"))
            taken.set()
            time.sleep(seconds)
        engine.dispose()

    holder = threading.Thread(target=hold)
    holder.start()
    assert taken.wait(10)
    try:
        yield
    finally:
        holder.join()


def test_a_read_that_records_key_use_waits_for_a_writer(
    client: TestClient, rt: Runtime, seeded: Seeded
) -> None:
    # The read began before the other writer committed: writing last_used_at in the same
    # (deferred) SQLite transaction failed at once with "database is locked" (BUSY_SNAPSHOT).
    forget_key_use(rt)
    with write_lock_held(rt, 0.5):
        answer = client.get("/api/v1/projects", headers=seeded.auth())
    assert answer.status_code == 200, answer.text
    with transaction(rt.sessions) as db:
        assert db.scalar(select(ApiKey.last_used_at).where(ApiKey.project_id.is_(None))) is not None


def test_session_start_waits_for_a_writer_instead_of_failing(
    client: TestClient, rt: Runtime, seeded: Seeded
) -> None:
    with write_lock_held(rt, 0.5):
        answer = client.post("/ingest/v1/sessions", json=start_body(seeded.project_key, 1), headers=ORIGIN)
    assert answer.status_code == 200, answer.text


# ----------------------------------------------------------------------------- unhandled errors


def assert_internal(answer: httpx.Response, *, leaked: tuple[str, ...] = ()) -> str:
    """A 500 ``internal`` envelope whose request id is also the header's; returns the id."""
    assert answer.status_code == 500
    assert answer.headers["content-type"] == "application/json"
    error = answer.json()["error"]
    assert error["code"] == "internal"
    request_id = error["details"][0]["request_id"]
    assert request_id and answer.headers["x-request-id"] == request_id
    for secret in ("Traceback", "sqlalchemy", *leaked):
        assert secret.lower() not in answer.text.lower()
    return str(request_id)


def logged_with(caplog: pytest.LogCaptureFixture, request_id: str) -> logging.LogRecord:
    records = [r for r in caplog.records if request_id in r.getMessage()]
    assert records, [r.getMessage() for r in caplog.records]
    assert records[0].exc_info is not None  # the traceback is in the log
    return records[0]


def test_a_failing_endpoint_answers_internal_with_the_request_id(
    rt: Runtime, caplog: pytest.LogCaptureFixture
) -> None:
    app = create_app(rt)

    @app.post("/boom")  # POST: the dashboard's catch-all answers every GET added after it
    def boom() -> None:
        raise RuntimeError("SELECT secret FROM vault")

    with TestClient(app) as test_client:
        answer = test_client.post("/boom")
    request_id = assert_internal(answer, leaked=("SELECT secret",))
    assert "SELECT secret" in str(logged_with(caplog, request_id).exc_info)


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
def test_a_broken_database_answers_internal_without_sql(
    client: TestClient, rt: Runtime, seeded: Seeded, caplog: pytest.LogCaptureFixture
) -> None:
    with transaction(rt.sessions) as db:
        db.execute(text("DROP TABLE sessions"))

    answer = client.post(
        "/ingest/v1/sessions",
        json=start_body(seeded.project_key, 1),
        headers={**ORIGIN, "X-Request-ID": "checkout-7f3a.2"},
    )

    assert assert_internal(answer, leaked=("INSERT", "no such table")) == "checkout-7f3a.2"
    assert "no such table" in str(logged_with(caplog, "checkout-7f3a.2").exc_info)


class Exploding:
    """A middleware that fails before any endpoint runs."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["path"] == "/healthz":
            raise ValueError("middleware broke")
        await self.app(scope, receive, send)


def test_a_failing_middleware_answers_internal(rt: Runtime, caplog: pytest.LogCaptureFixture) -> None:
    inner = create_app(rt)
    inner.add_middleware(Exploding)  # outermost: outside the request-id middleware too
    with TestClient(inner, raise_server_exceptions=False) as test_client:
        answer = test_client.get("/healthz")
    request_id = assert_internal(answer, leaked=("middleware broke",))
    logged_with(caplog, request_id)


def test_a_stream_failing_halfway_is_logged_with_its_request_id(
    rt: Runtime, caplog: pytest.LogCaptureFixture
) -> None:
    from fastapi.responses import StreamingResponse

    app = create_app(rt)

    async def chunks() -> AsyncIterator[bytes]:
        yield b"first"
        raise RuntimeError("stream broke")

    @app.post("/stream")
    def stream() -> StreamingResponse:
        return StreamingResponse(chunks())

    with TestClient(app, raise_server_exceptions=False) as test_client:
        answer = test_client.post("/stream", headers={"X-Request-ID": "stream-1"})
    assert answer.headers["x-request-id"] == "stream-1"
    assert "stream broke" in str(logged_with(caplog, "stream-1").exc_info)


def test_request_ids_are_kept_when_sane_and_replaced_otherwise(client: TestClient) -> None:
    kept = client.get("/healthz", headers={"X-Request-ID": "abc-123_x.y:z"})
    assert kept.headers["x-request-id"] == "abc-123_x.y:z"
    for bad in ("a" * 129, "has space", "<script>"):
        replaced = client.get("/healthz", headers={"X-Request-ID": bad})
        assert re.fullmatch(r"[0-9a-f]{32}", replaced.headers["x-request-id"])
    assert re.fullmatch(r"[0-9a-f]{32}", client.get("/healthz").headers["x-request-id"])


def test_read_sessions_refuse_to_write(rt: Runtime, seeded: Seeded) -> None:
    # A read-only transaction that wrote would be SQLite's read-then-write case: refused loudly.
    with rt.read_sessions() as db:
        project = db.get(Project, seeded.project_id)
        assert project is not None
        project.name = "renamed"
        with pytest.raises(ReadOnlySessionError):
            db.flush()
        db.rollback()
        with pytest.raises(ReadOnlySessionError):
            db.execute(update(Project).values(name="renamed"))
    with transaction(rt.sessions) as db:
        assert db.scalar(select(Project.name).where(Project.id == seeded.project_id)) == "Shop"


def test_a_purge_while_a_poll_stores_events_leaves_none_behind(rt: Runtime, seeded: Seeded) -> None:
    """PostgreSQL: the purge waits for the poll's transaction (which holds the integration row
    through its foreign-key check) and then deletes its events too; it used to delete what it
    could see, and the row's ON DELETE SET NULL kept the poll's events, detached."""
    if rt.engine.dialect.name != "postgresql":
        pytest.skip("SQLite has one writer: a purge cannot run during a poll's transaction")
    integration_id = add_integration(rt, seeded.project_id)
    session = add_session(rt, seeded.project_id)
    poll = rt.sessions()
    poll.begin()
    poll.add_all(
        BackendEvent(
            project_id=seeded.project_id,
            session_id=session.id,
            integration_id=integration_id,
            provider="datadog",
            provider_record_id=f"in-flight-{n}",
            timestamp=session.started_at,
            level="error",
            title="boom",
            message="boom",
            fingerprint="f" * 32,
            imported_at=session.started_at,
        )
        for n in range(5)
    )
    poll.flush()  # inserted, not committed: the poll goes on with its chunk

    def purge() -> int:
        with transaction(rt.sessions) as db:
            row = db.get(Integration, integration_id)
            assert row is not None
            return integrations_store.remove(db, row, purge_events=True)

    with ThreadPoolExecutor(max_workers=1) as pool:
        purged = pool.submit(purge)
        time.sleep(0.5)  # the purge reaches its first statement and waits there (not asserted)
        poll.commit()
        poll.close()
        assert purged.result(timeout=30) == 5
    with transaction(rt.sessions) as db:
        assert db.scalar(select(func.count()).select_from(BackendEvent)) == 0


def test_two_admins_demoted_at_once_leave_one(rt: Runtime, seeded: Seeded) -> None:
    """PostgreSQL: each demotion counted the admins before the other committed, and both went
    through (no admin left). Now the second waits for the first and answers 409 last_admin."""
    if rt.engine.dialect.name != "postgresql":
        pytest.skip("SQLite's writers take turns: the second demotion already sees the first")
    with transaction(rt.sessions) as db:
        db.execute(update(User).values(is_admin=False))
        first, second = (
            accounts.create_user(db, f"admin{n}@example.com", "pw-123456789", is_admin=True).id
            for n in (1, 2)
        )
    caller = Caller(key_id=None, project_ids=None)
    demote = UserPatch(is_admin=False)
    one = rt.sessions()
    one.begin()
    users_api.update_user(demote, one, caller, first)  # not committed yet

    def other() -> int:
        with transaction(rt.sessions) as db:
            try:
                users_api.update_user(demote, db, caller, second)
            except ApiError as exc:
                return exc.status
        return 200

    with ThreadPoolExecutor(max_workers=1) as pool:
        answer = pool.submit(other)
        time.sleep(0.5)  # the second reaches its lock and waits there (not asserted)
        one.commit()
        one.close()
        assert answer.result(timeout=30) == 409
    with transaction(rt.sessions) as db:
        assert db.scalar(select(func.count()).select_from(User).where(User.is_admin.is_(True))) == 1


def test_sign_ins_racing_a_password_change_or_a_delete_end_with_it(
    served: str, rt: Runtime, seeded: Seeded
) -> None:
    """PostgreSQL: a sign-in checked the old password, then stored its session after the change
    had ended the user's sessions, and kept it; racing a delete, it failed with a foreign-key
    error (500). Now either one goes first. (``served`` also fails on any traceback.)"""
    if rt.engine.dialect.name != "postgresql":
        pytest.skip("SQLite's writers take turns")

    async def race(email: str, change: str) -> list[httpx.Response]:
        async with httpx.AsyncClient(base_url=served, timeout=60) as http:
            created = await http.post(
                "/api/v1/users", json={"email": email, "password": "old-password-1"}, headers=seeded.auth()
            )
            assert created.status_code == 201, created.text
            user = created.json()["id"]
            login = {"email": email, "password": "old-password-1"}
            attempts = [http.post("/api/v1/auth/login", json=login) for _ in range(6)]
            if change == "password":
                changing = http.patch(
                    f"/api/v1/users/{user}", json={"password": "new-password-2"}, headers=seeded.auth()
                )
            else:
                changing = http.delete(f"/api/v1/users/{user}", headers=seeded.auth())
            *answers, changed = await asyncio.gather(*attempts, changing)
            assert changed.status_code in (200, 204), changed.text
            return answers

    for round_, change in enumerate(("password", "password", "password", "delete")):
        answers = asyncio.run(race(f"racer{round_}@example.com", change))
        assert {answer.status_code for answer in answers} <= {200, 401}, [a.text for a in answers]
        for answer in answers:
            if answer.status_code == 200:
                me = httpx.get(served + "/api/v1/auth/me", cookies=answer.cookies)
                assert me.status_code == 401, f"a sign-in with the old password outlived the {change}"
