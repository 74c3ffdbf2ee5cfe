"""Project keys see only their own project's integrations."""

from __future__ import annotations

from fastapi.testclient import TestClient

from tests.conftest import Seeded
from tests.integrations_api.support import (
    BY_NAME,
    ROUTES,
    World,
    listed,
    url,
    without_lag,
)

# --------------------------------------------------------------------------- isolation


def test_project_keys_see_only_their_project(api: TestClient, world: World, seeded: Seeded) -> None:
    case = BY_NAME["datadog"]
    other = url(seeded, "datadog", project=seeded.other_project_id)
    created = api.put(
        other, params={"check": "false"}, json={"settings": case.valid(world.peers)}, headers=seeded.auth()
    )
    assert created.status_code == 201
    outsider = seeded.auth(seeded.project_api_key)
    assert (
        api.get(f"/api/v1/projects/{seeded.other_project_id}/integrations", headers=outsider).status_code
        == 404
    )
    for method, suffix in ROUTES:
        body = {"settings": case.valid(world.peers)} if method in ("PUT", "PATCH", "POST") else None
        response = api.request(method, other + suffix, json=body, headers=outsider)
        assert response.status_code == 404, (method, suffix, response.text)
        assert response.json()["error"]["code"] == "not_found"
    for name in ("default", "nope"):  # absent integrations answer the same
        assert api.get(url(seeded, "datadog", name), headers=outsider).status_code == 404

    owner = seeded.auth(seeded.other_api_key)
    [row] = listed(api, seeded, seeded.other_project_id)
    assert row["paused"] is False
    assert without_lag(row) == without_lag(api.get(other, headers=owner).json())
    assert [h["action"] for h in api.get(other + "/history", headers=owner).json()] == ["created"]
    assert api.get(f"/api/v1/projects/{seeded.project_id}/integrations", headers=owner).status_code == 404
