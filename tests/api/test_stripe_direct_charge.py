"""The payment handler's read of a PaymentIntent with its charge (`StripeGateway.charge_facts`)
sent directly on the pooled connections (`DirectIntents.with_charge`): on the wire it is the
stripe library's read (the same path, expansion, headers), its facts are the library's, an
unpaid intent is told to wait without asking twice, and what the direct read does not take
(Stripe's error, an object not expanded) goes to the library."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import UTC, datetime

import pytest
import stripe

import escrow
from liventix.stripe_gateway import StripeGateway, StripeSettings
from liventix.stripe_gateway.gateway import _charge_facts
from liventix.testing.stripe import StripeStandIn


@pytest.fixture
def standin() -> Iterator[StripeStandIn]:
    """A Stripe stand-in of the test's own."""
    server = StripeStandIn().start()
    try:
        yield server
    finally:
        server.close()


def _paid(standin: StripeStandIn, gateway: StripeGateway, amount: int = 5_000) -> str:
    pi = gateway.create_payment_intent(amount, "EUR", {}, f"k-{uuid.uuid4()}").payment_intent_id
    standin.succeed(pi)
    return pi


def test_the_direct_read_is_the_librarys_read(standin: StripeStandIn) -> None:
    gateway = StripeGateway(StripeSettings(api_base=standin.url))
    assert gateway.intents is not None
    pi = _paid(standin, gateway)
    path = f"/v1/payment_intents/{pi}"
    direct = gateway.charge_facts(pi)
    (sent,) = standin.requests("GET", path)
    assert gateway.intents.with_charge(pi) is not None  # read directly, not by the library
    gateway.intents = None  # the library's own read, for comparison
    assert gateway.charge_facts(pi) == direct
    library = standin.requests("GET", path)[-1]
    assert direct.charge_id.startswith("ch_") and direct.stripe_fee > 0
    assert direct.balance_transaction_id is not None
    assert sent.query == library.query == {"expand[0]": "latest_charge.balance_transaction"}
    for name in (
        "Authorization",
        "Stripe-Version",
        "User-Agent",
        "X-Stripe-Client-User-Agent",
        "Content-Type",
        "Idempotency-Key",
    ):
        assert sent.header(name) == library.header(name), name


def test_an_unpaid_intent_waits_after_one_read(standin: StripeStandIn) -> None:
    gateway = StripeGateway(StripeSettings(api_base=standin.url))
    pi = gateway.create_payment_intent(1_000, "EUR", {}, f"k-{uuid.uuid4()}").payment_intent_id
    with pytest.raises(escrow.NotYetApplicable):
        gateway.charge_facts(pi)
    assert len(standin.requests("GET", f"/v1/payment_intents/{pi}")) == 1


def test_stripes_refusal_is_the_librarys_error(standin: StripeStandIn) -> None:
    gateway = StripeGateway(StripeSettings(api_base=standin.url, max_network_retries=0))
    assert gateway.intents is not None
    assert gateway.intents.with_charge("pi_nothing") is None  # the library is asked then
    with pytest.raises(stripe.InvalidRequestError) as raised:
        gateway.charge_facts("pi_nothing")
    assert raised.value.code == "resource_missing"


def test_what_came_back_unexpanded_goes_to_the_library() -> None:
    assert _charge_facts("pi_1", {"latest_charge": "ch_1"}) is None
    assert (
        _charge_facts("pi_1", {"latest_charge": {"id": "ch_1", "balance_transaction": "txn_1"}})
        is None
    )
    assert _charge_facts(
        "pi_1", {"latest_charge": {"id": "ch_1", "balance_transaction": None}}
    ) == escrow.ChargeFacts("ch_1", None, 0)
    assert _charge_facts(
        "pi_1",
        {"latest_charge": {"id": "ch_1", "balance_transaction": {"id": "txn_1", "fee": 175}}},
    ) == escrow.ChargeFacts("ch_1", "txn_1", 175)
    # The charge's `created` (when the buyer paid: a bank debit's start) is read with it.
    assert _charge_facts(
        "pi_1",
        {"latest_charge": {"id": "ch_1", "balance_transaction": None, "created": 1_700_000_000}},
    ) == escrow.ChargeFacts("ch_1", None, 0, datetime(2023, 11, 14, 22, 13, 20, tzinfo=UTC))
    with pytest.raises(escrow.NotYetApplicable):
        _charge_facts("pi_1", {"latest_charge": None})
