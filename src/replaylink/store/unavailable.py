"""What "the database is unavailable" means: the one definition every caller answers 503 by.

An error is *unavailable* when the database cannot be reached or cannot take the request right now,
so that the same request, retried a few seconds later, may well succeed:

- the connection could not be made or was lost: psycopg's client-side errors (``OperationalError``
  without a SQLSTATE: "connection refused", "server closed the connection unexpectedly",
  "connection timeout expired"), SQLSTATE class 08 (connection exception), 57P01-57P03 (the
  server is shutting down, crashed or starting up) and 53300 (too many connections); any error
  SQLAlchemy marks ``connection_invalidated`` (its dialect saw a disconnect); a pool
  ``DisconnectionError``;
- this process's connection pool stayed exhausted for its whole timeout (connections hang, or
  every one is busy): SQLAlchemy's pool ``TimeoutError``;
- SQLite's write lock stayed taken for the whole busy timeout (``SQLITE_BUSY``, "database is
  locked"): another process writes, and the next try may get the lock.

Everything else is a bug or a refusal to be seen as one: constraint violations, syntax errors,
a cancelled statement (57014, a statement timeout), a wrong password (class 28), and SQLite's
``SQLITE_BUSY_SNAPSHOT`` (a deferred transaction that read before writing: fails at once, whatever
the busy timeout, so retrying does not help).
"""

from __future__ import annotations

import sqlite3

import psycopg
from sqlalchemy.exc import DBAPIError, DisconnectionError
from sqlalchemy.exc import TimeoutError as PoolTimeout

CODE = "database_unavailable"
MESSAGE = "The database is unreachable or busy right now; retry in a few seconds (see Retry-After)."
"""Said to the client: nothing of the driver's message (it can name the server, port and user)."""
RETRY_AFTER_SECONDS = 5

_SERVER_GONE = frozenset({"57P01", "57P02", "57P03", "53300"})
"""admin_shutdown, crash_shutdown, cannot_connect_now, too_many_connections."""


def database_unavailable(exc: BaseException) -> bool:
    """Is ``exc`` the database being unreachable or busy (retry later), not a failing statement?"""
    if isinstance(exc, DisconnectionError | PoolTimeout):
        return True
    driver: BaseException | None = exc
    if isinstance(exc, DBAPIError):
        if exc.connection_invalidated:
            return True
        driver = exc.orig
    if isinstance(driver, psycopg.OperationalError):
        state = driver.sqlstate
        return state is None or state.startswith("08") or state in _SERVER_GONE
    if isinstance(driver, sqlite3.OperationalError):
        code = getattr(driver, "sqlite_errorcode", None)
        busy = isinstance(code, int) and code & 0xFF == sqlite3.SQLITE_BUSY
        return busy and code != sqlite3.SQLITE_BUSY_SNAPSHOT
    return False


def reason(exc: BaseException) -> str:
    """One line for the server's log: the error's class and the driver's first line (no SQL, no
    parameters, no password: libpq's messages name at most the host, port and user)."""
    driver = exc.orig if isinstance(exc, DBAPIError) else exc
    lines = str(driver).strip().splitlines()
    first = lines[0][:200] if lines else ""
    return f"{type(driver).__module__}.{type(driver).__qualname__}: {first}"
