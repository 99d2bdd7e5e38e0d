"""`StripeStandIn`: the one Stripe stand-in. An account in memory (its own model of
payments, refunds, disputes and Connect, plus objects seeded for a test's story), answering
Stripe's API over HTTP on 127.0.0.1 (`start()`, or a `StandInServer` of one's own), recording
every request it receives."""

from __future__ import annotations

import threading
from collections.abc import Callable

from liventix.testing.stripe.faults import HANG_SECONDS
from liventix.testing.stripe.objects import StripeObject, new_id, transfer_object
from liventix.testing.stripe.routes import Routes
from liventix.testing.stripe.seeded import Payment
from liventix.testing.stripe.server import StandInServer
from liventix.testing.stripe.wire import Answer, Recorded


class StripeStandIn(Routes):
    """The platform's Stripe account, in memory and (once started) over HTTP. Thread-safe:
    its HTTP server answers from many threads."""

    def __init__(
        self,
        *,
        latency_ms: float = 0.0,
        fail_rate: float = 0.0,
        hang_rate: float = 0.0,
        hang_seconds: float = HANG_SECONDS,
        seed: int = 0,
    ) -> None:
        super().__init__(
            latency_ms=latency_ms,
            fail_rate=fail_rate,
            hang_rate=hang_rate,
            hang_seconds=hang_seconds,
            seed=seed,
        )
        self._server: StandInServer | None = None
        self._thread: threading.Thread | None = None
        self._watchers: list[Callable[[Recorded], None]] = []

    def watch(self, watcher: Callable[[Recorded], None]) -> None:
        """Call `watcher(request)` for every request, before it is answered (in the serving
        thread): a test looks at the world while Stripe is being asked, or makes it wait."""
        self._watchers.append(watcher)

    def _dispatch(
        self, request: Recorded, query: list[tuple[str, str]], form: list[tuple[str, str]]
    ) -> Answer:
        for watcher in self._watchers:
            watcher(request)
        return super()._dispatch(request, query, form)

    # -- serving -----------------------------------------------------------------------------

    def start(self, port: int = 0) -> StripeStandIn:
        """Serve over HTTP on 127.0.0.1 in a background thread (until `close`)."""
        self._server = StandInServer(self, port=port)
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )
        self._thread.start()
        return self

    def close(self) -> None:
        """Stop serving and close the socket."""
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)

    @property
    def url(self) -> str:
        """The API base, for `StripeSettings(api_base=...)`."""
        if self._server is None:
            raise RuntimeError("the stand-in is not started")
        return self._server.url

    def hook_url(self, name: str) -> str:
        """A URL under `/_hooks/` that records what is POSTed to it and answers 200."""
        return f"{self.url}/_hooks/{name}"

    # -- Stripe's objects, whether the account's own or seeded -------------------------------

    def get(self, object_id: str) -> StripeObject:
        """An object by id as Stripe would answer it (KeyError if unknown)."""
        kind = {
            "pi": "payment_intent",
            "ch": "charge",
            "re": "refund",
            "tr": "transfer",
            "txn": "balance_transaction",
        }
        own = self._own(kind.get(object_id.split("_", maxsplit=1)[0], ""), object_id, [])
        return own if own is not None else self._stored_get(object_id)

    def objects(self, kind: str) -> list[StripeObject]:
        """Every object of a kind (`transfer`, `refund`, `payment_intent`, ...)."""
        with self._lock:
            own: list[StripeObject] = []
            if kind == "transfer":
                own = [transfer_object(t) for t in self.transfers.values()]
            elif kind == "payment_intent":
                own = [self.intent_json(i, expand_charge=False) for i in self.intents]
            elif kind == "refund":
                own = [self.get(r) for r in self.refunds]
        return own + self._stored_objects(kind)

    def pay(self, payment_intent_id: str, fee: int = 30) -> StripeObject:
        """The buyer paid the intent (Stripe's `fee` on the charge); returns the intent."""
        self.succeed(payment_intent_id, fee=fee)
        return self.get(payment_intent_id)

    def confirm_payment(self, payment_intent_id: str, fee: int) -> Payment:
        """The buyer paid a PaymentIntent created through the API: it succeeds with a charge
        and the charge's balance transaction carrying Stripe's processing `fee`."""
        if payment_intent_id not in self.intents:
            return self._seed_confirm_payment(payment_intent_id, fee)
        self.succeed(payment_intent_id, fee=fee)
        intent = self.intent_json(payment_intent_id, expand_charge=False)
        charge = self.charge_json(str(intent["latest_charge"]))
        txn = self.balance_transaction(str(charge["balance_transaction"]))
        assert txn is not None
        return Payment(intent, charge, txn)

    def add_refund(self, charge_id: str, amount: int, status: str = "succeeded") -> StripeObject:
        """A refund of the charge (listed on it, counted in `amount_refunded`)."""
        intent = self.intent_of_charge(charge_id)
        if intent is None:
            return self._seed_refund(charge_id, amount, status)
        refund = self.create_refund(
            payment_intent_id=intent.id, amount=amount, metadata={}, idempotency_key=new_id("key")
        )
        return self.set_refund_status(refund.id, status)

    def set_refund_status(self, refund_id: str, status: str) -> StripeObject:
        """A refund moved on (pending to succeeded, succeeded to failed, ...)."""
        with self._lock:
            refund = self.refunds.get(refund_id)
            if refund is None:
                return self._seed_set_refund_status(refund_id, status)
            refund.status = status
        return self.get(refund_id)

    def charge_without_refunds(self, charge_id: str) -> StripeObject:
        """The charge as newer API versions send it in events: no `refunds` list."""
        if self.intent_of_charge(charge_id) is None:
            return self._seed_charge_without_refunds(charge_id)
        return self.charge_json(charge_id, with_refunds=False)

    def reverse_transfer(self, transfer_id: str, amount: int) -> StripeObject:
        """Part (or all) of a transfer taken back from the connected account."""
        if transfer_id not in self.transfers:
            return self._seed_reverse_transfer(transfer_id, amount)
        self.create_transfer_reversal(
            transfer_id, amount=amount, metadata={}, idempotency_key=new_id("key")
        )
        return self.get(transfer_id)
