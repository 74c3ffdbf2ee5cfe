"""`replaylink worker` processes against a Datadog fake served by this test process.

- SIGKILL between fetch and commit, then a restart: every record imported exactly once.
- SIGTERM: a clean stop (exit code 0) that leaves no partial window behind.
- Two workers on PostgreSQL sharing 50 integrations: each polled, never by two at once.

No timing assertions: the tests wait for database states with generous deadlines.
"""

from __future__ import annotations

import itertools
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select, update

from replaylink.config import environment_without_settings
from replaylink.runtime import Runtime
from replaylink.store.db import transaction
from replaylink.store.models import BackendEvent, Integration
from tests.conftest import TEST_ENCRYPTION, TEST_SECRET, Seeded
from tests.importer_support import Clock, add_integration, new_session
from tests.peers import datadog_fake
from tests.peers.common import serve
from tests.peers.datadog_importer_fake import KeyedState, Stall, has_cursor, multi_key_app

BIN = Path(sys.executable).with_name("replaylink")
DEADLINE = 25.0
HEAVY = 12
"""The window chunk (of 24 one-hour chunks) that holds more than one page of records."""
LIGHT = 20


# --------------------------------------------------------------------------- worker processes


@dataclass
class Worker:
    proc: subprocess.Popen[bytes]
    log: Path

    def output(self) -> str:
        return self.log.read_text(errors="replace")


@pytest.fixture
def spawn(tmp_path: Path, db_url: str) -> Iterator[Callable[..., Worker]]:
    """Start ``replaylink worker`` processes on the test's database; kill leftovers at the end."""
    started: list[Worker] = []
    env = environment_without_settings()
    env.update(
        REPLAYLINK_DATABASE_URL=db_url,
        REPLAYLINK_DATA_DIR=str(tmp_path / "worker-data"),
        REPLAYLINK_SECRET_KEY=TEST_SECRET,
        REPLAYLINK_ENCRYPTION_KEY=TEST_ENCRYPTION,
        REPLAYLINK_SETTLE_SECONDS="0",
        REPLAYLINK_LEASE_SECONDS="6",
        REPLAYLINK_PROVIDER_RETRIES="0",
        COLUMNS="200",
    )

    def start(*args: str) -> Worker:
        log = tmp_path / f"worker-{len(started)}.log"
        with log.open("wb") as handle:
            proc = subprocess.Popen(
                [str(BIN), "worker", *args], stdout=handle, stderr=subprocess.STDOUT, env=env
            )
        started.append(Worker(proc, log))
        return started[-1]

    yield start
    for worker in started:
        if worker.proc.poll() is None:
            worker.proc.kill()
            worker.proc.wait(timeout=10)


def wait_for(condition: Callable[[], bool], what: str, *workers: Worker, timeout: float = DEADLINE) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        for worker in workers:
            if worker.proc.poll() is not None:
                pytest.fail(f"worker exited ({worker.proc.returncode}) before {what}:\n{worker.output()}")
        if time.monotonic() > deadline:
            logs = "\n".join(worker.output()[-3000:] for worker in workers)
            pytest.fail(f"timed out waiting for {what}\n{logs}")
        time.sleep(0.1)


def stop(worker: Worker, sig: int = signal.SIGTERM) -> int:
    worker.proc.send_signal(sig)
    try:
        return worker.proc.wait(timeout=DEADLINE)
    except subprocess.TimeoutExpired:
        pytest.fail(f"worker did not stop on signal {sig}:\n{worker.output()}")


# --------------------------------------------------------------------------- data


@dataclass
class Seed:
    session_of: dict[str, int]
    """Expected session per record id."""
    at: dict[str, datetime]
    heavy: list[str]
    """Records of the chunk that spans several pages."""


def seed_day(rt: Runtime, project_id: int, state: datadog_fake.DatadogState, heavy: int) -> Seed:
    """Records in each hour of the last 24 h (the first poll's look-back); ``heavy`` in one hour."""
    now = datetime.now(UTC)
    sessions = [
        new_session(rt, project_id, now - timedelta(hours=25), lifetime=timedelta(hours=48)) for _ in range(5)
    ]
    seed = Seed({}, {}, [])
    logs = []
    for chunk in range(24):
        centre = now - timedelta(hours=23.5 - chunk)  # chunk boundaries fall near whole hours ago
        n = heavy if chunk == HEAVY else LIGHT
        step = timedelta(minutes=40) / n
        for i in range(n):
            record_id = f"log-{chunk:02d}-{i:05d}"
            session_id, token = sessions[i % len(sessions)]
            at = centre - timedelta(minutes=20) + step * i
            logs.append(
                datadog_fake.make_log(
                    f"[openReplaySessionToken={token}] payment failed #{i}",
                    timestamp=at,
                    status="error",
                    log_id=record_id,
                )
            )
            seed.session_of[record_id] = session_id
            seed.at[record_id] = at.replace(microsecond=at.microsecond // 1000 * 1000)
            if chunk == HEAVY:
                seed.heavy.append(record_id)
    state.add_records(logs)
    return seed


def datadog_settings(url: str, api_key: str = datadog_fake.API_KEY) -> dict[str, Any]:
    return {"api_key": api_key, "application_key": datadog_fake.APPLICATION_KEY, "base_url": url}


def stored(rt: Runtime) -> dict[str, int]:
    """provider record id -> session id of every stored event (asserting each is stored once)."""
    with transaction(rt.sessions) as db:
        rows = db.execute(select(BackendEvent.provider_record_id, BackendEvent.session_id)).all()
    found = {record_id: session_id for record_id, session_id in rows}
    assert len(found) == len(rows), "a record was stored twice"
    return found


def row_of(rt: Runtime, integration_id: int) -> Integration:
    with transaction(rt.sessions) as db:
        row = db.get(Integration, integration_id)
        assert row is not None
        return row


def duplicates(rt: Runtime) -> list[Any]:
    with transaction(rt.sessions) as db:
        return list(
            db.execute(
                select(BackendEvent.integration_id, BackendEvent.provider_record_id, func.count())
                .group_by(BackendEvent.integration_id, BackendEvent.provider_record_id)
                .having(func.count() > 1)
            ).all()
        )


def committed_before(seed: Seed, checkpoint: datetime) -> dict[str, int]:
    return {rid: sid for rid, sid in seed.session_of.items() if seed.at[rid] < checkpoint}


# --------------------------------------------------------------------------- tests


def test_sigkill_between_fetch_and_commit_then_restart_imports_each_record_once(
    rt: Runtime, seeded: Seeded, spawn: Callable[..., Worker]
) -> None:
    state = datadog_fake.DatadogState()
    seed = seed_day(rt, seeded.project_id, state, heavy=2500)  # 3 pages of 1000 in one chunk
    stall = Stall(datadog_fake.make_app(state), has_cursor)  # holds the heavy chunk's 2nd page
    with serve(stall) as url:
        integration_id = add_integration(
            rt, seeded.project_id, "datadog", datadog_settings(url), Clock(datetime.now(UTC))
        )
        first = spawn()
        wait_for(stall.stalled.is_set, "the fetch of the heavy chunk's second page", first)

        # The worker holds page 1 of the heavy chunk in memory; earlier chunks are committed.
        checkpoint = row_of(rt, integration_id).checkpoint
        assert checkpoint is not None
        assert checkpoint < min(seed.at[rid] for rid in seed.heavy)
        before = stored(rt)
        assert before == committed_before(seed, checkpoint)
        assert len(before) == HEAVY * LIGHT

        assert stop(first, signal.SIGKILL) == -signal.SIGKILL
        stall.release.set()
        assert stored(rt) == before  # nothing of the interrupted chunk was committed

        second = spawn()  # takes the lease over once it expires, then repeats the chunk
        wait_for(lambda: len(stored(rt)) == len(seed.session_of), "every record to be imported", second)
        wait_for(lambda: row_of(rt, integration_id).lease_owner is None, "the poll to finish", second)
        assert stop(second) == 0, second.output()

    assert stored(rt) == seed.session_of  # each record once, on its own session
    assert duplicates(rt) == []
    row = row_of(rt, integration_id)
    assert row.events_imported == len(seed.session_of)
    assert row.records_scanned >= len(seed.session_of)
    assert row.checkpoint is not None and row.checkpoint > max(seed.at.values())
    assert row.consecutive_failures == 0 and row.last_error is None


def test_sigterm_stops_cleanly_without_a_partial_window(
    rt: Runtime, seeded: Seeded, spawn: Callable[..., Worker]
) -> None:
    state = datadog_fake.DatadogState()
    seed = seed_day(rt, seeded.project_id, state, heavy=1500)
    stall = Stall(datadog_fake.make_app(state), has_cursor)
    with serve(stall) as url:
        integration_id = add_integration(
            rt, seeded.project_id, "datadog", datadog_settings(url), Clock(datetime.now(UTC))
        )
        worker = spawn()
        wait_for(stall.stalled.is_set, "the fetch of the heavy chunk's second page", worker)
        code = stop(worker, signal.SIGTERM)
        stall.release.set()

    assert code == 0, worker.output()
    assert "stopped" in worker.output()
    row = row_of(rt, integration_id)
    assert row.checkpoint is not None
    # The checkpoint never passes what is stored: every record before it is in, none after it.
    assert stored(rt) == committed_before(seed, row.checkpoint)
    assert row.checkpoint < min(seed.at[rid] for rid in seed.heavy)
    assert row.events_imported == HEAVY * LIGHT
    assert row.lease_owner is None and row.lease_expires_at is None  # handed back for the next worker
    assert row.last_error is None


@pytest.mark.parametrize("db_url", [pytest.param("postgres", marks=pytest.mark.postgres)], indirect=True)
def test_two_workers_share_fifty_integrations(
    rt: Runtime, seeded: Seeded, spawn: Callable[..., Worker]
) -> None:
    keyed = KeyedState(delay=0.1)  # a slower answer widens any overlap of two polls
    now = datetime.now(UTC)
    sessions = [new_session(rt, seeded.project_id, now - timedelta(minutes=30)) for _ in range(10)]
    expected: dict[tuple[int, str], int] = {}
    keys: dict[int, str] = {}

    def add_logs(integration_id: int, label: str, at: datetime, count: int) -> None:
        logs = []
        for i in range(count):
            session_id, token = sessions[(integration_id + i) % len(sessions)]
            record_id = f"{label}-{i}"
            logs.append(
                datadog_fake.make_log(
                    f"[openReplaySessionToken={token}] boom {i}",
                    timestamp=at,
                    status="error",
                    log_id=record_id,
                )
            )
            expected[(integration_id, record_id)] = session_id
        keyed.states[keys[integration_id]].add_records(logs)

    with serve(multi_key_app(keyed)) as url:
        for n in range(50):
            key = f"dd-api-key-{n:02d}"
            keyed.add_key(key)
            integration_id = add_integration(
                rt, seeded.project_id, "datadog", datadog_settings(url, key), Clock(now), name=f"dd-{n:02d}"
            )
            keys[integration_id] = key
        with transaction(rt.sessions) as db:  # one short window each, polled every second
            db.execute(
                update(Integration).values(checkpoint=now - timedelta(minutes=2), poll_interval_seconds=1.0)
            )
        for integration_id in keys:
            add_logs(integration_id, "early", now - timedelta(minutes=1), 3)

        owners: set[str] = set()

        def sample_owners() -> None:
            with transaction(rt.sessions) as db:
                owners.update(o for o in db.scalars(select(Integration.lease_owner)) if o is not None)

        def polled_all(times: int) -> bool:
            sample_owners()
            return all(len(keyed.requests(key)) >= times for key in keys.values())

        workers = [spawn("--concurrency", "8"), spawn("--concurrency", "8")]
        wait_for(lambda: polled_all(1), "a first poll of every integration", *workers)
        for integration_id in keys:  # records that arrive while the workers run
            add_logs(integration_id, "late", datetime.now(UTC) - timedelta(seconds=1), 2)
        marks = {key: len(keyed.requests(key)) for key in keys.values()}

        def caught_up() -> bool:
            sample_owners()
            with transaction(rt.sessions) as db:
                count = db.scalar(select(func.count()).select_from(BackendEvent))
            return count == len(expected) and all(
                len(keyed.requests(key)) > marks[key] for key in keys.values()
            )

        wait_for(caught_up, "every record to be imported", *workers)

        def both_hold_leases() -> bool:
            sample_owners()
            return len(owners) == 2

        wait_for(both_hold_leases, "both workers to hold leases", *workers)
        codes = [stop(worker) for worker in workers]

    assert codes == [0, 0], [worker.output() for worker in workers]
    with transaction(rt.sessions) as db:
        rows = db.execute(
            select(BackendEvent.integration_id, BackendEvent.provider_record_id, BackendEvent.session_id)
        ).all()
    assert sorted(((i, r), s) for i, r, s in rows) == sorted(expected.items())  # none missed, none twice
    assert duplicates(rt) == []
    for key in keys.values():
        intervals = sorted(keyed.requests(key))
        assert len(intervals) >= 2
        for (_, end), (start, _) in itertools.pairwise(intervals):
            assert start >= end, f"two polls of {key} overlapped"
