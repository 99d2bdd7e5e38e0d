"""The Stripe stand-in's weather and its cancellations, through the stripe library over HTTP:
its latency is waited out outside its lock (concurrent requests overlap, each with its effect
done), injected outages create nothing (a retry under the same key creates the intent),
hangs create and lose the answer (a retry under the key finds it), the same seed meets the
same faults, and `POST /v1/payment_intents/{id}/cancel` behaves as Stripe's."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
import stripe

import escrow
from liventix.stripe_gateway import StripeGateway, StripeSettings
from liventix.testing.stripe import StandInServer, StripeRefusal, StripeStandIn
from liventix.testing.stripe.server import latency_left

WAIT = 30.0
"""Deadline of the polls below (never reached unless something is broken)."""


class Stand:
    """A stand-in served on 127.0.0.1, with a gateway and a raw stripe client on it."""

    def __init__(self, account: StripeStandIn) -> None:
        self.account = account
        self.server = StandInServer(account)
        self.gateway = StripeGateway(
            StripeSettings(api_base=self.server.url, max_network_retries=0)
        )
        self.client = self.gateway.client

    def impatient_client(self, timeout: float) -> stripe.StripeClient:
        """A stripe client that gives up after `timeout` seconds, without retries."""
        return stripe.StripeClient(
            "sk_test_liventix",
            base_addresses={"api": self.server.url},
            max_network_retries=0,
            http_client=stripe.new_default_http_client(timeout=timeout),
        )


@pytest.fixture
def stand() -> Iterator[Callable[..., Stand]]:
    made: list[Stand] = []

    def make(**faults: Any) -> Stand:
        s = Stand(StripeStandIn(**faults))
        threading.Thread(target=s.server.serve_forever, daemon=True).start()
        made.append(s)
        return s

    try:
        yield make
    finally:
        for s in made:
            s.server.shutdown()
            s.server.server_close()


def _until(condition: Callable[[], bool], what: str) -> None:
    deadline = time.monotonic() + WAIT
    while not condition():
        assert time.monotonic() < deadline, f"never: {what}"
        time.sleep(0.01)


def test_latency_is_waited_out_by_every_request_at_once(stand: Callable[..., Stand]) -> None:
    s = stand()
    n = 64
    # Long enough that nothing answers before all are in: the test releases them.
    s.account.latency_ms = 60_000
    start = threading.Barrier(n)

    def buy(i: int) -> str:
        start.wait()
        return s.gateway.create_payment_intent(
            1_000 + i, "EUR", {"i": str(i)}, f"k{i}"
        ).payment_intent_id

    with ThreadPoolExecutor(n) as pool:
        futures = [pool.submit(buy, i) for i in range(n)]
        # Every request made its effect and is now waiting out its latency, all at once:
        # were the wait inside the account's lock, one intent would exist and one request
        # would be waiting.
        _until(lambda: s.account.in_flight == n and len(s.account.intents) == n, "all in")
        assert not any(f.done() for f in futures)
        s.server.stop_waiting()
        made = [f.result(timeout=WAIT) for f in futures]
    assert sorted(made) == sorted(s.account.intents)
    assert s.account.max_in_flight == n and s.account.in_flight == 0


def test_the_latency_counts_from_the_requests_arrival() -> None:
    # As a remote Stripe's: the stand-in's own work (40 ms here) is part of the latency, and
    # work that outlasts it adds no wait.
    assert latency_left(250, arrived=10.0, now=10.04) == pytest.approx(0.21)
    assert latency_left(250, arrived=10.0, now=10.3) < 0
    assert latency_left(0, arrived=10.0, now=10.0) == 0


def test_latency_delays_cancels_refunds_transfers_and_reads(stand: Callable[..., Stand]) -> None:
    s = stand()
    paid = s.gateway.create_payment_intent(5_000, "EUR", {}, "paid").payment_intent_id
    s.account.succeed(paid)
    open_ = s.gateway.create_payment_intent(2_000, "EUR", {}, "open").payment_intent_id
    s.account.latency_ms = 60_000
    transfer = escrow.TransferRequested(
        escrow_id="e1",
        org_id="o1",
        event_id="ev1",
        amount=100,
        currency="EUR",
        destination="acct_1",
    )
    calls: list[Callable[[], object]] = [
        lambda: s.client.v1.payment_intents.cancel(open_, options={"idempotency_key": "c1"}),
        lambda: s.gateway.create_refund(paid, 1_000, {}, "r1"),
        lambda: s.gateway.create_transfer(transfer, idempotency_key="t1"),
        lambda: s.gateway.charge_facts(paid),
    ]
    with ThreadPoolExecutor(len(calls)) as pool:
        futures = [pool.submit(call) for call in calls]
        _until(lambda: s.account.in_flight == len(calls), "all four waiting")
        # Their effects are done; their answers wait.
        assert s.account.intents[open_].status == "canceled"
        assert len(s.account.refunds) == 1 and len(s.account.transfers) == 1
        assert not any(f.done() for f in futures)
        s.server.stop_waiting()
        for f in futures:
            f.result(timeout=WAIT)


def test_an_outage_creates_nothing_and_a_retry_under_the_key_creates_the_intent(
    stand: Callable[..., Stand],
) -> None:
    s = stand(fail_rate=1.0)
    with pytest.raises(stripe.APIError) as raised:
        s.gateway.create_payment_intent(1_000, "EUR", {"order": "o1"}, "key-1")
    assert raised.value.http_status == 500
    assert raised.value.error is not None and raised.value.error.type == "api_error"
    assert s.account.intents == {} and s.account.injected == {"fail": 1, "hang": 0}
    s.account.fail_rate = 0.0
    created = s.gateway.create_payment_intent(1_000, "EUR", {"order": "o1"}, "key-1")
    assert list(s.account.intents) == [created.payment_intent_id]
    assert s.gateway.create_payment_intent(1_000, "EUR", {"order": "o1"}, "key-1") == created
    # The key stays bound to its parameters.
    with pytest.raises(stripe.IdempotencyError):
        s.gateway.create_payment_intent(1_001, "EUR", {"order": "o1"}, "key-1")


def _faults_met(s: Stand, keys: list[str]) -> dict[str, int]:
    """Create an intent under each key (from 8 threads), retrying a failed attempt under the
    same key; returns how many attempts each key took."""

    def create(key: str) -> tuple[str, int]:
        for attempt in range(1, 50):
            try:
                s.gateway.create_payment_intent(1_000, "EUR", {}, key)
                return key, attempt
            except stripe.APIError:
                continue
        raise AssertionError(f"{key} never went through")

    with ThreadPoolExecutor(8) as pool:
        return dict(pool.map(create, keys))


def test_the_same_seed_meets_the_same_faults(stand: Callable[..., Stand]) -> None:
    keys = [f"key-{i}" for i in range(120)]
    first = stand(fail_rate=0.3, seed=7)
    attempts = _faults_met(first, keys)
    again = stand(fail_rate=0.3, seed=7)
    assert _faults_met(again, list(reversed(keys))) == attempts
    failed = sum(a - 1 for a in attempts.values())
    assert failed == first.account.injected["fail"] == again.account.injected["fail"]
    # Some failed, most did not: the rate is applied, not all or nothing.
    assert 0 < sum(1 for a in attempts.values() if a > 1) < len(keys) // 2
    assert len(first.account.intents) == len(keys) == len(again.account.intents)
    other = stand(fail_rate=0.3, seed=8)
    assert _faults_met(other, keys) != attempts


def test_a_hang_creates_the_intent_and_loses_the_answer(stand: Callable[..., Stand]) -> None:
    s = stand(hang_rate=1.0, hang_seconds=60.0)
    impatient = s.impatient_client(timeout=0.5)
    params: Any = {"amount": 1_000, "currency": "eur", "metadata": {"order": "o1"}}
    with pytest.raises(stripe.APIConnectionError):
        impatient.v1.payment_intents.create(params=params, options={"idempotency_key": "k"})
    [pi] = s.account.intents
    assert s.account.injected == {"fail": 0, "hang": 1}
    s.account.hang_rate = 0.0
    found = impatient.v1.payment_intents.create(params=params, options={"idempotency_key": "k"})
    assert found.id == pi and found.status == "requires_payment_method"


def test_cancel_as_stripe_does(stand: Callable[..., Stand]) -> None:
    s = stand()
    client, account = s.client, s.account
    pi = s.gateway.create_payment_intent(1_000, "EUR", {"order": "o1"}, "k").payment_intent_id
    assert client.v1.payment_intents.retrieve(pi).status == "requires_payment_method"

    canceled = client.v1.payment_intents.cancel(
        pi, params={"cancellation_reason": "abandoned"}, options={"idempotency_key": "cancel-1"}
    )
    assert (canceled.status, canceled.cancellation_reason) == ("canceled", "abandoned")
    assert canceled.canceled_at is not None and canceled.amount_received == 0
    shown = client.v1.payment_intents.retrieve(pi)
    assert (shown.status, shown.cancellation_reason) == ("canceled", "abandoned")
    # The same key replays the answer; another key finds it canceled already.
    again = client.v1.payment_intents.cancel(
        pi, params={"cancellation_reason": "abandoned"}, options={"idempotency_key": "cancel-1"}
    )
    assert (again.id, again.status, again.canceled_at) == (pi, "canceled", canceled.canceled_at)
    with pytest.raises(stripe.IdempotencyError):
        client.v1.payment_intents.cancel(
            pi, params={"cancellation_reason": "duplicate"}, options={"idempotency_key": "cancel-1"}
        )
    with pytest.raises(stripe.InvalidRequestError) as twice:
        client.v1.payment_intents.cancel(pi, options={"idempotency_key": "cancel-2"})
    assert twice.value.http_status == 400 and twice.value.code == "payment_intent_unexpected_state"

    # A canceled intent is never paid, charged or refunded.
    with pytest.raises(StripeRefusal) as unpaid:
        account.succeed(pi)
    assert unpaid.value.code == "payment_intent_unexpected_state"
    assert account.succeeded == set() and account.balance_transactions() == []
    with pytest.raises(stripe.InvalidRequestError) as refund:
        s.gateway.create_refund(pi, 100, {}, "refund-1")
    assert refund.value.code == "charge_not_refundable"
    [told] = account.canceled_events(set())
    assert told["type"] == "payment_intent.canceled"
    assert told["data"]["object"]["status"] == "canceled"
    assert account.canceled_events({pi}) == []


def test_a_paid_intent_cannot_be_canceled_nor_paid_twice(stand: Callable[..., Stand]) -> None:
    s = stand()
    client, account = s.client, s.account
    pi = s.gateway.create_payment_intent(1_000, "EUR", {}, "k").payment_intent_id
    declined = account.fail(pi)
    assert declined["data"]["object"]["last_payment_error"]["code"] == "card_declined"
    assert client.v1.payment_intents.retrieve(pi).status == "requires_payment_method"
    paid = account.succeed(pi)  # another card, after the decline
    assert paid["data"]["object"]["status"] == "succeeded"
    assert paid["data"]["object"]["last_payment_error"] is None
    with pytest.raises(stripe.InvalidRequestError) as refused:
        client.v1.payment_intents.cancel(pi, options={"idempotency_key": "c"})
    assert refused.value.code == "payment_intent_unexpected_state"
    assert client.v1.payment_intents.retrieve(pi).status == "succeeded"
    with pytest.raises(StripeRefusal):
        account.succeed(pi)
    assert len(account.balance_transactions()) == 1
    with pytest.raises(stripe.InvalidRequestError) as missing:
        client.v1.payment_intents.cancel("pi_nothing", options={"idempotency_key": "c2"})
    assert missing.value.http_status == 404 and missing.value.code == "resource_missing"
    other = s.gateway.create_payment_intent(1_000, "EUR", {}, "k2").payment_intent_id
    with pytest.raises(stripe.InvalidRequestError) as bad:
        client.v1.payment_intents.cancel(
            other, params={"cancellation_reason": "bored"}, options={"idempotency_key": "c3"}
        )
    assert bad.value.code == "parameter_invalid"
    assert client.v1.payment_intents.retrieve(other).status == "requires_payment_method"
