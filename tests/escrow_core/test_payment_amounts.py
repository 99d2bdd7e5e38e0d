"""What other packages read of escrow's tables through its public face: the amounts paid and
refunded of a payment (`escrow.payment_amounts`), and the same as SQL expressions for a
statement of their own (`escrow.paid_sql`, `escrow.refunded_sql`). And a refund made anywhere
reaches escrow by Stripe's `refund.created` as well as `refund.updated`."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

import sqlalchemy as sa

import escrow
import outbox
from tests.escrow_core.support import captured, new_organizer


def test_the_amounts_paid_and_refunded_count_only_refunds_that_did_not_fail(
    engine: sa.Engine,
) -> None:
    with engine.begin() as conn:
        org = new_organizer(conn)
        payment = captured(org, gross=10_000, stripe_fee=320)
        assert escrow.payment_amounts(conn, payment.payment_id) == escrow.PaymentAmounts(0, 0)
        assert escrow.capture_payment(conn, payment, cause="evt_1")
        assert escrow.payment_amounts(conn, payment.payment_id) == escrow.PaymentAmounts(10_000, 0)
        pid = payment.payment_id
        assert escrow.refund_payment(conn, "re_a", pid, 3_000, failed=False, cause="evt_2")
        assert escrow.refund_payment(conn, "re_b", pid, 2_000, failed=False, cause="evt_3")
        assert escrow.refund_payment(conn, "re_c", pid, 1_000, failed=True, cause="evt_4")
        assert escrow.payment_amounts(conn, pid) == escrow.PaymentAmounts(10_000, 5_000)
        assert escrow.refund_payment(conn, "re_b", pid, 2_000, failed=True, cause="evt_5")
        assert escrow.payment_amounts(conn, pid) == escrow.PaymentAmounts(10_000, 3_000)
        assert escrow.payment_amounts(conn, None) == escrow.PaymentAmounts(0, 0)
        assert escrow.payment_amounts(conn, "pi_unknown") == escrow.PaymentAmounts(0, 0)

        # The expressions, on a column of another statement, agree with the function.
        found = conn.execute(
            sa.text(f"""SELECT v.pid, {escrow.paid_sql("v.pid")} AS paid,
                               {escrow.refunded_sql("v.pid")} AS refunded
                          FROM (VALUES (:known), ('pi_unknown')) AS v(pid) ORDER BY v.pid"""),
            {"known": pid},
        ).all()
        assert sorted((r.pid, int(r.paid), int(r.refunded)) for r in found) == sorted(
            [(pid, 10_000, 3_000), ("pi_unknown", 0, 0)]
        )


class _NoReader:
    """A StripeReader the refund's handler never asks (the refund object carries its facts)."""

    def charge_facts(self, payment_intent_id: str) -> escrow.ChargeFacts:
        raise AssertionError("not asked")

    def refunds_of_charge(self, charge_id: str) -> list[escrow.RefundFacts]:
        raise AssertionError("not asked")


def _refund_event(event_type: str, refund: dict[str, object]) -> outbox.InboxEvent:
    return outbox.InboxEvent(
        source="stripe",
        event_id=f"evt_{uuid.uuid4().hex[:24]}",
        type=event_type,
        payload={"type": event_type, "data": {"object": refund}},
        received_at=datetime.now(UTC),
        attempts=0,
    )


def test_a_refund_created_elsewhere_is_booked_by_escrows_own_handler(engine: sa.Engine) -> None:
    handlers = escrow.stripe_handlers(_NoReader())
    with engine.begin() as conn:
        org = new_organizer(conn)
        payment = captured(org, gross=10_000, stripe_fee=320)
        assert escrow.capture_payment(conn, payment, cause="evt_1")
        pid = payment.payment_id
        pending = {"id": "re_p", "payment_intent": pid, "amount": 1_000, "status": "pending"}
        handler = handlers["refund.created"]
        assert callable(handler)
        handler(conn, _refund_event("refund.created", pending))
        assert escrow.payment_amounts(conn, pid) == escrow.PaymentAmounts(10_000, 0)
        done = {"id": "re_d", "payment_intent": pid, "amount": 2_500, "status": "succeeded"}
        handler(conn, _refund_event("refund.created", done))
        handler(conn, _refund_event("refund.created", done))  # a duplicate changes nothing
        assert escrow.payment_amounts(conn, pid) == escrow.PaymentAmounts(10_000, 2_500)
