"""Stripe's webhooks in: `POST /v1/stripe/webhook` takes the raw body and its
`Stripe-Signature`, verifies it and stores the event in the inbox (once per event id), and
answers 200 as soon as it is stored; the worker handles it later. No API key: Stripe's
signature is the authentication.

Refused before the body is read: a body over 256 KB (413; the request limits cut it off,
`liventix.api.limits`). Refused before anything is stored, with 400: a bad, stale, future or
missing signature (`invalid-signature`), and a signed body that is no usable event
(`invalid-stripe-event`: see `liventix.stripe_events`). No body ever answers 5xx; only an
unconfigured secret or an unavailable database does (503).
"""

from __future__ import annotations

from typing import Annotated

import sqlalchemy as sa
from fastapi import APIRouter, Header, Request
from starlette.concurrency import run_in_threadpool

import outbox
from liventix.api import problems
from liventix.api.problems import ApiProblem
from liventix.api.routing import problem_responses
from liventix.api.schemas import Problem
from liventix.api.stripe_webhook import schemas as m
from liventix.api.unit_of_work import ApiRuntime
from liventix.stripe_events import (
    EventTooLarge,
    UnusableEvent,
    VerifiedEvent,
    receive_verified_event,
    verify_stripe_webhook,
)

router = APIRouter(tags=["stripe"])

INVALID_STRIPE_EVENT = problems.ProblemType(
    400, "invalid-stripe-event", "The signed body is not a Stripe event this API can take"
)
STRIPE_WEBHOOK_PROBLEMS = (INVALID_STRIPE_EVENT,)
"""The problems of this route that are not the API's own (see `problems.API_PROBLEMS`)."""


def _verify(runtime: ApiRuntime, body: bytes, signature: str | None) -> VerifiedEvent:
    secret = runtime.stripe_webhook_secret
    if not secret:
        raise ApiProblem(problems.WEBHOOKS_NOT_CONFIGURED)
    try:
        return verify_stripe_webhook(body, signature, secret)
    except EventTooLarge as exc:
        raise ApiProblem(problems.PAYLOAD_TOO_LARGE, exc.reason) from exc
    except UnusableEvent as exc:
        raise ApiProblem(INVALID_STRIPE_EVENT, exc.reason) from exc
    except outbox.InvalidSignature as exc:
        raise ApiProblem(problems.INVALID_SIGNATURE, exc.reason) from exc


def _store(runtime: ApiRuntime, body: bytes, signature: str | None) -> tuple[str, bool]:
    # Verified before any connection is taken: a refusal costs the database nothing.
    event = _verify(runtime, body, signature)
    try:
        with runtime.engine.begin() as conn:
            # The inbox needs no organization: the least role that may write it, and only
            # through the database's own check of the signature (a forged event is refused
            # even to a compromised connection).
            conn.exec_driver_sql("SET LOCAL ROLE liventix_app")
            return event.id, receive_verified_event(conn, event)
    except outbox.InboxNotConfigured as exc:
        raise ApiProblem(problems.WEBHOOKS_NOT_CONFIGURED) from exc
    except outbox.InvalidSignature as exc:  # the database's secret is not the API's
        raise ApiProblem(problems.INVALID_SIGNATURE, exc.reason) from exc
    except sa.exc.OperationalError as exc:
        raise ApiProblem(problems.UNAVAILABLE) from exc


@router.post(
    "/v1/stripe/webhook",
    responses={
        **problem_responses(503),
        400: {
            "model": Problem,
            "description": "The signature is missing, wrong, stale or timestamped in the "
            "future (`invalid-signature`), or the signed body is not a usable event "
            "(`invalid-stripe-event`); nothing was stored",
        },
        413: {
            "model": Problem,
            "description": "The body is larger than 256 KB; refused before it is read",
        },
    },
    openapi_extra={
        "requestBody": {
            "required": True,
            "description": "A Stripe event exactly as Stripe sent it (the signature covers "
            "these bytes)",
            "content": {"application/json": {"schema": {"type": "object"}}},
        }
    },
)
async def stripe_webhook(
    request: Request,
    stripe_signature: Annotated[
        str | None, Header(alias="Stripe-Signature", description="Stripe's signature")
    ] = None,
) -> m.StripeWebhookResponse:
    """Verify and store one Stripe event."""
    body = await request.body()  # at most 256 KB: the request limits saw to it
    runtime: ApiRuntime = request.app.state.runtime
    event_id, new = await run_in_threadpool(_store, runtime, body, stripe_signature)
    return m.StripeWebhookResponse(received=True, event_id=event_id, duplicate=not new)
