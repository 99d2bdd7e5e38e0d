"""A `payment_intent.succeeded` whose metadata names its organization in a form the inbox
does not take (braces, 'urn:uuid:', 32 bare digits) is placed with no organization (the nil
uuid) by `messaging.inbox_org`; Python reads it the same way (`escrow.metadata_org`), so the
payment is not booked into that organization either (it once was: uuid.UUID() took those
forms). The forms the inbox takes are placed with and booked into the organization."""

from __future__ import annotations

import uuid

import pytest
import sqlalchemy as sa

import escrow
import ticketing_fsm as tk
from tests.ticketing_core.support import (
    Gateway,
    drain,
    open_world,
    payment_intent,
    request,
    store,
    stripe_event,
    ticketing_handlers,
)

NIL = uuid.UUID(int=0)


@pytest.mark.parametrize(
    ("form", "placed_with_org"),
    [
        (str, True),
        (lambda org: str(org).upper(), True),
        (lambda org: "{" + str(org) + "}", False),
        (lambda org: "urn:uuid:" + str(org), False),
        (lambda org: org.hex, False),
    ],
    ids=["canonical", "upper", "braces", "urn", "32-hex"],
)
def test_the_payment_is_booked_where_the_inbox_placed_its_event(
    engine: sa.Engine, form: object, placed_with_org: bool
) -> None:
    with engine.begin() as conn:
        world = open_world(conn, capacities=(5,))
    gateway = Gateway()
    checkout = tk.start_checkout(engine, gateway, request(world, "k-1"))
    intent = gateway.intents[checkout.payment_intent_id]
    obj = payment_intent(intent, "succeeded")
    obj["metadata"][tk.META_ORG] = form(world.org)  # type: ignore[operator]
    event = stripe_event("payment_intent.succeeded", obj)
    assert store(engine, event)
    drain(engine, ticketing_handlers(gateway))
    with engine.connect() as conn:
        placed, status = conn.execute(
            sa.text("SELECT org_id, status FROM messaging.inbox WHERE event_id = :e"),
            {"e": event["id"]},
        ).one()
        booked = escrow.payment_org(conn, checkout.payment_intent_id)
    assert status == "handled"
    assert placed == (world.org if placed_with_org else NIL)
    assert booked == (world.org if placed_with_org else None)
