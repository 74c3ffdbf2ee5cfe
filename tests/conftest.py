"""Shared fixtures: a migrated database on SQLite and on PostgreSQL, a runtime, an API client.

Tests that take ``db_url`` (directly or through ``rt``/``client``) run once per backend.
With ``CI=true`` an unreachable PostgreSQL fails those tests instead of skipping them.
"""

from __future__ import annotations

import os
import shutil
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import create_engine, text
from sqlalchemy.exc import OperationalError

from replaylink.api.app import create_app
from replaylink.config import Settings
from replaylink.runtime import Runtime
from replaylink.store import accounts, migrate, text_search
from replaylink.store.db import make_engine, transaction
from replaylink.store.models import Base
from tests.importer_support import Clock
from tests.peers import datadog_fake

PG_ADMIN_URL = os.environ.get("REPLAYLINK_TEST_PG_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test")
IN_CI = os.environ.get("CI", "").lower() == "true"
TEST_SECRET = "test-secret-key-0123456789abcdef"
TEST_ENCRYPTION = "test-encryption-key-0123456789abcdef"


def _pg_reachable() -> str | None:
    try:
        engine = create_engine(PG_ADMIN_URL, connect_args={"connect_timeout": 3})
        with engine.connect() as conn:
            conn.execute(text("SELECT 1"))
        engine.dispose()
    except OperationalError as exc:
        return str(exc).splitlines()[0]
    return None


@pytest.fixture(scope="session")
def pg_schema_url() -> Iterator[str]:
    """A private schema in the ``test`` database, migrated once per test session (per xdist worker)."""
    problem = _pg_reachable()
    if problem is not None:
        if IN_CI:
            pytest.fail(f"PostgreSQL at {PG_ADMIN_URL} is unreachable in CI: {problem}")
        pytest.skip(f"PostgreSQL unreachable: {problem}")
    schema = f"rl_{os.environ.get('PYTEST_XDIST_WORKER', 'main')}_{uuid.uuid4().hex[:8]}"
    admin = create_engine(PG_ADMIN_URL)
    with admin.begin() as conn:
        conn.execute(text(f'CREATE SCHEMA "{schema}"'))
    url = f"{PG_ADMIN_URL}?options=-csearch_path%3D{schema}"
    engine = make_engine(url)
    migrate.upgrade(engine)
    engine.dispose()
    yield url
    with admin.begin() as conn:
        conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
    admin.dispose()


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A migrated SQLite file, copied for each test (migrating per test is slower)."""
    path = tmp_path_factory.mktemp("template") / "replaylink.db"
    engine = make_engine(f"sqlite:///{path}")
    migrate.upgrade(engine)
    with engine.connect() as conn:
        conn.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)")
    engine.dispose()
    return path


def _truncate_all(url: str) -> None:
    engine = make_engine(url)
    names = ", ".join(f'"{t.name}"' for t in Base.metadata.sorted_tables)
    with engine.begin() as conn:
        conn.execute(text(f"TRUNCATE {names} RESTART IDENTITY CASCADE"))
    engine.dispose()


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A migrated, empty database: once on SQLite, once on PostgreSQL."""
    if request.param == "sqlite":
        target = tmp_path / "replaylink.db"
        shutil.copy(request.getfixturevalue("sqlite_template"), target)
        return f"sqlite:///{target}"
    url: str = request.getfixturevalue("pg_schema_url")
    _truncate_all(url)
    return url


def make_settings(data_dir: Path, database_url: str, **overrides: Any) -> Settings:
    values: dict[str, Any] = {
        "data_dir": data_dir,
        "database_url": database_url,
        "secret_key": TEST_SECRET,
        "encryption_key": TEST_ENCRYPTION,
    }
    values.update(overrides)
    return Settings(**values)


@pytest.fixture
def settings(db_url: str, tmp_path: Path) -> Settings:
    return make_settings(tmp_path / "data", db_url)


@pytest.fixture
def rt(settings: Settings) -> Iterator[Runtime]:
    runtime = Runtime(settings)
    yield runtime
    runtime.close()


@pytest.fixture(autouse=True)
def fresh_word_samples(monkeypatch: pytest.MonkeyPatch) -> None:
    """Each test's text searches sample its own events: word samples are cached per database URL
    (``text_search.word_sample``), and the PostgreSQL tests share one URL (a schema emptied
    between tests). Error groups pick their sample's frame from them."""
    monkeypatch.setattr(text_search, "_samples", {})


@pytest.fixture
def clock() -> Clock:
    """A clock the test moves by hand (pass it to the importer as its ``now``)."""
    return Clock()


@pytest.fixture
def datadog() -> Iterator[datadog_fake.RunningDatadog]:
    """The Datadog contract fake, running on a free port."""
    with datadog_fake.running() as fake:
        yield fake


@pytest.fixture
def client(rt: Runtime) -> Iterator[TestClient]:
    with TestClient(create_app(rt)) as test_client:
        yield test_client


class Seeded:
    """A project with its key, an admin API key and a key scoped to the project."""

    def __init__(self, rt: Runtime) -> None:
        with transaction(rt.sessions) as db:
            project = accounts.create_project(db, "Shop")
            other = accounts.create_project(db, "Other")
            self.project_id = project.id
            self.project_key = project.public_key
            self.other_project_id = other.id
            self.other_project_key = other.public_key
            self.admin_key = accounts.create_api_key(db, None).key
            self.project_api_key = accounts.create_api_key(db, project.id).key
            self.other_api_key = accounts.create_api_key(db, other.id).key

    def auth(self, key: str | None = None) -> dict[str, str]:
        return {"Authorization": f"Bearer {key or self.admin_key}"}


@pytest.fixture
def seeded(rt: Runtime) -> Seeded:
    return Seeded(rt)


@pytest.fixture(params=["few", "many", "candidates", "walk", "filtered"])
def text_plan(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    """Each plan of a text search (``store.text_search``), whatever its estimates would pick: every
    word looked up and the few matches' ids; more than ``FEW_MATCHES`` found (here any): a walk
    along sessions or groups checking each event; the first word looked up, the others checked on
    its events; a walk without any lookup; a walk testing the first word through its list from
    the index and checking the others.
    """
    if request.param == "many":
        monkeypatch.setattr(text_search, "FEW_MATCHES", 0)
    plan = request.param

    def lookup_words(_dialect: str, estimates: dict[str, float], *_: object) -> list[str] | None:
        return None if plan == "walk" else list(estimates)[:1] if plan == "candidates" else list(estimates)

    def filter_words(_dialect: str, estimates: dict[str, float], *_: object) -> list[str]:
        return list(estimates)[:1] if plan == "filtered" else []

    monkeypatch.setattr(text_search, "lookup_words", lookup_words)
    monkeypatch.setattr(text_search, "filter_words", filter_words)
    return str(request.param)
