"""POST /ingest/v1/sessions: start, continue, reject bad input without writing anything."""

from __future__ import annotations

import gzip
import json
import time

from fastapi.testclient import TestClient
from sqlalchemy import func, select

from replaylink.api.errors import NOT_A_JSON_OBJECT
from replaylink.runtime import Runtime
from replaylink.store.db import transaction
from replaylink.store.models import Project, RecordedSession
from replaylink.tokens import TokenSigner
from tests.conftest import Seeded

URL = "/ingest/v1/sessions"


def session_count(rt: Runtime) -> int:
    with transaction(rt.sessions) as db:
        return int(db.scalar(select(func.count()).select_from(RecordedSession)) or 0)


def start(client: TestClient, **body: object) -> dict[str, object]:
    response = client.post(URL, json=body)
    assert response.status_code == 200, response.text
    result: dict[str, object] = response.json()
    return result


def test_start_returns_a_valid_token_for_the_session(client: TestClient, seeded: Seeded, rt: Runtime) -> None:
    body = start(
        client,
        projectKey=seeded.project_key,
        url="https://shop.example/cart",
        userAgent="UA",
        userId="u-1",
        metadata={"plan": "pro", "seats": 3},
    )
    verification = rt.signer.verify(body["token"])
    assert verification.valid and verification.data is not None
    assert str(verification.data.session_id) == body["sessionId"]
    assert verification.data.project_id == seeded.project_id
    with transaction(rt.sessions) as db:
        row = db.get(RecordedSession, int(str(body["sessionId"])))
        assert row is not None
        assert (row.page_url, row.user_agent, row.user_id) == ("https://shop.example/cart", "UA", "u-1")
        assert row.metadata_ == {"plan": "pro", "seats": 3}
        assert abs(row.token_expires_at.timestamp() - (time.time() + 7200)) < 60


def test_continuing_starts_keep_at_most_fifty_metadata_keys(
    client: TestClient, seeded: Seeded, rt: Runtime
) -> None:
    """Each start may send 50 keys; the starts that continue a session merge theirs into the
    session's, which keeps the first 50 keys (their values updated) and drops the rest."""
    first = start(client, projectKey=seeded.project_key, metadata={f"a{n}": n for n in range(50)})
    for round_ in range(3):
        metadata = {"a0": f"round {round_}", **{f"b{round_}-{n}": n for n in range(49)}}
        again = start(client, projectKey=seeded.project_key, token=first["token"], metadata=metadata)
        assert again["sessionId"] == first["sessionId"]
    with transaction(rt.sessions) as db:
        row = db.get(RecordedSession, int(str(first["sessionId"])))
        assert row is not None
        assert row.metadata_ == {**{f"a{n}": n for n in range(50)}, "a0": "round 2"}


def test_valid_token_of_same_project_continues_the_session(
    client: TestClient, seeded: Seeded, rt: Runtime
) -> None:
    first = start(client, projectKey=seeded.project_key, url="https://a/1")
    again = start(client, projectKey=seeded.project_key, url="https://a/2", token=first["token"])
    assert again["sessionId"] == first["sessionId"]
    assert again["token"] == first["token"]
    assert session_count(rt) == 1


def test_token_of_another_project_or_forged_starts_a_new_session(
    client: TestClient, seeded: Seeded, rt: Runtime
) -> None:
    other = start(client, projectKey=seeded.other_project_key)
    mine = start(client, projectKey=seeded.project_key, token=other["token"])
    assert mine["sessionId"] != other["sessionId"]
    forged = TokenSigner(b"attacker-key-000000000").mint(
        int(str(mine["sessionId"])), seeded.project_id, 2**33
    )
    fresh = start(client, projectKey=seeded.project_key, token=forged)
    assert fresh["sessionId"] != mine["sessionId"]
    garbage = start(client, projectKey=seeded.project_key, token="not a token at all")
    assert garbage["sessionId"] not in (mine["sessionId"], fresh["sessionId"])
    assert session_count(rt) == 4


def test_unknown_project_key(client: TestClient, seeded: Seeded, rt: Runtime) -> None:
    response = client.post(URL, json={"projectKey": "nope"})
    assert response.status_code == 404
    assert response.json()["error"]["code"] == "unknown_project"
    assert "replaylink project list" in response.json()["error"]["message"]
    assert session_count(rt) == 0


def test_a_compressed_start_or_an_infinite_metadata_number_is_refused_clearly(
    client: TestClient, seeded: Seeded, rt: Runtime
) -> None:
    body = json.dumps({"projectKey": seeded.project_key}).encode()
    for content in (gzip.compress(body), body):  # gzip bytes, or plain JSON wrongly labelled gzip
        answer = client.post(
            URL, content=content, headers={"Content-Type": "application/json", "Content-Encoding": "gzip"}
        )
        assert answer.status_code == 415, answer.text
        assert answer.json()["error"]["code"] == "unsupported_encoding"
        assert "Content-Encoding" in answer.json()["error"]["message"]
    huge = b'{"projectKey": "%s", "metadata": {"big": 1e400}}' % seeded.project_key.encode()
    answer = client.post(URL, content=huge, headers={"Content-Type": "application/json"})
    assert 400 <= answer.status_code < 500 and "metadata" in answer.text, answer.text
    assert session_count(rt) == 0


def test_bad_input_gets_a_clear_4xx_and_writes_nothing(
    client: TestClient, seeded: Seeded, rt: Runtime
) -> None:
    malformed = client.post(URL, content=b"{not json", headers={"content-type": "application/json"})
    assert malformed.status_code == 400
    assert malformed.json()["error"]["code"] == "malformed_json"

    wrong_types = client.post(URL, json={"projectKey": seeded.project_key, "url": 5, "metadata": [1]})
    assert wrong_types.status_code == 422
    error = wrong_types.json()["error"]
    assert error["code"] == "invalid_request"
    assert {d["field"] for d in error["details"]} >= {"url", "metadata"}

    missing = client.post(URL, json={})
    assert missing.status_code == 422
    assert missing.json()["error"]["details"][0]["field"] == "projectKey"

    huge = client.post(URL, json={"projectKey": seeded.project_key, "url": "x" * 70_000})
    assert huge.status_code == 413
    assert huge.json()["error"]["code"] == "body_too_large"

    streamed = client.post(
        URL,
        content=iter(
            [b'{"projectKey": "' + seeded.project_key.encode() + b'", "url": "', b"y" * 70_000, b'"}']
        ),
        headers={"content-type": "application/json"},
    )
    assert streamed.status_code == 413
    assert session_count(rt) == 0


def test_cors_is_enforced_per_project(client: TestClient, seeded: Seeded, rt: Runtime) -> None:
    preflight = client.options(
        URL, headers={"Origin": "https://shop.example", "Access-Control-Request-Method": "POST"}
    )
    assert preflight.status_code == 204
    assert preflight.headers["access-control-allow-origin"] == "https://shop.example"

    ok = client.post(URL, json={"projectKey": seeded.project_key}, headers={"Origin": "https://any.example"})
    assert ok.headers["access-control-allow-origin"] == "https://any.example"

    with transaction(rt.sessions) as db:
        project = db.get(Project, seeded.project_id)
        assert project is not None
        project.allowed_origins = ["https://shop.example"]
    allowed = client.post(
        URL, json={"projectKey": seeded.project_key}, headers={"Origin": "https://shop.example"}
    )
    assert allowed.status_code == 200
    refused = client.post(
        URL, json={"projectKey": seeded.project_key}, headers={"Origin": "https://evil.example"}
    )
    assert refused.status_code == 403
    assert "access-control-allow-origin" not in refused.headers
    assert session_count(rt) == 2


def test_nul_characters_are_refused_and_nothing_written(
    client: TestClient, seeded: Seeded, rt: Runtime
) -> None:
    response = client.post(URL, json={"projectKey": seeded.project_key, "url": "https://a/\u0000"})
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "nul_character"
    escaped_backslash = client.post(URL, json={"projectKey": seeded.project_key, "url": "C:\\u0000dir"})
    assert escaped_backslash.status_code == 200  # a literal backslash then "u0000" is fine
    assert session_count(rt) == 1


def test_a_body_must_be_sent_as_json(client: TestClient, seeded: Seeded, rt: Runtime) -> None:
    body = b'{"projectKey": "' + seeded.project_key.encode() + b'"}'
    for headers in ({"content-type": "text/plain"}, {}):
        answer = client.post(URL, content=body, headers=headers)
        assert answer.status_code == 422
        assert answer.json()["error"]["details"] == [{"field": "body", "message": NOT_A_JSON_OBJECT}]
    empty = client.post(URL, content=b"", headers={"content-type": "application/json"})
    assert empty.status_code == 422
    assert empty.json()["error"]["details"] == [{"field": "body", "message": "Field required"}]
    vendor = client.post(URL, content=body, headers={"content-type": "application/vnd.x+json; charset=utf-8"})
    assert vendor.status_code == 200
    assert session_count(rt) == 1


def test_the_docs_describe_the_body_and_the_answer(client: TestClient) -> None:
    operation = client.get("/openapi.json").json()["paths"][URL]["post"]
    body = operation["requestBody"]["content"]["application/json"]["schema"]
    assert body["required"] == ["projectKey"]
    assert {"projectKey", "url", "userAgent", "userId", "metadata", "token"} <= set(body["properties"])
    answer = operation["responses"]["200"]["content"]["application/json"]["schema"]
    assert answer == {"$ref": "#/components/schemas/SessionStarted"}
