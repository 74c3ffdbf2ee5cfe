"""An integration deleted without ``purge_events`` and created again stores no record twice.

Its events stay, detached (no integration), and the new integration looks back 24 h over the same
provider: each record it had imported was stored a second time (a tester saw 60 events for 30
records, every error listed twice on its session and counted twice in its group).
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from fastapi.testclient import TestClient

from replaylink.importer.worker import Importer
from replaylink.runtime import Runtime
from replaylink.store import integrations as store
from replaylink.store.db import transaction
from replaylink.store.models import Integration
from tests.conftest import Seeded
from tests.importer_support import Clock, context_for, event_count, events, new_session, one_round
from tests.peers import datadog_fake


def put_datadog(client: TestClient, seeded: Seeded, url: str) -> int:
    settings = {
        "api_key": datadog_fake.API_KEY,
        "application_key": datadog_fake.APPLICATION_KEY,
        "base_url": url,
    }
    path = f"/api/v1/projects/{seeded.project_id}/integrations/datadog/main?check=false"
    response = client.put(path, json={"settings": settings}, headers=seeded.auth())
    assert response.status_code == 201, response.text
    rt: Runtime = client.app.state.runtime  # type: ignore[attr-defined]
    with transaction(rt.sessions) as db:
        row = store.find(db, seeded.project_id, "datadog", "main")
        assert row is not None
        return row.id


def logs(token: str, at: datetime, texts: list[str]) -> list[dict[str, Any]]:
    return [
        datadog_fake.make_log(
            f"[openReplaySessionToken={token}] {text}", timestamp=at + timedelta(seconds=i), status="error"
        )
        for i, text in enumerate(texts)
    ]


async def test_a_re_created_integration_imports_only_what_was_not_stored(
    client: TestClient, rt: Runtime, seeded: Seeded, datadog: datadog_fake.RunningDatadog
) -> None:
    clock = Clock(now=datetime.now(UTC).replace(microsecond=0) + timedelta(minutes=1))  # both due
    importer = Importer(context_for(rt, clock), owner="worker-a")
    session_id, token = new_session(rt, seeded.project_id, clock.now - timedelta(minutes=30))
    datadog.state.add_records(
        logs(token, clock.now - timedelta(minutes=20), [f"Error{i}: failed" for i in range(5)])
    )
    put_datadog(client, seeded, datadog.url)
    assert [r.outcome for r in await one_round(importer)] == ["ok"]
    assert event_count(rt) == 5

    path = f"/api/v1/projects/{seeded.project_id}/integrations/datadog/main"
    deleted = client.delete(path, headers=seeded.auth())
    assert deleted.status_code == 200 and deleted.json()["events_purged"] == 0
    assert [e.integration_id for e in events(rt)] == [None] * 5

    # One record the first integration never read, logged before the second one exists.
    datadog.state.add_records(logs(token, clock.now - timedelta(minutes=10), ["Late: only now"]))
    second = put_datadog(client, seeded, datadog.url)
    assert [r.outcome for r in await one_round(importer)] == ["ok"]

    stored = events(rt, session_id=session_id)
    assert sorted(e.title for e in stored) == sorted(
        [f"Error{i}: failed" for i in range(5)] + ["Late: only now"]
    )
    assert [e.integration_id for e in stored if e.title == "Late: only now"] == [second]
    with transaction(rt.sessions) as db:
        row = db.get_one(Integration, second)
        assert row.events_imported == 1 and row.outcomes["matched"] == 6

    base = f"/api/v1/projects/{seeded.project_id}"
    groups = client.get(f"{base}/backend-errors", headers=seeded.auth()).json()["groups"]
    assert sum(group["count"] for group in groups) == 6
    # The live answer of the new integration names the same records: merged once each.
    live = client.get(f"{base}/sessions/{session_id}/backend-logs", headers=seeded.auth())
    assert live.status_code == 200, live.text
    merged = live.json()["events"]
    assert len(merged) == 6 and {e["source"] for e in merged} == {"imported"}
