"""Webhook endpoints and the outbox's deliveries over HTTP: register, list, rotate the
signing secret, disable and enable endpoints; read deliveries and their attempts; requeue
dead ones. The platform's key manages the platform organization's endpoints.

An endpoint's URL must reach a public address (`outbox.addresses`: no loopback, private,
link-local, multicast, reserved or unspecified address in any spelling, no internal name):
422 `invalid-endpoint` with the reason otherwise. The networks let through anyway
(`Settings.webhook_allow`, off by default) are given to the app with `allow_targets`."""

from __future__ import annotations

import uuid
from datetime import timedelta
from typing import Annotated, Literal

from fastapi import FastAPI, Path

import outbox
from liventix.api.pages import (
    DEFAULT_LIMIT,
    Limit,
    StartingAfter,
    bad_cursor,
    int_cursor,
    page_of,
    uuid_cursor,
)
from liventix.api.routing import WRITE, authenticated_router
from liventix.api.unit_of_work import UnitOfWork, Uow
from liventix.api.webhooks import read_side, views
from liventix.api.webhooks import schemas as m

router = authenticated_router(["webhooks"])

DeliveryId = Annotated[int, Path(ge=1, le=2**63 - 1)]
Status = Literal["pending", "delivering", "succeeded", "dead", "cancelled"]


def allow_targets(app: FastAPI, allow: outbox.AllowList) -> None:
    """Let `app` register webhook endpoints on these networks although they are not public
    (a receiver on 127.0.0.1 for the demo or a test); by default none is."""
    app.state.webhook_allow = tuple(allow)


def _allowed(uow: UnitOfWork) -> outbox.AllowList:
    allow: outbox.AllowList = getattr(uow.request.app.state, "webhook_allow", ())
    return allow


def _endpoint(uow: UnitOfWork, endpoint_id: uuid.UUID) -> outbox.Endpoint:
    found = outbox.get_endpoint(uow.conn, endpoint_id)
    if not uow.owns(found.org_id):
        raise outbox.EndpointNotFound(endpoint_id=str(endpoint_id))
    return found


@router.post("/webhook-endpoints", status_code=201, dependencies=WRITE)
def register_endpoint(body: m.CreateEndpointRequest, uow: Uow) -> m.EndpointCreatedResponse:
    """Register an endpoint; its signing secret is in this answer only."""
    with uow:
        for event_type in body.event_types:
            if outbox.message_type(event_type) is None:
                raise outbox.UnknownMessageType(message_type=event_type)
        endpoint_id, secret = outbox.register_endpoint(
            uow.conn,
            uow.acting_org(),
            body.url,
            body.event_types,
            description=body.description,
            allow=_allowed(uow),
        )
        found = views.endpoint(outbox.get_endpoint(uow.conn, endpoint_id))
        answer = m.EndpointCreatedResponse(**found.model_dump(), secret=secret)
        return uow.commit(answer, location=f"/v1/webhook-endpoints/{endpoint_id}")


def _after(endpoints: list[outbox.Endpoint], cursor: uuid.UUID | None) -> list[outbox.Endpoint]:
    """The endpoints after the cursor's (an organization has few: they are paged here)."""
    if cursor is None:
        return endpoints
    for n, endpoint in enumerate(endpoints):
        if endpoint.id == cursor:
            return endpoints[n + 1 :]
    raise bad_cursor("no object of this list with this id is visible to this key")


@router.get("/webhook-endpoints")
def list_endpoints(
    uow: Uow, starting_after: StartingAfter = None, limit: Limit = DEFAULT_LIMIT
) -> m.EndpointList:
    """The organization's endpoints, oldest first."""
    with uow:
        cursor = uuid_cursor(starting_after)
        every = sorted(
            outbox.list_endpoints(uow.conn, uow.acting_org()), key=lambda e: (e.created_at, e.id)
        )
        found, more = page_of(_after(every, cursor), limit)
        return m.EndpointList(data=[views.endpoint(e) for e in found], has_more=more)


@router.get("/webhook-endpoints/{endpoint_id:uuid}")
def get_endpoint(endpoint_id: uuid.UUID, uow: Uow) -> m.EndpointResponse:
    """One endpoint."""
    with uow:
        return views.endpoint(_endpoint(uow, endpoint_id))


@router.post("/webhook-endpoints/{endpoint_id:uuid}/rotate-secret", dependencies=WRITE)
def rotate_secret(
    endpoint_id: uuid.UUID, body: m.RotateSecretRequest, uow: Uow
) -> m.SecretResponse:
    """A new signing secret; the current ones keep signing for `grace_seconds`."""
    with uow:
        _endpoint(uow, endpoint_id)
        secret = outbox.rotate_secret(
            uow.conn, endpoint_id, grace=timedelta(seconds=body.grace_seconds)
        )
        return uow.commit(m.SecretResponse(endpoint_id=endpoint_id, secret=secret))


@router.post("/webhook-endpoints/{endpoint_id:uuid}/disable", dependencies=WRITE)
def disable_endpoint(
    endpoint_id: uuid.UUID, body: m.DisableEndpointRequest, uow: Uow
) -> m.EndpointResponse:
    """Disable an endpoint: it gets no new deliveries."""
    with uow:
        _endpoint(uow, endpoint_id)
        outbox.set_enabled(uow.conn, endpoint_id, False, body.reason or "disabled through the API")
        return uow.commit(views.endpoint(outbox.get_endpoint(uow.conn, endpoint_id)))


@router.post("/webhook-endpoints/{endpoint_id:uuid}/enable", dependencies=WRITE)
def enable_endpoint(endpoint_id: uuid.UUID, uow: Uow) -> m.EndpointResponse:
    """Enable an endpoint again."""
    with uow:
        _endpoint(uow, endpoint_id)
        outbox.set_enabled(uow.conn, endpoint_id, True)
        return uow.commit(views.endpoint(outbox.get_endpoint(uow.conn, endpoint_id)))


@router.post("/webhook-endpoints/{endpoint_id:uuid}/requeue", dependencies=WRITE)
def requeue_endpoint(endpoint_id: uuid.UUID, uow: Uow) -> m.RequeueResponse:
    """Bring the endpoint's dead (and cancelled) deliveries back."""
    with uow:
        _endpoint(uow, endpoint_id)
        return uow.commit(
            m.RequeueResponse(requeued=outbox.requeue(uow.conn, endpoint_id=endpoint_id))
        )


@router.get("/deliveries")
def list_deliveries(
    uow: Uow,
    endpoint_id: uuid.UUID | None = None,
    status: Status | None = None,
    starting_after: StartingAfter = None,
    limit: Limit = DEFAULT_LIMIT,
) -> m.DeliveryList:
    """Deliveries (webhooks, e-mails, tasks) this key can see, newest first."""
    with uow:
        after = int_cursor(starting_after)
        if endpoint_id is not None:
            _endpoint(uow, endpoint_id)
        rows = read_side.list_deliveries(
            uow.conn,
            uow.org_id,
            endpoint_id=endpoint_id,
            status=status,
            after=after,
            limit=limit + 1,
        )
        found, more = page_of(rows, limit)
        return m.DeliveryList(data=[views.delivery(d) for d in found], has_more=more)


@router.get("/deliveries/{delivery_id:int}")
def get_delivery(delivery_id: DeliveryId, uow: Uow) -> m.DeliveryResponse:
    """One delivery."""
    with uow:
        return views.delivery(read_side.get_delivery(uow.conn, delivery_id))


@router.get("/deliveries/{delivery_id:int}/attempts")
def delivery_attempts(delivery_id: DeliveryId, uow: Uow) -> m.AttemptList:
    """Every attempt of a delivery, first first."""
    with uow:
        return m.AttemptList(
            data=[views.attempt(a) for a in read_side.attempts_of(uow.conn, delivery_id)],
            has_more=False,
        )


@router.post("/deliveries/{delivery_id:int}/requeue", dependencies=WRITE)
def requeue_delivery(delivery_id: DeliveryId, uow: Uow) -> m.RequeueResponse:
    """Bring a dead (or cancelled) delivery back; 0 if it was neither."""
    with uow:
        read_side.get_delivery(uow.conn, delivery_id)
        return uow.commit(
            m.RequeueResponse(requeued=outbox.requeue(uow.conn, delivery_id=delivery_id))
        )
