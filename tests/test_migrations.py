"""Every migration runs up and down on SQLite and PostgreSQL, and matches the models."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import Engine, func, inspect, select

from replaylink.store import accounts, migrate
from replaylink.store.db import make_engine, make_sessionmaker, transaction
from replaylink.store.models import BackendEvent, Base
from replaylink.store.text_search import FTS_TABLE, PG_TEXT_INDEX, TextSearch, search_words
from replaylink.store.unmodelled import in_models


def test_upgrade_downgrade_upgrade(db_url: str) -> None:
    engine = make_engine(db_url)
    try:
        assert migrate.is_current(engine)
        migrate.downgrade(engine, "base")
        assert migrate.current_revision(engine) is None
        assert "sessions" not in inspect(engine).get_table_names()
        migrate.upgrade(engine)
        assert migrate.is_current(engine)
        assert set(Base.metadata.tables) <= set(inspect(engine).get_table_names())
    finally:
        engine.dispose()


def test_models_match_migrations(db_url: str) -> None:
    engine = make_engine(db_url)
    try:
        with engine.connect() as conn:
            # What the migrations keep outside the models (text search, PostgreSQL's bucket index).
            context = MigrationContext.configure(conn, opts={"include_object": in_models})
            diff = compare_metadata(context, Base.metadata)
        assert diff == []
    finally:
        engine.dispose()


def _text_search_objects(engine: Engine) -> list[str]:
    """The 0005 objects present: the FTS5 table, its view and triggers (SQLite), the GIN index."""
    with engine.connect() as conn:
        if engine.dialect.name == "sqlite":
            query = "SELECT name FROM sqlite_master WHERE name LIKE 'backend_events_fts%' ORDER BY name"
        else:
            query = (
                "SELECT indexname FROM pg_indexes"
                f" WHERE schemaname = current_schema() AND indexname = '{PG_TEXT_INDEX}'"
            )
        return list(conn.exec_driver_sql(query).scalars())


def test_text_search_migration_indexes_stored_events_and_downgrades(db_url: str) -> None:
    engine = make_engine(db_url)
    try:
        migrate.downgrade(engine, "0004")
        assert _text_search_objects(engine) == []
        with transaction(make_sessionmaker(engine)) as db:  # an event stored before 0005
            project = accounts.create_project(db, "p")
            moment = datetime(2026, 3, 2, tzinfo=UTC)
            db.add(
                BackendEvent(
                    project_id=project.id,
                    session_id=1,
                    provider="datadog",
                    provider_record_id="r1",
                    timestamp=moment,
                    level="error",
                    title="Stored before",
                    message="the text index existed",
                    fingerprint="f",
                    imported_at=moment,
                )
            )
        migrate.upgrade(engine)
        assert len(_text_search_objects(engine)) == (9 if engine.dialect.name == "sqlite" else 1)
        with engine.connect() as conn:
            match = TextSearch(engine.dialect.name, search_words("before existed")).condition()
            assert conn.scalar(select(func.count()).select_from(BackendEvent).where(match)) == 1
    finally:
        engine.dispose()


def test_text_search_uses_its_index(db_url: str) -> None:
    """The query repeats the indexed expression exactly (PostgreSQL), or reads the FTS5 table."""
    engine = make_engine(db_url)
    try:
        search = TextSearch(engine.dialect.name, search_words("100% payment-declined"))  # FTS5 lookup
        query = select(BackendEvent.id).where(search.condition())
        compiled = query.compile(engine)  # with its bound parameters, as the app runs it
        params = compiled.positiontup and [compiled.params[name] for name in compiled.positiontup]
        with engine.connect() as conn:
            if engine.dialect.name == "sqlite":
                plan = str(conn.exec_driver_sql(f"EXPLAIN QUERY PLAN {compiled}", tuple(params or ())).all())
                assert f"{FTS_TABLE} VIRTUAL TABLE" in plan
            else:
                conn.exec_driver_sql("SET enable_seqscan = off")
                plan = str(conn.exec_driver_sql(f"EXPLAIN {compiled}", compiled.params).all())
                assert PG_TEXT_INDEX in plan
    finally:
        engine.dispose()


@pytest.mark.parametrize("db_url", [pytest.param("postgres", marks=pytest.mark.postgres)], indirect=True)
def test_counters_updated_by_every_import_leave_room_for_in_place_updates(db_url: str) -> None:
    """0012: the per-session counters are created with room on their pages (fillfactor 50), and
    lose it again on downgrade."""
    engine = make_engine(db_url)
    query = (
        "SELECT relname, reloptions FROM pg_class WHERE relnamespace = current_schema()::regnamespace"
        " AND relname IN ('session_event_counts', 'error_group_sessions') ORDER BY relname"
    )
    try:
        with engine.connect() as conn:
            assert [tuple(r) for r in conn.exec_driver_sql(query)] == [
                ("error_group_sessions", ["fillfactor=50"]),
                ("session_event_counts", ["fillfactor=50"]),
            ]
        migrate.downgrade(engine, "0011")
        with engine.connect() as conn:
            assert [r.reloptions for r in conn.exec_driver_sql(query)] == [None, None]
        migrate.upgrade(engine)
    finally:
        engine.dispose()
