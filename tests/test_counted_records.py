"""``store.counted_records.first_counts`` on SQLite and PostgreSQL: each (record, outcome) pair is
new once, and a record is new (``scanned``) only while none of its outcomes was stored."""

from __future__ import annotations

from datetime import timedelta

from replaylink.runtime import Runtime
from replaylink.store import integrations as integrations_store
from replaylink.store.counted_records import SCANNED, first_counts
from replaylink.store.db import transaction
from replaylink.store.models import CountedRecord
from tests.backend_events import T0
from tests.conftest import Seeded


def _integration(rt: Runtime, project_id: int, name: str = "main") -> int:
    with transaction(rt.sessions) as db:
        row = integrations_store.create(
            db,
            project_id=project_id,
            provider="datadog",
            name=name,
            settings={"site": "datadoghq.com"},
            secrets=None,
            poll_interval=15,
            lookback=timedelta(hours=1),
        )
        return row.id


def _first(rt: Runtime, integration_id: int, *seen: tuple[str, str]) -> set[tuple[str, str]]:
    with transaction(rt.sessions) as db:
        return first_counts(db, integration_id, [(key, outcome, T0) for key, outcome in seen])


def test_each_outcome_and_each_record_is_new_once(rt: Runtime, seeded: Seeded) -> None:
    source = _integration(rt, seeded.project_id)
    assert _first(rt, source, ("r1", "matched"), ("r1", "forged"), ("r2", "no_token")) == {
        ("r1", "matched"),
        ("r1", "forged"),
        ("r1", SCANNED),
        ("r2", "no_token"),
        ("r2", SCANNED),
    }
    # Read again: r1 as before, r2 with another outcome now (a pair new, the record not), r3 new.
    assert _first(rt, source, ("r1", "matched"), ("r2", "unknown_session"), ("r3", "matched")) == {
        ("r2", "unknown_session"),
        ("r3", "matched"),
        ("r3", SCANNED),
    }
    assert _first(rt, source, ("r1", "forged"), ("r2", "no_token"), ("r3", "matched")) == set()
    other = _integration(rt, seeded.project_id, "second")  # counted per integration
    assert _first(rt, other, ("r1", "matched")) == {("r1", "matched"), ("r1", SCANNED)}


def test_a_scanned_row_stored_by_an_earlier_version_keeps_its_record_counted(
    rt: Runtime, seeded: Seeded
) -> None:
    source = _integration(rt, seeded.project_id)
    with transaction(rt.sessions) as db:
        db.add(CountedRecord(integration_id=source, record_key="r1", outcome=SCANNED, record_at=T0))
    assert _first(rt, source, ("r1", "matched"), ("r2", "matched")) == {
        ("r1", "matched"),
        ("r2", "matched"),
        ("r2", SCANNED),
    }
