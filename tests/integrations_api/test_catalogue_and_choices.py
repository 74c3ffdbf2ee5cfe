"""The provider catalogue and field choices (CloudWatch log groups, and its alias)."""

from __future__ import annotations

from fastapi.testclient import TestClient

from replaylink import providers
from tests.conftest import Seeded
from tests.integrations_api.support import (
    BY_NAME,
    CW_SECRET,
    World,
    _dead_url,
    cloudwatch_valid,
)
from tests.peers import cloudwatch_peer as cw_peer

# --------------------------------------------------------------------------- catalogue and picker


FIELDS = {
    "datadog": {"api_key", "application_key", "site", "indexes", "base_url", "error_statuses"},
    "sentry": {"token", "organization_slug", "project_slug", "base_url"},
    "sumologic": {"access_id", "access_key", "deployment", "base_url", "error_filter"},
    "cloudwatch": {
        "aws_access_key_id",
        "aws_secret_access_key",
        "aws_session_token",
        "region",
        "log_group_names",
        "endpoint_url",
        "error_pattern",
    },
    "elasticsearch": {
        "host",
        "port",
        "api_key_id",
        "api_key",
        "indexes",
        "encoded_api_key",
        "username",
        "password",
        "verify_tls",
        "ca_cert",
        "message_field",
        "timestamp_field",
        "error_field",
        "error_values",
        "kibana_url",
    },
}
SECRET_FIELDS = {
    "datadog": ["api_key", "application_key"],
    "sentry": ["token"],
    "sumologic": ["access_key"],
    "cloudwatch": ["aws_secret_access_key", "aws_session_token"],
    "elasticsearch": ["api_key", "encoded_api_key", "password"],
}
SEED_TITLES = {
    "datadog": {"api_key": "API Key", "application_key": "Application Key"},
    "sumologic": {"access_id": "Access ID", "access_key": "Access Key"},
    "cloudwatch": {"aws_access_key_id": "Access key ID", "aws_secret_access_key": "Secret access key"},
    "sentry": {"token": "Token"},
}


def test_provider_catalogue(api: TestClient, seeded: Seeded) -> None:
    assert api.get("/api/v1/integrations/providers").status_code == 401
    response = api.get("/api/v1/integrations/providers", headers=seeded.auth(seeded.project_api_key))
    assert response.status_code == 200
    catalogue = {item["name"]: item for item in response.json()}
    assert list(catalogue) == list(FIELDS)
    for name, item in catalogue.items():
        assert item["label"] == BY_NAME[name].label
        props = item["settings_schema"]["properties"]
        assert set(props) == FIELDS[name]
        assert item["secret_fields"] == sorted(SECRET_FIELDS[name])
        assert sorted(f for f, p in props.items() if p.get("secret") is True) == sorted(SECRET_FIELDS[name])
        for field_name, title in SEED_TITLES.get(name, {}).items():
            assert props[field_name]["title"] == title
    datadog = catalogue["datadog"]["settings_schema"]["properties"]
    assert datadog["site"]["default"] == "datadoghq.com"
    assert {
        "datadoghq.com",
        "datadoghq.eu",
        "us3.datadoghq.com",
        "us5.datadoghq.com",
        "ap1.datadoghq.com",
    } <= set(datadog["site"]["enum"])
    sumo = catalogue["sumologic"]["settings_schema"]["properties"]
    assert sumo["deployment"]["default"] == "us1"
    assert {"us1", "us2", "eu", "au", "ca", "de", "jp", "in", "fed"} <= set(sumo["deployment"]["enum"])
    regions = catalogue["cloudwatch"]["settings_schema"]["properties"]["region"]["enum"]
    assert {"us-east-1", "eu-west-1", "ap-southeast-2"} <= set(regions) and regions == sorted(regions)
    es = catalogue["elasticsearch"]["settings_schema"]
    assert es["properties"]["indexes"]["default"] == "*log*"
    assert es["properties"]["port"]["default"] == 9200
    assert es["properties"]["message_field"]["default"] == "message"
    assert es["properties"]["timestamp_field"]["default"] == "utc_time"
    assert es["required"] == ["host"]
    sentry = catalogue["sentry"]["settings_schema"]
    assert set(sentry["required"]) == {"token", "organization_slug", "project_slug"}


def test_cloudwatch_log_group_picker(api: TestClient, world: World, seeded: Seeded) -> None:
    for group in ("/svc/b", "/svc/a", "/other/x"):
        world.peers.logs.create_log_group(logGroupName=group)
    credentials = {
        "aws_access_key_id": cw_peer.TEST_KEY,
        "aws_secret_access_key": CW_SECRET,
        "region": cw_peer.REGION,
        "endpoint_url": world.peers.moto,
    }
    path = "/api/v1/integrations/cloudwatch/log-groups"
    picked = api.post(
        path, json=credentials | {"prefix": "/svc/"}, headers=seeded.auth(seeded.project_api_key)
    )
    assert picked.status_code == 200, picked.text
    assert picked.json() == {"log_groups": ["/svc/a", "/svc/b"]}
    everything = api.post(path, json=credentials, headers=seeded.auth())
    assert everything.json() == {"log_groups": ["/app/api", "/other/x", "/svc/a", "/svc/b"]}
    assert api.post(path, json=credentials | {"prefix": "/none"}, headers=seeded.auth()).json() == {
        "log_groups": []
    }

    assert api.post(path, json=credentials).status_code == 401
    bad_region = api.post(path, json=credentials | {"region": "mars-north-1"}, headers=seeded.auth())
    assert bad_region.status_code == 422
    assert [d["field"] for d in bad_region.json()["error"]["details"]] == ["region"]
    metadata = api.post(
        path, json=credentials | {"endpoint_url": "http://169.254.169.254"}, headers=seeded.auth()
    )
    assert metadata.status_code == 422
    assert [d["field"] for d in metadata.json()["error"]["details"]] == ["endpoint_url"]
    unreachable = api.post(path, json=credentials | {"endpoint_url": _dead_url()}, headers=seeded.auth())
    assert unreachable.status_code == 422
    assert unreachable.json()["error"]["details"][0]["kind"] == "unreachable"
    missing = api.post(path, json={"region": cw_peer.REGION}, headers=seeded.auth())
    assert missing.status_code == 422
    assert {d["field"] for d in missing.json()["error"]["details"]} == {
        "aws_access_key_id",
        "aws_secret_access_key",
    }
    with cw_peer.iam_user(world.peers.moto) as (key_id, secret):
        world.secrets.add(secret)
        refused = api.post(path, json=credentials | {"aws_access_key_id": key_id}, headers=seeded.auth())
    assert refused.status_code == 422 and refused.json()["error"]["details"][0]["kind"] == "auth"


def test_choices_are_a_generic_capability(api: TestClient, world: World, seeded: Seeded) -> None:
    """The picker is one route for every provider; the catalogue says which fields have choices."""
    for group in ("/svc/b", "/svc/a"):
        world.peers.logs.create_log_group(logGroupName=group)
    catalogue = api.get("/api/v1/integrations/providers", headers=seeded.auth()).json()
    offered = {item["name"]: item["choice_fields"] for item in catalogue}
    assert offered == {name: list(providers.get(name).choice_fields) for name in providers.names()}
    assert offered["cloudwatch"] == ["log_group_names"]
    settings = cloudwatch_valid(world.peers) | {"log_group_names": "not/ a valid group!"}
    path = "/api/v1/integrations/cloudwatch/choices/log_group_names"
    picked = api.post(path, json={"settings": settings, "prefix": "/svc/"}, headers=seeded.auth())
    assert picked.status_code == 200, picked.text
    assert picked.json() == {"field": "log_group_names", "choices": ["/svc/a", "/svc/b"]}
    assert api.post(path, json={"settings": settings}).status_code == 401
    unsafe = api.post(
        path, json={"settings": settings | {"endpoint_url": "http://169.254.169.254"}}, headers=seeded.auth()
    )
    assert unsafe.status_code == 422 and unsafe.json()["error"]["code"] == "invalid_settings"
    for provider in providers.names():
        for field in providers.get(provider).Settings.model_fields:
            if field in offered[provider]:
                continue
            none = api.post(
                f"/api/v1/integrations/{provider}/choices/{field}",
                json={"settings": {}},
                headers=seeded.auth(),
            )
            assert none.status_code == 404 and none.json()["error"]["code"] == "no_choices", (provider, field)
    unknown = api.post("/api/v1/integrations/nope/choices/x", json={}, headers=seeded.auth())
    assert unknown.status_code == 404 and unknown.json()["error"]["code"] == "unknown_provider"
