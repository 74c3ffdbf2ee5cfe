"""Batches through POST /ingest/v1/batches into both replay stores on both databases: round trip,
idempotent retries, out-of-order seq, caps that write nothing, retention with blobs, orphan sweep."""

from __future__ import annotations

import gzip
import hashlib
import json
import os
import signal
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select, text

from replaylink.replay.ingest import Ingestor, Prepared
from replaylink.replay.store import segment_key
from replaylink.replay.sweep import sweep
from replaylink.retention import purge
from replaylink.runtime import Runtime
from replaylink.store.db import transaction
from replaylink.store.models import DevtoolsEvent, RecordedSession, ReplaySegment
from tests.conftest import TEST_ENCRYPTION, TEST_SECRET, Seeded
from tests.replay_support import (
    encode,
    error_code,
    make_batch,
    moto_endpoint,  # noqa: F401
    now_ms,
    post,
    replay_target,  # noqa: F401
    settings,  # noqa: F401
    start,
)

DEVTOOLS = [
    {"type": "page", "ts": 0, "url": "https://shop.example/cart", "title": "Cart"},
    {"type": "network", "ts": 0, "method": "POST", "url": "https://api.example/pay", "status": 502,
     "duration": 81.5, "failed": True, "responseSize": 120},
    {"type": "network", "ts": 0, "method": "GET", "url": "https://api.example/ok", "status": 200,
     "duration": 12, "failed": False},
    {"type": "console", "ts": 0, "level": "error", "message": "payment failed"},
    {"type": "error", "ts": 0, "name": "TypeError", "message": "x is undefined", "stack": "at pay (app.js:1)",
     "source": "uncaught"},
    {"type": "custom", "ts": 0, "name": "checkout", "payload": {"step": 2, "note": None}},
    {"type": "heap-profile", "ts": 0},
]  # fmt: skip


def devtools_at(ts: int) -> list[dict[str, object]]:
    return [{**event, "ts": ts + i} for i, event in enumerate(DEVTOOLS)]


def keys(rt: Runtime) -> list[str]:
    return sorted(item.key for item in rt.replay_store.list())


def sha256(stored: bytes) -> str:
    return hashlib.sha256(stored).hexdigest()


def indexed_key(rt: Runtime, session_id: int, tab: str, seq: int) -> str:
    """The key of the blob the segment's row names."""
    with transaction(rt.sessions) as db:
        where = (ReplaySegment.session_id == session_id, ReplaySegment.tab == tab, ReplaySegment.seq == seq)
        key = db.scalar(select(ReplaySegment.key).where(*where))
    assert key is not None
    return key


def indexed_text(rt: Runtime, session_id: int) -> int:
    """The characters of the session's devtools rows (strings and data JSON): what the session's
    byte cap counts besides its blobs."""
    with transaction(rt.sessions) as db:
        rows = db.scalars(select(DevtoolsEvent).where(DevtoolsEvent.session_id == session_id)).all()
        texts = [(row.kind, row.level, row.name, row.message, row.url) for row in rows]
        data = [json.dumps(row.data, ensure_ascii=False) for row in rows if row.data is not None]
    return sum(len(text or "") for fields in texts for text in fields) + sum(map(len, data))


def segment_count(rt: Runtime) -> int:
    with transaction(rt.sessions) as db:
        return int(db.scalar(select(func.count()).select_from(ReplaySegment)) or 0)


def session_row(rt: Runtime, session_id: int) -> RecordedSession:
    with transaction(rt.sessions) as db:
        row = db.get(RecordedSession, session_id)
        assert row is not None
        return row


def test_round_trip_keeps_the_clients_gzip_bytes_and_indexes_the_batch(
    client: TestClient, seeded: Seeded, rt: Runtime
) -> None:
    session_id, token = start(client, seeded.project_key)
    t0 = now_ms() - 5000
    batch = make_batch(0, t0=t0, devtools=devtools_at(t0 + 100), clicks=3)
    body = gzip.compress(encode(batch))
    answer = client.post(
        "/ingest/v1/batches",
        content=body,
        headers={"Authorization": f"Bearer {token}", "Content-Encoding": "gzip"},
    )
    assert answer.status_code == 204, answer.text
    key = segment_key(seeded.project_id, session_id, "tab-1", 0, sha256(body))
    assert keys(rt) == [key]
    assert rt.replay_store.get(key) == body  # as received, not recompressed

    manifest = client.get(
        f"/api/v1/projects/{seeded.project_id}/sessions/{session_id}/replay", headers=seeded.auth()
    )
    assert manifest.status_code == 200, manifest.text
    [segment] = manifest.json()["segments"]
    assert segment["tab"] == "tab-1" and segment["seq"] == 0 and segment["has_full_snapshot"] is True
    assert (
        segment["first_ms"] == t0
        and segment["bytes"] == len(body)
        and segment["events"] == len(batch["events"])
    )
    fetched = client.get(segment["url"], headers=seeded.auth())
    assert fetched.status_code == 200
    assert fetched.headers["content-encoding"] == "gzip"
    assert "immutable" in fetched.headers["cache-control"]
    assert fetched.json() == batch  # null fields survive

    row = session_row(rt, session_id)
    assert (row.clicks, row.pages_visited, row.js_errors, row.failed_requests) == (3, 1, 1, 1)
    assert row.replay_segments == 1 and row.replay_bytes == len(body) + indexed_text(rt, session_id)
    assert row.recording_started_at == datetime.fromtimestamp(t0 / 1000, UTC)
    assert row.last_activity_at is not None
    with transaction(rt.sessions) as db:
        kinds = sorted(db.scalars(select(DevtoolsEvent.kind).where(DevtoolsEvent.session_id == session_id)))
    assert kinds == ["console", "custom", "error", "network", "network", "page"]  # the unknown type is not


def test_uncompressed_and_beacon_bodies_are_stored_gzipped_once(
    client: TestClient, seeded: Seeded, rt: Runtime
) -> None:
    session_id, token = start(client, seeded.project_key)
    plain = make_batch(0)
    assert post(client, token, plain, compress=False).status_code == 204
    stored = rt.replay_store.get(indexed_key(rt, session_id, "tab-1", 0))
    assert stored is not None and json.loads(gzip.decompress(stored)) == plain
    # sendBeacon: token in the query, gzip bytes without a Content-Encoding header.
    beacon = gzip.compress(encode(make_batch(1)))
    answer = client.post(
        f"/ingest/v1/batches?token={token}", content=beacon, headers={"Content-Type": "application/json"}
    )
    assert answer.status_code == 204, answer.text
    assert (
        rt.replay_store.get(segment_key(seeded.project_id, session_id, "tab-1", 1, sha256(beacon))) == beacon
    )


def test_retries_are_idempotent(client: TestClient, seeded: Seeded, rt: Runtime) -> None:
    session_id, token = start(client, seeded.project_key)
    t0 = now_ms() - 2000
    batch = make_batch(0, t0=t0, devtools=devtools_at(t0))
    for _ in range(3):
        assert post(client, token, batch).status_code == 204
    assert segment_count(rt) == 1 and len(keys(rt)) == 1
    row = session_row(rt, session_id)
    assert (row.replay_segments, row.js_errors, row.clicks) == (1, 1, 2)
    with transaction(rt.sessions) as db:
        assert db.scalar(select(func.count()).select_from(DevtoolsEvent)) == 6


def test_concurrent_retries_store_and_count_once(client: TestClient, seeded: Seeded, rt: Runtime) -> None:
    session_id, token = start(client, seeded.project_key)
    t0 = now_ms() - 2000
    first = gzip.compress(encode(make_batch(0, t0=t0, devtools=devtools_at(t0))))
    second = gzip.compress(encode(make_batch(1, t0=t0 + 100)))
    bodies = [first, second] * 6

    def send(body: bytes) -> str:
        return rt.ingestor.ingest(token, body, encoding="gzip", origin=None).result

    with ThreadPoolExecutor(max_workers=6) as pool:
        results = list(pool.map(send, bodies))
    assert results.count("stored") == 2 and set(results) <= {"stored", "duplicate"}
    assert segment_count(rt) == 2 and len(keys(rt)) == 2
    row = session_row(rt, session_id)
    assert (row.replay_segments, row.js_errors, row.clicks) == (2, 1, 4)
    assert row.replay_bytes == len(first) + len(second) + indexed_text(rt, session_id)
    with transaction(rt.sessions) as db:
        assert db.scalar(select(func.count()).select_from(DevtoolsEvent)) == 6


def test_a_database_connection_lost_since_the_last_batch_is_replaced(
    client: TestClient, seeded: Seeded, rt: Runtime
) -> None:
    if rt.engine.dialect.name != "postgresql":
        pytest.skip("PostgreSQL's ingest pool has no pre-ping; SQLite has no server to lose")
    session_id, token = start(client, seeded.project_key)
    assert post(client, token, make_batch(0)).status_code == 204
    pooled = rt.ingestor.engine.raw_connection()  # the one connection sequential batches use
    assert pooled.driver_connection is not None
    backend = pooled.driver_connection.info.backend_pid
    pooled.close()
    with rt.engine.begin() as connection:  # as a PostgreSQL restart would
        connection.execute(text("SELECT pg_terminate_backend(:pid)"), {"pid": backend})
    assert post(client, token, make_batch(1)).status_code == 204
    assert session_row(rt, session_id).replay_segments == 2


def test_event_data_that_is_not_an_object_is_kept(client: TestClient, seeded: Seeded, rt: Runtime) -> None:
    session_id, token = start(client, seeded.project_key)
    batch = make_batch(0, clicks=3)
    t = batch["events"][-1]["timestamp"]
    batch["events"] += [
        {"type": 3, "timestamp": t, "data": [2, 2]},
        {"type": 5, "timestamp": t, "data": "tag"},
        {"type": 3, "timestamp": t},
    ]
    assert post(client, token, batch).status_code == 204
    row = session_row(rt, session_id)
    assert (row.replay_segments, row.clicks) == (1, 3)
    with transaction(rt.sessions) as db:
        assert db.scalar(select(ReplaySegment.events)) == len(batch["events"])


def test_out_of_order_seq_plays_back_in_order(client: TestClient, seeded: Seeded, rt: Runtime) -> None:
    session_id, token = start(client, seeded.project_key)
    t0 = now_ms() - 60_000
    for seq in (2, 0, 11, 1):
        assert post(client, token, make_batch(seq, t0=t0 + seq * 5000, full=seq == 0)).status_code == 204
    post(client, token, make_batch(0, tab="tab-2", t0=t0 + 100))
    manifest = client.get(
        f"/api/v1/projects/{seeded.project_id}/sessions/{session_id}/replay", headers=seeded.auth()
    )
    segments = manifest.json()["segments"]
    assert [(s["tab"], s["seq"]) for s in segments] == [
        ("tab-1", 0),
        ("tab-1", 1),
        ("tab-1", 2),
        ("tab-1", 11),
        ("tab-2", 0),
    ]
    assert manifest.json()["tabs"] == ["tab-1", "tab-2"]
    assert keys(rt) == sorted(keys(rt)) and keys(rt)[:4] == [
        indexed_key(rt, session_id, "tab-1", seq) for seq in (0, 1, 2, 11)
    ]
    row = session_row(rt, session_id)
    assert row.recording_started_at == datetime.fromtimestamp(t0 / 1000, UTC)


def test_two_bodies_for_one_seq_at_once_leave_the_index_describing_the_blob_it_names(
    client: TestClient, seeded: Seeded, rt: Runtime
) -> None:
    """Both pass the duplicate check before either has its row: each writes its own blob, the
    first row wins, and the other request (a duplicate) deletes the blob it wrote. The same body
    twice is one blob, which the duplicate leaves alone."""
    session_id, token = start(client, seeded.project_key)
    ingestor = Ingestor(rt.settings, rt.sessions, rt.signer, rt.replay_store)
    small, large = (gzip.compress(encode(make_batch(0, clicks=clicks))) for clicks in (1, 40))
    first = ingestor.prepare(token, small, encoding="gzip", origin=None)
    again = ingestor.prepare(token, small, encoding="gzip", origin=None)
    second = ingestor.prepare(token, large, encoding="gzip", origin=None)
    assert isinstance(first, Prepared) and isinstance(second, Prepared) and isinstance(again, Prepared)
    assert ingestor.add_segment(first).result == "stored"
    assert ingestor.add_segment(second).result == "duplicate"
    assert ingestor.add_segment(again).result == "duplicate"
    assert keys(rt) == [indexed_key(rt, session_id, "tab-1", 0)]
    manifest = client.get(
        f"/api/v1/projects/{seeded.project_id}/sessions/{session_id}/replay", headers=seeded.auth()
    )
    [segment] = manifest.json()["segments"]
    fetched = client.get(segment["url"], headers=seeded.auth())
    assert fetched.json() == json.loads(gzip.decompress(small))
    assert segment["bytes"] == len(small) and fetched.headers["etag"] == f'"{sha256(small)}"'
    row = session_row(rt, session_id)
    assert (row.replay_bytes, row.clicks) == (len(small), 1)


def test_a_token_writes_only_to_its_own_session(client: TestClient, seeded: Seeded, rt: Runtime) -> None:
    first, first_token = start(client, seeded.project_key)
    second, second_token = start(client, seeded.other_project_key)
    assert post(client, first_token, make_batch(0, clicks=1)).status_code == 204
    assert post(client, second_token, make_batch(0, clicks=4)).status_code == 204
    assert session_row(rt, first).clicks == 1 and session_row(rt, second).clicks == 4
    assert keys(rt) == sorted(
        [
            indexed_key(rt, first, "tab-1", 0),
            indexed_key(rt, second, "tab-1", 0),
        ]
    )
    # The other project's session is not visible through this project's URL.
    other = client.get(
        f"/api/v1/projects/{seeded.project_id}/sessions/{second}/replay", headers=seeded.auth()
    )
    assert other.status_code == 404


def test_session_byte_cap_refuses_and_writes_nothing(client: TestClient, seeded: Seeded, rt: Runtime) -> None:
    rt.settings.replay_max_session_bytes = 300_000
    session_id, token = start(client, seeded.project_key)
    noise = os.urandom(200_000).hex()  # 400 KB of hex: about 220 KB of gzip
    big = make_batch(0)
    big["events"].append({"type": 5, "timestamp": now_ms() - 500, "data": {"tag": "blob", "payload": noise}})
    assert post(client, token, big).status_code == 204
    second = make_batch(1)
    second["events"].append(
        {"type": 5, "timestamp": now_ms() - 400, "data": {"tag": "blob", "payload": noise}}
    )
    refused = post(client, token, second)
    assert refused.status_code == 409 and error_code(refused) == "session_too_large"
    assert segment_count(rt) == 1 and len(keys(rt)) == 1
    assert session_row(rt, session_id).replay_segments == 1


def test_retention_removes_blobs_with_their_sessions(client: TestClient, seeded: Seeded, rt: Runtime) -> None:
    old, old_token = start(client, seeded.project_key)
    kept, kept_token = start(client, seeded.project_key)
    for seq in range(3):
        assert (
            post(client, old_token, make_batch(seq, devtools=devtools_at(now_ms() - 100))).status_code == 204
        )
    assert post(client, kept_token, make_batch(0)).status_code == 204
    with transaction(rt.sessions) as db:
        row = db.get(RecordedSession, old)
        assert row is not None
        row.started_at -= timedelta(days=40)
    done = purge(rt.sessions, 30, replay_store=rt.replay_store)
    assert done.sessions == 1 and done.segments == 3
    assert keys(rt) == [indexed_key(rt, kept, "tab-1", 0)]
    with transaction(rt.sessions) as db:
        assert db.scalar(select(func.count()).select_from(DevtoolsEvent)) == 0
        assert list(db.scalars(select(ReplaySegment.session_id))) == [kept]


def test_sweep_deletes_old_unindexed_blobs_only(client: TestClient, seeded: Seeded, rt: Runtime) -> None:
    session_id, token = start(client, seeded.project_key)
    assert post(client, token, make_batch(0)).status_code == 204
    orphan = segment_key(seeded.project_id, session_id, "tab-1", 7, sha256(gzip.compress(b"{}")))
    rt.replay_store.put(orphan, gzip.compress(b"{}"))
    later = datetime.now(UTC) + timedelta(hours=2)
    young = sweep(rt.sessions, rt.replay_store, timedelta(hours=3), now=later)
    assert young.deleted == 0 and len(keys(rt)) == 2
    done = sweep(rt.sessions, rt.replay_store, timedelta(hours=1), now=later)
    assert done.deleted == 1 and done.scanned == 2
    assert keys(rt) == [indexed_key(rt, session_id, "tab-1", 0)]
    manifest = client.get(
        f"/api/v1/projects/{seeded.project_id}/sessions/{session_id}/replay", headers=seeded.auth()
    )
    [segment] = manifest.json()["segments"]
    assert client.get(segment["url"], headers=seeded.auth()).status_code == 200


def test_a_writer_killed_between_blob_and_row_leaves_nothing_half_visible(
    client: TestClient, seeded: Seeded, rt: Runtime, tmp_path: Path
) -> None:
    session_id, token = start(client, seeded.project_key)
    body = gzip.compress(encode(make_batch(0)))
    marker = tmp_path / "blob-written"
    current = rt.settings
    env = {
        **os.environ,
        "REPLAYLINK_DATA_DIR": str(current.data_dir),
        "REPLAYLINK_DATABASE_URL": current.sqlalchemy_url,
        "REPLAYLINK_SECRET_KEY": TEST_SECRET,
        "REPLAYLINK_ENCRYPTION_KEY": TEST_ENCRYPTION,
        "REPLAYLINK_REPLAY_STORE": current.replay_store or "",
        "REPLAYLINK_S3_ENDPOINT_URL": current.s3_endpoint_url or "",
    }
    env = {k: v for k, v in env.items() if v != ""}
    child = subprocess.Popen(
        [sys.executable, "-m", "tests.peers.replay_stalled_writer", str(marker), token],
        stdin=subprocess.PIPE,
        env=env,
        cwd=Path(__file__).resolve().parents[1],
    )
    assert child.stdin is not None
    child.stdin.write(body)
    child.stdin.close()
    deadline = time.monotonic() + 60
    while not marker.exists():
        assert child.poll() is None, "the writer died before writing its blob"
        assert time.monotonic() < deadline, "the writer never wrote its blob"
        time.sleep(0.05)
    child.send_signal(signal.SIGKILL)
    child.wait(timeout=30)

    key = segment_key(seeded.project_id, session_id, "tab-1", 0, sha256(body))
    assert marker.read_text() == key and key in keys(rt)  # the blob is there...
    manifest = client.get(
        f"/api/v1/projects/{seeded.project_id}/sessions/{session_id}/replay", headers=seeded.auth()
    )
    assert manifest.json()["segments"] == []  # ...but not visible: no row names it
    assert session_row(rt, session_id).replay_segments == 0
    # The tracker retries: stored once, visible.
    assert post(client, token, None, raw=body, headers={"Content-Encoding": "gzip"}).status_code == 204
    manifest = client.get(
        f"/api/v1/projects/{seeded.project_id}/sessions/{session_id}/replay", headers=seeded.auth()
    )
    assert len(manifest.json()["segments"]) == 1
    # Had it never retried, the sweep would take the orphan (and leaves indexed blobs alone).
    orphan = segment_key(seeded.project_id, session_id, "tab-1", 1, sha256(body))
    rt.replay_store.put(orphan, body)
    sweep(rt.sessions, rt.replay_store, timedelta(seconds=60), now=datetime.now(UTC) + timedelta(minutes=5))
    assert keys(rt) == [key]
