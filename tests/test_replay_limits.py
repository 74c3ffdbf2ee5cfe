"""What the batch endpoint refuses, and that a refusal writes nothing: tokens, origins, sizes,
gzip bombs, clock skew, duration cap, rate limit, malformed batches. Also CORS and session start."""

from __future__ import annotations

import gzip
import time

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from replaylink.metrics import REGISTRY
from replaylink.replay.batch import LIMITS, MAX_DEVTOOLS_CHARS
from replaylink.replay.ingest import Ingestor, Refused
from replaylink.runtime import Runtime
from replaylink.store.db import make_engine, make_sessionmaker, transaction
from replaylink.store.models import DevtoolsEvent, Project, RecordedSession, ReplaySegment
from replaylink.tokens import TokenSigner
from tests.conftest import Seeded
from tests.replay_support import BATCHES, encode, error_code, make_batch, now_ms, post, start


def stored(rt: Runtime) -> tuple[int, int]:
    """(index rows, blobs)."""
    with transaction(rt.sessions) as db:
        rows = int(db.scalar(select(func.count()).select_from(ReplaySegment)) or 0)
    return rows, len(list(rt.replay_store.list()))


def refused_count(code: str) -> float:
    return REGISTRY.get_sample_value("replaylink_replay_batches_total", {"outcome": code}) or 0.0


def test_session_start_tells_the_tracker_how_to_send_batches(client: TestClient, seeded: Seeded) -> None:
    before = int(time.time() * 1000)
    answer = client.post("/ingest/v1/sessions", json={"projectKey": seeded.project_key}).json()
    assert answer["projectId"] == seeded.project_id
    assert before - 1000 <= answer["serverTime"] <= int(time.time() * 1000) + 1000
    assert answer["batch"] == {
        "url": "/ingest/v1/batches",
        "flushIntervalMs": 5000,
        "maxRawBytes": 262144,
        "maxCompressedBytes": 1048576,
    }
    assert {"sessionId", "token", "expiresAt"} <= set(answer)


@pytest.mark.parametrize(
    ("token", "code"),
    [
        (None, "invalid_token"),
        ("", "invalid_token"),
        ("not-a-token", "invalid_token"),
        ("1.abc.1.zzzzzz.AAAAAAAAAAAAAAAAAAAAAA", "invalid_token"),
    ],
)
def test_missing_or_malformed_tokens_get_401(
    client: TestClient, seeded: Seeded, rt: Runtime, token: str | None, code: str
) -> None:
    before = refused_count(code)
    answer = post(
        client, token, make_batch(0), headers={"Authorization": f"Bearer {token}"} if token else None
    )
    assert answer.status_code == 401 and error_code(answer) == code
    assert stored(rt) == (0, 0)
    assert refused_count(code) == before + 1


def test_forged_and_unknown_session_tokens_write_nothing(
    client: TestClient, seeded: Seeded, rt: Runtime
) -> None:
    session_id, _ = start(client, seeded.project_key)
    expires = int(time.time()) + 3600
    forged = TokenSigner(b"someone-elses-secret-key-0123456789").mint(session_id, seeded.project_id, expires)
    unknown = rt.signer.mint(session_id + 1, seeded.project_id, expires)
    wrong_project = rt.signer.mint(session_id, seeded.other_project_id, expires)
    for token in (forged, unknown, wrong_project):
        answer = post(client, token, make_batch(0))
        assert answer.status_code == 401 and error_code(answer) == "invalid_token", answer.text
    assert stored(rt) == (0, 0)


def test_expired_tokens_have_a_grace_then_401_session_expired(
    client: TestClient, seeded: Seeded, rt: Runtime
) -> None:
    session_id, _ = start(client, seeded.project_key)
    grace = rt.settings.replay_token_grace_seconds
    just_expired = rt.signer.mint(session_id, seeded.project_id, int(time.time()) - grace // 2)
    long_expired = rt.signer.mint(session_id, seeded.project_id, int(time.time()) - grace - 60)
    assert post(client, just_expired, make_batch(0)).status_code == 204
    answer = post(client, long_expired, make_batch(1))
    assert answer.status_code == 401 and error_code(answer) == "session_expired"
    assert stored(rt) == (1, 1)


def test_token_in_either_header_or_the_query(client: TestClient, seeded: Seeded) -> None:
    _, token = start(client, seeded.project_key)
    body = gzip.compress(encode(make_batch(0)))
    assert client.post(BATCHES, content=body, headers={"X-OpenReplay-SessionToken": token}).status_code == 204
    assert (
        client.post(f"{BATCHES}?token={token}", content=gzip.compress(encode(make_batch(1)))).status_code
        == 204
    )


def test_origins_follow_the_projects_allowed_origins(client: TestClient, seeded: Seeded, rt: Runtime) -> None:
    with transaction(rt.sessions) as db:
        project = db.get(Project, seeded.project_id)
        assert project is not None
        project.allowed_origins = ["https://shop.example"]
    _, token = start(client, seeded.project_key, Origin="https://shop.example")
    evil = post(client, token, make_batch(0), headers={"Origin": "https://evil.example"})
    assert evil.status_code == 403 and error_code(evil) == "origin_not_allowed"
    assert stored(rt) == (0, 0)
    good = post(client, token, make_batch(0), headers={"Origin": "https://shop.example"})
    assert good.status_code == 204
    assert good.headers["access-control-allow-origin"] == "https://shop.example"


def test_preflight_allows_the_trackers_headers_from_any_origin(client: TestClient) -> None:
    answer = client.options(
        BATCHES,
        headers={
            "Origin": "https://any.example",
            "Access-Control-Request-Method": "POST",
            "Access-Control-Request-Headers": "authorization, content-encoding",
        },
    )
    assert answer.status_code == 204
    assert answer.headers["access-control-allow-origin"] == "https://any.example"
    allowed = answer.headers["access-control-allow-headers"].lower()
    for header in ("authorization", "content-type", "content-encoding", "x-openreplay-sessiontoken"):
        assert header in allowed
    assert "POST" in answer.headers["access-control-allow-methods"]


def test_body_over_the_compressed_limit_is_413_with_cors(
    client: TestClient, seeded: Seeded, rt: Runtime
) -> None:
    _, token = start(client, seeded.project_key)
    answer = post(
        client,
        token,
        None,
        raw=b"x" * (rt.settings.replay_max_batch_bytes + 1),
        headers={"Origin": "https://a.example"},
    )
    assert answer.status_code == 413 and error_code(answer) == "body_too_large"
    assert answer.headers["access-control-allow-origin"] == "https://a.example"
    # Other endpoints keep the small default limit.
    big = client.post("/ingest/v1/sessions", content=b"{" + b" " * 70_000 + b"}")
    assert big.status_code == 413


def test_a_gzip_bomb_is_refused_without_inflating_it(client: TestClient, seeded: Seeded, rt: Runtime) -> None:
    _, token = start(client, seeded.project_key)
    bomb = gzip.compress(b'{"v": 1, "tab": "t", "seq": 0, "events": ["' + b"A" * (200 * 1024 * 1024) + b'"]}')
    assert len(bomb) < rt.settings.replay_max_batch_bytes
    answer = post(client, token, None, raw=bomb, headers={"Content-Encoding": "gzip"})
    assert answer.status_code == 413 and error_code(answer) == "batch_too_large"
    assert stored(rt) == (0, 0)


def test_uncompressed_body_over_the_raw_limit_is_413(client: TestClient, seeded: Seeded, rt: Runtime) -> None:
    rt.settings.replay_max_batch_raw_bytes = 100_000
    _, token = start(client, seeded.project_key)
    answer = post(client, token, None, raw=b" " * 100_001)
    assert answer.status_code == 413 and error_code(answer) == "batch_too_large"


@pytest.mark.parametrize(
    ("raw", "encoding", "fragment"),
    [
        (b"not json", None, "not valid UTF-8 JSON"),
        (b"[1, 2]", None, "Expected `object`"),
        (b'{"v": 2, "tab": "t", "seq": 0}', None, "v: must be 1"),
        (b'{"v": 1, "tab": "../x", "seq": 0}', None, "tab:"),
        (b'{"v": 1, "tab": "t", "seq": -1}', None, "seq:"),
        (b'{"v": 1, "tab": "t", "seq": true}', None, "seq:"),
        (
            b'{"v": 1, "tab": "t", "seq": 0, "events": [{"type": 3}]}',
            None,
            "field `timestamp` - at `events[0]`",
        ),
        (b'{"v": 1, "tab": "t", "seq": 0, "events": [{"type": 3, "timestamp": NaN}]}', None, "not valid"),
        (
            b'{"v": 1, "tab": "t", "seq": 0, "devtools": [{"type": "network", "ts": 1}]}',
            None,
            "devtools[0].method",
        ),
        (b'{"v": 1, "tab": "t", "seq": 0, "devtools": [{"ts": 1}]}', None, "devtools[0]"),
        (b"\x1f\x8b\x08\x00garbage", "gzip", "not valid gzip"),
        (b'{"v": 1}', "br", "Content-Encoding"),
    ],
)
def test_malformed_batches_get_400_with_the_reason(
    client: TestClient, seeded: Seeded, rt: Runtime, raw: bytes, encoding: str | None, fragment: str
) -> None:
    _, token = start(client, seeded.project_key)
    answer = post(client, token, None, raw=raw, headers={"Content-Encoding": encoding} if encoding else None)
    assert answer.status_code == 400, answer.text
    assert fragment in answer.json()["error"]["message"]
    assert stored(rt) == (0, 0)


def test_truncated_gzip_is_400(client: TestClient, seeded: Seeded, rt: Runtime) -> None:
    _, token = start(client, seeded.project_key)
    body = gzip.compress(encode(make_batch(0)))[:-12]
    answer = post(client, token, None, raw=body, headers={"Content-Encoding": "gzip"})
    assert answer.status_code == 400 and error_code(answer) == "invalid_gzip"


def test_a_gzip_member_that_is_empty_is_read_like_gzip_reads_it(
    client: TestClient, seeded: Seeded, rt: Runtime
) -> None:
    _, token = start(client, seeded.project_key)
    body = gzip.compress(encode(make_batch(0))) + gzip.compress(b"")
    answer = post(client, token, None, raw=body, headers={"Content-Encoding": "gzip"})
    assert answer.status_code == 204, answer.text
    assert stored(rt)[0] == 1
    alone = post(client, token, None, raw=gzip.compress(b""), headers={"Content-Encoding": "gzip"})
    assert alone.status_code == 400 and error_code(alone) == "malformed_batch", alone.text


def test_a_dom_nested_deeper_than_the_decoder_reads_is_400_not_500(
    client: TestClient, seeded: Seeded, rt: Runtime
) -> None:
    """A 400 drops the batch and the tracker goes on; a 5xx it would retry forever, holding back
    every later batch of the session."""
    _, token = start(client, seeded.project_key)
    levels = 600  # built as text: the standard library's encoder stops at its recursion limit
    node = '{"type": 2, "tagName": "div", "attributes": {}, "id": 1, "childNodes": [' * levels
    node += '{"type": 3, "textContent": "deep", "id": 0}' + "]}" * levels
    batch = make_batch(0)
    stamp = batch["events"][0]["timestamp"]
    batch["events"][0] = {"type": 2, "timestamp": stamp, "data": {"node": "NODE"}}
    raw = encode(batch).replace(b'"NODE"', node.encode())
    answer = post(client, token, None, raw=raw, compress=False)
    assert answer.status_code == 400, answer.text
    assert error_code(answer) == "malformed_batch" and "deeper" in answer.json()["error"]["message"]
    assert post(client, token, make_batch(1)).status_code == 204
    assert stored(rt)[0] == 1


def test_nul_and_lone_surrogates_in_devtools_text_are_stored_cleaned(
    client: TestClient, seeded: Seeded, rt: Runtime
) -> None:
    session_id, token = start(client, seeded.project_key)
    raw = (
        b'{"v": 1, "tab": "t", "seq": 0, "events": [], "devtools": [{"type": "console", "ts": %d, '
        b'"level": "error", "message": "a\\u0000b\\ud800c"}, {"type": "custom", "ts": %d, "name": "x", '
        b'"payload": {"k\\u0000": "\\udfff"}}]}'
    ) % (now_ms(), now_ms())
    assert post(client, token, None, raw=raw).status_code == 204
    timeline = client.get(
        f"/api/v1/projects/{seeded.project_id}/sessions/{session_id}/timeline", headers=seeded.auth()
    )
    messages = [e["message"] for e in timeline.json()["events"] if e["kind"] == "console_error"]
    assert messages == ["a\ufffdb?c"]


def test_timestamps_outside_the_session_window_are_refused(
    client: TestClient, seeded: Seeded, rt: Runtime
) -> None:
    _, token = start(client, seeded.project_key)
    skew = rt.settings.replay_clock_skew_seconds * 1000
    future = post(client, token, make_batch(0, t0=now_ms() + skew + 60_000))
    assert future.status_code == 400 and error_code(future) == "timestamp_out_of_range"
    # Past the session's greatest length too: still a bad clock (this batch refused), not the
    # session's end (a 409 stops the recording).
    hours = rt.settings.replay_max_session_seconds * 1000 + 3_600_000
    far = post(client, token, make_batch(0, t0=now_ms() + hours))
    assert far.status_code == 400 and error_code(far) == "timestamp_out_of_range"
    past = post(client, token, make_batch(0, t0=now_ms() - skew - 60_000))
    assert past.status_code == 400 and error_code(past) == "timestamp_out_of_range"
    assert post(client, token, make_batch(0, t0=now_ms() - skew // 2)).status_code == 204
    assert stored(rt) == (1, 1)


def test_a_session_longer_than_the_cap_is_refused(client: TestClient, seeded: Seeded, rt: Runtime) -> None:
    session_id, token = start(client, seeded.project_key)
    with transaction(rt.sessions) as db:  # a session started 5 hours ago, still sending
        from datetime import timedelta

        row = db.get(RecordedSession, session_id)
        assert row is not None
        row.started_at -= timedelta(hours=5)
    answer = post(client, token, make_batch(0))
    assert answer.status_code == 409 and error_code(answer) == "session_too_long"
    assert stored(rt) == (0, 0)


def test_a_session_sending_too_fast_gets_429_with_retry_after(
    client: TestClient, seeded: Seeded, rt: Runtime
) -> None:
    # A burst of 3, then one batch a minute: the 4th batch within a minute is refused.
    rt.settings.replay_batch_burst = 3
    rt.settings.replay_batches_per_minute = 1
    _, token = start(client, seeded.project_key)
    answers = [post(client, token, make_batch(seq)).status_code for seq in range(3)]
    assert answers == [204] * 3
    limited = post(client, token, make_batch(3))
    assert limited.status_code == 429 and error_code(limited) == "rate_limited"
    assert 1 <= int(limited.headers["retry-after"]) <= 60
    assert stored(rt) == (3, 3)
    # Another session is not slowed down.
    _, other = start(client, seeded.project_key)
    assert post(client, other, make_batch(0)).status_code == 204


def test_devtools_text_is_bounded_per_batch_and_counts_towards_the_session_cap(
    client: TestClient, seeded: Seeded, rt: Runtime
) -> None:
    """1,000 console messages of 8,192 characters gzip to a few kilobytes: indexed whole, the
    database would grow 1,000 times what the session's cap counts."""
    session_id, token = start(client, seeded.project_key)
    message = "x" * LIMITS["message"]
    console = [{"type": "console", "ts": now_ms() - 500, "level": "log", "message": message}] * 1000
    body = gzip.compress(encode(make_batch(0, devtools=console)))
    assert len(body) < 20_000
    assert post(client, token, None, raw=body, headers={"Content-Encoding": "gzip"}).status_code == 204
    with transaction(rt.sessions) as db:
        rows = db.scalar(select(func.count()).select_from(DevtoolsEvent)) or 0
        row = db.get(RecordedSession, session_id)
        assert row is not None
        replay_bytes = row.replay_bytes
    per_row = len("console") + len("log") + len(message)
    assert rows == MAX_DEVTOOLS_CHARS // per_row  # the rest stay in the blob only
    assert replay_bytes == len(body) + rows * per_row
    # A session whose cap the indexed text would pass is refused, the blob's few bytes or not.
    rt.settings.replay_max_session_bytes = replay_bytes + len(body) + 1000
    refused = post(
        client,
        token,
        None,
        raw=gzip.compress(encode(make_batch(1, devtools=console))),
        headers={"Content-Encoding": "gzip"},
    )
    assert refused.status_code == 409 and error_code(refused) == "session_too_large"


def test_unknown_devtools_types_and_empty_batches_are_fine(
    client: TestClient, seeded: Seeded, rt: Runtime
) -> None:
    _, token = start(client, seeded.project_key)
    empty = {"v": 1, "tab": "t", "seq": 0, "events": [], "devtools": [{"type": "memory", "ts": now_ms()}]}
    assert post(client, token, empty).status_code == 204
    assert stored(rt) == (0, 0)


def test_lone_surrogates_in_dom_text_do_not_lose_the_batch(
    client: TestClient, seeded: Seeded, rt: Runtime
) -> None:
    _, token = start(client, seeded.project_key)
    raw = (
        b'{"v": 1, "tab": "t", "seq": 0, "events": [{"type": 3, "timestamp": %d, '
        b'"data": {"source": 0, "texts": [{"id": 1, "value": "half \\ud83d pair"}]}}]}'
    ) % now_ms()
    assert post(client, token, None, raw=raw).status_code == 204
    assert stored(rt) == (1, 1)
    assert gzip.decompress(rt.replay_store.get(next(rt.replay_store.list()).key) or b"") == raw


def test_an_unreachable_database_is_a_503_to_retry_without_its_address(
    client: TestClient, seeded: Seeded, rt: Runtime
) -> None:
    _, token = start(client, seeded.project_key)
    nowhere = make_engine("postgresql+psycopg://replaylink:hunter2@127.0.0.1:1/replaylink")
    ingestor = Ingestor(rt.settings, make_sessionmaker(nowhere), rt.signer, rt.replay_store)
    try:
        with pytest.raises(Refused) as refused:
            ingestor.ingest(token, encode(make_batch(0)), encoding=None, origin=None)
    finally:
        ingestor.close()
        nowhere.dispose()
    assert (refused.value.status, refused.value.code, refused.value.retry_after) == (
        503,
        "database_unavailable",
        5,
    )
    assert "hunter2" not in refused.value.message and "127.0.0.1" not in str(refused.value)
