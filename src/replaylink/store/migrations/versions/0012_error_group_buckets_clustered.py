"""error-group buckets stored in key order on SQLite (WITHOUT ROWID)

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-07 12:00:00.000000

A window's error groups read the bucket rows of a range of ``(project_id, period, start)``, or of
a list of ``(start, fingerprint)`` keys. On SQLite ``error_group_buckets`` was a rowid table:
each row read through the primary key cost a second lookup in the table, on another page. As a
``WITHOUT ROWID`` table the rows are the key's b-tree, so a range is one sequential read (2-3x
less CPU for the day buckets of a week) and the triggers' upserts touch one b-tree instead of two.

SQLite cannot change a table to ``WITHOUT ROWID``: the table is copied into a new one. The
triggers that name it (0008's, on ``backend_events``) are dropped for the copy and created again
from their stored text. PostgreSQL is unchanged.
"""

from __future__ import annotations

from alembic import op

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None

TABLE = "error_group_buckets"
COLUMNS = "project_id, period, start, fingerprint, events, first_seen, last_seen"
DEFINITION = (
    "(project_id INTEGER NOT NULL, period VARCHAR(1) NOT NULL, start DATETIME NOT NULL, "
    "fingerprint VARCHAR(64) NOT NULL, events BIGINT NOT NULL, first_seen DATETIME NOT NULL, "
    "last_seen DATETIME NOT NULL, "
    "CONSTRAINT pk_error_group_buckets PRIMARY KEY (project_id, period, start, fingerprint), "
    "CONSTRAINT fk_error_group_buckets_project_id_projects FOREIGN KEY(project_id) "
    "REFERENCES projects (id) ON DELETE CASCADE)"
)


def _rebuild(options: str) -> None:
    """SQLite: ``error_group_buckets`` copied into a table created with ``options``."""
    bind = op.get_bind()
    if bind.dialect.name != "sqlite":
        return
    triggers = bind.exec_driver_sql(
        f"SELECT name, sql FROM sqlite_master WHERE type = 'trigger' AND sql LIKE '%{TABLE}%'"
    ).all()
    for name, _ in triggers:
        op.execute(f'DROP TRIGGER "{name}"')
    op.execute(f"CREATE TABLE {TABLE}_copy {DEFINITION}{options}")
    op.execute(f"INSERT INTO {TABLE}_copy ({COLUMNS}) SELECT {COLUMNS} FROM {TABLE} ORDER BY 1, 2, 3, 4")
    op.execute(f"DROP TABLE {TABLE}")
    op.execute(f"ALTER TABLE {TABLE}_copy RENAME TO {TABLE}")
    for _, sql in triggers:
        op.execute(sql)
    op.execute(f"ANALYZE {TABLE}")


def upgrade() -> None:
    _rebuild(" WITHOUT ROWID")


def downgrade() -> None:
    _rebuild("")
