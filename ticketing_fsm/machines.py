"""The ticket and order lifecycles as state machines (pure: no I/O).

A ticket is held while its buyer pays, issued when the payment succeeds, may be transferred
to a new holder (the old ticket becomes void and a new one is issued), is checked in once,
and ends cancelled, refunded or invalidated (a chargeback lost). An order awaits payment, is
paid, partially refunded or refunded, cancelled (hold released: expired, or its
PaymentIntent cancelled), or disputed. States carry explicit stored values; the order's
amounts come from the ledger.
"""

from __future__ import annotations

from statemachine import State, StateMachine


class TicketMachine(StateMachine):
    """Held, issued, checked in; void after a transfer; cancelled, refunded, invalidated."""

    held = State("Held for checkout", initial=True, value="held")
    issued = State("Issued", value="issued")
    checked_in = State("Checked in", value="checked_in")
    void = State("Void (transferred away)", final=True, value="void")
    released = State("Hold released", final=True, value="released")
    cancelled = State("Cancelled", final=True, value="cancelled")
    refunded = State("Refunded", final=True, value="refunded")
    invalidated = State("Invalidated (chargeback lost)", final=True, value="invalidated")

    issue = held.to(issued)
    release = held.to(released)
    transfer_away = issued.to(void)
    check_in = issued.to(checked_in)
    cancel = issued.to(cancelled)
    refund = issued.to(refunded) | checked_in.to(refunded)
    invalidate = issued.to(invalidated) | checked_in.to(invalidated)


class OrderMachine(StateMachine):
    """Awaiting payment, paid, partially refunded, refunded, cancelled, disputed."""

    awaiting_payment = State("Awaiting payment", initial=True, value="awaiting_payment")
    paid = State("Paid", value="paid")
    partially_refunded = State("Partially refunded", value="partially_refunded")
    refunded = State("Refunded", final=True, value="refunded")
    cancelled = State("Cancelled", final=True, value="cancelled")
    disputed = State("Disputed", value="disputed")

    pay = awaiting_payment.to(paid)
    cancel = awaiting_payment.to(cancelled)
    refund_part = (
        paid.to(partially_refunded) | partially_refunded.to.itself() | disputed.to.itself()
    )
    refund_all = paid.to(refunded) | partially_refunded.to(refunded) | disputed.to(refunded)
    dispute = paid.to(disputed) | partially_refunded.to(disputed)
    dispute_won = disputed.to(paid, cond="nothing_refunded") | disputed.to(
        partially_refunded, cond="something_refunded"
    )
    dispute_lost = disputed.to(refunded)


TICKET_STATES = tuple(str(s.value) for s in TicketMachine.states)
ORDER_STATES = tuple(str(s.value) for s in OrderMachine.states)
TICKET_FINAL = frozenset(str(s.value) for s in TicketMachine.final_states)
ORDER_FINAL = frozenset(str(s.value) for s in OrderMachine.final_states)


def diagrams() -> dict[str, str]:
    """Both machines as Mermaid state diagrams, generated from the code."""
    return {"ticket": format(TicketMachine, "mermaid"), "order": format(OrderMachine, "mermaid")}
