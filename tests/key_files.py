"""A data dir whose encryption key lives in its key file, with the CLI's environment to match."""

from __future__ import annotations

from pathlib import Path

import pytest

from replaylink.config import ENCRYPTION_KEY_FILE
from tests.conftest import TEST_ENCRYPTION, TEST_SECRET


def file_keyed_data_dir(path: Path, db_url: str, monkeypatch: pytest.MonkeyPatch) -> Path:
    """``path`` created with ``TEST_ENCRYPTION`` in its key file; the environment names it and the
    database, gives the secret key and no encryption key (so the file is what is read)."""
    path.mkdir()
    (path / ENCRYPTION_KEY_FILE).write_text(TEST_ENCRYPTION + "\n")
    monkeypatch.setenv("REPLAYLINK_DATA_DIR", str(path))
    monkeypatch.setenv("REPLAYLINK_DATABASE_URL", db_url)
    monkeypatch.setenv("REPLAYLINK_SECRET_KEY", TEST_SECRET)
    monkeypatch.delenv("REPLAYLINK_ENCRYPTION_KEY", raising=False)
    monkeypatch.delenv("REPLAYLINK_PREVIOUS_ENCRYPTION_KEYS", raising=False)
    return path
