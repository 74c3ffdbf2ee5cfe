"""Storage: tables, queries and migrations (SQLite and PostgreSQL through SQLAlchemy 2)."""
