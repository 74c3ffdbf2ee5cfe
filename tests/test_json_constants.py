"""NaN, Infinity and -Infinity are not JSON: every JSON body carrying them gets 400 ``malformed_json``.

Python's json (which FastAPI uses) reads them; PostgreSQL's jsonb refuses NaN, so they used to end
in a 500 there. They are refused once, before any endpoint, for every route that takes JSON.
"""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from replaylink.runtime import Runtime
from tests.conftest import Seeded
from tests.test_ingest import session_count

CONSTANTS = ["NaN", "Infinity", "-Infinity"]


def post_raw(client: TestClient, method: str, url: str, body: str, **headers: str) -> dict[str, object]:
    response = client.request(
        method, url, content=body.encode(), headers={"Content-Type": "application/json", **headers}
    )
    assert response.status_code == 400, response.text
    error: dict[str, object] = response.json()["error"]
    return error


@pytest.mark.parametrize("constant", CONSTANTS)
def test_session_start_with_a_constant_in_metadata_is_refused(
    client: TestClient, seeded: Seeded, rt: Runtime, constant: str
) -> None:
    body = f'{{"projectKey": "{seeded.project_key}", "url": "https://a/", "metadata": {{"m": {constant}}}}}'
    error = post_raw(client, "POST", "/ingest/v1/sessions", body)
    assert error["code"] == "malformed_json"
    assert constant in str(error["message"])
    assert session_count(rt) == 0


def test_every_json_endpoint_refuses_constants(client: TestClient, seeded: Seeded) -> None:
    auth = seeded.auth()
    bodies = [
        ("POST", "/api/v1/projects", '{"name": "X", "allowed_origins": [], "n": NaN}'),
        ("PATCH", f"/api/v1/projects/{seeded.project_id}", '{"name": "Y", "extra": [1, Infinity]}'),
        (
            "PUT",
            f"/api/v1/projects/{seeded.project_id}/integrations/datadog/main?check=false",
            '{"settings": {"api_key": "k", "application_key": "a"}, "poll_interval_seconds": -Infinity}',
        ),
        ("POST", "/api/v1/auth/login", '{"email": "a@b.c", "password": NaN}'),
    ]
    for method, url, body in bodies:
        assert post_raw(client, method, url, body, **auth)["code"] == "malformed_json", url
    # Without a Content-Type FastAPI still parses JSON, and so does the check; +json types too.
    response = client.post("/api/v1/projects", content=b'{"name": NaN}', headers=auth)
    assert response.status_code == 400
    problem_json = {**auth, "Content-Type": "application/problem+json"}
    problem = client.post("/api/v1/projects", content=b'{"name": NaN}', headers=problem_json)
    assert problem.status_code == 400
    assert client.get(f"/api/v1/projects/{seeded.project_id}", headers=auth).json()["name"] == "Shop"


def test_constants_as_text_and_non_json_bodies_are_left_alone(client: TestClient, seeded: Seeded) -> None:
    auth = seeded.auth()
    created = client.post("/api/v1/projects", json={"name": "NaN Infinity"}, headers=auth)
    assert created.status_code in (200, 201), created.text
    json_type = {**auth, "Content-Type": "application/json"}
    broken = client.post("/api/v1/projects", content=b"{not json NaN", headers=json_type)
    assert broken.status_code == 400
    assert broken.json()["error"]["code"] == "malformed_json"
    assert "NaN is not a JSON value" not in broken.json()["error"]["message"]
