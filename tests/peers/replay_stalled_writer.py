"""A process that ingests one batch and stalls between writing its blob and indexing it.

Run as ``python -m tests.peers.replay_stalled_writer <marker file> <token>`` with the batch on
stdin and the ``REPLAYLINK_*`` settings in the environment. The real ingest path and store run;
the store is wrapped to touch ``marker`` after the blob is written and then wait to be killed.
"""

from __future__ import annotations

import sys
import threading
from collections.abc import Iterable, Iterator
from pathlib import Path

from replaylink.config import Settings
from replaylink.replay.ingest import Ingestor
from replaylink.replay.store import ReplayStore, StoredKey, open_store
from replaylink.runtime import Runtime


class StallAfterPut:
    """A ReplayStore that blocks forever once a blob is durably written."""

    def __init__(self, inner: ReplayStore, marker: Path) -> None:
        self.inner = inner
        self.marker = marker

    def put(self, key: str, data: bytes) -> None:
        self.inner.put(key, data)
        self.marker.write_text(key)
        threading.Event().wait()

    def get(self, key: str) -> bytes | None:
        return self.inner.get(key)

    def delete(self, keys: Iterable[str]) -> None:
        self.inner.delete(keys)

    def list(self, prefix: str = "replays/") -> Iterator[StoredKey]:
        return self.inner.list(prefix)

    def describe(self) -> str:
        return self.inner.describe()


def main() -> None:
    marker, token = Path(sys.argv[1]), sys.argv[2]
    rt = Runtime(Settings())
    store = StallAfterPut(open_store(rt.settings), marker)
    ingestor = Ingestor(rt.settings, rt.sessions, rt.signer, store)
    ingestor.ingest(token, sys.stdin.buffer.read(), encoding="gzip", origin=None)


if __name__ == "__main__":
    main()
