"""Settlements on the wired application against the Stripe stand-in: the transfer task names
the request it answers (its message id, the idempotency key Stripe got), so the release's
transfer and a late payment's transfer (funded by its charge) each settle what their request
pays; Stripe's `transfer.created` afterwards finds them settled."""

from __future__ import annotations

import sqlalchemy as sa

import escrow
from liventix.reports import organizer
from tests.escrow_core.test_connect_reconciliation import Season, season
from tests.ticketing_core.support import charge_of

__all__ = ["season"]  # the stand-in season, as test_connect_reconciliation sets it up


def test_the_task_settles_what_each_transfer_request_pays(season: Season) -> None:
    event = season.open_event()
    sold = season.buy(event, 2)
    with season.engine.begin() as conn:
        assert escrow.release_due(conn)
    season.settle()  # the task makes the transfer and books it, naming its request
    (release,) = season.stripe.transfers.values()
    late = season.checkout(event)  # sales still open: a payment after the release
    season.send(season.stripe.succeed(late.payment_intent_id))
    season.settle()
    (funded,) = [t for t in season.stripe.transfers.values() if t.source_transaction]
    assert funded.source_transaction == charge_of(late.payment_intent_id)
    # Settled by the tasks, before any of Stripe's transfer events.
    assert _linked(season) == {release.id: "release", funded.id: "capture"}
    season.send(*season.stripe.transfer_events())  # found booked and settled
    assert _linked(season) == {release.id: "release", funded.id: "capture"}

    with season.engine.connect() as conn:
        first = organizer.transfer_coverage(conn, release.id)
        second = organizer.transfer_coverage(conn, funded.id)
        assert (first.order_ids, len(first.ticket_ids)) == ([sold.order_id], 2)
        assert second.order_ids == [late.order_id]
        assert second.settled == funded.amount
        count = conn.execute(
            sa.text("SELECT count(*) FROM payments.settlements WHERE org_id = :o"),
            {"o": season.org},
        ).scalar_one()
        assert count == 2
    season.assert_no_differences()


def _linked(season: Season) -> dict[str, str]:
    """{transfer: what its request pays} of the requests settled by a transfer."""
    with season.engine.connect() as conn:
        rows = conn.execute(
            sa.text("""SELECT r.transfer_id, r.kind FROM payments.transfer_requests r
                         JOIN payments.organizer_transfers t ON t.id = r.transfer_id
                        WHERE r.org_id = :o AND t.settlement_id IS NOT NULL"""),
            {"o": season.org},
        ).all()
    return {r.transfer_id: r.kind for r in rows}
