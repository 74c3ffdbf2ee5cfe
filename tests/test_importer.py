"""The importer against the Datadog contract fake: correlation, exactly-once, leases, failures."""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient

from replaylink.api.app import create_app
from replaylink.importer.leases import LeaseLost, claim_due
from replaylink.importer.poll import store_chunk
from replaylink.importer.worker import Importer
from replaylink.runtime import Runtime
from replaylink.tokens import TokenSigner
from tests.conftest import Seeded
from tests.importer_support import (
    Clock,
    add_integration,
    context_for,
    event_count,
    events,
    integration,
    new_session,
    one_round,
    settings,  # noqa: F401 (the fixture)
)
from tests.peers import datadog_fake
from tests.peers.datadog_fake import make_log


@pytest.fixture
def setup(rt: Runtime, seeded: Seeded, clock: Clock, datadog: datadog_fake.RunningDatadog) -> dict[str, Any]:
    raw = {
        "api_key": datadog_fake.API_KEY,
        "application_key": datadog_fake.APPLICATION_KEY,
        "base_url": datadog.url,
    }
    integration_id = add_integration(rt, seeded.project_id, "datadog", raw, clock)
    importer = Importer(context_for(rt, clock), owner="worker-a")
    return {"integration_id": integration_id, "importer": importer}


def seed_snippet_line(token: str, text: str = "payment failed") -> str:
    """Exactly what the seeds' monkey patch prints for a line written inside a request."""
    return f"[openReplaySessionToken={token}] {text}"


async def test_seed_snippet_line_and_json_attribute_land_on_the_right_session(
    rt: Runtime, seeded: Seeded, clock: Clock, datadog: Any, setup: dict[str, Any]
) -> None:
    sid_a, token_a = new_session(rt, seeded.project_id, clock.now - timedelta(minutes=10))
    sid_b, token_b = new_session(rt, seeded.project_id, clock.now - timedelta(minutes=9))
    at = clock.now - timedelta(minutes=5)
    datadog.state.add_records(
        [
            make_log(seed_snippet_line(token_a), timestamp=at, status="error", service="api"),
            make_log(
                json.dumps({"event": "db timeout", "openReplaySessionToken": token_b}),
                timestamp=at,
                status="error",
                attributes={"openReplaySessionToken": token_b, "error": {"kind": "TimeoutError"}},
            ),
            make_log(
                f"ValueError: [openReplaySessionToken={token_a}] bad cart id",
                timestamp=at + timedelta(seconds=1),
                status="error",
            ),
        ]
    )
    results = await one_round(setup["importer"])
    assert [r.outcome for r in results] == ["ok"]
    mine = events(rt, session_id=sid_a)
    assert [e.title for e in mine] == ["payment failed", "ValueError: bad cart id"]
    assert all(e.project_id == seeded.project_id and e.provider == "datadog" for e in mine)
    assert mine[0].link and mine[0].fingerprint
    assert len(events(rt, session_id=sid_b)) == 1
    row = integration(rt, setup["integration_id"])
    assert row.outcomes["matched"] == 3
    assert row.events_imported == 3
    assert row.last_success_at == clock.now
    assert row.lease_owner is None


async def test_one_record_naming_two_sessions_attaches_to_both(
    rt: Runtime, seeded: Seeded, clock: Clock, datadog: Any, setup: dict[str, Any]
) -> None:
    sid_a, token_a = new_session(rt, seeded.project_id, clock.now - timedelta(minutes=10))
    sid_b, token_b = new_session(rt, seeded.project_id, clock.now - timedelta(minutes=10))
    datadog.state.add_records(
        [
            make_log(
                f"batch failed openReplaySessionToken={token_a} openReplaySessionToken={token_b}",
                timestamp=clock.now - timedelta(minutes=1),
                status="error",
            )
        ]
    )
    await one_round(setup["importer"])
    assert {e.session_id for e in events(rt)} == {sid_a, sid_b}


async def test_every_error_kept_and_overlapping_windows_import_once(
    rt: Runtime, seeded: Seeded, clock: Clock, datadog: Any, setup: dict[str, Any]
) -> None:
    sid, token = new_session(rt, seeded.project_id, clock.now - timedelta(minutes=30))
    log_ids = [f"log-{i}" for i in range(5)]
    datadog.state.add_records(
        [
            make_log(
                seed_snippet_line(token, f"error {i}"),
                timestamp=clock.now - timedelta(minutes=2, seconds=i),
                status="error",
                log_id=log_ids[i],
            )
            for i in range(5)
        ]
    )
    await one_round(setup["importer"])
    clock.advance(seconds=20)  # next window re-reads the overlap: same records again
    await one_round(setup["importer"])
    assert [e.provider_record_id for e in events(rt, session_id=sid)] == list(reversed(log_ids))
    assert integration(rt, setup["integration_id"]).records_scanned == 5  # read twice, counted once


async def test_health_counts_each_record_once_per_outcome_across_overlapping_polls(
    rt: Runtime, seeded: Seeded, clock: Clock, datadog: Any, setup: dict[str, Any]
) -> None:
    """7 records re-read by three polls (and one indexed late): each counted once, samples unique."""
    _, token = new_session(rt, seeded.project_id, clock.now - timedelta(minutes=30))
    forged = TokenSigner(b"attacker-key-0000000000").mint(123, seeded.project_id, 2**33)
    at = clock.now - timedelta(minutes=2)
    lines = [seed_snippet_line(token, f"error {i}") for i in range(5)]
    lines += [seed_snippet_line(forged), seed_snippet_line("not.a.token")]
    datadog.state.add_records(
        [make_log(line, timestamp=at, status="error", log_id=f"log-{i}") for i, line in enumerate(lines)]
    )
    for _ in range(3):
        await one_round(setup["importer"])
        clock.advance(seconds=20)
    row = integration(rt, setup["integration_id"])
    assert (row.records_scanned, row.events_imported) == (7, 5)
    assert row.outcomes == {"matched": 5, "forged": 1, "malformed": 1}
    assert sorted(s["provider_record_id"] for s in row.rejected_samples) == ["log-5", "log-6"]

    datadog.state.add_records(  # indexed late, inside the overlap: counted when it first shows up
        [make_log(seed_snippet_line(forged), timestamp=at, status="error", log_id="late-forged")]
    )
    for _ in range(2):
        await one_round(setup["importer"])
        clock.advance(seconds=20)
    row = integration(rt, setup["integration_id"])
    assert row.records_scanned == 8 and row.outcomes["forged"] == 2 and row.outcomes["matched"] == 5
    assert len(row.rejected_samples) == 3
    diagnostics = setup_diagnostics(rt, seeded)
    assert diagnostics["records_scanned"] == 8 and diagnostics["rejected"]["forged"] == 2
    assert len({(s["provider_record_id"], s["reason"]) for s in diagnostics["samples"]}) == 3
    assert len(diagnostics["samples"]) == 3


def setup_diagnostics(rt: Runtime, seeded: Seeded) -> dict[str, Any]:
    """What GET .../diagnostics answers for the Datadog integration of these tests."""
    with TestClient(create_app(rt)) as client:
        url = f"/api/v1/projects/{seeded.project_id}/integrations/datadog/default/diagnostics"
        response = client.get(url, headers=seeded.auth())
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


async def test_late_record_inside_the_overlap_is_imported_once(
    rt: Runtime, seeded: Seeded, clock: Clock, datadog: Any, setup: dict[str, Any]
) -> None:
    sid, token = new_session(rt, seeded.project_id, clock.now - timedelta(minutes=30))
    await one_round(setup["importer"])
    checkpoint = integration(rt, setup["integration_id"]).checkpoint
    assert checkpoint == clock.now
    # Indexed late: its timestamp is before the checkpoint the first poll already passed.
    datadog.state.add_records(
        [
            make_log(
                seed_snippet_line(token),
                timestamp=clock.now - timedelta(minutes=2),
                status="error",
                log_id="late-1",
            )
        ]
    )
    clock.advance(seconds=20)
    await one_round(setup["importer"])
    clock.advance(seconds=20)
    await one_round(setup["importer"])
    assert [e.provider_record_id for e in events(rt, session_id=sid)] == ["late-1"]


async def test_forged_other_project_unknown_session_and_expiry(
    rt: Runtime, seeded: Seeded, clock: Clock, datadog: Any, setup: dict[str, Any]
) -> None:
    at = clock.now - timedelta(minutes=3)
    _, other_token = new_session(rt, seeded.other_project_id, clock.now - timedelta(minutes=10))
    forged = TokenSigner(b"attacker-key-0000000000").mint(123, seeded.project_id, 2**33)
    unknown = rt.signer.mint(987654321, seeded.project_id, 2**33)
    # A session that ended long ago: its expired token attaches only inside lifetime + grace.
    old_start = clock.now - timedelta(hours=30)
    old_sid, old_token = new_session(rt, seeded.project_id, old_start, lifetime=timedelta(hours=2))
    in_grace_sid, in_grace_token = new_session(
        rt, seeded.project_id, clock.now - timedelta(hours=3), lifetime=timedelta(hours=2)
    )
    datadog.state.add_records(
        [
            make_log(seed_snippet_line(forged), timestamp=at, status="error"),
            make_log(seed_snippet_line(other_token), timestamp=at, status="error"),
            make_log(seed_snippet_line(unknown), timestamp=at, status="error"),
            make_log(seed_snippet_line("not.a.token"), timestamp=at, status="error"),
            make_log(seed_snippet_line(old_token), timestamp=at, status="error"),
            make_log(seed_snippet_line(in_grace_token), timestamp=at, status="error"),
        ]
    )
    await one_round(setup["importer"])
    assert [e.session_id for e in events(rt)] == [in_grace_sid]
    outcomes = integration(rt, setup["integration_id"]).outcomes
    assert outcomes == {
        "forged": 1,
        "other_project": 1,
        "unknown_session": 1,
        "malformed": 1,
        "expired_out_of_grace": 1,
        "expired_in_grace": 1,
    }
    samples = integration(rt, setup["integration_id"]).rejected_samples
    assert {s["reason"] for s in samples} >= {"forged", "other_project", "malformed"}
    assert all(len(s["excerpt"]) <= 300 for s in samples)
    assert old_sid not in {e.session_id for e in events(rt)}


async def test_a_rate_limit_of_a_year_waits_the_backoff_cap_only(
    rt: Runtime, seeded: Seeded, clock: Clock, datadog: Any, setup: dict[str, Any]
) -> None:
    """A window waits; it is never dropped: a year's wait would let retention pass it by (and one
    of 10^12 seconds overflowed the next poll's time, failing every poll without a word)."""
    for asked in (365 * 86_400, 10**12):
        datadog.state.inject("429", times=1000, retry_after=asked)
        assert [r.outcome for r in await one_round(setup["importer"])] == ["rate_limited"]
        row = integration(rt, setup["integration_id"])
        assert row.last_error_kind == "rate_limited" and row.lease_owner is None
        assert row.next_poll_at == clock.now + timedelta(seconds=rt.settings.max_backoff_seconds)
        clock.now = row.next_poll_at
        datadog.state.clear()


async def test_rate_limit_storm_delays_and_loses_nothing(
    rt: Runtime, seeded: Seeded, clock: Clock, datadog: Any, setup: dict[str, Any]
) -> None:
    sid, token = new_session(rt, seeded.project_id, clock.now - timedelta(minutes=30))
    datadog.state.add_records(
        [make_log(seed_snippet_line(token), timestamp=clock.now - timedelta(minutes=1), status="error")]
    )
    datadog.state.inject("429", times=1000, retry_after=120)
    results = await one_round(setup["importer"])
    assert [r.outcome for r in results] == ["rate_limited"]
    row = integration(rt, setup["integration_id"])
    assert row.last_error_kind == "rate_limited" and row.consecutive_failures == 1
    assert row.next_poll_at == clock.now + timedelta(seconds=120)
    assert row.enabled and not row.needs_attention
    assert event_count(rt) == 0
    assert await one_round(setup["importer"]) == []  # not due yet
    datadog.state.clear()
    datadog.state.add_records(
        [
            make_log(
                seed_snippet_line(token),
                timestamp=clock.now - timedelta(minutes=1),
                status="error",
                log_id="kept",
            )
        ]
    )
    clock.advance(seconds=121)
    assert [r.outcome for r in await one_round(setup["importer"])] == ["ok"]
    assert [e.session_id for e in events(rt)] == [sid]
    assert integration(rt, setup["integration_id"]).consecutive_failures == 0


async def test_an_hour_long_outage_backs_off_then_catches_up(
    rt: Runtime, seeded: Seeded, clock: Clock, datadog: Any, setup: dict[str, Any]
) -> None:
    sid, token = new_session(rt, seeded.project_id, clock.now - timedelta(minutes=5))
    outage_start = clock.now
    datadog.state.inject("500", times=100_000)
    waits = []
    while clock.now < outage_start + timedelta(hours=1):
        results = await one_round(setup["importer"])
        row = integration(rt, setup["integration_id"])
        if results:
            assert results[0].outcome == "error"
            assert row.last_error and "500" in row.last_error
            waits.append((row.next_poll_at - clock.now).total_seconds())
        clock.now = row.next_poll_at
        # records keep arriving during the outage
        datadog.state.add_records(
            [
                make_log(
                    seed_snippet_line(token, f"during {clock.now}"),
                    timestamp=clock.now - timedelta(seconds=30),
                    status="error",
                )
            ]
        )
    assert waits == sorted(waits) and max(waits) == 900  # exponential, capped at 15 min
    assert integration(rt, setup["integration_id"]).enabled
    datadog.state.faults.clear()
    await one_round(setup["importer"])
    row = integration(rt, setup["integration_id"])
    assert row.consecutive_failures == 0 and row.checkpoint == clock.now
    stored = events(rt, session_id=sid)
    assert len(stored) == len(waits)  # every record written during the outage, none twice


async def test_bad_credentials_need_attention_and_keep_retrying(
    rt: Runtime, seeded: Seeded, clock: Clock, datadog: Any, setup: dict[str, Any]
) -> None:
    datadog.state.api_key = "rotated-away"
    results = await one_round(setup["importer"])
    assert [r.outcome for r in results] == ["needs_attention"]
    row = integration(rt, setup["integration_id"])
    assert row.needs_attention and row.enabled and row.last_error_kind == "auth"
    assert row.next_poll_at == clock.now + timedelta(seconds=900)
    assert datadog_fake.API_KEY not in (row.last_error or "")


async def test_a_taken_over_lease_cannot_commit(
    rt: Runtime, seeded: Seeded, clock: Clock, datadog: Any, setup: dict[str, Any]
) -> None:
    ctx = context_for(rt, clock)
    lease_for = timedelta(seconds=120)
    first = claim_due(rt.sessions, "worker-a", clock.now, 10, lease_for)
    assert [lease.integration_id for lease in first] == [setup["integration_id"]]
    assert claim_due(rt.sessions, "worker-b", clock.now, 10, lease_for) == []  # held
    clock.advance(seconds=121)
    second = claim_due(rt.sessions, "worker-b", clock.now, 10, lease_for)  # expired: taken over
    assert second[0].version == first[0].version + 1
    sid, token = new_session(rt, seeded.project_id, clock.now - timedelta(minutes=5))
    from replaylink.providers.base import Record

    record = Record(provider_id="x", timestamp=clock.now, message=seed_snippet_line(token))
    with pytest.raises(LeaseLost):
        store_chunk(ctx, first[0], [record], clock.now, True, clock.now)
    assert event_count(rt) == 0
    store_chunk(ctx, second[0], [record], clock.now, True, clock.now)
    assert [e.session_id for e in events(rt)] == [sid]


async def test_paused_integrations_are_not_polled(
    rt: Runtime, seeded: Seeded, clock: Clock, setup: dict[str, Any]
) -> None:
    from replaylink.store.db import transaction
    from replaylink.store.models import Integration

    with transaction(rt.sessions) as db:
        row = db.get(Integration, setup["integration_id"])
        assert row is not None
        row.paused = True
    assert await one_round(setup["importer"]) == []


async def test_a_chunk_over_the_records_cap_is_read_in_halves_and_loses_nothing(
    rt: Runtime, seeded: Seeded, clock: Clock, datadog: Any, setup: dict[str, Any]
) -> None:
    """A poll holds at most ``max_chunk_records`` records: a chunk with more is read again as its
    halves. Where one second still has more (a provider whose pages never end), the poll fails
    with a message instead of growing the worker until it is killed."""
    importer = Importer(replace(context_for(rt, clock), max_chunk_records=4), owner="worker-cap")
    _, token = new_session(rt, seeded.project_id, clock.now - timedelta(minutes=30))
    first = clock.now - timedelta(minutes=20)
    datadog.state.add_records(
        [
            make_log(
                seed_snippet_line(token, f"boom {n}"),
                timestamp=first + timedelta(seconds=7 * n),
                status="error",
            )
            for n in range(10)
        ]
    )
    [result] = await one_round(importer)
    assert result.outcome == "ok" and result.imported == 10
    assert event_count(rt) == 10
    row = integration(rt, setup["integration_id"])
    clock.now = row.next_poll_at
    same_second = clock.now - timedelta(minutes=1)
    datadog.state.add_records(
        [
            make_log(seed_snippet_line(token, f"again {n}"), timestamp=same_second, status="error")
            for n in range(5)
        ]
    )
    [failed] = await one_round(importer)
    assert failed.outcome == "error"
    row = integration(rt, setup["integration_id"])
    assert row.last_error is not None and "more than 4 records" in row.last_error
    assert event_count(rt) == 10
