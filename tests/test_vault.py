"""The credential vault: encryption at rest, associated data, key ids, rotation, start-up checks."""

from __future__ import annotations

import base64
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import text
from typer.testing import CliRunner, Result

from replaylink.cli import app
from replaylink.config import ENCRYPTION_KEY_FILE, PREVIOUS_ENCRYPTION_KEYS_FILE
from replaylink.integrations import settings as svc
from replaylink.runtime import Runtime
from replaylink.store import integrations as store
from replaylink.store.db import transaction
from replaylink.vault import Vault, VaultError, key_id
from tests.conftest import TEST_ENCRYPTION, TEST_SECRET, Seeded, make_settings
from tests.key_files import file_keyed_data_dir

OLD_KEY = TEST_ENCRYPTION
NEW_KEY = "vault-test-new-key-fedcba9876543210"
OTHER_KEY = "vault-test-unrelated-key-000000000"
DD_API_KEY = "dd-api-key-vault-0123456789abcdef"
DD_APP_KEY = "dd-app-key-vault-fedcba9876543210"
SENTRY_TOKEN = "sntryu_" + "7f" * 32
SECRETS = (DD_API_KEY, DD_APP_KEY, SENTRY_TOKEN)
KEYS = (OLD_KEY, NEW_KEY, OTHER_KEY)
DATADOG = {"api_key": DD_API_KEY, "application_key": DD_APP_KEY, "site": "datadoghq.eu"}
SENTRY = {"token": SENTRY_TOKEN, "organization_slug": "acme", "project_slug": "backend"}

runner = CliRunner()


def add_integration(rt: Runtime, project_id: int, provider: str, name: str, raw: dict[str, Any]) -> None:
    """Store an integration as the API does: validated, secrets split off and encrypted."""
    public, secrets = svc.split(svc.validate(provider, raw, block_private=False))
    with transaction(rt.sessions) as db:
        row = store.create(
            db,
            project_id=project_id,
            provider=provider,
            name=name,
            settings=public,
            secrets=None,
            poll_interval=15,
            lookback=timedelta(hours=1),
        )
        row.secrets = rt.vault.encrypt(secrets, svc.context(row))


def stored(rt: Runtime) -> list[tuple[str, str]]:
    """(vault context, ciphertext) of every stored integration, read with SQL."""
    query = text("SELECT project_id, provider, name, secrets FROM integrations ORDER BY id")
    with rt.engine.connect() as conn:
        return [(f"{p}/{prov}/{n}", s) for p, prov, n, s in conn.execute(query)]


def cli(*args: str) -> Result:
    return runner.invoke(app, list(args))


def assert_no_key_material(*texts: str) -> None:
    for value in texts:
        for secret in (*SECRETS, *KEYS):
            assert secret not in value


@pytest.fixture
def two_integrations(rt: Runtime, seeded: Seeded) -> None:
    add_integration(rt, seeded.project_id, "datadog", "default", DATADOG)
    add_integration(rt, seeded.other_project_id, "sentry", "default", SENTRY)


@pytest.fixture
def env(db_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The CLI's environment: the test database and keys (the encryption key is set per test)."""
    monkeypatch.setenv("REPLAYLINK_DATA_DIR", str(tmp_path / "cli-data"))
    monkeypatch.setenv("REPLAYLINK_DATABASE_URL", db_url)
    monkeypatch.setenv("REPLAYLINK_SECRET_KEY", TEST_SECRET)
    monkeypatch.setenv("REPLAYLINK_ENCRYPTION_KEY", OLD_KEY)
    monkeypatch.delenv("REPLAYLINK_PREVIOUS_ENCRYPTION_KEYS", raising=False)


# --------------------------------------------------------------------------- the Vault itself


def test_round_trip_and_format() -> None:
    vault = Vault(OLD_KEY.encode())
    sealed = vault.encrypt({"api_key": DD_API_KEY}, "1/datadog/default")
    prefix, kid, body = sealed.split(".", 2)
    assert (prefix, kid) == ("rlv1", key_id(OLD_KEY.encode())) and kid == vault.current_id
    assert DD_API_KEY not in sealed and DD_API_KEY.encode() not in base64.urlsafe_b64decode(body)
    assert vault.decrypt(sealed, "1/datadog/default") == {"api_key": DD_API_KEY}
    assert vault.encrypt({"api_key": DD_API_KEY}, "1/datadog/default") != sealed  # fresh nonce


def test_key_ids_are_stable_short_fingerprints() -> None:
    assert key_id(OLD_KEY.encode()) == key_id(OLD_KEY.encode())
    assert key_id(OLD_KEY.encode()) != key_id(NEW_KEY.encode())
    assert len(key_id(OLD_KEY.encode())) == 12
    assert OLD_KEY not in key_id(OLD_KEY.encode())


def test_wrong_key_is_a_clear_error_without_secrets() -> None:
    sealed = Vault(OLD_KEY.encode()).encrypt({"token": SENTRY_TOKEN}, "1/sentry/default")
    with pytest.raises(VaultError) as caught:
        Vault(OTHER_KEY.encode()).decrypt(sealed, "1/sentry/default")
    message = str(caught.value)
    assert f"encrypted with key {key_id(OLD_KEY.encode())}, which is not configured" in message
    assert "REPLAYLINK_ENCRYPTION_KEY" in message
    assert_no_key_material(message, repr(caught.value))


@pytest.mark.parametrize("where", ["first", "middle", "last"])
def test_tampered_ciphertext_is_refused(where: str) -> None:
    vault = Vault(OLD_KEY.encode())
    prefix, kid, body = vault.encrypt({"token": SENTRY_TOKEN}, "1/sentry/default").split(".", 2)
    raw = bytearray(base64.urlsafe_b64decode(body))
    index = {"first": 0, "middle": len(raw) // 2, "last": len(raw) - 1}[where]
    raw[index] ^= 0x01
    tampered = f"{prefix}.{kid}.{base64.urlsafe_b64encode(bytes(raw)).decode()}"
    with pytest.raises(VaultError, match="do not decrypt with key") as caught:
        vault.decrypt(tampered, "1/sentry/default")
    assert_no_key_material(str(caught.value))


@pytest.mark.parametrize(
    "ciphertext",
    ["", "plain text api key", "rlv1.", "rlv2.abc.def", "rlv1.{kid}.", "rlv1.{kid}.!!!", "rlv1.{kid}.QQ"],
)
def test_malformed_ciphertext_is_a_vault_error(ciphertext: str) -> None:
    vault = Vault(OLD_KEY.encode())
    with pytest.raises(VaultError):
        vault.decrypt(ciphertext.format(kid=vault.current_id), "1/sentry/default")


def test_ciphertext_is_bound_to_its_integration() -> None:
    vault = Vault(OLD_KEY.encode())
    sealed = vault.encrypt({"token": SENTRY_TOKEN}, "1/sentry/default")
    for elsewhere in ("2/sentry/default", "1/sentry/other", "1/datadog/default"):
        with pytest.raises(VaultError, match=f"Stored credentials for {elsewhere} do not decrypt"):
            vault.decrypt(sealed, elsewhere)


def test_no_key_is_refused() -> None:
    with pytest.raises(VaultError, match="No encryption key is configured"):
        Vault(b"")


def test_reprs_never_show_keys(rt: Runtime) -> None:
    vault = Vault(NEW_KEY.encode(), [OLD_KEY.encode()])
    assert repr(vault) == f"Vault(current={key_id(NEW_KEY.encode())}, keys=2)"
    assert_no_key_material(repr(vault), str(vault), repr(rt.vault), repr(rt.settings), repr(rt.settings.keys))


def test_previous_keys_decrypt_and_reencrypt_moves_to_the_current_key() -> None:
    sealed = Vault(OLD_KEY.encode()).encrypt({"token": SENTRY_TOKEN}, "1/sentry/default")
    rotated_vault = Vault(NEW_KEY.encode(), [OLD_KEY.encode()])
    assert rotated_vault.knows(key_id(OLD_KEY.encode())) and not rotated_vault.knows("000000000000")
    assert rotated_vault.decrypt(sealed, "1/sentry/default") == {"token": SENTRY_TOKEN}
    moved = rotated_vault.reencrypt(sealed, "1/sentry/default")
    assert Vault.key_id_of(moved) == rotated_vault.current_id
    assert rotated_vault.reencrypt(moved, "1/sentry/default") == moved
    assert Vault(NEW_KEY.encode()).decrypt(moved, "1/sentry/default") == {"token": SENTRY_TOKEN}
    with pytest.raises(VaultError, match=key_id(NEW_KEY.encode())):
        Vault(OLD_KEY.encode()).decrypt(moved, "1/sentry/default")


# --------------------------------------------------------------------------- at rest in the database


def test_database_holds_ciphertext_only(client: TestClient, rt: Runtime, seeded: Seeded) -> None:
    url = f"/api/v1/projects/{seeded.project_id}/integrations/datadog/default?check=false"
    assert client.put(url, json={"settings": DATADOG}, headers=seeded.auth()).status_code == 201
    patched = client.patch(url, json={"settings": {"api_key": DD_API_KEY + "-v2"}}, headers=seeded.auth())
    assert patched.status_code == 200
    with rt.engine.connect() as conn:
        rows = conn.execute(text("SELECT CAST(settings AS TEXT), secrets FROM integrations")).all()
        history = conn.execute(text("SELECT CAST(changes AS TEXT), actor FROM integration_history")).all()
    [(settings_text, ciphertext)] = rows
    assert ciphertext.startswith(f"rlv1.{rt.vault.current_id}.")
    assert "datadoghq.eu" in settings_text
    everything = " ".join([settings_text, ciphertext, *(f"{c} {a}" for c, a in history)])
    for secret in (DD_API_KEY, DD_APP_KEY, DD_API_KEY + "-v2"):
        for form in (secret, base64.b64encode(secret.encode()).decode(), secret.encode().hex()):
            assert form not in everything
    with transaction(rt.sessions) as db:
        row = store.find(db, seeded.project_id, "datadog", "default")
        assert row is not None
        assert svc.stored_raw(row, rt.vault)["api_key"] == DD_API_KEY + "-v2"


def test_secrets_moved_to_another_row_do_not_open(
    rt: Runtime, seeded: Seeded, two_integrations: None
) -> None:
    with rt.engine.begin() as conn:
        conn.execute(
            text("UPDATE integrations SET secrets = :s WHERE provider = 'datadog'"),
            {"s": dict(stored(rt))[f"{seeded.other_project_id}/sentry/default"]},
        )
    with transaction(rt.sessions) as db:
        row = store.find(db, seeded.project_id, "datadog", "default")
        assert row is not None
        with pytest.raises(VaultError, match=f"{seeded.project_id}/datadog/default do not decrypt") as caught:
            svc.stored_raw(row, rt.vault)
    assert_no_key_material(str(caught.value))


# --------------------------------------------------------------------------- rotation and start-up


@pytest.mark.usefixtures("env", "two_integrations")
def test_keys_rotate_with_environment_keys(rt: Runtime, monkeypatch: pytest.MonkeyPatch) -> None:
    before = stored(rt)
    assert {Vault.key_id_of(c) for _, c in before} == {key_id(OLD_KEY.encode())}
    monkeypatch.setenv("REPLAYLINK_ENCRYPTION_KEY", NEW_KEY)
    monkeypatch.setenv("REPLAYLINK_PREVIOUS_ENCRYPTION_KEYS", f"{OTHER_KEY},{OLD_KEY}")
    result = cli("keys", "rotate")
    assert result.exit_code == 0, result.output
    new_id = key_id(NEW_KEY.encode())
    assert f"re-encrypted 2 of 2 integration(s) under key {new_id}" in result.output
    after = stored(rt)
    assert {Vault.key_id_of(c) for _, c in after} == {new_id}
    new_only = Vault(NEW_KEY.encode())
    decrypted = {context: new_only.decrypt(c, context) for context, c in after}
    assert sorted(decrypted.values(), key=len) == [
        {"token": SENTRY_TOKEN},
        {"api_key": DD_API_KEY, "application_key": DD_APP_KEY},
    ]
    for context, ciphertext in after:  # the old key alone no longer opens anything
        with pytest.raises(VaultError, match=new_id):
            Vault(OLD_KEY.encode()).decrypt(ciphertext, context)
    again = cli("keys", "rotate")
    assert "re-encrypted 0 of 2" in again.output
    assert_no_key_material(result.output, again.output)

    monkeypatch.delenv("REPLAYLINK_PREVIOUS_ENCRYPTION_KEYS")
    assert cli("project", "list", "--json").exit_code == 0  # the new key alone is enough
    monkeypatch.setenv("REPLAYLINK_ENCRYPTION_KEY", OLD_KEY)
    refused = cli("project", "list")
    assert refused.exit_code != 0
    assert new_id in refused.output and "never falls back to plain text" in refused.output
    assert_no_key_material(refused.output)


@pytest.mark.usefixtures("env", "two_integrations")
def test_keys_rotate_refuses_without_the_old_key(rt: Runtime, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("REPLAYLINK_ENCRYPTION_KEY", NEW_KEY)
    result = cli("keys", "rotate")
    assert result.exit_code != 0
    assert key_id(OLD_KEY.encode()) in result.output
    assert {Vault.key_id_of(c) for _, c in stored(rt)} == {key_id(OLD_KEY.encode())}
    assert_no_key_material(result.output)


@pytest.mark.usefixtures("env", "two_integrations")
@pytest.mark.parametrize("command", [["project", "list"], ["keys", "rotate"], ["apikey", "create"]])
def test_start_up_with_a_wrong_key_exits_naming_the_key_id(
    monkeypatch: pytest.MonkeyPatch, command: list[str]
) -> None:
    monkeypatch.setenv("REPLAYLINK_ENCRYPTION_KEY", OTHER_KEY)
    result = cli(*command)
    assert result.exit_code == 1
    assert f"encrypted with key(s) {key_id(OLD_KEY.encode())}" in result.output
    assert "REPLAYLINK_ENCRYPTION_KEY" in result.output
    assert_no_key_material(result.output)


@pytest.mark.usefixtures("env")
def test_missing_key_file_in_a_used_data_dir_is_a_clear_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    data = tmp_path / "cli-data"
    data.mkdir()
    (data / "secret_key").write_text(TEST_SECRET + "\n")
    monkeypatch.delenv("REPLAYLINK_ENCRYPTION_KEY")
    result = cli("project", "list")
    assert result.exit_code == 1
    assert "encryption_key is missing" in result.output and "REPLAYLINK_ENCRYPTION_KEY" in result.output
    assert not (data / ENCRYPTION_KEY_FILE).exists()  # no fresh key that would orphan stored secrets


@pytest.fixture
def file_keyed(db_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Runtime]:
    """A runtime whose encryption key lives in the data dir's key file, and a CLI env to match."""
    data = file_keyed_data_dir(tmp_path / "file-data", db_url, monkeypatch)
    runtime = Runtime(make_settings(data, db_url, encryption_key=None))
    yield runtime
    runtime.close()


def test_keys_rotate_generate_with_the_key_file(file_keyed: Runtime) -> None:
    rt = file_keyed
    data = rt.settings.data_dir
    assert rt.vault.current_id == key_id(OLD_KEY.encode())
    seeded = Seeded(rt)
    add_integration(rt, seeded.project_id, "datadog", "default", DATADOG)
    add_integration(rt, seeded.project_id, "sentry", "eu", SENTRY)

    result = cli("keys", "rotate", "--generate")
    assert result.exit_code == 0, result.output
    new_key = (data / ENCRYPTION_KEY_FILE).read_text().strip()
    assert len(new_key) >= 32 and new_key != OLD_KEY
    assert (data / PREVIOUS_ENCRYPTION_KEYS_FILE).read_text().split() == [OLD_KEY]
    assert (data / ENCRYPTION_KEY_FILE).stat().st_mode & 0o777 == 0o600
    assert (data / PREVIOUS_ENCRYPTION_KEYS_FILE).stat().st_mode & 0o777 == 0o600
    new_id = key_id(new_key.encode())
    assert f"re-encrypted 2 of 2 integration(s) under key {new_id}" in result.output
    assert new_key not in result.output and OLD_KEY not in result.output

    after = stored(rt)
    assert {Vault.key_id_of(c) for _, c in after} == {new_id}
    for context, ciphertext in after:
        assert Vault(new_key.encode()).decrypt(ciphertext, context)
        with pytest.raises(VaultError):
            Vault(OLD_KEY.encode()).decrypt(ciphertext, context)
    (data / PREVIOUS_ENCRYPTION_KEYS_FILE).unlink()  # the retired key is no longer needed
    assert cli("project", "list").exit_code == 0


def test_keys_rotate_generate_refuses_with_an_environment_key(
    file_keyed: Runtime, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("REPLAYLINK_ENCRYPTION_KEY", NEW_KEY)
    result = cli("keys", "rotate", "--generate")
    assert result.exit_code == 1
    assert "REPLAYLINK_ENCRYPTION_KEY is set" in result.output
    assert (file_keyed.settings.data_dir / ENCRYPTION_KEY_FILE).read_text().strip() == OLD_KEY
    assert_no_key_material(result.output)


@pytest.mark.usefixtures("env", "two_integrations")
def test_keys_rotate_says_what_it_did_and_what_it_skipped(
    rt: Runtime, seeded: Seeded, monkeypatch: pytest.MonkeyPatch
) -> None:
    public, secrets = svc.split(
        svc.validate("elasticsearch", {"host": "es.example.com"}, block_private=False)
    )
    assert secrets == {}
    with transaction(rt.sessions) as db:  # no secrets: nothing to encrypt, as the API stores it
        store.create(
            db,
            project_id=seeded.project_id,
            provider="elasticsearch",
            name="open",
            settings=public,
            secrets=None,
            poll_interval=15,
            lookback=timedelta(hours=1),
        )
    monkeypatch.setenv("REPLAYLINK_ENCRYPTION_KEY", NEW_KEY)
    monkeypatch.setenv("REPLAYLINK_PREVIOUS_ENCRYPTION_KEYS", OLD_KEY)
    new_id = key_id(NEW_KEY.encode())
    first = cli("keys", "rotate")
    assert first.exit_code == 0, first.output
    lines = first.output.splitlines()
    assert lines[0] == f"re-encrypted 2 of 2 integration(s) under key {new_id}"
    assert lines[1] == (
        f"  re-encrypted (2): datadog/default (project {seeded.project_id}), "
        f"sentry/default (project {seeded.other_project_id})"
    )
    assert lines[2] == (
        f"  skipped, no stored secrets to encrypt (1): elasticsearch/open (project {seeded.project_id})"
    )
    again = cli("keys", "rotate").output.splitlines()
    assert again[0] == f"re-encrypted 0 of 2 integration(s) under key {new_id}"
    assert again[1].startswith("  already under this key, left as they were (2): datadog/default")
    assert again[2].startswith("  skipped, no stored secrets to encrypt (1): elasticsearch/open")
    assert_no_key_material(first.output, "\n".join(again))
