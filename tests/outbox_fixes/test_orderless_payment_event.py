"""A `payment_intent.succeeded` no order of ours has is booked as its metadata reads
(escrow.captured_payment); its metadata is edited at will at Stripe. Ticketing checks that
the event it names, when it is one of ticketing's events, belongs to the organization it
names (ticketing_fsm/stripe_events.py): another organization's event is refused
(`PaymentEventNotTheOrganizations`), and nothing is booked anywhere. Before e634621: booked
into the named organization's books, in an escrow opened there on the other organization's
event. The refusal is made by the payment's look, before the prepare asks Stripe anything,
and is permanent (`outbox.PermanentFailure`): the event is dead at its first attempt and
Stripe is never asked for the fee. Before (review M4): retried through the whole schedule
(8 attempts here), Stripe asked for the fee at every one.

(Here, not in tests/ticketing_core: that directory is another engineer's this session.)
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import pytest
import sqlalchemy as sa

import escrow
import outbox
import ticketing_fsm as tk
from tests.ticketing_core.support import (
    Gateway,
    World,
    check_balanced,
    drain,
    open_world,
    payment_intent,
    store,
    stripe_event,
    ticketing_handlers,
)
from ticketing_fsm.checkout import META_EVENT_ENDS


@pytest.fixture
def worlds(engine: sa.Engine) -> tuple[World, World]:
    with engine.begin() as conn:
        return open_world(conn), open_world(conn)


class _Counting:
    """The gateway as escrow's prepare reads it, counting the fees asked of Stripe."""

    def __init__(self, gateway: Gateway) -> None:
        self.gateway = gateway
        self.asked: list[str] = []

    def charge_facts(self, payment_intent_id: str) -> escrow.ChargeFacts:
        self.asked.append(payment_intent_id)
        return self.gateway.charge_facts(payment_intent_id)

    def refunds_of_charge(self, charge_id: str) -> list[escrow.RefundFacts]:
        return self.gateway.refunds_of_charge(charge_id)


def _orderless_payment(
    engine: sa.Engine, gateway: Gateway, org: str, event: str, reader: _Counting | None = None
) -> tuple[str, list[str], str | None]:
    """An intent made at Stripe outside any checkout, its metadata naming `org` and `event`,
    paid; its event handled (the handlers reading Stripe through `reader` if given): the
    intent, the statuses the inbox went through, its error."""
    ends = (datetime.now(UTC) + timedelta(days=3)).isoformat()
    created = gateway.create_payment_intent(
        4_000,
        "eur",
        {tk.META_ORG: org, tk.META_EVENT: event, META_EVENT_ENDS: ends},
        idempotency_key=f"outside-{uuid.uuid4()}",
    )
    intent_id = created.payment_intent_id
    event_obj = stripe_event(
        "payment_intent.succeeded", payment_intent(gateway.intents[intent_id], "succeeded")
    )
    assert store(engine, event_obj)
    if reader is None:
        handlers = ticketing_handlers(gateway)
    else:
        handlers = outbox.InboxHandlers()
        tk.register_stripe_handlers(reader, into=handlers)
    seen = drain(engine, handlers)
    with engine.connect() as conn:
        error = conn.execute(
            sa.text("SELECT last_error FROM messaging.inbox WHERE event_id = :e"),
            {"e": event_obj["id"]},
        ).scalar_one()
    return intent_id, seen, error


def _booked(conn: sa.Connection) -> list[tuple[uuid.UUID, str]]:
    """Every escrow's (organization, event) that holds a payment."""
    return [
        (r.org_id, r.event_id)
        for r in conn.execute(
            sa.text("""SELECT x.org_id, x.event_id FROM payments.escrows x
                        WHERE EXISTS (SELECT FROM payments.card_payments p
                                       WHERE p.escrow_id = x.id AND p.org_id = x.org_id)
                        ORDER BY 1, 2""")
        )
    ]


def test_a_payment_naming_another_organizations_event_is_refused_and_not_booked(
    engine: sa.Engine, worlds: tuple[World, World]
) -> None:
    """Organization A's id with organization B's event: refused, typed, at the first
    attempt, dead at once, Stripe never asked for the fee; neither A nor B books anything.
    Before e634621: handled, and booked into A's books in an escrow of B's event; before
    the look refused it: retried to the last attempt, the fee asked at each."""
    a, b = worlds
    gateway = Gateway()
    reader = _Counting(gateway)
    intent_id, seen, error = _orderless_payment(engine, gateway, str(a.org), str(b.event), reader)
    assert seen == ["dead"]
    assert reader.asked == []
    assert error is not None and error.startswith("PaymentEventNotTheOrganizations")
    with engine.connect() as conn:
        assert escrow.payment_org(conn, intent_id) is None
        assert _booked(conn) == []
        assert conn.execute(sa.text("SELECT count(*) FROM payments.escrows")).scalar_one() == 0
        check_balanced(conn)


def test_an_unknown_organization_naming_an_event_of_ours_is_refused_and_not_booked(
    engine: sa.Engine, worlds: tuple[World, World]
) -> None:
    """An organization that does not exist with one of ticketing's events: the same typed
    refusal, dead at once, Stripe never asked. Before: the escrow's insert failed on its
    foreign key (an untyped error)."""
    _, b = worlds
    gateway = Gateway()
    reader = _Counting(gateway)
    org = str(uuid.uuid4())
    intent_id, seen, error = _orderless_payment(engine, gateway, org, str(b.event), reader)
    assert seen == ["dead"]
    assert reader.asked == []
    assert error is not None and error.startswith("PaymentEventNotTheOrganizations")
    with engine.connect() as conn:
        assert escrow.payment_org(conn, intent_id) is None
        assert _booked(conn) == []


def test_a_payment_naming_its_own_organizations_event_is_still_booked(
    engine: sa.Engine, worlds: tuple[World, World]
) -> None:
    """The organization's own event, no order: booked there, as before (escrow's end of the
    event is the event's, as ticketing recorded it, not the metadata's)."""
    a, _ = worlds
    gateway = Gateway()
    intent_id, seen, error = _orderless_payment(engine, gateway, str(a.org), str(a.event))
    assert (seen, error) == (["handled"], None)
    with engine.connect() as conn:
        assert escrow.payment_org(conn, intent_id) == a.org
        assert _booked(conn) == [(a.org, str(a.event))]
        ends = conn.execute(
            sa.text("SELECT event_ends_at FROM payments.escrows WHERE org_id = :o"), {"o": a.org}
        ).scalar_one()
        assert ends == a.ends_at
        check_balanced(conn)


def test_a_payment_naming_an_event_ticketing_does_not_have_is_still_booked(
    engine: sa.Engine, worlds: tuple[World, World]
) -> None:
    """An event id that is none of ticketing's (an escrow of the organization's own, as
    escrow alone keeps them): booked as its metadata reads, as before."""
    a, _ = worlds
    gateway = Gateway()
    intent_id, seen, error = _orderless_payment(engine, gateway, str(a.org), "ev_outside")
    assert (seen, error) == (["handled"], None)
    with engine.connect() as conn:
        assert escrow.payment_org(conn, intent_id) == a.org
        assert _booked(conn) == [(a.org, "ev_outside")]
        check_balanced(conn)
