"""The demo's Stripe stand-in, called as the application calls Stripe: through
`StripeGateway` (the stripe library) over HTTP. Idempotent by key like Stripe (the same key
with other parameters is an idempotency error), a charge only after the buyer paid, and a
balance transaction for every movement whose nets sum to the balance."""

from __future__ import annotations

import threading
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime

import httpx
import pytest
import stripe

import escrow
from liventix.stripe_gateway import StripeGateway, StripeSettings
from liventix.testing.stripe import (
    DISPUTE_FEE,
    StandInServer,
    StripeStandIn,
    balance_transaction_of,
    charge_of,
    stripe_fee,
)


@pytest.fixture
def standin() -> Iterator[tuple[StripeStandIn, StripeGateway]]:
    account = StripeStandIn()
    server = StandInServer(account)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield account, StripeGateway(StripeSettings(api_base=server.url, max_network_retries=0))
    finally:
        server.shutdown()
        server.server_close()


def test_a_payment_refund_and_transfer_through_the_stripe_library(
    standin: tuple[StripeStandIn, StripeGateway],
) -> None:
    account, gateway = standin
    created = gateway.create_payment_intent(5_000, "EUR", {"order": "o1"}, "key-1")
    assert gateway.create_payment_intent(5_000, "EUR", {"order": "o1"}, "key-1") == created
    with pytest.raises(stripe.IdempotencyError):
        gateway.create_payment_intent(5_001, "EUR", {"order": "o1"}, "key-1")
    pi = created.payment_intent_id

    # Not paid yet: no charge, and escrow is told to wait.
    with pytest.raises(escrow.NotYetApplicable):
        gateway.charge_facts(pi)
    paid = account.succeed(pi)
    assert paid["type"] == "payment_intent.succeeded"
    facts = gateway.charge_facts(pi)
    charged = account.intents[pi].charged  # the charge's `created`: when the buyer paid
    assert charged is not None
    assert facts == escrow.ChargeFacts(
        charge_of(pi),
        balance_transaction_of(pi),
        stripe_fee(5_000),
        datetime.fromtimestamp(charged, UTC),
    )

    refund_id = gateway.create_refund(pi, 1_200, {"why": "seat"}, "refund-1")
    assert gateway.create_refund(pi, 1_200, {"why": "seat"}, "refund-1") == refund_id
    assert [
        (r.refund_id, r.amount, r.status) for r in gateway.refunds_of_charge(charge_of(pi))
    ] == [(refund_id, 1_200, "succeeded")]
    assert gateway.refunds_of_charge("ch_other") == []

    request = escrow.TransferRequested(
        escrow_id=str(uuid.uuid4()),
        org_id=str(uuid.uuid4()),
        event_id="event-1",
        amount=3_000,
        currency="EUR",
        destination="acct_1",
    )
    transfer_id, amount = gateway.create_transfer(request, idempotency_key="transfer-1")
    assert amount == 3_000 and transfer_id in account.transfers
    [created_event] = account.transfer_events()
    assert created_event["data"]["object"]["metadata"]["liventix_escrow_id"] == request.escrow_id

    disputed = account.dispute(pi, "lost")
    assert [e["type"] for e in disputed] == [
        "charge.dispute.created",
        "charge.dispute.funds_withdrawn",
        "charge.dispute.closed",
    ]
    payout = account.payout("EUR", 100)
    assert payout["data"]["object"]["status"] == "paid"

    moves = [(t["type"], t["amount"], t["fee"]) for t in account.balance_transactions()]
    assert moves == [
        ("charge", 5_000, stripe_fee(5_000)),
        ("refund", -1_200, 0),
        ("transfer", -3_000, 0),
        ("adjustment", -5_000, DISPUTE_FEE),
        ("payout", -100, 0),
    ]
    expected = 5_000 - stripe_fee(5_000) - 1_200 - 3_000 - 5_000 - DISPUTE_FEE - 100
    assert account.balance() == {"EUR": expected}
    assert all(t["net"] == t["amount"] - t["fee"] for t in account.balance_transactions())


def test_unknown_objects_answer_resource_missing(
    standin: tuple[StripeStandIn, StripeGateway],
) -> None:
    _, gateway = standin
    with pytest.raises(stripe.InvalidRequestError) as raised:
        gateway.charge_facts("pi_nothing")
    assert raised.value.code == "resource_missing"
    with pytest.raises(stripe.InvalidRequestError):
        gateway.create_refund("pi_nothing", 100, {}, "refund-x")


def test_refunds_stripe_would_refuse_are_refused(
    standin: tuple[StripeStandIn, StripeGateway],
) -> None:
    account, gateway = standin
    pi = gateway.create_payment_intent(1_000, "USD", {}, "key-r").payment_intent_id
    with pytest.raises(stripe.InvalidRequestError) as unpaid:
        gateway.create_refund(pi, 100, {}, "refund-early")
    assert unpaid.value.code == "charge_not_refundable"
    account.succeed(pi)
    gateway.create_refund(pi, 600, {}, "refund-1")
    with pytest.raises(stripe.InvalidRequestError) as too_much:
        gateway.create_refund(pi, 401, {}, "refund-2")
    assert too_much.value.code == "amount_too_large"
    gateway.create_refund(pi, 400, {}, "refund-3")
    assert sum(r.amount for r in gateway.refunds_of_charge(charge_of(pi))) == 1_000
    # A request without a parameter Stripe requires is a 400, not a dropped connection.
    url = gateway.settings.api_base
    answer = httpx.post(
        f"{url}/v1/refunds",
        data={"amount": "5"},
        headers={"Authorization": "Bearer sk_test_standin"},
    )
    assert answer.status_code == 400
    assert answer.json()["error"]["code"] == "parameter_missing"


def test_requests_without_a_secret_key_are_refused_and_every_request_is_recorded() -> None:
    account = StripeStandIn().start()
    try:
        created = httpx.post(
            f"{account.url}/v1/payment_intents",
            data={"amount": "700", "currency": "eur", "metadata[order]": "o7"},
            headers={"Authorization": "Bearer sk_test_standin", "Idempotency-Key": "k-7"},
        )
        assert created.status_code == 200, created.text
        pi = created.json()["id"]
        # Stripe takes the key as HTTP Basic's user name too (`curl -u sk_...:`).
        assert httpx.get(f"{account.url}/v1/payment_intents/{pi}", auth=("sk_test_x", "")).json()[
            "metadata"
        ] == {"order": "o7"}
        for headers in ({}, {"Authorization": "Bearer pk_test_publishable"}):
            refused = httpx.get(f"{account.url}/v1/payment_intents/{pi}", headers=headers)
            assert refused.status_code == 401
            assert refused.json()["error"]["type"] == "invalid_request_error"
        assert [(r.method, r.path) for r in account.requests()] == [
            ("POST", "/v1/payment_intents"),
            *[("GET", f"/v1/payment_intents/{pi}")] * 3,
        ]
        assert account.requests("POST")[0].form["metadata[order]"] == "o7"
        assert account.requests("POST")[0].header("Idempotency-Key") == "k-7"
    finally:
        account.close()
