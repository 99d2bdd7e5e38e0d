"""A Stripe-compatible test server on 127.0.0.1, and signed webhook delivery into the inbox.

`FakeStripe` answers the part of Stripe's API the payments core calls, in Stripe's wire format,
so the real stripe library (through `liventix.stripe_gateway.StripeGateway` with `api_base`
pointed here) is what the tests exercise:

- `GET /v1/payment_intents/{id}`, `GET /v1/charges/{id}`, `GET /v1/balance_transactions/{id}`
  (each honouring `expand[]`, e.g. `latest_charge.balance_transaction`);
- `GET /v1/refunds?charge=...` (or `payment_intent=...`), a list object;
- `POST /v1/transfers`, `POST /v1/payment_intents` (created `requires_payment_method`, no
  charge yet: `confirm_payment` makes it succeed) and `POST /v1/refunds` (of a succeeded
  PaymentIntent's charge, `succeeded` at once, never beyond what is left of the charge),
  form-encoded, each honouring `Idempotency-Key` as Stripe does: the same key with the same
  parameters replays the first object (`Idempotent-Replayed: true`); with other parameters, or
  on another endpoint, it is a 400 `idempotency_error`.

Unknown ids answer Stripe's 404 `resource_missing`; a request without a bearer key answers 401.
Every request is recorded (method, path, query, headers, form). Tests seed objects with
`add_payment`, `add_refund`, `add_dispute`, ... and read back what Stripe would hold. Anything
POSTed under `/_hooks/` is recorded and answered 200: a stand-in for an organizer's webhook
endpoint. `lose_next_response(path)` makes the next POST there take effect but drop the
connection before answering (a response lost on the way back).

`deliver_event` signs an event's body with the stripe library's own helper and feeds it
through `liventix.stripe_events.receive_stripe_webhook`, as Stripe's POST would.
"""

from __future__ import annotations

import copy
import json
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import sqlalchemy as sa
import stripe

from liventix.stripe_events import receive_stripe_webhook
from tests.fakes import stripe_objects as so
from tests.fakes.stripe_objects import StripeObject


class StripeError(Exception):
    """An error answered in Stripe's format."""

    def __init__(self, status: int, type: str, message: str, code: str | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.body = {
            "error": {
                "type": type,
                "code": code,
                "message": message,
                "doc_url": f"https://stripe.com/docs/error-codes/{code}" if code else None,
            }
        }


def _missing(kind: str, object_id: str) -> StripeError:
    return StripeError(
        404, "invalid_request_error", f"No such {kind}: '{object_id}'", "resource_missing"
    )


@dataclass(frozen=True)
class Recorded:
    """One request as the server received it."""

    method: str
    path: str
    query: dict[str, str]
    headers: dict[str, str]
    form: dict[str, str]
    body: bytes

    def header(self, name: str) -> str | None:
        """A header's value by case-insensitive name."""
        return self.headers.get(name.lower())


@dataclass(frozen=True)
class Payment:
    """A succeeded PaymentIntent with its charge and the charge's balance transaction."""

    intent: StripeObject
    charge: StripeObject
    balance_transaction: StripeObject

    @property
    def id(self) -> str:
        """The PaymentIntent's id."""
        return str(self.intent["id"])

    @property
    def charge_id(self) -> str:
        """The charge's id."""
        return str(self.charge["id"])


def unflatten(pairs: list[tuple[str, str]]) -> dict[str, Any]:
    """Stripe's form encoding back to nested data: `metadata[k]=v`, `expand[0]=x`."""
    out: dict[str, Any] = {}
    for key, value in pairs:
        parts = key.replace("]", "").split("[")
        node = out
        for part in parts[:-1]:
            node = node.setdefault(part, {})
        node[parts[-1]] = value
    return out


def _as_list(value: Any) -> list[str]:
    if value is None:
        return []
    if isinstance(value, dict):  # expand[0]=a&expand[1]=b, or expand[]=a (key "")
        return [str(v) for _, v in sorted(value.items())]
    return [str(value)]


_PREFIXES = {
    "payment_intent": "payment_intents",
    "charge": "charges",
    "balance_transaction": "balance_transactions",
    "refund": "refunds",
    "dispute": "disputes",
    "transfer": "transfers",
    "payout": "payouts",
}
_KINDS = {v: k for k, v in _PREFIXES.items()}


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    fake: FakeStripe

    def handle_error(self, request: Any, client_address: Any) -> None:
        """Dropped connections are part of the tests; stay quiet."""


class _Handler(BaseHTTPRequestHandler):
    server: _Server

    def do_GET(self) -> None:
        self._serve("GET")

    def do_POST(self) -> None:
        self._serve("POST")

    def do_DELETE(self) -> None:
        self._serve("DELETE")

    def log_message(self, format: str, *args: object) -> None:
        """Quiet: the recorded requests are the log."""

    def _serve(self, method: str) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        parts = urlsplit(self.path)
        form_pairs = parse_qsl(body.decode(), keep_blank_values=True) if method == "POST" else []
        request = Recorded(
            method=method,
            path=parts.path,
            query=dict(parse_qsl(parts.query, keep_blank_values=True)),
            headers={k.lower(): v for k, v in self.headers.items()},
            form=dict(form_pairs),
            body=body,
        )
        fake = self.server.fake
        fake._record(request)
        try:
            status, payload, extra = fake._dispatch(request, parse_qsl(parts.query), form_pairs)
        except StripeError as exc:
            status, payload, extra = exc.status, exc.body, {}
        except _DropConnection:
            self.close_connection = True
            return
        data = json.dumps(payload).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.send_header("Request-Id", so.new_id("req"))
        for name, value in extra.items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(data)


class _DropConnection(Exception):
    """Close the connection without answering."""


class FakeStripe:
    """The server: a store of Stripe objects by id, and the HTTP front that serves them."""

    def __init__(self) -> None:
        self._lock = threading.RLock()
        self._objects: dict[str, StripeObject] = {}
        self._requests: list[Recorded] = []
        # Idempotency-Key: (path, parameters, first answer).
        self._idempotent: dict[str, tuple[str, dict[str, str], StripeObject]] = {}
        self._lose: set[str] = set()
        self._http = _Server(("127.0.0.1", 0), _Handler)
        self._http.fake = self
        self._thread = threading.Thread(
            target=self._http.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )

    # -- life --------------------------------------------------------------------------------

    @property
    def url(self) -> str:
        """The API base, for `StripeSettings(api_base=...)`."""
        host, port = self._http.server_address[:2]
        return f"http://{host!s}:{port}"

    def hook_url(self, name: str) -> str:
        """A URL under `/_hooks/` that records what is POSTed to it and answers 200."""
        return f"{self.url}/_hooks/{name}"

    def start(self) -> FakeStripe:
        """Serve in a background thread."""
        self._thread.start()
        return self

    def close(self) -> None:
        """Stop serving and close the socket."""
        self._http.shutdown()
        self._http.server_close()
        self._thread.join(timeout=5)

    # -- what was asked ----------------------------------------------------------------------

    def _record(self, request: Recorded) -> None:
        with self._lock:
            self._requests.append(request)

    def requests(self, method: str | None = None, path: str | None = None) -> list[Recorded]:
        """Recorded requests, optionally of one method and starting with a path."""
        with self._lock:
            return [
                r
                for r in self._requests
                if (method is None or r.method == method)
                and (path is None or r.path.startswith(path))
            ]

    def lose_next_response(self, path: str) -> None:
        """The next POST to `path` takes effect, then the connection drops unanswered."""
        with self._lock:
            self._lose.add(path)

    # -- the store ---------------------------------------------------------------------------

    def add(self, obj: StripeObject) -> StripeObject:
        """Store (or replace) an object under its id; returns a copy."""
        with self._lock:
            self._objects[str(obj["id"])] = copy.deepcopy(obj)
            return copy.deepcopy(obj)

    def get(self, object_id: str) -> StripeObject:
        """A copy of a stored object (KeyError if unknown)."""
        with self._lock:
            return copy.deepcopy(self._objects[object_id])

    def objects(self, kind: str) -> list[StripeObject]:
        """Copies of every stored object of a kind (`transfer`, `refund`, ...)."""
        with self._lock:
            return [copy.deepcopy(o) for o in self._objects.values() if o["object"] == kind]

    def _update(self, object_id: str, change: Callable[[StripeObject], None]) -> StripeObject:
        with self._lock:
            obj = self._objects[object_id]
            change(obj)
            return copy.deepcopy(obj)

    # -- seeding, as Stripe's side of the story ----------------------------------------------

    def add_payment(
        self,
        *,
        amount: int,
        fee: int,
        metadata: Mapping[str, str] | None = None,
        currency: str = "usd",
        id: str | None = None,
    ) -> Payment:
        """A succeeded PaymentIntent of `amount`, its charge, and the charge's balance
        transaction with Stripe's processing `fee`."""
        pi_id = id or so.new_id("pi")
        charge_id = so.new_id("ch")
        txn = so.balance_transaction(
            amount=amount, fee=fee, currency=currency, source=charge_id, type="charge"
        )
        charge = so.charge(
            id=charge_id,
            amount=amount,
            currency=currency,
            payment_intent=pi_id,
            balance_transaction=txn["id"],
            metadata=metadata,
        )
        intent = so.payment_intent(
            id=pi_id, amount=amount, currency=currency, metadata=metadata, latest_charge=charge_id
        )
        return Payment(self.add(intent), self.add(charge), self.add(txn))

    def add_refund(self, charge_id: str, amount: int, status: str = "succeeded") -> StripeObject:
        """A refund of the charge (listed on it, counted in `amount_refunded`)."""
        charge = self.get(charge_id)
        txn = self.add(
            so.balance_transaction(
                amount=-amount,
                fee=0,
                currency=charge["currency"],
                type="refund",
                reporting_category="refund",
            )
        )
        refund = self.add(
            so.refund(
                amount=amount,
                charge=charge_id,
                payment_intent=charge["payment_intent"],
                currency=charge["currency"],
                status=status,
                balance_transaction=txn["id"],
            )
        )
        self._update(txn["id"], lambda t: t.__setitem__("source", refund["id"]))
        self._sync_charge(charge_id)
        return refund

    def set_refund_status(self, refund_id: str, status: str) -> StripeObject:
        """A refund moved on (pending to succeeded, succeeded to failed, ...)."""
        refund = self._update(refund_id, lambda r: r.__setitem__("status", status))
        self._sync_charge(str(refund["charge"]))
        return self.get(refund_id)

    def _sync_charge(self, charge_id: str) -> None:
        refunds = sorted(
            (r for r in self.objects("refund") if r["charge"] == charge_id),
            key=lambda r: (r["created"], r["id"]),
        )

        def change(charge: StripeObject) -> None:
            rebuilt = so.charge(
                id=charge_id,
                amount=charge["amount"],
                currency=charge["currency"],
                payment_intent=charge["payment_intent"],
                balance_transaction=charge["balance_transaction"],
                refunds=refunds,
            )
            for name in ("amount_refunded", "refunded", "refunds"):
                charge[name] = rebuilt[name]

        self._update(charge_id, change)

    def confirm_payment(self, payment_intent_id: str, fee: int) -> Payment:
        """The buyer paid a PaymentIntent created through the API: it succeeds with a charge
        and the charge's balance transaction carrying Stripe's processing `fee`."""
        intent = self.get(payment_intent_id)
        amount, currency = int(intent["amount"]), str(intent["currency"])
        charge_id = so.new_id("ch")
        txn = so.balance_transaction(
            amount=amount, fee=fee, currency=currency, source=charge_id, type="charge"
        )
        charge = so.charge(
            id=charge_id,
            amount=amount,
            currency=currency,
            payment_intent=payment_intent_id,
            balance_transaction=txn["id"],
            metadata=intent["metadata"],
        )

        def succeed(pi: StripeObject) -> None:
            pi.update(status="succeeded", latest_charge=charge_id, amount_received=amount)

        with self._lock:
            self.add(txn)
            self.add(charge)
            return Payment(self._update(payment_intent_id, succeed), self.get(charge_id), txn)

    def charge_without_refunds(self, charge_id: str) -> StripeObject:
        """The charge as newer API versions send it in events: no `refunds` list."""
        charge = self.get(charge_id)
        charge.pop("refunds", None)
        return charge

    def add_dispute(self, charge_id: str, amount: int) -> StripeObject:
        """A dispute opened on the charge (no funds moved yet)."""
        charge = self.get(charge_id)
        self._update(charge_id, lambda c: c.__setitem__("disputed", True))
        return self.add(
            so.dispute(
                amount=amount,
                charge=charge_id,
                payment_intent=charge["payment_intent"],
                currency=charge["currency"],
            )
        )

    def withdraw_dispute_funds(self, dispute_id: str, fee: int) -> StripeObject:
        """Stripe took the disputed amount and its dispute fee from the balance."""
        dispute = self.get(dispute_id)
        txn = self.add(
            so.dispute_withdrawal(dispute_id, int(dispute["amount"]), fee, dispute["currency"])
        )
        return self._update(dispute_id, lambda d: d["balance_transactions"].append(txn))

    def reinstate_dispute_funds(self, dispute_id: str, fee_returned: int) -> StripeObject:
        """Stripe gave the disputed amount (and, when it does, the fee) back."""
        dispute = self.get(dispute_id)
        txn = self.add(
            so.dispute_reinstatement(
                dispute_id, int(dispute["amount"]), fee_returned, dispute["currency"]
            )
        )

        def change(d: StripeObject) -> None:
            d["balance_transactions"].append(txn)
            d["status"] = "under_review"

        return self._update(dispute_id, change)

    def close_dispute(self, dispute_id: str, status: str) -> StripeObject:
        """The dispute's outcome: `won`, `lost` or `warning_closed`."""
        return self._update(dispute_id, lambda d: d.__setitem__("status", status))

    def reverse_transfer(self, transfer_id: str, amount: int) -> StripeObject:
        """Part (or all) of a transfer taken back from the connected account."""
        reversal = so.transfer_reversal(amount=amount, transfer=transfer_id)

        def change(t: StripeObject) -> None:
            t["reversals"]["data"].append(reversal)
            t["amount_reversed"] += amount
            t["reversed"] = t["amount_reversed"] >= t["amount"]

        return self._update(transfer_id, change)

    def add_payout(self, amount: int, status: str = "paid", currency: str = "usd") -> StripeObject:
        """A payout of the platform's balance to its bank."""
        return self.add(so.payout(amount=amount, currency=currency, status=status))

    def set_payout_status(self, payout_id: str, status: str) -> StripeObject:
        """A payout moved on (paid, then failed when the bank returned it)."""
        failed = so.payout(amount=1, status="failed")

        def change(p: StripeObject) -> None:
            p["status"] = status
            if status == "failed":
                for name in ("failure_balance_transaction", "failure_code", "failure_message"):
                    p[name] = failed[name]

        return self._update(payout_id, change)

    # -- the API -----------------------------------------------------------------------------

    def _dispatch(
        self, request: Recorded, query: list[tuple[str, str]], form: list[tuple[str, str]]
    ) -> tuple[int, StripeObject, dict[str, str]]:
        parts = [p for p in request.path.split("/") if p]
        if parts[:1] == ["_hooks"]:
            return 200, {"received": True}, {}
        auth = request.header("authorization") or ""
        if not auth.startswith("Bearer sk_"):
            raise StripeError(401, "invalid_request_error", "You did not provide an API key.")
        params = unflatten(query if request.method == "GET" else form)
        expand = _as_list(params.pop("expand", None))
        if parts[:1] != ["v1"] or len(parts) not in (2, 3):
            raise StripeError(
                404, "invalid_request_error", f"Unrecognized request URL ({request.path})."
            )
        collection = parts[1]
        if request.method == "GET" and len(parts) == 3 and collection in _KINDS:
            return 200, self._retrieve(_KINDS[collection], parts[2], expand), {}
        if request.method == "GET" and parts[1:] == ["refunds"]:
            return 200, self._list_refunds(params), {}
        if request.method == "POST" and parts[1:] == ["transfers"]:
            return self._idempotently(request, form, lambda: self._create_transfer(params))
        if request.method == "POST" and parts[1:] == ["payment_intents"]:
            return self._idempotently(request, form, lambda: self._create_intent(params))
        if request.method == "POST" and parts[1:] == ["refunds"]:
            return self._idempotently(request, form, lambda: self._create_refund(params))
        raise StripeError(
            404,
            "invalid_request_error",
            f"Unrecognized request URL ({request.method}: {request.path}).",
        )

    def _retrieve(self, kind: str, object_id: str, expand: list[str]) -> StripeObject:
        with self._lock:
            obj = self._objects.get(object_id)
            if obj is None or obj["object"] != kind:
                raise _missing(kind, object_id)
            found = copy.deepcopy(obj)
            for path in expand:
                self._expand(found, path.split("."))
            return found

    def _expand(self, obj: StripeObject, path: list[str]) -> None:
        name, rest = path[0], path[1:]
        value = obj.get(name)
        if isinstance(value, str):
            target = self._objects.get(value)
            if target is None:
                raise _missing(name, value)
            value = copy.deepcopy(target)
            obj[name] = value
        if rest and isinstance(value, dict):
            self._expand(value, rest)

    def _list_refunds(self, params: dict[str, Any]) -> StripeObject:
        charge = params.get("charge")
        intent = params.get("payment_intent")
        limit = int(params.get("limit") or 10)
        with self._lock:
            found = [
                copy.deepcopy(o)
                for o in self._objects.values()
                if o["object"] == "refund"
                and (charge is None or o["charge"] == charge)
                and (intent is None or o["payment_intent"] == intent)
            ]
        found.sort(key=lambda r: (-int(r["created"]), str(r["id"])))
        return {
            "object": "list",
            "data": found[:limit],
            "has_more": len(found) > limit,
            "url": "/v1/refunds",
        }

    def _idempotently(
        self, request: Recorded, form: list[tuple[str, str]], create: Callable[[], StripeObject]
    ) -> tuple[int, StripeObject, dict[str, str]]:
        """A POST that creates an object, under Stripe's idempotency rules: a key seen before
        replays its first answer if the endpoint and parameters are the same."""
        key = request.header("idempotency-key")
        flat = dict(form)
        with self._lock:
            if key is not None and key in self._idempotent:
                first_path, first_params, first = self._idempotent[key]
                if (first_path, first_params) != (request.path, flat):
                    raise StripeError(
                        400,
                        "idempotency_error",
                        "Keys for idempotent requests can only be used with the same "
                        "parameters they were first used with.",
                    )
                return 200, copy.deepcopy(first), {"Idempotent-Replayed": "true"}
            created = create()
            if key is not None:
                self._idempotent[key] = (request.path, flat, created)
            if request.path in self._lose:
                self._lose.discard(request.path)
                raise _DropConnection()
            return 200, created, {}

    @staticmethod
    def _require(params: dict[str, Any], *names: str) -> None:
        for name in names:
            if not params.get(name):
                raise StripeError(
                    400,
                    "invalid_request_error",
                    f"Missing required param: {name}.",
                    "parameter_missing",
                )

    def _create_transfer(self, params: dict[str, Any]) -> StripeObject:
        self._require(params, "amount", "currency", "destination")
        return self.add(
            so.transfer(
                amount=int(params["amount"]),
                currency=str(params["currency"]),
                destination=str(params["destination"]),
                metadata=params.get("metadata") or {},
                transfer_group=params.get("transfer_group"),
            )
        )

    def _create_intent(self, params: dict[str, Any]) -> StripeObject:
        self._require(params, "amount", "currency")
        intent = so.payment_intent(
            amount=int(params["amount"]),
            currency=str(params["currency"]),
            metadata=params.get("metadata") or {},
            status="requires_payment_method",
        )
        methods = params.get("automatic_payment_methods") or {}
        intent["automatic_payment_methods"] = {"enabled": methods.get("enabled") == "true"}
        return self.add(intent)

    def _create_refund(self, params: dict[str, Any]) -> StripeObject:
        pi_id, charge_id = params.get("payment_intent"), params.get("charge")
        if not pi_id and not charge_id:
            self._require(params, "payment_intent")
        if pi_id:
            intent = self._objects.get(str(pi_id))
            if intent is None or intent["object"] != "payment_intent":
                raise _missing("payment_intent", str(pi_id))
            charge_id = intent.get("latest_charge")
            if not charge_id:
                raise StripeError(
                    400,
                    "invalid_request_error",
                    f"This PaymentIntent ({pi_id}) does not have a successful charge to refund.",
                    "charge_not_refundable",
                )
        charge = self._objects.get(str(charge_id))
        if charge is None or charge["object"] != "charge":
            raise _missing("charge", str(charge_id))
        left = int(charge["amount"]) - int(charge["amount_refunded"])
        amount = int(params.get("amount") or left)
        if amount <= 0 or amount > left:
            raise StripeError(
                400,
                "invalid_request_error",
                f"Refund amount ({amount}) is greater than unrefunded amount on charge ({left})",
                "amount_too_large",
            )
        refund = self.add_refund(str(charge_id), amount)
        metadata = params.get("metadata") or {}
        return self._update(str(refund["id"]), lambda r: r.__setitem__("metadata", metadata))


def signature_header(body: bytes, secret: str, timestamp: int | None = None) -> str:
    """The `Stripe-Signature` header Stripe would send with this body."""
    when = int(time.time()) if timestamp is None else timestamp
    header: str = stripe.WebhookSignature.generate_signature_header(
        body.decode(), secret, timestamp=when
    )
    return header


@dataclass
class Delivered:
    """What `deliver_event` stored: the event id and whether it was new."""

    event_id: str
    new: bool
    body: bytes = field(repr=False)


def deliver_event(
    conn: sa.Connection, event: StripeObject, secret: str, timestamp: int | None = None
) -> Delivered:
    """Sign the event's body and receive it as the webhook endpoint does, on `conn`."""
    body = json.dumps(event, separators=(",", ":")).encode()
    event_id, new = receive_stripe_webhook(
        conn, body, signature_header(body, secret, timestamp), secret
    )
    return Delivered(event_id, new, body)


def deliver(engine: sa.Engine, *events: StripeObject, secret: str) -> list[Delivered]:
    """Deliver each event in its own committed transaction, as separate POSTs would."""
    out = []
    for evt in events:
        with engine.begin() as conn:
            out.append(deliver_event(conn, evt, secret))
    return out
