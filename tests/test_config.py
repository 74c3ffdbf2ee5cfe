"""Settings and the keys kept in the data directory."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest

from replaylink.config import BadSettings, ConfigError, Settings, load_keys, load_settings


def test_keys_are_generated_once_with_mode_0600_and_kept(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path)
    first = load_keys(settings)
    for name in ("secret_key", "encryption_key"):
        mode = stat.S_IMODE((tmp_path / name).stat().st_mode)
        assert mode == 0o600
    again = load_keys(Settings(data_dir=tmp_path))
    assert again.secret_key == first.secret_key
    assert again.encryption_key == first.encryption_key
    assert first.secret_key != first.encryption_key
    assert repr(first) == "Keys(********)"


def test_environment_keys_win_over_files(tmp_path: Path) -> None:
    keys = load_keys(Settings(data_dir=tmp_path, secret_key="s" * 20, encryption_key="e" * 20))
    assert keys.secret_key == b"s" * 20
    assert not (tmp_path / "secret_key").exists()


def test_missing_key_file_in_a_used_data_dir_is_a_clear_error(tmp_path: Path) -> None:
    load_keys(Settings(data_dir=tmp_path))
    (tmp_path / "replaylink.db").write_bytes(b"")
    (tmp_path / "secret_key").unlink()
    with pytest.raises(ConfigError, match=r"secret_key is missing.*REPLAYLINK_SECRET_KEY"):
        load_keys(Settings(data_dir=tmp_path))


def test_unreadable_key_file_names_the_file(tmp_path: Path) -> None:
    (tmp_path / "secret_key").mkdir()  # a directory cannot be read as a key
    with pytest.raises(ConfigError, match=r"Cannot read the key file .*secret_key"):
        load_keys(Settings(data_dir=tmp_path))


def test_short_env_key_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="REPLAYLINK_SECRET_KEY is shorter"):
        load_keys(Settings(data_dir=tmp_path, secret_key="short"))


def test_env_lists_and_database_url(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("REPLAYLINK_PREVIOUS_SECRET_KEYS", "old-key-aaaaaaaaaaaa, older-key-bbbbbbbbbb")
    monkeypatch.setenv("REPLAYLINK_CORS_ORIGINS", "https://a.example,https://b.example")
    monkeypatch.setenv("REPLAYLINK_DATABASE_URL", "postgresql://u@db/rl")
    settings = Settings(data_dir=tmp_path)
    assert [k.get_secret_value() for k in settings.previous_secret_keys] == [
        "old-key-aaaaaaaaaaaa",
        "older-key-bbbbbbbbbb",
    ]
    assert settings.cors_origins == ["https://a.example", "https://b.example"]
    assert settings.sqlalchemy_url == "postgresql+psycopg://u@db/rl"
    assert not settings.is_sqlite


def test_default_database_is_sqlite_in_the_data_dir(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path)
    assert settings.sqlalchemy_url == f"sqlite:///{tmp_path.resolve() / 'replaylink.db'}"


def test_short_key_variables_are_bad_settings(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """Like any variable that does not parse: BadSettings, one line per variable, never the value."""
    monkeypatch.setenv("REPLAYLINK_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("REPLAYLINK_SECRET_KEY", "  tiny-secret  ")
    monkeypatch.setenv("REPLAYLINK_ENCRYPTION_KEY", "abc")
    with pytest.raises(BadSettings) as caught:
        load_settings()
    assert caught.value.lines == [
        "REPLAYLINK_SECRET_KEY: shorter than 16 characters; use a long random value",
        "REPLAYLINK_ENCRYPTION_KEY: shorter than 16 characters; use a long random value",
    ]
    assert "tiny" not in str(caught.value) and "abc" not in str(caught.value)
    monkeypatch.setenv("REPLAYLINK_SECRET_KEY", "s" * 16)
    monkeypatch.setenv("REPLAYLINK_ENCRYPTION_KEY", "e" * 16)
    assert load_settings().encryption_key is not None
