"""Bad settings, bodies, names and providers: refused field by field, nothing saved."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi.testclient import TestClient

from replaylink.runtime import Runtime
from tests.conftest import Seeded
from tests.integrations_api.support import (
    BY_NAME,
    ROUTES,
    URL_PASSWORD,
    World,
    assert_nothing_saved,
    count_rows,
    history,
    listed,
    put,
    url,
)

# --------------------------------------------------------------------------- bad input


def _dd(**changes: Any) -> dict[str, Any]:
    return {"api_key": "a" * 32, "application_key": "b" * 40} | changes


def _sentry(**changes: Any) -> dict[str, Any]:
    return {"token": "t" * 40, "organization_slug": "acme", "project_slug": "backend"} | changes


def _sumo(**changes: Any) -> dict[str, Any]:
    return {"access_id": "suABC", "access_key": "k" * 32} | changes


def _cw(**changes: Any) -> dict[str, Any]:
    return {
        "aws_access_key_id": "AKIAEXAMPLE",
        "aws_secret_access_key": "s" * 40,
        "region": "us-east-1",
        "log_group_names": ["/app/api"],
    } | changes


def _es(**changes: Any) -> dict[str, Any]:
    return {"host": "https://es.example.com", "api_key_id": "id1", "api_key": "k" * 22} | changes


CREDENTIALS_IN_URL = f"https://user:{URL_PASSWORD}@example.com"
BAD_SETTINGS: dict[str, list[tuple[str, dict[str, Any], set[str]]]] = {
    "missing fields": [
        ("datadog", {"api_key": "a" * 32}, {"application_key"}),
        ("sentry", {}, {"token", "organization_slug", "project_slug"}),
        ("sumologic", {"access_id": "suABC"}, {"access_key"}),
        (
            "cloudwatch",
            {"aws_access_key_id": "AKIAEXAMPLE"},
            {"aws_secret_access_key", "region", "log_group_names"},
        ),
        ("elasticsearch", {"port": 9200}, {"host"}),
        ("elasticsearch", _es(api_key=None), {"api_key"}),
    ],
    "wrong types and unknown fields": [
        ("datadog", _dd(indexes="main"), {"indexes"}),
        ("datadog", _dd(api_key=12345), {"api_key"}),
        ("datadog", _dd(color="blue"), {"color"}),
        ("sentry", _sentry(organization_slug=["acme"]), {"organization_slug"}),
        ("sentry", _sentry(project_slug="not a slug!"), {"project_slug"}),
        ("sumologic", _sumo(access_id={"id": 1}), {"access_id"}),
        ("cloudwatch", _cw(log_group_names=5), {"log_group_names"}),
        ("cloudwatch", _cw(log_group_names=[]), {"log_group_names"}),
        ("elasticsearch", _es(port="nine thousand"), {"port"}),
        ("elasticsearch", _es(port=70000), {"port"}),
        ("elasticsearch", _es(verify_tls="maybe"), {"verify_tls"}),
    ],
    "oversized values": [
        ("datadog", _dd(api_key="a" * 5000), {"api_key"}),
        ("sentry", _sentry(token="t" * 5000), {"token"}),
        ("sumologic", _sumo(error_filter="e" * 5000), {"error_filter"}),
        ("cloudwatch", _cw(aws_secret_access_key="s" * 300), {"aws_secret_access_key"}),
        ("cloudwatch", _cw(log_group_names=[f"/g/{i}" for i in range(51)]), {"log_group_names"}),
        ("elasticsearch", _es(host="h" * 5000), {"host"}),
        ("elasticsearch", _es(error_values=["e"] * 21), {"error_values"}),
    ],
    "not in the list": [
        ("datadog", _dd(site="datadoghq.evil"), {"site"}),
        ("sumologic", _sumo(deployment="mars"), {"deployment"}),
        ("cloudwatch", _cw(region="mars-north-1"), {"region"}),
        ("cloudwatch", _cw(region="US-EAST-1"), {"region"}),
    ],
    "credentials in URLs": [
        ("datadog", _dd(base_url=CREDENTIALS_IN_URL), {"base_url"}),
        ("sentry", _sentry(base_url=CREDENTIALS_IN_URL), {"base_url"}),
        ("sumologic", _sumo(base_url=CREDENTIALS_IN_URL), {"base_url"}),
        ("cloudwatch", _cw(endpoint_url=CREDENTIALS_IN_URL), {"endpoint_url"}),
        ("elasticsearch", _es(host=CREDENTIALS_IN_URL), {"host"}),
        ("elasticsearch", _es(host=f"user:{URL_PASSWORD}@es.example.com:9200"), {"host"}),
        ("elasticsearch", _es(kibana_url=CREDENTIALS_IN_URL), {"kibana_url"}),
    ],
    "other schemes": [
        ("datadog", _dd(base_url="file:///etc/passwd"), {"base_url"}),
        ("sentry", _sentry(base_url="file:///etc/passwd"), {"base_url"}),
        ("sumologic", _sumo(base_url="ftp://api.sumologic.com/api"), {"base_url"}),
        ("cloudwatch", _cw(endpoint_url="file:///etc/passwd"), {"endpoint_url"}),
        ("elasticsearch", _es(host="file:///etc/passwd"), {"host"}),
        ("elasticsearch", _es(host="gopher://es.example.com:9200"), {"host"}),
    ],
    "several fields at once": [
        (
            "sentry",
            _sentry(project_slug="not a slug!", base_url="http://169.254.169.254"),
            {"project_slug", "base_url"},
        ),
        ("elasticsearch", _es(port="x", host="http://169.254.169.254"), {"port", "host"}),
        (
            "cloudwatch",
            _cw(region="mars-1", endpoint_url="http://[fd00:ec2::254]"),
            {"region", "endpoint_url"},
        ),
    ],
    "cloud metadata": [
        ("elasticsearch", _es(host=host), {"host"})
        for host in ("169.254.169.254", "169.254.169.254:9200", "[fd00:ec2::254]:9200", "2852039166:9200")
    ],
}
METADATA_URLS = [
    "http://169.254.169.254",
    "http://169.254.169.254/latest/meta-data/",
    "http://[fd00:ec2::254]",
    "http://[fd00:ec2::254]:80/latest",
    "http://[::ffff:169.254.169.254]",
    "http://2852039166/",
    "http://0251.0376.0251.0376/",
]
for _provider, _build, _field in [
    ("datadog", _dd, "base_url"),
    ("sentry", _sentry, "base_url"),
    ("sumologic", _sumo, "base_url"),
    ("cloudwatch", _cw, "endpoint_url"),
    ("elasticsearch", _es, "host"),
    ("elasticsearch", _es, "kibana_url"),
]:
    BAD_SETTINGS["cloud metadata"] += [(_provider, _build(**{_field: u}), {_field}) for u in METADATA_URLS]


@pytest.mark.parametrize("category", BAD_SETTINGS)
def test_bad_settings_are_refused_field_by_field(
    api: TestClient, rt: Runtime, leaks: set[str], seeded: Seeded, category: str
) -> None:
    leaks.add(URL_PASSWORD)
    for provider, raw, fields in BAD_SETTINGS[category]:
        for check in ("true", "false"):
            response = api.put(
                url(seeded, provider), params={"check": check}, json={"settings": raw}, headers=seeded.auth()
            )
            assert response.status_code == 422, (provider, fields, response.text)
            error = response.json()["error"]
            assert error["code"] == "invalid_settings"
            named = [detail["field"].split(".")[0] for detail in error["details"]]
            assert sorted(named) == sorted(fields), (provider, raw if len(str(raw)) < 500 else fields)
            assert all(detail["message"] for detail in error["details"])
    for provider in {provider for provider, _, _ in BAD_SETTINGS[category]}:
        assert_nothing_saved(api, rt, seeded, provider)


def test_patch_and_check_validate_too(api: TestClient, world: World, seeded: Seeded) -> None:
    case = BY_NAME["sentry"]
    assert put(api, seeded, case, case.valid(world.peers)).status_code == 201
    path = url(seeded, "sentry")
    for bad in ({"base_url": "http://169.254.169.254"}, {"project_slug": "-"}, {"extra": 1}):
        patched = api.patch(path, json={"settings": bad}, headers=seeded.auth())
        assert patched.status_code == 422 and patched.json()["error"]["code"] == "invalid_settings"
        checked = api.post(path + "/check", json={"settings": bad}, headers=seeded.auth())
        assert checked.status_code == 422 and checked.json()["error"]["code"] == "invalid_settings"
    assert [h["action"] for h in history(api, seeded, "sentry")] == ["created"]
    assert listed(api, seeded)[0]["settings"]["base_url"] == world.peers.sentry.url


BAD_BODIES = [
    {},
    {"settings": "api_key=abc"},
    {"settings": [1, 2]},
    {"settings": {f"k{i}": i for i in range(65)}},
    {"settings": _dd(), "poll_interval_seconds": 1},
    {"settings": _dd(), "poll_interval_seconds": 7200},
    {"settings": _dd(), "poll_interval_seconds": "often"},
]


def test_bad_request_bodies(api: TestClient, rt: Runtime, seeded: Seeded) -> None:
    for body in BAD_BODIES:
        response = api.put(
            url(seeded, "datadog"), params={"check": "false"}, json=body, headers=seeded.auth()
        )
        assert response.status_code == 422, response.text
        assert response.json()["error"]["code"] == "invalid_request"
    assert_nothing_saved(api, rt, seeded, "datadog")


def test_oversized_body_is_refused(api: TestClient, rt: Runtime, seeded: Seeded) -> None:
    response = api.put(
        url(seeded, "elasticsearch"),
        params={"check": "false"},
        json={"settings": _es(ca_cert="A" * 70_000)},
        headers=seeded.auth(),
    )
    assert response.status_code == 413
    assert_nothing_saved(api, rt, seeded, "elasticsearch")


def test_bad_integration_names(api: TestClient, rt: Runtime, seeded: Seeded) -> None:
    for name in ("Default", "bad name", "-lead", "_lead", "émoji", "dot.ted", "x" * 65):
        response = api.put(
            url(seeded, "datadog", name),
            params={"check": "false"},
            json={"settings": _dd()},
            headers=seeded.auth(),
        )
        assert response.status_code == 422, response.text
        assert response.json()["error"]["code"] == ("invalid_request" if len(name) > 64 else "invalid_name")
    assert count_rows(rt, "integrations") == 0


def test_unknown_provider_is_404_on_every_route(api: TestClient, seeded: Seeded) -> None:
    for method, suffix in ROUTES:
        body = {"settings": _dd()} if method in ("PUT", "PATCH", "POST") else None
        response = api.request(method, url(seeded, "splunk") + suffix, json=body, headers=seeded.auth())
        assert response.status_code == 404, (method, suffix, response.text)
        assert response.json()["error"]["code"] == "unknown_provider"
        assert "datadog, sentry, sumologic, cloudwatch, elasticsearch" in response.json()["error"]["message"]
