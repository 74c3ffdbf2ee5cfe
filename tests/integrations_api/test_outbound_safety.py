"""Outbound safety: private networks and names resolving to the metadata service."""

from __future__ import annotations

import socket
from typing import Any

import pytest
from fastapi.testclient import TestClient

from replaylink.runtime import Runtime
from tests.conftest import Seeded
from tests.integrations_api.support import (
    Case,
    World,
    _local,
    assert_nothing_saved,
    each_provider,
    put,
    url,
)

# --------------------------------------------------------------------------- outbound safety


@each_provider
def test_loopback_refused_when_private_networks_are_blocked(
    private_api: TestClient, rt: Runtime, world: World, seeded: Seeded, case: Case
) -> None:
    literal = private_api.put(
        url(seeded, case.provider), json={"settings": case.valid(world.peers)}, headers=seeded.auth()
    )
    assert literal.status_code == 422, literal.text
    error = literal.json()["error"]
    assert error["code"] == "invalid_settings"
    assert error["details"] == [
        {
            "field": case.url_field,
            "message": f"{case.url_field} points at a loopback or private address "
            "(REPLAYLINK_BLOCK_PRIVATE_NETWORKS is on); ReplayLink will not connect there.",
        }
    ]
    # a name passes the save-time check but is refused when the connection is made
    by_name = case.valid(world.peers)
    by_name[case.url_field] = _local(by_name[case.url_field])
    refused = private_api.put(url(seeded, case.provider), json={"settings": by_name}, headers=seeded.auth())
    assert refused.status_code == 422, refused.text
    assert refused.json()["error"]["details"][0]["kind"] == "unreachable"
    assert "will not connect there" in refused.json()["error"]["message"]
    assert_nothing_saved(private_api, rt, seeded, case.provider)

    saved = private_api.put(
        url(seeded, case.provider),
        params={"check": "false"},
        json={"settings": by_name},
        headers=seeded.auth(),
    )
    assert saved.status_code == 201
    recheck = private_api.post(url(seeded, case.provider) + "/check", headers=seeded.auth())
    assert recheck.status_code == 422 and "will not connect there" in recheck.json()["error"]["message"]


@each_provider
def test_a_name_resolving_to_the_metadata_service_is_refused_at_connect_time(
    api: TestClient, world: World, seeded: Seeded, case: Case, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The saved host name passes the save-time check; the check's connection is refused because
    the name now resolves to 169.254.169.254 (the OS resolver is replaced, not ReplayLink code)."""
    real = socket.getaddrinfo

    def resolver(host: Any, port: Any, *args: Any, **kwargs: Any) -> Any:
        if host == "rebind.test":
            return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", ("169.254.169.254", int(port or 80)))]
        return real(host, port, *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", resolver)
    settings = case.valid(world.peers)
    settings[case.url_field] = settings[case.url_field].replace("127.0.0.1", "rebind.test")
    saved = put(api, seeded, case, settings, check="false")
    assert saved.status_code == 201
    checked = api.post(url(seeded, case.provider) + "/check", headers=seeded.auth())
    assert checked.status_code == 422, checked.text
    assert checked.json()["error"]["details"][0]["kind"] == "unreachable"
    assert "link-local or cloud-metadata address" in checked.json()["error"]["message"]
