"""The payment's handler work in one transaction of one statement (`tk.pay_for_intent`):
escrow's capture call (`payments.capture_card_payment`, decided in Python from the terms
and accounts the last capture of the escrow read on the connection) with the order paid,
its tickets issued and their messages published (the same messages, payloads and
deliveries as the long way's Python publishing). It books what the long way books (escrow's
three statements, then ticketing's two), and any case it does not take (the escrow's
first payments, the terms changed since they were read, a late payment, a duplicate) is
done the long way after it, in the same transaction, to the same end state.

The invariant (promise 9): any sequence of deliveries of the payments of several orders,
duplicates included, with the organizer's terms changed between them, ends with each
order paid once, its tickets issued once, one `order.paid` per order, one capture per
payment booked at the terms in force when it was booked, and the books balanced.
"""

from __future__ import annotations

import re
import uuid
from datetime import timedelta
from typing import Any

import pytest
import sqlalchemy as sa
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import escrow
import outbox
import ticketing_fsm as tk
from tests.escrow_core.support import driver_statements, lines_by_ref
from tests.ticketing_core.support import (
    Gateway,
    World,
    audit,
    captured,
    check_audit_trail,
    check_balanced,
    check_capacity,
    check_paid_in_ledger,
    messages,
    open_world,
    request,
    statuses,
)
from tests.ticketing_core.test_paid_within_hold import _hold_ended
from ticketing_fsm.messages import ticket_mail


def _checkout(
    engine: sa.Engine, world: World, quantity: int = 2, hold: timedelta = tk.DEFAULT_HOLD
) -> tk.Checkout:
    return tk.start_checkout(
        engine, Gateway(), request(world, uuid.uuid4().hex, (quantity,)), hold=hold
    )


def _pay(conn: sa.Connection, world: World, checkout: tk.Checkout, cause: str = "evt") -> str:
    outcome = tk.pay_for_intent(conn, captured(world, checkout), cause=cause)
    assert outcome is not None
    return outcome


def _escrow(conn: sa.Connection, world: World) -> escrow.Escrow:
    found = conn.execute(
        sa.text("SELECT id FROM payments.escrows WHERE org_id = :org"), {"org": world.org}
    ).scalar_one()
    return escrow.get_escrow(conn, found)


@pytest.fixture
def world(engine: sa.Engine) -> World:
    with engine.begin() as conn:
        return open_world(conn, capacities=(100,), prices=(2_500,))


def test_a_payment_is_one_statement_once_the_escrow_is_known_and_books_the_same(
    engine: sa.Engine, world: World
) -> None:
    # The event's first payment opens its escrow, the next reads its terms and accounts
    # (both the long way); from the third on, the connection knows them.
    first, second, third = (_checkout(engine, world) for _ in range(3))
    with engine.begin() as conn:
        assert _pay(conn, world, first) == "issued"
        assert _pay(conn, world, second) == "issued"
        with driver_statements() as seen:
            assert _pay(conn, world, third) == "issued"
    assert len(seen) == 1, seen  # the capture, the order, its tickets and their messages
    assert "payments.capture_card_payment" in seen[0]
    with engine.connect() as conn:
        # The recipe the long way booked for the second payment, for the third.
        refs = ["txn_" + c.payment_intent_id[3:] for c in (second, third)]
        assert lines_by_ref(conn, world.org, refs[0]) == lines_by_ref(conn, world.org, refs[1])
        assert statuses(conn, third.order_id) == ["issued", "issued"]
        assert audit(conn, third.order_id) == [("awaiting_payment", "paid", "pay")]
        assert len(messages(conn, "order.paid", str(third.order_id))) == 1
        assert len(messages(conn, "ticket.issued")) == 6
        e = _escrow(conn, world)
        assert (e.state, e.captured, e.version) == ("collecting", 3 * first.amount, 3)
        assert e.held == escrow.ledger_escrow_balance(conn, e)
        check_capacity(conn)
        check_audit_trail(conn)
        check_paid_in_ledger(conn)
        check_balanced(conn)
    # Again (a duplicate event): escrow answers it was booked, the long way says unchanged.
    with engine.begin() as conn:
        assert _pay(conn, world, third, cause="evt again") == "unchanged"
    with engine.connect() as conn:
        assert len(messages(conn, "order.paid", str(third.order_id))) == 1
        assert _escrow(conn, world).captured == 3 * first.amount


def test_terms_changed_since_they_were_read_are_booked_the_long_way(
    engine: sa.Engine, world: World
) -> None:
    checkouts = [_checkout(engine, world) for _ in range(3)]
    with engine.begin() as conn:
        for c in checkouts[:2]:
            _pay(conn, world, c)
    with engine.begin() as other:
        escrow.set_policy(other, world.org, escrow.Policy(platform_fee_bps=1_000))
    with engine.begin() as conn:
        with driver_statements() as seen:
            assert _pay(conn, world, checkouts[2]) == "issued"
        # The call answered 'stale' and wrote nothing; then escrow's facts, the platform's
        # accounts and the record (its posting goes through the ledger's libpq door, not a
        # cursor), and ticketing's two.
        assert len(seen) == 1 + 3 + 2, seen
    with engine.connect() as conn:
        ref = "txn_" + checkouts[2].payment_intent_id[3:]
        fees = [
            amount
            for code, _side, amount in lines_by_ref(conn, world.org, ref)
            if code.startswith("platform_fees")
        ]
        assert fees == [checkouts[2].amount // 10]
        check_balanced(conn)
    # Known again: the next payment is one statement, at the new terms.
    late = _checkout(engine, world)
    with engine.begin() as conn, driver_statements() as seen:
        assert _pay(conn, world, late) == "issued"
    assert len(seen) == 1


def test_a_late_payment_is_captured_in_the_call_then_refunded_the_long_way(
    engine: sa.Engine, world: World
) -> None:
    early = [_checkout(engine, world) for _ in range(2)]
    with engine.begin() as conn:
        for c in early:
            _pay(conn, world, c)
    late = _checkout(engine, world)
    # Recorded within its hold (a checkout is recorded only then), the hold then over.
    _hold_ended(engine, late.order_id, timedelta(minutes=1))
    with engine.begin() as conn:
        assert _pay(conn, world, late) == "refunded"
    with engine.connect() as conn:
        assert tk.get_order(conn, late.order_id).status == "cancelled"
        assert len(messages(conn, "order.paid", str(late.order_id))) == 0
        assert _escrow(conn, world).captured == sum(c.amount for c in [*early, late])
        check_capacity(conn)
        check_balanced(conn)


@settings(
    max_examples=8,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    deliveries=st.lists(st.integers(min_value=0, max_value=3), min_size=4, max_size=12),
    changes=st.sets(st.integers(min_value=0, max_value=11), max_size=2),
)
def test_any_order_of_deliveries_with_duplicates_ends_in_the_same_state(
    engine: sa.Engine, deliveries: list[int], changes: set[int]
) -> None:
    with engine.begin() as conn:
        world = open_world(conn, capacities=(100,), prices=(2_500,))
    checkouts = [_checkout(engine, world, quantity=1 + n % 2) for n in range(4)]
    fees: dict[str, int] = {}
    bps = 500
    for step, n in enumerate([*deliveries, 0, 1, 2, 3]):  # every order paid at least once
        if step in changes:
            bps += 250
            with engine.begin() as conn:
                escrow.set_policy(conn, world.org, escrow.Policy(platform_fee_bps=bps))
        c = checkouts[n]
        with engine.begin() as conn:
            outcome = _pay(conn, world, c, cause=f"evt_{step}")
        assert outcome in ("issued", "unchanged")
        fees.setdefault(c.payment_intent_id, c.amount * bps // 10_000)
    with engine.connect() as conn:
        for c in checkouts:
            assert tk.get_order(conn, c.order_id).status == "paid"
            assert set(statuses(conn, c.order_id)) == {"issued"}
            assert len(messages(conn, "order.paid", str(c.order_id))) == 1
            booked = (
                conn.execute(
                    sa.text("SELECT platform_fee FROM payments.card_payments WHERE id = :id"),
                    {"id": c.payment_intent_id},
                )
                .scalars()
                .all()
            )
            assert booked == [fees[c.payment_intent_id]]
        e = _escrow(conn, world)
        assert e.captured == sum(c.amount for c in checkouts)
        assert e.held == escrow.ledger_escrow_balance(conn, e)
        check_capacity(conn)
        check_audit_trail(conn)
        check_paid_in_ledger(conn)
        check_balanced(conn)


def _published(conn: sa.Connection, order_id: uuid.UUID) -> list[tuple[Any, ...]]:
    """The messages about the order and its tickets, with their deliveries, in the order
    the deliveries were written; every id, code and the event's id as a token numbered in
    order of appearance (so two orders' messages compare)."""
    rows = conn.execute(
        sa.text("""SELECT m.type, m.aggregate_type, m.aggregate_id, m.payload::text,
                          d.channel, d.recipient, d.subject, d.body, d.target, d.aggregate_key
                     FROM messaging.messages m
                     JOIN messaging.deliveries d ON d.message_id = m.id AND d.org_id = m.org_id
                    WHERE m.payload->>'order_id' = :order
                    ORDER BY d.id"""),
        {"order": str(order_id)},
    ).all()
    codes = conn.execute(
        sa.text("SELECT code FROM ticketing.tickets WHERE order_id = :order"),
        {"order": order_id},
    ).scalars()
    pattern = "|".join([r"[0-9a-f]{8}-[0-9a-f-]{27}", *(re.escape(c) for c in codes)])
    tokens: dict[str, str] = {}

    def token(text: Any) -> Any:
        if not isinstance(text, str):
            return text
        for found in re.findall(pattern, text):
            tokens.setdefault(found, f"<{len(tokens)}>")
            text = text.replace(found, tokens[found])
        return text

    return [tuple(token(v) for v in row) for row in rows]


def test_the_one_statement_publishes_what_the_long_way_publishes(
    engine: sa.Engine, world: World
) -> None:
    with engine.begin() as conn:
        outbox.register_endpoint(
            conn, world.org, "http://127.0.0.1:9/hooks", allow=outbox.parse_allow("127.0.0.1/32")
        )
    first, second, third = (_checkout(engine, world) for _ in range(3))
    with engine.begin() as conn:
        assert _pay(conn, world, first) == "issued"
        with driver_statements() as long_way:
            assert _pay(conn, world, second) == "issued"  # the long way: Python publishes
        with driver_statements() as one:
            assert _pay(conn, world, third) == "issued"
    assert len(long_way) > 1 and len(one) == 1
    with engine.connect() as conn:
        published = _published(conn, second.order_id)
        assert published == _published(conn, third.order_id)
        # Per ticket: its webhook, its e-mail; then the order's webhook.
        assert [(r[0], r[4]) for r in published] == [
            ("ticket.issued", "webhook"),
            ("ticket.issued", "email"),
            ("ticket.issued", "webhook"),
            ("ticket.issued", "email"),
            ("order.paid", "webhook"),
        ]


def test_a_holder_address_outbox_refuses_is_refused_on_the_one_statement_too(
    engine: sa.Engine, world: World
) -> None:
    first, second = (_checkout(engine, world) for _ in range(2))
    odd = _checkout(engine, world, 1)
    with engine.begin() as conn:
        # The checkout refuses such a buyer (`validate_checkout`); a holder's address comes
        # from elsewhere too, so the statement keeps its own guard.
        conn.execute(
            sa.text("UPDATE ticketing.tickets SET holder_email = :to WHERE order_id = :order"),
            {"to": "ann@example.com\nBcc: x", "order": odd.order_id},
        )
        for c in (first, second):
            assert _pay(conn, world, c) == "issued"
    with (
        pytest.raises(outbox.InvalidPayload),
        engine.begin() as conn,
        driver_statements() as seen,
    ):
        _pay(conn, world, odd)
    # The one statement ran and wrote no message; the order and its tickets were read again
    # (the statement answers their ids only: `store.paying.pay_after_capture`); Python refused.
    assert len(seen) == 2
    with engine.connect() as conn:
        assert statuses(conn, odd.order_id) == ["held"]  # rolled back
        assert messages(conn, "order.paid", str(odd.order_id)) == []


def test_each_payload_the_one_statement_writes_is_its_registered_models(
    engine: sa.Engine, world: World
) -> None:
    # The statement builds its payloads in SQL, and `outbox.publish_sql` checks none (only
    # Python's `outbox.publish_many` validates): each one it wrote must be what the type's
    # registered model makes of it (a field renamed, dropped, added or of another JSON type
    # fails), and each e-mail the text Python's publishing writes (`messages.ticket_mail`).
    first, second, third = (_checkout(engine, world, 3) for _ in range(3))
    with engine.begin() as conn:
        # The long way: the escrow opened, then its terms and accounts read.
        assert _pay(conn, world, first) == "issued"
        assert _pay(conn, world, second) == "issued"
        with driver_statements() as one:
            assert _pay(conn, world, third) == "issued"
    assert len(one) == 1  # the statement wrote them; Python published nothing
    with engine.connect() as conn:
        written = conn.execute(
            sa.text("""SELECT m.id, m.type, m.payload FROM messaging.messages m
                        WHERE m.payload->>'order_id' = :order ORDER BY m.created_at, m.id"""),
            {"order": str(third.order_id)},
        ).all()
        mails = conn.execute(
            sa.text("""SELECT m.payload->>'holder_email', m.payload->>'code', d.recipient,
                              d.subject, d.body
                         FROM messaging.deliveries d
                         JOIN messaging.messages m ON m.id = d.message_id AND m.org_id = d.org_id
                        WHERE d.channel = 'email' AND m.payload->>'order_id' = :order"""),
            {"order": str(third.order_id)},
        ).all()
    assert sorted(r.type for r in written) == ["order.paid", *["ticket.issued"] * 3]
    for row in written:
        model = outbox.message_type(row.type)
        assert model is not None, row.type
        as_model = model.model_validate(row.payload)  # raises on a missing or renamed field
        # As `outbox.validated_payload` dumps it (an extra key, a number as text: not equal).
        assert as_model.model_dump(mode="json") == row.payload, row.type
    assert len(mails) == 3
    for holder, code, recipient, subject, body in mails:
        mail = ticket_mail(holder, code)
        assert (recipient, subject, body) == (mail.to, mail.subject, mail.body)
