"""A debt settled while escrow's transfer reversal task waits is not asked back twice.

After release, a refund charged to the organizer's receivable asks Stripe to reverse part of
its transfer: a request row and an outbox task. If the debt is settled before the task runs
(a reversal made in Stripe's Dashboard, booked from its `transfer.reversed` event), the task
confirms what is still owed first and asks only that: nothing when all of it is settled, the
rest when part of it is. Once a request is sent, its amount never changes (a retry meets
Stripe's idempotency key with the same parameters). Against the Stripe stand-in, as the demo
plays a season (`tests/escrow_core/test_connect_reconciliation.py`'s `Season`).
"""

# ruff: noqa: F811 (`season` is the imported fixture, named as a parameter)
from __future__ import annotations

import json

import sqlalchemy as sa

import escrow
import ticketing_fsm as tk
from liventix.stripe_events import receive_stripe_webhook
from liventix.testing.stripe import StripeObject, signature_header
from tests.escrow_core.test_connect_reconciliation import (  # noqa: F401 (the fixture)
    PRICE,
    SECRET,
    Season,
    season,
)

OWED = PRICE - PRICE * 5 // 100  # a refunded ticket's organizer share: the fee stays


def _receive_only(season: Season, *events: StripeObject) -> None:
    """Receive signed events and handle the inbox, but deliver no task (the reversal task
    stays queued)."""
    for evt in events:
        body = json.dumps(evt).encode()
        with season.engine.begin() as conn:
            receive_stripe_webhook(conn, body, signature_header(body, SECRET), SECRET)
    while season.worker.handle_inbox_once():
        pass


def _refund_after_release(season: Season) -> str:
    """One of two orders refunded after the release, Stripe's refund events handled: the
    reversal is asked (a request and a queued task) but not sent. Returns the transfer."""
    event = season.open_event()
    first = season.buy(event)
    season.buy(event, 2)
    season.release()
    (transfer,) = season.stripe.transfers.values()
    with season.engine.begin() as conn:
        tk.refund_tickets(conn, season.org, first.order_id, None, idempotency_key="r-1")
    season.settle()  # the refund task asks Stripe for the refund
    for refund in season.stripe.refunds_since(season.refunds_sent):
        season.refunds_sent.add(refund.id)
        _receive_only(
            season, *season.stripe.refund_events(refund, stale_first=False, with_charge=True)
        )
    assert season.balance("receivable:usd") == OWED
    assert _requests(season) == [(OWED, False, False, False)]
    assert transfer.reversals == []
    return transfer.id


def _requests(season: Season) -> list[tuple[int, bool, bool, bool]]:
    """(amount, sent, booked, canceled) of every reversal request."""
    with season.engine.connect() as conn:
        rows = conn.execute(
            sa.text("""SELECT amount, sent_at IS NOT NULL, reversal_id IS NOT NULL,
                              canceled_at IS NOT NULL
                         FROM payments.transfer_reversal_requests ORDER BY created_at""")
        ).all()
    return [(int(r[0]), bool(r[1]), bool(r[2]), bool(r[3])) for r in rows]


def _reverse_outside(season: Season, transfer_id: str, amount: int) -> None:
    """A reversal made in Stripe's Dashboard (no request of escrow's), its event handled."""
    season.gateway.client.v1.transfers.reversals.create(transfer_id, params={"amount": amount})
    _receive_only(season, *season.stripe.reversal_events(set()))


def test_a_debt_settled_outside_before_the_task_runs_is_not_asked_again(season: Season) -> None:
    transfer_id = _refund_after_release(season)
    _reverse_outside(season, transfer_id, OWED)
    assert season.balance("receivable:usd") == 0

    season.settle()  # the reversal task: nothing is owed any more, the request is dropped

    transfer = season.stripe.transfers[transfer_id]
    assert [r.amount for r in transfer.reversals] == [OWED]  # the Dashboard's only
    assert _requests(season) == [(OWED, False, False, True)]
    assert season.balance("receivable:usd") == 0
    with season.engine.connect() as conn:
        assert escrow.owed_after_reversals(conn, season.org, "USD") == 0
    season.assert_no_differences()


def test_a_debt_settled_in_part_outside_asks_only_the_rest(season: Season) -> None:
    transfer_id = _refund_after_release(season)
    part = OWED // 3
    _reverse_outside(season, transfer_id, part)

    season.settle()
    season.send(*season.stripe.reversal_events(set()))  # Stripe's event finds it booked

    transfer = season.stripe.transfers[transfer_id]
    assert sorted(r.amount for r in transfer.reversals) == sorted([part, OWED - part])
    assert _requests(season) == [(OWED - part, True, True, False)]
    assert season.balance("receivable:usd") == 0
    season.assert_no_differences()


def test_a_sent_request_keeps_its_amount(season: Season) -> None:
    """Confirmed once (the task then died before Stripe answered, say), the request asks
    the same amount on every retry, even if part of the debt was settled in between: a
    different amount under the same idempotency key would be refused by Stripe."""
    transfer_id = _refund_after_release(season)
    with season.engine.connect() as conn:
        (payload,) = conn.execute(
            sa.text("""SELECT payload FROM messaging.messages
                        WHERE type = 'stripe.transfer_reversal.requested'""")
        ).scalars()
    request = escrow.TransferReversalRequested.model_validate(payload)
    with season.engine.begin() as conn:
        assert escrow.confirm_reversal(conn, request) == OWED
    _reverse_outside(season, transfer_id, OWED // 2)
    with season.engine.begin() as conn:
        assert escrow.confirm_reversal(conn, request) == OWED
    assert _requests(season) == [(OWED, True, False, False)]


def test_what_a_reversal_asks_when_sent() -> None:
    """The pure decision: at most what was asked, no more than what is still owed beyond
    the other requests, nothing when that is not positive."""
    from escrow.decisions import reversal_to_send  # noqa: PLC0415

    assert reversal_to_send(3_800, 3_800, 0) == 3_800
    assert reversal_to_send(3_800, 5_000, 0) == 3_800
    assert reversal_to_send(3_800, 2_534, 0) == 2_534
    assert reversal_to_send(3_800, 3_800, 1_000) == 2_800
    assert reversal_to_send(3_800, 0, 0) == 0
    assert reversal_to_send(3_800, -500, 0) == 0
    assert reversal_to_send(3_800, 1_000, 1_000) == 0
