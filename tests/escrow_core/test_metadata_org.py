"""The organization a Stripe object's metadata names is read one way: Python's reading
(`escrow.metadata_org`, asked by escrow's handlers and ticketing's) takes exactly what the
inbox takes to place the event (`messaging.inbox_org`), nothing more. uuid.UUID() once read
braces, 'urn:uuid:' and 32 bare digits too: such an event was placed with no organization
(the nil uuid) yet booked into the organization it names."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime
from typing import Any

import pytest
import sqlalchemy as sa

import escrow
import outbox
from escrow.stripe_events import META_EVENT, META_ORG

NIL = uuid.UUID(int=0)
ORG = uuid.UUID("5a1f0c3e-9b2d-4e6f-8a7b-1c2d3e4f5a6b")

# Each form of an organization's id, and whether the inbox takes it.
FORMS: list[tuple[str, object, bool]] = [
    ("canonical", str(ORG), True),
    ("upper case", str(ORG).upper(), True),
    ("mixed case", "5A1f0C3e-9b2D-4e6F-8a7b-1C2d3E4f5A6b", True),
    ("braces", "{" + str(ORG) + "}", False),
    ("urn", "urn:uuid:" + str(ORG), False),
    ("32 hex digits", ORG.hex, False),
    ("hyphens elsewhere", ORG.hex[:16] + "-" + ORG.hex[16:], False),
    ("leading blank", " " + str(ORG), False),
    ("trailing blank", str(ORG) + " ", False),
    ("trailing newline", str(ORG) + "\n", False),
    ("leading newline", "\n" + str(ORG), False),
    ("fullwidth digit", "\uff15" + str(ORG)[1:], False),
    ("arabic-indic digit", "\u0665" + str(ORG)[1:], False),
    ("one digit short", str(ORG)[:-1], False),
    ("nil", str(NIL), False),  # where the inbox places the events that name none
    ("not a uuid", "not-a-uuid", False),
    ("empty", "", False),
    ("number", 12345, False),
    ("array", [str(ORG)], False),
    ("object", {"id": str(ORG)}, False),
    ("true", True, False),
    ("null", None, False),
]


def _payload(value: object) -> dict[str, Any]:
    return {"data": {"object": {"id": "pi_1", "metadata": {META_ORG: value, META_EVENT: "e"}}}}


@pytest.mark.parametrize(("name", "value", "named"), FORMS, ids=[f[0] for f in FORMS])
def test_python_reads_the_organization_exactly_as_the_inbox_places_the_event(
    conn: sa.Connection, name: str, value: object, named: bool
) -> None:
    placed = conn.execute(
        sa.text("SELECT messaging.inbox_org(CAST(:p AS jsonb))"),
        {"p": json.dumps(_payload(value))},
    ).scalar_one()
    read = escrow.metadata_org(_payload(value)["data"]["object"]["metadata"])
    assert (read or NIL) == placed
    assert read == (ORG if named else None)


def test_no_metadata_or_no_key_names_no_organization() -> None:
    assert escrow.metadata_org({}) is None
    assert escrow.metadata_org(None) is None
    assert escrow.metadata_org([META_ORG]) is None
    assert escrow.metadata_org({"other": str(ORG)}) is None


class _Reader:
    """A StripeReader that records what it is asked."""

    def __init__(self) -> None:
        self.asked: list[str] = []

    def charge_facts(self, payment_intent_id: str) -> escrow.ChargeFacts:
        self.asked.append(payment_intent_id)
        return escrow.ChargeFacts(charge_id="ch_1", stripe_fee=100, balance_transaction_id="txn_1")

    def refunds_of_charge(self, charge_id: str) -> list[escrow.RefundFacts]:
        raise AssertionError("not asked")


def _succeeded(value: object) -> outbox.InboxEvent:
    obj = {
        "id": "pi_1",
        "object": "payment_intent",
        "amount": 5_000,
        "currency": "usd",
        "metadata": {META_ORG: value, META_EVENT: str(uuid.uuid4())},
    }
    return outbox.InboxEvent(
        source="stripe",
        event_id="evt_1",
        type="payment_intent.succeeded",
        payload={"data": {"object": obj}},
        received_at=datetime(2026, 12, 4, tzinfo=UTC),
        attempts=0,
    )


@pytest.mark.parametrize(("name", "value", "named"), FORMS, ids=[f[0] for f in FORMS])
def test_a_payment_is_booked_only_into_an_organization_the_inbox_placed_it_with(
    name: str, value: object, named: bool
) -> None:
    """escrow's `payment_intent.succeeded`: a form the inbox does not take names no
    organization, as a missing one does: Stripe is not asked, nothing is booked."""
    reader = _Reader()
    handler = escrow.stripe_handlers(reader)["payment_intent.succeeded"]
    assert isinstance(handler, outbox.InboxTwoStepHandler)
    event = _succeeded(value)
    facts = handler.prepare(event)
    payment = escrow.captured_payment(event, facts)
    if named:
        assert reader.asked == ["pi_1"]
        assert payment is not None and payment.org_id == ORG
    else:
        assert reader.asked == [] and facts is None and payment is None
    # whatever the prepare was told, a payment names only the organization the inbox takes
    told = escrow.captured_payment(event, reader.charge_facts("pi_1"))
    assert (told.org_id if told else None) == (ORG if named else None)
