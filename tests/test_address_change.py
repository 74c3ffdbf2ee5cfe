"""Stored secrets never follow a changed address (PUT, PATCH and check, with and without ?check=false).

For every provider in the registry, an integration is stored pointing at one capture server;
every way of moving one of its address fields (``"address": true`` in the settings schema) to a
second capture server without entering the secrets again is refused with 422, and neither
server receives any request. Entering every secret again is allowed, and then the new address
sees only the new secrets. Settings are generated from each provider's settings schema.
"""

from __future__ import annotations

import json
import secrets
from typing import Any

import pytest
from fastapi.testclient import TestClient

from replaylink import providers
from replaylink.integrations import settings as rules
from tests.capture_server import Captured, capture_server
from tests.conftest import Seeded

COMPANIONS: dict[str, dict[str, Any]] = {"elasticsearch": {"api_key_id": "reader-key-id"}}
"""Non-secret values a schema cannot tell (the id that goes with an API key)."""


def _takes_url(prop: dict[str, Any]) -> bool:
    """An address field that holds a URL (or a host that may be written as one)."""
    return "enum" not in prop and prop.get("type") != "integer"


def example(provider: str, address: str) -> tuple[dict[str, Any], dict[str, str]]:
    """Valid settings with every URL address at ``address`` and as many secrets as the provider
    accepts at once: (settings, the secrets among them)."""
    cls = providers.get(provider).Settings
    schema = cls.model_json_schema()
    required = set(schema.get("required", []))
    secret_names = cls.secret_field_names()
    values: dict[str, Any] = dict(COMPANIONS.get(provider, {}))
    for name, prop in schema["properties"].items():
        if name in secret_names:
            values[name] = f"stored{name.replace('_', '')}{secrets.token_hex(8)}"
        elif name in cls.address_field_names() and _takes_url(prop):
            values[name] = address
        elif name in required and name not in values:
            kind = prop.get("type")
            values[name] = ["app"] if kind == "array" else prop["enum"][0] if "enum" in prop else "acme"
    optional = [name for name in secret_names if name not in required]
    while True:
        try:
            rules.validate(provider, values, block_private=False)
            break
        except rules.InvalidSettings:
            assert optional, (provider, values)
            values.pop(optional.pop())  # one way to sign in at a time
    return values, {name: values[name] for name in secret_names if name in values}


def moves(provider: str, stored: dict[str, Any], elsewhere: str) -> dict[str, Any]:
    """A different value for every address field: another URL, enum value or port."""
    cls = providers.get(provider).Settings
    props = cls.model_json_schema()["properties"]
    moved: dict[str, Any] = {}
    for name in cls.address_field_names():
        prop = props[name]
        current = stored.get(name, prop.get("default"))
        if _takes_url(prop):
            moved[name] = elsewhere
        elif "enum" in prop:
            moved[name] = next(value for value in prop["enum"] if value != current)
        else:
            moved[name] = int(current) + 1
    return moved


def assert_untouched(*servers: Captured) -> None:
    for server in servers:
        assert server.requests == [], server.requests[:1]


def test_every_provider_flags_an_address() -> None:
    for name in providers.names():
        assert providers.get(name).Settings.address_field_names(), name


@pytest.mark.parametrize("provider", providers.names())
def test_stored_secrets_never_follow_a_changed_address(
    client: TestClient, seeded: Seeded, provider: str
) -> None:
    path = f"/api/v1/projects/{seeded.project_id}/integrations/{provider}/default"
    auth = seeded.auth()
    with capture_server() as home, capture_server() as elsewhere:
        stored, stored_secrets = example(provider, home.url)
        assert stored_secrets, provider
        created = client.put(path, params={"check": "false"}, json={"settings": stored}, headers=auth)
        assert created.status_code == 201, created.text
        view = created.json()["settings"]
        names = sorted(stored_secrets)

        for field, value in moves(provider, stored, elsewhere.url).items():
            move = {field: value}
            attempts = [
                ("PATCH", "", {"settings": move}, {}),
                ("PATCH", "", {"settings": move}, {"check": "false"}),
                ("PATCH", "", {"settings": view | move}, {"check": "false"}),  # masks sent back
                ("PATCH", "", {"settings": move | dict.fromkeys(names)}, {}),  # secrets as null
                ("PUT", "", {"settings": view | move}, {}),
                ("PUT", "", {"settings": view | move}, {"check": "false"}),
                ("POST", "/check", {"settings": move}, {}),
                ("POST", "/check", {"settings": view | move}, {}),
            ]
            for method, suffix, body, params in attempts:
                refused = client.request(method, path + suffix, params=params, json=body, headers=auth)
                assert refused.status_code == 422, (field, method, params, refused.text)
                error = refused.json()["error"]
                assert error["code"] == "secrets_required", (field, method, error)
                assert field in error["message"] and all(name in error["message"] for name in names)
                assert [detail["field"] for detail in error["details"]] == names
            if len(names) > 1:  # entering only some of them names the others
                partial = move | {names[0]: "entered-again-" + secrets.token_hex(8)}
                refused = client.patch(
                    path, params={"check": "false"}, json={"settings": partial}, headers=auth
                )
                assert [detail["field"] for detail in refused.json()["error"]["details"]] == names[1:]
        assert_untouched(home, elsewhere)
        assert client.get(path, headers=auth).json()["settings"] == view

        # Every secret entered again: allowed, and the new address sees only the new secrets.
        url_field = next(name for name, value in stored.items() if value == home.url)
        fresh = {name: f"entered{name.replace('_', '')}{secrets.token_hex(8)}" for name in names}
        moved = {url_field: elsewhere.url} | fresh
        checked = client.post(path + "/check", json={"settings": moved}, headers=auth)
        assert checked.status_code == 422 and checked.json()["error"]["code"] == "check_failed"
        assert elsewhere.requests, "the check did not reach the new address"
        saved = client.patch(path, params={"check": "false"}, json={"settings": moved}, headers=auth)
        assert saved.status_code == 200, saved.text
        assert saved.json()["settings"][url_field] == elsewhere.url
        seen = elsewhere.everything()
        for name, value in stored_secrets.items():
            assert value not in seen, f"stored {name} reached the new address"
        assert any(value in seen for value in fresh.values())
        assert home.requests == []

    history = client.get(path + "/history", headers=auth).json()
    actions = [entry["action"] for entry in history]
    checks = 2 * len(moves(provider, stored, "http://x")) + 1
    assert actions == ["updated", *["checked"] * checks, "created"]
    for entry in history[1:-1]:
        assert set(entry["changes"]) == {"fields"} and entry["actor"].startswith("api-key:")
    recorded = json.dumps(history)
    for value in [*stored_secrets.values(), *fresh.values()]:
        assert value not in recorded
