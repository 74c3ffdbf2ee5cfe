"""Run Alembic migrations programmatically (no alembic.ini needed).

Concurrent upgrades (parallel deploy jobs, ``serve`` and ``worker`` starting together) wait for
each other: the migrations run on one connection that first takes a lock for the whole upgrade, so
the second upgrader finds the schema at head and has nothing to do.

- PostgreSQL: the session-level advisory lock :data:`MIGRATION_LOCK_KEY`, released after the
  upgrade, also when it fails (and by the server when the connection dies).
- SQLite: the database's write lock (``BEGIN IMMEDIATE``) held by one transaction around every
  migration; the second upgrader waits up to :data:`SQLITE_MIGRATION_WAIT_SECONDS` for it.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Connection, Engine, text
from sqlalchemy.exc import DBAPIError

from replaylink.store.db import BUSY_TIMEOUT_SECONDS, WRITES

MIGRATIONS = Path(__file__).parent / "migrations"

MIGRATION_LOCK_NAME = "replaylink.migrate"
MIGRATION_LOCK_KEY = int.from_bytes(
    hashlib.sha256(MIGRATION_LOCK_NAME.encode()).digest()[:8], "big", signed=True
)
"""The PostgreSQL advisory lock key held while migrating: the first 8 bytes of
SHA-256("replaylink.migrate") as a signed 64-bit integer, 8809226402112791044
(``SELECT * FROM pg_locks WHERE locktype = 'advisory'`` shows it as classid 2051057853,
objid 1273815556). The key is per database, not per schema."""

SQLITE_MIGRATION_WAIT_SECONDS = 600
"""How long a SQLite upgrade waits for another process's upgrade (the write lock) to finish."""


class _HeldConnection:
    """What env.py connects with (``config.attributes["engine"]``): it hands env.py the connection
    that holds the migration lock instead of a fresh one from the pool."""

    def __init__(self, connection: Connection) -> None:
        self.connection = connection

    @contextmanager
    def connect(self) -> Iterator[Connection]:
        yield self.connection  # closed by :func:`_locked`, not by env.py


def alembic_config(engine: Engine | _HeldConnection) -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.attributes["engine"] = engine
    return config


@contextmanager
def _locked(engine: Engine) -> Iterator[_HeldConnection]:
    """A connection holding the migration lock (see the module docstring) until the block ends."""
    with engine.connect() as conn:
        if conn.dialect.name == "postgresql":
            conn.execute(text("SELECT pg_advisory_lock(:key)"), {"key": MIGRATION_LOCK_KEY})
            conn.commit()  # a session-level lock outlives the transaction; Alembic begins its own
            try:
                yield _HeldConnection(conn)
            finally:
                _unlock_postgresql(conn)
        elif conn.dialect.name == "sqlite":
            _sqlite_busy_timeout(conn, SQLITE_MIGRATION_WAIT_SECONDS)
            try:
                # One BEGIN IMMEDIATE transaction around all migrations: Alembic, given a connection
                # already in a transaction, leaves it to env.py's final commit (rather than
                # committing after each migration, which would let a concurrent upgrader in).
                conn.execution_options(**{WRITES: True})
                conn.begin()
                yield _HeldConnection(conn)
            finally:
                if conn.in_transaction():
                    conn.rollback()
                _sqlite_busy_timeout(conn, BUSY_TIMEOUT_SECONDS)
        else:
            yield _HeldConnection(conn)


def _unlock_postgresql(conn: Connection) -> None:
    try:
        if conn.in_transaction():
            conn.rollback()  # a failed migration may have left its transaction aborted
        conn.execute(text("SELECT pg_advisory_unlock(:key)"), {"key": MIGRATION_LOCK_KEY})
        conn.commit()
    except DBAPIError:
        conn.invalidate()  # a broken connection: closing it on the server releases the lock


def _sqlite_busy_timeout(conn: Connection, seconds: int) -> None:
    conn.exec_driver_sql(f"PRAGMA busy_timeout={seconds * 1000}")
    conn.commit()


def upgrade(engine: Engine, revision: str = "head") -> None:
    """Bring the schema to ``revision`` (default: the newest), waiting for any concurrent upgrade."""
    with _locked(engine) as held:
        command.upgrade(alembic_config(held), revision)


def downgrade(engine: Engine, revision: str) -> None:
    with _locked(engine) as held:
        command.downgrade(alembic_config(held), revision)


def head_revision() -> str | None:
    script = ScriptDirectory(str(MIGRATIONS))
    return script.get_current_head()


def current_revision(engine: Engine) -> str | None:
    with engine.connect() as conn:
        return MigrationContext.configure(conn).get_current_revision()


def is_current(engine: Engine) -> bool:
    return current_revision(engine) == head_revision()
