"""The player's API: manifest, segments (ETag, caching, access), timeline, session list filters."""

from __future__ import annotations

from datetime import UTC, datetime

from fastapi.testclient import TestClient

from replaylink.runtime import Runtime
from replaylink.store.db import transaction
from replaylink.store.models import BackendEvent
from tests.conftest import Seeded
from tests.replay_support import make_batch, now_ms, post, start


def url(seeded: Seeded, session_id: int, tail: str = "") -> str:
    return f"/api/v1/projects/{seeded.project_id}/sessions/{session_id}{tail}"


def test_manifest_of_a_session_without_recording_is_empty(client: TestClient, seeded: Seeded) -> None:
    session_id, _ = start(client, seeded.project_key)
    manifest = client.get(url(seeded, session_id, "/replay"), headers=seeded.auth()).json()
    assert manifest["segments"] == [] and manifest["recording_started_at"] is None
    assert manifest["duration_ms"] == 0


def test_manifest_gives_offsets_and_duration_from_first_to_last_event(
    client: TestClient, seeded: Seeded
) -> None:
    session_id, token = start(client, seeded.project_key)
    t0 = now_ms() - 30_000
    post(client, token, make_batch(0, t0=t0))
    post(client, token, make_batch(1, t0=t0 + 10_000, full=False, clicks=0, moves=1))
    manifest = client.get(url(seeded, session_id, "/replay"), headers=seeded.auth()).json()
    assert [s["offset_ms"] for s in manifest["segments"]] == [0, 10_000]
    assert [s["has_full_snapshot"] for s in manifest["segments"]] == [True, False]
    assert manifest["duration_ms"] == 10_000
    listed = client.get(f"/api/v1/projects/{seeded.project_id}/sessions", headers=seeded.auth()).json()
    [row] = listed["sessions"]
    assert row["recording"]["duration_ms"] == 10_000 and row["recording"]["clicks"] == 2
    assert row["recording"]["segments"] == 2


def test_segment_etag_and_not_modified(client: TestClient, seeded: Seeded) -> None:
    session_id, token = start(client, seeded.project_key)
    post(client, token, make_batch(0))
    first = client.get(url(seeded, session_id, "/replay/tab-1/0"), headers=seeded.auth())
    assert first.status_code == 200 and first.headers["etag"].startswith('"')
    again = client.get(
        url(seeded, session_id, "/replay/tab-1/0"),
        headers={**seeded.auth(), "If-None-Match": first.headers["etag"]},
    )
    assert again.status_code == 304


def test_segments_and_manifests_follow_api_key_access(client: TestClient, seeded: Seeded) -> None:
    session_id, token = start(client, seeded.project_key)
    post(client, token, make_batch(0))
    for tail in ("/replay", "/replay/tab-1/0", "/timeline"):
        assert client.get(url(seeded, session_id, tail)).status_code == 401
        other = client.get(url(seeded, session_id, tail), headers=seeded.auth(seeded.other_api_key))
        assert other.status_code == 404
        assert (
            client.get(url(seeded, session_id, tail), headers=seeded.auth(seeded.project_api_key)).status_code
            == 200
        )
    assert client.get(url(seeded, session_id, "/replay/tab-1/1"), headers=seeded.auth()).status_code == 404
    assert client.get(url(seeded, session_id, "/replay/..%2Fx/0"), headers=seeded.auth()).status_code in (
        404,
        422,
    )


def test_timeline_merges_recorded_and_backend_events_in_time_order(
    client: TestClient, seeded: Seeded, rt: Runtime
) -> None:
    session_id, token = start(client, seeded.project_key)
    t0 = now_ms() - 20_000
    devtools = [
        {"type": "page", "ts": t0, "url": "https://shop.example/"},
        {"type": "network", "ts": t0 + 100, "method": "GET", "url": "/ok", "status": 200, "duration": 5,
         "failed": False},
        {"type": "network", "ts": t0 + 200, "method": "POST", "url": "/pay", "status": 0, "duration": 9,
         "failed": True, "error": "net::ERR_FAILED"},
        {"type": "console", "ts": t0 + 300, "level": "warn", "message": "slow"},
        {"type": "console", "ts": t0 + 400, "level": "error", "message": "<img src=x onerror=alert(1)>"},
        {"type": "error", "ts": t0 + 500, "name": "TypeError", "message": "boom",
         "source": "unhandledrejection"},
        {"type": "custom", "ts": t0 + 600, "name": "checkout", "payload": [1, 2]},
    ]  # fmt: skip
    post(client, token, make_batch(0, t0=t0, devtools=devtools))
    moment = datetime.fromtimestamp((t0 + 450) / 1000, UTC)
    late = datetime.fromtimestamp((t0 + 3_600_000) / 1000, UTC)
    with transaction(rt.sessions) as db:
        for record_id, at in (("r1", moment), ("r2", late)):
            db.add(
                BackendEvent(
                    project_id=seeded.project_id,
                    session_id=session_id,
                    provider="sentry",
                    provider_record_id=record_id,
                    timestamp=at,
                    level="error",
                    title="DB timeout",
                    message="m",
                    fingerprint="f",
                    imported_at=moment,
                )
            )
    body = client.get(url(seeded, session_id, "/timeline"), headers=seeded.auth()).json()
    kinds = [(e["kind"], e["offset_ms"]) for e in body["events"]]
    assert kinds == [
        ("page", 0),
        ("failed_request", 200),
        ("console_error", 400),
        ("backend", 450),
        ("js_error", 500),
        ("custom", 600),
        ("backend", 3_600_000),
    ]
    assert body["events"][2]["message"] == "<img src=x onerror=alert(1)>"  # data, as text
    assert body["events"][-1]["outside_recording"] is True and body["events"][3]["outside_recording"] is False
    assert body["events"][3]["backend"]["provider"] == "sentry"
    assert body["truncated"] is False


def test_session_list_filters_on_js_errors_and_failed_requests(client: TestClient, seeded: Seeded) -> None:
    clean, clean_token = start(client, seeded.project_key)
    broken, broken_token = start(client, seeded.project_key)
    failing, failing_token = start(client, seeded.project_key)
    ts = now_ms() - 1000
    post(client, clean_token, make_batch(0))
    post(
        client,
        broken_token,
        make_batch(
            0, devtools=[{"type": "error", "ts": ts, "name": "E", "message": "m", "source": "handled"}]
        ),
    )
    failed = {
        "type": "network",
        "ts": ts,
        "method": "GET",
        "url": "/x",
        "status": 500,
        "duration": 1,
        "failed": False,
    }
    post(client, failing_token, make_batch(0, devtools=[failed]))

    def ids(query: str) -> set[int]:
        answer = client.get(f"/api/v1/projects/{seeded.project_id}/sessions?{query}", headers=seeded.auth())
        assert answer.status_code == 200, answer.text
        return {int(s["id"]) for s in answer.json()["sessions"]}

    assert ids("has_js_errors=true") == {broken}
    assert ids("has_js_errors=false") == {clean, failing}
    assert ids("has_failed_requests=true") == {failing}  # status >= 400 counts as failed
    assert ids("has_failed_requests=false&has_js_errors=false") == {clean}
