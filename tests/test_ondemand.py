"""On-demand backend logs against the Datadog and Sentry contract fakes: merge, failures, cache."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import update

from replaylink import ondemand
from replaylink.config import Settings
from replaylink.importer.backfill import backfill
from replaylink.runtime import Runtime
from replaylink.runtime_importer import poll_context
from replaylink.store import integrations as store
from replaylink.store.db import transaction
from replaylink.store.models import OnDemandCache, RecordedSession
from replaylink.store.sessions import start_session
from tests.backend_events import T0, add_event, add_session
from tests.conftest import Seeded, make_settings
from tests.peers import datadog_fake, sentry_fake
from tests.peers.common import free_port

TIMEOUT = 1.5
CAP = 4


@pytest.fixture
def settings(db_url: str, tmp_path: Path) -> Settings:
    return make_settings(
        tmp_path / "data", db_url, on_demand_timeout_seconds=TIMEOUT, on_demand_max_records=CAP
    )


@pytest.fixture
def sentry() -> Iterator[sentry_fake.RunningSentry]:
    with sentry_fake.running() as peer:
        yield peer


def connect_datadog(client: TestClient, seeded: Seeded, name: str, url: str) -> int:
    settings = {
        "api_key": datadog_fake.API_KEY,
        "application_key": datadog_fake.APPLICATION_KEY,
        "base_url": url,
    }
    return connect(client, seeded, "datadog", name, settings)


def connect_sentry(client: TestClient, seeded: Seeded, name: str, url: str) -> int:
    settings = {
        "token": sentry_fake.USER_TOKEN,
        "organization_slug": sentry_fake.ORG,
        "project_slug": sentry_fake.PROJECT,
        "base_url": url,
    }
    return connect(client, seeded, "sentry", name, settings)


def connect(client: TestClient, seeded: Seeded, provider: str, name: str, settings: dict[str, Any]) -> int:
    """Save an integration through the API (no provider check) and return its id."""
    url = f"/api/v1/projects/{seeded.project_id}/integrations/{provider}/{name}?check=false"
    response = client.put(url, json={"settings": settings}, headers=seeded.auth())
    assert response.status_code == 201, response.text
    rt: Runtime = client.app.state.runtime  # type: ignore[attr-defined]
    with transaction(rt.sessions) as db:
        row = store.find(db, seeded.project_id, provider, name)
        assert row is not None
        return row.id


def token_of(rt: Runtime, session: RecordedSession) -> str:
    return rt.signer.mint(session.id, session.project_id, int(session.token_expires_at.timestamp()))


def dd_log(token: str, at: datetime, text: str, status: str = "error", **kwargs: Any) -> dict[str, Any]:
    return datadog_fake.make_log(
        f"[openReplaySessionToken={token}] {text}", timestamp=at, status=status, **kwargs
    )


def backend_logs(
    client: TestClient, seeded: Seeded, session: RecordedSession, **params: Any
) -> dict[str, Any]:
    url = f"/api/v1/projects/{seeded.project_id}/sessions/{session.id}/backend-logs"
    response = client.get(url, params=params, headers=seeded.auth())
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


def by_name(body: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {answer["name"]: answer for answer in body["providers"]}


# --------------------------------------------------------------------------- rules


def test_window_covers_the_session_padded_and_the_cache_lifetime_follows_activity(rt: Runtime) -> None:
    now = datetime(2026, 6, 1, 12, 0, tzinfo=UTC)
    finished = RecordedSession(
        id=1,
        project_id=1,
        started_at=now - timedelta(days=2),
        last_seen_at=now - timedelta(days=2) + timedelta(minutes=10),
        token_expires_at=now - timedelta(days=2) + timedelta(hours=2),
    )
    start, end = ondemand.query_window(finished, 300, now)
    assert start == finished.started_at - timedelta(minutes=5)
    assert end == finished.token_expires_at + timedelta(minutes=5)
    assert ondemand.cache_lifetime(finished, rt.settings, now) == timedelta(hours=24)

    live = RecordedSession(
        id=2,
        project_id=1,
        started_at=now - timedelta(minutes=20),
        last_seen_at=now - timedelta(minutes=1),
        token_expires_at=now + timedelta(hours=1),
    )
    start, end = ondemand.query_window(live, 300, now)
    assert end == now + timedelta(minutes=5)  # not beyond now (plus padding) while the token lives
    assert ondemand.cache_lifetime(live, rt.settings, now) == timedelta(minutes=10)


# --------------------------------------------------------------------------- merge


def test_live_logs_all_levels_merged_with_imported_without_duplicates(
    client: TestClient,
    rt: Runtime,
    seeded: Seeded,
    datadog: datadog_fake.RunningDatadog,
    sentry: sentry_fake.RunningSentry,
) -> None:
    session = add_session(rt, seeded.project_id, T0)
    token = token_of(rt, session)
    dd_id = connect_datadog(client, seeded, "main", datadog.url)
    connect_sentry(client, seeded, "main", sentry.url)
    imported_log = dd_log(token, T0 + timedelta(seconds=10), "payment failed", "error")
    datadog.state.add_records(
        [
            imported_log,
            dd_log(token, T0 + timedelta(seconds=5), "cart loaded", "info"),
            dd_log(token, T0 - timedelta(minutes=2), "before the session, inside the padding", "warn"),
            dd_log(token, T0 - timedelta(minutes=30), "outside the window", "error"),
            dd_log("1.other.token", T0 + timedelta(seconds=7), "someone else's", "error"),
        ]
    )
    sentry.state.add_records([sentry_fake.sentry_event(token, T0 + timedelta(seconds=20), value="boom")])
    add_event(
        rt,
        session,
        timedelta(seconds=10),
        integration_id=dd_id,
        record_id=imported_log["id"],
        title="payment failed",
    )

    body = backend_logs(client, seeded, session)

    answers = by_name(body)
    assert [a["status"] for a in body["providers"]] == ["ok", "ok"]
    assert answers["main"]["cached"] is False
    events = body["events"]
    assert [(e["source"], e["provider"], e["level"]) for e in events] == [
        ("live", "datadog", "warning"),
        ("live", "datadog", "info"),
        ("imported", "datadog", "error"),
        ("live", "sentry", "error"),
    ]
    assert [e["offset_ms"] for e in events] == [-120_000, 5000, 10_000, 20_000]
    assert [e["outside_session"] for e in events] == [True, False, False, False]
    assert sum(1 for e in events if e["provider_record_id"] == imported_log["id"]) == 1
    assert all(e["session_id"] == str(session.id) for e in events)
    assert body["window_start"].startswith("2026-03-02T09:55:00")
    # The live query asked for this session's token, all levels, over the padded window.
    sent = datadog.state.requests[-1]["body"]["filter"]
    assert token in sent["query"] and "status:" not in sent["query"]
    assert int(sent["from"]) == int((T0 - timedelta(minutes=5)).timestamp() * 1000)


def test_cap_flags_truncated(
    client: TestClient, rt: Runtime, seeded: Seeded, datadog: datadog_fake.RunningDatadog
) -> None:
    session = add_session(rt, seeded.project_id, T0)
    token = token_of(rt, session)
    connect_datadog(client, seeded, "main", datadog.url)
    datadog.state.add_records([dd_log(token, T0 + timedelta(seconds=i), f"line {i}") for i in range(CAP + 3)])

    body = backend_logs(client, seeded, session)

    (answer,) = body["providers"]
    assert answer["status"] == "ok" and answer["truncated"] is True
    assert answer["records"] == CAP and len(body["events"]) == CAP


# --------------------------------------------------------------------------- failures


def test_one_down_one_rate_limited_one_slow_do_not_fail_the_others(
    client: TestClient, rt: Runtime, seeded: Seeded, sentry: sentry_fake.RunningSentry
) -> None:
    session = add_session(rt, seeded.project_id, T0)
    token = token_of(rt, session)
    with datadog_fake.running() as healthy, datadog_fake.running() as limited:
        connect_datadog(client, seeded, "down", f"http://127.0.0.1:{free_port()}")
        connect_datadog(client, seeded, "limited", limited.url)
        connect_datadog(client, seeded, "main", healthy.url)
        connect_sentry(client, seeded, "slow", sentry.url)
        healthy.state.add_records([dd_log(token, T0 + timedelta(seconds=3), "works")])
        limited.state.inject("429", times=10, retry_after=3600)
        sentry.state.inject("slow", times=10, delay=TIMEOUT + 1.5)

        body = backend_logs(client, seeded, session)

        answers = by_name(body)
        assert answers["main"]["status"] == "ok" and answers["main"]["records"] == 1
        assert answers["down"]["status"] == "error"
        assert "Datadog" in answers["down"]["message"]
        assert answers["limited"]["status"] == "rate_limited"
        assert answers["limited"]["retry_after"] >= 3000
        assert answers["slow"]["status"] == "timeout"
        assert f"{TIMEOUT:g} s" in answers["slow"]["message"]
        assert [e["title"] for e in body["events"]] == ["works"]
        text = str(body)
        for secret in (datadog_fake.API_KEY, datadog_fake.APPLICATION_KEY, sentry_fake.USER_TOKEN):
            assert secret not in text
        for name in ("down", "limited", "slow"):
            assert answers[name]["cached"] is False and answers[name]["expires_at"] is None

        # Failures are not cached: asking again queries them again; the healthy answer is cached.
        before = len(limited.state.requests), len(healthy.state.requests)
        again = by_name(backend_logs(client, seeded, session))
        assert again["main"]["cached"] is True and again["limited"]["status"] == "rate_limited"
        assert len(limited.state.requests) > before[0] and len(healthy.state.requests) == before[1]


def test_unexpected_errors_are_reported_by_class_name(
    client: TestClient,
    rt: Runtime,
    seeded: Seeded,
    datadog: datadog_fake.RunningDatadog,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    session = add_session(rt, seeded.project_id, T0)
    connect_datadog(client, seeded, "main", datadog.url)

    def explode(*_: Any) -> Any:
        raise RuntimeError(f"secret {datadog_fake.API_KEY} in a message")

    monkeypatch.setattr(ondemand, "open_interactive", explode)
    (answer,) = backend_logs(client, seeded, session)["providers"]
    assert answer["status"] == "error"
    assert "RuntimeError" in answer["message"] and datadog_fake.API_KEY not in answer["message"]


# --------------------------------------------------------------------------- cache


def test_cache_hit_refresh_and_expiry(
    client: TestClient, rt: Runtime, seeded: Seeded, datadog: datadog_fake.RunningDatadog
) -> None:
    session = add_session(rt, seeded.project_id, T0)
    token = token_of(rt, session)
    connect_datadog(client, seeded, "main", datadog.url)
    datadog.state.add_records([dd_log(token, T0 + timedelta(seconds=1), "first")])

    first = backend_logs(client, seeded, session)
    (answer,) = first["providers"]
    assert answer["cached"] is False
    fetched = datetime.fromisoformat(answer["fetched_at"])
    assert datetime.fromisoformat(answer["expires_at"]) - fetched == timedelta(hours=24)  # an old session
    calls = len(datadog.state.requests)

    datadog.state.add_records([dd_log(token, T0 + timedelta(seconds=2), "second")])
    hit = backend_logs(client, seeded, session)
    assert hit["providers"][0]["cached"] is True
    assert [e["title"] for e in hit["events"]] == ["first"]
    assert len(datadog.state.requests) == calls

    refreshed = backend_logs(client, seeded, session, refresh="true")
    assert refreshed["providers"][0]["cached"] is False
    assert [e["title"] for e in refreshed["events"]] == ["first", "second"]
    calls = len(datadog.state.requests)

    datadog.state.add_records([dd_log(token, T0 + timedelta(seconds=3), "third")])
    with transaction(rt.sessions) as db:
        db.execute(update(OnDemandCache).values(expires_at=datetime.now(UTC) - timedelta(seconds=1)))
    expired = backend_logs(client, seeded, session)
    assert expired["providers"][0]["cached"] is False
    assert [e["title"] for e in expired["events"]] == ["first", "second", "third"]
    assert len(datadog.state.requests) > calls


def test_recent_sessions_are_cached_briefly_and_settings_changes_invalidate(
    client: TestClient, rt: Runtime, seeded: Seeded, datadog: datadog_fake.RunningDatadog
) -> None:
    session = add_session(rt, seeded.project_id, datetime.now(UTC) - timedelta(minutes=15))
    connect_datadog(client, seeded, "main", datadog.url)

    (answer,) = backend_logs(client, seeded, session)["providers"]
    lifetime = datetime.fromisoformat(answer["expires_at"]) - datetime.fromisoformat(answer["fetched_at"])
    assert lifetime == timedelta(minutes=10)
    assert backend_logs(client, seeded, session)["providers"][0]["cached"] is True

    patch = client.patch(
        f"/api/v1/projects/{seeded.project_id}/integrations/datadog/main?check=false",
        json={"settings": {"indexes": ["main"]}},
        headers=seeded.auth(),
    )
    assert patch.status_code == 200
    assert backend_logs(client, seeded, session)["providers"][0]["cached"] is False


def test_provider_filter_and_paused_integrations(
    client: TestClient,
    rt: Runtime,
    seeded: Seeded,
    datadog: datadog_fake.RunningDatadog,
    sentry: sentry_fake.RunningSentry,
) -> None:
    session = add_session(rt, seeded.project_id, T0)
    connect_datadog(client, seeded, "main", datadog.url)
    connect_sentry(client, seeded, "main", sentry.url)
    add_event(rt, session, provider="datadog", title="imported datadog")
    add_event(rt, session, provider="sentry", title="imported sentry")

    only_sentry = backend_logs(client, seeded, session, provider="sentry")
    assert [a["provider"] for a in only_sentry["providers"]] == ["sentry"]
    assert [e["title"] for e in only_sentry["events"]] == ["imported sentry"]

    pause = f"/api/v1/projects/{seeded.project_id}/integrations/sentry/main/pause"
    assert client.post(pause, headers=seeded.auth()).status_code == 200
    assert [a["provider"] for a in backend_logs(client, seeded, session)["providers"]] == ["datadog"]
    bad = client.get(
        f"/api/v1/projects/{seeded.project_id}/sessions/{session.id}/backend-logs",
        params={"provider": "splunk"},
        headers=seeded.auth(),
    )
    assert bad.status_code == 422


# --------------------------------------------------------------------------- with the real importer


def test_importer_events_show_on_every_endpoint_and_merge_without_duplicates(
    client: TestClient, rt: Runtime, seeded: Seeded, datadog: datadog_fake.RunningDatadog
) -> None:
    started = (datetime.now(UTC) - timedelta(minutes=30)).replace(microsecond=0)  # Datadog keeps ms
    with transaction(rt.sessions) as db:
        session, token = start_session(
            db,
            rt.signer,
            project_id=seeded.project_id,
            lifetime=timedelta(hours=2),
            page_url="https://shop.example/checkout",
            user_agent="pytest",
            user_id="carol",
            metadata=None,
            token=None,
            at=started,
        )
    connect_datadog(client, seeded, "main", datadog.url)
    datadog.state.add_records(
        [
            dd_log(token, started + timedelta(seconds=4), "GET /cart", "info"),
            dd_log(token, started + timedelta(seconds=8), "PaymentError: card declined", "error"),
        ]
    )
    with transaction(rt.sessions) as db:
        row = store.find(db, seeded.project_id, "datadog", "main")
    assert row is not None
    progress = asyncio.run(backfill(poll_context(rt), row, started - timedelta(minutes=1), datetime.now(UTC)))
    assert progress.imported == 1  # the importer keeps errors only

    base = f"/api/v1/projects/{seeded.project_id}"
    (listed,) = client.get(f"{base}/sessions", headers=seeded.auth()).json()["sessions"]
    assert listed["backend_events_by_provider"] == {"datadog": 1}
    assert "PaymentError: card declined" in listed["first_error_title"]
    detail = client.get(f"{base}/sessions/{session.id}", headers=seeded.auth()).json()
    assert [e["offset_ms"] for e in detail["events"]] == [8000]
    (group,) = client.get(f"{base}/backend-errors", headers=seeded.auth()).json()["groups"]
    assert group["sessions"] == 1
    affected = client.get(f"{base}/backend-errors/{group['fingerprint']}/sessions", headers=seeded.auth())
    assert [s["id"] for s in affected.json()["sessions"]] == [str(session.id)]

    merged = backend_logs(client, seeded, session)["events"]
    assert [(e["source"], e["level"], e["offset_ms"]) for e in merged] == [
        ("live", "info", 4000),
        ("imported", "error", 8000),
    ]
