"""Alembic environment: runs against the URL the caller put in the config."""

from __future__ import annotations

from alembic import context

from switchboard.store.db import make_engine, only_our_tables
from switchboard.store.models import Base

config = context.config
url = config.get_main_option("sqlalchemy.url")
assert url is not None
engine = make_engine(url)
with engine.connect() as connection:
    context.configure(
        connection=connection,
        target_metadata=Base.metadata,
        render_as_batch=url.startswith("sqlite"),
        version_table="switchboard_alembic_version",
        include_object=only_our_tables,
    )
    with context.begin_transaction():
        context.run_migrations()
engine.dispose()
