"""A request's transaction commits before its answer is sent: a success is never answered for a
write that then fails to commit, and a client's next request always sees what it just wrote.

PostgreSQL only: a deferred constraint trigger makes the commit itself fail, which SQLite cannot do.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select, text

from replaylink.api.app import create_app
from replaylink.runtime import Runtime
from replaylink.store.db import transaction
from replaylink.store.models import Project
from tests.conftest import Seeded, _truncate_all, make_settings

pytestmark = pytest.mark.postgres

REFUSE_AT_COMMIT = [
    "CREATE FUNCTION rl_test_refuse_at_commit() RETURNS trigger LANGUAGE plpgsql AS "
    "$$ BEGIN RAISE EXCEPTION 'refused at commit'; END $$",
    "CREATE CONSTRAINT TRIGGER rl_test_refuse_at_commit AFTER INSERT ON projects "
    "DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION rl_test_refuse_at_commit()",
]
UNDO = [
    "DROP TRIGGER IF EXISTS rl_test_refuse_at_commit ON projects",
    "DROP FUNCTION IF EXISTS rl_test_refuse_at_commit()",
]


@pytest.fixture
def pg_runtime(pg_schema_url: str, tmp_path: Path) -> Iterator[Runtime]:
    _truncate_all(pg_schema_url)
    runtime = Runtime(make_settings(tmp_path / "data", pg_schema_url))
    try:
        yield runtime
    finally:
        runtime.close()


@pytest.fixture
def seeded(pg_runtime: Runtime) -> Seeded:
    return Seeded(pg_runtime)


@pytest.fixture
def commit_refused(pg_runtime: Runtime, seeded: Seeded) -> Iterator[None]:
    """From now on, new projects pass every statement but fail when their transaction commits."""
    with pg_runtime.engine.begin() as conn:
        for statement in REFUSE_AT_COMMIT:
            conn.execute(text(statement))
    try:
        yield
    finally:
        with pg_runtime.engine.begin() as conn:
            for statement in UNDO:
                conn.execute(text(statement))


def test_a_write_that_fails_to_commit_is_not_answered_as_a_success(
    pg_runtime: Runtime, seeded: Seeded, commit_refused: None
) -> None:
    with TestClient(create_app(pg_runtime), raise_server_exceptions=False) as client:
        answer = client.post(
            "/api/v1/projects",
            json={"name": "Never stored"},
            headers={"Authorization": f"Bearer {seeded.admin_key}"},
        )
    assert answer.status_code == 500, answer.text
    assert answer.json()["error"]["code"] == "internal"
    assert "refused at commit" not in answer.text
    with transaction(pg_runtime.sessions) as db:
        assert db.scalar(select(Project.id).where(Project.name == "Never stored")) is None
