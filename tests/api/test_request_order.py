"""The order in which a request is checked, now that FastAPI validates the parameters before
the unit of work opens (in the one worker thread the request hops to): an invalid body is
still answered only after the key was authenticated, the platform-only rule applied and the
Idempotency-Key's stored answer consulted, exactly as when the unit of work opened first. A
body the unit of work does not validate itself (not declared JSON) goes FastAPI's way and is
refused as before."""

from __future__ import annotations

import json
import uuid

import httpx

from liventix.api import problems
from tests.api.support import Served, new_org, on_sale_event, post

_BAD_CHECKOUT = {"event_id": "not a uuid", "buyer_email": "a@example.com", "items": []}


def _type(answer: httpx.Response) -> str:
    return str(answer.json()["type"]).rsplit("/", 1)[-1]


def test_an_unknown_key_with_an_invalid_body_is_401(served: Served) -> None:
    client = served.client("lvx_000000000000_" + "0" * 48)
    answer = post(client, "/v1/checkouts", _BAD_CHECKOUT)
    assert answer.status_code == 401, answer.text
    assert answer.headers["WWW-Authenticate"] == 'Bearer realm="liventix"'


def test_a_known_key_with_an_invalid_body_is_422(served: Served) -> None:
    _, key = new_org(served.engine)
    answer = post(served.client(key), "/v1/checkouts", _BAD_CHECKOUT)
    assert answer.status_code == 422, answer.text
    assert answer.json()["type"].endswith("/" + problems.VALIDATION.slug)


def test_a_stored_key_with_another_invalid_body_is_409(served: Served) -> None:
    _, key = new_org(served.engine)
    client = served.client(key)
    event = on_sale_event(client)
    first = post(client, "/v1/events", {"name": "x"}, **{"Idempotency-Key": "k-order-1"})
    assert first.status_code == 422  # not stored: the key stays free
    body = {
        "event_id": event["id"],
        "buyer_email": "a@example.com",
        "items": [{"ticket_type_id": event["ticket_types"][0]["id"], "quantity": 1}],
    }
    made = post(client, "/v1/checkouts", body, **{"Idempotency-Key": "k-order-1"})
    assert made.status_code == 201, made.text
    again = post(client, "/v1/checkouts", _BAD_CHECKOUT, **{"Idempotency-Key": "k-order-1"})
    assert again.status_code == 409, again.text
    assert _type(again) == problems.IDEMPOTENCY_KEY_REUSED.slug
    replay = post(client, "/v1/checkouts", body, **{"Idempotency-Key": "k-order-1"})
    assert replay.status_code == 201 and replay.headers["Idempotency-Replayed"] == "true"
    assert replay.json() == made.json()


def test_a_json_body_declared_as_text_is_refused(served: Served) -> None:
    _, key = new_org(served.engine)
    client = served.client(key)
    event = on_sale_event(client)
    body = json.dumps(
        {
            "event_id": event["id"],
            "buyer_email": "a@example.com",
            "items": [{"ticket_type_id": event["ticket_types"][0]["id"], "quantity": 1}],
        }
    )
    as_json = client.post(
        "/v1/checkouts",
        content=body.encode(),
        headers={"Idempotency-Key": uuid.uuid4().hex, "Content-Type": "application/json"},
    )
    assert as_json.status_code == 201, as_json.text
    sent = client.post(
        "/v1/checkouts",
        content=body.encode(),
        headers={"Idempotency-Key": uuid.uuid4().hex, "Content-Type": "text/plain"},
    )
    assert sent.status_code == 422, sent.text
