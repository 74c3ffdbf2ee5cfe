"""error group buckets on PostgreSQL: an index by group, so that a window reads each group's hours
as one range

Revision ID: 0017
Revises: 0016
Create Date: 2026-12-07 21:40:00.000000

The buckets' key (project, period, start, fingerprint) serves the windows' ranking, which reads
every group's buckets of a few hours or days. The exact counts of the page's candidates read up
to a dozen consecutive hours per edge for about a hundred groups: in key order that is one index
descent per hour and group (PostgreSQL chose a sequential scan of the table instead: 28 ms of a
24 h page at 10M events). By group, it is one short range per group (about 1.5 ms).

SQLite reads these ranges well by the key. Given this index, it grouped every day bucket of the
project through it to rank a window (0.4 -> 8 ms a page at 1M events), so it is PostgreSQL's only.
"""

from __future__ import annotations

from alembic import op

revision = "0017"
down_revision = "0016"
branch_labels = None
depends_on = None

INDEX = "ix_error_group_buckets_group"  # store.unmodelled.PG_BUCKETS_BY_GROUP (not in the models)


def upgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    op.create_index(INDEX, "error_group_buckets", ["project_id", "period", "fingerprint", "start"])


def downgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    op.drop_index(INDEX, table_name="error_group_buckets")
