"""A read replica (`liventix db standby --async`, LIVENTIX_READ_URL): finance's reports and
the API's lists and reports read there. A report on the replica equals the same report on the
primary once the replica has caught up, and states the replica's lag while it has not (replay
paused with `pg_wal_replay_pause()`, postings made on the primary meanwhile): in the report's
context line and on stderr (`liventix report`), in the `Replica-Lag` header (the API). Reads
that must be current (one entry, writes) stay on the primary. At the end the replica is
promoted with `liventix db promote` and takes writes.

One test function: the module's pair is set up once (a few seconds), whatever the scheduler.
"""

from __future__ import annotations

import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime

import httpx
import psycopg
import pytest
import sqlalchemy as sa

import ledger
from liventix import replication, reports
from liventix.api import create_app, create_key, revoke_key
from liventix.database import (
    create_database,
    database_url,
    make_engine,
    make_read_engine,
    upgrade,
)
from tests.api.support import uvicorn_thread
from tests.replication.support import (
    DATABASE,
    Pair,
    run_cli,
    serve_api,
    start_pair,
    stop_pair,
)
from tests.support import free_port

PLATFORM = uuid.UUID("00000000-0000-0000-0000-000000000001")
ORG = uuid.UUID("00000000-0000-0000-0000-00000000f019")


@pytest.fixture(scope="module")
def pair() -> Iterator[Pair]:
    """A primary and its read replica (asynchronous: the primary waits for it never)."""
    made = start_pair(synchronous=False)
    try:
        yield made
    finally:
        stop_pair(made)


def _post(engine: sa.Engine, accounts: tuple[uuid.UUID, uuid.UUID], amount: int) -> uuid.UUID:
    with engine.begin() as conn:
        return ledger.post_entry(
            conn,
            ORG,
            ledger.PostEntry(
                f"replica-{uuid.uuid4().hex}",
                [
                    ledger.Line(accounts[0], "debit", amount, "EUR"),
                    ledger.Line(accounts[1], "credit", amount, "EUR"),
                ],
            ),
        ).id


def _reports(engine: sa.Engine, as_of: datetime) -> tuple[object, object, replication.Lag | None]:
    """The trial balance and the account balances as of `as_of`, as the engine reads them, and
    the lag of what it reads."""
    with engine.connect() as conn:
        conn.execute(sa.text("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY"))
        trial = reports.trial_balance(conn).model_dump()
        balances = reports.account_balances(conn, as_of=as_of).model_dump()
        return trial, balances, replication.replica_lag(conn)


def _cli_report(pair: Pair) -> subprocess.CompletedProcess[str]:
    env = {**pair.env(), "DATABASE_URL": pair.primary_url, "LIVENTIX_READ_URL": pair.standby_url}
    return subprocess.run(
        [sys.executable, "-m", "liventix", "report", "trial-balance"],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def _replay(replica_url: str, *, paused: bool) -> None:
    call = "pg_wal_replay_pause" if paused else "pg_wal_replay_resume"
    with psycopg.connect(replication.libpq_conninfo(replica_url), autocommit=True) as conn:
        conn.execute(f"SELECT {call}()")
        if paused:
            while conn.execute("SELECT pg_get_wal_replay_pause_state()").fetchone() != ("paused",):
                time.sleep(0.01)


def _cut_off(replica_url: str) -> None:
    """Stop the replica's WAL receiver (no primary_conninfo) and wait until it has gone."""
    with psycopg.connect(replication.libpq_conninfo(replica_url), autocommit=True) as conn:
        conn.execute("ALTER SYSTEM SET primary_conninfo = ''")
        conn.execute("SELECT pg_reload_conf()")
        deadline = time.monotonic() + 60
        while conn.execute("SELECT count(*) FROM pg_stat_wal_receiver").fetchone() != (0,):
            assert time.monotonic() < deadline, "the WAL receiver did not stop"
            time.sleep(0.05)


def test_reports_on_the_replica_equal_the_primary_once_caught_up_and_state_their_lag(
    pair: Pair,
) -> None:
    create_database(pair.primary_url, DATABASE)
    primary_db = database_url(pair.primary_url, DATABASE)
    replica_db = database_url(pair.standby_url, DATABASE)
    upgrade(primary_db)
    primary = make_engine(primary_db, pool_size=4)
    replica = make_read_engine(replica_db, pool_size=4)
    try:
        with primary.begin() as conn:
            ledger.open_organization(conn, PLATFORM, "Liventix", is_platform=True)
            ledger.open_organization(conn, ORG, "Replica Hall")
            token = create_key(conn, ORG, description="replica test").token
            doomed = create_key(conn, ORG, description="revoked while the replica lags")
            accounts = tuple(
                ledger.open_account(
                    conn, ORG, ledger.OpenAccount(f"open-{c}", c, "asset", "EUR")
                ).id
                for c in ("cash", "bank")
            )
        pair_of = (accounts[0], accounts[1])
        for amount in (1_000, 2_500):
            _post(primary, pair_of, amount)
        as_of = datetime.now(UTC)
        replication.wait_caught_up(pair.primary_url, pair.standby_url)

        # Caught up: the same reports, and a lag of zero.
        on_primary = _reports(primary, as_of)
        on_replica = _reports(replica, as_of)
        assert on_primary[2] is None
        assert on_replica[:2] == on_primary[:2]
        assert on_replica[2] is not None and on_replica[2].seconds == 0

        # The API's roles lack pg_read_all_stats: pg_stat_wal_receiver hides the receiver's
        # status and last message from them, payments.wal_receiver() (its owner's) does not,
        # so their lag can tell a streaming receiver from a reconnecting or silent one.
        with replica.connect() as conn:
            conn.execute(sa.text("SET ROLE liventix_app"))
            hidden = conn.execute(
                sa.text("SELECT status, last_msg_receipt_time FROM pg_stat_wal_receiver")
            ).one()
            shown = conn.execute(
                sa.text("SELECT status, last_msg_receipt_time FROM payments.wal_receiver()")
            ).one()
            as_app = replication.replica_lag(conn)
        assert hidden == (None, None)
        assert shown[0] == "streaming" and shown[1] is not None
        assert as_app is not None and as_app.receiving and as_app.last_message_at is not None

        app = create_app(primary, gateway=None, stripe_webhook_secret=None, read_engine=replica)
        with (
            uvicorn_thread(app) as url,
            httpx.Client(base_url=url, headers={"Authorization": f"Bearer {token}"}) as api,
        ):
            # A key's first request records its use on the primary (api_tenancy.sql), and
            # the report it asks for would read a replica that may not have replayed that
            # write yet: use the key once, then wait for the replica, then ask.
            assert api.get("/v1/reports/trial-balance").status_code == 200
            replication.wait_caught_up(pair.primary_url, pair.standby_url)
            caught_up = api.get("/v1/reports/trial-balance")
            assert caught_up.status_code == 200, caught_up.text
            assert caught_up.headers["Replica-Lag"] == "0.000"

            # Behind: the replica receives the primary's WAL but does not replay it.
            _replay(pair.standby_url, paused=True)
            later = _post(primary, pair_of, 7_000)
            time.sleep(0.2)
            behind = _reports(replica, as_of)
            lag = behind[2]
            assert lag is not None and lag.seconds is not None and lag.seconds > 0
            assert lag.receiving
            assert lag.received_lsn != lag.replayed_lsn
            assert behind[0] == on_primary[0]  # the replica's trial balance is the old one
            assert _reports(primary, as_of)[0] != on_primary[0]  # the primary moved on

            report = api.get("/v1/reports/trial-balance")
            assert float(report.headers["Replica-Lag"]) > 0
            listed = api.get("/v1/entries", params={"limit": 100}).json()["data"]
            assert str(later) not in {e["id"] for e in listed}  # the list reads the replica
            one = api.get(f"/v1/entries/{later}")
            assert one.status_code == 200, one.text  # one entry: the primary, current
            assert "Replica-Lag" not in one.headers

            # A key revoked on the primary is refused at once, though the replica (which the
            # lists and reports read) has not replayed the revocation: the key is checked on
            # the primary. A key the replica does not know yet reads the primary.
            def as_key(key: str, path: str) -> httpx.Response:
                return api.get(path, headers={"Authorization": f"Bearer {key}"})

            assert as_key(doomed.token, "/v1/entries").status_code == 200
            with primary.begin() as conn:
                assert revoke_key(conn, doomed.id)
                fresh = create_key(conn, ORG, description="created while the replica lags")
            assert as_key(doomed.token, "/v1/entries").status_code == 401
            assert as_key(doomed.token, "/v1/reports/trial-balance").status_code == 401
            with replica.connect() as conn:  # the replica still holds the key unrevoked
                assert conn.execute(
                    sa.text("SELECT revoked_at IS NULL FROM payments.api_keys WHERE id = :id"),
                    {"id": doomed.id},
                ).scalar_one()
            new_list = as_key(fresh.token, "/v1/entries")
            assert new_list.status_code == 200, new_list.text
            assert str(later) in {e["id"] for e in new_list.json()["data"]}  # the primary's
            assert "Replica-Lag" not in new_list.headers
            assert api.get("/v1/entries").status_code == 200  # the other key reads on

            # `liventix serve` reads LIVENTIX_READ_URL: its lists and reports read the replica.
            port = free_port()
            served = serve_api(
                pair, port, DATABASE_URL=pair.primary_url, LIVENTIX_READ_URL=pair.standby_url
            )
            try:
                headers = {"Authorization": f"Bearer {token}"}
                base = f"http://127.0.0.1:{port}"
                served_report = httpx.get(f"{base}/v1/reports/trial-balance", headers=headers)
                assert served_report.status_code == 200, served_report.text
                assert float(served_report.headers["Replica-Lag"]) > 0
                served_list = httpx.get(f"{base}/v1/entries", headers=headers)
                assert str(later) not in {e["id"] for e in served_list.json()["data"]}
                revoked = httpx.get(
                    f"{base}/v1/entries", headers={"Authorization": f"Bearer {doomed.token}"}
                )
                assert revoked.status_code == 401
            finally:
                served.stop()

            cli = _cli_report(pair)
            assert cli.returncode == 0, cli.stdout + cli.stderr
            assert "read from a replica" in cli.stderr
            assert "read from a replica" in cli.stdout  # the report's context line
            assert "0.000 s behind" not in cli.stderr

            # Caught up again: equal once more, and the lag is zero.
            _replay(pair.standby_url, paused=False)
            replication.wait_caught_up(pair.primary_url, pair.standby_url)
            again_primary = _reports(primary, as_of)
            again_replica = _reports(replica, as_of)
            assert again_replica[:2] == again_primary[:2]
            assert again_replica[2] is not None and again_replica[2].seconds == 0
            listed = api.get("/v1/entries", params={"limit": 100}).json()["data"]
            assert str(later) in {e["id"] for e in listed}
            assert api.get("/v1/reports/trial-balance").headers["Replica-Lag"] == "0.000"

            # Cut off from the primary: it has replayed all it received, yet its lag is
            # unknown, not 0 (what the primary commits meanwhile never reaches it).
            _cut_off(pair.standby_url)
            cut = _post(primary, pair_of, 300)
            behind = _reports(replica, as_of)
            lag = behind[2]
            assert lag is not None and lag.received_lsn == lag.replayed_lsn
            assert lag.seconds is None and not lag.receiving
            assert "lag unknown" in lag.describe() and "0.000" not in lag.describe()
            assert behind[0] != _reports(primary, as_of)[0]
            report = api.get("/v1/reports/trial-balance")
            assert report.status_code == 200, report.text
            assert report.headers["Replica-Lag"] == "unknown"
            listed = api.get("/v1/entries", params={"limit": 100}).json()["data"]
            assert str(cut) not in {e["id"] for e in listed}
    finally:
        primary.dispose()
        replica.dispose()

    # The replica can take over: `liventix db promote`, then it takes writes.
    run_cli(pair.env(), "db", "promote", "--data-dir", str(pair.standby_dir))
    promoted = make_engine(replica_db, pool_size=1)
    try:
        _post(promoted, pair_of, 1)
        with promoted.connect() as conn:
            assert replication.replica_lag(conn) is None
    finally:
        promoted.dispose()
