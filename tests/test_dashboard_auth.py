"""Dashboard sign-in: cookie flags, CSRF, expiry, sign-out, rate limits, user and key administration."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import update

from replaylink.api.app import create_app
from replaylink.api.session_cookie import CSRF_COOKIE, CSRF_HEADER, SESSION_COOKIE
from replaylink.runtime import Runtime
from replaylink.store import accounts
from replaylink.store.db import transaction
from replaylink.store.models import AuthSession
from tests.conftest import Seeded, make_settings

PASSWORD = "correct horse battery"


@pytest.fixture
def users(rt: Runtime, seeded: Seeded) -> dict[str, int]:
    with transaction(rt.sessions) as db:
        admin = accounts.create_user(db, "Admin@Example.com", PASSWORD, is_admin=True)
        viewer = accounts.create_user(db, "viewer@example.com", PASSWORD)
        from replaylink.store.auth_sessions import set_project_ids

        set_project_ids(db, viewer.id, {seeded.project_id})
        return {"admin": admin.id, "viewer": viewer.id}


def sign_in(client: TestClient, email: str = "admin@example.com", password: str = PASSWORD) -> str:
    answer = client.post("/api/v1/auth/login", json={"email": email, "password": password})
    assert answer.status_code == 200, answer.text
    return str(answer.json()["csrf_token"])


def test_login_sets_httponly_samesite_cookie_and_me_answers(
    client: TestClient, users: dict[str, int]
) -> None:
    answer = client.post("/api/v1/auth/login", json={"email": "ADMIN@example.com", "password": PASSWORD})
    assert answer.status_code == 200
    cookies = answer.headers.get_list("set-cookie")
    session = next(c for c in cookies if c.startswith(SESSION_COOKIE + "="))
    csrf = next(c for c in cookies if c.startswith(CSRF_COOKIE + "="))
    assert "HttpOnly" in session and "SameSite=lax" in session and "Secure" not in session
    assert "HttpOnly" not in csrf and "Max-Age=" in session
    me = client.get("/api/v1/auth/me").json()
    assert me["user"]["email"] == "admin@example.com" and me["user"]["is_admin"] is True
    assert me["csrf_token"] == answer.json()["csrf_token"] == client.cookies[CSRF_COOKIE]
    assert "password" not in answer.text


def test_cookie_is_secure_over_https(rt: Runtime, users: dict[str, int]) -> None:
    with TestClient(create_app(rt), base_url="https://replaylink.test") as client:
        answer = client.post("/api/v1/auth/login", json={"email": "admin@example.com", "password": PASSWORD})
        assert all("Secure" in c for c in answer.headers.get_list("set-cookie"))


def test_wrong_password_and_unknown_email_answer_the_same(client: TestClient, users: dict[str, int]) -> None:
    wrong = client.post("/api/v1/auth/login", json={"email": "admin@example.com", "password": "nope"})
    unknown = client.post("/api/v1/auth/login", json={"email": "who@example.com", "password": "nope"})
    assert wrong.status_code == unknown.status_code == 401
    assert wrong.json() == unknown.json()
    assert SESSION_COOKIE not in client.cookies


def test_state_changes_with_the_cookie_need_the_csrf_header(
    client: TestClient, users: dict[str, int], seeded: Seeded
) -> None:
    csrf = sign_in(client)
    assert client.get("/api/v1/projects").status_code == 200  # reads need no token
    body = {"name": "New"}
    missing = client.post("/api/v1/projects", json=body)
    assert missing.status_code == 403 and missing.json()["error"]["code"] == "csrf_failed"
    forged = client.post("/api/v1/projects", json=body, headers={CSRF_HEADER: "0" * 64})
    assert forged.status_code == 403
    ok = client.post("/api/v1/projects", json=body, headers={CSRF_HEADER: csrf})
    assert ok.status_code == 201
    # API-key requests are unaffected, even with a cookie present
    assert client.post("/api/v1/projects", json=body, headers=seeded.auth()).status_code == 201


def test_non_admin_sees_only_their_projects(
    client: TestClient, users: dict[str, int], seeded: Seeded
) -> None:
    csrf = sign_in(client, "viewer@example.com")
    assert [p["id"] for p in client.get("/api/v1/projects").json()] == [seeded.project_id]
    assert client.get(f"/api/v1/projects/{seeded.other_project_id}").status_code == 404
    assert client.get(f"/api/v1/projects/{seeded.project_id}/sessions").status_code == 200
    assert client.get("/api/v1/users").status_code == 403
    assert (
        client.post("/api/v1/users", json={"email": "x@y.z"}, headers={CSRF_HEADER: csrf}).status_code == 403
    )


def test_logout_ends_the_session_server_side(client: TestClient, users: dict[str, int]) -> None:
    csrf = sign_in(client)
    stolen = client.cookies[SESSION_COOKIE]
    assert client.post("/api/v1/auth/logout").status_code == 403  # CSRF applies to sign-out too
    assert client.post("/api/v1/auth/logout", headers={CSRF_HEADER: csrf}).status_code == 204
    assert client.get("/api/v1/auth/me").status_code == 401
    with TestClient(client.app, cookies={SESSION_COOKIE: stolen}) as thief:
        assert thief.get("/api/v1/projects").status_code == 401


def test_expired_session_is_refused(client: TestClient, rt: Runtime, users: dict[str, int]) -> None:
    sign_in(client)
    with transaction(rt.sessions) as db:
        db.execute(update(AuthSession).values(expires_at=datetime.now(UTC) - timedelta(seconds=1)))
    answer = client.get("/api/v1/auth/me")
    assert answer.status_code == 401
    assert "sign in again" in answer.json()["error"]["message"]


def test_failed_logins_are_rate_limited_per_account_and_per_ip(
    tmp_path: Path, db_url: str, users: dict[str, int]
) -> None:
    settings = make_settings(tmp_path / "d", db_url, login_failures_per_account=3, login_attempts_per_ip=6)
    runtime = Runtime(settings)
    try:
        with TestClient(create_app(runtime)) as client:
            for _ in range(3):
                bad = client.post("/api/v1/auth/login", json={"email": "admin@example.com", "password": "x"})
                assert bad.status_code == 401
            locked = client.post(
                "/api/v1/auth/login", json={"email": "admin@example.com", "password": PASSWORD}
            )
            assert locked.status_code == 429
            assert locked.json()["error"]["details"][0]["retry_after"] >= 1
            assert locked.headers["Retry-After"] == str(locked.json()["error"]["details"][0]["retry_after"])
            # another account from the same address still works, until the address limit
            assert (
                client.post(
                    "/api/v1/auth/login", json={"email": "viewer@example.com", "password": PASSWORD}
                ).status_code
                == 200
            )
            for _ in range(2):
                client.post("/api/v1/auth/login", json={"email": "z@example.com", "password": "x"})
            flood = client.post(
                "/api/v1/auth/login", json={"email": "viewer@example.com", "password": PASSWORD}
            )
            assert flood.status_code == 429
    finally:
        runtime.close()


def test_admin_creates_a_user_who_can_sign_in(
    client: TestClient, users: dict[str, int], seeded: Seeded
) -> None:
    csrf = sign_in(client)
    created = client.post(
        "/api/v1/users",
        json={"email": "new@example.com", "project_ids": [seeded.project_id]},
        headers={CSRF_HEADER: csrf},
    )
    assert created.status_code == 201
    password = created.json()["password"]
    assert password and len(password) >= 12
    listed = client.get("/api/v1/users").json()
    assert {"new@example.com", "admin@example.com"} <= {u["email"] for u in listed}
    assert all("password" not in u for u in listed)
    dup = client.post("/api/v1/users", json={"email": "NEW@example.com"}, headers={CSRF_HEADER: csrf})
    assert dup.status_code == 409
    with TestClient(client.app) as other:
        sign_in(other, "new@example.com", password)
        assert [p["id"] for p in other.get("/api/v1/projects").json()] == [seeded.project_id]


def test_last_admin_cannot_be_demoted_or_deleted(client: TestClient, users: dict[str, int]) -> None:
    csrf = sign_in(client)
    demote = client.patch(
        f"/api/v1/users/{users['admin']}", json={"is_admin": False}, headers={CSRF_HEADER: csrf}
    )
    assert demote.status_code == 409
    assert client.delete(f"/api/v1/users/{users['admin']}", headers={CSRF_HEADER: csrf}).status_code == 409
    assert client.delete(f"/api/v1/users/{users['viewer']}", headers={CSRF_HEADER: csrf}).status_code == 204


def test_api_keys_created_shown_once_and_revoked(
    client: TestClient, users: dict[str, int], seeded: Seeded
) -> None:
    csrf = sign_in(client)
    made = client.post(
        "/api/v1/api-keys", json={"name": "ci", "project_id": seeded.project_id}, headers={CSRF_HEADER: csrf}
    )
    assert made.status_code == 201
    key = made.json()["key"]
    listed = client.get("/api/v1/api-keys")
    assert key not in listed.text and made.json()["prefix"] in listed.text
    with TestClient(client.app) as bare:
        assert bare.get("/api/v1/projects", headers={"Authorization": f"Bearer {key}"}).status_code == 200
        client.delete(f"/api/v1/api-keys/{made.json()['id']}", headers={CSRF_HEADER: csrf})
        assert bare.get("/api/v1/projects", headers={"Authorization": f"Bearer {key}"}).status_code == 401


def test_admin_sets_allowed_origins(client: TestClient, users: dict[str, int], seeded: Seeded) -> None:
    csrf = sign_in(client)
    url = f"/api/v1/projects/{seeded.project_id}"
    bad = client.patch(url, json={"allowed_origins": ["javascript:alert(1)"]}, headers={CSRF_HEADER: csrf})
    assert bad.status_code == 422
    ok = client.patch(
        url, json={"allowed_origins": ["https://shop.example.com/"]}, headers={CSRF_HEADER: csrf}
    )
    assert ok.json()["allowed_origins"] == ["https://shop.example.com"]
