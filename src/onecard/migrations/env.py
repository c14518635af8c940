"""Alembic environment: uses the engine handed over by ``runner.upgrade``."""

from __future__ import annotations

from alembic import context

from onecard.core.db import make_engine
from onecard.models import metadata

config = context.config
engine = config.attributes.get("engine")
if engine is None:
    from onecard.core.config import get_settings

    engine = make_engine(get_settings().database_url)

with engine.begin() as connection:
    context.configure(
        connection=connection,
        target_metadata=metadata,
        render_as_batch=connection.dialect.name == "sqlite",
        compare_type=True,
    )
    context.run_migrations()
