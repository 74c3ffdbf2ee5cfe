"""`replaylink import`: backfill a past window of one integration from the command line."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from replaylink.cli import app
from replaylink.runtime import Runtime
from replaylink.tokens import TokenSigner
from tests.conftest import TEST_ENCRYPTION, TEST_SECRET, Seeded
from tests.importer_support import Clock, add_integration, events, integration, new_session
from tests.peers import datadog_fake

runner = CliRunner()


@pytest.fixture
def env(db_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("REPLAYLINK_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("REPLAYLINK_DATABASE_URL", db_url)
    monkeypatch.setenv("REPLAYLINK_SECRET_KEY", TEST_SECRET)
    monkeypatch.setenv("REPLAYLINK_ENCRYPTION_KEY", TEST_ENCRYPTION)
    monkeypatch.setenv("REPLAYLINK_PROVIDER_RETRIES", "0")
    monkeypatch.setenv("COLUMNS", "200")


@pytest.fixture
def integration_id(rt: Runtime, seeded: Seeded, datadog: datadog_fake.RunningDatadog) -> int:
    raw = {
        "api_key": datadog_fake.API_KEY,
        "application_key": datadog_fake.APPLICATION_KEY,
        "base_url": datadog.url,
    }
    return add_integration(rt, seeded.project_id, "datadog", raw, Clock())


def invoke(*args: str) -> tuple[int, str]:
    result = runner.invoke(app, ["import", *args])
    return result.exit_code, result.output


def summary(output: str) -> dict[str, int]:
    found = re.search(r"scanned (\d+), matched (\d+), new events (\d+)", output)
    assert found, output
    scanned, matched, new = map(int, found.groups())
    return {"scanned": scanned, "matched": matched, "new": new}


@pytest.mark.usefixtures("env")
def test_backfill_imports_the_window_once_and_reports(
    rt: Runtime, seeded: Seeded, datadog: datadog_fake.RunningDatadog, integration_id: int
) -> None:
    now = datetime.now(UTC)
    sid, token = new_session(rt, seeded.project_id, now - timedelta(hours=4), lifetime=timedelta(hours=6))
    forged = TokenSigner(b"attacker-key-0000000000").mint(sid, seeded.project_id, 2**33)

    def line(text: str, tok: str, ago: timedelta, log_id: str) -> dict[str, object]:
        message = f"[openReplaySessionToken={tok}] {text}"
        return datadog_fake.make_log(message, timestamp=now - ago, status="error", log_id=log_id)

    datadog.state.add_records(
        [
            line("checkout failed", token, timedelta(minutes=95), "in-1"),
            line("refund failed", token, timedelta(minutes=30), "in-2"),
            line("forged", forged, timedelta(minutes=20), "in-forged"),
            line("too old", token, timedelta(hours=3), "out-1"),
        ]
    )
    before = integration(rt, integration_id)

    code, output = invoke(
        "--project", str(seeded.project_id), "--integration", "datadog/default", "--since", "2h"
    )

    assert code == 0, output
    assert summary(output) == {"scanned": 3, "matched": 2, "new": 2}
    assert output.strip().splitlines()[-1].endswith(", rejected: forged 1"), output  # in words
    assert [e.provider_record_id for e in events(rt, session_id=sid)] == ["in-1", "in-2"]

    again_code, again = invoke(
        "--project", str(seeded.project_id), "--integration", "default", "--since", "2h"
    )

    assert again_code == 0, again
    assert summary(again) == {"scanned": 3, "matched": 2, "new": 0}
    assert [e.provider_record_id for e in events(rt)] == ["in-1", "in-2"]
    after = integration(rt, integration_id)
    # A backfill neither moves the worker's checkpoint nor takes its lease.
    assert (after.checkpoint, after.lease_owner, after.lease_version) == (
        before.checkpoint,
        None,
        before.lease_version,
    )


@pytest.mark.usefixtures("env")
def test_backfill_with_until_reads_only_that_window(
    rt: Runtime, seeded: Seeded, datadog: datadog_fake.RunningDatadog, integration_id: int
) -> None:
    now = datetime.now(UTC).replace(microsecond=0)
    sid, token = new_session(rt, seeded.project_id, now - timedelta(hours=5), lifetime=timedelta(hours=6))
    datadog.state.add_records(
        [
            datadog_fake.make_log(
                f"[openReplaySessionToken={token}] at {hours} h",
                timestamp=now - timedelta(hours=hours),
                log_id=f"h{hours}",
                status="error",
            )
            for hours in (1, 3)
        ]
    )
    since = (now - timedelta(hours=4)).isoformat()
    until = (now - timedelta(hours=2)).isoformat()

    code, output = invoke(
        "--project",
        str(seeded.project_id),
        "--integration",
        "datadog/default",
        "--since",
        since,
        "--until",
        until,
    )

    assert code == 0, output
    assert summary(output)["new"] == 1
    assert [e.provider_record_id for e in events(rt, session_id=sid)] == ["h3"]


@pytest.mark.usefixtures("env")
def test_unknown_integration_and_bad_window_fail_clearly(seeded: Seeded, integration_id: int) -> None:
    project = str(seeded.project_id)

    code, output = invoke("--project", project, "--integration", "datadog/nope", "--since", "2h")
    assert code == 1
    assert "No integration matches 'datadog/nope'" in output
    assert f"GET /api/v1/projects/{project}/integrations" in output

    code, output = invoke("--project", str(seeded.other_project_id), "--integration", "datadog/default")
    assert code == 1 and "No integration matches" in output

    code, output = invoke(
        "--project", project, "--integration", "datadog/default", "--since", "1h", "--until", "2h"
    )
    assert code == 1 and "--since must be before --until" in output

    code, output = invoke("--project", project, "--integration", "datadog/default", "--since", "yesterday")
    assert code == 2 and "neither a duration" in output


@pytest.mark.usefixtures("env")
def test_provider_errors_are_reported_without_secrets(
    seeded: Seeded, datadog: datadog_fake.RunningDatadog, integration_id: int
) -> None:
    datadog.state.api_key = "rotated-away"

    code, output = invoke(
        "--project", str(seeded.project_id), "--integration", "datadog/default", "--since", "1h"
    )

    assert code == 1
    assert "error:" in output and "Datadog" in output
    assert datadog_fake.API_KEY not in output and datadog_fake.APPLICATION_KEY not in output


async def test_backfill_commits_while_a_worker_commits_between_its_read_and_its_write(
    rt: Runtime,
    seeded: Seeded,
    datadog: datadog_fake.RunningDatadog,
    integration_id: int,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A worker's commit lands after the backfill read the sessions and before it inserts.

    On SQLite (WAL) a transaction that read first cannot write once another connection has
    committed (SQLITE_BUSY_SNAPSHOT, no retry): the backfill must take the write lock first.
    """
    import threading

    from sqlalchemy import update

    from replaylink.importer import poll
    from replaylink.importer.backfill import backfill
    from replaylink.runtime_importer import poll_context
    from replaylink.store.db import transaction
    from replaylink.store.models import Integration

    now = datetime.now(UTC)
    sid, token = new_session(rt, seeded.project_id, now - timedelta(hours=1))
    datadog.state.add_records(
        [
            datadog_fake.make_log(
                f"[openReplaySessionToken={token}] boom",
                timestamp=now - timedelta(minutes=5),
                status="error",
                log_id="b1",
            )
        ]
    )
    original = poll.session_windows
    committed: list[bool] = []

    def worker_commit() -> None:  # like a chunk commit: its first statement is a write
        with transaction(rt.sessions) as other:
            other.execute(
                update(Integration)
                .where(Integration.id == integration_id)
                .values(records_scanned=Integration.records_scanned + 1)
            )
        committed.append(True)

    worker = threading.Thread(target=worker_commit)

    def windows_then_a_worker_commits(db: Any, ids: Any) -> Any:
        found = original(db, ids)
        worker.start()
        worker.join(timeout=2)  # it commits now, or waits for the backfill's write lock
        return found

    monkeypatch.setattr(poll, "session_windows", windows_then_a_worker_commits)
    row = integration(rt, integration_id)
    progress = await backfill(poll_context(rt), row, now - timedelta(minutes=10), now)

    worker.join()
    assert (progress.matched, progress.imported) == (1, 1)
    assert [e.session_id for e in events(rt)] == [sid]
    assert committed == [True]
    assert integration(rt, integration_id).records_scanned == 1
