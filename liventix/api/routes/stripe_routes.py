"""Stripe's webhooks in: `POST /v1/stripe/webhook` takes the raw body and its
`Stripe-Signature`, verifies it and stores the event in the inbox (once per event id), and
answers 200 as soon as it is stored; the worker handles it later. No API key: Stripe's
signature is the authentication. A bad, stale or missing signature is 400 and stores nothing.
"""

from __future__ import annotations

from typing import Annotated

import sqlalchemy as sa
from fastapi import APIRouter, Header, Request
from starlette.concurrency import run_in_threadpool

import outbox
from liventix.api import models as m
from liventix.api import problems
from liventix.api.problems import ApiProblem
from liventix.api.routing import problem_responses
from liventix.api.unit_of_work import ApiRuntime
from liventix.stripe_events import receive_stripe_webhook

router = APIRouter(tags=["stripe"])


def _store(runtime: ApiRuntime, body: bytes, signature: str | None) -> tuple[str, bool]:
    secret = runtime.stripe_webhook_secret
    if not secret:
        raise ApiProblem(problems.WEBHOOKS_NOT_CONFIGURED)
    try:
        with runtime.engine.begin() as conn:
            # The inbox needs no organization: the least role that may write it.
            conn.exec_driver_sql("SET LOCAL ROLE liventix_app")
            return receive_stripe_webhook(conn, body, signature, secret)
    except outbox.InvalidSignature as exc:
        raise ApiProblem(problems.INVALID_SIGNATURE, exc.reason) from exc
    except sa.exc.OperationalError as exc:
        raise ApiProblem(problems.UNAVAILABLE) from exc


@router.post(
    "/v1/stripe/webhook",
    responses=problem_responses(400, 503),
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
    body = await request.body()
    runtime: ApiRuntime = request.app.state.runtime
    event_id, new = await run_in_threadpool(_store, runtime, body, stripe_signature)
    return m.StripeWebhookResponse(received=True, event_id=event_id, duplicate=not new)
