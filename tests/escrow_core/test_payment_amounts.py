"""What other packages read of escrow's tables through its public face: the amounts paid and
refunded of a payment (`escrow.payment_amounts`), and the same as SQL expressions for a
statement of their own (`escrow.paid_sql`, `escrow.refunded_sql`)."""

from __future__ import annotations

import sqlalchemy as sa

import escrow
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
