"""Bearer API keys, project scoping, health endpoints."""

from __future__ import annotations

import httpx
import pytest
from fastapi.testclient import TestClient

from replaylink.api.errors import NOT_A_JSON_OBJECT, validation_details
from replaylink.integrations.settings import InvalidSettings, validate
from replaylink.store.accounts import origin_allowed
from tests.conftest import Seeded


def test_api_requires_a_bearer_key(client: TestClient, seeded: Seeded) -> None:
    assert client.get("/api/v1/projects").status_code == 401
    bad = client.get("/api/v1/projects", headers={"Authorization": "Bearer rlk_wrong"})
    assert bad.status_code == 401
    assert bad.json()["error"]["code"] == "unauthorized"


def test_admin_key_sees_every_project(client: TestClient, seeded: Seeded) -> None:
    rows = client.get("/api/v1/projects", headers=seeded.auth()).json()
    assert {r["id"] for r in rows} == {seeded.project_id, seeded.other_project_id}


def test_project_key_sees_only_its_project(client: TestClient, seeded: Seeded) -> None:
    auth = seeded.auth(seeded.project_api_key)
    rows = client.get("/api/v1/projects", headers=auth).json()
    assert [r["id"] for r in rows] == [seeded.project_id]
    assert client.get(f"/api/v1/projects/{seeded.project_id}", headers=auth).status_code == 200
    hidden = client.get(f"/api/v1/projects/{seeded.other_project_id}", headers=auth)
    assert hidden.status_code == 404
    assert client.get("/api/v1/projects/999999", headers=auth).status_code == 404


def test_only_admin_keys_create_projects(client: TestClient, seeded: Seeded) -> None:
    refused = client.post("/api/v1/projects", json={"name": "x"}, headers=seeded.auth(seeded.project_api_key))
    assert refused.status_code == 403
    created = client.post("/api/v1/projects", json={"name": "New"}, headers=seeded.auth())
    assert created.status_code == 201
    assert created.json()["project_key"]


def test_health_and_readiness(client: TestClient) -> None:
    assert client.get("/healthz").json() == {"status": "ok"}
    ready = client.get("/readyz")
    assert ready.status_code == 200
    assert ready.json()["database"] == "ok"


def test_a_form_encoded_body_is_told_to_send_json(client: TestClient, seeded: Seeded) -> None:
    """``curl -d`` sends form-encoded bodies: the answer says how to send JSON instead."""
    answer = client.post(
        "/api/v1/projects",
        content=b'{"name": "shop"}',
        headers={**seeded.auth(), "content-type": "application/x-www-form-urlencoded"},
    )
    assert answer.status_code == 422
    error = answer.json()["error"]
    assert error["code"] == "invalid_request"
    assert error["details"] == [{"field": "body", "message": NOT_A_JSON_OBJECT}]
    assert "application/json" in error["message"]


def test_created_projects_get_their_origins_checked_and_normalised_as_on_patch(
    client: TestClient, seeded: Seeded
) -> None:
    """POST validates allowed origins with PATCH's pattern and stores them as PATCH does."""
    bad = client.post(
        "/api/v1/projects",
        json={"name": "P", "allowed_origins": ["https://p.example.com/", "garbage"]},
        headers=seeded.auth(),
    )
    assert bad.status_code == 422
    assert [d["field"] for d in bad.json()["error"]["details"]] == ["allowed_origins.1"]
    created = client.post(
        "/api/v1/projects",
        json={"name": "P", "allowed_origins": ["https://p.example.com/", "http://127.0.0.1:8080"]},
        headers=seeded.auth(),
    )
    assert created.status_code == 201
    assert created.json()["allowed_origins"] == ["https://p.example.com", "http://127.0.0.1:8080"]
    stored = client.get(f"/api/v1/projects/{created.json()['id']}", headers=seeded.auth()).json()
    assert origin_allowed(stored["allowed_origins"], "https://p.example.com")  # what a browser sends
    any_origin = client.post(
        "/api/v1/projects", json={"name": "Q", "allowed_origins": []}, headers=seeded.auth()
    )
    assert any_origin.json()["allowed_origins"] is None  # [] = any, as on PATCH


def test_origins_are_stored_and_matched_as_browsers_send_them(client: TestClient, seeded: Seeded) -> None:
    """A browser's ``Origin`` is lower case without the default port: ``https://Shop.Example.com``
    or ``https://shop.example.com:443`` was saved as written and then refused every session."""

    def create(*origins: str) -> httpx.Response:
        body = {"name": "P", "allowed_origins": ["https://Shop.Example.com:443/", *origins, "http://h:8080"]}
        return client.post("/api/v1/projects", json=body, headers=seeded.auth())

    assert create("HTTP://127.0.0.1:80").status_code == 422  # the scheme is lower case in an origin
    created = create("http://127.0.0.1:80")
    assert created.status_code == 201, created.text
    stored = created.json()["allowed_origins"]
    assert stored == ["https://shop.example.com", "http://127.0.0.1", "http://h:8080"]
    for browser_sends in ("https://shop.example.com", "http://127.0.0.1", "http://h:8080"):
        assert origin_allowed(stored, browser_sends)
    assert not origin_allowed(stored, "http://h:80") and not origin_allowed(stored, "https://h:8080")
    assert origin_allowed(["https://Shop.Example.com:443"], "https://shop.example.com")  # stored before


def test_validation_messages_are_free_of_pydantic_prefixes(client: TestClient, seeded: Seeded) -> None:
    for path in (
        f"/api/v1/projects/{seeded.project_id}/sessions?provider=bogus",
        f"/api/v1/projects/{seeded.project_id}/sessions/1/backend-logs?provider=bogus",
    ):
        answer = client.get(path, headers=seeded.auth())
        assert answer.status_code == 422, path
        error = answer.json()["error"]
        assert error["details"][0]["message"].startswith("choose one of: "), error
        assert "provider: choose one of: " in error["message"]
        assert "Value error" not in answer.text


def test_assertion_prefixes_are_stripped_too() -> None:
    errors = [
        {"loc": ("query", "x"), "msg": "Assertion failed, x must be even"},
        {"loc": ("query", "y"), "msg": "Value error, y is odd"},
        {"loc": ("query", "z"), "msg": "Input should be a valid integer"},
    ]
    assert [d["message"] for d in validation_details(errors)] == [
        "x must be even",
        "y is odd",
        "Input should be a valid integer",
    ]


def test_integration_settings_messages_have_no_pydantic_prefix() -> None:
    with pytest.raises(InvalidSettings) as caught:
        validate("cloudwatch", {"region": "mars-1", "log_group_names": ["app"]}, block_private=False)
    messages = {problem["field"]: problem["message"] for problem in caught.value.problems}
    assert messages["region"].startswith("is not an AWS region"), messages
    assert "Value error" not in str(caught.value)
