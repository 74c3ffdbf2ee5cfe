"""The replay store's building blocks: choosing a store from settings, keys, bounded gunzip."""

from __future__ import annotations

import gzip
import os
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from replaylink.config import ConfigError
from replaylink.replay import codec
from replaylink.replay.filesystem import FilesystemStore
from replaylink.replay.s3 import S3Store
from replaylink.replay.store import is_stored_key, open_store, segment_key
from tests.conftest import make_settings


def test_open_store_follows_the_setting(tmp_path: Path) -> None:
    default = open_store(make_settings(tmp_path, "sqlite://"))
    assert isinstance(default, FilesystemStore) and default.root == tmp_path
    elsewhere = open_store(make_settings(tmp_path, "sqlite://", replay_store=str(tmp_path / "blobs")))
    assert isinstance(elsewhere, FilesystemStore) and elsewhere.root == tmp_path / "blobs"
    s3 = open_store(make_settings(tmp_path, "sqlite://", replay_store="s3://bucket/some/prefix/"))
    assert isinstance(s3, S3Store) and (s3.bucket, s3.prefix) == ("bucket", "some/prefix/")
    with pytest.raises(ConfigError, match="ftp://"):
        open_store(make_settings(tmp_path, "sqlite://", replay_store="ftp://host/x"))
    with pytest.raises(ConfigError, match="bucket"):
        open_store(make_settings(tmp_path, "sqlite://", replay_store="s3:///prefix"))


DIGEST = "0123456789abcdef" * 4


def test_keys_sort_in_playback_order_and_refuse_escapes() -> None:
    keys = [segment_key(1, 99, "tab", seq, DIGEST) for seq in (10, 2, 100, 0)]
    assert sorted(keys) == [segment_key(1, 99, "tab", seq, DIGEST) for seq in (0, 2, 10, 100)]
    for tab in ("../x", "a/b", "", "x" * 65):
        with pytest.raises(ValueError):
            segment_key(1, 2, tab, 0, DIGEST)
    for digest in ("", "../" + DIGEST[3:], DIGEST.upper(), DIGEST[:-1]):
        with pytest.raises(ValueError):
            segment_key(1, 2, "tab", 0, digest)
    assert not is_stored_key("replays/../../etc/passwd") and not is_stored_key("/etc/passwd")


def test_gunzip_is_bounded_and_reads_every_member() -> None:
    assert codec.gunzip(gzip.compress(b"ab") + gzip.compress(b"cd"), 4) == b"abcd"
    with pytest.raises(codec.TooLarge):
        codec.gunzip(gzip.compress(b"\0" * (50 * 1024 * 1024)), 1024 * 1024)
    with pytest.raises(codec.Corrupt):
        codec.gunzip(gzip.compress(os.urandom(10_000))[:-20], 10**6)
    with pytest.raises(codec.Corrupt):
        codec.gunzip(b"\x1f\x8b\x08garbage", 10**6)


def test_filesystem_writes_leave_no_temp_files_and_old_ones_are_listed(tmp_path: Path) -> None:
    store = FilesystemStore(tmp_path)
    key = segment_key(1, 2, "t", 0, DIGEST)
    store.put(key, b"data")
    store.put(key, b"newer")
    assert store.get(key) == b"newer"
    assert [item.key for item in store.list()] == [key]
    leftover = tmp_path / "replays/1/2/t/.0000000001.abc.tmp"
    leftover.write_bytes(b"half")
    listed = {item.key: item.modified_at for item in store.list()}
    assert set(listed) == {key, "replays/1/2/t/.0000000001.abc.tmp"}
    assert listed[key] > datetime.now(UTC) - timedelta(minutes=1)
    store.delete(["replays/1/2/t/.0000000001.abc.tmp", key])
    assert list(store.list()) == [] and store.get(key) is None
