"""Schemathesis against the app's own /openapi.json: no generated input may cause a 500.

Runs in-process (ASGI), authenticated with an admin key, on SQLite and PostgreSQL, with valid
and invalid inputs and a few examples per operation, so the file stays well under a minute.
Operations that would call a real provider on the internet (the settings checks and the
CloudWatch log-group picker) are left out; the integrations tests cover their validation.
"""

from __future__ import annotations

import contextlib
import os

import pytest
import schemathesis
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, settings
from hypothesis.errors import Unsatisfiable

from replaylink.runtime import Runtime
from tests.backend_events import add_event, add_session
from tests.conftest import Seeded

EXAMPLES = int(os.environ.get("REPLAYLINK_FUZZ_EXAMPLES", "8"))
MINE = r"/projects/\{project_id\}/(sessions|backend-errors)|/diagnostics$"


def api_schema(client: TestClient) -> schemathesis.BaseSchema:
    schema = schemathesis.openapi.from_asgi("/openapi.json", client.app)
    return (
        schema.exclude(method=["PUT", "PATCH"], path_regex=r"/integrations/\{provider\}/\{name\}$")
        .exclude(path_regex=r"/check$")
        .exclude(path_regex=r"/log-groups$")
    )


def fuzz(
    operation: schemathesis.APIOperation, mode: schemathesis.GenerationMode, auth: dict[str, str]
) -> list[str]:
    """Requests of ``operation`` that answered 5xx."""
    failures: list[str] = []

    @given(case=operation.as_strategy(generation_mode=mode))
    @settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=list(HealthCheck), database=None)
    def run(case: schemathesis.Case) -> None:
        where = f"{case.method} {case.formatted_path} {case.query}"
        try:
            response = case.call(headers=auth)
        except Exception as exc:  # the test client re-raises what the app did not handle
            failures.append(f"{where}: {type(exc).__name__}: {str(exc)[:200]}")
            return
        if response.status_code >= 500:
            failures.append(f"{where}: {response.status_code} {response.text[:300]}")

    with contextlib.suppress(Unsatisfiable):  # nothing invalid to generate (no parameters)
        run()
    return failures


def failures_of(
    client: TestClient, seeded: Seeded, mode: schemathesis.GenerationMode, paths: str
) -> list[str]:
    operations = [
        result.ok()  # type: ignore[union-attr]
        for result in api_schema(client).include(path_regex=paths).get_all_operations()
    ]
    assert operations
    return [failure for op in operations for failure in fuzz(op, mode, seeded.auth())]


MODES = [schemathesis.GenerationMode.POSITIVE, schemathesis.GenerationMode.NEGATIVE]


@pytest.mark.parametrize("mode", MODES)
def test_sessions_api_never_answers_500(
    client: TestClient, rt: Runtime, seeded: Seeded, mode: schemathesis.GenerationMode
) -> None:
    """Sessions, backend errors and diagnostics: the endpoints of the Sessions API."""
    add_event(rt, add_session(rt, seeded.project_id))
    assert failures_of(client, seeded, mode, MINE) == []


@pytest.mark.parametrize("mode", MODES)
def test_whole_api_never_answers_500(
    client: TestClient, seeded: Seeded, mode: schemathesis.GenerationMode
) -> None:
    failures = failures_of(client, seeded, mode, r".")
    assert failures == []
