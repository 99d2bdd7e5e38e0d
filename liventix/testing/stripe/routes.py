"""Stripe's API as the stand-in routes it: one request (`Recorded`) to one answer, from the
account's own model (PaymentIntents, refunds, transfers: `account.py`, `connect.py`) or else
from the objects seeded for a test (`seeded.py`). The HTTP server (`server.py`) calls
`_dispatch`; a test looks at each request with `StripeStandIn.watch`."""

from __future__ import annotations

import base64
import contextlib
import copy
from collections.abc import Callable
from typing import Any

from liventix.testing.stripe.account import Payments
from liventix.testing.stripe.event_log import list_events
from liventix.testing.stripe.objects import (
    StripeObject,
    StripeRefusal,
    refund_object,
    reversal_object,
    transfer_object,
)
from liventix.testing.stripe.seeded import Seeded
from liventix.testing.stripe.wire import Answer, Recorded, as_list, unflatten

HANG = "x-stand-in-hang"
"""The extra header by which a route asks the server to hang before answering (never sent)."""

_KINDS = {
    "payment_intents": "payment_intent",
    "charges": "charge",
    "balance_transactions": "balance_transaction",
    "refunds": "refund",
    "disputes": "dispute",
    "transfers": "transfer",
    "payouts": "payout",
}


def _secret_key(authorization: str) -> bool:
    """Whether the request names a secret key, as Stripe takes it: `Bearer sk_...`, or HTTP
    Basic with the key as the user name (`curl -u sk_...:`)."""
    scheme, _, credentials = authorization.partition(" ")
    if scheme == "Basic":
        with contextlib.suppress(ValueError):
            credentials = base64.b64decode(credentials).decode().partition(":")[0]
    return scheme in ("Bearer", "Basic") and credentials.startswith("sk_")


class Routes(Payments, Seeded):
    """The routing of Stripe's API over the account."""

    def _dispatch(
        self, request: Recorded, query: list[tuple[str, str]], form: list[tuple[str, str]]
    ) -> Answer:
        """The answer to one request: (status, body, extra headers)."""
        parts = [p for p in request.path.split("/") if p]
        if parts[:1] == ["_hooks"]:
            return 200, {"received": True}, {}
        if not _secret_key(request.header("authorization") or ""):
            raise StripeRefusal("You did not provide an API key.", status=401)
        limited = self.rate_limited(request.method, request.path)
        if limited is not None:
            # Stripe's 429: nothing done (`Weather.rate_limit`).
            code, message, headers = limited
            return 429, StripeRefusal(message, code=code, status=429).as_json(), headers
        if parts[:1] != ["v1"] or len(parts) not in (2, 3, 4):
            raise StripeRefusal(f"Unrecognized request URL ({request.path}).", status=404)
        if request.method == "GET" and parts[1:] == ["events"]:
            return self._events_listed(request.path, unflatten(query))
        if request.method == "GET":
            return 200, self._get(parts[1:], unflatten(query)), {}
        if request.method == "POST":
            return self._post(request, parts[1:], form)
        raise StripeRefusal(f"Unrecognized request URL ({request.method}: {request.path}).")

    # -- reading -----------------------------------------------------------------------------

    def _get(self, parts: list[str], params: dict[str, Any]) -> StripeObject:
        expand = as_list(params.pop("expand", None))
        if parts == ["refunds"]:
            return self._refunds_listed(params)
        if len(parts) != 2 or parts[0] not in _KINDS:
            raise StripeRefusal(
                f"Unrecognized request URL (GET /v1/{'/'.join(parts)}).", status=404
            )
        kind, object_id = _KINDS[parts[0]], parts[1]
        own = self._own(kind, object_id, expand)
        return own if own is not None else self._retrieve(kind, object_id, expand)

    def _events_listed(self, path: str, params: dict[str, Any]) -> Answer:
        """`GET /v1/events`: the account's event log as Stripe lists it (`event_log.py`),
        or the list's injected fault (`Weather.fail_list`)."""
        fault = self.list_fault(path)
        if fault == "fail":
            raise StripeRefusal(
                "An unknown error occurred (the stand-in's injected outage)",
                type="api_error",
                status=500,
            )
        with self._lock:
            listed = list_events(self._events, params)
        return 200, listed, ({HANG: "1"} if fault == "hang" else {})

    def _own(self, kind: str, object_id: str, expand: list[str]) -> StripeObject | None:
        """The object from the account's own model, or None if it is not one of its own."""
        if kind == "payment_intent" and object_id in self.intents:
            wanted = any(path.startswith("latest_charge") for path in expand)
            return self.intent_json(object_id, expand_charge=wanted)
        if kind == "charge" and self.intent_of_charge(object_id) is not None:
            return self.charge_json(object_id, expand_txn="balance_transaction" in expand)
        if kind == "balance_transaction":
            return self.balance_transaction(object_id)
        with self._lock:
            if kind == "refund" and object_id in self.refunds:
                refund = self.refunds[object_id]
                return refund_object(refund, refund.status)
            if kind == "transfer" and object_id in self.transfers:
                return transfer_object(self.transfers[object_id])
        return None

    def _refunds_listed(self, params: dict[str, Any]) -> StripeObject:
        """`GET /v1/refunds?charge=` (or `payment_intent=`): the account's and the seeded."""
        charge, intent = params.get("charge"), params.get("payment_intent")
        with self._lock:
            own = [
                refund_object(r, r.status)
                for r in self.refunds.values()
                if (charge is None or f"ch_{r.payment_intent_id[3:]}" == charge)
                and (intent is None or r.payment_intent_id == intent)
            ]
        listed = self._list_refunds(params)
        listed["data"] = own + listed["data"]
        return listed

    # -- writing -----------------------------------------------------------------------------

    def _post(self, request: Recorded, parts: list[str], form: list[tuple[str, str]]) -> Answer:
        params = unflatten(form)
        metadata = {str(k): str(v) for k, v in (params.get("metadata") or {}).items()}
        key = request.header("idempotency-key") or ""
        if parts == ["payment_intents"]:
            return self._create_intent(params, metadata, key)
        if len(parts) == 3 and parts[0] == "payment_intents" and parts[2] == "cancel":
            intent = self.cancel_payment_intent(
                parts[1], reason=params.get("cancellation_reason"), idempotency_key=key
            )
            return 200, self.intent_json(intent.id, expand_charge=False), {}
        if parts == ["refunds"] and str(params.get("payment_intent")) not in self.intents:
            return self._idempotently(request, form, lambda: self._create_seeded_refund(params))
        if parts == ["refunds"]:
            refund = self.create_refund(
                payment_intent_id=str(params["payment_intent"]),
                amount=int(params["amount"]),
                metadata=metadata,
                idempotency_key=key,
            )
            return 200, refund_object(refund, refund.status), {}
        if parts == ["transfers"]:
            transfer = self.create_transfer(
                amount=int(params["amount"]),
                currency=str(params["currency"]),
                destination=str(params["destination"]),
                metadata=metadata,
                idempotency_key=key,
                source_transaction=params.get("source_transaction"),
                transfer_group=params.get("transfer_group"),
            )
            return 200, transfer_object(transfer), {}
        if len(parts) == 3 and parts[0] == "transfers" and parts[2] == "reversals":
            reversal = self.create_transfer_reversal(
                parts[1], amount=int(params["amount"]), metadata=metadata, idempotency_key=key
            )
            return 200, reversal_object(reversal), {}
        path = "/".join(parts)
        raise StripeRefusal(f"Unrecognized request URL (POST /v1/{path}).", status=404)

    def _create_intent(self, params: dict[str, Any], metadata: dict[str, str], key: str) -> Answer:
        fault = self.fault(key)
        if fault == "fail":
            # Stripe's outage: nothing is created, nothing is kept under the key.
            raise StripeRefusal(
                "An unknown error occurred (the stand-in's injected outage)",
                type="api_error",
                status=500,
            )
        intent = self.create_payment_intent(
            amount=int(params["amount"]),
            currency=str(params["currency"]),
            metadata=metadata,
            idempotency_key=key,
        )
        extra = {HANG: "1"} if fault == "hang" else {}
        return 200, self.intent_json(intent.id, expand_charge=False), extra

    def _idempotently(
        self, request: Recorded, form: list[tuple[str, str]], create: Callable[[], StripeObject]
    ) -> Answer:
        """A POST that creates a seeded object, under Stripe's idempotency rules: a key seen
        before replays its first answer if the endpoint and parameters are the same."""
        key = request.header("idempotency-key")
        flat = dict(form)
        with self._lock:
            if key is not None and key in self._idempotent:
                first_path, first_params, first = self._idempotent[key]
                if (first_path, first_params) != (request.path, flat):
                    raise StripeRefusal(
                        "Keys for idempotent requests can only be used with the same "
                        "parameters they were first used with.",
                        type="idempotency_error",
                    )
                return 200, copy.deepcopy(first), {"Idempotent-Replayed": "true"}
            created = create()
            if key is not None:
                self._idempotent[key] = (request.path, flat, created)
            return 200, created, {}
