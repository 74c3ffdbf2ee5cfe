"""Alembic environment: the engine is handed over by replaylink.store.migrate."""

from __future__ import annotations

from alembic import context

from replaylink.store.models import Base
from replaylink.store.unmodelled import in_models

engine = context.config.attributes["engine"]

with engine.connect() as connection:
    context.configure(
        connection=connection,
        target_metadata=Base.metadata,
        render_as_batch=connection.dialect.name == "sqlite",
        compare_type=True,
        include_object=in_models,  # what the migrations keep outside the models
    )
    with context.begin_transaction():
        context.run_migrations()
    connection.commit()
