"""The segment store: where the blobs of recordings live, by key.

Keys are ``replays/<project>/<session>/<tab>/<seq>`` with the sequence number zero-padded, so a
listing sorts in playback order. Two implementations: :class:`~.filesystem.FilesystemStore`
(the default, under the data directory) and :class:`~.s3.S3Store` (any S3-compatible service).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    from replaylink.config import Settings

ROOT = "replays"
SEQ_DIGITS = 10
MAX_SEQ = 10**SEQ_DIGITS - 1
TAB = re.compile(r"[A-Za-z0-9_-]{1,64}")
_STORED = re.compile(rf"{ROOT}/[A-Za-z0-9_./-]{{1,300}}")
DIGEST = re.compile(r"[0-9a-f]{64}")
DIGEST_CHARS = 16
_KEY = re.compile(
    rf"{ROOT}/[0-9]{{1,10}}/[0-9]{{1,19}}/[A-Za-z0-9_-]{{1,64}}/[0-9]{{{SEQ_DIGITS}}}(?:-[0-9a-f]{{{DIGEST_CHARS}}})?"
)


class StoreError(Exception):
    """The store could not read or write (disk full, S3 unreachable...); the message says which."""


@dataclass(frozen=True)
class StoredKey:
    key: str
    modified_at: datetime


class ReplayStore(Protocol):
    """Blobs by key. Writes are atomic: a reader sees the whole blob or nothing."""

    def put(self, key: str, data: bytes) -> None:
        """Store ``data`` durably at ``key`` (replacing what was there)."""

    def get(self, key: str) -> bytes | None:
        """The blob, or None when there is none."""

    def delete(self, keys: Iterable[str]) -> None:
        """Remove these blobs; missing ones are fine."""

    def list(self, prefix: str = ROOT + "/") -> Iterator[StoredKey]:
        """Every blob under ``prefix`` with its modification time (any order)."""

    def describe(self) -> str:
        """Where the blobs go, for logs and the CLI (never a secret)."""


def segment_key(project_id: int, session_id: int, tab: str, seq: int, digest: str) -> str:
    """Where a segment's blob goes. ``digest`` (the blob's SHA-256, hex) names its content too:
    two different bodies sent at once for one ``(tab, seq)`` each write their own blob, and the
    one whose index row lost is deleted, so the index never names a blob it does not describe.
    (Keys without it, written before, stay valid: rows name their blob's key.)"""
    if not TAB.fullmatch(tab) or not 0 <= seq <= MAX_SEQ or not DIGEST.fullmatch(digest):
        raise ValueError("invalid tab, seq or digest")
    return f"{ROOT}/{project_id}/{session_id}/{tab}/{seq:0{SEQ_DIGITS}d}-{digest[:DIGEST_CHARS]}"


def session_prefix(project_id: int, session_id: int) -> str:
    return f"{ROOT}/{project_id}/{session_id}/"


def is_segment_key(key: str) -> bool:
    return _KEY.fullmatch(key) is not None


def is_stored_key(key: str) -> bool:
    """A key the stores accept: under ``replays/``, safe characters, no ``..`` (segment keys and
    the temporary files a filesystem write leaves when it is killed)."""
    return _STORED.fullmatch(key) is not None and ".." not in key


def open_store(settings: Settings) -> ReplayStore:
    """The store ``REPLAYLINK_REPLAY_STORE`` names: ``s3://bucket/prefix``, a directory, or the data dir."""
    from pathlib import Path

    from replaylink.replay.filesystem import FilesystemStore

    target = settings.replay_store
    if target and target.startswith("s3://"):
        from replaylink.replay.s3 import S3Store

        return S3Store.from_url(target, endpoint_url=settings.s3_endpoint_url)
    if target and "://" in target and not target.startswith("file://"):
        from replaylink.config import ConfigError

        raise ConfigError(
            "REPLAYLINK_REPLAY_STORE must be s3://bucket/prefix or a directory; "
            f"{target.split('://', 1)[0]}:// is not supported."
        )
    if target:
        return FilesystemStore(Path(target.removeprefix("file://")))
    return FilesystemStore(settings.data_dir)
