"""A posting that is its own unit of work (`ledger.post_entry_now`), and the fast door's call
through libpq (`pgdriver.call`, `pgdriver.call_alone`).

`post_entry_now` sends the fast door's one statement with no BEGIN and no COMMIT: the server
commits it as it ends. Each test checks what the unit of work promises: the posting is
committed when the call returns (seen from another connection), a replay answers the first
result, the same key with another request conflicts, a recorded refusal stays refused, an
error leaves nothing and the connection usable. Inside a caller's transaction, the same call
(`post_entry`) is rolled back with it.
"""

from __future__ import annotations

import uuid

import pytest
import sqlalchemy as sa

import ledger
import pgdriver
from tests.ledger_core.conftest import ORG_A, OpenAccountFn, transfer


def _posted(engine: sa.Engine, key: str) -> int:
    """Entries committed under `key`, seen from a connection of its own."""
    with engine.connect() as conn:
        return int(
            conn.execute(
                sa.text("SELECT count(*) FROM payments.entries WHERE idempotency_key = :k"),
                {"k": key},
            ).scalar_one()
        )


def _balance(engine: sa.Engine, account: uuid.UUID) -> tuple[int, int, int]:
    with engine.connect() as conn:
        row = conn.execute(
            sa.text(
                "SELECT posted_debits, posted_credits, version FROM payments.accounts"
                " WHERE id = :id"
            ),
            {"id": account},
        ).one()
    return int(row[0]), int(row[1]), int(row[2])


@pytest.fixture(params=["engine", "connection"])
def bind(request: pytest.FixtureRequest, engine: sa.Engine) -> object:
    """What post_entry_now is given: the engine (a pooled connection per call), or a
    connection kept open by the caller, with no transaction open."""
    if request.param == "engine":
        return engine
    conn = engine.connect()
    request.addfinalizer(conn.close)
    return conn


def test_a_posting_is_committed_when_the_call_returns(
    engine: sa.Engine, open_account: OpenAccountFn, bind: sa.Engine | sa.Connection
) -> None:
    cash = open_account(ORG_A, "cash")
    sales = open_account(ORG_A, "sales", type="revenue")
    first = ledger.post_entry_now(bind, ORG_A, transfer("now-1", cash, sales, 250))
    assert not first.replayed
    assert _posted(engine, "now-1") == 1
    assert _balance(engine, cash) == (250, 0, 1)
    assert _balance(engine, sales) == (0, 250, 1)
    if isinstance(bind, sa.Connection):
        assert not bind.in_transaction()  # nothing left open on the caller's connection
    # A replay answers the first result and writes nothing.
    again = ledger.post_entry_now(bind, ORG_A, transfer("now-1", cash, sales, 250))
    assert again == ledger.WriteResult(id=first.id, replayed=True)
    assert _posted(engine, "now-1") == 1
    assert _balance(engine, cash) == (250, 0, 1)
    # The same key with another request conflicts.
    with pytest.raises(ledger.IdempotencyConflict):
        ledger.post_entry_now(bind, ORG_A, transfer("now-1", cash, sales, 251))
    assert _balance(engine, cash) == (250, 0, 1)


def test_a_recorded_refusal_is_committed_and_stays_refused(
    engine: sa.Engine, open_account: OpenAccountFn, bind: sa.Engine | sa.Connection
) -> None:
    """Refused for funds: the refusal is committed under its key (the call is its own
    transaction); once the account is funded, the same request is still refused (its first
    answer), through the door's two-line path, which now finds both accounts passing and
    learns of the key only from its INSERT."""
    wallet = open_account(ORG_A, "wallet", type="liability", debits_must_not_exceed_credits=True)
    shop = open_account(ORG_A, "shop", type="liability")
    funding = open_account(ORG_A, "funding")
    with pytest.raises(ledger.InsufficientFunds):
        ledger.post_entry_now(bind, ORG_A, transfer("pay", wallet, shop, 100))
    with engine.connect() as conn:
        status = conn.execute(
            sa.text("SELECT status FROM payments.idempotency_keys WHERE key = 'pay'")
        ).scalar_one()
    assert status == "failed"
    ledger.post_entry_now(bind, ORG_A, transfer("fund", funding, wallet, 500))
    with pytest.raises(ledger.InsufficientFunds):
        ledger.post_entry_now(bind, ORG_A, transfer("pay", wallet, shop, 100))
    assert _posted(engine, "pay") == 0
    assert _balance(engine, wallet) == (0, 500, 1)
    assert _balance(engine, shop) == (0, 0, 0)


def test_a_replay_answers_even_when_the_accounts_would_now_refuse(
    engine: sa.Engine, open_account: OpenAccountFn, bind: sa.Engine | sa.Connection
) -> None:
    cash = open_account(ORG_A, "cash")
    sales = open_account(ORG_A, "sales", type="revenue")
    first = ledger.post_entry_now(bind, ORG_A, transfer("sale", cash, sales, 40))
    with engine.begin() as conn:
        ledger.close_account(conn, ORG_A, ledger.CloseAccount("close-sales", sales))
    again = ledger.post_entry_now(bind, ORG_A, transfer("sale", cash, sales, 40))
    assert again == ledger.WriteResult(id=first.id, replayed=True)
    with pytest.raises(ledger.AccountClosed):
        ledger.post_entry_now(bind, ORG_A, transfer("sale-2", cash, sales, 40))
    assert _balance(engine, sales) == (0, 40, 1)


def test_an_error_leaves_nothing_and_the_connection_usable(
    engine: sa.Engine, open_account: OpenAccountFn
) -> None:
    cash = open_account(ORG_A, "cash")
    sales = open_account(ORG_A, "sales", type="revenue")
    with engine.connect() as conn:
        with pytest.raises(ledger.AccountNotFound):
            ledger.post_entry_now(conn, ORG_A, transfer("ghost", cash, uuid.uuid4(), 5))
        assert not conn.in_transaction()
        ledger.post_entry_now(conn, ORG_A, transfer("real", cash, sales, 5))
    assert _posted(engine, "ghost") == 0
    assert _posted(engine, "real") == 1


def test_inside_a_transaction_the_call_is_rolled_back_with_it(
    engine: sa.Engine, open_account: OpenAccountFn
) -> None:
    """post_entry on the caller's connection: the libpq call begins the caller's transaction
    (as psycopg would) and is rolled back with it; committed with it otherwise."""
    cash = open_account(ORG_A, "cash")
    sales = open_account(ORG_A, "sales", type="revenue")
    with engine.connect() as conn:
        ledger.post_entry(conn, ORG_A, transfer("undone", cash, sales, 9))
        assert conn.in_transaction()
        conn.rollback()
    assert _posted(engine, "undone") == 0
    assert _balance(engine, cash) == (0, 0, 0)
    with engine.begin() as conn:
        ledger.post_entry(conn, ORG_A, transfer("kept", cash, sales, 9))
        ledger.post_entry(conn, ORG_A, transfer("kept-2", sales, cash, 4))
    assert _posted(engine, "kept") + _posted(engine, "kept-2") == 2
    assert _balance(engine, cash) == (9, 4, 2)


def test_post_entry_now_refuses_a_connection_with_a_transaction_open(
    engine: sa.Engine, open_account: OpenAccountFn
) -> None:
    cash = open_account(ORG_A, "cash")
    sales = open_account(ORG_A, "sales", type="revenue")
    with engine.connect() as conn:
        conn.execute(sa.text("SELECT 1"))  # begins the connection's transaction
        with pytest.raises(RuntimeError):
            ledger.post_entry_now(conn, ORG_A, transfer("open", cash, sales, 3))
        conn.rollback()
    assert _posted(engine, "open") == 0


def test_a_statement_deallocated_behind_its_back_is_prepared_again(
    engine: sa.Engine, open_account: OpenAccountFn
) -> None:
    """psycopg sends DEALLOCATE ALL after a rollback on a connection where it prepared
    statements of its own (as the rolled-back test tier and any refused unit of work do): the
    posting that is its own transaction prepares its statement again, and a posting inside a
    transaction does not depend on one (it is sent unnamed)."""
    cash = open_account(ORG_A, "cash")
    sales = open_account(ORG_A, "sales", type="revenue")
    with engine.connect() as conn:
        ledger.post_entry_now(conn, ORG_A, transfer("before", cash, sales, 2))
        for n in range(6):  # psycopg prepares a statement of its own (its fifth use)
            conn.execute(sa.text("SELECT 1 + :n"), {"n": n})
        conn.rollback()  # psycopg: DEALLOCATE ALL
        ledger.post_entry_now(conn, ORG_A, transfer("after", cash, sales, 2))
        conn.exec_driver_sql("DEALLOCATE ALL")
        conn.commit()
        with conn.begin():
            ledger.post_entry(conn, ORG_A, transfer("in-tx", cash, sales, 2))
            conn.exec_driver_sql("DEALLOCATE ALL")
            ledger.post_entry(conn, ORG_A, transfer("in-tx-2", cash, sales, 2))
        ledger.post_entry_now(conn, ORG_A, transfer("last", cash, sales, 2))
    for key in ("before", "after", "in-tx", "in-tx-2", "last"):
        assert _posted(engine, key) == 1
    assert _balance(engine, cash) == (10, 0, 5)


def test_a_nul_in_a_text_goes_the_cursors_way(
    engine: sa.Engine, open_account: OpenAccountFn
) -> None:
    """libpq would cut a text at a NUL; pgdriver.call refuses to send it (TypeError) and the
    ledger sends it the usual way, where psycopg refuses it: nothing is written."""
    cash = open_account(ORG_A, "cash")
    sales = open_account(ORG_A, "sales", type="revenue")
    with engine.connect() as conn, pytest.raises(TypeError):
        pgdriver.call(conn, "nul_test", "SELECT $1::text", ["a\x00b"])
    with pytest.raises(sa.exc.DBAPIError):
        ledger.post_entry_now(
            engine, ORG_A, transfer("nul", cash, sales, 1, description="before\x00after")
        )
    assert _posted(engine, "nul") == 0


def test_call_answers_rows_as_text_and_null_as_none(engine: sa.Engine) -> None:
    with engine.connect() as conn:
        row = pgdriver.call(
            conn, "text_test", "SELECT $1::int + 1, $2::text, NULL::text, 'é'", ["41", None]
        )
        assert row == ("42", None, None, "é")
        assert pgdriver.call(conn, "empty_test", "SELECT 1 WHERE false", []) is None
        with pytest.raises(sa.exc.DBAPIError) as info:
            pgdriver.call(conn, "error_test", "SELECT 1 / $1::int", ["0"])
        assert getattr(info.value.orig, "sqlstate", None) == "22012"
        conn.rollback()
    assert pgdriver.call_alone(engine, "alone_test", "SELECT $1::text", ["x"]) == ("x",)
