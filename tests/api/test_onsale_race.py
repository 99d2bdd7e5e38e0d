"""The on-sale over HTTP (issue 11): 200 buyers race for the last 50 seats through
`POST /v1/checkouts`, against the product's Stripe stand-in answering after 200 ms and
sometimes failing (500) or hanging past the gateway's timeout.

The API is a real uvicorn server on 127.0.0.1 with a database of its own; the buyers are 200
concurrent HTTP clients. A buyer told 503 retries under the same Idempotency-Key after
`Retry-After`, as a real client does; every tenth gives up instead, and its hold expires (the
clock is moved on in the database). The hold sweeper frees those seats and asks Stripe,
through the outbox, to cancel their PaymentIntents; a second wave of buyers takes the freed
seats. Every sold order is paid through signed Stripe events. Then:
- exactly 50 seats are sold and none twice;
- no buyer is charged without tickets: every PaymentIntent at Stripe is paid for an order
  with issued tickets, or cancelled;
- the trial balance, the escrow position and the ticket tie-out report zero differences.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field

import httpx
import pytest
import sqlalchemy as sa

import ticketing_fsm as tk
from liventix import reports
from tests.api.standin_api import StandInApi, standin_api

pytestmark = pytest.mark.slow

SEATS = 50
BUYERS = 200
LATENCY_MS = 200
MAX_ATTEMPTS = 15
GIVES_UP = 2
"""Every second buyer told 503 gives up instead of retrying (with 30% of Stripe's answers
failing, some of the ~25 such buyers that reach Stripe always meet a fault)."""

Race = StandInApi


@dataclass
class Outcome:
    """What the buyers saw."""

    sold: dict[str, dict[str, object]] = field(default_factory=dict)
    refused: list[str] = field(default_factory=list)
    gave_up: list[str] = field(default_factory=list)
    unavailable: int = 0


@pytest.fixture
def race(pg_server_url: str, template_db: str) -> Iterator[Race]:
    """An API of its own, wired to a slow and faulty stand-in, with one event of 50 seats."""
    with standin_api(
        pg_server_url,
        template_db,
        capacity=SEATS,
        latency_ms=LATENCY_MS,
        fail_rate=0.25,
        hang_rate=0.05,
        hang_seconds=5.0,
        seed=11,
    ) as api:
        yield api


async def _buyer(
    client: httpx.AsyncClient, race: Race, n: int, outcome: Outcome, *, patient: bool
) -> None:
    key = f"buyer-{n}"
    body = {
        "event_id": race.event,
        "buyer_email": f"{key}@example.com",
        "items": [{"ticket_type_id": race.ticket_type, "quantity": 1}],
    }
    for _attempt in range(MAX_ATTEMPTS):
        response = await client.post("/v1/checkouts", json=body, headers={"Idempotency-Key": key})
        if response.status_code == 201:
            outcome.sold[key] = response.json()
            return
        if response.status_code == 409:
            assert response.json()["type"].endswith("/sold-out"), response.text
            outcome.refused.append(key)
            return
        assert response.status_code == 503, response.text
        assert response.json()["type"].endswith("/payment-provider-unavailable")
        outcome.unavailable += 1
        if not patient:
            outcome.gave_up.append(key)
            return
        await asyncio.sleep(float(response.headers["Retry-After"]) / 4)
    raise AssertionError(f"{key}: still unavailable after {MAX_ATTEMPTS} attempts")


async def _wave(race: Race, numbers: range, outcome: Outcome, *, faults: bool) -> None:
    limits = httpx.Limits(max_connections=len(numbers), max_keepalive_connections=len(numbers))
    async with httpx.AsyncClient(
        base_url=race.url,
        headers={"Authorization": f"Bearer {race.key}"},
        timeout=60.0,
        limits=limits,
    ) as client:
        await asyncio.gather(
            *(
                _buyer(client, race, n, outcome, patient=not faults or n % GIVES_UP != 0)
                for n in numbers
            )
        )


def test_200_buyers_race_for_50_seats_with_a_slow_failing_stripe(race: Race) -> None:
    first = Outcome()
    asyncio.run(_wave(race, range(BUYERS), first, faults=True))
    assert first.unavailable > 0, "the stand-in's faults never reached a buyer"
    assert first.gave_up, "no buyer gave up: the expiry path was not exercised"
    assert len(first.sold) + len(first.gave_up) <= SEATS
    assert len(first.sold) + len(first.refused) + len(first.gave_up) == BUYERS

    # Stripe recovers; the abandoned holds expire: the clock moves on (in the database,
    # whose time every session shares).
    race.stripe.fail_rate = race.stripe.hang_rate = 0.0
    with race.engine.begin() as conn:
        expired = conn.execute(
            sa.text("""UPDATE ticketing.orders SET hold_expires_at = now() - interval '1 second'
                        WHERE idempotency_key = ANY(:keys) AND status = 'awaiting_payment'"""),
            {"keys": [f"api:{k}" for k in first.gave_up]},
        ).rowcount
        assert tk.expire_holds(conn, limit=1_000) == expired
    race.drain()  # the cancel tasks reach Stripe

    # The freed seats sell to a second wave.
    second = Outcome()
    asyncio.run(_wave(race, range(BUYERS, BUYERS + 2 * SEATS), second, faults=False))
    sold = {**first.sold, **second.sold}
    assert len(sold) == SEATS

    for checkout in sold.values():
        race.pay(str(checkout["payment_intent_id"]))
    race.drain()

    with race.engine.connect() as conn:
        counters = conn.execute(
            sa.text("SELECT capacity, held, sold FROM ticketing.ticket_types WHERE id = :id"),
            {"id": race.ticket_type},
        ).one()
        assert (counters.capacity, counters.held, counters.sold) == (SEATS, 0, SEATS)
        tickets = conn.execute(
            sa.text("""SELECT t.code, o.idempotency_key, o.payment_intent_id, o.status
                         FROM ticketing.tickets t JOIN ticketing.orders o ON o.id = t.order_id
                        WHERE t.status = 'issued'""")
        ).all()
        assert len(tickets) == SEATS
        assert len({t.code for t in tickets}) == SEATS, "a seat sold twice"
        assert {t.idempotency_key for t in tickets} == {f"api:{k}" for k in sold}
        paid_orders = {t.payment_intent_id for t in tickets}
        orders = conn.execute(
            sa.text("SELECT idempotency_key, status, payment_intent_id FROM ticketing.orders")
        ).all()

    # Every finance report, the Stripe reconciliation against the stand-in's balance.
    assert race.differences() == {}
    # No buyer charged without tickets: every intent at Stripe is paid for an order whose
    # tickets were issued, or cancelled (those of the holds that expired).
    intents = dict(race.stripe.intents)
    assert {i for i, x in intents.items() if x.status == "succeeded"} == paid_orders
    unpaid = {i: x.status for i, x in intents.items() if i not in paid_orders}
    assert set(unpaid.values()) <= {"canceled"}, unpaid
    # Refused buyers never reached Stripe; those who gave up have their order cancelled.
    keys = {o.idempotency_key: o for o in orders}
    assert not any(f"api:{k}" in keys for k in first.refused + second.refused)
    assert {keys[f"api:{k}"].status for k in first.gave_up} == {"cancelled"}


def test_a_payment_for_an_intent_never_recorded_finds_its_order(race: Race) -> None:
    """The checkout died between Stripe's answer and the record (a crash, a deploy): the
    PaymentIntent exists at Stripe, the order does not name it. Paid within the hold, the
    payment issues the order's tickets; paid after the hold expired, it is refunded in full."""
    with race.engine.connect() as conn:
        org = conn.execute(
            sa.text("SELECT org_id FROM ticketing.events WHERE id = :id"), {"id": race.event}
        ).scalar_one()
    pendings = []
    for key in ("api:crashed-1", "api:crashed-2"):
        request = tk.CheckoutRequest(
            key,
            org,
            uuid.UUID(race.event),
            "crash@example.com",
            [tk.CheckoutItem(uuid.UUID(race.ticket_type), 2)],
        )
        with race.engine.begin() as conn:
            pending = tk.reserve_checkout(conn, request)
        assert isinstance(pending, tk.PendingCheckout)
        created = race.stripe.create_payment_intent(
            amount=pending.intent.amount,
            currency=pending.intent.currency,
            metadata=pending.intent.metadata,
            idempotency_key=pending.intent.idempotency_key,
        )
        pendings.append((pending, created.id))
    (within, within_pi), (late, late_pi) = pendings
    with race.engine.begin() as conn:
        conn.execute(
            sa.text(
                "UPDATE ticketing.orders SET hold_expires_at = now() - interval '1 second'"
                " WHERE id = :id"
            ),
            {"id": late.order_id},
        )
    for pi in (within_pi, late_pi):
        race.pay(pi)
    race.drain()  # the late payment's refund is asked of Stripe
    (refund,) = race.stripe.refunds.values()
    for event in race.stripe.refund_events(refund, stale_first=False, with_charge=False):
        race.post_event(event)
    race.drain()
    with race.engine.connect() as conn:
        paid = tk.get_order(conn, within.order_id)
        assert (paid.status, paid.payment_intent_id, paid.paid) == ("paid", within_pi, paid.amount)
        assert [t.status for t in tk.tickets_of(conn, within.order_id)] == ["issued", "issued"]
        refunded = tk.get_order(conn, late.order_id)
        assert (refunded.status, refunded.payment_intent_id) == ("cancelled", late_pi)
        assert refunded.refunded == refunded.amount
        position = reports.escrow_position(conn)
        assert position.differences == 0, position.model_dump_json(indent=1)
