"""Multi-row ``INSERT ... VALUES (...), (...)`` on SQLite: one statement per power-of-two slice.

An executemany is one statement per row (FTS5 flushes its pending terms and every trigger and
index does its per-statement work each time), and SQLAlchemy's ORM bulk insert processes every
parameter in Python. Cutting a batch into power-of-two slices lets a handful of cached statement
texts serve every batch size.
"""

from __future__ import annotations

import functools
import sqlite3
from collections.abc import Iterator, Sequence
from typing import Any

from sqlalchemy import Connection, CursorResult

MOST_ROWS = 512


def slice_rows(dbapi_connection: Any, width: int) -> int:
    """The most rows of ``width`` columns one statement may carry: a power of two, at most
    ``MOST_ROWS``, within the connection's limit on bound parameters (32,766 since SQLite 3.32,
    999 before)."""
    limit = int(dbapi_connection.getlimit(sqlite3.SQLITE_LIMIT_VARIABLE_NUMBER))
    rows = max(1, min(MOST_ROWS, limit // width))
    return 1 << (rows.bit_length() - 1)


@functools.lru_cache(maxsize=64)
def statement(head: str, width: int, rows: int, tail: str) -> str:
    """``head VALUES (?, ...), ... tail`` for ``rows`` rows of ``width`` values."""
    marks = "(" + ", ".join("?" * width) + ")"
    return f"{head} VALUES {', '.join([marks] * rows)} {tail}"


def insert_sliced(
    connection: Connection, head: str, width: int, values: Sequence[Any], tail: str = ""
) -> Iterator[CursorResult[Any]]:
    """Run ``head VALUES ... tail`` over ``values`` (every row's ``width`` values, flat), one
    statement per slice; yields each statement's result (its row count, its RETURNING rows)."""
    count = len(values) // width
    most = slice_rows(connection.connection.dbapi_connection, width)
    done = 0
    while done < count:
        size = min(most, 1 << ((count - done).bit_length() - 1))
        chunk = tuple(values[done * width : (done + size) * width])
        yield connection.exec_driver_sql(statement(head, width, size, tail), chunk)
        done += size
