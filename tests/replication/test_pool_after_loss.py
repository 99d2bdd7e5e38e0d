"""A pool after its server went away (`liventix.database._ServerLoss`, the API's second opening
in `liventix.api.unit_of_work`): one connection found lost retires every connection of its
pool opened before it, and the API opens a request's transaction again on a fresh connection
when the pooled one it took was lost, so a request arriving after a server's restart or a
failover never gets a 503 for a connection the pool kept from before.

The loss is real: every backend of the engine's pool is ended with `pg_terminate_backend` (what
a server shutting down does to its sessions), while the connections sit idle in the pool.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator

import httpx
import psycopg
import pytest
import sqlalchemy as sa
from sqlalchemy.pool import NullPool

import ledger
import pgdriver
from liventix.api import create_app
from liventix.database import _says_server_lost, make_engine
from tests.api.standin_api import standin_api
from tests.api.support import PLATFORM, WEBHOOK_SECRET, new_org, uvicorn_thread
from tests.support import free_port

POOL = 4


@pytest.fixture
def unused_port() -> int:
    """A port on 127.0.0.1 nothing listens on."""
    return free_port()


def _fill(engine: sa.Engine, size: int = POOL) -> set[int]:
    """Open the pool's every connection at once (each runs a statement); their backends."""
    conns = [engine.connect() for _ in range(size)]
    try:
        return {int(c.exec_driver_sql("SELECT pg_backend_pid()").scalar_one()) for c in conns}
    finally:
        for conn in conns:
            conn.close()


def _terminate(url: str, pids: set[int]) -> None:
    """End those backends and wait until they are gone (each poll its own transaction:
    pg_stat_activity is read once per transaction, so one transaction would poll a
    snapshot taken before they left)."""
    other = sa.create_engine(url, poolclass=NullPool, isolation_level="AUTOCOMMIT")
    try:
        with other.connect() as conn:
            for pid in pids:
                conn.execute(sa.text("SELECT pg_terminate_backend(:p)"), {"p": pid})
            deadline = time.monotonic() + 30
            while time.monotonic() < deadline:
                left = conn.execute(
                    sa.text("SELECT count(*) FROM pg_stat_activity WHERE pid = ANY(:p)"),
                    {"p": list(pids)},
                ).scalar_one()
                if left == 0:
                    return
                time.sleep(0.05)
            raise AssertionError(f"backends {pids} still there")
    finally:
        other.dispose()


def _pid(engine: sa.Engine) -> int:
    """One checkout, one statement on the driver's own path (pgdriver, as the hot paths go)."""
    with engine.connect() as conn:
        row = pgdriver.first(conn, "SELECT pg_backend_pid()", ())
        conn.rollback()
        return int(row[0])


def test_one_lost_connection_retires_the_pool_s_older_ones(committing_db_url: str) -> None:
    engine = make_engine(committing_db_url, pool_size=POOL, max_overflow=0)
    try:
        old = _fill(engine)
        assert len(old) == POOL
        _terminate(committing_db_url, old)
        # The first checkout meets a dead connection: the request it served fails once...
        with pytest.raises(sa.exc.DBAPIError) as lost:
            _pid(engine)
        assert lost.value.connection_invalidated
        # ...and every later checkout gets a live one: the pool's other three connections,
        # idle since before the loss, were opened again in place (without the pool's
        # retirement each would fail its own first use).
        new = [_pid(engine) for _ in range(2 * POOL)]
        assert not set(new) & old
    finally:
        engine.dispose()


def test_connections_opened_after_the_loss_are_kept(committing_db_url: str) -> None:
    engine = make_engine(committing_db_url, pool_size=POOL, max_overflow=0)
    try:
        _terminate(committing_db_url, _fill(engine))
        with pytest.raises(sa.exc.DBAPIError):
            _pid(engine)
        # The pool reopened its connections once: later checkouts reuse them (the pool's own
        # retirement, its DisconnectionError, is not taken for another loss).
        seen = [_pid(engine) for _ in range(4 * POOL)]
        assert len(set(seen)) <= POOL, seen
    finally:
        engine.dispose()


def test_a_checkout_is_refused_at_most_once(committing_db_url: str) -> None:
    """A connection opened by the checkout itself is taken, even when another loss is
    counted while it connects (SQLAlchemy gives up after a second refusal, with an error
    that is no DBAPIError: the API would answer it 500)."""
    engine = make_engine(committing_db_url, pool_size=3, max_overflow=0)
    try:
        holder, other = engine.connect(), engine.connect()
        idle = engine.connect()
        idle.exec_driver_sql("SELECT 1")
        idle.close()  # back in the pool, opened before the losses below
        armed = [True]

        def another_loss(dialect: object, record: object, cargs: object, cparams: object) -> None:
            if armed[0]:  # while the idle connection's replacement connects
                armed[0] = False
                other.invalidate(psycopg.OperationalError("server closed the connection"))

        holder.invalidate(psycopg.OperationalError("server closed the connection"))
        sa.event.listen(engine, "do_connect", another_loss)
        with engine.connect() as conn:  # the idle one, refused, then its replacement
            assert conn.exec_driver_sql("SELECT 1").scalar_one() == 1
        assert not armed[0], "no second loss was counted during the reconnect"
        holder.close()
        other.close()
    finally:
        engine.dispose()


def test_an_interrupted_pipeline_is_no_server_loss(committing_db_url: str) -> None:
    """A pipeline interrupted in a send or a read is closed and its connection invalidated
    (libpq is out of step), with pgdriver's own error: no server loss, so the pool keeps its
    other connection."""
    own = pgdriver._OwnError("a pipelined send or read was interrupted")
    assert _says_server_lost(own)  # on its face: an OperationalError with no SQLSTATE
    engine = make_engine(committing_db_url, pool_size=2, max_overflow=0)
    try:
        old = _fill(engine, 2)
        with engine.connect() as conn:
            stream = pgdriver.Pipeline(conn, {"one": "SELECT $1::int"})
            stream.send("one", ["1"])
            stream._busy = True  # as if interrupted inside a read: out of step with libpq
            stream.close()  # (the interrupt itself was raised where it happened)
            assert conn.invalidated
        # The other connection, opened before, is still the pool's.
        assert {_pid(engine) for _ in range(4)} & old
    finally:
        engine.dispose()


def test_a_failed_connect_is_answered_once(unused_port: int) -> None:
    """No server to connect to (no primary yet): the request is answered 503 after one
    connect, not opened a second time (that is for a pooled connection found lost)."""
    url = f"postgresql+psycopg://postgres@127.0.0.1:{unused_port}/none?connect_timeout=3"
    engine = make_engine(url, pool_size=1, max_overflow=0)
    connects: list[int] = []
    sa.event.listen(engine, "do_connect", lambda *args: connects.append(1))
    app = create_app(engine, gateway=None, stripe_webhook_secret=WEBHOOK_SECRET)
    connects.clear()  # the app's own try at start-up
    try:
        with uvicorn_thread(app) as api:
            answer = httpx.get(
                f"{api}/v1/accounts", headers={"Authorization": "Bearer lx_0"}, timeout=30
            )
        assert answer.status_code == 503, answer.text
        assert len(connects) == 1
    finally:
        engine.dispose()


def test_make_engine_takes_no_creator() -> None:
    """Every connection must pass the engine's do_connect event (the loss count's stamp)."""
    with pytest.raises(TypeError):
        make_engine("postgresql+psycopg://x@127.0.0.1/none", creator=lambda: None)


@pytest.mark.parametrize(
    ("error", "lost"),
    [
        (psycopg.OperationalError("server closed the connection unexpectedly"), True),
        (psycopg.errors.AdminShutdown("terminating connection"), True),
        (psycopg.errors.CrashShutdown("crash"), True),
        (psycopg.errors.CannotConnectNow("starting up"), True),
        (psycopg.errors.ConnectionFailure("connection failure"), True),
        (psycopg.errors.QueryCanceled("canceling statement"), False),
        (psycopg.errors.ReadOnlySqlTransaction("read-only"), False),
        (psycopg.errors.UniqueViolation("duplicate"), False),
        (psycopg.errors.SerializationFailure("could not serialize"), False),
        (sa.exc.DisconnectionError("opened before"), False),
        (None, False),
    ],
    ids=lambda v: type(v).__name__ if not isinstance(v, bool) else str(v),
)
def test_which_errors_say_the_server_went_away(error: object, lost: bool) -> None:
    assert _says_server_lost(error) is lost


@pytest.fixture
def api(committing_db_url: str) -> Iterator[tuple[str, str, sa.Engine]]:
    """The API on its own engine (a pool of POOL): its URL, an organization's key, the
    engine."""
    engine = make_engine(committing_db_url, pool_size=POOL, max_overflow=0)
    with engine.begin() as conn:
        ledger.open_organization(conn, PLATFORM, "Liventix", is_platform=True)
    _org, key = new_org(engine, "Restart Hall")
    app = create_app(engine, gateway=None, stripe_webhook_secret=WEBHOOK_SECRET)
    try:
        with uvicorn_thread(app) as url:
            yield url, key, engine
    finally:
        engine.dispose()


def test_no_request_after_a_restart_meets_a_connection_from_before(
    api: tuple[str, str, sa.Engine], committing_db_url: str
) -> None:
    url, key, engine = api
    headers = {"Authorization": f"Bearer {key}"}
    with httpx.Client(base_url=url, headers=headers, timeout=30) as client:
        account = client.post(
            "/v1/accounts",
            json={"code": "cash", "type": "asset", "currency": "EUR"},
            headers={"Idempotency-Key": "open-cash"},
        )
        assert account.status_code == 201, account.text
        # Every connection of the API's pool opened, then idle; then the server ends them.
        _terminate(committing_db_url, _fill(engine))
        # Each request, reads and writes alike, is answered: none meets a dead connection
        # (the first one's lost connection is met in its opening, which opens again).
        for n in range(2 * POOL):
            read = client.get(f"/v1/accounts/{account.json()['id']}")
            assert read.status_code == 200, (n, read.text)
            wrote = client.post(
                "/v1/accounts",
                json={"code": f"bank-{n}", "type": "asset", "currency": "EUR"},
                headers={"Idempotency-Key": f"open-bank-{uuid.uuid4().hex}"},
            )
            assert wrote.status_code == 201, (n, wrote.text)


def _end_sessions(url: str) -> None:
    """End every other session on the database (an API's whole pool) and wait until gone."""
    other = sa.create_engine(url, poolclass=NullPool, isolation_level="AUTOCOMMIT")
    try:
        with other.connect() as conn:
            pids = set(
                conn.execute(
                    sa.text("""SELECT pid FROM pg_stat_activity
                                WHERE datname = current_database() AND pid <> pg_backend_pid()
                                  AND backend_type = 'client backend'""")
                ).scalars()
            )
    finally:
        other.dispose()
    assert pids, "the API holds no connection"
    _terminate(url, pids)


def test_a_round_trip_carrying_its_commit_is_not_opened_again(
    pg_server_url: str, template_db: str
) -> None:
    """The checkout's hold goes in the authentication's round trip with its COMMIT (the short
    way): found lost there, its outcome is unknown, so the request is answered 503, not
    opened again; the client's retry under the same key holds the seats once."""
    with standin_api(pg_server_url, template_db, capacity=10) as api, api.client() as client:
        body = {
            "event_id": api.event,
            "buyer_email": "ann@example.com",
            "items": [{"ticket_type_id": api.ticket_type, "quantity": 2}],
        }
        warm = client.post("/v1/checkouts", json=body, headers={"Idempotency-Key": "warm"})
        assert warm.status_code == 201, warm.text
        _end_sessions(str(api.engine.url.render_as_string(hide_password=False)))
        first = client.post("/v1/checkouts", json=body, headers={"Idempotency-Key": "lost"})
        assert first.status_code == 503, first.text
        again = client.post("/v1/checkouts", json=body, headers={"Idempotency-Key": "lost"})
        assert again.status_code == 201, again.text
        event = client.get(f"/v1/events/{api.event}")
        assert event.status_code == 200, event.text
        assert event.json()["ticket_types"][0]["held"] == 4
