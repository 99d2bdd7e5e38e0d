"""`escrow.capture_call`'s parameters, now made from a booking remembered per distinct terms,
amounts and accounts (`escrow.payments._capture_plan`), are the ones the capture made before
(every booking built and its entry rendered by `ledger.PostEntry.payload` per payment): the
same fee, share, lines, literals and the ledger door's request hash, byte for byte, and the
same refusals. The reference below is that former code, kept here as the oracle."""

from __future__ import annotations

import hashlib
import json
import uuid
from datetime import UTC, datetime
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import escrow
import ledger
from escrow import recipes, store
from escrow.decisions import capture_booking
from escrow.payments import _CAPTURE_PARAMS, _STAYING_LITERAL, _capture_plan, call_for
from pgdriver import array_literal

_CANONICAL = json.JSONEncoder(sort_keys=True, separators=(",", ":"), ensure_ascii=False)
ENDS = datetime(2027, 1, 1, tzinfo=UTC)


def _reference(
    payment: escrow.CapturedPayment, known: store.KnownFacts, cause: str
) -> dict[str, Any] | None:
    """The capture call's parameters as `capture_call` made them before (session 32)."""
    policy, stored, ids = known
    booking = capture_booking(payment, policy)
    legs = booking.legs
    if not all((leg.owner, leg.code) in ids for leg in legs):
        return None
    entry = ledger.PostEntry(
        idempotency_key=f"stripe:capture:{payment.payment_id}",
        lines=[
            ledger.Line(ids[(leg.owner, leg.code)], leg.side, leg.amount, payment.currency)
            for leg in booking.legs
        ],
        description=f"Payment {payment.payment_id} captured",
        external_ref=payment.balance_transaction_id or payment.payment_id,
    )
    payload = entry.payload()
    entry_lines = payload["lines"]
    body = {k: v for k, v in payload.items() if k != "key"}
    return {
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
        "capture_fee": booking.fee,
        "capture_stripe_fee": payment.stripe_fee,
        "capture_share": booking.share,
        "capture_cause": cause,
        "capture_key": payload["key"],
        "capture_hash": hashlib.sha256(_CANONICAL.encode(body).encode()).hexdigest(),
        "capture_accounts": array_literal([line["account_id"] for line in entry_lines]),
        "capture_sides": array_literal([line["side"] for line in entry_lines]),
        "capture_amounts": array_literal([line["amount"] for line in entry_lines]),
        "capture_currencies": array_literal([line["currency"] for line in entry_lines]),
        "capture_description": payload["description"],
        "capture_external_ref": payload["external_ref"],
        "capture_organizer_accounts": array_literal(
            [ids[(g.owner, g.code)] for g in legs if g.owner != "platform"]
        ),
        "capture_platform_accounts": array_literal(
            [ids[(g.owner, g.code)] for g in legs if g.owner == "platform"]
        ),
    }


def _outcome(fn: Any) -> tuple[str, Any]:
    try:
        return "ok", fn()
    except Exception as exc:  # the same refusal, typed and worded alike
        return type(exc).__name__, str(exc)


# A few values of each, so that bookings repeat (the remembered plan is then reused) and
# payments' ids vary (text to escape in the hash's JSON included).
TEXT = st.sampled_from(["pi_1", 'pi_"q"', "pi_\\b", "pi_é✓", "pi_\n", "", "x" * 250])
POLICIES = st.builds(
    escrow.Policy,
    platform_fee_bps=st.sampled_from([0, 250, 500, 10_000]),
    platform_fee_fixed=st.sampled_from([0, 30, 10**6]),
    bears_stripe_fees=st.booleans(),
    refund_platform_fee=st.booleans(),
)
ACCOUNTS = [
    recipes.stripe_balance,
    recipes.stripe_fees,
    recipes.platform_fees,
]


@st.composite
def _case(draw: Any) -> tuple[escrow.CapturedPayment, store.KnownFacts, str]:
    event = draw(st.sampled_from(["ev1", "ev2"]))
    currency = draw(st.sampled_from(["USD", "JPY", "usd"]))
    gross = draw(st.sampled_from([1, 2_500, 5_000, 10**7, 0, -5, 2**63]) | st.integers(1, 10**9))
    fee = draw(st.sampled_from([0, 175, 5_000, gross]) | st.integers(0, max(0, gross)))
    payment = escrow.CapturedPayment(
        payment_id=draw(TEXT),
        org_id=uuid.UUID(int=7),
        event_id=event,
        currency=currency,
        gross=gross,
        stripe_fee=fee,
        event_ends_at=ENDS,
        charge_id=draw(st.none() | TEXT),
        balance_transaction_id=draw(st.none() | TEXT),
    )
    specs = [spec(currency) for spec in ACCOUNTS] + [recipes.escrow_account(event, currency)]
    ids = {
        (s.owner, s.code): uuid.UUID(int=draw(st.integers(1, 3)) * 100 + n)
        for n, s in enumerate(specs)
    }
    if draw(st.booleans()) and draw(st.booleans()):
        ids.pop(draw(st.sampled_from(sorted(ids))))  # an account not open
    return payment, (draw(POLICIES), draw(st.booleans()), ids), draw(TEXT)


@settings(max_examples=3_000, deadline=None)
@given(_case())
def test_the_call_is_the_one_made_before(
    case: tuple[escrow.CapturedPayment, store.KnownFacts, str],
) -> None:
    payment, known, cause = case
    expected = _outcome(lambda: _reference(payment, known, cause))
    found = _outcome(
        lambda: None if (c := call_for(payment, known, cause=cause)) is None else c.params
    )
    assert found == expected
    if found[0] == "ok" and found[1] is not None:
        assert found[1].keys() == _CAPTURE_PARAMS
        # Asked again (the plan remembered), the same.
        again = call_for(payment, known, cause=cause)
        assert again is not None and again.params == found[1]


def test_a_float_amount_is_refused_even_after_the_same_int_booked() -> None:
    ids = {
        (s.owner, s.code): uuid.UUID(int=n)
        for n, s in enumerate(
            [spec("USD") for spec in ACCOUNTS] + [recipes.escrow_account("ev1", "USD")]
        )
    }
    known: store.KnownFacts = (escrow.Policy(), True, ids)
    paid = escrow.CapturedPayment("pi_f", uuid.UUID(int=7), "ev1", "USD", 5_000, 175, ENDS)
    assert call_for(paid, known, cause="evt") is not None
    floated = escrow.CapturedPayment(
        "pi_f",
        uuid.UUID(int=7),
        "ev1",
        "USD",
        5_000.0,  # type: ignore[arg-type]
        175,
        ENDS,
    )
    with pytest.raises(escrow.InvalidAmount):
        call_for(floated, known, cause="evt")


def test_the_remembered_plan_cannot_be_changed_in_place() -> None:
    """Every capture of one booking shares its plan: its lines are read-only, and a call's
    body gets copies (83acd61 stored the plan's list as it was: an edit of it changed the
    next captures' hash and not their arrays)."""
    ids = {
        (s.owner, s.code): uuid.UUID(int=n)
        for n, s in enumerate(
            [spec("USD") for spec in ACCOUNTS] + [recipes.escrow_account("ev2", "USD")]
        )
    }
    known: store.KnownFacts = (escrow.Policy(), True, ids)
    paid = escrow.CapturedPayment("pi_p", uuid.UUID(int=8), "ev2", "USD", 5_000, 175, ENDS)
    first = call_for(paid, known, cause="evt")
    assert first is not None
    plan = _capture_plan(
        escrow.Policy(), "ev2", "USD", gross=5_000, stripe_fee=175, ids=tuple(ids.items())
    )
    assert plan is not None and type(plan.lines) is tuple
    with pytest.raises(TypeError):
        plan.lines[0]["amount"] = 1  # type: ignore[index]
    again = call_for(paid, known, cause="evt")
    assert again is not None and again.params == first.params
