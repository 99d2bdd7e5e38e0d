"""The catalog of outgoing webhook events, the one organizers code against: every message
type the product publishes through its outbox (escrow's, ticketing's, the outbox's own),
each with its payload's schema (the model registered with `outbox.register_message_type`),
written into the OpenAPI document's `webhooks` (OpenAPI 3.1) by `install(app)`.

An endpoint receives a `POST` of the Standard Webhooks envelope (`outbox.webhook_body`):
`{"type": ..., "timestamp": ..., "data": <payload>}`, signed in `webhook-id`,
`webhook-timestamp` and `webhook-signature`. An endpoint registered with no `event_types`
receives every type below, the platform's tasks (`stripe.*.requested`) included."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from fastapi import FastAPI
from pydantic import BaseModel
from pydantic.json_schema import models_json_schema

import ledger
import outbox

# The ledger publishes its events in SQL (it does not import the outbox): its payload models
# are registered here, where the application meets both.
for _name, _model in ledger.EVENT_MODELS.items():
    outbox.register_message_type(_name, _model)

EVENT_TYPES = (
    "order.paid",
    "order.cancelled",
    "order.refunded",
    "order.disputed",
    "ticket.issued",
    "ticket.transferred",
    "ticket.checked_in",
    "ticket.refunded",
    "ticket.cancelled",
    "ticket.invalidated",
    "escrow.state_changed",
    "escrow.released",
    "endpoint.disabled",
    "stripe.transfer.requested",
    "stripe.transfer_reversal.requested",
    "stripe.refund.requested",
    "stripe.payment_intent.cancel.requested",
    "ledger.hold.created",
    "ledger.hold.posted",
    "ledger.hold.voided",
    "ledger.hold.expired",
    "ledger.balance_monitor.triggered",
    "ledger.balance_monitor.recovered",
    "ledger.checkpoint.sealed",
)
"""Every message type the product publishes (a test checks it against the outbox's
registry: a type registered and not listed here fails it)."""

_REF = "#/components/schemas/{model}"


@dataclass(frozen=True)
class EventType:
    """One outgoing event: its name and its payload's model."""

    name: str
    model: type[BaseModel]

    @property
    def envelope(self) -> str:
        """The component name of its envelope's schema (`order.paid`: `OrderPaidWebhook`)."""
        words = self.name.replace("_", ".").split(".")
        return "".join(w.capitalize() for w in words) + "Webhook"

    @property
    def is_task(self) -> bool:
        """Whether it is also a task the platform's worker runs (a request to Stripe)."""
        return self.name.startswith("stripe.")


def catalog() -> list[EventType]:
    """The catalog, each type with the payload model the outbox has registered for it."""
    found = []
    for name in EVENT_TYPES:
        model = outbox.message_type(name)
        if model is None:
            raise LookupError(f"{name}: no payload model registered with the outbox")
        found.append(EventType(name, model))
    return found


_HEADERS = [
    ("webhook-id", "The message's id: the same on every attempt (deduplicate by it)"),
    ("webhook-timestamp", "Seconds since the epoch when this attempt was signed"),
    (
        "webhook-signature",
        "`v1,<base64 HMAC-SHA256 of {webhook-id}.{webhook-timestamp}.{body}>`, one per "
        "active signing secret of the endpoint, space-separated (Standard Webhooks)",
    ),
]


def _envelope(event: EventType) -> dict[str, Any]:
    return {
        "title": event.envelope,
        "type": "object",
        "description": f"The `{event.name}` webhook's body.",
        "required": ["type", "timestamp", "data"],
        "properties": {
            "type": {"type": "string", "const": event.name},
            "timestamp": {
                "type": "string",
                "format": "date-time",
                "description": "When the event happened (the message was written)",
            },
            "data": {"$ref": _REF.format(model=event.model.__name__)},
        },
    }


def _operation(event: EventType) -> dict[str, Any]:
    doc = (event.model.__doc__ or "").strip()
    task = (
        " It is also a task the platform's worker runs (a request to Stripe); an endpoint "
        "receives it only when subscribed to every type."
        if event.is_task
        else ""
    )
    return {
        "post": {
            "operationId": f"events.{event.name}",
            "summary": event.name,
            "description": f"{doc}{task}",
            "tags": ["webhook events"],
            "parameters": [
                {
                    "name": n,
                    "in": "header",
                    "required": True,
                    "description": d,
                    "schema": {"type": "string"},
                }
                for n, d in _HEADERS
            ],
            "requestBody": {
                "required": True,
                "content": {
                    "application/json": {"schema": {"$ref": _REF.format(model=event.envelope)}}
                },
            },
            "responses": {
                "2XX": {
                    "description": "Received. Any other answer, or none within the timeout, "
                    "is retried with backoff; the delivery dies after its last attempt "
                    "(`GET /v1/deliveries`, `POST /v1/deliveries/{id}/requeue`)."
                }
            },
        }
    }


def document(doc: dict[str, Any]) -> dict[str, Any]:
    """Add the catalog to an OpenAPI document: `webhooks`, and the payloads' and envelopes'
    schemas in its components (a name another schema has already is an error)."""
    events = catalog()
    models = list(dict.fromkeys(e.model for e in events))
    _, defs = models_json_schema([(m, "serialization") for m in models], ref_template=_REF)
    schemas = doc.setdefault("components", {}).setdefault("schemas", {})
    added = {**defs.get("$defs", {}), **{e.envelope: _envelope(e) for e in events}}
    for name, schema in added.items():
        if schemas.get(name, schema) != schema:
            raise ValueError(f"the OpenAPI schema {name} is both an API body and an event's")
        schemas[name] = schema
    doc["components"]["schemas"] = dict(sorted(schemas.items()))
    doc["webhooks"] = {e.name: _operation(e) for e in events}
    return doc


def install(app: FastAPI) -> None:
    """Write the catalog into `app`'s OpenAPI document."""
    build: Callable[[], dict[str, Any]] = app.openapi

    def openapi() -> dict[str, Any]:
        doc = build()
        return doc if "webhooks" in doc else document(doc)

    app.openapi = openapi  # type: ignore[method-assign]
