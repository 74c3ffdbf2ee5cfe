"""A connection for importer work that is a single statement (claim, renew, release, an empty
chunk's commit, a failure's record).

On PostgreSQL it runs in autocommit: one statement is its own transaction, so the ``BEGIN`` and
``COMMIT`` round trips of an explicit transaction are saved. On SQLite it is a write transaction
(in process, and the write lock must be taken at ``BEGIN``).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from sqlalchemy import Connection, Engine
from sqlalchemy.orm import Session, sessionmaker


@contextmanager
def one_statement(sessions: sessionmaker[Session]) -> Iterator[Connection]:
    """A connection of ``sessions``' engine for one statement, committed when the block ends."""
    bind: Engine = sessions.kw["bind"]
    with bind.connect() as conn:
        if conn.dialect.name == "postgresql":
            conn.execution_options(isolation_level="AUTOCOMMIT")
            yield conn
        else:
            with conn.begin():
                yield conn
