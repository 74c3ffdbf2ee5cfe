"""`replaylink import`'s summary line names the rejected records in words, not as a Python dict."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from typer.testing import CliRunner

from replaylink.cli import app
from replaylink.runtime import Runtime
from replaylink.tokens import TokenSigner
from tests.conftest import TEST_ENCRYPTION, TEST_SECRET, Seeded
from tests.importer_support import Clock, add_integration, new_session
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


@pytest.mark.usefixtures("env")
def test_import_lists_rejected_records_by_reason(
    rt: Runtime, seeded: Seeded, datadog: datadog_fake.RunningDatadog
) -> None:
    raw = {
        "api_key": datadog_fake.API_KEY,
        "application_key": datadog_fake.APPLICATION_KEY,
        "base_url": datadog.url,
    }
    add_integration(rt, seeded.project_id, "datadog", raw, Clock())
    now = datetime.now(UTC).replace(microsecond=0)
    sid, token = new_session(rt, seeded.project_id, now - timedelta(hours=1), lifetime=timedelta(hours=6))
    forged = TokenSigner(b"attacker-key-0000000000").mint(sid, seeded.project_id, 2**33)

    def line(tok: str, minutes: int, log_id: str) -> dict[str, object]:
        message = f"[openReplaySessionToken={tok}] checkout failed"
        return datadog_fake.make_log(
            message, timestamp=now - timedelta(minutes=minutes), status="error", log_id=log_id
        )

    datadog.state.add_records([line(token, 30, "ok-1"), line(forged, 20, "forged-1")])

    result = runner.invoke(
        app,
        ["import", "--project", str(seeded.project_id), "--integration", "datadog/default", "--since", "2h"],
    )

    assert result.exit_code == 0, result.output
    summary = result.output.strip().splitlines()[-1]
    assert summary == "scanned 2, matched 1, new events 1, rejected: forged 1", result.output
