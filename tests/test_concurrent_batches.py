"""Replay batches written while session starts and API writes run, against a real ``serve``.

A batch's one database write waits for its turn like every other writer (on SQLite behind the
app's write gate), so batches neither fail nor make other writers fail; every batch is stored once.
"""

from __future__ import annotations

import asyncio
import gzip

import httpx
from sqlalchemy import func, select

from replaylink.runtime import Runtime
from replaylink.store.db import transaction
from replaylink.store.models import ReplaySegment
from tests.conftest import Seeded
from tests.replay_support import BATCHES, encode, make_batch
from tests.test_concurrency import ORIGIN, served, start_body  # noqa: F401 (served is a fixture)

SESSIONS = 20
BATCHES_PER_SESSION = 3


async def traffic(base: str, seeded: Seeded) -> tuple[list[httpx.Response], int]:
    """Start ``SESSIONS`` sessions, then send all their batches at once, beside as many session
    starts and ten API writes. Returns every answer and how many batches were sent."""
    limits = httpx.Limits(max_connections=2 * SESSIONS * BATCHES_PER_SESSION)
    async with httpx.AsyncClient(base_url=base, timeout=60, limits=limits) as http:
        started = await asyncio.gather(
            *(
                http.post("/ingest/v1/sessions", json=start_body(seeded.project_key, i), headers=ORIGIN)
                for i in range(SESSIONS)
            )
        )
        tokens = [answer.json()["token"] for answer in started]
        headers = {**ORIGIN, "Content-Type": "application/json", "Content-Encoding": "gzip"}
        calls = [
            http.post(
                BATCHES,
                content=gzip.compress(encode(make_batch(seq))),
                headers={**headers, "Authorization": f"Bearer {token}"},
            )
            for token in tokens
            for seq in range(BATCHES_PER_SESSION)
        ]
        sent = len(calls)
        calls += [
            http.post("/ingest/v1/sessions", json=start_body(seeded.project_key, 100 + i), headers=ORIGIN)
            for i in range(SESSIONS)
        ]
        calls += [
            http.post("/api/v1/projects", json={"name": f"batch-{i}"}, headers=seeded.auth())
            for i in range(10)
        ]
        return [*started, *await asyncio.gather(*calls)], sent


def test_batches_starts_and_api_writes_at_once_all_succeed(
    served: str,  # noqa: F811 (the fixture imported above)
    rt: Runtime,
    seeded: Seeded,
) -> None:
    answers, sent = asyncio.run(traffic(served, seeded))

    failed = [(a.request.url.path, a.status_code, a.text[:200]) for a in answers if a.is_error]
    assert failed == []
    assert [a.status_code for a in answers if a.request.url.path == BATCHES] == [204] * sent
    with transaction(rt.sessions) as db:
        assert db.scalar(select(func.count()).select_from(ReplaySegment)) == sent
