"""A first pass through an escrow's life: capture, refund, dispute, release, transfer."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import sqlalchemy as sa

import escrow
import ledger

PLATFORM = uuid.UUID("00000000-0000-0000-0000-000000000001")
ORG = uuid.UUID("00000000-0000-0000-0000-0000000000e1")


def test_escrow_life(engine: sa.Engine) -> None:
    with engine.begin() as conn:
        ledger.open_organization(conn, PLATFORM, "Liventix", is_platform=True)
        ledger.open_organization(conn, ORG, "Jazz Club")
        escrow.set_policy(
            conn, ORG, escrow.Policy(hold_period=timedelta(0), connected_account="acct_1")
        )
        past = datetime.now(UTC) - timedelta(minutes=1)
        assert escrow.capture_payment(
            conn,
            escrow.CapturedPayment(
                payment_id="pi_1",
                org_id=ORG,
                event_id="ev1",
                currency="USD",
                gross=10_000,
                stripe_fee=320,
                event_ends_at=past,
                charge_id="ch_1",
                balance_transaction_id="txn_1",
            ),
            cause="evt_1",
        )
        escrow_id = escrow.open_escrow(conn, ORG, "ev1", "USD", past)
        e = escrow.get_escrow(conn, escrow_id)
        assert (e.state, e.captured, e.held) == ("collecting", 10_000, 9_500)
        assert escrow.ledger_escrow_balance(conn, e) == 9_500
        assert escrow.refund_payment(conn, "re_1", "pi_1", 2_000, failed=False, cause="evt_2")
        e = escrow.get_escrow(conn, escrow_id)
        assert (e.refunded, e.held) == (2_000, 7_600)
        assert escrow.ledger_escrow_balance(conn, e) == 7_600
        escrow.open_dispute(conn, "dp_1", "pi_1", 1_000, cause="evt_3")
        assert escrow.get_escrow(conn, escrow_id).state == "frozen"
        escrow.dispute_funds_withdrawn(conn, "dp_1", "pi_1", 1_000, 1_500, cause="evt_4")
        escrow.close_dispute(conn, "dp_1", "pi_1", 1_000, won=False, cause="evt_5")
        e = escrow.get_escrow(conn, escrow_id)
        assert (e.state, e.held, e.charged_back) == ("collecting", 6_600, 1_000)
        steps = escrow.release_due(conn)
        assert [s for _, s in steps] == ["holding", "releasable", "release_requested"]
        e = escrow.get_escrow(conn, escrow_id)
        assert (e.held, e.released) == (0, 6_600)
        assert escrow.transfer_created(conn, "tr_1", escrow_id, 6_600, cause="evt_6")
        assert escrow.get_escrow(conn, escrow_id).state == "released"
        assert ledger.trial_balance(conn, ORG).balanced
        tasks = conn.execute(
            sa.text("SELECT count(*) FROM messaging.deliveries WHERE channel = 'task'")
        ).scalar_one()
        assert tasks == 1
