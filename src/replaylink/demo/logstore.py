"""The shop's log pipeline into OpenSearch, in the Elasticsearch seed page's format.

Each document has ``message`` (the log line, marker included), ``utc_time`` and ``tags``
(``["error"]`` for error logs), which are the seed's defaults, plus ``service`` and ``logger``.
:class:`LogShipper` is a small log agent: a bounded queue and a thread that bulk-indexes it.
Two front ends feed it: :class:`OpenSearchHandler` (a logging handler, used with the SDK) and
:class:`ShippedStream` (a text stream: in seed mode the seed's snippet writes there).
"""

from __future__ import annotations

import contextlib
import json
import logging
import queue
import sys
import threading
from datetime import UTC, datetime
from typing import Any

import httpx

INDEX = "app-logs"
SERVICE = "demo-shop"
MAPPING: dict[str, Any] = {
    "properties": {
        "utc_time": {"type": "date"},
        "message": {"type": "text", "fields": {"keyword": {"type": "keyword", "ignore_above": 256}}},
        "tags": {"type": "keyword"},
        "service": {"type": "keyword"},
        "logger": {"type": "keyword"},
    }
}
"""The seed's field layout (Kibana's sample web logs: ``message``, ``utc_time``, ``tags``)."""
MAX_MESSAGE_CHARS = 16_000
MAX_QUEUED = 10_000


def ensure_index(url: str, index: str = INDEX, *, timeout: float = 10.0) -> None:
    """Create ``index`` with :data:`MAPPING` unless it exists."""
    with httpx.Client(base_url=url, timeout=timeout) as http:
        if http.head(f"/{index}").status_code == 200:
            return
        answer = http.put(f"/{index}", json={"mappings": MAPPING})
        if answer.status_code >= 400 and "already_exists" not in answer.text:
            raise RuntimeError(
                f"could not create the index {index}: {answer.status_code} {answer.text[:300]}"
            )


def document(message: str, tags: list[str], logger: str, when: datetime | None = None) -> dict[str, Any]:
    """One log document in the seed's format."""
    moment = (when or datetime.now(UTC)).astimezone(UTC)
    return {
        "message": message[:MAX_MESSAGE_CHARS],
        "utc_time": moment.isoformat(timespec="milliseconds").replace("+00:00", "Z"),
        "tags": tags,
        "service": SERVICE,
        "logger": logger,
    }


class LogShipper:
    """Bulk-indexes queued documents into ``index`` from a background thread.

    Documents are searchable as soon as they are shipped (``refresh=true``). When the store is
    down, shipping is retried; past :data:`MAX_QUEUED` waiting documents the oldest are dropped
    and counted (a log agent must never block the application).
    """

    def __init__(self, url: str, index: str = INDEX, *, interval: float = 0.2) -> None:
        self.url = url.rstrip("/")
        self.index = index
        self.interval = interval
        self.dropped = 0
        self._queue: queue.Queue[dict[str, Any]] = queue.Queue(MAX_QUEUED)
        self._stop = threading.Event()
        self._idle = threading.Event()
        self._idle.set()
        self._thread = threading.Thread(target=self._run, name="log-shipper", daemon=True)
        self._http = httpx.Client(timeout=10.0)
        self._thread.start()

    def ship(self, doc: dict[str, Any]) -> None:
        self._idle.clear()
        while True:
            try:
                self._queue.put_nowait(doc)
                return
            except queue.Full:
                with contextlib.suppress(queue.Empty):
                    self._queue.get_nowait()
                    self.dropped += 1

    def flush(self, timeout: float = 5.0) -> bool:
        """Wait until everything queued so far has been shipped."""
        return self._idle.wait(timeout)

    def close(self, timeout: float = 5.0) -> None:
        self.flush(timeout)
        self._stop.set()
        self._thread.join(timeout)
        self._http.close()

    def _run(self) -> None:
        pending: list[dict[str, Any]] = []
        while not (self._stop.is_set() and not pending and self._queue.empty()):
            try:
                pending.append(self._queue.get(timeout=self.interval))
                while len(pending) < 500:
                    pending.append(self._queue.get_nowait())
            except queue.Empty:
                pass
            if not pending:
                self._idle.set()
                continue
            if self._send(pending):
                pending = []
                if self._queue.empty():
                    self._idle.set()
            else:
                self._stop.wait(1.0)
                if self._stop.is_set():
                    return

    def _send(self, docs: list[dict[str, Any]]) -> bool:
        lines: list[str] = []
        for doc in docs:
            lines += [json.dumps({"index": {"_index": self.index}}), json.dumps(doc)]
        try:
            answer = self._http.post(
                f"{self.url}/_bulk?refresh=true",
                content="\n".join(lines) + "\n",
                headers={"Content-Type": "application/x-ndjson"},
            )
        except httpx.HTTPError as exc:
            print(f"log shipper: the log store did not answer ({exc}); retrying", file=sys.__stderr__)
            return False
        if answer.status_code >= 400 or answer.json().get("errors"):
            print(f"log shipper: bulk refused: {answer.text[:300]}", file=sys.__stderr__)
            return answer.status_code < 500
        return True


class OpenSearchHandler(logging.Handler):
    """A logging handler that ships each record: ``tags`` is ``["error"]`` from ERROR up."""

    def __init__(self, shipper: LogShipper, level: int = logging.INFO) -> None:
        super().__init__(level)
        self.shipper = shipper

    def emit(self, record: logging.LogRecord) -> None:
        try:
            tags = ["error"] if record.levelno >= logging.ERROR else [record.levelname.lower()]
            when = datetime.fromtimestamp(record.created, UTC)
            self.shipper.ship(document(self.format(record), tags, record.name, when))
        except Exception:
            self.handleError(record)


class ShippedStream:
    """A text stream whose writes become error documents (and are copied to ``echo``).

    In seed mode it stands in for the process's stdout before the seed's snippet runs: the snippet
    keeps it as ``old_f`` and sends every stderr write there, prefixed with the marker. One write
    is one document; a bare newline (which the snippet passes through unprefixed) is skipped.
    """

    def __init__(self, shipper: LogShipper, echo: Any, logger: str = "stderr") -> None:
        self.shipper = shipper
        self.echo = echo
        self.logger = logger

    def write(self, text: str) -> int:
        if self.echo is not None:
            self.echo.write(text)
            self.echo.flush()
        if text.strip():
            self.shipper.ship(document(text.rstrip("\n"), ["error"], self.logger))
        return len(text)

    def flush(self) -> None:
        if self.echo is not None:
            self.echo.flush()

    def isatty(self) -> bool:
        return False
