"""Statements on a SQLAlchemy connection's psycopg cursor, for the hot paths (the ledger's door,
the checkout, the payment, the API's per-request statements, the outbox's publishing).

SQLAlchemy's execution of a `text()` statement (cache key, parameter processing, result
metadata) costs more client CPU than the driver's own work for a short statement: measured on
a checkout's statements, 300 to 430 us of SQLAlchemy beside 150 to 700 us of psycopg, per
statement. What SQLAlchemy's execution does around a statement is kept: the transaction
begins as it would (its `begin` event fires, and the caller's `commit()` commits it), driver
errors are raised as SQLAlchemy's exception classes (`DBAPIError` and its kinds, so callers
translate them as before), and a lost connection is invalidated. Statements use psycopg's
placeholders (`%(name)s` with a mapping, `%s` with a sequence); psycopg prepares a statement
after its fifth use on a connection. On another driver the statement goes SQLAlchemy's way.

`call` and `call_alone` go one step lower for the hottest statement (the ledger's single
posting): run through libpq itself (parameters and the row as text), which costs a fraction of
psycopg's cursor (measured on one round trip: ~12 us of client CPU against ~70 us through a
psycopg cursor and ~135 us through SQLAlchemy). A statement that is its own transaction is
prepared once per connection under a name of its own; inside a transaction it is sent unnamed
(see `_row`).

`Pipeline` sends a stream of such statements, each its own transaction, through libpq's
pipeline mode: the next is sent before the previous one's result is read, so the server runs
one while the client builds the next (the ledger's stream of batches, `post_batches_now`).
It waits for the server's socket in a selector (the GIL released, a signal's handler runs),
never inside libpq.

The one foundation below every package: it imports nothing of the project.
"""

from __future__ import annotations

import selectors
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from types import TracebackType
from typing import Any, TypeAlias, cast

import psycopg
from psycopg import pq
from psycopg.errors import error_from_result
from psycopg.rows import RowFactory, namedtuple_row
from sqlalchemy import Connection, Engine
from sqlalchemy.exc import DBAPIError

Params: TypeAlias = Mapping[str, Any] | Sequence[Any]

__all__ = [
    "Params",
    "Pipeline",
    "Row",
    "array_literal",
    "begin_command",
    "call",
    "call_alone",
    "cursor",
    "execute",
    "fetch",
    "first",
    "has_characteristics",
    "ran_nothing",
    "raw_connection",
]


def _driver(conn: Connection) -> psycopg.Connection[Any] | None:
    if not conn.in_transaction():
        conn.begin()  # as conn.execute() would: the caller's commit() then commits it
    driver = conn.connection.driver_connection
    return driver if isinstance(driver, psycopg.Connection) else None


@contextmanager
def cursor(
    conn: Connection, row_factory: RowFactory[Any] = namedtuple_row, *, raw: bool = False
) -> Iterator[psycopg.Cursor[Any]]:
    """The driver's cursor (rows as named tuples, or as `row_factory` makes them) in `conn`'s
    transaction (begun if none is). With `raw`, the connection's `psycopg.RawCursor`
    (PostgreSQL's own placeholders, $1, $2, ..., with a sequence: the statement is not parsed
    for psycopg's), made once per driver connection and kept with it (not closed on exit):
    a new cursor copies the connection's adapters, which cost a hot statement more client
    CPU than its parameters' dumping; a use nested in another gets a cursor of its own.
    Raises TypeError on another driver than psycopg."""
    driver = _driver(conn)
    if driver is None:
        raise TypeError("pgdriver.cursor needs a psycopg connection")
    proxied = conn.connection
    try:
        if raw:
            kept: psycopg.RawCursor[Any] | None = proxied.info.get(_RAW_CURSOR)
            if kept is None or kept.closed or kept.connection is not driver:
                kept = proxied.info[_RAW_CURSOR] = psycopg.RawCursor(driver)
            elif proxied.info.get(_RAW_CURSOR_IN_USE):
                # Asked again inside a use of the kept cursor: a cursor of its own, so the
                # outer use's rows and row factory stay its own.
                with psycopg.RawCursor(driver, row_factory=row_factory) as own:
                    yield own
                return
            kept.row_factory = row_factory
            proxied.info[_RAW_CURSOR_IN_USE] = True
            try:
                yield kept
            finally:
                proxied.info[_RAW_CURSOR_IN_USE] = False
            return
        with driver.cursor(row_factory=row_factory) as found:
            yield found
    except psycopg.Error as exc:
        lost = conn.dialect.is_disconnect(cast(Any, exc), proxied, None)
        if lost:
            conn.invalidate(exc)
        raise DBAPIError.instance(
            None, None, exc, psycopg.Error, connection_invalidated=lost
        ) from exc


_RAW_CURSOR = "pgdriver.raw_cursor"
"""The key, in the pooled connection's `info`, of the driver connection's kept RawCursor."""
_RAW_CURSOR_IN_USE = "pgdriver.raw_cursor_in_use"
"""The key, in the same `info`, of whether a `cursor(raw=True)` is using the kept cursor."""


def _sqlalchemy_params(params: Params) -> Any:
    return dict(params) if isinstance(params, Mapping) else tuple(params)


def fetch(conn: Connection, statement: str, params: Params) -> list[Any]:
    """Every row `statement` returns (it must return rows), as named tuples."""
    if _driver(conn) is None:
        return list(conn.exec_driver_sql(statement, _sqlalchemy_params(params)).all())
    with cursor(conn) as found:
        found.execute(statement, params)
        return found.fetchall()


def first(conn: Connection, statement: str, params: Params) -> Any:
    """The first row `statement` returns, or None."""
    # Not pipelined with the transaction's BEGIN: psycopg's pipeline mode cost more CPU
    # than the round trip it saves (measured: 250-450 us against 150 us a statement).
    if _driver(conn) is None:
        return conn.exec_driver_sql(statement, _sqlalchemy_params(params)).first()
    with cursor(conn) as found:
        found.execute(statement, params)
        return found.fetchone()


def execute(conn: Connection, statement: str, params: Params) -> int:
    """Run `statement`; the number of rows it touched."""
    if _driver(conn) is None:
        return conn.exec_driver_sql(statement, _sqlalchemy_params(params)).rowcount
    with cursor(conn) as found:
        found.execute(statement, params)
        return found.rowcount


_PREPARED = "pgdriver.prepared"
"""The key, in the pooled connection's `info` (kept for the life of the driver connection),
of the names `call` and `call_alone` prepared on it."""

Row: TypeAlias = tuple[str | None, ...]
_NO_SUCH_STATEMENT = b"26000"  # invalid_sql_statement_name
_RESULT_TYPE_CHANGED = (b"0A000", b"RevalidateCachedQuery")
"""A prepared statement whose result's columns changed since it was prepared (a migration
replaced a function it selects from with other columns): refused at every execution, having
run nothing, until it is prepared again. Told by its SQLSTATE and the server function raising
it, which are never translated (the message is under lc_messages)."""


class _Unsuited(Exception):
    """The statement cannot go through libpq here; the caller runs it its usual way."""


def _row(
    driver: psycopg.Connection[Any],
    info: dict[Any, Any],
    name: str,
    statement: str,
    params: Sequence[str | None],
    *,
    begin: bool,
) -> Row | None:
    """Run the prepared statement through libpq; raises the driver's error (psycopg.Error)."""
    if driver.pgconn.pipeline_status != pq.PipelineStatus.OFF:  # psycopg's pipeline mode
        raise _Unsuited
    encoding = driver.info.encoding
    values: list[bytes | None] = []
    for param in params:
        if param is None:
            values.append(None)
        elif "\x00" in param:  # libpq would cut the text there; psycopg refuses it
            raise _Unsuited
        else:
            values.append(param.encode(encoding))
    pgconn = driver.pgconn
    if begin and pgconn.transaction_status == pq.TransactionStatus.IDLE:
        # What psycopg would send before the transaction's first statement.
        _checked(driver, pgconn.exec_(begin_command(driver)))
    if pgconn.transaction_status != pq.TransactionStatus.IDLE:
        # Inside a transaction: the unnamed statement, parsed and planned again each time.
        # A named one could be gone: psycopg sends DEALLOCATE ALL after every rollback of a
        # connection where it prepared statements of its own (its cache's rule), and a
        # missing statement would abort the caller's transaction.
        result = pgconn.exec_params(statement.encode(), cast(Any, values))
    else:
        # Its own transaction: prepared once per connection; if deallocated behind our
        # back (psycopg's DEALLOCATE ALL, DISCARD ALL), or prepared before a migration changed
        # its result's columns, nothing ran (its transaction ended with the error):
        # deallocated if it is still there, prepared again and run, once.
        prepared: set[str] | None = info.get(_PREPARED)
        if prepared is None:
            prepared = info[_PREPARED] = set()
        if name not in prepared:
            _checked(driver, pgconn.prepare(name.encode(), statement.encode()))
            prepared.add(name)
        result = pgconn.exec_prepared(name.encode(), cast(Any, values))
        if result.status == pq.ExecStatus.FATAL_ERROR:  # asked of a failure only
            result = _prepared_again(driver, name, statement, values, result)
    _checked(driver, result)
    if result.ntuples == 0:
        return None
    return tuple(
        None if (value := result.get_value(0, column)) is None else value.decode(encoding)
        for column in range(result.nfields)
    )


def _prepared_again(
    driver: psycopg.Connection[Any],
    name: str,
    statement: str,
    values: list[bytes | None],
    result: pq.abc.PGresult,
) -> pq.abc.PGresult:
    """`_row`'s failed run of its named statement: run again once, prepared anew, if the
    statement was missing or prepared before its result's columns changed (nothing ran);
    otherwise the failure as it is."""
    failed = (
        result.error_field(pq.DiagnosticField.SQLSTATE),
        result.error_field(pq.DiagnosticField.SOURCE_FUNCTION),
    )
    if failed[0] != _NO_SUCH_STATEMENT and failed != _RESULT_TYPE_CHANGED:
        return result
    pgconn = driver.pgconn
    if failed == _RESULT_TYPE_CHANGED:
        _checked(driver, pgconn.exec_(b'DEALLOCATE "' + name.encode() + b'"'))
    _checked(driver, pgconn.prepare(name.encode(), statement.encode()))
    return pgconn.exec_prepared(name.encode(), cast(Any, values))


_BEGINS: dict[tuple[Any, Any, Any], bytes] = {}
"""`begin_command`'s texts by (isolation level, read only, deferrable): a few at most."""


def begin_command(driver: psycopg.Connection[Any]) -> bytes:
    """The BEGIN psycopg sends before a transaction's first statement, built from the
    connection's public characteristics (isolation level, read only, deferrable), as psycopg
    builds it (its own builder is private)."""
    options = (driver.isolation_level, driver.read_only, driver.deferrable)
    found = _BEGINS.get(options)
    if found is None:
        level, read_only, deferrable = options
        parts = [b"BEGIN"]
        if level is not None:
            name = psycopg.IsolationLevel(level).name.replace("_", " ")
            parts.append(b"ISOLATION LEVEL " + name.encode())
        if read_only is not None:
            parts.append(b"READ ONLY" if read_only else b"READ WRITE")
        if deferrable is not None:
            parts.append(b"DEFERRABLE" if deferrable else b"NOT DEFERRABLE")
        found = _BEGINS[options] = b" ".join(parts)
    return found


def _checked(driver: psycopg.Connection[Any], result: pq.abc.PGresult) -> None:
    if result.status in (pq.ExecStatus.COMMAND_OK, pq.ExecStatus.TUPLES_OK):
        return
    encoding = driver.info.encoding
    if driver.pgconn.status != pq.ConnStatus.OK:
        raise psycopg.OperationalError(driver.pgconn.get_error_message(encoding))
    raise error_from_result(result, encoding=encoding)


def call(conn: Connection, name: str, statement: str, params: Sequence[str | None]) -> Row | None:
    """The first row (its values as text, NULL as None) of `statement` (libpq's placeholders:
    $1, $2, ...; text parameters, None for NULL), prepared on the connection once as `name`,
    in `conn`'s transaction as `execute` would run it (begun with psycopg's BEGIN and the
    connection's isolation options, unless the connection is in autocommit). Driver errors
    are raised as `DBAPIError`, and a lost connection is invalidated, as `cursor` does.

    Raises TypeError where it cannot run so (another driver, psycopg's pipeline mode, a
    parameter holding a NUL character, which libpq would cut): run the statement the usual
    way then. The call waits in libpq (it cannot be interrupted from Python; the server's
    statement_timeout holds).
    """
    driver = _driver(conn)
    if driver is None:
        raise TypeError("pgdriver.call needs a psycopg connection")
    try:
        return _row(
            driver, conn.connection.info, name, statement, params, begin=not driver.autocommit
        )
    except _Unsuited:
        raise TypeError("pgdriver.call cannot run this statement through libpq") from None
    except psycopg.Error as exc:
        lost = conn.dialect.is_disconnect(cast(Any, exc), conn.connection, None)
        if lost:
            conn.invalidate(exc)
        raise DBAPIError.instance(
            None, None, exc, psycopg.Error, connection_invalidated=lost
        ) from exc


def call_alone(
    bind: Engine | Connection, name: str, statement: str, params: Sequence[str | None]
) -> Row | None:
    """As `call`, the statement as a transaction of its own: no BEGIN and no COMMIT, the
    server commits it as it ends (its commit-time checks run then); one round trip in all.
    On a `Connection` with no transaction open (RuntimeError otherwise), or on a connection
    of an engine's pool, taken without a SQLAlchemy `Connection` around it (whose begin,
    rollback and close cost more client CPU than the call). Raises TypeError as `call` does,
    and on an engine carrying connection characteristics (`has_characteristics`)."""
    if isinstance(bind, Connection):
        if bind.in_transaction():
            raise RuntimeError("pgdriver.call_alone on a connection with a transaction open")
        return _alone(bind.connection, bind.dialect, name, statement, params)
    if has_characteristics(bind):
        raise TypeError("pgdriver.call_alone on an engine with connection characteristics")
    raw = raw_connection(bind)
    try:
        return _alone(raw, bind.dialect, name, statement, params)
    finally:
        raw.close()


def has_characteristics(engine: Engine) -> bool:
    """Whether `engine` carries a connection characteristic among its execution options
    (`engine.execution_options(isolation_level=...)`, read only, deferrable, a logging
    token): SQLAlchemy applies them to a `Connection` (its engine_connect event), not to a
    connection taken from the pool raw, so the one-round-trip calls leave such an engine to
    the usual unit of work."""
    options = engine.get_execution_options()
    names: Mapping[str, Any] = getattr(engine.dialect, "connection_characteristics", {})
    return any(name in options for name in names)


def raw_connection(engine: Engine) -> Any:
    """`engine.raw_connection()` (a connection of its pool, no SQLAlchemy `Connection` around
    it), the driver's error on connecting (refused, a failover under way) raised as
    `Engine.connect()` raises it: the dialect's `DBAPIError` subclass
    (`sqlalchemy.exc.OperationalError` for a refused connect), `connection_invalidated` where
    the dialect judges it a lost connection."""
    dialect = engine.dialect
    try:
        return engine.raw_connection()
    except dialect.loaded_dbapi.Error as exc:
        raise DBAPIError.instance(
            None,
            None,
            exc,
            dialect.loaded_dbapi.Error,
            hide_parameters=engine.hide_parameters,
            connection_invalidated=dialect.is_disconnect(exc, None, None),
            dialect=dialect,
        ) from exc


def _alone(
    pooled: Any, dialect: Any, name: str, statement: str, params: Sequence[str | None]
) -> Row | None:
    driver = pooled.driver_connection
    if not isinstance(driver, psycopg.Connection):
        raise TypeError("pgdriver.call_alone needs a psycopg connection")
    if driver.pgconn.transaction_status != pq.TransactionStatus.IDLE:
        raise RuntimeError("pgdriver.call_alone on a connection with a transaction open")
    try:
        return _row(driver, pooled.info, name, statement, params, begin=False)
    except _Unsuited:
        raise TypeError("pgdriver.call_alone cannot run this statement through libpq") from None
    except psycopg.Error as exc:
        lost = dialect.is_disconnect(cast(Any, exc), pooled, None)
        if lost:
            pooled.invalidate(exc)
        raise DBAPIError.instance(
            None, None, exc, psycopg.Error, connection_invalidated=lost
        ) from exc


class Pipeline:
    """Prepared statements sent through libpq's pipeline mode, each time a transaction of its
    own (a Sync after each: the server commits it as it ends, its
    commit-time checks run then, and an error ends only its own), the next sent before the
    previous one's result is read: the server runs one while the client builds the next. How
    many are in flight is the caller's choice (`pending`).

    Made on a SQLAlchemy `Connection` with no transaction open (RuntimeError otherwise;
    TypeError on another driver than psycopg), with the statements it may send by name. `send`
    prepares them once per connection under their names (as `call_alone` does) and enters
    pipeline mode at the first;
    `receive` reads the oldest statement's results up to its Sync and returns its first row
    (None: no row), or raises its error as `DBAPIError` (the statements after it run as they
    would have: each has its own Sync); `close` (also on leaving a `with` block) reads what is
    still in flight, dropping it, leaves pipeline mode and RESETs the session `settings` the
    statements may set (one round trip, if anything was sent since the last `close`): the
    connection is then usable as before, a pooled one with no trace of the stream. A
    connection lost on the way, or left out of step with libpq (an interrupt in the middle
    of a send or a read), is invalidated, never handed back half-pipelined. Nothing else may
    use the connection until `close`. It waits for the socket in a selector (any descriptor,
    the GIL released), not inside libpq: a signal's handler runs meanwhile, and an exception
    it raises there leaves the connection to be invalidated.
    """

    def __init__(
        self, conn: Connection, statements: Mapping[str, str], *, settings: Sequence[str] = ()
    ) -> None:
        if conn.in_transaction():
            raise RuntimeError("pgdriver.Pipeline on a connection with a transaction open")
        driver = conn.connection.driver_connection
        if not isinstance(driver, psycopg.Connection):
            raise TypeError("pgdriver.Pipeline needs a psycopg connection")
        self._conn = conn
        self._driver: psycopg.Connection[Any] = driver
        self._statements = {name: text.encode() for name, text in statements.items()}
        self._resets = [b"RESET " + _identifier(setting) for setting in settings]
        self._encoding = driver.info.encoding
        self._selector: selectors.BaseSelector | None = None
        self._waiting_for = 0  # the events the socket is registered for
        self._entered = False  # pipeline mode entered since the last close
        self._pending = 0
        self._busy = False  # inside a send or a read: interrupted there, libpq is out of step
        self._broken = False

    def __enter__(self) -> Pipeline:
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        value: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()

    @property
    def pending(self) -> int:
        """Statements sent whose results were not read yet."""
        return self._pending

    def send(self, name: str, params: Sequence[str | None]) -> None:
        """Send the statement `name` with `params` (text, None for NULL) and a Sync, without waiting
        for a result. Raises TypeError, having sent nothing, for a parameter holding a NUL
        character (libpq would cut the text there)."""
        if self._broken:
            raise RuntimeError("pgdriver.Pipeline on an invalidated connection")
        values: list[bytes | None] = []
        for param in params:
            if param is None:
                values.append(None)
            elif "\x00" in param:
                raise TypeError("pgdriver.Pipeline cannot send a NUL character")
            else:
                values.append(param.encode(self._encoding))
        self._busy = True
        try:
            pgconn = self._driver.pgconn
            if pgconn.pipeline_status == pq.PipelineStatus.OFF:
                self._enter()
            pgconn.send_query_prepared(name.encode(), cast(Any, values))
            pgconn.pipeline_sync()
            self._pending += 1
            self._flush()
        except psycopg.Error as exc:
            raise self._lost(exc) from exc
        self._busy = False

    def _enter(self) -> None:
        """Prepare the statements this connection has not (outside the pipeline: a round trip
        each, once), then enter pipeline mode."""
        pgconn = self._driver.pgconn
        if pgconn.transaction_status != pq.TransactionStatus.IDLE:
            raise RuntimeError("pgdriver.Pipeline on a connection with a transaction open")
        info = self._conn.connection.info
        prepared: set[str] | None = info.get(_PREPARED)
        if prepared is None:
            prepared = info[_PREPARED] = set()
        for name, statement in self._statements.items():
            if name not in prepared:
                # Prepared before and then found gone or stale (`receive`): deallocated first
                # if it is still there (an error here, outside any transaction, costs nothing).
                pgconn.exec_(b'DEALLOCATE "' + name.encode() + b'"')
                _checked(self._driver, pgconn.prepare(name.encode(), statement))
                prepared.add(name)
        pgconn.enter_pipeline_mode()
        self._entered = True

    def _wait(self, events: int) -> int:
        """Wait until the socket is ready for `events` (selectors' EVENT_READ, EVENT_WRITE);
        the events it is ready for. The selector is kept until `close`."""
        fd = self._driver.pgconn.socket
        if self._selector is None:
            self._selector = selectors.DefaultSelector()
            self._waiting_for = 0
        if self._waiting_for != events:
            if self._waiting_for:
                self._selector.modify(fd, events)
            else:
                self._selector.register(fd, events)
            self._waiting_for = events
        ready = 0
        for _, mask in self._selector.select():
            ready |= mask
        return ready

    def _flush(self) -> None:
        """Everything sent written to the socket (psycopg's connections are non-blocking, so
        libpq may keep some in its buffer): the server must not wait for the rest of a
        statement while the client builds the next. Results arriving meanwhile are read into
        libpq's buffer, so the server never waits on a client waiting on it."""
        pgconn = self._driver.pgconn
        while pgconn.flush() == 1:
            if self._wait(selectors.EVENT_READ | selectors.EVENT_WRITE) & selectors.EVENT_READ:
                pgconn.consume_input()

    def receive(self) -> Row | None:
        """The oldest statement in flight's first row (values as text, NULL as None), or None
        if it returned no row; its error raised as `DBAPIError` (a statement failing at its
        commit too: a row read before the error does not count)."""
        if self._broken:
            raise RuntimeError("pgdriver.Pipeline on an invalidated connection")
        if not self._pending:
            raise RuntimeError("pgdriver.Pipeline.receive with nothing in flight")
        self._busy = True
        try:
            row, error = self._until_sync()
        except psycopg.Error as exc:
            raise self._lost(exc) from exc
        self._pending -= 1
        self._busy = False
        if error is None:
            return row
        if error.sqlstate == _NO_SUCH_STATEMENT.decode() or (
            error.sqlstate == _RESULT_TYPE_CHANGED[0].decode()
            and error.diag.source_function == _RESULT_TYPE_CHANGED[1].decode()
        ):
            # Deallocated behind our back, or its result's columns changed: nothing ran;
            # prepared again before the next pipeline.
            self._conn.connection.info.get(_PREPARED, set()).difference_update(self._statements)
        lost = self._conn.dialect.is_disconnect(cast(Any, error), self._conn.connection, None)
        if lost:
            self._broken = True
            self._conn.invalidate(error)
        raise DBAPIError.instance(
            None, None, error, psycopg.Error, connection_invalidated=lost
        ) from error

    def _until_sync(self) -> tuple[Row | None, psycopg.Error | None]:
        """The oldest statement's results up to its Sync: its first row, its first error."""
        pgconn = self._driver.pgconn
        encoding = self._encoding
        row: Row | None = None
        error: psycopg.Error | None = None
        nones = 0
        while True:
            # Waited for in the selector (the GIL released, an interrupt heard), not in
            # libpq's get_result, which holds the GIL while it blocks: other threads run.
            while pgconn.is_busy():
                self._wait(selectors.EVENT_READ)
                pgconn.consume_input()
            result = pgconn.get_result()
            if result is None:  # the end of one query's results; never two in a row
                nones += 1
                if pgconn.status != pq.ConnStatus.OK:
                    raise psycopg.OperationalError(
                        pgconn.get_error_message(encoding) or "the connection failed"
                    )
                if nones > 1:
                    raise _OwnError("the pipeline is out of step")
                continue
            nones = 0
            status = result.status
            if status == pq.ExecStatus.PIPELINE_SYNC:
                return row, error
            if status == pq.ExecStatus.TUPLES_OK:
                if row is None and result.ntuples:
                    row = tuple(
                        None if (v := result.get_value(0, c)) is None else v.decode(encoding)
                        for c in range(result.nfields)
                    )
            elif status != pq.ExecStatus.COMMAND_OK and error is None:
                error = (
                    error_from_result(result, encoding=encoding)
                    if status == pq.ExecStatus.FATAL_ERROR
                    else psycopg.OperationalError(f"unexpected result {status!r}")
                )

    def close(self) -> None:
        """Read what is still in flight (results and errors dropped), leave pipeline mode and
        RESET the settings; the connection invalidated if that fails, or if a send or read
        was interrupted."""
        try:
            self._close()
        finally:
            if self._selector is not None:
                self._selector.close()
                self._selector = None

    def _close(self) -> None:
        if self._broken:
            return
        try:
            if self._busy:
                raise _OwnError("a pipelined send or read was interrupted")
            while self._pending:
                try:
                    self.receive()
                except DBAPIError:
                    if self._broken:
                        return
            pgconn = self._driver.pgconn
            if pgconn.pipeline_status != pq.PipelineStatus.OFF:
                pgconn.exit_pipeline_mode()
            if self._entered:
                self._entered = False
                for reset in self._resets:
                    _checked(self._driver, pgconn.exec_(reset))
        except BaseException as exc:
            if not self._broken:
                self._broken = True
                self._conn.invalidate(_reason(exc))
            if not isinstance(exc, psycopg.OperationalError) or not self._busy:
                raise
            # An interrupted send or read: the interrupt was raised where it happened.

    def _lost(self, exc: psycopg.Error) -> DBAPIError:
        """The connection failed under a send or read: invalidated; the error to raise."""
        self._broken = True
        self._conn.invalidate(_reason(exc))
        return cast(
            DBAPIError,
            DBAPIError.instance(None, None, exc, psycopg.Error, connection_invalidated=True),
        )


class _OwnError(psycopg.OperationalError):
    """An error `Pipeline` raises itself (the exchange interrupted, or out of step), not
    the server's: the connection it closes is invalidated with no reason, so that nothing
    watching the pool (liventix.database) takes it for a server gone."""


def _reason(exc: BaseException) -> Exception | None:
    """What a connection closed on `exc` is invalidated with: the error, unless it is an
    interrupt or the pipeline's own."""
    return None if isinstance(exc, _OwnError) or not isinstance(exc, Exception) else exc


def ran_nothing(error: DBAPIError) -> bool:
    """Whether a `Pipeline` statement's error says it ran nothing: its prepared statement
    was gone (deallocated behind our back) or stale (its result's columns changed); the
    pipeline prepares it again before its next statements, as `call_alone` would at once."""
    orig = error.orig
    sqlstate = getattr(orig, "sqlstate", None)
    if sqlstate == _NO_SUCH_STATEMENT.decode():
        return True
    diag = getattr(orig, "diag", None)
    return (
        sqlstate == _RESULT_TYPE_CHANGED[0].decode()
        and diag is not None
        and diag.source_function == _RESULT_TYPE_CHANGED[1].decode()
    )


def _identifier(name: str) -> bytes:
    """A setting's name as RESET takes it: each dotted part quoted."""
    return ".".join('"' + part.replace('"', '""') + '"' for part in name.split(".")).encode()


def array_literal(values: Sequence[Any]) -> str:
    """`values` as PostgreSQL's array literal (each element quoted, quotes and backslashes
    escaped, None as NULL), for a placeholder the statement casts to its array type:
    psycopg's dumping of a list costs ~10-25 us of client CPU per array, the literal ~1-2 us
    (the payment's and the publishing's statements take 7 and 12 arrays)."""
    texts = [str(v) for v in values if v is not None]
    if texts and len(texts) == len(values):
        plain = "".join(texts)
        if '"' not in plain and "\\" not in plain:  # nothing to escape: quoted as they are
            return '{"' + '","'.join(texts) + '"}'
    quoted = (
        "NULL" if v is None else '"' + str(v).replace("\\", "\\\\").replace('"', '\\"') + '"'
        for v in values
    )
    return "{" + ",".join(quoted) + "}"
