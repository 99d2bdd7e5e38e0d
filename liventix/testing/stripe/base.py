"""The state of a stand-in Stripe account: its intents, refunds and transfers, the keys of
the idempotent requests it answered, and its balance as Stripe keeps it (one balance
transaction per movement), and the log of the events it built (`GET /v1/events`:
`event_log.py`). The operations on it live in `account.py` and `connect.py`."""

from __future__ import annotations

import copy
import threading
import time

from liventix.testing.stripe.objects import (
    IdempotencyError,
    Intent,
    Refund,
    StripeObject,
    Transfer,
    event,
    new_id,
)
from liventix.testing.stripe.wire import Recorded


class AccountBase:
    """What the account holds, behind one re-entrant lock."""

    def __init__(self) -> None:
        self.intents: dict[str, Intent] = {}
        self.refunds: dict[str, Refund] = {}
        self.transfers: dict[str, Transfer] = {}
        self._balance: list[StripeObject] = []
        self._keys: dict[str, tuple[str, object]] = {}
        self._canceled: list[str] = []
        # Cancel refusals by idempotency key (the message and the intent as it was then):
        # Stripe saves the first answer under a key, errors included, and replays it.
        self._refused_cancels: dict[str, tuple[str, StripeObject]] = {}
        # Objects seeded as Stripe's side of a test's story (`seeded.py`), by id.
        self._objects: dict[str, StripeObject] = {}
        # Idempotency-Key: (path, parameters, first answer), for the seeded objects' POSTs.
        self._idempotent: dict[str, tuple[str, dict[str, str], StripeObject]] = {}
        self._recorded: list[Recorded] = []
        # Every event the account built, in the order built: what `GET /v1/events` lists.
        self._events: list[StripeObject] = []
        # Re-entrant: a request's whole effect (key, object, balance movement) is one
        # critical section, so a concurrent request with the same key sees all or nothing.
        self._lock = threading.RLock()

    def _event(self, type: str, obj: StripeObject) -> StripeObject:
        """A new event about `obj` (`objects.event`), kept in the account's event log."""
        built = event(type, obj)
        self.log_event(built)
        return built

    def log_event(self, built: StripeObject) -> None:
        """Keep an event in the log `GET /v1/events` lists (a copy: the caller's stays its
        own). The account's own operations log what they build; a test logs one it built
        itself, malformed or otherwise."""
        with self._lock:
            self._events.append(copy.deepcopy(built))

    def logged_events(self) -> list[StripeObject]:
        """Every event in the log, in the order logged."""
        with self._lock:
            return copy.deepcopy(self._events)

    def backdate_event(self, event_id: str, created: int) -> StripeObject:
        """The logged event `event_id` was created at `created` (Unix seconds), as when
        Stripe made it before a test's clock moved a hold into the past; returns it."""
        with self._lock:
            for logged in self._events:
                if logged.get("id") == event_id:
                    logged["created"] = created
                    return copy.deepcopy(logged)
        raise KeyError(event_id)

    def record(self, request: Recorded) -> None:
        """Keep a request the HTTP server received."""
        with self._lock:
            self._recorded.append(request)

    def requests(self, method: str | None = None, path: str | None = None) -> list[Recorded]:
        """Recorded requests, optionally of one method and starting with a path."""
        with self._lock:
            return [
                r
                for r in self._recorded
                if (method is None or r.method == method)
                and (path is None or r.path.startswith(path))
            ]

    @property
    def succeeded(self) -> set[str]:
        """The ids of the intents paid so far."""
        with self._lock:
            return {i.id for i in self.intents.values() if i.status == "succeeded"}

    def _once(self, key: str, prefix: str, params: object) -> tuple[str, bool]:
        """The object made under `key` (and False), or a new id for one (and True); the same
        key with other parameters is Stripe's idempotency error."""
        with self._lock:
            if key in self._keys:
                made, first = self._keys[key]
                if first != params:
                    raise IdempotencyError(key)
                return made, False
            made = new_id(prefix)
            self._keys[key] = (made, params)
            return made, True

    def _move(
        self,
        *,
        txn_id: str | None = None,
        source: str,
        currency: str,
        amount: int,
        fee: int,
        category: str,
        description: str,
        type: str | None = None,
    ) -> str:
        """Record one movement of the balance, as a BalanceTransaction object (its `type`
        is the category unless given: a dispute's is an `adjustment`); returns its id."""
        now = int(time.time())
        txn: StripeObject = {
            "id": txn_id or new_id("txn"),
            "object": "balance_transaction",
            "amount": amount,
            "available_on": now,
            "created": now,
            "currency": currency.lower(),
            "description": description,
            "exchange_rate": None,
            "fee": fee,
            "fee_details": (
                [{"amount": fee, "currency": currency.lower(), "type": "stripe_fee"}] if fee else []
            ),
            "net": amount - fee,
            "reporting_category": category,
            "source": source,
            "status": "available",
            "type": type or category,
        }
        with self._lock:
            self._balance.append(txn)
        return str(txn["id"])

    def balance_transactions(self) -> list[StripeObject]:
        """Every movement of the balance so far, oldest first (as `/v1/balance_transactions`
        lists them, but in chronological order)."""
        with self._lock:
            return [dict(t) for t in self._balance]

    def refunds_since(self, seen: set[str]) -> list[Refund]:
        """The refunds made whose ids are not in `seen`, in the order they were made."""
        with self._lock:
            return [r for r in self.refunds.values() if r.id not in seen]

    def balance(self) -> dict[str, int]:
        """The balance per currency (upper case): the sum of the movements' nets."""
        out: dict[str, int] = {}
        for txn in self.balance_transactions():
            cur = str(txn["currency"]).upper()
            out[cur] = out.get(cur, 0) + int(txn["net"])
        return out

    def balance_transaction(self, txn_id: str) -> StripeObject | None:
        """One balance transaction by id."""
        with self._lock:
            return next((dict(t) for t in self._balance if t["id"] == txn_id), None)
