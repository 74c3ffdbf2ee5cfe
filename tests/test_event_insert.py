"""The importer's batch insert (``store.events.insert_events``) on SQLite and PostgreSQL: large
batches cut into statements, duplicates skipped and counted, every column stored as given, and the
text-search index kept in step."""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any

from sqlalchemy import func, select

from replaylink.runtime import Runtime
from replaylink.store import events
from replaylink.store import integrations as integrations_store
from replaylink.store.db import transaction
from replaylink.store.models import BackendEvent
from replaylink.store.text_search import FTS_TABLE, TextSearch, search_words
from tests.backend_events import T0, add_session
from tests.conftest import Seeded


def _integration(rt: Runtime, project_id: int) -> int:
    with transaction(rt.sessions) as db:
        row = integrations_store.create(
            db,
            project_id=project_id,
            provider="datadog",
            name="main",
            settings={"site": "datadoghq.com"},
            secrets=None,
            poll_interval=15,
            lookback=timedelta(hours=1),
        )
        return row.id


def _row(project_id: int, session_id: int, n: int, **extra: Any) -> events.EventRow:
    row: dict[str, Any] = {
        "project_id": project_id,
        "session_id": session_id,
        "integration_id": None,
        "provider": "datadog",
        "provider_record_id": f"rec-{n}",
        "timestamp": T0 + timedelta(seconds=n),
        "level": "error",
        "title": f"Failure number{n}",
        "message": f"failure number{n} happened",
        "exception_type": None,
        "service": None,
        "host": None,
        "logger": None,
        "stack": None,
        "link": None,
        "attributes": None,
        "fingerprint": "f",
        "imported_at": T0,
        **extra,
    }
    return events.EventRow(**row)  # type: ignore[typeddict-item]


def _count(rt: Runtime, words: str | None = None) -> int:
    with transaction(rt.sessions) as db:
        query = select(func.count()).select_from(BackendEvent)
        if words is not None:
            query = query.where(TextSearch(rt.engine.dialect.name, search_words(words)).condition())
        return int(db.scalar(query) or 0)


def test_a_large_batch_is_stored_whole_and_repeats_are_skipped(rt: Runtime, seeded: Seeded) -> None:
    session = add_session(rt, seeded.project_id)
    source = _integration(rt, seeded.project_id)  # the unique key holds the integration
    first = [
        _row(seeded.project_id, session.id, n, integration_id=source) for n in range(1300)
    ]  # 512+512+256+16+4
    with transaction(rt.sessions) as db:
        assert events.insert_events(db, first) == 1300
    again = [
        _row(seeded.project_id, session.id, n, integration_id=source) for n in range(1200, 1333)
    ]  # 100 stored, 33 new
    with transaction(rt.sessions) as db:
        assert events.insert_events(db, again) == 33
    assert _count(rt) == 1333
    for n in (0, 511, 512, 1023, 1279, 1295, 1299, 1332):  # both sides of each statement's edge
        assert _count(rt, f"number{n}") == 1
    if rt.engine.dialect.name == "sqlite":
        with rt.engine.begin() as conn:  # raises if the FTS5 index and its content disagree
            conn.exec_driver_sql(f"INSERT INTO {FTS_TABLE}({FTS_TABLE}, rank) VALUES ('integrity-check', 1)")


def test_every_row_keeps_its_own_values(rt: Runtime, seeded: Seeded) -> None:
    """Rows sharing one object (a record naming two sessions) or holding equal values each
    store exactly what they were given, JSON null included."""
    one, two = add_session(rt, seeded.project_id), add_session(rt, seeded.project_id, T0 + timedelta(hours=1))
    shared = {"http": {"status_code": 500}, "openReplaySessionToken": "t"}
    stack = [{"filename": "app.py", "function": "f", "lineno": 3, "in_app": True}]
    later = T0 + timedelta(minutes=5)
    rows = [
        _row(seeded.project_id, one.id, 1, attributes=shared, stack=stack),
        _row(seeded.project_id, two.id, 1, attributes=shared, stack=stack),
        _row(seeded.project_id, one.id, 2, attributes={"http": {"status_code": 502}}, imported_at=later),
        _row(seeded.project_id, one.id, 3, attributes=None, service="checkout", host="web-1"),
    ]
    with transaction(rt.sessions) as db:
        assert events.insert_events(db, rows) == 4
    with transaction(rt.sessions) as db:
        stored = db.execute(
            select(
                BackendEvent.session_id,
                BackendEvent.provider_record_id,
                BackendEvent.attributes,
                BackendEvent.stack,
                BackendEvent.imported_at,
                BackendEvent.timestamp,
                BackendEvent.service,
                BackendEvent.host,
            ).order_by(BackendEvent.provider_record_id, BackendEvent.session_id)
        ).all()
    assert sorted(stored) == sorted(
        [
            (one.id, "rec-1", shared, stack, T0, T0 + timedelta(seconds=1), None, None),
            (two.id, "rec-1", shared, stack, T0, T0 + timedelta(seconds=1), None, None),
            (
                one.id,
                "rec-2",
                {"http": {"status_code": 502}},
                None,
                later,
                T0 + timedelta(seconds=2),
                None,
                None,
            ),
            (one.id, "rec-3", None, None, T0, T0 + timedelta(seconds=3), "checkout", "web-1"),
        ]
    )


def test_json_text_is_compact_json_and_keeps_what_msgspec_refuses() -> None:
    assert events.json_text(None) == "null"
    assert events.json_text({"a": [1, "é"]}) == '{"a":[1,"é"]}'
    assert json.loads(events.json_text({"lone": "\ud800"})) == {
        "lone": "\ud800"
    }  # provider JSON can hold one
