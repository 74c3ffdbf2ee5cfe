"""Schemathesis against the app's own /openapi.json: no generated input may cause a 500.

Runs in-process (ASGI), authenticated with an admin key, on SQLite and PostgreSQL, with valid
and invalid inputs and a few examples per operation. The database is seeded first with real
things to hit (two projects, a Datadog integration saved through the integration service against
the local Datadog contract fake, a spare one to delete, a session with backend events, a session
with a recorded replay segment, a user, API keys), and nine in ten generated cases take their path
parameters from those real ids (see ``COHERENT``), so the sub-routes are exercised past their 404.

Operations that would call a real provider on the internet (the settings checks, PUT/PATCH of an
integration with generated settings, the CloudWatch log-group picker) are left out; the
integrations tests cover their validation. Every error answered must be the documented envelope.
"""

from __future__ import annotations

import contextlib
import os
from dataclasses import dataclass, field
from typing import Any

import pytest
import schemathesis
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.errors import Unsatisfiable

from replaylink.runtime import Runtime
from tests.backend_events import add_event, add_session
from tests.conftest import Seeded
from tests.peers import datadog_fake
from tests.replay_support import make_batch, post, start

EXAMPLES = int(os.environ.get("REPLAYLINK_FUZZ_EXAMPLES", "8"))
MINE = r"/projects/\{project_id\}/(sessions|backend-errors)|/diagnostics$"
COHERENT, MIXED = 8, 1
"""Out of ten generated cases: how many take all their path parameters from the first seeded ids
(which belong together), how many mix seeded ids; the rest keep what was generated."""


@dataclass
class RealIds:
    """Path parameter values that name something that exists, by parameter name."""

    values: dict[str, list[Any]] = field(default_factory=dict)
    deletable: dict[str, list[Any]] = field(default_factory=dict)
    """What DELETE may take instead (never the admin key the run signs in with)."""

    def for_method(self, method: str) -> dict[str, list[Any]]:
        return {**self.values, **self.deletable} if method.upper() == "DELETE" else self.values


def seed(client: TestClient, rt: Runtime, seeded: Seeded, datadog_url: str) -> RealIds:
    auth = seeded.auth()
    settings_body = {
        "settings": {
            "api_key": datadog_fake.API_KEY,
            "application_key": datadog_fake.APPLICATION_KEY,
            "base_url": datadog_url,
        }
    }
    for name in ("main", "spare"):
        url = f"/api/v1/projects/{seeded.project_id}/integrations/datadog/{name}"
        saved = client.put(url, json=settings_body, headers=auth)  # checked against the fake
        assert saved.status_code in (200, 201), saved.text
    with_events = add_session(rt, seeded.project_id)
    event = add_event(rt, with_events)
    add_event(rt, with_events, title="KeyError: 'cart'", exception_type="KeyError")
    recorded_id, token = start(client, seeded.project_key)
    assert post(client, token, make_batch(0)).status_code == 204
    users = {}  # keeper: an admin besides the fuzzed ones, so "the last admin stays" never answers
    for email, admin in (
        ("keeper@example.com", True),
        ("fuzz@example.com", False),
        ("gone@example.com", False),
    ):
        body = {"email": email, "password": "s3cret-pass!", "is_admin": admin}
        created = client.post("/api/v1/users", json=body, headers=auth)
        assert created.status_code in (200, 201), created.text
        users[email] = created.json()["id"]
    keys = client.get("/api/v1/api-keys", headers=auth).json()
    return RealIds(
        values={  # the first of each list belong together (the recorded session, its tab and seq...)
            "project_id": [seeded.project_id, seeded.other_project_id],
            "provider": ["datadog"],
            "name": ["main"],
            "session_id": [recorded_id, with_events.id],
            "tab": ["tab-1"],
            "seq": [0],
            "fingerprint": [event.fingerprint],
            "user_id": [users["fuzz@example.com"]],
        },
        deletable={
            "name": ["spare"],
            "user_id": [users["gone@example.com"]],
            "key_id": [k["id"] for k in keys if k["prefix"] != seeded.admin_key[:12]],
        },
    )


@pytest.fixture
def real_ids(
    client: TestClient, rt: Runtime, seeded: Seeded, datadog: datadog_fake.RunningDatadog
) -> RealIds:
    return seed(client, rt, seeded, datadog.url)


def api_schema(client: TestClient) -> schemathesis.BaseSchema:
    schema = schemathesis.openapi.from_asgi("/openapi.json", client.app)
    return (
        schema.exclude(method=["PUT", "PATCH"], path_regex=r"/integrations/\{provider\}/\{name\}$")
        .exclude(path_regex=r"/check$")
        .exclude(path_regex=r"/log-groups$")
    )


def with_real_ids(
    strategy: st.SearchStrategy[schemathesis.Case], real: dict[str, list[Any]]
) -> st.SearchStrategy[schemathesis.Case]:
    """Cases whose path parameters mostly name seeded things (the rest stay as generated)."""

    @st.composite
    def cases(draw: st.DrawFn) -> schemathesis.Case:
        case = draw(strategy)
        if not case.path_parameters:
            return case
        share = draw(st.integers(0, 9))
        if share >= COHERENT + MIXED:
            return case
        for name in case.path_parameters:
            if name in real:
                pick = real[name][0] if share < COHERENT else draw(st.sampled_from(real[name]))
                case.path_parameters[name] = pick
        return case

    return cases()


def envelope_problem(response: Any) -> str | None:
    """Why an error answer is not ``{"error": {"code", "message", "details"?: [...]}}``, if it is not."""
    if response.status_code < 400 or response.status_code in (304,):
        return None
    try:
        error = response.json()["error"]
    except (ValueError, KeyError, TypeError):
        return "not the JSON error envelope"
    if not isinstance(error.get("code"), str) or not isinstance(error.get("message"), str):
        return "no code or message"
    details = error.get("details", [])
    if not isinstance(details, list) or not all(isinstance(d, dict) and "message" in d for d in details):
        return "details is not a list of {message, ...}"
    return None


@dataclass
class Outcome:
    failures: list[str] = field(default_factory=list)
    statuses: dict[str, set[int]] = field(default_factory=dict)


def fuzz(
    operation: schemathesis.APIOperation,
    mode: schemathesis.GenerationMode,
    auth: dict[str, str],
    real: RealIds,
    outcome: Outcome,
) -> None:
    """Run ``operation``; record requests that answered 5xx or broke the envelope, and every status."""
    label = f"{operation.method.upper()} {operation.path}"
    statuses = outcome.statuses.setdefault(label, set())
    strategy = with_real_ids(operation.as_strategy(generation_mode=mode), real.for_method(operation.method))

    @given(case=strategy)
    @settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=list(HealthCheck), database=None)
    def run(case: schemathesis.Case) -> None:
        where = f"{case.method} {case.formatted_path} {case.query}"
        try:
            response = case.call(headers=auth)
        except Exception as exc:  # the test client re-raises what the app did not handle
            outcome.failures.append(f"{where}: {type(exc).__name__}: {str(exc)[:200]}")
            return
        statuses.add(response.status_code)
        if response.status_code >= 500:
            outcome.failures.append(f"{where}: {response.status_code} {response.text[:300]}")
        elif problem := envelope_problem(response):
            outcome.failures.append(f"{where}: {response.status_code} {problem}: {response.text[:200]}")

    with contextlib.suppress(Unsatisfiable):  # nothing invalid to generate (no parameters)
        run()


def run_all(
    client: TestClient, seeded: Seeded, real: RealIds, mode: schemathesis.GenerationMode, paths: str
) -> Outcome:
    operations = [
        result.ok()  # type: ignore[union-attr]
        for result in api_schema(client).include(path_regex=paths).get_all_operations()
    ]
    assert operations
    # DELETEs last, so the other operations still find what they delete.
    operations.sort(key=lambda op: op.method.upper() == "DELETE")
    outcome = Outcome()
    for op in operations:
        fuzz(op, mode, seeded.auth(), real, outcome)
    return outcome


def failures_of(
    client: TestClient, seeded: Seeded, real: RealIds, mode: schemathesis.GenerationMode, paths: str
) -> list[str]:
    return run_all(client, seeded, real, mode, paths).failures


MODES = [schemathesis.GenerationMode.POSITIVE, schemathesis.GenerationMode.NEGATIVE]


@pytest.mark.parametrize("mode", MODES)
def test_sessions_api_never_answers_500(
    client: TestClient, seeded: Seeded, real_ids: RealIds, mode: schemathesis.GenerationMode
) -> None:
    """Sessions, backend errors and diagnostics: the endpoints of the Sessions API."""
    assert failures_of(client, seeded, real_ids, mode, MINE) == []


@pytest.mark.parametrize("mode", MODES)
def test_whole_api_never_answers_500(
    client: TestClient, seeded: Seeded, real_ids: RealIds, mode: schemathesis.GenerationMode
) -> None:
    failures = failures_of(client, seeded, real_ids, mode, r".")
    assert failures == []


def test_sub_routes_are_reached_with_real_ids(client: TestClient, seeded: Seeded, real_ids: RealIds) -> None:
    """The seeded ids take valid cases past the 404 of every integration and session sub-route."""
    outcome = run_all(client, seeded, real_ids, schemathesis.GenerationMode.POSITIVE, r"\{")
    assert outcome.failures == []
    unreached = sorted(
        label
        for label, statuses in outcome.statuses.items()
        if not any(200 <= s < 300 for s in statuses) and not label.startswith("POST /api/v1/integrations/")
    )
    assert unreached == []
