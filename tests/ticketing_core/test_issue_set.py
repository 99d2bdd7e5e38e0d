"""The payment issues an order's tickets together: the order paid and all its tickets issued
in one guarded statement (with their audit rows and the counters), the messages in one
more, however many tickets. A ticket a concurrent change took out of `held` refuses the
whole issue, as a lost compare-and-set refuses any transition: nothing is issued, nothing
half-issued."""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Iterator

import pytest
import sqlalchemy as sa

import escrow
import ticketing_fsm as tk
from tests.escrow_core.support import driver_statements
from tests.ticketing_core.support import (
    Counters,
    Gateway,
    World,
    audit,
    captured,
    check_audit_trail,
    check_capacity,
    counters,
    emails_to,
    messages,
    open_world,
    pay,
    request,
    statuses,
)

WAIT_SECONDS = 30.0


@pytest.fixture
def world(engine: sa.Engine) -> World:
    with engine.begin() as conn:
        return open_world(conn, capacities=(10, 10), prices=(2_500, 8_000))


def _checkout(
    engine: sa.Engine, world: World, quantities: tuple[int, ...], buyer: str = "ann@example.com"
) -> tk.Checkout:
    return tk.start_checkout(
        engine, Gateway(), request(world, uuid.uuid4().hex, quantities, buyer=buyer)
    )


def _order_status(engine: sa.Engine, order_id: uuid.UUID) -> str:
    with engine.connect() as conn:
        return tk.get_order(conn, order_id).status


def test_every_ticket_is_issued_with_its_audit_row_counters_and_messages(
    engine: sa.Engine, world: World
) -> None:
    checkout = _checkout(engine, world, (2, 1))
    with engine.begin() as conn:
        assert pay(conn, world, checkout) == "issued"
    with engine.connect() as conn:
        tickets = tk.tickets_of(conn, checkout.order_id)
        assert statuses(conn, checkout.order_id) == ["issued"] * 3
        assert [counters(conn, t) for t in world.types] == [
            Counters(10, 0, 2, {"issued": 2}),
            Counters(10, 0, 1, {"issued": 1}),
        ]
        for t in tickets:
            assert t.version == 1
            assert audit(conn, t.id) == [("held", "issued", "issue")]
        assert audit(conn, checkout.order_id) == [("awaiting_payment", "paid", "pay")]
        issued = messages(conn, "ticket.issued")
        assert sorted(m.payload["ticket_id"] for m in issued) == sorted(str(t.id) for t in tickets)
        assert {m.payload["status"] for m in issued} == {"issued"}
        (paid,) = messages(conn, "order.paid", str(checkout.order_id))
        assert paid.payload["status"] == "paid"
        assert paid.payload["amount"] == 2 * 2_500 + 8_000
        assert sorted(e.body for e in emails_to(conn, "ann@example.com")) == sorted(
            f"Your ticket code is {t.code}. Show it at the door." for t in tickets
        )
        check_capacity(conn)
        check_audit_trail(conn)


def test_the_statements_do_not_grow_with_the_tickets(engine: sa.Engine, world: World) -> None:
    def statements_to_issue(quantities: tuple[int, ...]) -> int:
        checkout = _checkout(engine, world, quantities)
        with engine.begin() as conn:
            escrow.capture_payment(conn, captured(world, checkout), cause="evt")
            # Counted at the driver: the issue runs on the driver cursor, unseen by
            # SQLAlchemy's events.
            with driver_statements() as seen:
                assert tk.payment_succeeded(conn, checkout.order_id, cause="evt") == "issued"
        return len(seen)

    assert statements_to_issue((1,)) == statements_to_issue((4, 3)) == 2


def test_paying_by_the_intent_finds_the_order_in_the_statement_that_pays_it(
    engine: sa.Engine, world: World
) -> None:
    checkout = _checkout(engine, world, (2, 1))
    with engine.begin() as conn:
        escrow.capture_payment(conn, captured(world, checkout), cause="evt")
        with driver_statements() as seen:
            outcome = tk.payment_succeeded_for_intent(
                conn, checkout.payment_intent_id, cause="evt", org_id=world.org
            )
    assert (outcome, len(seen)) == ("issued", 2)
    with engine.connect() as conn:
        assert statuses(conn, checkout.order_id) == ["issued"] * 3
        assert audit(conn, checkout.order_id) == [("awaiting_payment", "paid", "pay")]
        check_capacity(conn)
        check_audit_trail(conn)
    # Again (a duplicate event): nothing more is issued, the long way says so.
    with engine.begin() as conn:
        again = tk.payment_succeeded_for_intent(conn, checkout.payment_intent_id, cause="evt")
    assert again == "unchanged"
    with engine.connect() as conn:
        assert len(messages(conn, "order.paid", str(checkout.order_id))) == 1
    # An intent that pays for no order of ours.
    with engine.begin() as conn:
        assert tk.payment_succeeded_for_intent(conn, "pi_not_ours", cause="evt") is None


@pytest.mark.parametrize("named", ["none", "another"])
def test_paying_by_the_intent_without_its_organization_finds_the_order_the_long_way(
    engine: sa.Engine, world: World, named: str
) -> None:
    # The one-statement lookup reads the organization the payment is for alone (issue 19
    # part 4); an event naming none, or another (metadata is not trusted), still pays the
    # order the intent is recorded on, found by the intent alone, to the same end state.
    checkout = _checkout(engine, world, (2, 1))
    org = None if named == "none" else uuid.uuid4()
    with engine.begin() as conn:
        escrow.capture_payment(conn, captured(world, checkout), cause="evt")
        with driver_statements() as seen:
            outcome = tk.payment_succeeded_for_intent(
                conn, checkout.payment_intent_id, cause="evt", org_id=org
            )
    assert outcome == "issued"
    assert len(seen) > 2  # not the one statement: the order found first, then paid
    with engine.connect() as conn:
        assert statuses(conn, checkout.order_id) == ["issued"] * 3
        assert audit(conn, checkout.order_id) == [("awaiting_payment", "paid", "pay")]
        assert len(messages(conn, "order.paid", str(checkout.order_id))) == 1
        check_capacity(conn)
        check_audit_trail(conn)


@pytest.mark.parametrize("change", ["released", "issued"])
def test_a_ticket_moved_before_the_payment_refuses_the_issue(
    engine: sa.Engine, world: World, change: str
) -> None:
    checkout = _checkout(engine, world, (3,))
    with engine.begin() as conn:
        victim = tk.tickets_of(conn, checkout.order_id)[1]
        conn.execute(
            sa.text("UPDATE ticketing.tickets SET status = :s, version = 1 WHERE id = :id"),
            {"s": change, "id": victim.id},
        )
    with pytest.raises(tk.InvalidTransition) as refused, engine.begin() as conn:
        pay(conn, world, checkout)
    assert (refused.value.subject, refused.value.subject_id) == ("ticket", str(victim.id))
    assert refused.value.state == change
    _nothing_issued(engine, world, checkout, {change: 1, "held": 2})


@pytest.fixture
def blocker(engine: sa.Engine) -> Iterator[sa.Connection]:
    conn = engine.connect()
    try:
        yield conn
    finally:
        conn.rollback()
        conn.close()


def _wait_for_a_lock_wait(engine: sa.Engine) -> None:
    """Until a session of this database waits for a row lock (bounded)."""
    deadline = time.monotonic() + WAIT_SECONDS
    with engine.connect() as conn:
        while time.monotonic() < deadline:
            waiting = conn.execute(
                sa.text("""SELECT count(*) FROM pg_stat_activity
                            WHERE datname = current_database() AND wait_event_type = 'Lock'""")
            ).scalar_one()
            conn.rollback()
            if waiting:
                return
            time.sleep(0.02)
    raise AssertionError("the payment never waited for the ticket's lock")


def _pay_in_thread(
    engine: sa.Engine, world: World, checkout: tk.Checkout
) -> tuple[threading.Thread, list[object]]:
    outcome: list[object] = []

    def run() -> None:
        try:
            with engine.begin() as conn:
                outcome.append(pay(conn, world, checkout))
        except Exception as exc:  # the test reads it
            outcome.append(exc)

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    return thread, outcome


def test_a_ticket_moved_while_the_issue_waits_for_it_refuses_the_whole_issue(
    engine: sa.Engine, world: World, blocker: sa.Connection
) -> None:
    checkout = _checkout(engine, world, (3,))
    victim = tk.tickets_of(blocker, checkout.order_id)[2]
    # Another session moves one ticket and holds its row lock; the payment's issue (which
    # read the ticket as held) must wait for it, then see it moved.
    blocker.execute(
        sa.text("UPDATE ticketing.tickets SET status = 'released', version = 1 WHERE id = :id"),
        {"id": victim.id},
    )
    thread, outcome = _pay_in_thread(engine, world, checkout)
    _wait_for_a_lock_wait(engine)
    blocker.commit()
    thread.join(WAIT_SECONDS)
    assert not thread.is_alive()
    (refused,) = outcome
    assert isinstance(refused, tk.InvalidTransition)
    assert (refused.subject, refused.subject_id, refused.state) == (
        "ticket",
        str(victim.id),
        "released",
    )
    _nothing_issued(engine, world, checkout, {"released": 1, "held": 2})


def test_a_concurrent_lock_that_changes_nothing_only_delays_the_issue(
    engine: sa.Engine, world: World, blocker: sa.Connection
) -> None:
    checkout = _checkout(engine, world, (3,))
    victim = tk.tickets_of(blocker, checkout.order_id)[0]
    blocker.execute(
        sa.text("SELECT 1 FROM ticketing.tickets WHERE id = :id FOR UPDATE"), {"id": victim.id}
    )
    thread, outcome = _pay_in_thread(engine, world, checkout)
    _wait_for_a_lock_wait(engine)
    blocker.rollback()
    thread.join(WAIT_SECONDS)
    assert outcome == ["issued"]
    with engine.connect() as conn:
        assert statuses(conn, checkout.order_id) == ["issued"] * 3
        check_capacity(conn)
        check_audit_trail(conn)


def _nothing_issued(
    engine: sa.Engine, world: World, checkout: tk.Checkout, tickets: dict[str, int]
) -> None:
    """The refused payment left no trace: the order waits, no ticket is issued, no seat
    sold, no message written, no money booked."""
    assert _order_status(engine, checkout.order_id) == "awaiting_payment"
    with engine.connect() as conn:
        got = counters(conn, world.ga)
        assert (got.sold, got.tickets) == (0, tickets)
        assert messages(conn, "ticket.issued") == []
        assert messages(conn, "order.paid") == []
        booked = conn.execute(
            sa.text("SELECT count(*) FROM payments.card_payments WHERE id = :pi"),
            {"pi": checkout.payment_intent_id},
        ).scalar_one()
        assert booked == 0
        issued_rows = conn.execute(
            sa.text("SELECT count(*) FROM ticketing.transitions WHERE to_state = 'issued'")
        ).scalar_one()
        assert issued_rows == 0


def test_issuing_the_tickets_writes_no_index_entry(engine: sa.Engine, world: World) -> None:
    # A ticket's moves change its status, which no index of ticketing.tickets names: its
    # issue is a HOT update (the new version on the same page, no index entry written),
    # counted by this transaction's own statistics.
    checkout = _checkout(engine, world, (2, 1))
    with engine.begin() as conn:
        escrow.capture_payment(conn, captured(world, checkout), cause="evt")
        outcome = tk.payment_succeeded_for_intent(
            conn, checkout.payment_intent_id, cause="evt", org_id=world.org
        )
        updated, hot = conn.execute(
            sa.text(
                "SELECT n_tup_upd, n_tup_hot_upd FROM pg_stat_xact_user_tables"
                " WHERE schemaname = 'ticketing' AND relname = 'tickets'"
            )
        ).one()
    assert outcome == "issued"
    assert (updated, hot) == (3, 3)
    with engine.connect() as conn:
        status_indexed = conn.execute(
            sa.text(
                "SELECT count(*) FROM pg_index i JOIN pg_attribute a"
                " ON a.attrelid = i.indrelid AND a.attnum = ANY (i.indkey)"
                " WHERE i.indrelid = 'ticketing.tickets'::regclass AND a.attname = 'status'"
            )
        ).scalar_one()
    assert status_indexed == 0
