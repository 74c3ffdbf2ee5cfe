"""Session starts written in batches (SQLite and PostgreSQL): concurrent starts, continuations in a
batch, one refused start among many, origins changed between starts."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from sqlalchemy import func, select

from replaylink import ids
from replaylink.api import ingest
from replaylink.api.app import create_app
from replaylink.runtime import Runtime
from replaylink.store.db import transaction
from replaylink.store.models import Project, RecordedSession
from replaylink.store.sessions import SessionStart, start_sessions
from tests.conftest import Seeded
from tests.test_concurrency import ORIGIN, assert_internal, start_body

URL = "/ingest/v1/sessions"
LIFETIME = timedelta(hours=2)


def new_start(project_id: int, **fields: Any) -> SessionStart:
    values: dict[str, Any] = {
        "project_id": project_id,
        "page_url": "",
        "user_agent": "UA",
        "user_id": None,
        "metadata": None,
        "token": None,
        "at": datetime.now(UTC),
    }
    values.update(fields)
    return SessionStart(**values)


async def starts_at_once(rt: Runtime, bodies: Sequence[dict[str, Any]]) -> list[httpx.Response]:
    transport = httpx.ASGITransport(app=create_app(rt))
    async with httpx.AsyncClient(transport=transport, base_url="http://replaylink") as http:
        return list(await asyncio.gather(*(http.post(URL, json=b, headers=ORIGIN) for b in bodies)))


def batches(monkeypatch: pytest.MonkeyPatch) -> list[list[str]]:
    """The page URLs of each batch the session starts are written in, from now on."""
    seen: list[list[str]] = []
    write = ingest._write_starts

    def recording(rt: Runtime, requests: Sequence[ingest.StartRequest]) -> list[Any]:
        seen.append([r.body.url for r in requests])
        return write(rt, requests)

    monkeypatch.setattr(ingest, "_write_starts", recording)
    return seen


def test_concurrent_starts_are_written_in_batches_each_exactly_once(
    rt: Runtime, seeded: Seeded, monkeypatch: pytest.MonkeyPatch
) -> None:
    written = batches(monkeypatch)
    answers = asyncio.run(starts_at_once(rt, [start_body(seeded.project_key, i) for i in range(60)]))

    assert [a.status_code for a in answers] == [200] * 60
    ids = [int(a.json()["sessionId"]) for a in answers]
    assert len(set(ids)) == 60
    assert sum(map(len, written)) == 60 and max(map(len, written)) > 1
    with transaction(rt.sessions) as db:
        rows = {r.id: r for r in db.scalars(select(RecordedSession))}
    assert sorted(rows) == sorted(ids)
    for answer, body in zip(answers, (start_body(seeded.project_key, i) for i in range(60)), strict=True):
        row = rows[int(answer.json()["sessionId"])]
        assert (row.page_url, row.user_agent, row.user_id) == (body["url"], body["userAgent"], body["userId"])
        assert row.metadata_ == body["metadata"]
        assert row.token == answer.json()["token"]
        verification = rt.signer.verify(row.token)
        assert verification.valid and verification.data is not None
        assert verification.data.session_id == row.id


def test_one_failing_start_among_many_fails_alone(
    rt: Runtime, seeded: Seeded, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """A start the database refuses (here: made to fail) answers 500 ``internal`` with its request
    id; the starts written in the same batch are answered and stored."""
    write = ingest.start_sessions

    def refusing(db: Any, signer: Any, lifetime: timedelta, starts: Sequence[SessionStart]) -> Any:
        if any(s.page_url == "https://shop.example/p/7" for s in starts):
            raise RuntimeError("the database refused this row")
        return write(db, signer, lifetime, starts)

    monkeypatch.setattr(ingest, "start_sessions", refusing)
    written = batches(monkeypatch)
    answers = asyncio.run(starts_at_once(rt, [start_body(seeded.project_key, i) for i in range(30)]))

    assert [i for i, a in enumerate(answers) if a.status_code != 200] == [7]
    request_id = assert_internal(answers[7], leaked=("refused this row",))
    assert any(request_id in r.getMessage() and r.exc_info for r in caplog.records)
    with_others, alone = (b for b in written if "https://shop.example/p/7" in b)  # then written alone
    assert len(with_others) > 1 and len(alone) == 1
    stored = {int(a.json()["sessionId"]) for i, a in enumerate(answers) if i != 7}
    with transaction(rt.sessions) as db:
        assert set(db.scalars(select(RecordedSession.id))) == stored


def test_unknown_projects_and_refused_origins_do_not_fail_their_batch(rt: Runtime, seeded: Seeded) -> None:
    with transaction(rt.sessions) as db:
        other = db.get(Project, seeded.other_project_id)
        assert other is not None
        other.allowed_origins = ["https://elsewhere.example"]
    bodies = [
        start_body(
            seeded.project_key if i % 3 == 0 else seeded.other_project_key if i % 3 == 1 else "nope", i
        )
        for i in range(30)
    ]
    answers = asyncio.run(starts_at_once(rt, bodies))

    codes = [a.status_code if a.status_code == 200 else a.json()["error"]["code"] for a in answers]
    assert codes == [[200, "origin_not_allowed", "unknown_project"][i % 3] for i in range(30)]
    with transaction(rt.sessions) as db:
        assert db.scalar(select(func.count()).select_from(RecordedSession)) == 10


def test_continuations_in_one_batch(rt: Runtime, seeded: Seeded) -> None:
    with transaction(rt.sessions) as db:
        (first,) = start_sessions(
            db, rt.signer, LIFETIME, [new_start(seeded.project_id, page_url="https://a/1", metadata={"a": 1})]
        )
    later = datetime.now(UTC) + timedelta(minutes=5)
    with transaction(rt.sessions) as db:
        answers = start_sessions(
            db,
            rt.signer,
            LIFETIME,
            [
                new_start(
                    seeded.project_id, page_url="https://a/2", metadata={"b": 2}, token=first.token, at=later
                ),
                new_start(seeded.project_id, page_url="https://b/1"),
                new_start(seeded.project_id, user_id="u-9", metadata={"a": 3}, token=first.token),
                new_start(seeded.other_project_id, token=first.token),  # another project's token: new
            ],
        )

    continued, fresh, again, other = answers
    assert (continued.id, continued.token, continued.expires_at) == (first.id, first.token, first.expires_at)
    assert (again.id, again.token) == (first.id, first.token)
    assert len({first.id, fresh.id, other.id}) == 3
    assert other.project_id == seeded.other_project_id
    with transaction(rt.sessions) as db:
        row = db.get(RecordedSession, first.id)
        assert row is not None
        assert (row.page_url, row.user_id) == ("https://a/2", "u-9")
        assert row.metadata_ == {"a": 3, "b": 2}
        assert abs((row.last_seen_at - later).total_seconds()) < 0.001  # the later of the two
        assert db.scalar(select(func.count()).select_from(RecordedSession)) == 3


def test_expired_or_unknown_sessions_start_anew(rt: Runtime, seeded: Seeded) -> None:
    with transaction(rt.sessions) as db:
        (first,) = start_sessions(db, rt.signer, LIFETIME, [new_start(seeded.project_id)])
    expired = rt.signer.mint(first.id, seeded.project_id, int(datetime.now(UTC).timestamp()) - 1)
    vanished = rt.signer.mint(first.id + 1, seeded.project_id, int(datetime.now(UTC).timestamp()) + 60)
    with transaction(rt.sessions) as db:
        answers = start_sessions(
            db,
            rt.signer,
            LIFETIME,
            [new_start(seeded.project_id, token=expired), new_start(seeded.project_id, token=vanished)],
        )
    assert first.id not in {a.id for a in answers}
    assert len({a.id for a in answers}) == 2


def test_a_changed_origin_is_seen_by_the_next_batch(rt: Runtime, seeded: Seeded) -> None:
    allowed = asyncio.run(starts_at_once(rt, [start_body(seeded.project_key, i) for i in range(5)]))
    assert {a.status_code for a in allowed} == {200}
    with transaction(rt.sessions) as db:
        project = db.get(Project, seeded.project_id)
        assert project is not None
        project.allowed_origins = ["https://other.example"]
    refused = asyncio.run(starts_at_once(rt, [start_body(seeded.project_key, i) for i in range(5)]))
    assert {a.json()["error"]["code"] for a in refused} == {"origin_not_allowed"}
    assert all("access-control-allow-origin" not in a.headers for a in refused)


def test_an_id_already_taken_in_the_same_millisecond_is_drawn_again(
    rt: Runtime, seeded: Seeded, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Ids are the millisecond and 22 random bits: another batch or process may have stored the
    same one. The batch is written again with new ids, and its start succeeds."""
    bits = iter([7, 7, 9])
    monkeypatch.setattr(ids.secrets, "randbits", lambda _n: next(bits))
    at = datetime.now(UTC)
    body = ingest.SessionStart.model_validate(start_body(seeded.project_key, 1))

    def write() -> ingest.StartedSession:
        (outcome,) = ingest._write_starts(rt, [ingest.StartRequest(body, ORIGIN["Origin"], at)])
        assert isinstance(outcome, ingest.StartedSession)
        return outcome

    first = write()
    second = write()  # draws the stored id first, then another
    assert (first.id & 0x3FFFFF, second.id & 0x3FFFFF) == (7, 9)
    assert second.id >> 22 == first.id >> 22  # the same millisecond
    verified = rt.signer.verify(second.token, now=at.timestamp()).data
    assert verified is not None and verified.session_id == second.id
    with transaction(rt.sessions) as db:
        assert set(db.scalars(select(RecordedSession.id))) == {first.id, second.id}
