"""Freshness: a poll reads up to now, and the settle and overlap windows behind its checkpoint are
read again, so a record is imported by the first poll after it becomes searchable and a record
the provider indexes late is still imported (once). And the health counters each chunk commits."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from replaylink.config import Settings
from replaylink.importer.worker import Importer
from replaylink.runtime import Runtime
from replaylink.tokens import TokenSigner
from tests.conftest import Seeded, make_settings
from tests.importer_support import (
    Clock,
    add_integration,
    context_for,
    events,
    integration,
    new_session,
    one_round,
)
from tests.peers import datadog_fake
from tests.peers.datadog_fake import make_log


@pytest.fixture
def settings(db_url: str, tmp_path: Path) -> Settings:
    # No overlap: only the settle window is read again, so this test sees what settle does alone.
    return make_settings(tmp_path / "data", db_url, settle_seconds=10, overlap_seconds=0, provider_retries=0)


def _line(token: str, log_id: str, at: Any) -> dict[str, Any]:
    return make_log(
        f"[openReplaySessionToken={token}] payment failed", timestamp=at, status="error", log_id=log_id
    )


async def test_a_fresh_record_is_imported_at_once_and_a_late_one_still_is(
    rt: Runtime, seeded: Seeded, clock: Clock, datadog: datadog_fake.RunningDatadog
) -> None:
    raw = {
        "api_key": datadog_fake.API_KEY,
        "application_key": datadog_fake.APPLICATION_KEY,
        "base_url": datadog.url,
    }
    integration_id = add_integration(rt, seeded.project_id, "datadog", raw, clock)
    importer = Importer(context_for(rt, clock), owner="worker-a")
    sid, token = new_session(rt, seeded.project_id, clock.now - timedelta(minutes=30))

    # Searchable 2 s after it was written: inside the settle delay, imported by this poll anyway.
    datadog.state.add_records([_line(token, "fresh-1", clock.now - timedelta(seconds=2))])
    await one_round(importer)
    assert [e.provider_record_id for e in events(rt, session_id=sid)] == ["fresh-1"]
    first_poll = clock.now
    assert integration(rt, integration_id).checkpoint == first_poll  # lag is time since the read

    # Written 5 s before the first poll but indexed only after it: the next poll reads the settle
    # window behind the checkpoint again, and imports it (fresh-1 is read again, stored once).
    datadog.state.add_records([_line(token, "late-1", first_poll - timedelta(seconds=5))])
    clock.advance(seconds=15)
    await one_round(importer)
    assert sorted(e.provider_record_id for e in events(rt, session_id=sid)) == ["fresh-1", "late-1"]
    row = integration(rt, integration_id)
    assert row.checkpoint == clock.now
    assert row.events_imported == 2


async def test_health_counters_add_up_over_chunks_and_polls(
    rt: Runtime, seeded: Seeded, clock: Clock, datadog: datadog_fake.RunningDatadog
) -> None:
    """A poll of 24 hours commits hourly chunks: each adds its counters to what the lease holder
    committed before (the claim's snapshot, then each chunk), and so does the next poll."""
    raw = {
        "api_key": datadog_fake.API_KEY,
        "application_key": datadog_fake.APPLICATION_KEY,
        "base_url": datadog.url,
    }
    integration_id = add_integration(rt, seeded.project_id, "datadog", raw, clock)  # checkpoint 24 h back
    importer = Importer(context_for(rt, clock), owner="worker-a")
    _, token = new_session(
        rt, seeded.project_id, clock.now - timedelta(hours=4), lifetime=timedelta(hours=48)
    )
    forged = TokenSigner(b"attacker-key-0000000000").mint(123, seeded.project_id, 2**33)
    datadog.state.add_records(
        [
            _line(value, f"{kind}-{hours}", clock.now - timedelta(hours=hours, minutes=30))
            for hours in (3, 2, 1)  # three different chunks
            for kind, value in (("good", token), ("forged", forged))
        ]
    )
    await one_round(importer)
    row = integration(rt, integration_id)
    assert row.outcomes == {"matched": 3, "forged": 3}
    assert (row.records_scanned, row.events_imported, len(row.rejected_samples)) == (6, 3, 3)

    datadog.state.add_records([_line(forged, "forged-now", clock.now)])
    clock.advance(seconds=20)
    await one_round(importer)
    row = integration(rt, integration_id)
    assert row.outcomes == {"matched": 3, "forged": 4}
    assert (row.records_scanned, row.events_imported, len(row.rejected_samples)) == (7, 3, 4)
    assert row.rejected_samples[0]["provider_record_id"] == "forged-now"  # newest first
