"""Refunds made outside the platform (issue 12, item 4): in Stripe's Dashboard, or by another
integration. Their events (`refund.created`, `refund.updated`, `charge.refunded`), shuffled
and duplicated, reach the order whoever made the refund: a full refund refunds the order and
voids its tickets, a partial one leaves the tickets valid and the order partially refunded;
the organizer is told by webhook and e-mail; every finance report, the Stripe reconciliation
against the stand-in included, has zero differences afterwards.
"""

from __future__ import annotations

import random
import uuid
from collections.abc import Iterator

import pytest
import sqlalchemy as sa

import escrow
import ticketing_fsm as tk
from tests.api.standin_api import StandInApi, standin_api

PAYOUTS = "payouts@stadium.example"


@pytest.fixture
def api(pg_server_url: str, template_db: str) -> Iterator[StandInApi]:
    """The API and the stand-in; the organizer's policy names its payout e-mail."""
    with standin_api(pg_server_url, template_db, capacity=10) as found:
        with found.engine.begin() as conn:
            escrow.set_policy(conn, found.org, escrow.Policy(payout_email=PAYOUTS))
        yield found


def _bought(api: StandInApi, key: str) -> dict[str, object]:
    body = {
        "event_id": api.event,
        "buyer_email": f"{key}@example.com",
        "items": [{"ticket_type_id": api.ticket_type, "quantity": 2}],
    }
    with api.client() as client:
        response = client.post("/v1/checkouts", json=body, headers={"Idempotency-Key": key})
    assert response.status_code == 201, response.text
    checkout: dict[str, object] = response.json()
    api.pay(str(checkout["payment_intent_id"]))
    return checkout


def test_refunds_made_in_stripes_dashboard_reach_the_order(api: StandInApi) -> None:
    full, part = _bought(api, "full"), _bought(api, "part")
    api.drain()
    events = []
    for n, (checkout, amount) in enumerate(((full, 5_000), (part, 1_000), (part, 500))):
        refund = api.stripe.create_refund(
            payment_intent_id=str(checkout["payment_intent_id"]),
            amount=amount,
            metadata={},  # not the platform's: no order or refund of ours named
            idempotency_key=f"dashboard-{n}",
        )
        made = api.stripe.refund_events(refund, stale_first=True, with_charge=True)
        events += [*made, random.Random(7).choice(made)]  # and one again
    random.Random(11).shuffle(events)
    for event in events:
        api.post_event(event)
    api.drain()

    with api.engine.connect() as conn:
        whole = tk.get_order(conn, uuid.UUID(str(full["order_id"])))
        some = tk.get_order(conn, uuid.UUID(str(part["order_id"])))
        assert (whole.status, whole.refunded) == ("refunded", 5_000)
        assert {t.status for t in tk.tickets_of(conn, whole.id)} == {"refunded"}
        assert (some.status, some.refunded) == ("partially_refunded", 1_500)
        assert {t.status for t in tk.tickets_of(conn, some.id)} == {"issued"}
        told = conn.execute(
            sa.text("""SELECT m.aggregate_id, count(d.*) FILTER (WHERE d.channel = 'email'
                                                              AND d.recipient = :to) AS mails
                         FROM messaging.messages m JOIN messaging.deliveries d
                           ON d.message_id = m.id
                        WHERE m.type = 'order.refunded' GROUP BY m.aggregate_id"""),
            {"to": PAYOUTS},
        ).all()
        mails = {r.aggregate_id: r.mails for r in told}
        # Told once per amount refunded: once for the full refund; for the two partial ones
        # once or twice, as their events came (both may be booked before the first is told).
        assert mails[str(whole.id)] == 1 and mails[str(some.id)] in (1, 2)
        assert set(mails) == {str(whole.id), str(some.id)}
        sold = conn.execute(
            sa.text("SELECT sold FROM ticketing.ticket_types WHERE id = :id"),
            {"id": api.ticket_type},
        ).scalar_one()
        assert sold == 2  # the fully refunded order's seats are free again
    assert api.differences() == {}
