"""`replaylink keys rotate --generate` while processes run: they pick up the new key files live."""

from __future__ import annotations

from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import text
from typer.testing import CliRunner

from replaylink.api.app import create_app
from replaylink.cli import app
from replaylink.config import ENCRYPTION_KEY_FILE, PREVIOUS_ENCRYPTION_KEYS_FILE
from replaylink.importer.worker import Importer
from replaylink.integrations import settings as svc
from replaylink.runtime import Runtime
from replaylink.vault import Vault, VaultError, key_id
from tests.conftest import TEST_ENCRYPTION, Seeded, make_settings
from tests.importer_support import Clock, add_integration, context_for, integration, new_session, one_round
from tests.key_files import file_keyed_data_dir
from tests.peers import datadog_fake
from tests.peers.datadog_fake import make_log

OLD_KEY = TEST_ENCRYPTION
LOST_KEY = "live-rotation-lost-key-0123456789abcdef"
DD_API_KEY = "dd-api-key-live-rotation-0123456789"
DD_APP_KEY = "dd-app-key-live-rotation-9876543210"

runner = CliRunner()


def runtime_for(data: Path, db_url: str) -> Runtime:
    """A process's runtime with the key files of ``data`` (as ``serve`` and ``worker`` build it)."""
    return Runtime(
        make_settings(
            data, db_url, encryption_key=None, settle_seconds=0, overlap_seconds=300, provider_retries=0
        )
    )


@pytest.fixture
def data(tmp_path: Path, db_url: str, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A data dir with the encryption key file, and the CLI's environment to match."""
    return file_keyed_data_dir(tmp_path / "live-data", db_url, monkeypatch)


@pytest.fixture
def running(data: Path, db_url: str) -> Iterator[Runtime]:
    """The runtime of a process started before the rotation, its keys already loaded."""
    runtime = runtime_for(data, db_url)
    assert runtime.vault.current_id == key_id(OLD_KEY.encode())
    yield runtime
    runtime.close()


def rotate(data: Path) -> str:
    """``replaylink keys rotate --generate`` in process; the new key."""
    result = runner.invoke(app, ["keys", "rotate", "--generate"])
    assert result.exit_code == 0, result.output
    new_key = (data / ENCRYPTION_KEY_FILE).read_text().strip()
    assert new_key != OLD_KEY and OLD_KEY not in result.output and new_key not in result.output
    return new_key


def ciphertext(rt: Runtime, integration_id: int) -> str:
    with rt.engine.connect() as conn:
        value = conn.execute(text("SELECT secrets FROM integrations WHERE id = :i"), {"i": integration_id})
        return str(value.scalar_one())


def datadog_raw(url: str) -> dict[str, Any]:
    return {"api_key": datadog_fake.API_KEY, "application_key": datadog_fake.APPLICATION_KEY, "base_url": url}


def test_a_running_runtime_reads_old_and_new_ciphertexts_after_a_rotation(
    running: Runtime, data: Path, clock: Clock
) -> None:
    rt = running
    seeded = Seeded(rt)
    raw = {"api_key": DD_API_KEY, "application_key": DD_APP_KEY, "site": "datadoghq.eu"}
    first = add_integration(rt, seeded.project_id, "datadog", raw, clock)
    row = integration(rt, first)
    before = ciphertext(rt, first)
    assert Vault.key_id_of(before) == key_id(OLD_KEY.encode())

    new_key = rotate(data)
    new_id = key_id(new_key.encode())
    after = ciphertext(rt, first)  # re-encrypted by `keys rotate` under the new key
    assert Vault.key_id_of(after) == new_id and rt.vault.current_id == key_id(OLD_KEY.encode())

    secrets = {"api_key": DD_API_KEY, "application_key": DD_APP_KEY}
    with ThreadPoolExecutor(8) as pool:  # several threads meet the new key at once
        opened = list(pool.map(lambda c: rt.vault.decrypt(c, svc.context(row)), [after, before] * 16))
    assert opened == [secrets] * 32
    assert rt.vault.current_id == new_id and rt.settings.keys.encryption_key == new_key.encode()
    assert rt.settings.keys.previous_encryption_keys == (OLD_KEY.encode(),)
    assert svc.stored_raw(integration(rt, first), rt.vault)["api_key"] == DD_API_KEY

    second = add_integration(rt, seeded.project_id, "datadog", raw, clock, name="after")
    assert Vault.key_id_of(ciphertext(rt, second)) == new_id  # new credentials: the new key
    assert svc.stored_raw(integration(rt, second), rt.vault)["application_key"] == DD_APP_KEY
    assert repr(rt.vault) == f"Vault(current={new_id}, keys=2)"


def test_a_running_vault_encrypts_under_the_new_key_before_any_decryption(
    running: Runtime, data: Path
) -> None:
    new_key = rotate(data)
    sealed = running.vault.encrypt({"token": "x" * 40}, "1/sentry/default")
    assert Vault.key_id_of(sealed) == key_id(new_key.encode())
    assert Vault(new_key.encode()).decrypt(sealed, "1/sentry/default") == {"token": "x" * 40}


async def test_a_running_worker_polls_an_integration_created_after_the_rotation(
    running: Runtime, data: Path, db_url: str, clock: Clock, datadog: datadog_fake.RunningDatadog
) -> None:
    worker = running
    seeded = Seeded(worker)
    importer = Importer(context_for(worker, clock), owner="worker-a")
    assert await one_round(importer) == []  # the worker runs (and has its keys) before the rotation

    new_key = rotate(data)
    serve = runtime_for(data, db_url)  # another process, started after the rotation, saves it
    try:
        integration_id = add_integration(serve, seeded.project_id, "datadog", datadog_raw(datadog.url), clock)
    finally:
        serve.close()
    assert Vault.key_id_of(ciphertext(worker, integration_id)) == key_id(new_key.encode())
    _sid, token = new_session(worker, seeded.project_id, clock.now - timedelta(minutes=10))
    at = clock.now - timedelta(minutes=5)
    datadog.state.add_records(
        [make_log(f"[openReplaySessionToken={token}] payment failed", timestamp=at, status="error")]
    )

    results = await one_round(importer)
    assert [r.outcome for r in results] == ["ok"]
    assert results[0].imported == 1
    row = integration(worker, integration_id)
    assert not row.needs_attention and row.last_error is None and row.consecutive_failures == 0


def test_the_api_of_a_running_server_shows_the_integration_after_a_rotation(
    running: Runtime, data: Path, clock: Clock, datadog: datadog_fake.RunningDatadog
) -> None:
    rt = running
    seeded = Seeded(rt)
    add_integration(rt, seeded.project_id, "datadog", datadog_raw(datadog.url), clock)
    url = f"/api/v1/projects/{seeded.project_id}/integrations/datadog/default"
    with TestClient(create_app(rt)) as client:
        assert client.get(url, headers=seeded.auth()).status_code == 200
        new_key = rotate(data)
        got = client.get(url, headers=seeded.auth())
        assert got.status_code == 200, got.text
        body = got.json()
        assert body["credentials_error"] is None
        assert body["settings"]["api_key"] == svc.mask(datadog_fake.API_KEY)
        checked = client.post(f"{url}/check", headers=seeded.auth())
        assert checked.status_code == 200 and checked.json()["ok"], checked.text
        listed = client.get(f"/api/v1/projects/{seeded.project_id}/integrations", headers=seeded.auth())
        assert listed.status_code == 200 and listed.json()[0]["credentials_error"] is None
    assert new_key not in got.text + checked.text + listed.text


async def test_a_credential_under_a_lost_key_says_what_to_do_and_can_be_fixed(
    running: Runtime, data: Path, clock: Clock, datadog: datadog_fake.RunningDatadog
) -> None:
    rt = running
    seeded = Seeded(rt)
    integration_id = add_integration(rt, seeded.project_id, "datadog", datadog_raw(datadog.url), clock)
    row = integration(rt, integration_id)
    lost = Vault(LOST_KEY.encode()).encrypt(
        {"api_key": datadog_fake.API_KEY, "application_key": datadog_fake.APPLICATION_KEY}, svc.context(row)
    )
    with rt.engine.begin() as conn:
        conn.execute(
            text("UPDATE integrations SET secrets = :s WHERE id = :i"), {"s": lost, "i": integration_id}
        )
    lost_id = key_id(LOST_KEY.encode())

    with pytest.raises(VaultError) as caught:
        svc.stored_raw(integration(rt, integration_id), rt.vault)
    message = str(caught.value)
    assert lost_id in message and "REPLAYLINK_PREVIOUS_ENCRYPTION_KEYS" in message
    assert "previous_encryption_keys" in message and "Preferences > Integrations" in message

    [result] = await one_round(Importer(context_for(rt, clock), owner="worker-a"))
    assert result.outcome == "needs_attention"
    polled = integration(rt, integration_id)
    assert (
        polled.last_error and lost_id in polled.last_error and "previous_encryption_keys" in polled.last_error
    )

    url = f"/api/v1/projects/{seeded.project_id}/integrations/datadog/default"
    with TestClient(create_app(rt)) as client:
        got = client.get(url, headers=seeded.auth())
        assert got.status_code == 200, got.text
        body = got.json()
        assert lost_id in body["credentials_error"] and body["settings"]["api_key"] is None
        assert body["health"]["status"] == "needs_attention"
        checked = client.post(f"{url}/check", headers=seeded.auth())
        assert checked.status_code == 422 and checked.json()["error"]["code"] == "credentials_unreadable"
        everything = got.text + checked.text + (polled.last_error or "")
        for secret in (LOST_KEY, OLD_KEY, datadog_fake.API_KEY, datadog_fake.APPLICATION_KEY):
            assert secret not in everything

        # restoring the key as a previous key is picked up live
        with (data / PREVIOUS_ENCRYPTION_KEYS_FILE).open("a") as handle:
            handle.write(LOST_KEY + "\n")
        restored = client.get(url, headers=seeded.auth()).json()
        assert restored["credentials_error"] is None
        assert restored["settings"]["api_key"] == svc.mask(datadog_fake.API_KEY)

        # or entering the credentials again
        with rt.engine.begin() as conn:
            conn.execute(
                text("UPDATE integrations SET secrets = :s WHERE id = :i"),
                {
                    "s": Vault(b"yet-another-lost-key-0123456789abcdef").encrypt({}, svc.context(row)),
                    "i": integration_id,
                },
            )
        fixed = client.patch(
            url,
            json={
                "settings": {"api_key": datadog_fake.API_KEY, "application_key": datadog_fake.APPLICATION_KEY}
            },
            headers=seeded.auth(),
        )
        assert fixed.status_code == 200, fixed.text
        assert (
            fixed.json()["credentials_error"] is None
            and fixed.json()["health"]["status"] != "needs_attention"
        )
