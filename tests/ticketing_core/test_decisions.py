"""Ticketing's decisions, pure: asked without a database (no fixture here opens one)."""

from __future__ import annotations

import dataclasses
import uuid
from datetime import UTC, datetime

import pytest

from ticketing_fsm import decisions
from ticketing_fsm.decisions import CheckoutItem, CheckoutRequest
from ticketing_fsm.errors import (
    InvalidRequest,
    InvalidTransition,
    NotOnSale,
    SoldOut,
    TicketNotFound,
    TicketTypeNotFound,
)
from ticketing_fsm.machines import OrderMachine, TicketMachine
from ticketing_fsm.models import Order, Ticket

ORG = uuid.UUID("00000000-0000-4000-8000-000000000001")
EVENT = uuid.UUID("00000000-0000-4000-8000-000000000002")
GA = uuid.UUID("00000000-0000-4000-8000-0000000000a1")
VIP = uuid.UUID("00000000-0000-4000-8000-0000000000b2")
WHEN = datetime(2026, 12, 3, 20, 0, tzinfo=UTC)


def _order(status: str = "paid", *, paid: int = 10_000, refunded: int = 0) -> Order:
    return Order(
        id=uuid.UUID("00000000-0000-4000-8000-0000000000c3"),
        org_id=ORG,
        event_id=EVENT,
        buyer_email="ann@example.com",
        status=status,
        currency="EUR",
        amount=10_000,
        payment_intent_id="pi_1",
        hold_expires_at=WHEN,
        cancel_reason=None,
        version=1,
        paid=paid,
        refunded=refunded,
    )


def _ticket(n: int, status: str = "issued", type_id: uuid.UUID = GA) -> Ticket:
    return Ticket(
        id=uuid.UUID(int=n),
        order_id=_order().id,
        org_id=ORG,
        event_id=EVENT,
        ticket_type_id=type_id,
        status=status,
        code=f"code-{n}",
        holder_email="ann@example.com",
        price=2_500,
        replaces=None,
        checked_in_at=None,
        checked_in_by=None,
        version=1,
    )


def _request(
    *items: tuple[uuid.UUID, int], key: str = "k1", buyer: str = "a@b.c"
) -> CheckoutRequest:
    return CheckoutRequest(
        idempotency_key=key,
        org_id=ORG,
        event_id=EVENT,
        buyer_email=buyer,
        items=[CheckoutItem(t, q) for t, q in items],
    )


# -- the machines ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("machine", "state", "event", "facts", "expected"),
    [
        (OrderMachine, "awaiting_payment", "pay", (), "paid"),
        (OrderMachine, "paid", "pay", (), None),
        (OrderMachine, "paid", "refund_part", (), "partially_refunded"),
        (OrderMachine, "disputed", "dispute_won", (("nothing_refunded", True),), "paid"),
        (
            OrderMachine,
            "disputed",
            "dispute_won",
            (("nothing_refunded", False), ("something_refunded", True)),
            "partially_refunded",
        ),
        (OrderMachine, "cancelled", "cancel", (), None),
        (TicketMachine, "held", "issue", (), "issued"),
        (TicketMachine, "checked_in", "refund", (), "refunded"),
        (TicketMachine, "void", "check_in", (), None),
    ],
)
def test_the_machines_decide_each_move(
    machine: type[OrderMachine] | type[TicketMachine],
    state: str,
    event: str,
    facts: tuple[tuple[str, bool], ...],
    expected: str | None,
) -> None:
    assert decisions.decide(machine, state, event, facts) == expected


def test_a_move_the_machine_refuses_names_the_row() -> None:
    with pytest.raises(InvalidTransition) as refused:
        decisions.target("order", _order("refunded"), OrderMachine, "pay")
    assert (refused.value.subject, refused.value.state, refused.value.event) == (
        "order",
        "refunded",
        "pay",
    )
    assert decisions.target("ticket", _ticket(1), TicketMachine, "check_in") == "checked_in"


# -- the checkout ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    "request_",
    [
        _request(),
        _request((GA, 0)),
        _request((GA, -1)),
        _request((GA, 1), (GA, 2)),
        _request((GA, 1), key=""),
        _request((GA, 1), buyer="no-address"),
        # Text PostgreSQL cannot hold: a NUL (a literal's escaping would cut the text there,
        # storing buyer 'ann'), an unpaired surrogate (not UTF-8).
        _request((GA, 1), buyer="ann\x00-evil@example.com"),
        _request((GA, 1), buyer="ann\ud800@example.com"),
        _request((GA, 1), key="k\x00-other"),
        _request((GA, 1), key="k\udfff"),
        _request((GA, 1), (VIP, 1), buyer="ann\x00-evil@example.com"),
        # A line break outbox.Email refuses: the paid order's e-mails could never be written,
        # so its payment event would fail on every attempt (a second review's low finding).
        _request((GA, 1), buyer="ann@example.com\rBcc: x@example.com"),
        _request((GA, 1), buyer="ann@example.com\nBcc: x@example.com"),
    ],
)
def test_a_malformed_checkout_is_refused(request_: CheckoutRequest) -> None:
    with pytest.raises(InvalidRequest):
        decisions.validate_checkout(request_)


def test_text_postgresql_can_hold_is_accepted() -> None:
    """Quotes, backslashes, percent signs and non-ASCII letters are stored as given."""
    for buyer in ("a\\'b);DROP@x.y", "a%s%(x)s@x.y", "ädà@exämple.com"):
        decisions.validate_checkout(_request((GA, 1), buyer=buyer, key=f"k-{buyer}"))
    assert decisions.storable("ok") and not decisions.storable("\x00")


def test_a_checkout_key_postgresql_cannot_hold_is_refused() -> None:
    decisions.validate_key("k-1")
    for key in ("k\x00", "\ud83d"):
        with pytest.raises(InvalidRequest):
            decisions.validate_key(key)


def test_a_fractional_quantity_is_refused() -> None:
    bad = dataclasses.replace(_request((GA, 1)), items=[CheckoutItem(GA, 1.5)])  # type: ignore[arg-type]
    with pytest.raises(InvalidRequest):
        decisions.validate_checkout(bad)


def test_the_fingerprint_ignores_the_key_and_the_items_order() -> None:
    one = _request((GA, 1), (VIP, 2), key="k1")
    other = dataclasses.replace(_request((VIP, 2), (GA, 1), key="k2"))
    assert one.fingerprint() == other.fingerprint()
    assert one.fingerprint() != _request((GA, 2), (VIP, 2)).fingerprint()


def test_pricing_sums_and_refuses_unknown_types_and_cancelled_events() -> None:
    items = [CheckoutItem(GA, 2), CheckoutItem(VIP, 1)]
    assert decisions.priced(items, {GA: 2_500, VIP: 8_000}, cancelled=False) == 13_000
    with pytest.raises(TicketTypeNotFound):
        decisions.priced(items, {GA: 2_500}, cancelled=False)
    with pytest.raises(NotOnSale):
        decisions.priced(items, {GA: 2_500, VIP: 8_000}, cancelled=True)


def test_a_refused_hold_says_why() -> None:
    item = CheckoutItem(GA, 3)
    assert isinstance(decisions.refusal(item, None, False), TicketTypeNotFound)
    assert isinstance(decisions.refusal(item, 10, False), NotOnSale)
    assert isinstance(decisions.refusal(item, 3, True), InvalidRequest)  # the price changed
    sold_out = decisions.refusal(item, 2, True)
    assert isinstance(sold_out, SoldOut)
    assert (sold_out.requested, sold_out.available) == (3, 2)


def test_the_intent_request_is_the_same_for_the_same_order() -> None:
    order_id = decisions.order_id_for(ORG, "k1")
    assert order_id == decisions.order_id_for(ORG, "k1") != decisions.order_id_for(ORG, "k2")
    asked = decisions.intent_request(
        org_id=ORG,
        event_id=EVENT,
        event_ends_at=WHEN,
        order_id=order_id,
        idempotency_key="k1",
        amount=5_000,
        currency="EUR",
    )
    assert asked.idempotency_key == f"checkout:{ORG}:k1"
    assert decisions.claimed_order(asked.metadata) == (order_id, ORG)
    assert decisions.claimed_order({decisions.META_ORDER: "not-a-uuid"}) is None
    assert decisions.claimed_order({}) is None


# -- the payment's outcome ------------------------------------------------------------------


def test_a_late_payment_names_its_reason() -> None:
    assert decisions.late_payment(expired=False, cancelled=False) is None
    assert decisions.late_payment(expired=True, cancelled=False) == (
        "hold expired before the payment"
    )
    assert decisions.late_payment(expired=True, cancelled=True) == "event cancelled"


def test_seats_are_counted_per_type_in_type_order() -> None:
    tickets = [_ticket(1, type_id=VIP), _ticket(2), _ticket(3, type_id=VIP)]
    assert decisions.seats_by_type(tickets) == [(GA, 1), (VIP, 2)]
    assert decisions.seats_by_type([]) == []


# -- refunds and disputes -------------------------------------------------------------------


def test_a_refund_takes_the_valid_tickets_asked_for() -> None:
    order = _order()
    tickets = [_ticket(1), _ticket(2, "checked_in"), _ticket(3, "void"), _ticket(4, "refunded")]
    chosen, event = decisions.refund_choice(order, tickets, None)
    assert ([t.id for t in chosen], event) == ([uuid.UUID(int=1), uuid.UUID(int=2)], "refund_all")
    chosen, event = decisions.refund_choice(order, tickets, [uuid.UUID(int=2)])
    assert ([t.id for t in chosen], event) == ([uuid.UUID(int=2)], "refund_part")
    with pytest.raises(TicketNotFound) as missing:
        decisions.refund_choice(order, tickets, [uuid.UUID(int=2), uuid.UUID(int=3)])
    assert missing.value.ticket == str(uuid.UUID(int=3))
    with pytest.raises(InvalidTransition):
        decisions.refund_choice(order, [_ticket(3, "void")], None)


def test_the_refund_hash_ignores_the_tickets_order() -> None:
    a, b = uuid.UUID(int=1), uuid.UUID(int=2)
    order_id = _order().id
    assert decisions.refund_hash(order_id, [a, b], "r") == decisions.refund_hash(
        order_id, [b, a], "r"
    )
    assert decisions.refund_hash(order_id, None, "r") != decisions.refund_hash(order_id, [a], "r")


@pytest.mark.parametrize(
    ("outcome", "status", "expected"),
    [
        ("open", "paid", True),
        ("lost", "partially_refunded", True),
        ("won", "paid", False),
        (None, "paid", False),
        ("open", "disputed", False),
        ("open", "refunded", False),
    ],
)
def test_which_dispute_moves_the_order(outcome: str | None, status: str, expected: bool) -> None:
    assert decisions.disputes(outcome, status) is expected


def test_a_won_dispute_looks_at_what_was_refunded() -> None:
    assert decisions.dispute_won_facts(_order("disputed"), [_ticket(1)]) == {
        "nothing_refunded": True,
        "something_refunded": False,
    }
    assert decisions.dispute_won_facts(_order("disputed", refunded=1), [])["something_refunded"]
    assert decisions.dispute_won_facts(_order("disputed"), [_ticket(1, "refunded")])[
        "something_refunded"
    ]


@pytest.mark.parametrize(
    ("status", "paid", "refunded", "asked", "expected"),
    [
        ("paid", 10_000, 0, 0, None),  # nothing refunded
        ("paid", 10_000, 2_500, 2_500, None),  # only what the platform asked
        ("paid", 0, 2_500, 0, None),  # nothing was paid
        ("paid", 10_000, 2_500, 0, decisions.ElsewhereRefund("refund_part", full=False)),
        ("paid", 10_000, 10_000, 0, decisions.ElsewhereRefund("refund_all", full=True)),
        (
            "partially_refunded",
            10_000,
            5_000,
            2_500,
            decisions.ElsewhereRefund(None, full=False),
        ),
        (
            "partially_refunded",
            10_000,
            10_000,
            2_500,
            decisions.ElsewhereRefund("refund_all", full=True),
        ),
    ],
)
def test_a_refund_made_elsewhere(
    status: str,
    paid: int,
    refunded: int,
    asked: int,
    expected: decisions.ElsewhereRefund | None,
) -> None:
    order = _order(status, paid=paid, refunded=refunded)
    assert decisions.refunded_elsewhere(order, asked) == expected


def test_the_organizer_is_told_whether_the_tickets_stay_valid() -> None:
    order = _order(refunded=2_500)
    assert decisions.elsewhere_notice(order, False).endswith("its tickets stay valid.")
    assert "refunded 2500 of 10000 (minor units of EUR)" in decisions.elsewhere_notice(order, True)
    assert decisions.elsewhere_notice(order, True).endswith("its tickets are void.")
