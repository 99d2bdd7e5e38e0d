"""A `payment_intent.succeeded` the inbox placed with no organization (its metadata names the
organization in a form the database does not read, or none at all) is booked with the
organization and event of the order it pays for, as ticketing recorded them, not with its
metadata re-parsed by Python; and no ticket is issued for a payment escrow did not book
(ticketing_fsm/stripe_events.py, `_paid`). Review of session 29 (caba268, reverted in
b0a5a6e, left a payment unbooked while its tickets were issued: this keeps the tie-out).

(Here, not in tests/ticketing_core: that directory is another engineer's this session.)
"""

from __future__ import annotations

import uuid
from collections.abc import Callable

import pytest
import sqlalchemy as sa

import escrow
import ticketing_fsm as tk
from tests.ticketing_core.support import (
    Gateway,
    World,
    check_balanced,
    check_paid_in_ledger,
    drain,
    open_world,
    payment_intent,
    request,
    statuses,
    store,
    stripe_event,
    ticketing_handlers,
)

NIL = uuid.UUID(int=0)


def _paid_with(
    engine: sa.Engine, world: World, edit: Callable[[dict[str, str]], None]
) -> tuple[tk.Checkout, str, str | None]:
    """A checkout whose intent succeeded with its metadata edited, its event handled: the
    checkout, the event's id and its inbox status and last error."""
    gateway = Gateway()
    checkout = tk.start_checkout(engine, gateway, request(world, "k-1", (2,)))
    obj = payment_intent(gateway.intents[checkout.payment_intent_id], "succeeded")
    edit(obj["metadata"])
    event = stripe_event("payment_intent.succeeded", obj)
    assert store(engine, event)
    drain(engine, ticketing_handlers(gateway))
    with engine.connect() as conn:
        status, error = conn.execute(
            sa.text("SELECT status, last_error FROM messaging.inbox WHERE event_id = :e"),
            {"e": event["id"]},
        ).one()
    return checkout, str(status), error


@pytest.fixture
def world(engine: sa.Engine) -> World:
    with engine.begin() as conn:
        return open_world(conn, capacities=(5,))


@pytest.mark.parametrize(
    "form",
    [
        lambda org, other: "{" + str(org) + "}",
        lambda org, other: "urn:uuid:" + str(org),
        lambda org, other: org.hex,
        lambda org, other: "not a uuid",
        lambda org, other: "{" + str(other) + "}",
        lambda org, other: str(NIL),
    ],
    ids=["braces", "urn", "32-hex", "no-uuid", "another-orgs-in-braces", "nil"],
)
def test_a_payment_placed_with_no_organization_is_booked_with_its_orders(
    engine: sa.Engine, world: World, form: Callable[[uuid.UUID, uuid.UUID], str]
) -> None:
    """Booked into the order's organization and its tickets issued, whatever the metadata's
    form. Before: 'no-uuid' failed the event (uuid.UUID() refused it), 'nil' too (a capture
    for no organization), and another organization's id in braces was booked into that
    organization while the order's tickets were issued."""
    with engine.begin() as conn:
        other = open_world(conn).org

    def edit(metadata: dict[str, str]) -> None:
        metadata[tk.META_ORG] = form(world.org, other)

    checkout, status, error = _paid_with(engine, world, edit)
    assert (status, error) == ("handled", None)
    with engine.connect() as conn:
        placed = conn.execute(
            sa.text("SELECT org_id FROM messaging.inbox WHERE type = 'payment_intent.succeeded'")
        ).scalar_one()
        assert placed == NIL  # the inbox placed it with none (the database's reading)
        assert escrow.payment_org(conn, checkout.payment_intent_id) == world.org
        assert statuses(conn, checkout.order_id) == ["issued", "issued"]
        check_paid_in_ledger(conn)
        check_balanced(conn)


def test_no_ticket_is_issued_for_a_payment_escrow_did_not_book(
    engine: sa.Engine, world: World
) -> None:
    """The intent's metadata edited at Stripe to name neither the organization nor the
    event: escrow's prepare did not ask Stripe for its fee, so escrow cannot book it. The
    order's tickets stay held and the event fails (retried, then dead: the inbox's health
    shows it). Before: ticketing's fallback issued them, nothing booked (the tie-out's
    check failed)."""

    def edit(metadata: dict[str, str]) -> None:
        del metadata[tk.META_ORG], metadata[tk.META_EVENT]

    checkout, status, error = _paid_with(engine, world, edit)
    assert status == "dead", (status, error)
    assert error is not None and "PaymentNotBooked" in error
    with engine.connect() as conn:
        assert escrow.payment_org(conn, checkout.payment_intent_id) is None
        assert statuses(conn, checkout.order_id) == ["held", "held"]
        check_paid_in_ledger(conn)
        check_balanced(conn)
