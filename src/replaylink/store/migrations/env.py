"""Alembic environment: the engine is handed over by replaylink.store.migrate."""

from __future__ import annotations

from alembic import context

from replaylink.store.models import Base
from replaylink.store.text_search import in_models

engine = context.config.attributes["engine"]

with engine.connect() as connection:
    context.configure(
        connection=connection,
        target_metadata=Base.metadata,
        render_as_batch=connection.dialect.name == "sqlite",
        compare_type=True,
        include_object=in_models,  # the text-search index and FTS5 table of 0005 are not models
    )
    with context.begin_transaction():
        context.run_migrations()
    connection.commit()
