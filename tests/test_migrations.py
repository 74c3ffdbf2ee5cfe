"""Every migration runs up and down on SQLite and PostgreSQL, and matches the models."""

from __future__ import annotations

from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import inspect

from replaylink.store import migrate
from replaylink.store.db import make_engine
from replaylink.store.models import Base


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
            diff = compare_metadata(MigrationContext.configure(conn), Base.metadata)
        assert diff == []
    finally:
        engine.dispose()
