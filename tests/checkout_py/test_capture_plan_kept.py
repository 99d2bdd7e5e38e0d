"""`escrow.call_for` finds a payment's plan by the identity of the facts the connection keeps
(`escrow.payments._plan_for`, session 35) before `_capture_plan`'s own cache: the facts'
accounts changed in place, other facts with the same content, another payment's terms and
terms of other types all answer as `_capture_plan` does."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

import pytest

import escrow
from escrow import recipes, store
from escrow.payments import _PLANS_BY_FACTS, _capture_plan, _CapturePlan, call_for

ENDS = datetime(2027, 1, 1, tzinfo=UTC)
ACCOUNTS = (recipes.stripe_balance, recipes.stripe_fees, recipes.platform_fees)


def _ids(event: str, base: int) -> dict[tuple[recipes.Owner, str], uuid.UUID]:
    specs = [spec("USD") for spec in ACCOUNTS] + [recipes.escrow_account(event, "USD")]
    return {(s.owner, s.code): uuid.UUID(int=base + n) for n, s in enumerate(specs)}


def _payment(event: str, gross: int = 5_000, fee: int = 175) -> escrow.CapturedPayment:
    return escrow.CapturedPayment("pi_k", uuid.UUID(int=9), event, "USD", gross, fee, ENDS)


def _expected(payment: escrow.CapturedPayment, known: store.KnownFacts) -> _CapturePlan | None:
    policy, _stored, ids = known
    return _capture_plan(
        policy,
        payment.event_id,
        payment.currency,
        gross=payment.gross,
        stripe_fee=payment.stripe_fee,
        ids=tuple(ids.items()),
    )


def _accounts(call: escrow.CaptureCall | None) -> str:
    assert call is not None
    return str(call.params["capture_accounts"])


def test_accounts_changed_in_place_are_read_again() -> None:
    """The same facts' mapping given another account id: the next call names it (fails if
    the kept plan were answered by the facts' identity alone)."""
    ids = _ids("evk1", 100)
    known: store.KnownFacts = (escrow.Policy(), True, ids)
    payment = _payment("evk1")
    first = call_for(payment, known, cause="evt")
    assert str(uuid.UUID(int=103)) in _accounts(first)
    held = recipes.escrow_account("evk1", "USD")
    ids[held.owner, held.code] = uuid.UUID(int=999)
    again = call_for(payment, known, cause="evt")
    assert str(uuid.UUID(int=999)) in _accounts(again)
    assert str(uuid.UUID(int=103)) not in _accounts(again)
    plan = _expected(payment, known)
    assert plan is not None and again is not None
    assert again.params["capture_accounts"] == plan.accounts


def test_an_account_closed_in_place_answers_none() -> None:
    """An account dropped from the kept mapping: None (the long way), as `_capture_plan`."""
    ids = _ids("evk2", 200)
    known: store.KnownFacts = (escrow.Policy(), True, ids)
    payment = _payment("evk2")
    assert call_for(payment, known, cause="evt") is not None
    ids.pop(next(iter(ids)))
    assert call_for(payment, known, cause="evt") is None


def test_other_terms_and_other_facts() -> None:
    """Another amount on the same facts, and equal facts in another tuple: each call's
    parameters are the ones `_capture_plan` renders for its own terms."""
    known: store.KnownFacts = (escrow.Policy(), True, _ids("evk3", 300))
    twin: store.KnownFacts = (escrow.Policy(), True, _ids("evk3", 300))
    for facts in (known, twin, known):
        for gross, fee in ((5_000, 175), (7_500, 248), (5_000, 175)):
            payment = _payment("evk3", gross, fee)
            call = call_for(payment, facts, cause="evt")
            plan = _expected(payment, facts)
            assert call is not None and plan is not None
            assert call.params["capture_fee"] == plan.fee
            assert call.params["capture_share"] == plan.share
            assert call.params["capture_amounts"] == plan.amounts
    assert any(entry[0] is known for entry in _PLANS_BY_FACTS.values())


def test_a_bool_amount_goes_the_typed_way() -> None:
    """A gross of another type than int (True == 1) is not answered from an int's plan."""
    known: store.KnownFacts = (escrow.Policy(), True, _ids("evk4", 400))
    assert call_for(_payment("evk4", 1, 0), known, cause="evt") is not None
    odd = escrow.CapturedPayment("pi_b", uuid.UUID(int=9), "evk4", "USD", True, 0, ENDS)
    with pytest.raises(escrow.InvalidAmount):
        call_for(odd, known, cause="evt")
