"""Create, replace, patch, delete, pause and resume, check, health: on every provider."""

from __future__ import annotations

from datetime import datetime

from fastapi.testclient import TestClient
from sqlalchemy import text

from replaylink.runtime import Runtime
from replaylink.store import integrations as store
from replaylink.store.db import transaction
from tests.backend_events import add_event, add_session
from tests.conftest import Seeded
from tests.integrations_api.support import (
    BY_NAME,
    FAST,
    KINDS,
    Case,
    World,
    assert_masked,
    assert_nothing_saved,
    count_rows,
    each_provider,
    history,
    listed,
    put,
    reset,
    stored_secrets,
    url,
    without_lag,
)

# --------------------------------------------------------------------------- per provider


@each_provider
def test_create_with_a_passing_check(api: TestClient, world: World, seeded: Seeded, case: Case) -> None:
    valid = case.valid(world.peers)
    created = put(api, seeded, case, valid)
    assert created.status_code == 201, created.text
    body = created.json()
    assert (body["provider"], body["name"], body["enabled"], body["paused"]) == (
        case.provider,
        "default",
        True,
        False,
    )
    assert_masked(body["settings"], case, valid)
    assert body["poll_interval_seconds"] == 15
    health = body["health"]
    assert health["status"] == "pending"
    assert health["last_success_at"] is None and health["last_error_at"] is None
    assert health["last_error"] is None and health["consecutive_failures"] == 0
    assert health["lag_seconds"] >= FAST["initial_lookback_seconds"]
    assert (health["records_scanned"], health["events_imported"]) == (0, 0)
    assert datetime.fromisoformat(health["next_poll_at"])

    assert [without_lag(row) for row in listed(api, seeded)] == [without_lag(body)]
    assert without_lag(api.get(url(seeded, case.provider), headers=seeded.auth()).json()) == without_lag(body)
    [entry] = history(api, seeded, case.provider)
    assert entry["action"] == "created" and entry["actor"].startswith("api-key:")
    assert entry["changes"][case.secret] == "changed"
    assert entry["changes"][case.url_field] == {"old": None, "new": body["settings"][case.url_field]}


@each_provider
def test_create_refused_by_each_failing_check(
    api: TestClient, rt: Runtime, world: World, seeded: Seeded, case: Case
) -> None:
    assert set(case.failures) == set(KINDS)
    for kind in KINDS:
        reset(world.peers)
        with case.failures[kind](world) as settings:
            refused = put(api, seeded, case, settings)
        assert refused.status_code == 422, (kind, refused.text)
        error = refused.json()["error"]
        assert error["code"] == "check_failed"
        assert error["details"][0]["kind"] == kind
        assert error["message"].startswith(f"{case.label} refused these settings: ")
        assert_nothing_saved(api, rt, seeded, case.provider)

    with case.failures["unreachable"](world) as settings:  # ?check=false: saved all the same
        saved = put(api, seeded, case, settings, check="false")
    assert saved.status_code in (200, 201), saved.text
    assert [row["name"] for row in listed(api, seeded)] == ["default"]
    assert saved.json()["settings"][case.url_field] == settings[case.url_field]
    assert [h["action"] for h in history(api, seeded, case.provider)] == ["created"]
    recheck = api.post(url(seeded, case.provider) + "/check", headers=seeded.auth())
    assert recheck.status_code == 422 and recheck.json()["error"]["details"][0]["kind"] == "unreachable"


@each_provider
def test_patch_keeps_secrets(api: TestClient, rt: Runtime, world: World, seeded: Seeded, case: Case) -> None:
    valid, tweak = case.valid(world.peers), case.tweak(world.peers)
    created = put(api, seeded, case, valid).json()
    path = url(seeded, case.provider)

    omitted = api.patch(path, json={"settings": tweak}, headers=seeded.auth())
    assert omitted.status_code == 200, omitted.text
    view = omitted.json()["settings"]
    assert_masked(view, case, {k: v for k, v in valid.items() if k not in tweak or k == case.secret})
    assert stored_secrets(rt, seeded, case.provider)[case.secret] == valid[case.secret]

    echoed = api.patch(
        path, json={"settings": view, "poll_interval_seconds": 60}, headers=seeded.auth()
    )  # the masked values sent back as they were shown
    assert echoed.status_code == 200, echoed.text
    assert echoed.json()["settings"] == view and echoed.json()["poll_interval_seconds"] == 60
    assert stored_secrets(rt, seeded, case.provider)[case.secret] == valid[case.secret]
    check = api.post(path + "/check", headers=seeded.auth())
    assert check.status_code == 200 and check.json()["ok"] is True

    with case.failures["auth"](world) as refused:
        changed = {k: v for k, v in refused.items() if valid.get(k) != v}
        wrong = api.patch(path, json={"settings": changed}, headers=seeded.auth())
    assert wrong.status_code == 422 and wrong.json()["error"]["details"][0]["kind"] == "auth"
    assert stored_secrets(rt, seeded, case.provider)[case.secret] == valid[case.secret]

    actions = history(api, seeded, case.provider)
    assert [h["action"] for h in actions] == ["updated", "updated", "created"]
    tweaked, echoed_entry = actions[1]["changes"], actions[0]["changes"]
    assert set(tweaked) == {k for k in tweak if created["settings"][k] != view[k]}
    assert case.secret not in tweaked
    assert echoed_entry == {"poll_interval_seconds": {"old": 15, "new": 60}}


@each_provider
def test_put_replaces(api: TestClient, rt: Runtime, world: World, seeded: Seeded, case: Case) -> None:
    valid, tweak = case.valid(world.peers), case.tweak(world.peers)
    created = put(api, seeded, case, valid).json()
    replaced = api.put(
        url(seeded, case.provider),
        json={"settings": valid | tweak, "poll_interval_seconds": 120},
        headers=seeded.auth(),
    )
    assert replaced.status_code == 200, replaced.text
    body = replaced.json()
    assert body["created_at"] == created["created_at"]
    assert body["poll_interval_seconds"] == 120
    assert_masked(body["settings"], case, valid | tweak)
    assert [row["settings"] for row in listed(api, seeded)] == [body["settings"]]

    echoed = put(api, seeded, case, body["settings"])  # a form sent back as it was shown, masked
    assert echoed.status_code == 200, echoed.text
    assert echoed.json()["settings"] == body["settings"]
    assert stored_secrets(rt, seeded, case.provider)[case.secret] == valid[case.secret]

    with case.failures["auth"](world) as other:
        unchecked = put(api, seeded, case, other, check="false")
    assert unchecked.status_code == 200
    assert stored_secrets(rt, seeded, case.provider)[case.secret] == other[case.secret]
    latest, unchanged, first_replace, _ = history(api, seeded, case.provider)
    assert [h["action"] for h in (latest, unchanged, first_replace)] == ["replaced"] * 3
    assert unchanged["changes"] == {}
    assert case.secret not in first_replace["changes"]
    assert set(tweak) & set(first_replace["changes"])
    assert latest["changes"][case.secret] == "changed"


@each_provider
def test_a_create_only_put_never_replaces(
    api: TestClient, rt: Runtime, world: World, seeded: Seeded, case: Case
) -> None:
    """``If-None-Match: *`` (the dashboard's "Add"): a second tab adding the same name replaced the
    first one's integration, secrets and all."""
    valid, tweak = case.valid(world.peers), case.tweak(world.peers)
    create_only = {**seeded.auth(), "If-None-Match": "*"}
    first = api.put(url(seeded, case.provider), json={"settings": valid}, headers=create_only)
    assert first.status_code == 201, first.text
    again = api.put(url(seeded, case.provider), json={"settings": valid | tweak}, headers=create_only)
    assert again.status_code == 412, again.text
    assert again.json()["error"]["code"] == "already_exists"
    assert [row["settings"] for row in listed(api, seeded)] == [first.json()["settings"]]
    assert stored_secrets(rt, seeded, case.provider)[case.secret] == valid[case.secret]
    assert [h["action"] for h in history(api, seeded, case.provider)] == ["created"]


@each_provider
def test_delete_keeps_events_unless_purged(
    api: TestClient, rt: Runtime, world: World, seeded: Seeded, case: Case
) -> None:
    path = url(seeded, case.provider)
    session = add_session(rt, seeded.project_id)

    def create_with_event() -> int:
        assert put(api, seeded, case, case.valid(world.peers), check="false").status_code in (200, 201)
        with transaction(rt.sessions) as db:
            row = store.find(db, seeded.project_id, case.provider, "default")
            assert row is not None
            row_id = row.id
        add_event(rt, session, provider=case.provider, integration_id=row_id)
        return row_id

    create_with_event()
    kept = api.delete(path, headers=seeded.auth())
    assert kept.status_code == 200 and kept.json() == {"deleted": True, "events_purged": 0}
    assert api.get(path, headers=seeded.auth()).status_code == 404
    assert listed(api, seeded) == []
    with rt.engine.connect() as conn:
        events = conn.execute(text("SELECT integration_id FROM backend_events")).all()
    assert events == [(None,)]  # detached, not deleted

    create_with_event()
    purged = api.delete(path, params={"purge_events": "true"}, headers=seeded.auth())
    assert purged.status_code == 200 and purged.json() == {"deleted": True, "events_purged": 1}
    assert count_rows(rt, "backend_events") == 1  # only the first integration's detached event
    assert count_rows(rt, "integrations") == 0
    assert api.delete(path, headers=seeded.auth()).status_code == 404

    actions = [(h["action"], h["changes"]) for h in history(api, seeded, case.provider)]
    assert actions[0] == ("deleted", {"purge_events": True})
    assert actions[2] == ("deleted", {"purge_events": False})
    assert [a for a, _ in actions] == ["deleted", "created", "deleted", "created"]


@each_provider
def test_pause_and_resume(api: TestClient, world: World, seeded: Seeded, case: Case) -> None:
    path = url(seeded, case.provider)
    assert put(api, seeded, case, case.valid(world.peers), check="false").status_code == 201
    paused = api.post(path + "/pause", headers=seeded.auth(seeded.project_api_key))
    assert paused.status_code == 200
    assert paused.json()["paused"] is True
    assert paused.json()["health"]["status"] == "paused"
    assert paused.json()["health"]["next_poll_at"] is None
    again = api.post(path + "/pause", headers=seeded.auth())
    assert again.status_code == 200 and again.json()["paused"] is True
    assert listed(api, seeded)[0]["health"]["status"] == "paused"

    resumed = api.post(path + "/resume", headers=seeded.auth())
    assert resumed.status_code == 200
    assert resumed.json()["paused"] is False
    assert resumed.json()["health"]["status"] == "pending"
    assert resumed.json()["health"]["next_poll_at"] is not None

    entries = history(api, seeded, case.provider)
    assert [h["action"] for h in entries] == ["resumed", "paused", "created"]
    assert entries[1]["actor"] != entries[0]["actor"]  # project key paused, admin key resumed
    assert entries[0]["actor"] == entries[2]["actor"]


@each_provider
def test_check_endpoint(api: TestClient, world: World, seeded: Seeded, case: Case) -> None:
    path = url(seeded, case.provider)
    assert api.post(path + "/check", headers=seeded.auth()).status_code == 404
    valid = case.valid(world.peers)
    assert put(api, seeded, case, valid).status_code == 201

    ok = api.post(path + "/check", headers=seeded.auth())
    assert ok.status_code == 200
    assert ok.json() == {"ok": True, "message": f"{case.label} accepted these settings."}
    merged = api.post(path + "/check", json={"settings": case.tweak(world.peers)}, headers=seeded.auth())
    assert merged.status_code == 200
    with case.failures["auth"](world) as refused:
        changed = {k: v for k, v in refused.items() if valid.get(k) != v}
        bad = api.post(path + "/check", json={"settings": changed}, headers=seeded.auth())
    assert bad.status_code == 422 and bad.json()["error"]["details"][0]["kind"] == "auth"
    assert api.post(path + "/check", json={}, headers=seeded.auth()).status_code == 200  # stored kept

    unsaved = url(seeded, case.provider, "second") + "/check"
    assert api.post(unsaved, json={"settings": valid}, headers=seeded.auth()).status_code == 200
    # checks with settings are recorded (passed or refused), checks of the stored settings are not
    entries = history(api, seeded, case.provider)
    assert [h["action"] for h in entries] == ["checked", "checked", "created"]
    assert entries[0]["changes"] == {"fields": sorted(changed)}
    assert history(api, seeded, case.provider, "second") == []
    assert [row["name"] for row in listed(api, seeded)] == ["default"]


def test_several_integrations_of_one_provider(api: TestClient, world: World, seeded: Seeded) -> None:
    case = BY_NAME["sentry"]
    for name in ("default", "eu-2", "b_side"):
        response = api.put(
            url(seeded, case.provider, name),
            params={"check": "false"},
            json={"settings": case.valid(world.peers)},
            headers=seeded.auth(),
        )
        assert response.status_code == 201 and response.json()["name"] == name
    assert [row["name"] for row in listed(api, seeded)] == ["b_side", "default", "eu-2"]
    assert api.delete(url(seeded, case.provider, "eu-2"), headers=seeded.auth()).status_code == 200
    assert [row["name"] for row in listed(api, seeded)] == ["b_side", "default"]


def test_health_reports_failures_and_attention(
    api: TestClient, rt: Runtime, world: World, seeded: Seeded
) -> None:
    case = BY_NAME["datadog"]
    assert put(api, seeded, case, case.valid(world.peers), check="false").status_code == 201
    with transaction(rt.sessions) as db:
        row = store.find(db, seeded.project_id, "datadog", "default")
        assert row is not None
        row.consecutive_failures = 3
        row.last_error = "Datadog rate limit reached; ReplayLink will retry in 60 s."
        row.last_error_kind = "rate_limited"
        row.last_error_at = row.created_at
        row.records_scanned = 42
        row.events_imported = 7
    health = listed(api, seeded)[0]["health"]
    assert health["status"] == "failing" and health["consecutive_failures"] == 3
    assert health["last_error_kind"] == "rate_limited" and health["last_error"].startswith("Datadog rate")
    assert health["last_error_at"] is not None
    assert (health["records_scanned"], health["events_imported"]) == (42, 7)
    with transaction(rt.sessions) as db:
        row = store.find(db, seeded.project_id, "datadog", "default")
        assert row is not None
        row.needs_attention = True
    assert listed(api, seeded)[0]["health"]["status"] == "needs_attention"
    fixed = api.patch(url(seeded, "datadog"), json={"settings": {"indexes": ["main"]}}, headers=seeded.auth())
    assert fixed.status_code == 200 and fixed.json()["health"]["status"] == "failing"
