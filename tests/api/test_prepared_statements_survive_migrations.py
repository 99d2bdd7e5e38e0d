"""Prepared statements that a migration changing their result's columns would break
(PostgreSQL refuses such a statement at every execution: 0A000 "cached plan must not change
result type", raised by RevalidateCachedQuery, having run nothing) are prepared again:

- pgdriver's named statements that are their own transaction (`pgdriver.call_alone`: the
  ledger's single posting, a batch's fast way, the checkout's record): deallocated, prepared
  again and run, in the same call;
- psycopg's own (prepared after their fifth use on a connection) inside a request's
  transaction: the transaction is lost, its rollback makes psycopg deallocate them, and the
  API runs the request again (`failures.stale_plan`), as after a lost race.

(The API's pipelined hold: tests/api/test_checkout_prepared_hold.py.)"""

from __future__ import annotations

import pytest
import sqlalchemy as sa

import pgdriver
import ticketing_fsm as tk
from liventix.api import failures
from tests.api.one_connection import prepared_statements
from tests.ticketing_core.support import Gateway, captured, open_world, request

_PROBE = "SELECT * FROM public.probe_columns($1::int)"
_NAME = "probe_columns_prepared"


def _probe(engine: sa.Engine, columns: str, values: str) -> None:
    """(Re)create `public.probe_columns(int)` returning `columns`."""
    with engine.begin() as conn:
        conn.exec_driver_sql("DROP FUNCTION IF EXISTS public.probe_columns(int)")
        conn.exec_driver_sql(
            f"CREATE FUNCTION public.probe_columns(p int) RETURNS TABLE ({columns})"
            f" LANGUAGE sql AS $$SELECT {values}$$"
        )


def test_a_named_statement_of_its_own_transaction_is_prepared_again(
    one_connection: sa.Engine, committing_engine: sa.Engine
) -> None:
    engine = one_connection
    _probe(committing_engine, "a int", "p")
    assert pgdriver.call_alone(engine, _NAME, _PROBE, ["7"]) == ("7",)
    assert pgdriver.call_alone(engine, _NAME, _PROBE, ["8"]) == ("8",)
    assert prepared_statements(engine)[_NAME][1] == 2
    # A migration gives the function one more column while the connection keeps the
    # statement prepared (on another connection: psycopg deallocates everything after a DROP
    # on its own). Before: FeatureNotSupported (0A000) at this call and every one after.
    _probe(committing_engine, "a int, b text", "p, 'added'")
    assert pgdriver.call_alone(engine, _NAME, _PROBE, ["9"]) == ("9", "added")
    assert pgdriver.call_alone(engine, _NAME, _PROBE, ["10"]) == ("10", "added")
    assert prepared_statements(engine)[_NAME][1] == 2  # prepared again, run twice since
    # Deallocated behind its back (psycopg's DEALLOCATE ALL): prepared again, as before.
    with engine.connect() as conn:
        conn.exec_driver_sql("DEALLOCATE ALL")
        conn.commit()
    assert pgdriver.call_alone(engine, _NAME, _PROBE, ["11"]) == ("11", "added")


def test_another_failure_of_a_named_statement_is_raised(
    one_connection: sa.Engine, committing_engine: sa.Engine
) -> None:
    """Only those two are prepared again: a statement failing otherwise raises as before."""
    engine = one_connection
    _probe(committing_engine, "a int", "p")
    assert pgdriver.call_alone(engine, _NAME, _PROBE, ["1"]) == ("1",)
    with pytest.raises(sa.exc.DataError):
        pgdriver.call_alone(engine, _NAME, _PROBE, ["not a number"])
    assert pgdriver.call_alone(engine, _NAME, _PROBE, ["2"]) == ("2",)


def test_a_statement_psycopg_prepared_before_a_migration_is_a_lost_race(
    one_connection: sa.Engine, committing_engine: sa.Engine
) -> None:
    """psycopg prepares a statement after its fifth use (counted over committed transactions:
    a rollback resets its counts). Once the function's columns changed, the statement fails
    in the request's transaction; the API takes it as a lost race (`failures.stale_plan`):
    the rollback makes psycopg deallocate it, and the request run again succeeds."""
    engine = one_connection
    _probe(committing_engine, "a int", "p")
    statement = "SELECT * FROM public.probe_columns(%(p)s)"
    for n in range(7):
        with engine.begin() as conn:
            assert pgdriver.first(conn, statement, {"p": n}) == (n,)
    assert any("probe_columns" in text for text, _n in prepared_statements(engine).values())
    _probe(committing_engine, "a int, b text", "p, 'added'")  # the migration's connection
    with pytest.raises(sa.exc.DBAPIError) as raised, engine.begin() as conn:
        pgdriver.first(conn, statement, {"p": 8})
    assert failures.sqlstate(raised.value) == "0A000"
    assert failures.stale_plan(raised.value) and failures.lost_race(raised.value)
    with engine.begin() as conn:  # the request run again
        assert tuple(pgdriver.first(conn, statement, {"p": 9})) == (9, "added")
    # Another 0A000 is not one: answered as before.
    with pytest.raises(sa.exc.DBAPIError) as other, engine.begin() as conn:
        conn.exec_driver_sql("DO $$ BEGIN RAISE SQLSTATE '0A000'; END $$")
    assert failures.sqlstate(other.value) == "0A000"
    assert not failures.stale_plan(other.value) and not failures.lost_race(other.value)


def _widen_the_capture(engine: sa.Engine) -> None:
    """A migration giving `payments.capture_card_payment` one more result column (NULL)."""
    with engine.begin() as conn:
        definition = conn.exec_driver_sql(
            "SELECT pg_get_functiondef('payments.capture_card_payment'::regproc)"
        ).scalar_one()
        widened = definition.replace(
            "refusal_details jsonb)", "refusal_details jsonb, added integer)", 1
        )
        assert widened != definition
        conn.exec_driver_sql("DROP FUNCTION payments.capture_card_payment")
        conn.exec_driver_sql(widened.replace("%", "%%"))
        conn.exec_driver_sql(
            "GRANT EXECUTE ON FUNCTION payments.capture_card_payment"
            " TO liventix_app, liventix_platform"
        )


def test_the_payment_statement_psycopg_prepared_survives_its_capture_gaining_a_column(
    one_connection: sa.Engine, committing_engine: sa.Engine
) -> None:
    """The payment's statement (the inbox's payment_intent.succeeded: psycopg prepares it
    after its fifth use) names the capture's columns it reads (`cap`'s capture_outcome and
    capture_entry), so a migration adding a column to `payments.capture_card_payment` leaves
    its result's type as it was: PostgreSQL plans it again, no 0A000. (A change of those
    columns' types would fail one payment per connection: its rollback deallocates psycopg's
    statements, and the inbox runs the event again.)"""
    engine = one_connection
    with engine.begin() as conn:
        world = open_world(conn, capacities=(30,))
    for n in range(12):  # prepared by psycopg after a few (its counts restart at a rollback)
        checkout = tk.start_checkout(engine, Gateway(), request(world, f"pay-{n}", (1,)))
        with engine.begin() as conn:
            assert tk.pay_for_intent(conn, captured(world, checkout), cause=f"e{n}") == "issued"
    kept = [t for t, _n in prepared_statements(engine).values() if "capture_card_payment" in t]
    assert len(kept) == 1
    _widen_the_capture(committing_engine)  # another connection, as a migration's
    checkout = tk.start_checkout(engine, Gateway(), request(world, "pay-after", (1,)))
    with engine.begin() as conn:
        assert tk.pay_for_intent(conn, captured(world, checkout), cause="after") == "issued"
    assert kept == [
        t for t, _n in prepared_statements(engine).values() if "capture_card_payment" in t
    ]
