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

import select
import time
import uuid
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
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
    "Row",
    "array_literal",
    "call",
    "call_alone",
    "cursor",
    "execute",
    "fetch",
    "fetch_opening",
    "first",
]


def _driver(conn: Connection) -> psycopg.Connection[Any] | None:
    if not conn.in_transaction():
        conn.begin()  # as conn.execute() would: the caller's commit() then commits it
    driver = conn.connection.driver_connection
    return driver if isinstance(driver, psycopg.Connection) else None


@contextmanager
def cursor(
    conn: Connection, row_factory: RowFactory[Any] = namedtuple_row
) -> Iterator[psycopg.Cursor[Any]]:
    """The driver's cursor (rows as named tuples, or as `row_factory` makes them) in `conn`'s
    transaction (begun if none is). Raises TypeError on another driver than psycopg."""
    driver = _driver(conn)
    if driver is None:
        raise TypeError("pgdriver.cursor needs a psycopg connection")
    proxied = conn.connection
    try:
        with driver.cursor(row_factory=row_factory) as found:
            yield found
    except psycopg.Error as exc:
        lost = conn.dialect.is_disconnect(cast(Any, exc), proxied, None)
        if lost:
            conn.invalidate(exc)
        raise DBAPIError.instance(
            None, None, exc, psycopg.Error, connection_invalidated=lost
        ) from exc


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
    if driver._pipeline is not None:
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
        _checked(driver, pgconn.exec_(driver._get_tx_start_command()))
    if pgconn.transaction_status != pq.TransactionStatus.IDLE:
        # Inside a transaction: the unnamed statement, parsed and planned again each time.
        # A named one could be gone: psycopg sends DEALLOCATE ALL after every rollback of a
        # connection where it prepared statements of its own (its cache's rule), and a
        # missing statement would abort the caller's transaction.
        result = pgconn.exec_params(statement.encode(), cast(Any, values))
    else:
        # Its own transaction: prepared once per connection; if deallocated behind our
        # back (psycopg's DEALLOCATE ALL, DISCARD ALL), nothing ran: prepared again and run.
        prepared: set[str] | None = info.get(_PREPARED)
        if prepared is None:
            prepared = info[_PREPARED] = set()
        if name not in prepared:
            _checked(driver, pgconn.prepare(name.encode(), statement.encode()))
            prepared.add(name)
        result = pgconn.exec_prepared(name.encode(), cast(Any, values))
        if result.error_field(pq.DiagnosticField.SQLSTATE) == _NO_SUCH_STATEMENT:
            _checked(driver, pgconn.prepare(name.encode(), statement.encode()))
            result = pgconn.exec_prepared(name.encode(), cast(Any, values))
    _checked(driver, result)
    if result.ntuples == 0:
        return None
    return tuple(
        None if (value := result.get_value(0, column)) is None else value.decode(encoding)
        for column in range(result.nfields)
    )


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
    rollback and close cost more client CPU than the call). Raises TypeError as `call` does."""
    if isinstance(bind, Connection):
        if bind.in_transaction():
            raise RuntimeError("pgdriver.call_alone on a connection with a transaction open")
        return _alone(bind.connection, bind.dialect, name, statement, params)
    raw = bind.raw_connection()
    try:
        return _alone(raw, bind.dialect, name, statement, params)
    finally:
        raw.close()


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


# -- a transaction's first statement, with its BEGIN -----------------------------------------

_OPENING_PREPARED = "pgdriver.opening_prepared"
"""The key, in the pooled connection's `info`, of the names `fetch_opening` prepared on it."""
_ALREADY_PREPARED = b"42P05"  # duplicate_prepared_statement
_WAIT_CANCEL = 5.0
"""Seconds an interrupted statement's cancel is waited for before the connection is closed."""


def fetch_opening(
    conn: Connection, name: str, statement: str, params: Sequence[Any]
) -> list[Any] | None:
    """Every row `statement` returns (libpq's placeholders: $1, $2, ...), as named tuples
    loaded with the connection's adapters (as `fetch` returns them), when it is the first
    statement of `conn`'s transaction (begun if none is): the transaction's BEGIN (with the
    connection's options, as psycopg sends it) and the statement, prepared once per
    connection as `name`, go in one round trip (libpq's pipeline mode), the parameters as
    text of unknown type (PostgreSQL types each by its place, as psycopg's text; a `str`,
    an `int`, a `bool`, a `UUID`, None for NULL). Driver errors are raised as `DBAPIError`
    and a lost connection is invalidated, as `cursor` does; an interruption while the
    statement runs cancels it, as psycopg's own wait does (`_exchange`).

    None, with nothing sent, where it cannot go so: another driver, autocommit or psycopg's
    pipeline mode, a transaction already begun on the server (a statement prepared by name
    could have been deallocated since: psycopg sends DEALLOCATE ALL after a rollback, and a
    missing statement would abort the caller's transaction), a parameter of another type or
    a text holding a NUL (libpq would cut it there). Run the statement the usual way then.
    If the prepared statement is gone (26000: deallocated behind our back), nothing ran but
    the BEGIN this call sent: that transaction is rolled back, the statement prepared again
    and the pair sent again."""
    driver = _opening_driver(conn)
    values = None if driver is None else _text_values(params, driver.info.encoding)
    if driver is None or values is None:
        return None
    try:
        return _opening_rows(conn, driver, name, statement, values)
    except psycopg.Error as exc:
        lost = conn.invalidated or conn.dialect.is_disconnect(cast(Any, exc), conn.connection, None)
        if lost and not conn.invalidated:
            conn.invalidate(exc)
        raise DBAPIError.instance(
            None, None, exc, psycopg.Error, connection_invalidated=lost
        ) from exc


def _opening_driver(conn: Connection) -> psycopg.Connection[Any] | None:
    """The psycopg connection under `conn` (its transaction begun on SQLAlchemy's side) if
    this call may send the transaction's BEGIN: not autocommit, not in pipeline mode, no
    transaction begun on the server; None otherwise."""
    driver = _driver(conn)
    if driver is None or driver.autocommit or driver._pipeline is not None:
        return None
    pgconn = driver.pgconn
    if (
        pgconn.transaction_status != pq.TransactionStatus.IDLE
        or pgconn.pipeline_status != pq.PipelineStatus.OFF
    ):
        return None
    return driver


def _opening_rows(
    conn: Connection,
    driver: psycopg.Connection[Any],
    name: str,
    statement: str,
    values: list[bytes | None],
) -> list[Any]:
    """`fetch_opening`'s work on the driver; raises the driver's errors (psycopg.Error)."""
    info = conn.connection.info
    prepared: set[bytes] | None = info.get(_OPENING_PREPARED)
    if prepared is None:
        prepared = info[_OPENING_PREPARED] = set()
    pgconn = driver.pgconn
    key = name.encode()
    begin = driver._get_tx_start_command()
    for _attempt in range(3):
        fresh = key not in prepared
        sending: list[Callable[[], None]] = []
        if fresh:
            sending.append(lambda: pgconn.send_prepare(key, statement.encode()))
        sending.append(lambda: pgconn.send_query_params(begin, None))
        sending.append(lambda: pgconn.send_query_prepared(key, cast(Any, values)))
        results = _pipelined(conn, driver, sending)
        if fresh:
            made = results.pop(0)
            if made.error_field(pq.DiagnosticField.SQLSTATE) != _ALREADY_PREPARED:
                _checked(driver, made)
            # Prepared now, or already (a call interrupted after its prepare): when it
            # failed, nothing after it in the pipeline ran.
            prepared.add(key)
            if made.status != pq.ExecStatus.COMMAND_OK:
                continue
        _checked(driver, results[0])
        result = results[1]
        if result.error_field(pq.DiagnosticField.SQLSTATE) == _NO_SUCH_STATEMENT:
            # Deallocated behind our back (psycopg's DEALLOCATE ALL after a rollback):
            # nothing ran in the transaction this call began, rolled back and begun again.
            prepared.discard(key)
            _checked(driver, pgconn.exec_(b"ROLLBACK"))
            continue
        _checked(driver, result)
        return _loaded(driver, result)
    raise psycopg.OperationalError(f"{name}: prepared, then gone, twice")


def _text_values(params: Sequence[Any], encoding: str) -> list[bytes | None] | None:
    """The parameters as libpq's text values; None if one cannot go so."""
    values: list[bytes | None] = []
    for value in params:
        if value is None:
            values.append(None)
        elif isinstance(value, str):
            if "\x00" in value:
                return None
            values.append(value.encode(encoding))
        elif isinstance(value, bool):
            values.append(b"t" if value else b"f")
        elif isinstance(value, int | uuid.UUID):
            values.append(str(value).encode())
        else:
            return None
    return values


def _loaded(driver: psycopg.Connection[Any], result: pq.abc.PGresult) -> list[Any]:
    """The result's rows as `namedtuple_row` makes them, loaded with `driver`'s adapters."""
    transformer = psycopg.adapt.Transformer(driver)
    transformer.set_pgresult(result)
    names = (result.fname(n) or b"" for n in range(result.nfields))
    maker = psycopg.rows._make_nt(driver.info.encoding, *names)._make
    return transformer.load_rows(0, result.ntuples, maker)


def _pipelined(
    conn: Connection, driver: psycopg.Connection[Any], sending: Sequence[Callable[[], None]]
) -> list[pq.abc.PGresult]:
    """Send the queries (`sending`, each a libpq send call) in one pipeline ending with a
    sync, under the connection's lock, and read each one's result (its last: a query after
    a failed one answers PIPELINE_ABORTED). The wait for the server is a poll() on the
    socket, which releases the GIL. Interrupted meanwhile (KeyboardInterrupt, or any error
    out of the wait but a lost connection), the server is asked to cancel and the results
    are read to the sync: the connection is left in a failed transaction for the caller's
    rollback, the interruption raised. If that takes more than 5 s (or is interrupted
    again), the connection is closed and `conn` invalidated, the interruption raised."""
    pgconn = driver.pgconn
    closed: BaseException | None = None
    with driver.lock:
        pgconn.enter_pipeline_mode()
        try:
            for send in sending:
                send()
            pgconn.pipeline_sync()
            results = _pipeline_results(pgconn, None)
            if len(results) != len(sending):
                raise psycopg.OperationalError("a pipeline's results are not its queries'")
            pgconn.exit_pipeline_mode()
            return results
        except BaseException as interrupted:
            if pgconn.status != pq.ConnStatus.OK:
                raise  # lost: the caller invalidates
            try:
                if pgconn.transaction_status == pq.TransactionStatus.ACTIVE:
                    driver.cancel_safe(timeout=_WAIT_CANCEL)
                _pipeline_results(pgconn, _WAIT_CANCEL)
                pgconn.exit_pipeline_mode()
            except BaseException:  # no answer, or interrupted again: state unknown
                pgconn.finish()
                closed = interrupted
            if closed is None:
                raise
    # Out of the driver's lock: SQLAlchemy closes the driver's connection as it invalidates.
    conn.invalidate(closed if isinstance(closed, Exception) else None)
    raise closed


def _pipeline_results(pgconn: pq.abc.PGconn, timeout: float | None) -> list[pq.abc.PGresult]:
    """Flush the pipeline and read each query's last result, up to its sync's; TimeoutError
    after `timeout` s."""
    deadline = None if timeout is None else time.monotonic() + timeout
    poller = select.poll()
    poller.register(pgconn.socket, select.POLLIN | select.POLLOUT)
    while pgconn.flush():  # a non-blocking connection (psycopg's): the queries may not be out
        if _ready(poller, deadline) & select.POLLIN:
            pgconn.consume_input()
    poller.modify(pgconn.socket, select.POLLIN)
    results: list[pq.abc.PGresult] = []
    last: pq.abc.PGresult | None = None
    while True:
        while pgconn.is_busy():
            _ready(poller, deadline)
            pgconn.consume_input()  # raises OperationalError on a lost connection
        result = pgconn.get_result()
        if result is None:  # the end of one query's results
            if last is not None:
                results.append(last)
                last = None
        elif result.status == pq.ExecStatus.PIPELINE_SYNC:
            return results
        else:
            last = result


def _ready(poller: select.poll, deadline: float | None) -> int:
    """The socket's events once it has any (POLLERR, POLLHUP included)."""
    while True:
        wait = None if deadline is None else max(0, int((deadline - time.monotonic()) * 1000))
        events = poller.poll(wait)
        if events:
            return events[0][1]
        if deadline is not None and time.monotonic() >= deadline:
            raise TimeoutError("no answer from the server")
