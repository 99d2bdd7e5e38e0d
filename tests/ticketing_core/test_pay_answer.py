"""What the payment's one statement answers (session 34): its usual case reads only the
capture's answer, the messages written, the order's id, its tickets' count and each moved
ticket's id, so the statement answers those alone (its ~40 columns of the order and the
tickets were described, projected and sent at every payment). When the caller needs more
(a ticket not moved, to name it; no message written, to publish them itself),
`store.paying.pay_after_capture` reads the order and the moved tickets again, in the same
transaction, and answers the rows the statement answered before: the same columns, in the
same order, with the same values.
"""

from __future__ import annotations

import uuid
from typing import Any

import pytest
import sqlalchemy as sa

import escrow
import ticketing_fsm as tk
from tests.ticketing_core.support import Gateway, World, captured, open_world, request
from ticketing_fsm import outcomes, store
from ticketing_fsm.models import ORDER_FIELDS, TICKET_FIELDS

_NARROW = ("capture_outcome", "capture_entry", "notes_written", "o_id", "total", "id")
# The statement's answer before session 34 (its capture's, the order's, the ticket's).
_WIDE = (
    "capture_outcome",
    "capture_entry",
    "notes_written",
    *(f"o_{f}" for f in ORDER_FIELDS),
    "total",
    *TICKET_FIELDS,
    "created_at",
)


@pytest.fixture
def world(engine: sa.Engine) -> World:
    with engine.begin() as conn:
        return open_world(conn, capacities=(100,), prices=(2_500,))


def _checkout(engine: sa.Engine, world: World) -> tk.Checkout:
    return tk.start_checkout(engine, Gateway(), request(world, uuid.uuid4().hex, (2,)))


def _answer(conn: sa.Connection, world: World, checkout: tk.Checkout) -> list[Any]:
    """The payment's statement, as `tk.pay_for_intent` sends it once escrow's terms are
    known on the connection."""
    payment = captured(world, checkout)
    call = escrow.capture_call(conn, payment, cause="evt")
    assert call is not None, "escrow's terms not known on this connection"
    return store.paying.pay_after_capture(conn, call, payment.payment_id, outcomes._moves(), "evt")


def _warm(conn: sa.Connection, world: World, engine: sa.Engine) -> None:
    """The event's first payment opens its escrow, the next reads its terms and accounts
    (both the long way); from the third on, the connection knows them."""
    for checkout in (_checkout(engine, world), _checkout(engine, world)):
        assert tk.pay_for_intent(conn, captured(world, checkout), cause="evt") == "issued"


def test_the_usual_case_answers_the_ids_alone(engine: sa.Engine, world: World) -> None:
    second = _checkout(engine, world)
    with engine.begin() as conn:
        _warm(conn, world, engine)
        rows = _answer(conn, world, second)
        tickets = tk.tickets_of(conn, second.order_id)
    assert [tuple(r._fields) for r in rows] == [_NARROW, _NARROW]
    assert {(r.capture_outcome, r.notes_written, r.o_id, r.total) for r in rows} == {
        ("captured", 3, second.order_id, 2)
    }
    assert sorted(r.id for r in rows) == sorted(t.id for t in tickets)
    assert {t.status for t in tickets} == {"issued"}


def test_when_the_caller_publishes_it_gets_the_rows_as_before(
    engine: sa.Engine, world: World
) -> None:
    odd = _checkout(engine, world)
    with engine.begin() as conn:
        # A holder's address the statement writes no e-mail to: no message written, the
        # caller publishes (and the outbox refuses it there: not called here).
        conn.execute(
            sa.text("UPDATE ticketing.tickets SET holder_email = :to WHERE order_id = :order"),
            {"to": "ann@example.com\nBcc: x", "order": odd.order_id},
        )
    with engine.connect() as conn:  # rolled back: the outbox would refuse the address
        _warm(conn, world, engine)
        rows = _answer(conn, world, odd)
        order = conn.execute(
            sa.text(f"SELECT {', '.join(ORDER_FIELDS)} FROM ticketing.orders WHERE id = :id"),
            {"id": odd.order_id},
        ).one()
        tickets = conn.execute(
            sa.text(
                f"SELECT {', '.join(TICKET_FIELDS)}, created_at FROM ticketing.tickets"
                " WHERE order_id = :id ORDER BY created_at, id"
            ),
            {"id": odd.order_id},
        ).all()
    assert [tuple(r._fields) for r in rows] == [_WIDE, _WIDE]
    for row, ticket in zip(rows, tickets, strict=True):
        values = row._asdict()
        assert (values["capture_outcome"], values["notes_written"], values["total"]) == (
            "captured",
            0,
            2,
        )
        assert tuple(values[f"o_{f}"] for f in ORDER_FIELDS) == tuple(order)
        assert tuple(values[f] for f in (*TICKET_FIELDS, "created_at")) == tuple(ticket)
    assert order.status == "paid" and {t.status for t in tickets} == {"issued"}
