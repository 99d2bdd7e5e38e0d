"""`CheckoutRequest.fingerprint` writes its JSON text by hand (session 35): the hash stored
under a checkout's key must stay the one `json.JSONEncoder(sort_keys=True)` gave, or every
replay of a checkout made before would be refused as a conflict. The reference below is
that former code, kept here as the oracle."""

from __future__ import annotations

import hashlib
import json
import uuid
from datetime import UTC, datetime
from typing import Any
from zoneinfo import ZoneInfo

from hypothesis import given, settings
from hypothesis import strategies as st

from ticketing_fsm import CheckoutItem, CheckoutRequest
from ticketing_fsm.decisions import intent_request, order_id_for

_ENCODER = json.JSONEncoder(sort_keys=True)


def _reference(request: CheckoutRequest) -> str:
    """The fingerprint as it was made before: the body's dict, encoded with sorted keys."""
    body = {
        "org": str(request.org_id),
        "event": str(request.event_id),
        "buyer": request.buyer_email,
        "items": sorted((str(i.ticket_type_id), i.quantity) for i in request.items),
    }
    return hashlib.sha256(_ENCODER.encode(body).encode()).hexdigest()


def _request(email: str, items: list[tuple[uuid.UUID, Any]]) -> CheckoutRequest:
    return CheckoutRequest(
        "key-1",
        uuid.UUID("0b8f0d8e-3c52-4a8e-9a55-7d5b6a1f2e01"),
        uuid.UUID("f3b2a1c0-1d2e-4f50-8a9b-0c1d2e3f4a5b"),
        email,
        [CheckoutItem(type_id, quantity) for type_id, quantity in items],
    )


@settings(max_examples=1500, deadline=None)
@given(
    email=st.text(),  # any text: escapes, non-ASCII, surrogates, quotes, backslashes
    items=st.lists(
        st.tuples(st.uuids(), st.integers(min_value=-(2**70), max_value=2**70)),
        min_size=0,
        max_size=4,
    ),
)
def test_same_hash_as_the_encoder(email: str, items: list[tuple[uuid.UUID, Any]]) -> None:
    """Any e-mail text and any integer quantities: the very hash the encoder gave."""
    request = _request(email, items)
    assert request.fingerprint() == _reference(request)


def test_known_fingerprint() -> None:
    """One request's hash, written down: a stored fingerprint does not move."""
    request = _request(
        'Zoë "o\'brien"\\@example.com\u2028',
        [
            (uuid.UUID("ffffffff-0000-4000-8000-000000000002"), 3),
            (uuid.UUID("00000000-0000-4000-8000-000000000001"), 1),
        ],
    )
    assert request.fingerprint() == _reference(request)
    assert request.fingerprint() == (
        hashlib.sha256(
            b'{"buyer": "Zo\\u00eb \\"o\'brien\\"\\\\@example.com\\u2028", '
            b'"event": "f3b2a1c0-1d2e-4f50-8a9b-0c1d2e3f4a5b", '
            b'"items": [["00000000-0000-4000-8000-000000000001", 1], '
            b'["ffffffff-0000-4000-8000-000000000002", 3]], '
            b'"org": "0b8f0d8e-3c52-4a8e-9a55-7d5b6a1f2e01"}'
        ).hexdigest()
    )


@given(
    quantity=st.one_of(st.booleans(), st.floats(allow_nan=False), st.none(), st.text()),
    email=st.one_of(st.text(), st.none()),
)
def test_other_values_encoded_as_before(quantity: Any, email: Any) -> None:
    """A quantity that is not an int (a bool, a float, None, text), or an e-mail that is not
    text: encoded by the encoder, as before (the by-hand text is for ints and text only)."""
    request = _request(email, [(uuid.uuid4(), quantity)])
    assert request.fingerprint() == _reference(request)


def test_intent_request_as_before() -> None:
    """The PaymentIntent's metadata and key, with the ids' texts and the event's end kept
    (`decisions._uuid_text`, `_isoformat`): as `str()` and `isoformat()` wrote them, for one
    moment met in two time zones (equal, and hashed alike) in either order."""
    org, event, order = uuid.uuid4(), uuid.uuid4(), uuid.uuid4()
    utc = datetime(2027, 5, 1, 18, 30, 0, 250, tzinfo=UTC)
    paris = utc.astimezone(ZoneInfo("Europe/Paris"))
    assert utc == paris and hash(utc) == hash(paris)
    for ends in (utc, paris, utc, paris, utc.replace(tzinfo=None)):
        made = intent_request(
            org_id=org,
            event_id=event,
            event_ends_at=ends,
            order_id=order,
            idempotency_key="k\u00e9y",
            amount=1_000,
            currency="EUR",
        )
        assert made.metadata == {
            "liventix_org_id": str(org),
            "liventix_event_id": str(event),
            "liventix_event_ends_at": ends.isoformat(),
            "liventix_order_id": str(order),
        }
        assert made.idempotency_key == f"checkout:{org}:k\u00e9y"
    namespace = uuid.UUID("6f1c3e52-4a7d-4f1e-9a59-2b7c0c6a2e11")
    for key in ("k", "k\u00e9y", "x" * 300):
        assert order_id_for(org, key) == uuid.uuid5(namespace, f"{org}:{key}")
