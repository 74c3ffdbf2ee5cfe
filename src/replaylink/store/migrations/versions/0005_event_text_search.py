"""full-text search over backend events' title and message

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-24 09:30:00.000000

The ``q`` filter of the sessions and backend-errors endpoints (``replaylink.store.sessions_query``).
What is indexed on both backends: the title and the first 4,096 characters of the message, split
into words at every ASCII punctuation character and whitespace, case-insensitive, accents kept.

- PostgreSQL: a GIN index on ``to_tsvector('simple', ...)`` of that text (punctuation turned into
  spaces by ``regexp_replace``, so ``app.handlers`` or ``cart_id`` are two words, as on SQLite).
  Queries must repeat the expression exactly (``text_search.PG_DOCUMENT``) for the planner to
  use it. The message is cut because ``to_tsvector`` refuses documents over 1 MB. The build reads
  and tokenizes every event while holding writes (importers wait): 6.5 minutes for 10M events on
  2 vCPUs (index 0.9 GB). SQLite indexes 1M events in about 16 s.
- SQLite: an FTS5 table whose external content is a view of the same text, kept in sync by
  triggers on ``backend_events`` (insert, delete, update of id/title/message; foreign-key cascades
  fire them too). The view keeps ``'rebuild'`` and ``'integrity-check'`` consistent with what the
  triggers index. A later migration that recreates ``backend_events`` on SQLite (batch "move and
  copy") drops these triggers: it must create them again.

Neither is in the models: ``unmodelled.in_models`` hides them from autogenerate.
"""

from __future__ import annotations

from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None

MESSAGE_CHARS = 4096

# ASCII punctuation to spaces first: the parser would keep "app.handlers", "a@b.c" or "1.2.3" whole.
PG_DOCUMENT = (
    f"to_tsvector('simple'::regconfig, regexp_replace(title || ' ' || left(message, {MESSAGE_CHARS}), "
    "'[!-/:-@[-`{-~]+', ' ', 'g'))"
)

SQLITE_UPGRADE = [
    "CREATE VIEW backend_events_fts_content AS "
    f"SELECT id, title, substr(message, 1, {MESSAGE_CHARS}) AS message FROM backend_events",
    "CREATE VIRTUAL TABLE backend_events_fts USING fts5(title, message, "
    "content='backend_events_fts_content', content_rowid='id', "
    "tokenize='unicode61 remove_diacritics 0')",
    "CREATE TRIGGER backend_events_fts_insert AFTER INSERT ON backend_events BEGIN "
    "INSERT INTO backend_events_fts(rowid, title, message) "
    f"VALUES (new.id, new.title, substr(new.message, 1, {MESSAGE_CHARS})); "
    "END",
    "CREATE TRIGGER backend_events_fts_delete AFTER DELETE ON backend_events BEGIN "
    "INSERT INTO backend_events_fts(backend_events_fts, rowid, title, message) "
    f"VALUES ('delete', old.id, old.title, substr(old.message, 1, {MESSAGE_CHARS})); "
    "END",
    "CREATE TRIGGER backend_events_fts_update AFTER UPDATE OF id, title, message ON backend_events BEGIN "
    "INSERT INTO backend_events_fts(backend_events_fts, rowid, title, message) "
    f"VALUES ('delete', old.id, old.title, substr(old.message, 1, {MESSAGE_CHARS})); "
    "INSERT INTO backend_events_fts(rowid, title, message) "
    f"VALUES (new.id, new.title, substr(new.message, 1, {MESSAGE_CHARS})); "
    "END",
    # Index the rows already stored (reads them through the view).
    "INSERT INTO backend_events_fts(backend_events_fts) VALUES ('rebuild')",
]

SQLITE_DOWNGRADE = [
    "DROP TRIGGER IF EXISTS backend_events_fts_update",
    "DROP TRIGGER IF EXISTS backend_events_fts_delete",
    "DROP TRIGGER IF EXISTS backend_events_fts_insert",
    "DROP TABLE IF EXISTS backend_events_fts",
    "DROP VIEW IF EXISTS backend_events_fts_content",
]


def upgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute(f"CREATE INDEX ix_backend_events_text ON backend_events USING gin ({PG_DOCUMENT})")
    else:
        for statement in SQLITE_UPGRADE:
            op.execute(statement)


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP INDEX IF EXISTS ix_backend_events_text")
    else:
        for statement in SQLITE_DOWNGRADE:
            op.execute(statement)
