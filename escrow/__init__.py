"""Escrow: ticket revenue held per organizer and event until the event is over, then
released, refunded or answered to a dispute, with every cent in the ledger.

This is the package's public face. Use cases take the caller's SQLAlchemy `Connection` and
never commit: a transition, its ledger entries and its outbox messages commit together.

Inside, by business event: `payments` (a capture), `refunds`, `disputes`, `release` (the
event's end, the release, the due sweep, a cancellation), `transfers` (Stripe Connect's
transfers, reversals and payouts); what they share: `lifecycle` (transitions, postings) and
`settlement` (transfers asked, an organizer's debts). They decide with the pure functions of
`decisions`, `recipes` and `machine`, and read and write escrow's tables only through
`store`. `stripe_events` turns Stripe's events into these use cases.
"""

from __future__ import annotations

from escrow import messages as _messages  # registers escrow's outbox message types
from escrow import recipes
from escrow.accounts import CHART_CATEGORIES, ChartCategory, chart_category, seed_categories
from escrow.disputes import (
    close_dispute,
    dispute_funds_reinstated,
    dispute_funds_withdrawn,
    dispute_outcome,
    open_dispute,
)
from escrow.errors import (
    ConcurrentTransition,
    EscrowError,
    EscrowNotFound,
    InvalidAmount,
    InvalidTransition,
    NotYetApplicable,
    PaymentNotFound,
    RefundExceedsPayment,
    ReversalExceedsTransfer,
    ReversalRequestNotFound,
)
from escrow.lifecycle import open_escrow
from escrow.machine import FINAL_STATES, HOLDING_STATES, STATES, EscrowMachine, diagram
from escrow.messages import (
    EscrowReleased,
    EscrowStateChanged,
    TransferRequested,
    TransferReversalRequested,
)
from escrow.models import CapturedPayment, Escrow, Policy
from escrow.payments import CaptureCall, capture_answer, capture_call, capture_payment
from escrow.ports import ChargeFacts, RefundFacts, StripeReader
from escrow.recipes import CHART
from escrow.refunds import refund_payment
from escrow.release import cancel_event, end_event, release_due, request_release
from escrow.settlement import confirm_reversal, ledger_escrow_balance, owed_after_reversals
from escrow.store import (
    CAPTURE_CALL,
    PaymentAmounts,
    get_escrow,
    get_policy,
    lock_escrow,
    paid_sql,
    payment_amounts,
    payment_id_for_charge,
    payment_org,
    refunded_sql,
    set_policy,
    transfer_request,
    transitions,
)
from escrow.stripe_events import (
    HINT_PAYMENT_IS_OURS,
    META_ESCROW,
    META_PREFIX,
    META_REVERSAL_REQUEST,
    META_TRANSFER_REQUEST,
    captured_payment,
    captured_payment_of,
)
from escrow.stripe_events import handlers as stripe_handlers
from escrow.stripe_events import register as register_stripe_handlers
from escrow.transfers import payout, transfer_created, transfer_reversed

__all__ = [
    "CAPTURE_CALL",
    "CHART",
    "CHART_CATEGORIES",
    "FINAL_STATES",
    "HINT_PAYMENT_IS_OURS",
    "HOLDING_STATES",
    "META_ESCROW",
    "META_PREFIX",
    "META_REVERSAL_REQUEST",
    "META_TRANSFER_REQUEST",
    "STATES",
    "CaptureCall",
    "CapturedPayment",
    "ChargeFacts",
    "ChartCategory",
    "ConcurrentTransition",
    "Escrow",
    "EscrowError",
    "EscrowMachine",
    "EscrowNotFound",
    "EscrowReleased",
    "EscrowStateChanged",
    "InvalidAmount",
    "InvalidTransition",
    "NotYetApplicable",
    "PaymentAmounts",
    "PaymentNotFound",
    "Policy",
    "RefundExceedsPayment",
    "RefundFacts",
    "ReversalExceedsTransfer",
    "ReversalRequestNotFound",
    "StripeReader",
    "TransferRequested",
    "TransferReversalRequested",
    "_messages",
    "cancel_event",
    "capture_answer",
    "capture_call",
    "capture_payment",
    "captured_payment",
    "captured_payment_of",
    "chart_category",
    "close_dispute",
    "confirm_reversal",
    "diagram",
    "dispute_funds_reinstated",
    "dispute_funds_withdrawn",
    "dispute_outcome",
    "end_event",
    "get_escrow",
    "get_policy",
    "ledger_escrow_balance",
    "lock_escrow",
    "open_dispute",
    "open_escrow",
    "owed_after_reversals",
    "paid_sql",
    "payment_amounts",
    "payment_id_for_charge",
    "payment_org",
    "payout",
    "recipes",
    "refund_payment",
    "refunded_sql",
    "register_stripe_handlers",
    "release_due",
    "request_release",
    "seed_categories",
    "set_policy",
    "stripe_handlers",
    "transfer_created",
    "transfer_request",
    "transfer_reversed",
    "transitions",
]
