"""Stripe's events in any order, with duplicates, end in the same ledger, entry for entry.

Each example draws an organizer's policy and a realistic stream of Stripe events for a few
payments of one or two events (escrows): `payment_intent.succeeded` for each payment; refunds
as `refund.updated` (succeeded) and, for some, a later `refund.failed`, a new refund sometimes
replacing a failed one, and a `charge.refunded` that lists the charge's refunds through the
reader; a dispute `created`, `funds_withdrawn`, then `funds_reinstated` and `closed` (won) or
`closed` (lost); a payout `paid` and maybe `failed`. Objects are shaped after Stripe's own
examples (stripe/openapi `fixtures3.json`). Every event's end lies a month ahead, so nothing
is released while the stream plays.

The stream is played through the inbox (`outbox.store_event`, `outbox.handle_next` with
escrow's handlers on a reader built from the example) twice, each on a database emptied back to
the template (`scratch`): in Stripe's order, handling each event as it arrives; then permuted,
with duplicates mixed in (the same event delivered again, and the same object in a second
event), handling a few events after each arrival and every pending one at the end. Events that
arrive before what they depend on are retried. Both runs must end with every event handled, the
same entries (external reference, kind, description and lines), the same balances, the same
escrow counters and the same Stripe facts.

`LIVENTIX_HYPOTHESIS_EXAMPLES` makes the run longer.
"""

from __future__ import annotations

import os
import uuid
from collections import Counter
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import sqlalchemy as sa
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import escrow
import ledger
import outbox
from liventix.testing.scratch import Scratch

PLATFORM = uuid.UUID("00000000-0000-0000-0000-000000000001")
ORG = uuid.UUID("00000000-0000-0000-0000-0000000000c3")
SOURCE = "stripe"
DISPUTE_FEE = 1_500
# Retry at once, as often as it takes: the drain below stops when nothing moves any more.
RETRY_AT_ONCE = outbox.RetryPolicy(schedule=(0,) * 1_000, jitter=0)
CREATED = 1_767_225_600  # Stripe's `created`: seconds since the epoch

Event = dict[str, Any]


# --------------------------------------------------------------------------------------
# What happened at Stripe
# --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Refund:
    id: str
    amount: int
    fails: bool
    names_payment: bool  # the refund object carries its PaymentIntent (else only the charge)


@dataclass(frozen=True)
class Dispute:
    id: str
    amount: int
    won: bool
    fee_returned: int
    names_payment: bool


@dataclass(frozen=True)
class Payment:
    id: str
    event_id: str
    gross: int
    stripe_fee: int
    refunds: tuple[Refund, ...]
    charge_refunded: bool  # a `charge.refunded` event lists the refunds through the reader
    dispute: Dispute | None

    @property
    def charge(self) -> str:
        return f"ch_{self.id[3:]}"


@dataclass(frozen=True)
class Payout:
    id: str
    amount: int
    fails: bool


@dataclass(frozen=True)
class Story:
    policy: escrow.Policy
    payments: tuple[Payment, ...]
    payout: Payout | None


@st.composite
def stories(draw: st.DrawFn) -> Story:
    policy = escrow.Policy(
        platform_fee_bps=draw(st.sampled_from([0, 500, 1000])),
        platform_fee_fixed=draw(st.sampled_from([0, 30])),
        bears_stripe_fees=draw(st.booleans()),
        refund_platform_fee=draw(st.booleans()),
    )
    events = draw(st.sampled_from([("ev-1",), ("ev-1", "ev-2")]))
    payments = []
    for n in range(draw(st.integers(1, 4))):
        gross = draw(st.integers(500, 30_000))
        refundable = gross
        refunds = []
        for k in range(draw(st.integers(0, 3))):
            if refundable == 0:
                break
            fails = draw(st.booleans())
            # Often all that is left: after a failed refund, that includes its amount.
            amount = draw(st.one_of(st.just(refundable), st.integers(1, refundable)))
            # A failed refund gives its amount back to the charge: the next may take it.
            if not fails:
                refundable -= amount
            refunds.append(Refund(f"re_{n}{k}", amount, fails, draw(st.booleans())))
        dispute = None
        if refundable > 0 and draw(st.integers(0, 2)) == 0:
            won = draw(st.booleans())
            dispute = Dispute(
                f"dp_{n}",
                draw(st.integers(1, refundable)),
                won,
                draw(st.sampled_from([0, DISPUTE_FEE])) if won else 0,
                draw(st.booleans()),
            )
        payments.append(
            Payment(
                id=f"pi_{n}",
                event_id=draw(st.sampled_from(events)),
                gross=gross,
                stripe_fee=gross * 29 // 1000 + 30,
                refunds=tuple(refunds),
                charge_refunded=bool(refunds) and draw(st.booleans()),
                dispute=dispute,
            )
        )
    payout = None
    if draw(st.booleans()):
        payout = Payout("po_1", draw(st.integers(1, 50_000)), draw(st.booleans()))
    return Story(policy, tuple(payments), payout)


# --------------------------------------------------------------------------------------
# Stripe's objects and events (after fixtures3.json)
# --------------------------------------------------------------------------------------


def _event(serial: int, type_: str, obj: dict[str, Any]) -> Event:
    return {
        "id": f"evt_{serial:04d}",
        "object": "event",
        "api_version": "2024-06-20",
        "created": CREATED + serial,
        "data": {"object": obj},
        "livemode": False,
        "pending_webhooks": 1,
        "request": {"id": None, "idempotency_key": None},
        "type": type_,
    }


def _payment_intent(p: Payment, ends_at: datetime) -> dict[str, Any]:
    return {
        "id": p.id,
        "object": "payment_intent",
        "amount": p.gross,
        "amount_capturable": 0,
        "amount_received": p.gross,
        "capture_method": "automatic",
        "confirmation_method": "automatic",
        "created": CREATED,
        "currency": "usd",
        "customer": None,
        "description": f"Tickets for {p.event_id}",
        "latest_charge": p.charge,
        "livemode": False,
        "metadata": {
            "liventix_org_id": str(ORG),
            "liventix_event_id": p.event_id,
            "liventix_event_ends_at": ends_at.isoformat(),
        },
        "payment_method_types": ["card"],
        "status": "succeeded",
    }


def _refund(p: Payment, r: Refund, status: str) -> dict[str, Any]:
    return {
        "id": r.id,
        "object": "refund",
        "amount": r.amount,
        "balance_transaction": f"txn_{r.id}",
        "charge": p.charge,
        "created": CREATED,
        "currency": "usd",
        "destination_details": {"card": {"type": "refund"}, "type": "card"},
        "failure_balance_transaction": f"txn_{r.id}_failure" if status == "failed" else None,
        "failure_reason": "expired_or_canceled_card" if status == "failed" else None,
        "metadata": {},
        "payment_intent": p.id if r.names_payment else None,
        "reason": "requested_by_customer",
        "receipt_number": None,
        "source_transfer_reversal": None,
        "status": status,
        "transfer_reversal": None,
    }


def _charge(p: Payment) -> dict[str, Any]:
    refunded = sum(r.amount for r in p.refunds if not r.fails)
    return {
        "id": p.charge,
        "object": "charge",
        "amount": p.gross,
        "amount_captured": p.gross,
        "amount_refunded": refunded,
        "balance_transaction": f"txn_{p.id}",
        "captured": True,
        "created": CREATED,
        "currency": "usd",
        "disputed": p.dispute is not None,
        "livemode": False,
        "metadata": {},
        "paid": True,
        "payment_intent": p.id,
        "refunded": refunded == p.gross,
        "status": "succeeded",
    }


def _dispute_txn(d: Dispute, kind: str) -> dict[str, Any]:
    withdrawal = kind == "withdrawal"
    amount = -d.amount if withdrawal else d.amount
    fee = DISPUTE_FEE if withdrawal else -d.fee_returned
    return {
        "id": f"txn_{d.id}_{kind}",
        "object": "balance_transaction",
        "amount": amount,
        "created": CREATED,
        "currency": "usd",
        "description": f"Chargeback {kind}",
        "fee": fee,
        "fee_details": [
            {
                "amount": fee,
                "application": None,
                "currency": "usd",
                "description": "Dispute fee",
                "type": "stripe_fee",
            }
        ]
        if fee
        else [],
        "net": amount - fee,
        "reporting_category": "dispute" if withdrawal else "dispute_reversal",
        "source": d.id,
        "status": "available",
        "type": "adjustment",
    }


def _dispute(p: Payment, d: Dispute, status: str, txns: tuple[str, ...]) -> dict[str, Any]:
    return {
        "id": d.id,
        "object": "dispute",
        "amount": d.amount,
        "balance_transactions": [_dispute_txn(d, kind) for kind in txns],
        "charge": p.charge,
        "created": CREATED,
        "currency": "usd",
        "evidence_details": {"due_by": CREATED + 7 * 86_400, "has_evidence": False},
        "is_charge_refundable": False,
        "livemode": False,
        "metadata": {},
        "payment_intent": p.id if d.names_payment else None,
        "reason": "fraudulent",
        "status": status,
    }


def _payout(po: Payout, status: str) -> dict[str, Any]:
    return {
        "id": po.id,
        "object": "payout",
        "amount": po.amount,
        "arrival_date": CREATED + 2 * 86_400,
        "automatic": True,
        "balance_transaction": f"txn_{po.id}",
        "created": CREATED,
        "currency": "usd",
        "destination": "ba_platform",
        "failure_balance_transaction": f"txn_{po.id}_failure" if status == "failed" else None,
        "failure_code": "account_closed" if status == "failed" else None,
        "failure_message": None,
        "livemode": False,
        "metadata": {},
        "method": "standard",
        "source_type": "card",
        "status": status,
        "type": "bank_account",
    }


def stripe_stream(story: Story, ends_at: datetime) -> list[Event]:
    """The story's events in the order Stripe would send them."""
    objects: list[tuple[str, dict[str, Any]]] = []
    for p in story.payments:
        objects.append(("payment_intent.succeeded", _payment_intent(p, ends_at)))
        for r in p.refunds:
            objects.append(("refund.updated", _refund(p, r, "succeeded")))
            if r.fails:
                objects.append(("refund.failed", _refund(p, r, "failed")))
        if p.charge_refunded:
            objects.append(("charge.refunded", _charge(p)))
        d = p.dispute
        if d is not None:
            objects.append(("charge.dispute.created", _dispute(p, d, "needs_response", ())))
            withdrawn = ("withdrawal",)
            objects.append(
                ("charge.dispute.funds_withdrawn", _dispute(p, d, "under_review", withdrawn))
            )
            if d.won:
                both = ("withdrawal", "reinstatement")
                objects.append(("charge.dispute.funds_reinstated", _dispute(p, d, "won", both)))
                objects.append(("charge.dispute.closed", _dispute(p, d, "won", both)))
            else:
                objects.append(("charge.dispute.closed", _dispute(p, d, "lost", withdrawn)))
    if story.payout is not None:
        objects.append(("payout.paid", _payout(story.payout, "paid")))
        if story.payout.fails:
            objects.append(("payout.failed", _payout(story.payout, "failed")))
    return [_event(n, type_, obj) for n, (type_, obj) in enumerate(objects)]


class StoryReader:
    """escrow.ports.StripeReader answered from the story: Stripe as it is after it all."""

    def __init__(self, story: Story) -> None:
        self.payments = {p.id: p for p in story.payments}
        self.by_charge = {p.charge: p for p in story.payments}

    def charge_facts(self, payment_intent_id: str) -> escrow.ChargeFacts:
        p = self.payments[payment_intent_id]
        return escrow.ChargeFacts(p.charge, f"txn_{p.id}", p.stripe_fee)

    def refunds_of_charge(self, charge_id: str) -> list[escrow.RefundFacts]:
        p = self.by_charge[charge_id]
        # Stripe lists newest first.
        return [
            escrow.RefundFacts(r.id, p.id, r.amount, "failed" if r.fails else "succeeded")
            for r in reversed(p.refunds)
        ]


def _handlers(story: Story) -> outbox.InboxHandlers:
    handlers = outbox.InboxHandlers()
    for event_type, handler in escrow.stripe_handlers(StoryReader(story)).items():
        handlers.register(SOURCE, event_type, handler)
    return handlers


# --------------------------------------------------------------------------------------
# Playing a stream, and what it left
# --------------------------------------------------------------------------------------


def _setup(engine: sa.Engine, policy: escrow.Policy) -> None:
    with engine.begin() as conn:
        ledger.open_organization(conn, PLATFORM, "Liventix", is_platform=True)
        ledger.open_organization(conn, ORG, "Opera House")
        escrow.set_policy(conn, ORG, policy)


def _store(engine: sa.Engine, event: Event) -> None:
    with engine.begin() as conn:
        outbox.store_event(conn, SOURCE, event["id"], event["type"], event)


def _handle(engine: sa.Engine, handlers: outbox.InboxHandlers, limit: int) -> None:
    """Handle up to `limit` due events, stopping early when none is due or nothing moves."""
    waiting = 0
    for _ in range(limit):
        with engine.begin() as conn:
            status = outbox.handle_next(conn, RETRY_AT_ONCE, handlers)
            if status == "retrying":
                waiting += 1
                pending = conn.execute(
                    sa.text("SELECT count(*) FROM messaging.inbox WHERE status = 'pending'")
                ).scalar_one()
                if waiting > pending:  # every pending event was tried since one succeeded
                    return
            else:
                waiting = 0
        if status is None:
            return


def _inbox(engine: sa.Engine) -> list[Any]:
    with engine.connect() as conn:
        return list(
            conn.execute(
                sa.text("""SELECT event_id, type, status, attempts, last_error
                             FROM messaging.inbox ORDER BY received_at, event_id""")
            )
        )


def _outcome(engine: sa.Engine) -> dict[str, object]:
    """Everything the stream should determine, whatever its order."""
    with engine.connect() as conn:
        lines: dict[uuid.UUID, list[tuple[object, ...]]] = {}
        for r in conn.execute(
            sa.text("""SELECT l.entry_id, a.org_id, a.code, l.side, l.amount, l.currency
                         FROM payments.lines l JOIN payments.accounts a ON a.id = l.account_id""")
        ):
            lines.setdefault(r.entry_id, []).append(tuple(r)[1:])
        entries = Counter(
            (r.org_id, r.external_ref, r.kind, r.description, tuple(sorted(lines[r.id])))
            for r in conn.execute(
                sa.text("SELECT id, org_id, external_ref, kind, description FROM payments.entries")
            )
        )
        balances = {
            (r.org_id, r.code): int(r.net)
            for r in conn.execute(
                sa.text("""SELECT a.org_id, a.code,
                                  sum(CASE WHEN l.side = 'debit' THEN l.amount
                                           ELSE -l.amount END) AS net
                             FROM payments.lines l JOIN payments.accounts a ON a.id = l.account_id
                            GROUP BY a.org_id, a.code""")
            )
        }
        escrows = {}
        for r in conn.execute(sa.text("SELECT * FROM payments.escrows")):
            e = escrow.get_escrow(conn, r.id)
            assert e.held == escrow.ledger_escrow_balance(conn, e)
            escrows[(r.org_id, r.event_id, r.currency)] = (
                r.state,
                r.captured,
                r.refunded,
                r.charged_back,
                r.held,
                r.released,
                r.open_disputes,
            )
        facts = {
            table: sorted(tuple(r) for r in conn.execute(sa.text(query)))
            for table, query in {
                "payments": "SELECT id, gross, platform_fee, stripe_fee, refunded"
                " FROM payments.card_payments",
                "refunds": "SELECT id, amount, fee_back, charged_to, failed"
                " FROM payments.card_refunds",
                "disputes": "SELECT id, amount, status, withdrawn, reinstated"
                " FROM payments.card_disputes",
                "payouts": "SELECT id, amount, paid, failed FROM payments.platform_payouts",
            }.items()
        }
        for currency, (debit, credit) in ledger.trial_balance(conn).totals.items():
            assert debit == credit, currency
    return {
        "entries": entries,
        "balances": balances,
        "escrows": escrows,
        **facts,
    }


def _all_handled(engine: sa.Engine) -> None:
    stuck = [r for r in _inbox(engine) if r.status != "handled"]
    assert not stuck, "events left unhandled:\n" + "\n".join(
        f"  {r.event_id} {r.type}: {r.status} after {r.attempts} attempts: {r.last_error}"
        for r in stuck
    )


# --------------------------------------------------------------------------------------
# The property
# --------------------------------------------------------------------------------------


@st.composite
def deliveries(draw: st.DrawFn, stream: list[Event]) -> tuple[list[Event], list[int]]:
    """The stream permuted with duplicates (redeliveries and the same object in a new
    event), and how many events to handle after each arrival."""
    extra: list[Event] = []
    for n, event in enumerate(draw(st.lists(st.sampled_from(stream), max_size=6))):
        if draw(st.booleans()):
            extra.append(event)  # delivered again: the inbox acknowledges and ignores it
        else:
            extra.append({**event, "id": f"evt_again_{n:02d}"})  # same object, new event
    shuffled = draw(st.permutations(stream + extra))
    handled = draw(st.lists(st.integers(0, 3), min_size=len(shuffled), max_size=len(shuffled)))
    return shuffled, handled


SETTINGS = settings(
    max_examples=int(os.environ.get("LIVENTIX_HYPOTHESIS_EXAMPLES", "20")),
    deadline=None,
    suppress_health_check=[
        HealthCheck.too_slow,
        HealthCheck.function_scoped_fixture,
        HealthCheck.data_too_large,
    ],
)


# Every event of the run ends a month after the module was loaded (nothing is released),
# so that a story always makes the same stream and its in-order outcome can be reused while
# hypothesis tries other deliveries of it (each run costs an emptied database).
ENDS_AT = datetime.now(UTC) + timedelta(days=30)
_IN_ORDER: dict[Story, dict[str, object]] = {}


def _in_order(scratch: Scratch, story: Story) -> dict[str, object]:
    """The outcome of the story's stream in Stripe's order, each event handled on arrival."""
    if story not in _IN_ORDER:
        stream = stripe_stream(story, ENDS_AT)
        handlers = _handlers(story)
        engine = scratch.empty()
        _setup(engine, story.policy)
        for event in stream:
            _store(engine, event)
            _handle(engine, handlers, limit=10)
        inbox = _inbox(engine)
        assert [(r.status, r.attempts) for r in inbox] == [("handled", 1)] * len(stream)
        _IN_ORDER[story] = _outcome(engine)
    return _IN_ORDER[story]


@SETTINGS
@given(story=stories(), data=st.data())
def test_any_order_of_stripe_events_gives_the_same_ledger(
    scratch: Scratch, story: Story, data: st.DataObject
) -> None:
    in_order = _in_order(scratch, story)
    shuffled, handled = data.draw(deliveries(stripe_stream(story, ENDS_AT)), label="deliveries")
    handlers = _handlers(story)
    engine = scratch.empty()
    _setup(engine, story.policy)
    for event, count in zip(shuffled, handled, strict=True):
        _store(engine, event)
        _handle(engine, handlers, limit=count)
    _handle(engine, handlers, limit=50 * len(shuffled) + 50)
    _all_handled(engine)
    permuted = _outcome(engine)
    for part, expected in in_order.items():
        assert permuted[part] == expected, part


# --------------------------------------------------------------------------------------
# What the property found, one example each
# --------------------------------------------------------------------------------------


@pytest.fixture
def sold(engine: sa.Engine) -> sa.Engine:
    """A payment of 10_000 for an event a month ahead."""
    _setup(engine, escrow.Policy())
    with engine.begin() as conn:
        escrow.capture_payment(
            conn,
            escrow.CapturedPayment(
                "pi_1",
                ORG,
                "ev-1",
                "USD",
                10_000,
                320,
                datetime.now(UTC) + timedelta(days=30),
                "ch_1",
                "txn_1",
            ),
            cause="evt_1",
        )
    return engine


def test_a_failed_refund_reported_after_its_replacement_is_booked(sold: sa.Engine) -> None:
    # At Stripe: re_1 (5_000) failed, then re_2 refunded the whole 10_000. Stripe's events
    # for re_2 arrived first; re_1's `refund.failed` must still be accepted (it nets to
    # nothing), or the inbox retries it until it is dead.
    with sold.begin() as conn:
        assert escrow.refund_payment(conn, "re_2", "pi_1", 10_000, failed=False, cause="evt_3")
    with sold.begin() as conn:
        escrow.refund_payment(conn, "re_1", "pi_1", 5_000, failed=True, cause="evt_2")
    with sold.connect() as conn:
        refunded = conn.execute(
            sa.text("SELECT refunded FROM payments.card_payments WHERE id = 'pi_1'")
        ).scalar_one()
        assert refunded == 10_000
