"""Concurrent upgrades wait for each other: `replaylink db upgrade` run twice at once on a fresh
database (parallel deploy jobs, `serve` and `worker` starting together) both succeed."""

from __future__ import annotations

import sqlite3
import subprocess
import sys
import threading
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.exc import DBAPIError

from replaylink.config import environment_without_settings
from replaylink.store import migrate
from replaylink.store.db import make_engine
from tests.conftest import PG_ADMIN_URL, TEST_ENCRYPTION, TEST_SECRET

BIN = Path(sys.executable).with_name("replaylink")
ROUNDS = 3


@pytest.fixture
def fresh_pg_schemas(pg_schema_url: str) -> Iterator[list[str]]:
    """The schemas :func:`_new_schema` made for the test, dropped after it.

    Takes ``pg_schema_url`` for its skip (or, in CI, fail) when PostgreSQL is unreachable."""
    admin = create_engine(PG_ADMIN_URL)
    created: list[str] = []
    yield created
    with admin.begin() as conn:
        for schema in created:
            conn.execute(text(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE'))
    admin.dispose()


def _new_schema(created: list[str]) -> str:
    schema = f"rl_lock_{uuid.uuid4().hex[:10]}"
    admin = create_engine(PG_ADMIN_URL)
    with admin.begin() as conn:
        conn.execute(text(f'CREATE SCHEMA "{schema}"'))
    admin.dispose()
    created.append(schema)
    return f"{PG_ADMIN_URL}?options=-csearch_path%3D{schema}"


def _upgrade_twice_at_once(env: dict[str, str]) -> list[subprocess.CompletedProcess[str]]:
    env = {**environment_without_settings(), **env}
    env.update(REPLAYLINK_SECRET_KEY=TEST_SECRET, REPLAYLINK_ENCRYPTION_KEY=TEST_ENCRYPTION, COLUMNS="200")
    procs = [
        subprocess.Popen(
            [str(BIN), "db", "upgrade"], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
        )
        for _ in range(2)
    ]
    done = []
    for proc in procs:
        stdout, stderr = proc.communicate(timeout=120)
        done.append(subprocess.CompletedProcess(proc.args, proc.returncode, stdout, stderr))
    return done


def _assert_both_upgraded(done: list[subprocess.CompletedProcess[str]], url: str) -> None:
    head = migrate.head_revision()
    for result in done:
        assert result.returncode == 0, result.stderr[-3000:]
        assert result.stdout.strip() == f"database at revision {head}"
        assert "Traceback" not in result.stderr
    engine = make_engine(url)
    try:
        assert migrate.is_current(engine)
    finally:
        engine.dispose()


@pytest.mark.postgres
def test_concurrent_upgrades_on_postgresql_wait_for_each_other(fresh_pg_schemas: list[str]) -> None:
    for _ in range(ROUNDS):  # a fresh schema each round: the race is on creating alembic_version
        url = _new_schema(fresh_pg_schemas)
        _assert_both_upgraded(_upgrade_twice_at_once({"REPLAYLINK_DATABASE_URL": url}), url)


def test_concurrent_upgrades_on_sqlite_wait_for_each_other(tmp_path: Path) -> None:
    for round_ in range(ROUNDS):
        data = tmp_path / f"data{round_}"
        done = _upgrade_twice_at_once({"REPLAYLINK_DATA_DIR": str(data)})
        _assert_both_upgraded(done, f"sqlite:///{data / 'replaylink.db'}")


@pytest.mark.postgres
def test_an_upgrade_waits_while_the_migration_lock_is_held(fresh_pg_schemas: list[str]) -> None:
    url = _new_schema(fresh_pg_schemas)
    holder, engine = make_engine(url), make_engine(url)
    finished = threading.Event()

    def upgrade() -> None:
        migrate.upgrade(engine)
        finished.set()

    try:
        with holder.connect() as conn:
            conn.execute(text("SELECT pg_advisory_lock(:k)"), {"k": migrate.MIGRATION_LOCK_KEY})
            conn.commit()
            thread = threading.Thread(target=upgrade)
            thread.start()
            assert not finished.wait(1.5)  # blocked on the lock, nothing migrated
            assert migrate.current_revision(engine) is None
            conn.execute(text("SELECT pg_advisory_unlock(:k)"), {"k": migrate.MIGRATION_LOCK_KEY})
            conn.commit()
        thread.join(timeout=120)
        assert finished.is_set()
        assert migrate.is_current(engine)
    finally:
        holder.dispose()
        engine.dispose()


@pytest.mark.postgres
def test_a_failed_upgrade_releases_the_lock(fresh_pg_schemas: list[str]) -> None:
    url = _new_schema(fresh_pg_schemas)
    engine = make_engine(url, pool_size=1, max_overflow=0)  # the upgrade's connection, pooled again
    try:
        with engine.begin() as conn:  # in the way of the first migration's CREATE TABLE
            conn.execute(text("CREATE TABLE projects (id integer)"))
        with pytest.raises(DBAPIError, match="projects"):
            migrate.upgrade(engine)
        with engine.connect() as conn:
            held = conn.execute(
                text(
                    "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND pid = pg_backend_pid()"
                    " AND ((classid::bigint << 32) | objid::bigint) = :k"
                ),
                {"k": migrate.MIGRATION_LOCK_KEY & (2**64 - 1)},
            ).scalar_one()
            assert held == 0
            conn.execute(text("DROP TABLE projects"))
            conn.commit()
        assert migrate.current_revision(engine) is None  # rolled back as a whole
        migrate.upgrade(engine)
        assert migrate.is_current(engine)
    finally:
        engine.dispose()


def test_a_failed_upgrade_on_sqlite_leaves_the_database_writable(tmp_path: Path) -> None:
    path = tmp_path / "replaylink.db"
    engine = make_engine(f"sqlite:///{path}")
    try:
        with engine.begin() as conn:
            conn.execute(text("CREATE TABLE projects (id integer)"))
        with pytest.raises(DBAPIError, match="projects"):
            migrate.upgrade(engine)
        assert migrate.current_revision(engine) is None  # rolled back as a whole
        other = sqlite3.connect(path, timeout=1)  # fails after 1 s if the write lock were still held
        try:
            other.execute("DROP TABLE projects")
            other.commit()
        finally:
            other.close()
        migrate.upgrade(engine)
        assert migrate.is_current(engine)
    finally:
        engine.dispose()
