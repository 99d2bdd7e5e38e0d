"""A card payment captured: booked into its event's escrow, or the long way for an event's
first payment and for a payment after release or cancellation. Takes the caller's
connection and never commits.

Two ways for the usual case (the escrow exists and its capture leaves it where it is, the
chart's accounts are open):
- `capture_call`: decided in Python from what the last capture on the connection read (the
  organizer's terms, the accounts' ids), with no statement; the caller's statement holds
  the call (`payments.capture_card_payment`), which locks the escrow, checks those facts on
  the locked rows and posts and records the capture, and `capture_answer` reads its row:
  the payment's one round trip with ticketing's pay-and-issue
  (`ticketing_fsm.pay_for_intent`). Anything else it answers for the long way.
- `capture_payment`: three statements (the facts with the escrow locked, the ledger entry,
  the transition with its audit row and the payment's record), or the long way.
"""

from __future__ import annotations

import functools
import hashlib
import itertools
import json
from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any

from sqlalchemy import Connection

import ledger
from escrow import recipes, store
from escrow.accounts import lines
from escrow.decisions import (
    capture_booking,
    capture_booking_for,
    capture_kind,
    capture_target,
    decide,
)
from escrow.errors import ConcurrentTransition
from escrow.lifecycle import adjust, open_escrow, post, transition
from escrow.machine import STATES
from escrow.models import CapturedPayment, Policy
from escrow.settlement import request_transfer
from pgdriver import array_literal

# The states in which the machine's capture leaves the escrow where it is, whatever the
# guards' facts: those the one-call capture takes (any other is decided the long way).
_STAYING = sorted(
    state
    for state in STATES
    if all(
        decide(state, "capture", disputes, nothing_held, ended) == state
        for disputes, nothing_held, ended in itertools.product((False, True), repeat=3)
    )
)
# The ledger door's request hash, as the ledger computes it (SHA-256 of the canonical JSON
# of the request's payload without its key): the one-call capture posts through the door's
# SQL function with it, and a replay through `ledger.post_entry` must find the same hash.
# tests/escrow_core/test_capture_call.py checks that it does.
_CANONICAL = json.JSONEncoder(sort_keys=True, separators=(",", ":"), ensure_ascii=False)
# The call's parameters, named as `store.CAPTURE_CALL` takes them, and the staying states as
# the array literal the call takes (the same for every capture).
_CAPTURE_PARAMS = frozenset(f"capture_{name}" for name in store.CAPTURE_ARGUMENTS)
_STAYING_LITERAL = array_literal(_STAYING)


@dataclass(frozen=True)
class CaptureCall:
    """A capture decided in Python for one call of `payments.capture_card_payment`: the
    call (`sql`, psycopg's named placeholders `capture_*`) and its parameters."""

    payment: CapturedPayment
    sql: str
    params: dict[str, Any]


def _entry(payment: CapturedPayment, entry_lines: list[ledger.Line]) -> ledger.PostEntry:
    """The capture's ledger entry (the same request both ways, so both replay each other)."""
    return ledger.PostEntry(
        idempotency_key=f"stripe:capture:{payment.payment_id}",
        lines=entry_lines,
        description=f"Payment {payment.payment_id} captured",
        external_ref=payment.balance_transaction_id or payment.payment_id,
    )


@dataclass(frozen=True)
class _CapturePlan:
    """What a capture's call takes that depends on the booking alone (the terms, the amounts,
    the accounts' ids), not on the payment's ids: the fee and share, the entry's lines as
    the ledger's payload renders them (validated by it), and the call's array literals."""

    fee: int
    share: int
    lines: tuple[Mapping[str, Any], ...]
    """Shared by every capture of the same booking: read-only."""
    lines_json: str
    """`lines` as the ledger's canonical JSON renders them (`_CANONICAL`), for the body's hash."""
    accounts: str
    sides: str
    amounts: str
    currencies: str
    organizer_accounts: str
    platform_accounts: str


@functools.lru_cache(maxsize=1024, typed=True)
def _capture_plan(
    policy: Policy,
    event_id: str,
    currency: str,
    *,
    gross: int,
    stripe_fee: int,
    ids: tuple[tuple[tuple[str, str], Any], ...],
) -> _CapturePlan | None:
    """The booking-dependent part of `capture_call` for these terms, amounts and accounts
    (None: an account of the booking is not open). Made once per distinct booking (an
    on-sale's payments share a few prices) through the same code as the long way: the
    booking by `capture_booking`, the lines checked and rendered by `ledger.PostEntry`
    (whose other fields, the payment's own, `capture_call` renders per payment). A booking
    refused (InvalidAmount and the like) raises, and is asked again next time."""
    booking = capture_booking_for(
        event_id, currency, gross=gross, stripe_fee=stripe_fee, policy=policy
    )
    known = dict(ids)
    legs = booking.legs
    if not all((leg.owner, leg.code) in known for leg in legs):
        return None
    entry_lines = ledger.PostEntry(
        idempotency_key="capture",  # a placeholder: only the lines are kept
        lines=[
            ledger.Line(known[(leg.owner, leg.code)], leg.side, leg.amount, currency)
            for leg in legs
        ],
    ).payload()["lines"]
    return _CapturePlan(
        fee=booking.fee,
        share=booking.share,
        lines=tuple(MappingProxyType(line) for line in entry_lines),
        lines_json=_CANONICAL.encode(entry_lines),
        accounts=array_literal([line["account_id"] for line in entry_lines]),
        sides=array_literal([line["side"] for line in entry_lines]),
        amounts=array_literal([line["amount"] for line in entry_lines]),
        currencies=array_literal([line["currency"] for line in entry_lines]),
        organizer_accounts=array_literal(
            [known[(g.owner, g.code)] for g in legs if g.owner != "platform"]
        ),
        platform_accounts=array_literal(
            [known[(g.owner, g.code)] for g in legs if g.owner == "platform"]
        ),
    )


def capture_call(conn: Connection, payment: CapturedPayment, *, cause: str) -> CaptureCall | None:
    """The usual capture as one call for the caller's statement (no statement sent here),
    decided from the terms and accounts the last capture of this escrow read on this
    connection; None if none did, or an account is not open: `capture_payment` then.

    Its entry is the request `_entry` makes (the ledger door's hash of the same canonical
    JSON): the lines as `_capture_plan` renders them, the payment's key, description and
    reference checked as `ledger.PostEntry.payload` checks them."""
    known = store.known_capture_facts(conn, payment)
    return None if known is None else call_for(payment, known, cause=cause)


def call_for(
    payment: CapturedPayment, known: store.KnownFacts, *, cause: str
) -> CaptureCall | None:
    """`capture_call` from the facts known (the organizer's terms, whether stored, the
    chart accounts' ids): pure. None if an account of the booking is not open."""
    policy, stored, _ids = known
    plan = _plan_for(payment, known)
    if plan is None:
        return None
    key = f"stripe:capture:{payment.payment_id}"
    if len(key) > 255:  # the ledger's rule for a key (`PostEntry.payload` checks it so)
        raise ledger.InvalidRequest(
            "an idempotency key is a non-empty string of at most 255 characters"
        )
    description = f"Payment {payment.payment_id} captured"
    external_ref = payment.balance_transaction_id or payment.payment_id
    if not external_ref:
        raise ledger.InvalidRequest("external_ref is None or a non-empty string")
    # `ledger.PostEntry.payload()` without its key, as the ledger hashes it (`_entry`'s
    # request: no metadata, effective time or conditions), in `_CANONICAL`'s text: its keys
    # sorted, the lines' text made once per plan. The same text as encoding the dict
    # (test_capture_plan compares with it), for a third of the CPU.
    body = (
        '{"conditions":[],"description":'
        + _CANONICAL.encode(description)
        + ',"effective_at":null,"external_ref":'
        + _CANONICAL.encode(external_ref)
        + ',"kind":"standard","lines":'
        + plan.lines_json
        + ',"metadata":{}}'
    )
    params = {
        "capture_org": payment.org_id,
        "capture_event": payment.event_id,
        "capture_currency": payment.currency,
        "capture_states": _STAYING_LITERAL,
        "capture_bps": policy.platform_fee_bps,
        "capture_fixed": policy.platform_fee_fixed,
        "capture_bears": policy.bears_stripe_fees,
        "capture_refund_fee": policy.refund_platform_fee,
        "capture_policy_stored": stored,
        "capture_payment": payment.payment_id,
        "capture_charge": payment.charge_id,
        "capture_txn": payment.balance_transaction_id,
        "capture_gross": payment.gross,
        "capture_fee": plan.fee,
        "capture_stripe_fee": payment.stripe_fee,
        "capture_share": plan.share,
        "capture_cause": cause,
        "capture_key": key,
        "capture_hash": hashlib.sha256(body.encode()).hexdigest(),
        "capture_accounts": plan.accounts,
        "capture_sides": plan.sides,
        "capture_amounts": plan.amounts,
        "capture_currencies": plan.currencies,
        "capture_description": description,
        "capture_external_ref": external_ref,
        "capture_organizer_accounts": plan.organizer_accounts,
        "capture_platform_accounts": plan.platform_accounts,
    }
    # Its keys are `_CAPTURE_PARAMS` (test_capture_plan checks them: an assert here cost
    # each payment ~6.6K instructions, a tenth of this function's).
    return CaptureCall(payment, store.CAPTURE_CALL, params)


_PlanTerms = tuple[str, str, int, int]
_PLANS_BY_FACTS: dict[
    int,
    tuple[
        store.KnownFacts,
        dict[tuple[recipes.Owner, str], Any],
        dict[_PlanTerms, _CapturePlan | None],
    ],
] = {}
"""`_plan_for`'s plans, by the identity of the facts they were made from (kept with them, so
the identity is not reused while an entry lives), and by the payment's terms."""


def _plan_now(policy: Policy, payment: CapturedPayment, ids: Any) -> _CapturePlan | None:
    """`_capture_plan` of `payment` on the facts' policy and accounts (`ids`: a mapping)."""
    return _capture_plan(
        policy,
        payment.event_id,
        payment.currency,
        gross=payment.gross,
        stripe_fee=payment.stripe_fee,
        ids=tuple(ids.items()),
    )


def _plan_for(payment: CapturedPayment, known: store.KnownFacts) -> _CapturePlan | None:
    """`_capture_plan` for the payment on these facts, found by the facts' identity (the
    connection keeps the same facts from one capture to the next) and the payment's event,
    currency and amounts: `_capture_plan`'s own key hashes the terms and every account id
    (`UUID.__hash__` is Python), ~17K instructions a payment. The facts' accounts are
    compared with a copy kept (values by identity first: no UUID compared in Python), so a
    mapping changed in place is not answered from before. Terms of other types than
    `_PlanTerms`' go to `_capture_plan` alone (its typed key tells 5000 from 5000.0)."""
    policy, _stored, ids = known
    terms = (payment.event_id, payment.currency, payment.gross, payment.stripe_fee)
    if not (
        type(terms[0]) is str
        and type(terms[1]) is str
        and type(terms[2]) is int
        and type(terms[3]) is int
    ):
        return _plan_now(policy, payment, ids)
    kept = _PLANS_BY_FACTS.get(id(known))
    if kept is None or kept[0] is not known or kept[1] != ids:
        if len(_PLANS_BY_FACTS) >= 256:
            _PLANS_BY_FACTS.clear()
        kept = _PLANS_BY_FACTS[id(known)] = (known, dict(ids), {})
    plans = kept[2]
    if terms in plans:
        return plans[terms]
    plan = _plan_now(policy, payment, ids)  # a refused booking raises: nothing kept
    if len(plans) < 64:
        plans[terms] = plan
    return plan


def capture_answer(conn: Connection, call: CaptureCall, outcome: str | None) -> bool | None:
    """What the call's `capture_outcome` says: True, captured; False, captured before (a
    duplicate, or booked by a transaction that committed while this one waited for the
    escrow); None, nothing written: capture the long way (`capture_payment`: an escrow not
    there yet or in another case, the terms changed since they were read, or the ledger
    refused the entry, which the long way raises as the ledger's typed error)."""
    if outcome == "captured":
        return True
    if outcome in ("booked", "replayed"):
        return False
    if outcome in ("stale", "failed"):
        store.forget_capture_facts(conn, call.payment)
    return None


def capture_payment(conn: Connection, payment: CapturedPayment, *, cause: str) -> bool:
    """Book a captured payment into its event's escrow; False if it was booked before.

    The usual case (the escrow exists and collects, holds or is frozen or releasable, the
    chart's accounts are open) is three statements: the facts with the escrow locked (and
    remembered on the connection for `capture_call`), the ledger entry, the transition with
    its audit row and the payment's record. Any other case (the event's first payment, a
    payment after release or cancellation) is decided the long way."""
    specs = recipes.capture_accounts(payment.event_id, payment.currency)
    facts = store.capture_facts(conn, payment, specs)
    if facts is None:
        return _capture(conn, payment, cause=cause)
    escrow = facts.escrow
    if facts.booked:
        return False
    to_state = capture_target(escrow)
    if to_state != escrow.state:  # past release, cancelled: not the machine's capture
        return _capture(conn, payment, cause=cause)
    booking = capture_booking(payment, facts.policy)
    ids = facts.accounts
    if all((leg.owner, leg.code) in ids for leg in booking.legs):
        entry_lines = [
            ledger.Line(ids[(leg.owner, leg.code)], leg.side, leg.amount, payment.currency)
            for leg in booking.legs
        ]
    else:
        entry_lines = lines(conn, payment.org_id, payment.currency, booking.legs)
    entry = ledger.post_entry(conn, payment.org_id, _entry(payment, entry_lines))
    if entry.replayed:
        # Booked by a transaction that committed while this one waited for the escrow's lock
        # (its record was not yet visible to the facts' snapshot): nothing is new.
        return False
    moved = store.record_capture(
        conn,
        {
            "escrow": escrow.id,
            "org": payment.org_id,
            "from": escrow.state,
            "to": to_state,
            "version": escrow.version,
            "gross": payment.gross,
            "share": booking.share,
            "cause": cause,
            "entry": entry.id,
            **_payment_values(payment, booking.fee, facts.policy),
        },
    )
    if not moved:  # the escrow is locked: it cannot have moved (kept as a guard)
        raise ConcurrentTransition(escrow_id=str(escrow.id), expected_state=escrow.state)
    return True


def _payment_values(payment: CapturedPayment, fee: int, policy: Policy) -> dict[str, object]:
    """The payment's record's values (named as `store.record_payment` and the capture's
    statement take them)."""
    return {
        "payment": payment.payment_id,
        "charge": payment.charge_id,
        "txn": payment.balance_transaction_id,
        "currency": payment.currency,
        "fee": fee,
        "stripe_fee": payment.stripe_fee,
        "bears": policy.bears_stripe_fees,
        "refund_fee": policy.refund_platform_fee,
    }


def _capture(conn: Connection, payment: CapturedPayment, *, cause: str) -> bool:
    """The capture the long way: the escrow opened if needed, then the machine's capture,
    or a capture after release (to the payable, with a transfer of its own) or after
    cancellation (counted, no machine event)."""
    escrow_id = open_escrow(
        conn, payment.org_id, payment.event_id, payment.currency, payment.event_ends_at
    )
    escrow = store.lock_escrow(conn, escrow_id)
    if store.payment_exists(conn, payment.payment_id):
        return False
    policy = store.get_policy(conn, payment.org_id)
    kind = capture_kind(escrow.state)
    booking = capture_booking(
        payment, policy, to="payable" if kind == "after_release" else "escrow"
    )
    entry = post(
        conn,
        payment.org_id,
        payment.currency,
        booking.legs,
        key=f"stripe:capture:{payment.payment_id}",
        description=f"Payment {payment.payment_id} captured",
        external_ref=payment.balance_transaction_id or payment.payment_id,
    )
    share = booking.share
    if kind == "after_release":
        # Past release the machine is done: the share joins what was released, and another
        # transfer is asked for it.
        adjust(conn, escrow, "capture_after_release", cause, captured=payment.gross, released=share)
        if share > 0:
            # One charge funds this transfer: naming it lets Stripe make the transfer once
            # that charge's funds are available, instead of refusing it meanwhile.
            request_transfer(
                conn,
                escrow,
                policy,
                share,
                key=payment.payment_id,
                source_transaction=payment.charge_id,
            )
    elif kind == "after_cancel":
        adjust(conn, escrow, "capture_after_cancel", cause, captured=payment.gross, held=share)
    else:
        transition(
            conn,
            escrow,
            "capture",
            cause=cause,
            entry_id=entry.id,
            changes={"captured": escrow.captured + payment.gross, "held": escrow.held + share},
        )
    store.record_payment(
        conn,
        {
            "org": payment.org_id,
            "escrow": escrow.id,
            "gross": payment.gross,
            "entry": entry.id,
            **_payment_values(payment, booking.fee, policy),
        },
    )
    return True
