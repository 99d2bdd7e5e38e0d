"""Alembic's entry point: connects and runs the revisions in `versions/`, one transaction each.

Which database, first match wins:
1. a `sqlalchemy.Connection` in `config.attributes["connection"]`, as
   `liventix.database.upgrade` passes it (the caller owns the connection);
2. `sqlalchemy.url` in the configuration (`alembic.ini`, or `alembic -x` free configs);
3. the application database, found as the `liventix` CLI finds it: the server named by
   `DATABASE_URL` (else the embedded server in `LIVENTIX_DATA_DIR`), database
   `LIVENTIX_DB_NAME`, created if missing.

The revisions create PostgreSQL roles and schemas: run them as a superuser or the owner.
"""

from __future__ import annotations

from logging.config import fileConfig

import sqlalchemy as sa
from alembic import context
from sqlalchemy.pool import NullPool

config = context.config

if config.config_file_name is not None:
    fileConfig(config.config_file_name, disable_existing_loggers=False)

# Migrations are hand-written SQL, so there is nothing to autogenerate from; a caller running
# `alembic check` style comparisons may pass a MetaData in config.attributes.
target_metadata = config.attributes.get("target_metadata")


def _configured_url() -> str | None:
    url = config.get_main_option("sqlalchemy.url")
    return url or None


def _application_url() -> str:
    # Imported late: the programmatic path (a connection in attributes) never needs it.
    from liventix.database import app_database_url, ensure_database, server_url  # noqa: PLC0415
    from liventix.settings import Settings  # noqa: PLC0415

    settings = Settings.from_env()
    server = server_url(settings)
    ensure_database(server, settings.database_name)
    return app_database_url(settings)


def _run(connection: sa.Connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=target_metadata,
        transaction_per_migration=True,
    )
    with context.begin_transaction():
        context.run_migrations()


def run_migrations_offline() -> None:
    """Print the SQL of the migrations instead of running it (`alembic upgrade --sql`)."""
    url = _configured_url()
    context.configure(
        url=url,
        dialect_name=None if url else "postgresql",
        target_metadata=target_metadata,
        literal_binds=True,
        transaction_per_migration=True,
    )
    with context.begin_transaction():
        context.run_migrations()


def run_migrations_online() -> None:
    """Run the migrations on a live database."""
    connection = config.attributes.get("connection")
    if isinstance(connection, sa.Connection):
        _run(connection)
        return
    engine = sa.create_engine(_configured_url() or _application_url(), poolclass=NullPool)
    try:
        with engine.connect() as conn:
            _run(conn)
            conn.commit()
    finally:
        engine.dispose()


if context.is_offline_mode():
    run_migrations_offline()
else:
    run_migrations_online()
