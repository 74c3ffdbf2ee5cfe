"""Engine and session factories for SQLite (WAL) and PostgreSQL (psycopg 3).

Sessions come from two factories: :func:`make_sessionmaker` (``Runtime.sessions``, every write path)
and :func:`make_read_sessionmaker` (``Runtime.read_sessions``). On SQLite they differ in the lock
taken at BEGIN:

- a write transaction begins ``BEGIN IMMEDIATE``: it takes the database's write lock up front and
  waits for it (the busy timeout, 30 s) instead of failing. A WAL transaction that read first and
  writes later cannot write once another connection committed in between (SQLITE_BUSY_SNAPSHOT,
  which the busy timeout does not retry): that is what made concurrent session starts fail with
  "database is locked" at once.
- a read-only transaction begins deferred: a WAL reader, never blocking nor blocked by a writer.
  It must not write (its session refuses to flush or run DML): it would be the read-then-write
  case above.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.orm import ORMExecuteState, Session, sessionmaker

from replaylink.store.text_search import register_sqlite_functions

WRITES = "replaylink_writes"
"""Execution option of the write factory's connections: on SQLite they begin ``BEGIN IMMEDIATE``."""

READ_ONLY = "replaylink_read_only"
"""``Session.info`` key of a read-only factory's sessions."""

BUSY_TIMEOUT_SECONDS = 30
"""How long a SQLite writer waits for the write lock before failing."""


class ReadOnlySessionError(RuntimeError):
    """A read-only session was asked to write: use a write transaction for that work."""


def make_engine(url: str, **kwargs: Any) -> Engine:
    """An engine tuned for ReplayLink: WAL, foreign keys and immediate writes on SQLite, pre-ping on
    PostgreSQL."""
    if url.startswith("sqlite"):
        path = url.split("///", 1)[-1]
        if path and path != ":memory:":
            Path(path).parent.mkdir(parents=True, exist_ok=True)
            # More connections than the server's 40 worker threads: a request holds its connection
            # between two of them (endpoint, then commit), so a pool smaller than the threads
            # waiting on it could leave no thread for a holder to commit with.
            kwargs.setdefault("pool_size", 5)
            kwargs.setdefault("max_overflow", 55)
        connect_args = {"timeout": BUSY_TIMEOUT_SECONDS, "check_same_thread": False}
        engine = create_engine(url, connect_args=connect_args, **kwargs)
        event.listen(engine, "connect", _sqlite_pragmas)
        event.listen(engine, "begin", _sqlite_begin)
        return engine
    kwargs.setdefault("pool_pre_ping", True)
    kwargs.setdefault("pool_size", 10)
    kwargs.setdefault("max_overflow", 20)
    return create_engine(url, **kwargs)


def _sqlite_pragmas(dbapi_conn: Any, _record: Any) -> None:
    # Let SQLAlchemy, not pysqlite, decide when transactions begin.
    dbapi_conn.isolation_level = None
    cursor = dbapi_conn.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute(f"PRAGMA busy_timeout={BUSY_TIMEOUT_SECONDS * 1000}")
    cursor.close()
    register_sqlite_functions(dbapi_conn)


def _sqlite_begin(conn: Any) -> None:
    # Connections of the engine itself (migrations, health checks) begin deferred, as pysqlite would.
    writes = conn.get_execution_options().get(WRITES, False)
    conn.exec_driver_sql("BEGIN IMMEDIATE" if writes else "BEGIN")


def make_sessionmaker(engine: Engine) -> sessionmaker[Session]:
    """Sessions whose transactions may write (on SQLite: ``BEGIN IMMEDIATE``)."""
    return sessionmaker(engine.execution_options(**{WRITES: True}), expire_on_commit=False)


def make_read_sessionmaker(engine: Engine) -> sessionmaker[Session]:
    """Sessions that only read (on SQLite: deferred WAL readers); writing raises ReadOnlySessionError."""
    factory = sessionmaker(engine, expire_on_commit=False, info={READ_ONLY: True})
    event.listen(factory, "before_flush", _refuse_flush)
    event.listen(factory, "do_orm_execute", _refuse_dml)
    return factory


def is_read_only(session: Session) -> bool:
    """Does ``session`` come from a read-only factory?"""
    return bool(session.info.get(READ_ONLY, False))


def _refuse_flush(session: Session, _context: Any, _instances: Any) -> None:
    if session.new or session.dirty or session.deleted:
        raise ReadOnlySessionError("A read-only session cannot flush changes; write in a write transaction.")


def _refuse_dml(state: ORMExecuteState) -> None:
    if state.is_insert or state.is_update or state.is_delete:
        raise ReadOnlySessionError("A read-only session cannot run INSERT/UPDATE/DELETE.")


@contextmanager
def write_transaction(factory: sessionmaker[Session]) -> Iterator[Session]:
    """A session whose work is committed on success and rolled back on any error.

    ``factory`` is a write factory (``Runtime.sessions``): on SQLite it holds the write lock from
    its first statement to its end, so keep slow work (network, blob stores) outside.
    """
    with factory() as session, session.begin():
        yield session


transaction = write_transaction
"""The former name of :func:`write_transaction`."""


@contextmanager
def read_transaction(factory: sessionmaker[Session]) -> Iterator[Session]:
    """A read-only session (``Runtime.read_sessions``) reading one snapshot."""
    with factory() as session, session.begin():
        yield session


def error_reason(exc: Exception) -> str:
    """A database error in one line for a log: the driver's first line (no SQL, no parameters)."""
    reason = str(getattr(exc, "orig", None) or type(exc).__name__).strip()
    return (reason.splitlines() or [type(exc).__name__])[0][:200]
