"""A payment's capture in three statements, booking what the long way books.

The event's first payment opens its escrow the long way; every later one is three
statements: the facts (the escrow locked first, as every escrow use case locks it before the
ledger locks accounts; the policy; whether the payment was booked; the chart accounts' ids),
the ledger entry, and the transition with its audit row and the payment's record. A payment
booked before is one statement and changes nothing.

Two deliveries of one payment at once, from two OS processes queued behind a lock on the
escrow: one books it; the other, whose facts were read before the first committed, finds
the ledger's entry already booked under the payment's key (a replay) and books nothing.

The platform's accounts are read by a statement of their own (issue 19 part 4), once per
connection (`_usual` leaves that read out of the count).

The statements are counted at the driver (`round_trips`): psycopg's cursors, where escrow's
facts and transition go, and pgdriver's libpq door (`pgdriver.call`, `call_alone`), where the
ledger's posting has gone since eaa2606 and where psycopg's cursor does not see it.
"""

from __future__ import annotations

import multiprocessing
import queue
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import sqlalchemy as sa
from sqlalchemy.pool import NullPool

import escrow
import ledger
import pgdriver
from liventix.database import make_engine
from tests.escrow_core.support import (
    audit,
    captured,
    driver_statements,
    escrow_of,
    lines_by_ref,
    new_organizer,
    recorded_payment,
    row,
)

TIMEOUT = 60.0


@contextmanager
def round_trips() -> Iterator[list[str]]:
    """Every statement sent meanwhile in this process, through psycopg's cursors
    (`driver_statements`) or through pgdriver's libpq door (`call`, `call_alone`, which
    send no statement through a cursor); BEGIN and COMMIT are not counted."""
    door = {"call": pgdriver.call, "call_alone": pgdriver.call_alone}
    with driver_statements() as seen:

        def counted(name: str) -> Any:
            def counting(bind: Any, prepared: str, statement: str, params: Any) -> Any:
                seen.append(statement)
                return door[name](bind, prepared, statement, params)

            return counting

        for name in door:
            setattr(pgdriver, name, counted(name))  # a measuring instrument, undone
        try:
            yield seen
        finally:
            for name, original in door.items():
                setattr(pgdriver, name, original)


def _usual(sent: list[str]) -> list[str]:
    """The statements sent but the platform's accounts' read (once per connection)."""
    return [s for s in sent if "is_platform" not in s]


def test_a_later_payment_is_three_statements_and_books_what_the_long_way_books(
    engine: sa.Engine,
) -> None:
    with engine.begin() as conn:
        org = new_organizer(conn, escrow.Policy(platform_fee_bps=500, bears_stripe_fees=False))
        first = captured(org, gross=10_000, stripe_fee=320)
        assert escrow.capture_payment(conn, first, cause="evt_1")  # opens the escrow
    second = captured(org, gross=5_000, stripe_fee=175)
    with engine.begin() as conn, round_trips() as sent:
        assert escrow.capture_payment(conn, second, cause="evt_2")
    assert len(_usual(sent)) == 3, sent
    with engine.begin() as conn, round_trips() as sent:
        assert not escrow.capture_payment(conn, second, cause="evt_2 again")
    assert len(sent) == 1, sent

    with engine.connect() as conn:
        # The same recipe as the first payment's, booked the long way.
        assert lines_by_ref(conn, org, "txn_" + first.payment_id[3:]) == [
            ("escrow:ev1:usd", "credit", 9_500),
            ("platform_fees:usd", "credit", 500),
            ("stripe_balance:usd", "debit", 9_680),
            ("stripe_fees:usd", "debit", 320),
        ]
        assert lines_by_ref(conn, org, "txn_" + second.payment_id[3:]) == [
            ("escrow:ev1:usd", "credit", 4_750),
            ("platform_fees:usd", "credit", 250),
            ("stripe_balance:usd", "debit", 4_825),
            ("stripe_fees:usd", "debit", 175),
        ]
        e = escrow_of(conn, second)
        assert (e.state, e.captured, e.held, e.version) == ("collecting", 15_000, 14_250, 2)
        assert e.held == escrow.ledger_escrow_balance(conn, e)
        assert audit(conn, e.id) == [("collecting", "collecting", "capture")] * 2
        recorded = recorded_payment(conn, second.payment_id)
        assert tuple(recorded) == (
            org,
            e.id,
            second.charge_id,
            5_000,
            250,
            175,
            False,
            True,
            True,
        )
        assert ledger.trial_balance(conn).balanced


def test_a_payment_captured_while_frozen_or_holding_stays_in_that_state(
    engine: sa.Engine,
) -> None:
    with engine.begin() as conn:
        org = new_organizer(conn)
        first = captured(org, gross=10_000, stripe_fee=320)
        escrow.capture_payment(conn, first, cause="evt_1")
        escrow_id = escrow_of(conn, first).id
        escrow.end_event(conn, escrow_id)
    late = captured(org, gross=2_000, stripe_fee=88)
    with engine.begin() as conn, round_trips() as sent:
        assert escrow.capture_payment(conn, late, cause="evt_2")
    assert len(_usual(sent)) == 3, sent
    with engine.connect() as conn:
        e = escrow.get_escrow(conn, escrow_id)
        assert (e.state, e.captured, e.held) == ("holding", 12_000, 9_500 + 1_900)
        assert audit(conn, escrow_id)[-1] == ("holding", "holding", "capture")
        assert e.held == escrow.ledger_escrow_balance(conn, e)


def _deliver(url: str, payment: escrow.CapturedPayment, results: Any) -> None:  # pragma: no cover
    """Book the payment as the inbox's handler does (in a spawned process)."""
    engine = make_engine(url, poolclass=NullPool)
    try:
        with engine.begin() as conn:
            results.put(("ok", escrow.capture_payment(conn, payment, cause="duplicate")))
    except Exception as exc:
        results.put(("error", repr(exc)))
    finally:
        engine.dispose()


def _lock_waits(engine: sa.Engine) -> int:
    with engine.connect() as conn:
        waiting: int = conn.execute(
            sa.text("""SELECT count(*) FROM pg_stat_activity
                        WHERE datname = current_database() AND wait_event_type = 'Lock'""")
        ).scalar_one()
        return waiting


def test_two_deliveries_of_one_payment_at_once_book_it_once(engine: sa.Engine, db_url: str) -> None:
    with engine.begin() as conn:
        org = new_organizer(conn)
        first = captured(org, gross=10_000, stripe_fee=320)
        escrow.capture_payment(conn, first, cause="evt_1")
        escrow_id = escrow_of(conn, first).id
    payment = captured(org, gross=4_000, stripe_fee=146)
    ctx = multiprocessing.get_context("spawn")
    results: Any = ctx.Queue()
    blocker = engine.connect()
    deliveries = [
        ctx.Process(target=_deliver, args=(db_url, payment, results), daemon=True) for _ in range(2)
    ]
    try:
        blocker.execute(
            sa.text("SELECT 1 FROM payments.escrows WHERE id = :id FOR UPDATE"), {"id": escrow_id}
        )
        for p in deliveries:
            p.start()
        # Both wait behind the blocker's lock, their facts' snapshots taken before either
        # committed (bounded: a delivery that does not queue fails the test below).
        deadline = time.monotonic() + TIMEOUT
        while _lock_waits(engine) < 2 and time.monotonic() < deadline:
            time.sleep(0.05)
        assert _lock_waits(engine) == 2
        blocker.rollback()
        answers = []
        for _ in deliveries:
            try:
                answers.append(results.get(timeout=TIMEOUT))
            except queue.Empty:
                raise AssertionError("a delivery did not answer") from None
        for p in deliveries:
            p.join(timeout=TIMEOUT)
            assert p.exitcode == 0
    finally:
        blocker.close()
        for p in deliveries:
            if p.is_alive():
                p.terminate()
                p.join(timeout=5)
    assert sorted(answers) == [("ok", False), ("ok", True)]

    with engine.connect() as conn:
        e = escrow.get_escrow(conn, escrow_id)
        assert (e.captured, e.held) == (14_000, 9_500 + 3_800)
        assert e.held == escrow.ledger_escrow_balance(conn, e)
        assert audit(conn, escrow_id) == [("collecting", "collecting", "capture")] * 2
        booked = row(
            conn,
            """SELECT (SELECT count(*) FROM payments.card_payments WHERE id = :id) AS payments,
                      (SELECT count(*) FROM payments.entries
                        WHERE idempotency_key = :key) AS entries""",
            id=payment.payment_id,
            key=f"stripe:capture:{payment.payment_id}",
        )
        assert (booked.payments, booked.entries) == (1, 1)
        assert ledger.trial_balance(conn).balanced


def test_the_first_payment_of_an_event_opens_its_escrow_the_long_way(engine: sa.Engine) -> None:
    with engine.begin() as conn:
        org = new_organizer(conn)
    payment = captured(org, gross=3_000, stripe_fee=117, event_id=f"ev-{uuid.uuid4().hex[:6]}")
    with engine.begin() as conn:
        assert escrow.capture_payment(conn, payment, cause="evt_1")
    with engine.connect() as conn:
        e = escrow_of(conn, payment)
        assert (e.state, e.captured, e.held) == ("collecting", 3_000, 2_850)
        assert e.held == escrow.ledger_escrow_balance(conn, e)
