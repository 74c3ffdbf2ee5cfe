"""Backend errors grouped by fingerprint, the sessions each affected, and integration diagnostics."""

from __future__ import annotations

from datetime import timedelta
from typing import Any, cast

import pytest
from fastapi.testclient import TestClient

from replaylink.integrations import settings as svc
from replaylink.runtime import Runtime
from replaylink.store import integrations as store
from replaylink.store.db import transaction
from tests.backend_events import T0, add_event, add_session
from tests.conftest import Seeded


def groups_url(project_id: int, suffix: str = "") -> str:
    return f"/api/v1/projects/{project_id}/backend-errors{suffix}"


def get(client: TestClient, seeded: Seeded, url: str, **params: Any) -> dict[str, Any]:
    response = client.get(url, params=params, headers=seeded.auth())
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


def seed_errors(rt: Runtime, project_id: int) -> dict[str, Any]:
    """Timeout: 3 events over 2 sessions (datadog); KeyError: 1 event (sentry)."""
    a = add_session(rt, project_id, T0)
    b = add_session(rt, project_id, T0 + timedelta(hours=1))
    add_event(rt, a, timedelta(seconds=1), title="Timeout calling payments", exception_type=None)
    add_event(rt, a, timedelta(seconds=9), title="Timeout calling payments", exception_type=None)
    late = add_event(rt, b, timedelta(seconds=5), title="Timeout calling payments", exception_type=None)
    key = add_event(rt, b, timedelta(seconds=2), provider="sentry", title="KeyError: 'cart'")
    return {"a": a, "b": b, "timeout": late.fingerprint, "late": late, "key": key.fingerprint}


def test_groups_count_sessions_and_sample(client: TestClient, rt: Runtime, seeded: Seeded) -> None:
    data = seed_errors(rt, seeded.project_id)
    body = get(client, seeded, groups_url(seeded.project_id))

    assert body["next_cursor"] is None
    timeout, key = body["groups"]
    assert timeout["fingerprint"] == data["timeout"]
    assert (timeout["count"], timeout["sessions"]) == (3, 2)
    assert timeout["first_seen"].startswith("2026-03-02T10:00:01")
    assert timeout["last_seen"].startswith("2026-03-02T11:00:05")
    assert timeout["provider"] == "datadog" and timeout["title"] == "Timeout calling payments"
    sample = timeout["sample"]
    assert sample["id"] == str(data["late"].id)  # the latest event
    assert sample["session_id"] == str(data["b"].id)
    assert sample["offset_ms"] == 5000 and sample["outside_session"] is False
    assert (key["fingerprint"], key["count"], key["sessions"]) == (data["key"], 1, 1)


def test_group_filters(client: TestClient, rt: Runtime, seeded: Seeded) -> None:
    data = seed_errors(rt, seeded.project_id)

    def fingerprints(**params: Any) -> list[tuple[str, int]]:
        body = get(client, seeded, groups_url(seeded.project_id), **params)
        return [(g["fingerprint"], g["count"]) for g in body["groups"]]

    assert fingerprints(provider="sentry") == [(data["key"], 1)]
    assert fingerprints(q="keyerror") == [(data["key"], 1)]
    assert fingerprints(q="no such text") == []
    later = {"from": (T0 + timedelta(minutes=30)).isoformat()}
    assert fingerprints(**later) == sorted([(data["key"], 1), (data["timeout"], 1)])  # tie: by fingerprint
    earlier = {"to": (T0 + timedelta(seconds=5)).isoformat()}
    assert fingerprints(**earlier) == [(data["timeout"], 1)]
    response = client.get(groups_url(seeded.project_id), params={"provider": "nope"}, headers=seeded.auth())
    assert response.status_code == 422


def seed_texts(rt: Runtime, project_id: int) -> dict[str, Any]:
    """Groups: "card" (2 events: the older says "issuer", the newer "bank"), "cart", "unicode"."""
    a = add_session(rt, project_id, T0)
    b = add_session(rt, project_id, T0 + timedelta(hours=1))
    card_old = add_event(
        rt, a, title="Payment declined", message="card 100% declined by issuer", fingerprint="card"
    )
    card_new = add_event(rt, b, title="Payment declined", message="card declined by bank", fingerprint="card")
    cart = add_event(
        rt, b, title="KeyError: 'cart_id'", message="(payments-api) said: NEAR *later*", fingerprint="cart"
    )
    unicode = add_event(
        rt, a, title="Ошибка оплаты", message="Zażółć gęślą jaźń — café", fingerprint="unicode"
    )
    return {"card_old": card_old.id, "card_new": card_new.id, "cart": cart.id, "unicode": unicode.id}


@pytest.mark.parametrize(
    ("q", "expected"),
    [
        ("declined", [("card", 2, "card_new")]),  # title
        ("ISSUER", [("card", 1, "card_old")]),  # message, any case: the sample is the newest match
        ("payment bank", [("card", 1, "card_new")]),  # every word, title or message
        ("pay", [("card", 2, "card_new"), ("cart", 1, "cart")]),  # starts of words, sorted by count
        ("clined", []),
        ("cart_id", [("cart", 1, "cart")]),
        ("'cart_id' NEAR *later*", [("cart", 1, "cart")]),
        ("payments-api:*", [("cart", 1, "cart")]),
        ("(said) OR", []),  # OR is a word to find
        ("ОШИБКА café", [("unicode", 1, "unicode")]),
        ("cafe", []),
        (" ".join(["bank"] * 40), [("card", 1, "card_new")]),  # 199 characters
    ],
)
def test_groups_q(
    client: TestClient,
    rt: Runtime,
    seeded: Seeded,
    text_plan: str,
    q: str,
    expected: list[tuple[str, int, str]],
) -> None:
    ids = seed_texts(rt, seeded.project_id)
    add_event(rt, add_session(rt, seeded.other_project_id), title="Payment declined", fingerprint="card")

    body = get(client, seeded, groups_url(seeded.project_id), q=q)

    found = [(g["fingerprint"], g["count"], g["sample"]["id"]) for g in body["groups"]]
    assert found == [(fingerprint, count, str(ids[sample])) for fingerprint, count, sample in expected]


def test_groups_q_pages(client: TestClient, rt: Runtime, seeded: Seeded, text_plan: str) -> None:
    seed_texts(rt, seeded.project_id)
    first = get(client, seeded, groups_url(seeded.project_id), q="pay", limit=1)
    assert [g["fingerprint"] for g in first["groups"]] == ["card"]
    url = groups_url(seeded.project_id)
    second = get(client, seeded, url, q="pay", limit=1, cursor=first["next_cursor"])
    assert [g["fingerprint"] for g in second["groups"]] == ["cart"] and second["next_cursor"] is None
    assert get(client, seeded, url, q="pay", provider="sentry")["groups"] == []
    blank = get(client, seeded, url, q=" ")  # no filter
    assert [g["fingerprint"] for g in blank["groups"]] == ["card", "cart", "unicode"]


@pytest.mark.parametrize("q", ["*", "'\"", ":*", "-()", "— «»"])
def test_groups_q_without_letters_or_digits_is_422(client: TestClient, seeded: Seeded, q: str) -> None:
    response = client.get(groups_url(seeded.project_id), params={"q": q}, headers=seeded.auth())
    assert response.status_code == 422
    assert response.json()["error"]["code"] == "invalid_request"
    too_long = client.get(groups_url(seeded.project_id), params={"q": "x" * 201}, headers=seeded.auth())
    assert too_long.status_code == 422


def test_group_pagination(client: TestClient, rt: Runtime, seeded: Seeded) -> None:
    session = add_session(rt, seeded.project_id)
    for i in range(5):
        for _ in range(i % 3 + 1):  # counts 1,2,3,1,2: ties are broken by fingerprint
            add_event(rt, session, title=f"error kind {chr(97 + i)}", exception_type=f"E{chr(97 + i)}")
    seen: list[tuple[int, str]] = []
    cursor = None
    while True:
        body = get(
            client, seeded, groups_url(seeded.project_id), limit=2, **({"cursor": cursor} if cursor else {})
        )
        seen += [(g["count"], g["fingerprint"]) for g in body["groups"]]
        cursor = body["next_cursor"]
        if cursor is None:
            break
    assert len(seen) == 5
    assert seen == sorted(seen, key=lambda pair: (-pair[0], pair[1]))
    bad = client.get(groups_url(seeded.project_id), params={"cursor": "abc"}, headers=seeded.auth())
    assert bad.status_code == 422


def test_affected_sessions(client: TestClient, rt: Runtime, seeded: Seeded) -> None:
    data = seed_errors(rt, seeded.project_id)
    url = groups_url(seeded.project_id, f"/{data['timeout']}/sessions")

    body = get(client, seeded, url)
    assert [row["id"] for row in body["sessions"]] == [str(data["b"].id), str(data["a"].id)]
    assert body["sessions"][0]["backend_events_by_provider"] == {"datadog": 1, "sentry": 1}

    first = get(client, seeded, url, limit=1)
    assert [row["id"] for row in first["sessions"]] == [str(data["b"].id)]
    second = get(client, seeded, url, limit=1, cursor=first["next_cursor"])
    assert [row["id"] for row in second["sessions"]] == [str(data["a"].id)]
    assert second["next_cursor"] is None

    key_only = get(client, seeded, groups_url(seeded.project_id, f"/{data['key']}/sessions"))
    assert [row["id"] for row in key_only["sessions"]] == [str(data["b"].id)]
    unknown = client.get(groups_url(seeded.project_id, "/0123abcd/sessions"), headers=seeded.auth())
    assert unknown.status_code == 404


def test_groups_are_isolated_between_projects(client: TestClient, rt: Runtime, seeded: Seeded) -> None:
    data = seed_errors(rt, seeded.other_project_id)
    scoped = seeded.auth(seeded.project_api_key)
    assert get(client, seeded, groups_url(seeded.project_id))["groups"] == []
    assert client.get(groups_url(seeded.other_project_id), headers=scoped).status_code == 404
    # The other project's fingerprint is unknown in mine.
    mine = client.get(groups_url(seeded.project_id, f"/{data['timeout']}/sessions"), headers=seeded.auth())
    assert mine.status_code == 404


# --------------------------------------------------------------------------- diagnostics


def test_diagnostics_counts_and_scrubbed_samples(client: TestClient, rt: Runtime, seeded: Seeded) -> None:
    secret = "dd-app-key-0123456789abcdef"
    with transaction(rt.sessions) as db:
        row = store.create(
            db,
            project_id=seeded.project_id,
            provider="datadog",
            name="main",
            settings={"site": "datadoghq.com"},
            secrets=None,
            poll_interval=15,
            lookback=timedelta(hours=1),
        )
        secrets = {"api_key": "dd-api-key-abcdef012345", "application_key": secret}
        row.secrets = rt.vault.encrypt(secrets, svc.context(row))
        row.outcomes = {"matched": 7, "forged": 2, "malformed": 1, "expired_out_of_grace": 3, "no_token": 4}
        # Not the column's type on purpose: a stored sample that is not a mapping.
        row.rejected_samples = cast(
            list[dict[str, Any]],
            [
                {"reason": "forged", "excerpt": f"GET /?key={secret} " + "x" * 2000, "nested": {"a": 1}},
                "not a mapping",
            ],
        )
    url = f"/api/v1/projects/{seeded.project_id}/integrations/datadog/main/diagnostics"

    body = get(client, seeded, url)

    assert body["outcomes"]["matched"] == 7
    assert body["rejected"]["forged"] == 2
    assert body["rejected"]["malformed"] == 1
    assert body["rejected"]["expired_out_of_grace"] == 3
    assert body["rejected"]["no_token"] == 4
    assert body["rejected"]["other_project"] == 0
    (sample,) = body["samples"]
    assert sample["reason"] == "forged"
    assert secret not in sample["excerpt"] and "********" in sample["excerpt"]
    assert len(sample["excerpt"]) <= 500 and "nested" not in sample
    assert secret not in str(body)

    scoped_other = seeded.auth(seeded.other_api_key)
    assert client.get(url, headers=scoped_other).status_code == 404
    missing = f"/api/v1/projects/{seeded.project_id}/integrations/datadog/none/diagnostics"
    assert client.get(missing, headers=seeded.auth()).status_code == 404
