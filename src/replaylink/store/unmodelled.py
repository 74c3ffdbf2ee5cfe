"""Schema objects the migrations create outside the models, and Alembic's filter that hides them.

- The text-search objects of 0005: SQLite's FTS5 table (``text_search.FTS_TABLE``...) and
  PostgreSQL's GIN index (``text_search.PG_TEXT_INDEX``).
- PostgreSQL's index of ``error_group_buckets`` by group (0017). SQLite has none: it reads a
  group's consecutive hours well by the key, and given this index it grouped every day bucket of a
  project through it to rank a window.
"""

from __future__ import annotations

from replaylink.store.text_search import FTS_TABLE, PG_TEXT_INDEX

PG_BUCKETS_BY_GROUP = "ix_error_group_buckets_group"
INDEXES = frozenset({PG_TEXT_INDEX, PG_BUCKETS_BY_GROUP})


def in_models(_object: object, name: str | None, type_: str, _reflected: bool, _compare_to: object) -> bool:
    """Alembic ``include_object``: False for the objects above."""
    if name is None:
        return True
    if type_ == "table":
        return not name.startswith(FTS_TABLE)
    return not (type_ == "index" and name in INDEXES)
