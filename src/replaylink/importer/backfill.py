"""``replaylink import``: read a past window of one integration and attach what it holds.

Safe while workers run: it takes no lease and moves no checkpoint; the unique key on events
makes anything it shares with a worker's poll a no-op.
"""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from replaylink.importer.correlate import Correlation
from replaylink.importer.poll import PollContext, chunks, fetch_parts, store_records
from replaylink.integrations.connect import open_stored
from replaylink.providers.base import Record
from replaylink.store.models import Integration


@dataclass
class BackfillProgress:
    scanned: int = 0
    matched: int = 0
    imported: int = 0
    outcomes: Counter[str] = field(default_factory=Counter)
    done_until: datetime | None = None


async def backfill(
    ctx: PollContext,
    row: Integration,
    start: datetime,
    end: datetime,
    *,
    step: timedelta = timedelta(minutes=10),
    on_progress: Callable[[BackfillProgress], None] | None = None,
) -> BackfillProgress:
    """Import ``[start, end)`` in steps, committing each step; report progress after each."""
    progress = BackfillProgress()
    async with open_stored(row, ctx.vault, ctx.settings) as provider:
        async for b, records, _ in fetch_parts(provider, chunks(start, end, step), ctx.max_chunk_records):

            def commit(records: list[Record] = records) -> tuple[Correlation, int]:
                with ctx.sessions() as db, db.begin():  # on SQLite: the write lock at BEGIN
                    return store_records(
                        db,
                        ctx,
                        project_id=row.project_id,
                        integration_id=row.id,
                        provider=row.provider,
                        created_at=row.created_at,
                        records=records,
                        now=ctx.clock(),
                    )

            result, imported = await asyncio.to_thread(commit)
            progress.scanned += result.scanned
            progress.matched += len(result.rows)
            progress.imported += imported
            progress.outcomes.update(result.outcomes)
            progress.done_until = b
            if on_progress is not None:
                on_progress(progress)
    return progress
