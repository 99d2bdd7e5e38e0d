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

The one foundation below every package: it imports nothing of the project.
"""

from __future__ import annotations

import hashlib
import select
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from typing import Any, TypeAlias, cast

import psycopg
from psycopg import pq
from psycopg.adapt import PyFormat
from psycopg.errors import error_from_result
from psycopg.rows import RowFactory, _make_nt, namedtuple_row
from sqlalchemy import Connection, Engine
from sqlalchemy.exc import DBAPIError

Params: TypeAlias = Mapping[str, Any] | Sequence[Any]

__all__ = [
    "Params",
    "Row",
    "array_literal",
    "begin_command",
    "call",
    "call_alone",
    "cursor",
    "execute",
    "fetch",
    "fetch_raw",
    "first",
    "has_characteristics",
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


def fetch_raw(conn: Connection, statement: bytes, params: Sequence[Any]) -> list[Any]:
    """Every row `statement` returns (it must return rows; PostgreSQL's placeholders, $1, $2,
    ..., as bytes), as named tuples, in `conn`'s transaction (begun if none is), as
    `cursor(conn, raw=True)` runs it: the same parameter types, the same rows and values,
    driver errors raised as SQLAlchemy's (a lost connection invalidated).

    As the transaction's first statement, it goes with the transaction's BEGIN in one round
    trip (`_with_begin`) instead of two (psycopg sends its BEGIN alone, then the statement):
    a round trip costs the client more CPU than its instructions say (each wake-up after the
    server's answer starts with cold caches), and the server a simple query. Otherwise (a
    statement already sent in the transaction, another driver, psycopg's pipeline mode, a
    parameter it does not send as text) the kept raw cursor runs it."""
    rows = _with_begin(conn, statement, params)
    if rows is not None:
        return rows
    with cursor(conn, raw=True) as raw:
        raw.execute(statement, params)
        return raw.fetchall()


_WITH_BEGIN = "pgdriver.with_begin"
"""The key, in the pooled connection's `info`, of what `_with_begin` keeps for the driver
connection (`_Kept`): a reconnected one has another libpq connection."""
_KEPT_WITH_BEGIN = 16
"""Statements (by text and parameter types) `_with_begin` keeps prepared on one connection
at most: a caller varying its text cannot make a connection prepare without bound; one first
met beyond goes the raw cursor's way for the connection's life."""
_ATTEMPTS = 3
"""Pipelines `_with_begin` sends at most for one statement: the usual one, and again after
finding its statement deallocated behind our back or prepared with other result columns."""
_ALREADY_PREPARED = b"42P05"  # duplicate_prepared_statement
_STYLES = (b"client_encoding", b"TimeZone", b"DateStyle", b"IntervalStyle")
"""The session's settings psycopg's dumpers and loaders read when they are made (texts'
encoding; times' and intervals' forms)."""


class _Kept:
    """`_with_begin`'s state for one libpq connection: the names of the statements prepared
    on it by (text, parameter types), and a psycopg Transformer of the connection's adapters
    (made again when the session's `_STYLES` changed), which dumps the parameters and reads
    the rows as the raw cursor's does (a new one finds a dumper and a loader for each value
    and column at every statement)."""

    __slots__ = ("names", "pgconn", "styles", "transformer")

    def __init__(self, pgconn: pq.abc.PGconn) -> None:
        self.pgconn = pgconn
        self.names: dict[tuple[bytes, tuple[int, ...]], bytes] = {}
        self.transformer: Any = None  # a psycopg.adapt.Transformer
        self.styles: tuple[bytes | None, ...] = ()

    def transformer_for(self, driver: psycopg.Connection[Any]) -> Any:
        """The kept Transformer, made again if the session's `_STYLES` changed."""
        styles = tuple(self.pgconn.parameter_status(name) for name in _STYLES)
        if self.transformer is None or self.styles != styles:
            self.transformer = psycopg.adapt.Transformer(driver)
            self.styles = styles
        return self.transformer


def _with_begin(conn: Connection, statement: bytes, params: Sequence[Any]) -> list[Any] | None:
    """`fetch_raw`'s statement, as the transaction's first, in one libpq pipeline with the
    transaction's BEGIN (psycopg's, with the connection's options) and one Sync: BEGIN, the
    statement prepared once per connection (its Parse on first use), its execution. A
    statement found deallocated (26000: psycopg's DEALLOCATE ALL after a rollback on a
    connection where it prepared statements of its own) or prepared with other result
    columns (0A000: a migration replaced a function it reads) ran nothing: the transaction
    it began is rolled back and the statement prepared again (at most `_ATTEMPTS`
    pipelines). None, with nothing sent, where it cannot go so: a statement already sent in
    the transaction, another driver, autocommit, psycopg's pipeline mode, a connection that
    prepares nothing (`prepare_threshold` None), a parameter psycopg cannot adapt (a text
    holding a NUL: the raw cursor raises its error), `_KEPT_WITH_BEGIN` statements kept
    already. The parameters are dumped by psycopg as the raw cursor dumps them (the same
    types and formats: the statement is prepared with those types)."""
    driver = _driver(conn)
    if driver is None or driver.autocommit or driver.prepare_threshold is None:
        return None
    pgconn = driver.pgconn
    if (
        pgconn.pipeline_status != pq.PipelineStatus.OFF
        or pgconn.transaction_status != pq.TransactionStatus.IDLE
    ):
        return None
    pooled = conn.connection
    kept: _Kept | None = pooled.info.get(_WITH_BEGIN)
    if kept is None or kept.pgconn is not pgconn:
        kept = pooled.info[_WITH_BEGIN] = _Kept(pgconn)
    transformer = kept.transformer_for(driver)
    try:  # as the raw cursor dumps them: the same types and formats (psycopg's `%s`)
        values = transformer.dump_sequence(params, [PyFormat.AUTO] * len(params))
    except psycopg.Error:
        return None  # not adaptable (a text holding a NUL...): the raw cursor raises it
    types: tuple[int, ...] = tuple(transformer.types)
    formats = transformer.formats
    key = (statement, types)
    name = kept.names.get(key)
    if name is None:
        if len(kept.names) >= _KEPT_WITH_BEGIN:
            return None
        name = b"pgdriver_" + hashlib.sha256(repr(key).encode()).hexdigest()[:16].encode()
    stale = False
    for attempt in range(1, _ATTEMPTS + 1):
        steps: list[bytes] = []
        if pgconn.transaction_status != pq.TransactionStatus.IDLE:
            steps.append(b"ROLLBACK")  # the transaction a failed attempt began
        # The BEGIN first: a Parse before it would take the pipeline's snapshot, and a BEGIN
        # with an isolation level is refused after one (25001).
        steps.append(b"BEGIN")
        if stale:
            steps.append(b"DEALLOCATE")
        if key not in kept.names:
            steps.append(b"PREPARE")
        steps.append(b"EXECUTE")
        results = _pipeline(
            conn,
            driver,
            steps,
            name=name,
            statement=statement,
            types=types,
            values=(values, formats),
        )
        again, stale = _prepare_again(steps, results, kept, key, name)
        if not again or attempt == _ATTEMPTS:
            return _rows(conn, driver, transformer, results[-1], results)
    raise AssertionError("unreachable: the last attempt returns")


def _prepare_again(
    steps: list[bytes],
    results: list[pq.abc.PGresult],
    kept: _Kept,
    key: tuple[bytes, tuple[int, ...]],
    name: bytes,
) -> tuple[bool, bool]:
    """Whether `_with_begin`'s pipeline must go again, and whether the statement is stale
    (to deallocate first), noting in `kept` whether it is prepared: prepared (or already
    there under its name, which is its text's and types': the same statement), or found
    deallocated (26000) or prepared with other result columns (0A000), having run nothing."""
    again = stale = False
    for step, result in zip(steps, results, strict=True):
        failed = result.status == pq.ExecStatus.FATAL_ERROR
        code = result.error_field(pq.DiagnosticField.SQLSTATE) if failed else None
        if step == b"PREPARE" and (not failed or code == _ALREADY_PREPARED):
            kept.names[key] = name
            again = failed
        elif step == b"EXECUTE" and failed:
            where = result.error_field(pq.DiagnosticField.SOURCE_FUNCTION)
            if code == _NO_SUCH_STATEMENT or (code, where) == _RESULT_TYPE_CHANGED:
                kept.names.pop(key, None)
                stale = code != _NO_SUCH_STATEMENT
                again = True
    return again, stale


def _pipeline(
    conn: Connection,
    driver: psycopg.Connection[Any],
    steps: list[bytes],
    *,
    name: bytes,
    statement: bytes,
    types: tuple[int, ...],
    values: tuple[Sequence[Any], Sequence[Any]],
) -> list[pq.abc.PGresult]:
    """Send `steps` in one libpq pipeline ended by a Sync and read one result per step, under
    the connection's lock, waiting in poll() (the GIL released). A failure of the exchange
    itself (a lost connection, an interruption) leaves the connection's state unknown: it is
    closed and invalidated, and the error raised (a driver's as SQLAlchemy's)."""
    pgconn = driver.pgconn
    try:
        with driver.lock:
            pgconn.enter_pipeline_mode()
            for step in steps:
                if step == b"PREPARE":
                    pgconn.send_prepare(name, statement, param_types=types)
                elif step == b"EXECUTE":
                    pgconn.send_query_prepared(name, values[0], param_formats=values[1])
                elif step == b"BEGIN":  # as psycopg would begin it, with its options
                    pgconn.send_query_params(begin_command(driver), None)
                elif step == b"DEALLOCATE":
                    pgconn.send_query_params(b'DEALLOCATE "' + name + b'"', None)
                else:
                    pgconn.send_query_params(step, None)
            pgconn.pipeline_sync()
            results = _pipeline_results(pgconn)
            pgconn.exit_pipeline_mode()
    except BaseException as exc:
        if pgconn.status != pq.ConnStatus.BAD:
            pgconn.finish()
        conn.invalidate(exc if isinstance(exc, Exception) else None)
        if isinstance(exc, psycopg.Error):
            raise DBAPIError.instance(
                None, None, exc, psycopg.Error, connection_invalidated=True
            ) from exc
        raise
    if len(results) != len(steps):
        raise RuntimeError(f"a pipeline of {len(steps)} statements answered {len(results)}")
    return results


def _pipeline_results(pgconn: pq.abc.PGconn) -> list[pq.abc.PGresult]:
    """Flush the pipeline and read its results up to the Sync's, one per statement."""
    poller = select.poll()
    poller.register(pgconn.socket, select.POLLIN | select.POLLOUT)
    while pgconn.flush():  # a non-blocking connection (psycopg's): the pipeline may not be out
        if poller.poll()[0][1] & select.POLLIN:
            pgconn.consume_input()  # the server may be waiting for us to read first
    poller.modify(pgconn.socket, select.POLLIN)
    results: list[pq.abc.PGresult] = []
    while True:
        while pgconn.is_busy():
            poller.poll()
            pgconn.consume_input()  # raises OperationalError on a lost connection
        result = pgconn.get_result()
        if result is None:
            continue  # the end of one statement's results
        if result.status == pq.ExecStatus.PIPELINE_SYNC:
            return results
        results.append(result)


def _rows(
    conn: Connection,
    driver: psycopg.Connection[Any],
    transformer: Any,
    result: pq.abc.PGresult,
    results: list[pq.abc.PGresult],
) -> list[Any]:
    """The statement's rows (`result`), read as the raw cursor reads them (psycopg's loaders
    for the connection, its named tuples); the first error of the pipeline raised as
    SQLAlchemy's, as `cursor` raises the driver's (a lost connection invalidated)."""
    encoding = driver.info.encoding
    try:
        for each in results:  # the first error: everything after it was skipped
            if each.status == pq.ExecStatus.FATAL_ERROR:
                raise error_from_result(each, encoding=encoding)
        if result.status != pq.ExecStatus.TUPLES_OK:
            raise psycopg.ProgrammingError("the last operation didn't produce records")
    except psycopg.Error as exc:
        lost = conn.dialect.is_disconnect(cast(Any, exc), conn.connection, None)
        if lost:
            conn.invalidate(exc)
        raise DBAPIError.instance(
            None, None, exc, psycopg.Error, connection_invalidated=lost
        ) from exc
    transformer.set_pgresult(result)
    fields = [result.fname(n) or b"" for n in range(result.nfields)]
    maker = _make_nt(encoding, *fields)._make
    rows: list[Any] = transformer.load_rows(0, result.ntuples, maker)
    return rows


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
        failed = (
            result.error_field(pq.DiagnosticField.SQLSTATE),
            result.error_field(pq.DiagnosticField.SOURCE_FUNCTION),
        )
        if failed[0] == _NO_SUCH_STATEMENT or failed == _RESULT_TYPE_CHANGED:
            if failed == _RESULT_TYPE_CHANGED:
                _checked(driver, pgconn.exec_(b'DEALLOCATE "' + name.encode() + b'"'))
            _checked(driver, pgconn.prepare(name.encode(), statement.encode()))
            result = pgconn.exec_prepared(name.encode(), cast(Any, values))
    _checked(driver, result)
    if result.ntuples == 0:
        return None
    return tuple(
        None if (value := result.get_value(0, column)) is None else value.decode(encoding)
        for column in range(result.nfields)
    )


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
