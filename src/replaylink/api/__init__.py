"""HTTP API (FastAPI): ingest for the browser, /api/v1 for users, health."""
