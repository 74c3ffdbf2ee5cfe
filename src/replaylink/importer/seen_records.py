"""The provider records a worker has committed, per integration, while later windows re-read them.

Each poll re-reads ``overlap + settle`` behind its checkpoint (5 min 10 s by default, so a record
is read about 20 times at a 15 s interval). A record this worker already committed (its events,
its health counts) would only meet the unique keys again and count nothing, so a poll skips it
before the database: a poll that finds nothing new commits one statement (checkpoint and lease).
The memory is per worker and lost on restart (the database's keys still dedupe); only committed
records are remembered, so a rolled-back chunk is read again in full.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Iterable
from datetime import datetime

from replaylink.importer.correlate import record_key
from replaylink.providers.base import Record

PER_INTEGRATION = 20_000
"""Records remembered per integration; past it, the rest of a burst simply goes to the database."""
INTEGRATIONS = 20_000
"""Integrations remembered; past it, the least recently polled is forgotten (a deleted one, say)."""


class SeenRecords:
    """Record keys and times by integration id; one event loop uses it (a worker's), so no locking."""

    def __init__(self, per_integration: int = PER_INTEGRATION, integrations: int = INTEGRATIONS) -> None:
        self._limit = per_integration
        self._integrations = integrations
        self._seen: OrderedDict[int, dict[str, datetime]] = OrderedDict()

    def fresh(self, integration_id: int, records: list[Record]) -> list[Record]:
        """The records this worker has not committed for the integration."""
        seen = self._seen.get(integration_id)
        if not seen:
            return records
        return [record for record in records if record_key(record) not in seen]

    def remember(self, integration_id: int, records: Iterable[Record], since: datetime) -> None:
        """Note committed records; drop those older than ``since`` (no window reads them again)."""
        seen = {key: at for key, at in self._seen.get(integration_id, {}).items() if at >= since}
        for record in records:
            if len(seen) >= self._limit:
                break
            if record.timestamp >= since:
                seen[record_key(record)] = record.timestamp
        self._seen.pop(integration_id, None)
        if seen:
            self._seen[integration_id] = seen  # the most recently polled last
        while len(self._seen) > self._integrations:
            self._seen.popitem(last=False)

    def forget(self, integration_id: int) -> None:
        self._seen.pop(integration_id, None)

    def __len__(self) -> int:
        return sum(len(seen) for seen in self._seen.values())
