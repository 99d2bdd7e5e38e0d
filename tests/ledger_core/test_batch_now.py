"""A batch that is its own unit of work (`ledger.post_batch_now`): the fast door's one
statement sent with no BEGIN and no COMMIT, the server committing it as it ends; any batch
the door declines goes `with begin(): post_batch(...)`, the door having written nothing.

Each test checks what the unit of work promises: the batch is committed when the call
returns (seen from another connection), each entry gets the result `post_batch` gives it
(posted, replayed, refused, a linked chain all or none), and the one round trip is one
transaction of the server's (its commit counter).
"""

from __future__ import annotations

import uuid
from typing import Any

import pytest
import sqlalchemy as sa
from sqlalchemy import event

import ledger
import pgdriver
from tests.ledger_core.conftest import ORG_A, OpenAccountFn, transfer


@pytest.fixture(params=["engine", "connection"])
def bind(request: pytest.FixtureRequest, engine: sa.Engine) -> object:
    """What post_batch_now is given: the engine, or a connection with no transaction open."""
    if request.param == "engine":
        return engine
    conn = engine.connect()
    request.addfinalizer(conn.close)
    return conn


def _committed(engine: sa.Engine, keys: list[str]) -> int:
    """Entries committed under `keys`, seen from a connection of its own."""
    with engine.connect() as conn:
        return int(
            conn.execute(
                sa.text("SELECT count(*) FROM payments.entries WHERE idempotency_key = ANY(:k)"),
                {"k": keys},
            ).scalar_one()
        )


class Calls:
    """Counts the one-round-trip calls (`pgdriver.call_alone`) and the transactions
    SQLAlchemy begins on the engine while recording."""

    def __init__(self, engine: sa.Engine, monkeypatch: pytest.MonkeyPatch) -> None:
        self.alone = 0
        self.begun = 0
        real = pgdriver.call_alone

        def alone(*args: Any, **kwargs: Any) -> Any:
            self.alone += 1
            return real(*args, **kwargs)

        monkeypatch.setattr(pgdriver, "call_alone", alone)

        @event.listens_for(engine, "begin")
        def _begin(_conn: Any) -> None:
            self.begun += 1


def test_a_plain_batch_is_committed_in_one_transaction(
    engine: sa.Engine,
    open_account: OpenAccountFn,
    bind: sa.Engine | sa.Connection,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Three plain entries: posted, committed when the call returns, by the door's one
    statement (one call through libpq, no transaction begun by SQLAlchemy), the connection
    left with none open."""
    cash = open_account(ORG_A, "cash", "asset")
    sales = open_account(ORG_A, "sales", "revenue")
    batch = [transfer(f"now-{i}", cash, sales, 10 + i) for i in range(3)]
    calls = Calls(engine, monkeypatch)
    results = ledger.post_batch_now(bind, ORG_A, batch)
    assert (calls.alone, calls.begun) == (1, 0)
    assert [r.status for r in results] == ["posted"] * 3
    assert all(isinstance(r.id, uuid.UUID) for r in results)
    assert _committed(engine, [r.idempotency_key for r in batch]) == 3
    if isinstance(bind, sa.Connection):
        assert not bind.in_transaction()
    with engine.connect() as conn:
        ids = conn.execute(
            sa.text("SELECT id FROM payments.entries WHERE idempotency_key = ANY(:k)"),
            {"k": [r.idempotency_key for r in batch]},
        ).scalars()
        assert set(ids) == {r.id for r in results}


def test_a_batch_the_door_declines_is_judged_as_post_batch_judges_it(
    engine: sa.Engine, open_account: OpenAccountFn, bind: sa.Engine | sa.Connection
) -> None:
    """A replay, a refusal and a new entry: each gets post_batch's result, committed (the
    refusal remembered under its key); a linked chain with a refused entry posts none."""
    cash = open_account(ORG_A, "cash", "asset", credits_must_not_exceed_debits=True)
    sales = open_account(ORG_A, "sales", "revenue")
    first = ledger.post_batch_now(bind, ORG_A, [transfer("r-1", cash, sales, 50)])
    batch = [
        transfer("r-1", cash, sales, 50),  # replayed
        transfer("r-2", sales, cash, 10_000),  # overdraws cash: refused
        transfer("r-3", cash, sales, 5),  # posted
    ]
    results = ledger.post_batch_now(bind, ORG_A, batch)
    assert [r.status for r in results] == ["replayed", "refused", "posted"]
    assert results[0].id == first[0].id
    assert isinstance(results[1].error, ledger.InsufficientFunds)
    again = ledger.post_batch_now(bind, ORG_A, [transfer("r-2", sales, cash, 10_000)])
    assert isinstance(again[0].error, ledger.InsufficientFunds)  # the refusal stays
    linked = ledger.post_batch_now(
        bind,
        ORG_A,
        [transfer("l-1", cash, sales, 1), transfer("l-2", sales, cash, 10_000)],
        links=[True, False],
    )
    assert isinstance(linked[1].error, ledger.InsufficientFunds)
    assert isinstance(linked[0].error, ledger.LinkedEntryFailed)
    assert _committed(engine, ["r-1", "r-3", "l-1", "l-2"]) == 2
    if isinstance(bind, sa.Connection):
        assert not bind.in_transaction()


def test_invalid_links_are_refused_before_anything_is_sent(
    engine: sa.Engine, open_account: OpenAccountFn
) -> None:
    cash = open_account(ORG_A, "cash", "asset")
    sales = open_account(ORG_A, "sales", "revenue")
    with pytest.raises(ledger.InvalidRequest):
        ledger.post_batch_now(engine, ORG_A, [transfer("x", cash, sales, 1)], links=[True])
    with pytest.raises(ledger.InvalidRequest):
        ledger.post_batch_now(engine, ORG_A, [])
    assert _committed(engine, ["x"]) == 0


def test_a_connection_with_a_transaction_open_is_refused(
    engine: sa.Engine, open_account: OpenAccountFn
) -> None:
    """Inside a caller's transaction the batch is post_batch's, not a unit of its own."""
    cash = open_account(ORG_A, "cash", "asset")
    sales = open_account(ORG_A, "sales", "revenue")
    with engine.connect() as conn:
        conn.begin()
        with pytest.raises(RuntimeError):
            ledger.post_batch_now(conn, ORG_A, [transfer("t", cash, sales, 1)])
        conn.rollback()
    assert _committed(engine, ["t"]) == 0
