"""Issue 12, items 2, 3 and 5, against the Stripe stand-in (`liventix.testing.stripe`) as the
demo plays a season: checkouts through ticketing with the stripe library over HTTP, Stripe's
events signed and received into the inbox, an `outbox.Worker` running the handlers and the
tasks `liventix.wiring.wire` registers (refunds, transfers, transfer reversals). After each
story every one of finance's reports (`liventix.reports.every_report`, the Stripe
reconciliation matched against the stand-in's own balance transactions) finds no
difference, and the story's movements are checked by their external references.

- a refund that fails while the escrow still holds the money, one first seen already
  failed, and one that fails after the release: `re_...:failed` matches `refund_failure`;
- a dispute won (withdrawal and reinstatement) and one lost after the release;
- a late payment (its order cancelled before it was paid) refunded in full;
- a refund after release recovered by a transfer reversal (asked by the outbox task, booked
  once, `transfer.reversed` finding it booked), a debt beyond what was transferred left on
  the receivable and netted against the next release, a late capture's transfer naming its
  charge as `source_transaction`, and a payout.
"""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import pytest
import sqlalchemy as sa

import escrow
import ledger
import outbox
import ticketing_fsm as tk
from liventix import reports
from liventix.stripe_events import receive_stripe_webhook
from liventix.stripe_gateway import StripeGateway, StripeSettings
from liventix.testing.stripe import (
    StandInServer,
    StripeObject,
    StripeStandIn,
    charge_of,
    signature_header,
)
from liventix.wiring import wire
from outbox.message_types import task_for
from tests.escrow_core.conftest import Smtp
from tests.escrow_core.support import new_organizer

SECRET = "whsec_connect_reconciliation_0123456789abcdef"
TASKS = (
    "stripe.transfer.requested",
    "stripe.transfer_reversal.requested",
    "stripe.refund.requested",
    "stripe.payment_intent.cancel.requested",
)
RETRY = outbox.RetryPolicy(schedule=(0.1, 0.2, 0.3, 0.5, 1.0, 2.0, 3.0), jitter=0.0)
PRICE = 4_000


@dataclass
class Season:
    """One organizer on the wired application, Stripe stood in for."""

    engine: sa.Engine
    stripe: StripeStandIn
    gateway: StripeGateway
    worker: outbox.Worker
    org: uuid.UUID
    refunds_sent: set[str] = field(default_factory=set)
    events: list[tuple[uuid.UUID, uuid.UUID]] = field(default_factory=list)
    """(event, ticket type) of each event opened."""

    def open_event(self, *, ended: bool = True) -> tuple[uuid.UUID, uuid.UUID]:
        """An event (ended a minute ago, so its escrow is due once settled) with one type."""
        with self.engine.begin() as conn:
            now: datetime = conn.execute(sa.text("SELECT now()")).scalar_one()
            ends = now + (timedelta(minutes=-1) if ended else timedelta(days=30))
            event = tk.create_event(
                conn,
                self.org,
                name=f"event {len(self.events) + 1}",
                currency="USD",
                starts_at=ends - timedelta(hours=3),
                ends_at=ends,
            )
            kind = tk.add_ticket_type(
                conn,
                self.org,
                event,
                name="General admission",
                price=PRICE,
                capacity=50,
                sales_start=now - timedelta(days=1),
                sales_end=now + timedelta(days=1),
            )
        self.events.append((event, kind))
        return event, kind

    def checkout(self, event: tuple[uuid.UUID, uuid.UUID], quantity: int = 1) -> tk.Checkout:
        """A checkout: the seats held, the PaymentIntent created at the stand-in."""
        request = tk.CheckoutRequest(
            idempotency_key=f"k-{uuid.uuid4().hex}",
            org_id=self.org,
            event_id=event[0],
            buyer_email="buyer@example.com",
            items=[tk.CheckoutItem(event[1], quantity)],
        )
        return tk.start_checkout(self.engine, self.gateway, request)

    def buy(self, event: tuple[uuid.UUID, uuid.UUID], quantity: int = 1) -> tk.Checkout:
        """A checkout paid: `payment_intent.succeeded` received and handled."""
        checkout = self.checkout(event, quantity)
        self.send(self.stripe.succeed(checkout.payment_intent_id))
        return checkout

    def send(self, *events: StripeObject) -> None:
        """Receive signed events as the webhook endpoint does, then let the worker settle."""
        for evt in events:
            body = _body(evt)
            with self.engine.begin() as conn:
                receive_stripe_webhook(conn, body, signature_header(body, SECRET), SECRET)
        self.settle()

    def settle(self, timeout: float = 30.0) -> None:
        """Run the worker until the inbox and the deliveries are done (bounded)."""
        deadline = time.monotonic() + timeout
        while True:
            with self.engine.connect() as conn:
                waiting, dead = conn.execute(
                    sa.text("""SELECT (SELECT count(*) FROM messaging.inbox
                                        WHERE status = 'pending')
                                    + (SELECT count(*) FROM messaging.deliveries
                                        WHERE status IN ('pending', 'delivering')),
                                      (SELECT count(*) FROM messaging.inbox
                                        WHERE status = 'dead')
                                    + (SELECT count(*) FROM messaging.deliveries
                                        WHERE status = 'dead')""")
                ).one()
            assert dead == 0, self.problems()
            if not waiting:
                return
            if time.monotonic() > deadline:
                raise AssertionError(f"not settled: {self.problems()}")
            if not self.worker.run_once():
                time.sleep(0.02)

    def problems(self) -> list[Any]:
        """Inbox events and deliveries not done, for failure messages."""
        with self.engine.connect() as conn:
            return [
                *conn.execute(
                    sa.text("""SELECT type, status, attempts, last_error FROM messaging.inbox
                                WHERE status <> 'handled'""")
                ).all(),
                *conn.execute(
                    sa.text("""SELECT channel, target, status, attempts, last_error
                                 FROM messaging.deliveries WHERE status <> 'succeeded'""")
                ).all(),
            ]

    def refund(self, checkout: tk.Checkout, key: str) -> None:
        """The whole order refunded: the task asks Stripe, Stripe's events come back."""
        with self.engine.begin() as conn:
            tk.refund_tickets(conn, self.org, checkout.order_id, None, idempotency_key=key)
        self.settle()
        self.send_refunds()

    def send_refunds(self) -> list[str]:
        """Stripe's events for the refunds made since the last call."""
        new = self.stripe.refunds_since(self.refunds_sent)
        for refund in new:
            self.refunds_sent.add(refund.id)
            self.send(*self.stripe.refund_events(refund, stale_first=False, with_charge=True))
        return [r.id for r in new]

    def release(self) -> None:
        """Every due escrow released, its transfer made by the task, then Stripe's
        `transfer.created` and `transfer.reversed` events (found booked)."""
        while True:
            with self.engine.begin() as conn:
                if not escrow.release_due(conn):
                    break
        self.settle()
        self.send(*self.stripe.transfer_events(), *self.stripe.reversal_events(set()))

    def lines(self, external_ref: str) -> list[tuple[str, str, int]]:
        """(account code, side, amount) of the organizer's entry booked under a reference."""
        with self.engine.connect() as conn:
            rows = conn.execute(
                sa.text("""SELECT a.code, l.side, l.amount
                             FROM payments.entries e
                             JOIN payments.lines l ON l.entry_id = e.id
                             JOIN payments.accounts a ON a.id = l.account_id
                            WHERE e.org_id = :org AND e.external_ref = :ref
                            ORDER BY a.code, l.side"""),
                {"org": self.org, "ref": external_ref},
            ).all()
        return [(r.code, r.side, int(r.amount)) for r in rows]

    def balance(self, code: str) -> int:
        """The organizer's account's posted balance on its normal side."""
        with self.engine.connect() as conn:
            account = ledger.find_account(conn, self.org, code)
            return 0 if account is None else ledger.balance(conn, account).posted

    def all_reports(self) -> list[reports.Report]:
        """Every report of `liventix report all`, the reconciliation against the stand-in."""
        transactions = reports.parse_json(_json(self.stripe.balance_transactions()))
        with self.engine.begin() as conn:
            conn.execute(sa.text("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY"))
            now: datetime = conn.execute(sa.text("SELECT now()")).scalar_one()
            return reports.every_report(
                conn,
                transactions=transactions,
                as_of=now,
                start=now - timedelta(days=1),
                end=now + timedelta(microseconds=1),
            )

    def assert_no_differences(
        self, *, failed_refunds: int = 0
    ) -> reports.StripeReconciliationReport:
        """Every report finds nothing; returns the Stripe reconciliation. With
        `failed_refunds`, the ticket tie-out shows that much as its one refunds difference:
        tickets refunded whose money Stripe could not give back (ticketing does not react
        to a failed refund yet), the money the platform still owes their buyer."""
        built = self.all_reports()
        if failed_refunds:
            tie_out = next(r for r in built if isinstance(r, reports.TicketTieOutReport))
            assert [(r.sales_difference, r.refunds_difference) for r in tie_out.rows] == [
                (0, failed_refunds)
            ]
            built = [r for r in built if r is not tie_out]
        found = {r.title: r.differences for r in built if r.differences}
        recon = next(r for r in built if isinstance(r, reports.StripeReconciliationReport))
        assert found == {}, (found, [r for r in recon.rows if r.status != "matched"])
        return recon


def _json(obj: object) -> str:
    import json  # noqa: PLC0415

    return json.dumps(obj)


def _body(evt: StripeObject) -> bytes:
    return _json(evt).encode()


@pytest.fixture
def season(engine: sa.Engine, smtp: Smtp) -> Iterator[Season]:
    """The application wired on the test's database against a fresh stand-in; the outbox's
    process-wide tasks are put back as they were afterwards."""
    account = StripeStandIn()
    server = StandInServer(account)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    gateway = StripeGateway(StripeSettings(api_base=server.url, max_network_retries=0))
    kept = {name: task_for(name) for name in TASKS}
    handlers = outbox.InboxHandlers()
    wire(engine, gateway, handlers)
    with engine.begin() as conn:
        org = new_organizer(
            conn,
            escrow.Policy(hold_period=timedelta(0), connected_account="acct_connect_1"),
        )
    worker = outbox.Worker(
        engine,
        outbox.WorkerSettings(
            poll_interval=0.05,
            retry=RETRY,
            request_timeout=5.0,
            prune_every=3600.0,
            smtp=outbox.SmtpSettings(port=smtp.port),
        ),
        name="connect",
        handlers=handlers,
    )
    try:
        yield Season(engine, account, gateway, worker, org)
    finally:
        worker.close()
        for name, task in kept.items():
            if task is not None:
                outbox.register_task(name, task, replace=True)
        server.shutdown()
        server.server_close()


def _matched(recon: reports.StripeReconciliationReport, category: str) -> list[Any]:
    return [r for r in recon.rows if r.category == category and r.status == "matched"]


# -- item 2: failed refunds on every path ---------------------------------------------------


def test_a_refund_failing_while_the_escrow_holds_the_money_reconciles(season: Season) -> None:
    event = season.open_event(ended=False)
    checkout = season.buy(event, 2)
    season.refund(checkout, "r-hold")
    (refund,) = season.refunds_sent
    season.send(*season.stripe.fail_refund(refund))

    escrow_code = f"escrow:{event[0]}:usd"
    assert ("stripe_balance:usd", "debit", 2 * PRICE) in season.lines(f"{refund}:failed")
    assert (escrow_code, "credit", 2 * PRICE - 2 * PRICE * 5 // 100) in season.lines(
        f"{refund}:failed"
    )
    recon = season.assert_no_differences(failed_refunds=2 * PRICE)
    assert [r.ledger_ref for r in _matched(recon, "refund_failure")] == [f"{refund}:failed"]


def test_a_refund_first_seen_already_failed_reconciles(season: Season) -> None:
    event = season.open_event(ended=False)
    checkout = season.buy(event)
    with season.engine.begin() as conn:
        tk.refund_tickets(conn, season.org, checkout.order_id, None, idempotency_key="r-first")
    season.settle()
    (refund,) = season.stripe.refunds_since(set())
    season.refunds_sent.add(refund.id)
    # Stripe's succeeded events are lost: the refund is first seen as failed.
    failed, updated = season.stripe.fail_refund(refund.id)
    season.send(updated, failed)

    assert season.lines(refund.id) and season.lines(f"{refund.id}:failed")
    recon = season.assert_no_differences(failed_refunds=PRICE)
    assert {r.ledger_ref for r in recon.rows if r.source == refund.id} == {
        refund.id,
        f"{refund.id}:failed",
    }


def test_a_refund_failing_after_the_release_reconciles(season: Season) -> None:
    event = season.open_event()
    checkout = season.buy(event)
    with season.engine.begin() as conn:
        tk.refund_tickets(conn, season.org, checkout.order_id, None, idempotency_key="r-late")
    season.settle()
    season.release()  # released while the refund is on its way at Stripe
    (refund,) = season.send_refunds()
    season.send(*season.stripe.fail_refund(refund))
    season.send(*season.stripe.reversal_events(set()))

    assert season.lines(f"{refund}:failed")
    season.assert_no_differences(failed_refunds=PRICE)


# -- item 2: disputes, payouts ---------------------------------------------------------------


def test_disputes_won_and_lost_after_release_and_a_payout_reconcile(season: Season) -> None:
    event = season.open_event()
    won, lost, kept = season.buy(event), season.buy(event), season.buy(event, 3)
    for evt in season.stripe.dispute(won.payment_intent_id, "won"):
        season.send(evt)
    season.release()
    for evt in season.stripe.dispute(lost.payment_intent_id, "lost"):
        season.send(evt)
    season.settle()
    season.send(*season.stripe.reversal_events(set()))
    season.send(season.stripe.payout("usd", 1_000))

    recon = season.assert_no_differences()
    refs = {r.ledger_ref for r in recon.rows}
    assert any(ref and ref.endswith(":withdrawn") for ref in refs)
    assert any(ref and ref.endswith(":reinstated") for ref in refs)
    assert any(ref and ref.endswith(":paid") for ref in refs)
    assert _matched(recon, "transfer_reversal")  # the lost dispute, asked back
    assert kept.amount == 3 * PRICE


# -- item 3: a late payment ------------------------------------------------------------------


def test_a_late_payment_refunded_in_full_is_no_tie_out_difference(season: Season) -> None:
    event = season.open_event(ended=False)
    season.buy(event)
    late = season.checkout(event, 2)
    with season.engine.begin() as conn:
        tk.cancel_order(conn, season.org, late.order_id, cause="buyer gave up")
    # The buyer pays before Stripe hears of the cancellation: a late payment.
    season.send(season.stripe.succeed(late.payment_intent_id))
    assert season.send_refunds()

    with season.engine.connect() as conn:
        assert tk.get_order(conn, late.order_id).status == "cancelled"
        (row,) = [r for r in reports.ticket_tie_out(conn).rows if r.event_id == event[0]]
    assert (row.tickets_sold_value, row.ledger_sales) == (PRICE, PRICE)
    assert (row.tickets_refunded_value, row.ledger_refunds) == (0, 0)
    season.assert_no_differences()


def test_a_late_payment_not_yet_refunded_is_a_sales_difference(season: Season) -> None:
    event = season.open_event(ended=False)
    late = season.checkout(event)
    with season.engine.begin() as conn:
        tk.cancel_order(conn, season.org, late.order_id, cause="buyer gave up")
    season.send(season.stripe.succeed(late.payment_intent_id))  # its refund not sent back

    with season.engine.connect() as conn:
        (row,) = [r for r in reports.ticket_tie_out(conn).rows if r.event_id == event[0]]
    assert (row.ledger_sales, row.sales_difference) == (PRICE, -PRICE)


# -- item 5: transfers and reversals as Connect expects --------------------------------------


def test_a_refund_after_release_is_recovered_by_a_transfer_reversal(season: Season) -> None:
    event = season.open_event()
    first, _ = season.buy(event), season.buy(event, 2)
    season.release()
    (transfer,) = season.stripe.transfers.values()
    assert transfer.source_transaction is None  # funded by many charges
    season.refund(first, "r-after")

    (reversal,) = transfer.reversals
    owed = PRICE - PRICE * 5 // 100  # the platform's fee comes back from revenue
    assert reversal.amount == owed
    assert reversal.metadata["liventix_reversal_request"].endswith(transfer.id)
    assert season.lines(reversal.id) == [
        ("receivable:usd", "credit", owed),
        ("stripe_balance:usd", "debit", owed),
    ]
    # Stripe's event finds it booked; the receivable is settled.
    season.send(*season.stripe.reversal_events(set()))
    assert season.balance("receivable:usd") == 0
    with season.engine.connect() as conn:
        assert escrow.owed_after_reversals(conn, season.org, "USD") == 0
        booked = conn.execute(
            sa.text("""SELECT count(*) FROM payments.entries
                        WHERE idempotency_key LIKE 'stripe:transfer-reversal:%'""")
        ).scalar_one()
    assert booked == 1
    season.assert_no_differences()


def test_what_no_transfer_covers_stays_owed_and_is_netted_at_the_next_release(
    season: Season,
) -> None:
    first_event = season.open_event()
    sold = season.buy(first_event)
    season.release()
    (first,) = season.stripe.transfers.values()
    # A dispute lost after the release: the whole payment is owed, more than the organizer's
    # share that was transferred.
    for evt in season.stripe.dispute(sold.payment_intent_id, "lost"):
        season.send(evt)
    assert first.amount_reversed == first.amount
    second_event = season.open_event()
    season.buy(second_event, 3)
    with season.engine.connect() as conn:
        owed = escrow.owed_after_reversals(conn, season.org, "USD")
    assert owed == PRICE - first.amount > 0  # the fee and Stripe's part, not transferred
    statement = next(
        r for r in season.all_reports() if isinstance(r, reports.OrganizerStatementReport)
    )
    assert any(b.kind == "receivable" and b.closing == owed for b in statement.balances)

    season.release()
    second = next(t for t in season.stripe.transfers.values() if t.id != first.id)
    with season.engine.connect() as conn:
        released = escrow.get_escrow(
            conn,
            conn.execute(
                sa.text("SELECT id FROM payments.escrows WHERE event_id = :e"),
                {"e": str(second_event[0])},
            ).scalar_one(),
        ).released
    assert second.amount == released - owed
    assert season.balance("receivable:usd") == 0
    season.assert_no_differences()


def test_a_capture_after_release_is_transferred_from_its_own_charge(season: Season) -> None:
    event = season.open_event()
    season.buy(event)
    season.release()
    late = season.checkout(event)  # sales still open: a payment after the release
    season.send(season.stripe.succeed(late.payment_intent_id))
    season.settle()
    funded = [t for t in season.stripe.transfers.values() if t.source_transaction]
    assert [t.source_transaction for t in funded] == [charge_of(late.payment_intent_id)]
    season.send(*season.stripe.transfer_events())
    season.assert_no_differences()
