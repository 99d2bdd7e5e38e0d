"""The Stripe gateway: the one place that calls Stripe's API, with the stripe library (and,
for the checkout's PaymentIntent, directly on the same pooled connections). Every call's 429
(Stripe busy: `rate_limit`, `lock_timeout`) raises `StripeBusy` (`liventix.stripe_gateway.
budget`), which the inbox defers seconds without counting an attempt."""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, ParamSpec, TypeVar

import stripe

import escrow
import ticketing_fsm
from liventix.stripe_gateway.budget import StripeBusy
from liventix.stripe_gateway.intents import DirectIntents
from liventix.stripe_gateway.pool import PooledHTTPClient, StripeSettings, http_client

P = ParamSpec("P")
R = TypeVar("R")


def _busy(call: Callable[P, R]) -> Callable[P, R]:
    """The call with Stripe's 429 (the library's RateLimitError) raised as `StripeBusy`."""

    @functools.wraps(call)
    def wrapped(*args: P.args, **kwargs: P.kwargs) -> R:
        try:
            return call(*args, **kwargs)
        except StripeBusy:
            raise
        except stripe.RateLimitError as error:
            raise StripeBusy.of(error) from error

    return wrapped


def _created(charge: Any) -> datetime | None:
    """A charge's `created` (Unix seconds) as a time; None if it carries none readable."""
    # Plain JSON (the direct read) or the library's StripeObject (its attribute).
    created = (
        charge.get("created") if isinstance(charge, dict) else getattr(charge, "created", None)
    )
    if type(created) is not int:
        return None
    try:
        return datetime.fromtimestamp(created, UTC)
    except (OverflowError, OSError, ValueError):
        return None


def _charge_facts(payment_intent_id: str, intent: dict[str, Any]) -> escrow.ChargeFacts | None:
    """The facts from a PaymentIntent read as JSON with its charge and balance transaction
    expanded; None when an object came back unexpanded (an id): the library reads it then."""
    charge = intent.get("latest_charge")
    if charge is None:
        raise escrow.NotYetApplicable(reason=f"{payment_intent_id} has no charge yet")
    if not isinstance(charge, dict):
        return None
    txn = charge.get("balance_transaction")
    if txn is not None and not isinstance(txn, dict):
        return None
    return escrow.ChargeFacts(
        charge_id=str(charge["id"]),
        balance_transaction_id=None if txn is None else str(txn["id"]),
        stripe_fee=0 if txn is None else int(txn["fee"]),
        created=_created(charge),
    )


@dataclass(frozen=True)
class EventsPage:
    """One page of Stripe's event list, its items as Stripe sent them (plain JSON: each is
    checked as a webhook's body is before it is kept), newest first."""

    items: list[Any]
    has_more: bool


class StripeGateway:
    """Stripe's API as the payments core needs it."""

    def __init__(self, settings: StripeSettings) -> None:
        self.settings = settings
        bases: Any = {"api": settings.api_base} if settings.api_base else None
        http = http_client(settings)
        self.client = stripe.StripeClient(
            settings.api_key,
            base_addresses=bases,
            max_network_retries=settings.max_network_retries,
            http_client=http,
        )
        self.intents = (
            DirectIntents(http, settings, self.client)
            if isinstance(http, PooledHTTPClient)
            else None
        )

    @_busy
    def charge_facts(self, payment_intent_id: str) -> escrow.ChargeFacts:
        """The PaymentIntent's latest charge (with when it was made) and its balance
        transaction's fee: read directly
        (`DirectIntents.with_charge`), else through the library."""
        if self.intents is not None:
            data = self.intents.with_charge(payment_intent_id)
            if data is not None:
                facts = _charge_facts(payment_intent_id, data)
                if facts is not None:
                    return facts
        intent = self.client.v1.payment_intents.retrieve(
            payment_intent_id, params={"expand": ["latest_charge.balance_transaction"]}
        )
        charge: Any = intent.latest_charge
        if charge is None:
            raise escrow.NotYetApplicable(reason=f"{payment_intent_id} has no charge yet")
        if isinstance(charge, str):
            charge = self.client.v1.charges.retrieve(
                charge, params={"expand": ["balance_transaction"]}
            )
        txn: Any = charge.balance_transaction
        if isinstance(txn, str):
            txn = self.client.v1.balance_transactions.retrieve(txn)
        return escrow.ChargeFacts(
            charge_id=charge.id,
            balance_transaction_id=None if txn is None else txn.id,
            stripe_fee=0 if txn is None else int(txn.fee),
            created=_created(charge),
        )

    @_busy
    def refunds_of_charge(self, charge_id: str) -> list[escrow.RefundFacts]:
        """Every refund of the charge."""
        listed = self.client.v1.refunds.list(params={"charge": charge_id, "limit": 100})
        return [
            escrow.RefundFacts(
                refund_id=r.id,
                payment_intent_id=str(
                    r.payment_intent if isinstance(r.payment_intent, str) else r.payment_intent.id
                )
                if r.payment_intent
                else "",
                amount=int(r.amount),
                status=str(r.status),
            )
            for r in listed.auto_paging_iter()
        ]

    @_busy
    def create_transfer(
        self, request: escrow.TransferRequested, idempotency_key: str
    ) -> tuple[str, int]:
        """Transfer the released amount to the organizer's connected account; returns the
        transfer's id and amount. A transfer one charge funds names it (`source_transaction`:
        Stripe makes it once that charge's funds are available). The idempotency key (the
        outbox message id) makes retries safe."""
        if not request.destination:
            raise ValueError(f"organizer {request.org_id} has no connected account")
        params: Any = {
            "amount": request.amount,
            "currency": request.currency.lower(),
            "destination": request.destination,
            "transfer_group": f"escrow_{request.escrow_id}",
            "metadata": {
                escrow.META_ESCROW: request.escrow_id,
                "liventix_event_id": request.event_id,
                # Stripe's transfer.created then names the request it answers, whatever
                # the order it arrives in (escrow.transfer_created settles what it pays).
                escrow.META_TRANSFER_REQUEST: idempotency_key,
            },
        }
        if request.source_transaction:
            params["source_transaction"] = request.source_transaction
        transfer = self.client.v1.transfers.create(
            params=params, options={"idempotency_key": idempotency_key}
        )
        return transfer.id, int(transfer.amount)

    @_busy
    def create_transfer_reversal(
        self, request: escrow.TransferReversalRequested, idempotency_key: str
    ) -> tuple[str, int]:
        """Reverse part of a transfer (what the organizer owes after release); returns the
        reversal's id and amount. The same key returns the same reversal."""
        reversal = self.client.v1.transfers.reversals.create(
            request.transfer_id,
            params={
                "amount": request.amount,
                "metadata": {escrow.META_REVERSAL_REQUEST: request.request_id},
            },
            options={"idempotency_key": idempotency_key},
        )
        return reversal.id, int(reversal.amount)

    @_busy
    def create_payment_intent(
        self, amount: int, currency: str, metadata: dict[str, str], idempotency_key: str
    ) -> ticketing_fsm.CreatedIntent:
        """A PaymentIntent for a checkout; the same key returns the same intent.

        The checkout's hot call: sent directly (`DirectIntents`; Stripe's error answer raises
        the library's typed error, sent once); a connection lost before any answer is sent
        again with the library's `raw_request` (its retries and timeout as for any call). Only
        the two fields the checkout needs are read from the answer, without building the
        library's objects from it."""
        if self.intents is not None:
            created = self.intents.create(amount, currency, metadata, idempotency_key)
            if created is not None:
                return created
        answer = self.client.raw_request(
            "post",
            "/v1/payment_intents",
            amount=amount,
            currency=currency.lower(),
            metadata=metadata,
            automatic_payment_methods={"enabled": True},
            idempotency_key=idempotency_key,
        )
        data: Any = answer.data
        return ticketing_fsm.CreatedIntent(
            payment_intent_id=str(data["id"]), client_secret=str(data["client_secret"])
        )

    @_busy
    def cancel_payment_intent(self, payment_intent_id: str, idempotency_key: str) -> str:
        """Cancel an unpaid PaymentIntent; returns the status it is in: `canceled` (now, or
        already), or the status Stripe refused to cancel (`succeeded`, `processing`: the
        buyer paid first, and that payment's own event decides). Stripe's refusal
        (`payment_intent_unexpected_state`) carries the intent in its error object
        (`error.payment_intent`); without it the intent is read."""
        try:
            intent = self.client.v1.payment_intents.cancel(
                payment_intent_id,
                params={"cancellation_reason": "abandoned"},
                options={"idempotency_key": idempotency_key},
            )
        except stripe.InvalidRequestError as exc:
            if exc.code != "payment_intent_unexpected_state":
                raise
            # Already canceled, or paid: look at what it is.
            refused: Any = exc.error.payment_intent if exc.error is not None else None
            status = getattr(refused, "status", None)
            if isinstance(status, str) and getattr(refused, "id", None) == payment_intent_id:
                return status
            return str(self.client.v1.payment_intents.retrieve(payment_intent_id).status)
        return str(intent.status)

    @_busy
    def list_events(
        self,
        *,
        created_gte: int,
        created_lte: int | None = None,
        starting_after: str | None = None,
        types: list[str] | None = None,
        limit: int = 100,
    ) -> EventsPage:
        """One page of Stripe's events (`GET /v1/events`: kept 30 days, newest first),
        created at or after `created_gte` (and at or before `created_lte`), after the event
        `starting_after` in that order, of the `types` given (at most 20, Stripe's bound).
        The items are the page's JSON as Stripe sent it, not the library's objects, so that
        an item the inbox cannot keep is the caller's to skip, not a failure of the page."""
        params: Any = {"limit": limit, "created": {"gte": created_gte}}
        if created_lte is not None:
            params["created"]["lte"] = created_lte
        if starting_after is not None:
            params["starting_after"] = starting_after
        if types:
            params["types"] = types
        # The library's raw call (its key, API version, retries, timeout and typed errors):
        # `v1.events.list` built a StripeObject of every event only for this code to read
        # the JSON back (half the read's client CPU, ~50 ms a page of 100).
        answer = self.client.raw_request("get", "/v1/events", **params)
        data: Any = answer.data
        if not isinstance(data, dict) or not isinstance(data.get("data"), list):
            raise stripe.APIError("Stripe's event list is not a list object")
        return EventsPage(items=list(data["data"]), has_more=data.get("has_more") is True)

    @_busy
    def create_refund(
        self, payment_intent_id: str, amount: int, metadata: dict[str, str], idempotency_key: str
    ) -> str:
        """Refund part of a payment; the same key returns the same refund."""
        refund = self.client.v1.refunds.create(
            params={"payment_intent": payment_intent_id, "amount": amount, "metadata": metadata},
            options={"idempotency_key": idempotency_key},
        )
        return refund.id
