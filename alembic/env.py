"""Alembic environment: a plain synchronous psycopg 3 engine, URL from the caller or DATABASE_URL."""

from __future__ import annotations

import os
from logging.config import fileConfig

from alembic import context
from sqlalchemy import create_engine, pool, text

from halolight.db.migrate import sync_url
from halolight.db.models import Base

config = context.config
target_metadata = Base.metadata

# Any constant works, as long as every process migrating this database uses the same one.
_MIGRATION_LOCK_KEY = 0x4A4C_0001

if config.config_file_name is not None and config.attributes.get("configure_logging", True):
    fileConfig(config.config_file_name, disable_existing_loggers=False)


def _url() -> str:
    url = config.attributes.get("url") or os.environ.get("DATABASE_URL")
    if not url:
        raise RuntimeError("no database URL: pass cfg.attributes['url'] or set DATABASE_URL")
    return sync_url(str(url))


def run_migrations_offline() -> None:
    """`alembic upgrade --sql`: print the DDL, e.g. for review before it touches the shared database."""
    context.configure(url=_url(), target_metadata=target_metadata, literal_binds=True)
    with context.begin_transaction():
        context.run_migrations()


def run_migrations_online() -> None:
    engine = create_engine(_url(), poolclass=pool.NullPool)
    try:
        with engine.connect() as connection:
            context.configure(
                connection=connection, target_metadata=target_metadata, compare_server_default=True
            )
            with context.begin_transaction():
                # Several app instances may start, and migrate, at once: the next one waits, then finds
                # nothing left to do.
                connection.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": _MIGRATION_LOCK_KEY})
                context.run_migrations()
    finally:
        engine.dispose()


if context.is_offline_mode():
    run_migrations_offline()
else:
    run_migrations_online()
