"""The stand-in's event log and `GET /v1/events`, as the stripe library reads Stripe's list over
HTTP: every event the account builds is logged; the list object's shape (after Stripe's
fixtures: `object`, `data`, `has_more`, `url`), newest first, `limit`, `starting_after` and
`ending_before`, `created[gte|gt|lte|lt]`, `type` with `*`, `types[]`, Stripe's refusals, and
the list's own faults."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
import stripe

from liventix.testing.stripe import StripeStandIn


@pytest.fixture
def account() -> Iterator[StripeStandIn]:
    standin = StripeStandIn().start()
    yield standin
    standin.close()


@pytest.fixture
def client(account: StripeStandIn) -> stripe.StripeClient:
    return stripe.StripeClient(
        "sk_test_events", base_addresses={"api": account.url}, max_network_retries=0
    )


def _listed(client: stripe.StripeClient, **params: Any) -> tuple[list[str], bool, Any]:
    page = client.v1.events.list(params=params)  # type: ignore[arg-type]
    assert page.last_response is not None
    data: Any = page.last_response.data
    return [str(e["id"]) for e in data["data"]], bool(data["has_more"]), data


def _six(account: StripeStandIn) -> list[str]:
    """Six events Stripe created at 1000, 1001, ... 1005: payouts, a payment's, refunds'."""
    ids = []
    for n in range(4):
        ids.append(str(account.payout("EUR", 100 + n)["id"]))
    intent = account.create_payment_intent(
        amount=2_500, currency="eur", metadata={}, idempotency_key="k"
    )
    ids.append(str(account.succeed(intent.id)["id"]))
    refund = account.create_refund(
        payment_intent_id=intent.id, amount=500, metadata={}, idempotency_key="r"
    )
    ids.append(str(account.refund_events(refund, stale_first=False, with_charge=False)[0]["id"]))
    for n, event_id in enumerate(ids):
        account.backdate_event(event_id, 1_000 + n)
    return ids


def test_every_event_built_is_logged_and_listed_newest_first(
    account: StripeStandIn, client: stripe.StripeClient
) -> None:
    ids = _six(account)
    assert [e["id"] for e in account.logged_events()] == ids
    listed, more, data = _listed(client)
    assert (listed, more) == (ids[::-1], False)
    assert (data["object"], data["url"]) == ("list", "/v1/events")
    assert {e["object"] for e in data["data"]} == {"event"}


def test_the_list_pages_both_ways(account: StripeStandIn, client: stripe.StripeClient) -> None:
    ids = _six(account)[::-1]  # newest first
    assert _listed(client, limit=2)[:2] == (ids[:2], True)
    assert _listed(client, limit=2, starting_after=ids[1])[:2] == (ids[2:4], True)
    assert _listed(client, limit=2, starting_after=ids[3])[:2] == (ids[4:], False)
    # ending_before: the page just newer than the cursor, still newest first.
    assert _listed(client, limit=2, ending_before=ids[4])[:2] == (ids[2:4], True)
    assert _listed(client, limit=3, ending_before=ids[2])[:2] == (ids[:2], False)
    # The library's own paging walks them all.
    page = client.v1.events.list(params={"limit": 4})
    assert [e.id for e in page.auto_paging_iter()] == ids


def test_the_list_filters_by_time_and_type(
    account: StripeStandIn, client: stripe.StripeClient
) -> None:
    ids = _six(account)
    by_time: Any = {"gte": 1_001, "lt": 1_004}
    assert _listed(client, created=by_time)[0] == [ids[3], ids[2], ids[1]]
    assert _listed(client, created={"gt": 1_003, "lte": 1_005})[0] == [ids[5], ids[4]]
    assert _listed(client, created=1_002)[0] == [ids[2]]
    assert _listed(client, type="payout.paid")[0] == ids[3::-1]
    assert _listed(client, type="payment_intent.*")[0] == [ids[4]]
    assert _listed(client, types=["refund.updated", "payment_intent.succeeded"])[0] == [
        ids[5],
        ids[4],
    ]


@pytest.mark.parametrize(
    ("params", "status", "words"),
    [
        ({"limit": 0}, 400, "greater than or equal to 1"),
        ({"limit": 101}, 400, "less than or equal to 100"),
        ({"starting_after": "evt_unknown"}, 404, "No such event"),
        ({"starting_after": "x", "ending_before": "y"}, 400, "only specify one"),
        ({"type": "payout.paid", "types": ["payout.paid"]}, 400, "only specify one"),
        ({"types": [f"t.{n}" for n in range(21)]}, 400, "up to 20 types"),
    ],
)
def test_the_list_refuses_as_stripe_does(
    account: StripeStandIn,
    client: stripe.StripeClient,
    params: dict[str, Any],
    status: int,
    words: str,
) -> None:
    _six(account)
    with pytest.raises(stripe.StripeError) as refused:
        client.v1.events.list(params=params)  # type: ignore[arg-type]
    assert refused.value.http_status == status
    assert words in str(refused.value)


def test_the_lists_faults(account: StripeStandIn, client: stripe.StripeClient) -> None:
    """`fail_list`: the list answers from its second call on with Stripe's outage, once."""
    ids = _six(account)
    account.fail_list("/v1/events", after=1)
    assert len(_listed(client)[0]) == len(ids)
    with pytest.raises(stripe.APIError) as outage:
        client.v1.events.list()
    assert outage.value.http_status == 500
    assert len(_listed(client)[0]) == len(ids)
    assert account.injected["fail"] == 1
