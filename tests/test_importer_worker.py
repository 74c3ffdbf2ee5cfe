"""The importer loop's throughput guards: a busy worker claims as soon as a slot frees, and polls
do not rebuild TLS state (each used to load the CA bundle twice, capping a worker at a dozen polls
per second)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import func, make_url, select, update

from replaylink import outbound
from replaylink.importer import leases
from replaylink.importer.worker import Importer
from replaylink.integrations.settings import context
from replaylink.runtime import Runtime
from replaylink.runtime_importer import poll_context
from replaylink.store.db import transaction
from replaylink.store.models import Integration
from tests.conftest import Seeded, make_settings
from tests.importer_support import Clock, add_integration, context_for, one_round
from tests.peers import datadog_fake
from tests.peers.tcp_proxy import proxying


@pytest.fixture
def rt(db_url: str, tmp_path: Any) -> Iterator[Runtime]:
    runtime = Runtime(make_settings(tmp_path / "data", db_url, settle_seconds=0, provider_retries=0))
    yield runtime
    runtime.close()


async def until(condition: Callable[[], bool], running: asyncio.Task[None]) -> None:
    """Wait (at most 60 s) for ``condition``, or for the worker's ``running`` task to end."""
    deadline = time.monotonic() + 60
    while not condition() and time.monotonic() < deadline and not running.done():
        await asyncio.sleep(0.1)


async def test_a_busy_worker_claims_again_when_a_poll_ends(rt: Runtime, seeded: Seeded) -> None:
    raw_key = {"api_key": datadog_fake.API_KEY, "application_key": datadog_fake.APPLICATION_KEY}
    with datadog_fake.running() as fake:
        for n in range(3):
            raw = {**raw_key, "base_url": fake.url}
            add_integration(rt, seeded.project_id, "datadog", raw, Clock(datetime.now(UTC)), name=f"dd-{n}")
        # One slot and a long idle sleep: only claiming on a freed slot polls all three promptly.
        importer = Importer(poll_context(rt), concurrency=1, idle_sleep=600)
        running = asyncio.create_task(importer.run())

        def polled() -> int:
            with transaction(rt.sessions) as db:
                query = select(func.count()).where(Integration.last_success_at.is_not(None))
                return int(db.scalar(query) or 0)

        await until(lambda: polled() >= 3, running)
        done = polled()
        importer.stop()
        await asyncio.wait_for(running, timeout=30)

    assert done == 3


def test_guarded_transports_share_their_tls_context() -> None:
    first, second = outbound.GuardedTransport(), outbound.GuardedTransport(block_private=True)
    assert first._pool._ssl_context is second._pool._ssl_context
    unverified = outbound.GuardedTransport(verify=False)
    assert unverified._pool._ssl_context is not first._pool._ssl_context
    assert unverified._pool._ssl_context is outbound.GuardedTransport(verify=False)._pool._ssl_context


async def test_a_worker_keeps_each_provider_open_until_its_settings_change_or_a_poll_fails(
    rt: Runtime, seeded: Seeded
) -> None:
    clock = Clock(datetime.now(UTC))
    with datadog_fake.running() as fake:
        raw = {
            "api_key": datadog_fake.API_KEY,
            "application_key": datadog_fake.APPLICATION_KEY,
            "base_url": fake.url,
        }
        integration_id = add_integration(rt, seeded.project_id, "datadog", raw, clock)
        importer = Importer(context_for(rt, clock), owner="worker-a")

        async def poll() -> str:
            clock.advance(seconds=20)
            (result,) = await one_round(importer)
            return result.outcome

        assert await poll() == "ok"
        first = importer.providers.opened(integration_id)
        assert first is not None
        assert await poll() == "ok"
        assert importer.providers.opened(integration_id) is first  # same client, same connections

        with transaction(rt.sessions) as db:  # the secrets saved again (a new ciphertext)
            row = db.get_one(Integration, integration_id)
            row.secrets = rt.vault.encrypt(rt.vault.decrypt(row.secrets or "", context(row)), context(row))
        assert await poll() == "ok"
        second = importer.providers.opened(integration_id)
        assert second is not None and second is not first

        with transaction(rt.sessions) as db:  # a provider that refuses the key: the poll fails
            row = db.get_one(Integration, integration_id)
            secrets = {**rt.vault.decrypt(row.secrets or "", context(row)), "api_key": "wrong-key"}
            row.secrets = rt.vault.encrypt(secrets, context(row))
        assert await poll() == "needs_attention"
        assert importer.providers.opened(integration_id) is None  # the next poll opens afresh

        await importer.providers.aclose()
        assert len(importer.providers) == 0


async def test_a_worker_claims_a_batch_of_slots_at_a_time(
    rt: Runtime, monkeypatch: pytest.MonkeyPatch
) -> None:
    """With 8 slots the batch is 2: one free slot waits (here up to claim_wait, 600 s) for a second."""
    importer = Importer(poll_context(rt), concurrency=8, claim_wait=600, idle_sleep=600)
    loop = asyncio.get_running_loop()
    limits: list[int] = []
    claimed = asyncio.Event()

    def claim_due(_sessions: Any, _owner: str, _now: Any, limit: int, _lease_for: Any) -> list[Any]:
        limits.append(limit)
        loop.call_soon_threadsafe(claimed.set)
        return []

    monkeypatch.setattr(leases, "claim_due", claim_due)
    busy = {n: loop.create_future() for n in range(7)}  # seven polls in flight: one slot free
    importer._running.update(busy)  # type: ignore[arg-type]
    importer._next_purge = datetime.now(UTC) + timedelta(days=1)  # run() goes straight to its slots
    running = asyncio.create_task(importer.run())
    await asyncio.sleep(0)  # run() now waits for a second free slot
    importer._running.pop(0)  # a second slot frees: a batch of two
    busy[0].set_result(None)
    await asyncio.wait_for(claimed.wait(), timeout=30)
    importer.stop()
    await asyncio.wait_for(running, timeout=30)
    assert limits[0] == 2


CLAIM_FAILED = "claiming due integrations failed"


@pytest.mark.parametrize("db_url", [pytest.param("postgres", marks=pytest.mark.postgres)], indirect=True)
async def test_a_worker_outlives_a_database_restart(
    rt: Runtime, seeded: Seeded, db_url: str, tmp_path: Any, caplog: pytest.LogCaptureFixture
) -> None:
    """The database goes away (every connection drops, new ones are refused) and comes back: the
    worker keeps retrying its claims, backing off, and imports again once it can, instead of
    exiting."""
    raw_key = {"api_key": datadog_fake.API_KEY, "application_key": datadog_fake.APPLICATION_KEY}

    def last_success() -> datetime | None:
        with transaction(rt.sessions) as db:
            return db.scalar(select(Integration.last_success_at))

    def claims_failed() -> int:
        return sum(CLAIM_FAILED in r.getMessage() for r in caplog.records)

    url = make_url(db_url)
    with datadog_fake.running() as fake, proxying((url.host or "", url.port or 5432)) as database:
        proxied = url.set(port=database.port).render_as_string(hide_password=False)
        # A short lease: a poll the outage cut off keeps its lease until it runs out.
        settings = make_settings(
            tmp_path / "w", proxied, settle_seconds=0, provider_retries=0, lease_seconds=6
        )
        worker_rt = Runtime(settings)
        add_integration(rt, seeded.project_id, "datadog", {**raw_key, "base_url": fake.url}, Clock())
        importer = Importer(poll_context(worker_rt), idle_sleep=0.1)
        running = asyncio.create_task(importer.run())
        try:
            await until(lambda: last_success() is not None, running)
            first = last_success()
            database.down()
            with transaction(rt.sessions) as db:
                db.execute(update(Integration).values(next_poll_at=datetime.now(UTC)))  # due now
            await until(lambda: claims_failed() >= 3, running)
            failed_while_down = claims_failed()
            database.up()
            await until(lambda: (last_success() or first) > first, running)  # type: ignore[operator]
            again = last_success()
            alive = not running.done()
        finally:
            importer.stop()
            await asyncio.wait_for(running, timeout=30)
            worker_rt.close()

    assert failed_while_down >= 3
    assert alive and first is not None and again is not None and again > first
