"""The segment store on a local (or mounted) filesystem: atomic, durable writes."""

from __future__ import annotations

import os
import secrets
from collections.abc import Iterable, Iterator
from datetime import UTC, datetime
from pathlib import Path

from replaylink.replay.store import ROOT, StoredKey, StoreError, is_stored_key

TMP_SUFFIX = ".tmp"


class FilesystemStore:
    """Blobs as files under ``root`` (``<root>/replays/...``).

    A write goes to a temporary file in the target directory, is fsynced, renamed over the
    key and the directory fsynced: after ``put`` returns, the blob survives a crash, and a
    reader never sees half a file. Leftover temporary files are swept like orphan blobs.
    """

    def __init__(self, root: Path) -> None:
        self.root = root

    def describe(self) -> str:
        return f"directory {self.root / ROOT}"

    def _path(self, key: str) -> Path:
        if not is_stored_key(key):
            raise ValueError("not a replay store key")
        return self.root / key

    def put(self, key: str, data: bytes) -> None:
        path = self._path(key)
        tmp = path.with_name(f".{path.name}.{secrets.token_hex(6)}{TMP_SUFFIX}")
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            try:
                view = memoryview(data)
                while view:
                    view = view[os.write(fd, view) :]
                os.fsync(fd)
            finally:
                os.close(fd)
            os.replace(tmp, path)
            directory = os.open(path.parent, os.O_RDONLY)
            try:
                os.fsync(directory)
            finally:
                os.close(directory)
        except OSError as exc:
            tmp.unlink(missing_ok=True)
            raise StoreError(f"cannot write to {path.parent} ({exc.strerror})") from None

    def get(self, key: str) -> bytes | None:
        try:
            return self._path(key).read_bytes()
        except FileNotFoundError:
            return None
        except OSError as exc:
            raise StoreError(f"cannot read {key} ({exc.strerror})") from None

    def delete(self, keys: Iterable[str]) -> None:
        for key in keys:
            self.delete_path(self._path(key))

    @staticmethod
    def delete_path(path: Path) -> None:
        try:
            path.unlink(missing_ok=True)
        except OSError as exc:
            raise StoreError(f"cannot delete {path.name} ({exc.strerror})") from None
        try:  # empty session / tab directories go too
            path.parent.rmdir()
            path.parent.parent.rmdir()
        except OSError:
            pass

    def list(self, prefix: str = ROOT + "/") -> Iterator[StoredKey]:
        """Every file under ``prefix``, temporary files included (the sweep removes old ones)."""
        for directory, _dirs, files in os.walk(self.root / ROOT):
            for name in files:
                full = Path(directory) / name
                key = full.relative_to(self.root).as_posix()
                if not key.startswith(prefix):
                    continue
                try:
                    modified = datetime.fromtimestamp(full.stat().st_mtime, UTC)
                except FileNotFoundError:
                    continue
                yield StoredKey(key, modified)
