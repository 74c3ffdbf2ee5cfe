"""Retention: old sessions go with their events and cached live logs; recent data stays."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import func, select
from typer.testing import CliRunner

from replaylink import retention
from replaylink.runtime import Runtime
from replaylink.store import live_cache
from replaylink.store.db import transaction
from replaylink.store.models import BackendEvent, OnDemandCache, RecordedSession
from tests.backend_events import add_event, add_integration, add_session
from tests.conftest import TEST_ENCRYPTION, TEST_SECRET, Seeded

NOW = datetime(2026, 6, 1, tzinfo=UTC)


def count(rt: Runtime, model: type[object]) -> int:
    with transaction(rt.sessions) as db:
        return int(db.scalar(select(func.count()).select_from(model)) or 0)


def cache(rt: Runtime, session: RecordedSession, integration_id: int, expires_at: datetime) -> None:
    with transaction(rt.sessions) as db:
        live_cache.save(
            db,
            session_id=session.id,
            integration_id=integration_id,
            fetched_at=expires_at - timedelta(minutes=10),
            expires_at=expires_at,
            truncated=False,
            records=[],
        )


def test_purge_removes_old_sessions_events_and_caches(rt: Runtime, seeded: Seeded) -> None:
    integration_id = add_integration(rt, seeded.project_id)
    old = add_session(rt, seeded.project_id, NOW - timedelta(days=31))
    old_other = add_session(rt, seeded.other_project_id, NOW - timedelta(days=40))
    recent = add_session(rt, seeded.project_id, NOW - timedelta(days=29))
    for session in (old, old_other, recent):
        add_event(rt, session)
        add_event(rt, session, timedelta(minutes=1))
    add_event(rt, recent, -timedelta(days=2), title="logged long before the session (clock drift)")
    cache(rt, old, integration_id, NOW + timedelta(hours=1))
    cache(rt, recent, integration_id, NOW - timedelta(minutes=1))  # expired

    purged = retention.purge(rt.sessions, 30, now=NOW)

    assert (purged.sessions, purged.events, purged.cache_entries) == (2, 5, 2)
    with transaction(rt.sessions) as db:
        assert list(db.scalars(select(RecordedSession.id))) == [recent.id]
        titles = list(db.scalars(select(BackendEvent.title)))
    assert len(titles) == 2 and "logged long before the session (clock drift)" not in titles
    assert count(rt, OnDemandCache) == 0
    assert retention.purge(rt.sessions, 30, now=NOW) == retention.Purged()  # idempotent


def test_purge_works_in_batches(rt: Runtime, seeded: Seeded, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(retention, "BATCH", 2)
    for i in range(5):
        add_event(rt, add_session(rt, seeded.project_id, NOW - timedelta(days=60, minutes=i)))
    purged = retention.purge(rt.sessions, 30, now=NOW)
    assert (purged.sessions, purged.events) == (5, 5)
    assert count(rt, RecordedSession) == 0


def test_purge_command(rt: Runtime, seeded: Seeded, monkeypatch: pytest.MonkeyPatch) -> None:
    from replaylink.cli import app

    add_session(rt, seeded.project_id, datetime.now(UTC) - timedelta(days=10))
    add_session(rt, seeded.project_id, datetime.now(UTC) - timedelta(days=1))
    for name, value in {
        "REPLAYLINK_DATA_DIR": str(rt.settings.data_dir),
        "REPLAYLINK_DATABASE_URL": str(rt.settings.database_url),
        "REPLAYLINK_SECRET_KEY": TEST_SECRET,
        "REPLAYLINK_ENCRYPTION_KEY": TEST_ENCRYPTION,
        "REPLAYLINK_RETENTION_DAYS": "5",
    }.items():
        monkeypatch.setenv(name, value)
    result = CliRunner().invoke(app, ["purge"])
    assert result.exit_code == 0, result.output
    assert "purged 1 sessions" in result.output and "5 days" in result.output
    result = CliRunner().invoke(app, ["purge", "--days", "0"])
    assert result.exit_code != 0
    assert count(rt, RecordedSession) == 1
