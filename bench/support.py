"""What several benchmarks share: a process's CPU time, a scratch database, the code of a revision,
synthetic backend events."""

from __future__ import annotations

import os
import subprocess
import tempfile
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path
from typing import Any

from sqlalchemy import create_engine, text

from replaylink.store.events import EventRow


def process_cpu_seconds(pid: int) -> float:
    """User + system CPU of a local process (0 once it is gone)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


@contextmanager
def scratch_database(kind: str, data_dir: Path, pg_url: str, prefix: str) -> Iterator[str]:
    """A database URL for one run: SQLite in ``data_dir``, or a PostgreSQL schema dropped afterwards."""
    if kind == "sqlite":
        yield f"sqlite:///{data_dir / 'replaylink.db'}"
        return
    schema = f"{prefix}_{uuid.uuid4().hex[:8]}"
    admin = create_engine(pg_url)
    with admin.begin() as conn:
        conn.execute(text(f'CREATE SCHEMA "{schema}"'))
    try:
        yield f"{pg_url}?options=-csearch_path%3D{schema}"
    finally:
        with admin.begin() as conn:
            conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin.dispose()


@contextmanager
def before_worktree(rev: str, prefix: str = "rl-bench-before-") -> Iterator[Path]:
    """A detached worktree of ``rev`` for the duration of the run (``--before REV``)."""
    path = Path(tempfile.mkdtemp(prefix=prefix))
    subprocess.run(["git", "worktree", "add", "--detach", str(path), rev], check=True, capture_output=True)
    try:
        yield path
    finally:
        subprocess.run(["git", "worktree", "remove", "--force", str(path)], check=False, capture_output=True)


def synthetic_event(
    *,
    project_id: int,
    session_id: int,
    record_id: str,
    group: int,
    timestamp: datetime,
    imported_at: datetime,
    provider: str = "datadog",
    message_tail: str = "while processing the order",
    **fields: Any,
) -> EventRow:
    """One ``backend_events`` row of error group ``group`` (made-up fingerprint), as the
    store-level benchmarks insert them; ``fields`` override the rest (``exception_type``, ...)."""
    title = f"Error{group % 50}: failure {group}"
    row = EventRow(
        project_id=project_id,
        session_id=session_id,
        integration_id=None,
        provider=provider,
        provider_record_id=record_id,
        timestamp=timestamp,
        level="error",
        title=title,
        message=f"{title} {message_tail}",
        exception_type=None,
        service="api",
        host="web-1",
        logger="app",
        stack=None,
        link=None,
        attributes={"http.status_code": 500},
        fingerprint=f"{group:032x}",
        imported_at=imported_at,
    )
    row.update(fields)  # type: ignore[typeddict-item]
    return row
