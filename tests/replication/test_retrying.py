"""`liventix.retrying.run_unit_of_work`: a unit of work whose connection is lost is run again
under the same idempotency key, and the caller ends with exactly one posting, whether the lost
attempt committed (the retry replays it) or not (the retry posts it).

The connection is lost for real: the backend is ended with `pg_terminate_backend` (SQLSTATE
57P01, what a server shutting down sends), and SQLAlchemy invalidates the pool as it does when
a primary dies. "The first attempt committed but its answer was lost" is played by committing
the posting on another connection before the attempt's own connection dies: the window a
failover opens between a COMMIT reaching the standby and its answer reaching the client.
"""

from __future__ import annotations

import uuid

import pytest
import sqlalchemy as sa

import ledger
from liventix.retrying import GaveUp, RetryPolicy, is_lost_connection, run_unit_of_work

ORG = uuid.UUID("00000000-0000-0000-0000-00000000a119")


def _accounts(engine: sa.Engine) -> tuple[uuid.UUID, uuid.UUID]:
    with engine.begin() as conn:
        ledger.open_organization(conn, ORG, "Retrying Hall")
        ids = [
            ledger.open_account(
                conn,
                ORG,
                ledger.OpenAccount(
                    idempotency_key=f"open-{code}", code=code, type="asset", currency="EUR"
                ),
            ).id
            for code in ("cash", "bank")
        ]
    return ids[0], ids[1]


def _entry(key: str, debit: uuid.UUID, credit: uuid.UUID) -> ledger.PostEntry:
    return ledger.PostEntry(
        idempotency_key=key,
        lines=[
            ledger.Line(account_id=debit, side="debit", amount=1_250, currency="EUR"),
            ledger.Line(account_id=credit, side="credit", amount=1_250, currency="EUR"),
        ],
    )


def _die(conn: sa.Connection) -> None:
    """End this connection's backend, as a dying server does (57P01 on the next statement)."""
    pid = conn.execute(sa.text("SELECT pg_backend_pid()")).scalar_one()
    conn.execute(sa.text("SELECT pg_terminate_backend(:pid)"), {"pid": pid})


def _count(engine: sa.Engine, key: str) -> int:
    with engine.connect() as conn:
        return int(
            conn.execute(
                sa.text("SELECT count(*) FROM payments.entries WHERE idempotency_key = :k"),
                {"k": key},
            ).scalar_one()
        )


FAST = RetryPolicy(first_wait=0.01, max_wait=0.05, deadline=5.0)


@pytest.mark.parametrize("first_committed", [True, False], ids=["committed", "not-committed"])
def test_a_lost_unit_of_work_is_posted_exactly_once(
    committing_engine: sa.Engine, first_committed: bool
) -> None:
    debit, credit = _accounts(committing_engine)
    key = f"retry-{uuid.uuid4().hex}"
    request = _entry(key, debit, credit)
    attempts: list[int] = []
    first: list[uuid.UUID] = []
    retried: list[BaseException] = []

    def work(conn: sa.Connection) -> ledger.WriteResult:
        attempts.append(1)
        if len(attempts) == 1:
            if first_committed:
                # Its COMMIT reached the server; only the answer is lost with the connection.
                with committing_engine.begin() as other:
                    first.append(ledger.post_entry(other, ORG, request).id)
            else:
                ledger.post_entry(conn, ORG, request)  # rolled back with the connection
            _die(conn)
        return ledger.post_entry(conn, ORG, request)

    result = run_unit_of_work(
        committing_engine, work, policy=FAST, on_retry=lambda n, e: retried.append(e)
    )

    assert len(attempts) == 2
    assert len(retried) == 1 and is_lost_connection(retried[0])
    assert result.replayed is first_committed
    if first_committed:
        assert result.id == first[0]
    assert _count(committing_engine, key) == 1


def test_other_errors_are_not_retried(committing_engine: sa.Engine) -> None:
    debit, _credit = _accounts(committing_engine)
    calls: list[int] = []

    def work(conn: sa.Connection) -> ledger.WriteResult:
        calls.append(1)
        return ledger.post_entry(conn, ORG, _entry("bad", debit, uuid.uuid4()))

    with pytest.raises(ledger.LedgerError):
        run_unit_of_work(committing_engine, work, policy=FAST)
    assert calls == [1]


def test_a_read_only_transaction_s_write_fails_at_once(committing_engine: sa.Engine) -> None:
    """25006 (read_only_sql_transaction) is the real error of a read-only key's write: raised
    at the first attempt, not retried as a lost primary until the policy gives up."""
    calls: list[int] = []

    def work(conn: sa.Connection) -> None:
        calls.append(1)
        conn.exec_driver_sql("SET TRANSACTION READ ONLY")
        conn.exec_driver_sql("CREATE TEMPORARY TABLE refused (n int)")

    with pytest.raises(sa.exc.DBAPIError) as raised:
        run_unit_of_work(committing_engine, work, policy=FAST)
    assert getattr(raised.value.orig, "sqlstate", None) == "25006"
    assert not is_lost_connection(raised.value)
    assert calls == [1]


def test_gives_up_when_no_primary_answers() -> None:
    # Nothing listens on port 1: every connect is refused at once.
    engine = sa.create_engine(
        "postgresql+psycopg://postgres@127.0.0.1:1/none?connect_timeout=1",
        poolclass=sa.NullPool,
    )
    policy = RetryPolicy(first_wait=0.01, max_wait=0.01, deadline=0.05)
    with pytest.raises(GaveUp) as caught:
        run_unit_of_work(engine, lambda conn: conn.execute(sa.text("SELECT 1")), policy=policy)
    assert caught.value.attempts == len(policy.waits()) + 1
    assert is_lost_connection(caught.value.__cause__ or Exception())
