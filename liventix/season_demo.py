"""The season demo: a whole season of sales played through the system (issue 7).

`liventix season` plays, on the application database: the platform and a few organizations
(each with its escrow policy, webhook endpoint and events), a thousand checkouts whose
Stripe events are signed with the stripe library and posted over HTTP to the API's
`POST /v1/stripe/webhook` (served by uvicorn on 127.0.0.1, with duplicates and out of
order), a worker that handles the inbox and delivers the organizers' webhooks to a local
HTTP receiver and the buyers' e-mails to a local SMTP server; expiries, failed payments,
ticket transfers, check-ins, refunds, a dispute won and one lost, an event cancelled; then
the events end, escrows release and the transfers are made at the in-process Stripe
stand-in. It ends with a summary and the trial balance per currency.

Every choice comes from `random.Random(seed)`: ids are random, but the same seed gives the
same amounts on the same accounts (see `ledger_fingerprint`).
"""

from __future__ import annotations

import argparse
import json
import random
import socket
import socketserver
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import httpx
import sqlalchemy as sa
import stripe
from sqlalchemy.engine import make_url

import escrow
import ledger
import outbox
import ticketing_fsm
from escrow.stripe_events import META_ESCROW
from liventix.cli import EXIT_NO, EXIT_OK, command
from liventix.database import make_engine, prepare
from liventix.settings import Settings
from liventix.stripe_gateway import StripeGateway, StripeSettings
from liventix.wiring import wire

PLATFORM_NAME = "Liventix"
WEBHOOK_SECRET = "whsec_liventix_season_demo"
API_VERSION = "2024-06-20"
CURRENCIES = ("USD", "EUR", "GBP")
PRICES = (1_500, 2_500, 4_000, 6_500, 9_900)
DISPUTE_FEE = 1_500
HOOK_TYPES = (
    "order.paid",
    "order.refunded",
    "ticket.issued",
    "ticket.refunded",
    "ticket.transferred",
    "ticket.checked_in",
    "escrow.released",
)
WORKERS = 4
"""Workers side by side, each in its thread, as a deployment runs several."""
FAST_RETRY = outbox.RetryPolicy(schedule=(0.05, 0.05, 0.1, 0.2, 0.5, 1.0, 2.0), jitter=0.0)

Out = Callable[[str], None]
StripeObject = dict[str, Any]


def stripe_fee(amount: int) -> int:
    """The stand-in's card fee: 2.9 % + 30."""
    return amount * 29 // 1000 + 30


def _new_id(prefix: str) -> str:
    return f"{prefix}_{uuid.uuid4().hex[:24]}"


# -- Stripe, in process ---------------------------------------------------------------------


@dataclass
class _Intent:
    id: str
    amount: int
    currency: str
    metadata: dict[str, str]
    client_secret: str


@dataclass
class _Refund:
    id: str
    payment_intent_id: str
    amount: int
    metadata: dict[str, str]


class SeasonStripe(StripeGateway):
    """An in-process stand-in for Stripe's API: PaymentIntents, refunds and transfers are
    kept in memory, idempotent by key like Stripe's; it answers escrow's `StripeReader` from
    its own records. Nothing leaves the process."""

    def __init__(self) -> None:
        super().__init__(StripeSettings(max_network_retries=0))
        self.intents: dict[str, _Intent] = {}
        self.refunds: dict[str, _Refund] = {}
        self.transfers: dict[str, tuple[str, int, str]] = {}
        self._keys: dict[str, str] = {}
        self._lock = threading.Lock()

    def _once(self, key: str, prefix: str) -> tuple[str, bool]:
        with self._lock:
            if key in self._keys:
                return self._keys[key], False
            self._keys[key] = made = _new_id(prefix)
            return made, True

    def create_payment_intent(
        self, amount: int, currency: str, metadata: dict[str, str], idempotency_key: str
    ) -> ticketing_fsm.CreatedIntent:
        """A PaymentIntent awaiting payment; the same key returns the same intent."""
        pi, new = self._once(f"pi:{idempotency_key}", "pi")
        if new:
            self.intents[pi] = _Intent(
                pi, amount, currency.lower(), dict(metadata), f"{pi}_secret_{uuid.uuid4().hex}"
            )
        return ticketing_fsm.CreatedIntent(pi, self.intents[pi].client_secret)

    def create_refund(
        self, payment_intent_id: str, amount: int, metadata: dict[str, str], idempotency_key: str
    ) -> str:
        """A refund (it succeeds at once); the same key returns the same refund."""
        refund_id, new = self._once(f"re:{idempotency_key}", "re")
        if new:
            with self._lock:
                self.refunds[refund_id] = _Refund(
                    refund_id, payment_intent_id, amount, dict(metadata)
                )
        return refund_id

    def create_transfer(
        self, request: escrow.TransferRequested, idempotency_key: str
    ) -> tuple[str, int]:
        """A transfer to the organizer's connected account."""
        if not request.destination:
            raise ValueError(f"organizer {request.org_id} has no connected account")
        transfer_id, new = self._once(f"tr:{idempotency_key}", "tr")
        if new:
            with self._lock:
                self.transfers[transfer_id] = (
                    request.escrow_id,
                    request.amount,
                    request.destination,
                )
        return transfer_id, self.transfers[transfer_id][1]

    def charge_facts(self, payment_intent_id: str) -> escrow.ChargeFacts:
        """The intent's charge and its fee."""
        intent = self.intents[payment_intent_id]
        return escrow.ChargeFacts(
            charge_id=_charge_of(payment_intent_id),
            balance_transaction_id=f"txn_{payment_intent_id[3:]}",
            stripe_fee=stripe_fee(intent.amount),
        )

    def refunds_of_charge(self, charge_id: str) -> list[escrow.RefundFacts]:
        """Every refund of the charge (all succeeded)."""
        with self._lock:
            refunds = list(self.refunds.values())
        return [
            escrow.RefundFacts(r.id, r.payment_intent_id, r.amount, "succeeded")
            for r in refunds
            if _charge_of(r.payment_intent_id) == charge_id
        ]


def _charge_of(payment_intent_id: str) -> str:
    return f"ch_{payment_intent_id[3:]}"


def _event(type: str, obj: StripeObject) -> StripeObject:
    """A Stripe Event envelope."""
    return {
        "id": _new_id("evt"),
        "object": "event",
        "api_version": API_VERSION,
        "created": int(time.time()),
        "data": {"object": obj},
        "livemode": False,
        "pending_webhooks": 1,
        "request": {"id": None, "idempotency_key": None},
        "type": type,
    }


def _intent_object(intent: _Intent, status: str) -> StripeObject:
    succeeded = status == "succeeded"
    return {
        "id": intent.id,
        "object": "payment_intent",
        "amount": intent.amount,
        "amount_received": intent.amount if succeeded else 0,
        "currency": intent.currency,
        "latest_charge": _charge_of(intent.id) if succeeded else None,
        "metadata": dict(intent.metadata),
        "status": status,
        "last_payment_error": None if succeeded else {"code": "card_declined"},
    }


def _refund_object(refund: _Refund, currency: str, status: str) -> StripeObject:
    return {
        "id": refund.id,
        "object": "refund",
        "amount": refund.amount,
        "charge": _charge_of(refund.payment_intent_id),
        "currency": currency,
        "metadata": dict(refund.metadata),
        "payment_intent": refund.payment_intent_id,
        "status": status,
    }


def _dispute_object(
    intent: _Intent, dispute_id: str, status: str, txns: list[dict[str, int]]
) -> StripeObject:
    return {
        "id": dispute_id,
        "object": "dispute",
        "amount": intent.amount,
        "balance_transactions": txns,
        "charge": _charge_of(intent.id),
        "currency": intent.currency,
        "metadata": {},
        "payment_intent": intent.id,
        "reason": "fraudulent",
        "status": status,
    }


# -- the outside world: the API, a webhook receiver, an SMTP server -------------------------


class _Receiver(ThreadingHTTPServer):
    """Counts the webhooks POSTed to it."""

    daemon_threads = True
    request_queue_size = 256  # the workers connect many at once (the default backlog is 5)

    def __init__(self) -> None:
        self.count = 0
        self.lock = threading.Lock()
        super().__init__(("127.0.0.1", 0), _ReceiverHandler)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}/hooks"


class _ReceiverHandler(BaseHTTPRequestHandler):
    server: _Receiver

    def do_POST(self) -> None:
        self.rfile.read(int(self.headers.get("Content-Length") or 0))
        with self.server.lock:
            self.server.count += 1
        self.send_response(204)
        self.end_headers()

    def log_message(self, format: str, *args: Any) -> None:
        """Quiet."""


class _Mailbox:
    """Counts the e-mails an SMTP server accepted."""

    def __init__(self) -> None:
        self.count = 0
        self.lock = threading.Lock()

    def add(self) -> None:
        with self.lock:
            self.count += 1


class _SmtpHandler(socketserver.StreamRequestHandler):
    """Just enough SMTP for smtplib (used only when aiosmtpd is not installed)."""

    server: _SmtpServer

    def _say(self, line: str) -> None:
        self.wfile.write(f"{line}\r\n".encode())

    def handle(self) -> None:
        self._say("220 localhost liventix season SMTP")
        while raw := self.rfile.readline():
            verb = raw.decode(errors="replace").strip().split(" ", 1)[0].upper()
            if verb == "DATA":
                self._say("354 end with <CRLF>.<CRLF>")
                while self.rfile.readline() not in (b".\r\n", b".\n", b""):
                    pass
                self.server.mailbox.add()
                self._say("250 OK")
            elif verb == "QUIT":
                self._say("221 bye")
                return
            elif verb == "EHLO":
                self._say("250 localhost")
            else:
                self._say("250 OK")


class _SmtpServer(socketserver.ThreadingTCPServer):
    daemon_threads = True
    request_queue_size = 256
    allow_reuse_address = True

    def __init__(self, mailbox: _Mailbox) -> None:
        self.mailbox = mailbox
        super().__init__(("127.0.0.1", 0), _SmtpHandler)


@contextmanager
def _smtp_server(mailbox: _Mailbox) -> Iterator[tuple[int, str]]:
    """An SMTP server on 127.0.0.1: aiosmtpd's if installed, else a minimal one; yields
    (port, which)."""
    try:
        from aiosmtpd.controller import Controller  # noqa: PLC0415 (optional)
    except ImportError:
        server = _SmtpServer(mailbox)
        thread = threading.Thread(target=server.serve_forever, daemon=True)
        thread.start()
        try:
            yield server.server_address[1], "minimal SMTP (aiosmtpd not installed)"
        finally:
            server.shutdown()
            server.server_close()
        return

    class Handler:
        async def handle_DATA(  # noqa: N802 (aiosmtpd's hook name)
            self, server: Any, session: Any, envelope: Any
        ) -> str:
            mailbox.add()
            return "250 OK"

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = int(s.getsockname()[1])
    controller = Controller(Handler(), hostname="127.0.0.1", port=port)
    controller.start()
    try:
        yield port, "aiosmtpd"
    finally:
        controller.stop()


class _Api:
    """The application's HTTP API under uvicorn in a thread on 127.0.0.1."""

    def __init__(self, engine: sa.Engine, gateway: StripeGateway) -> None:
        import uvicorn  # noqa: PLC0415 (loaded only for the demo)

        from liventix.api import create_app  # noqa: PLC0415

        app = create_app(engine, gateway=gateway, stripe_webhook_secret=WEBHOOK_SECRET)
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.url = f"http://127.0.0.1:{self.sock.getsockname()[1]}"
        config = uvicorn.Config(app, log_level="warning", lifespan="off", access_log=False)
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(
            target=self.server.run, kwargs={"sockets": [self.sock]}, daemon=True
        )

    def __enter__(self) -> _Api:
        self.thread.start()
        deadline = time.monotonic() + 20
        while not self.server.started:
            if time.monotonic() > deadline or not self.thread.is_alive():
                raise RuntimeError("the API did not start")
            time.sleep(0.01)
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.should_exit = True
        self.thread.join(10)
        self.sock.close()


# -- the season -----------------------------------------------------------------------------


@dataclass(frozen=True)
class SeasonOptions:
    """The season's size and seed."""

    seed: int = 1
    orders: int = 1_000
    orgs: int = 3
    events_per_org: int = 2


@dataclass
class SeasonSummary:
    """What happened, counted from the database and the local servers."""

    orders: dict[str, int] = field(default_factory=dict)
    tickets: dict[str, int] = field(default_factory=dict)
    escrows: dict[str, int] = field(default_factory=dict)
    released_still_holding: int = 0
    stripe_events_posted: int = 0
    stripe_duplicates: int = 0
    webhooks_delivered: int = 0
    emails_delivered: int = 0
    email_server: str = ""
    transfers: int = 0
    totals: dict[str, tuple[int, int]] = field(default_factory=dict)
    balanced: bool = False
    seconds: float = 0.0
    fingerprint: dict[tuple[str, str], tuple[int, int]] = field(default_factory=dict)


@dataclass
class _Sale:
    org: uuid.UUID
    event: uuid.UUID
    checkout: ticketing_fsm.Checkout
    fate: str  # pay, fail, expire


class _Season:
    def __init__(self, engine: sa.Engine, options: SeasonOptions, out: Out) -> None:
        self.engine = engine
        self.options = options
        self.out = out
        self.rng = random.Random(options.seed)
        self.gateway = SeasonStripe()
        self.receiver = _Receiver()
        self.mailbox = _Mailbox()
        self.http = httpx.Client(timeout=30.0, limits=httpx.Limits(max_connections=32))
        self.pool = ThreadPoolExecutor(16, thread_name_prefix="stripe")
        self.api_url = ""
        self.posted = 0
        self.duplicates = 0
        self.refunds_sent: set[str] = set()
        self.orgs: list[tuple[uuid.UUID, str, str]] = []  # (id, name, currency)
        self.events: list[tuple[uuid.UUID, uuid.UUID, str, list[uuid.UUID], bool]] = []
        self.workers: list[outbox.Worker] = []
        self.worker_pool = ThreadPoolExecutor(WORKERS, thread_name_prefix="worker")
        self.started = time.monotonic()

    # -- Stripe's events over HTTP --

    def send(self, events: list[StripeObject], *, duplicates: float = 0.05) -> None:
        """Post the events, shuffled, some twice, each signed as Stripe signs it."""
        batch = list(events)
        batch += [e for e in events if self.rng.random() < duplicates]
        self.rng.shuffle(batch)
        # Posted 16 at a time, as Stripe's deliveries overlap: the arrival order is not the
        # order above either.
        for duplicate in self.pool.map(self._post, batch):
            self.posted += 1
            self.duplicates += duplicate

    def _post(self, event: StripeObject) -> bool:
        body = json.dumps(event)
        header = stripe.WebhookSignature.generate_signature_header(
            body, WEBHOOK_SECRET, int(time.time())
        )
        response = self.http.post(
            f"{self.api_url}/v1/stripe/webhook",
            content=body.encode(),
            headers={"Stripe-Signature": header, "Content-Type": "application/json"},
        )
        if response.status_code != 200:
            raise RuntimeError(f"webhook refused: {response.status_code} {response.text}")
        return bool(response.json().get("duplicate"))

    def settle(self, what: str, timeout: float = 300.0) -> None:
        """Run the worker until the inbox and the deliveries are all done."""
        deadline = time.monotonic() + timeout
        while True:
            busy = sum(self.worker_pool.map(lambda w: w.run_once(), self.workers))
            with self.engine.connect() as conn:
                waiting = conn.execute(
                    sa.text("""SELECT (SELECT count(*) FROM messaging.inbox
                                        WHERE status = 'pending')
                                    + (SELECT count(*) FROM messaging.deliveries
                                        WHERE status IN ('pending', 'delivering'))""")
                ).scalar_one()
            if not busy and not waiting:
                return
            if time.monotonic() > deadline:
                raise RuntimeError(f"{what}: still {waiting} item(s) after {timeout} s")
            if not busy:
                time.sleep(0.02)

    def progress(self, step: str) -> None:
        self.out(
            f"  {time.monotonic() - self.started:6.1f} s  {step:<34} "
            f"stripe events {self.posted:>6}  webhooks {self.receiver.count:>6}  "
            f"e-mails {self.mailbox.count:>6}"
        )

    # -- the story --

    def setup(self) -> None:
        rng = self.rng
        with self.engine.begin() as conn:
            now: datetime = conn.execute(sa.text("SELECT now()")).scalar_one()
            if not conn.execute(
                sa.text("SELECT 1 FROM payments.organizations WHERE is_platform")
            ).first():
                ledger.open_organization(conn, uuid.uuid4(), PLATFORM_NAME, is_platform=True)
            per_type = max(10, self.options.orders * 4 // max(1, self.options.orgs))
            for i in range(self.options.orgs):
                org = uuid.uuid4()
                name = f"Organizer {i + 1}"
                currency = CURRENCIES[i % len(CURRENCIES)]
                ledger.open_organization(conn, org, name)
                escrow.set_policy(
                    conn,
                    org,
                    escrow.Policy(
                        platform_fee_bps=rng.choice((300, 500, 700)),
                        platform_fee_fixed=rng.choice((0, 25, 50)),
                        hold_period=timedelta(0),
                        connected_account=f"acct_season_{i + 1}",
                        payout_email=f"payouts{i + 1}@organizer.example",
                    ),
                )
                outbox.register_endpoint(conn, org, self.receiver.url, HOOK_TYPES)
                self.orgs.append((org, name, currency))
                for j in range(self.options.events_per_org):
                    # Most events ended a moment ago; the last one of the first organizer
                    # is still to come (its escrow keeps collecting).
                    upcoming = i == 0 and j == self.options.events_per_org - 1
                    ends = now + (timedelta(days=30) if upcoming else -timedelta(minutes=1))
                    event = ticketing_fsm.create_event(
                        conn,
                        org,
                        name=f"{name} / event {j + 1}",
                        currency=currency,
                        starts_at=ends - timedelta(hours=3),
                        ends_at=ends,
                    )
                    types = [
                        ticketing_fsm.add_ticket_type(
                            conn,
                            org,
                            event,
                            name=kind,
                            price=rng.choice(PRICES),
                            capacity=per_type,
                            sales_start=now - timedelta(days=60),
                            sales_end=now + timedelta(days=1),
                        )
                        for kind in ("General admission", "Reserved")
                    ]
                    self.events.append((org, event, f"{name} / event {j + 1}", types, upcoming))
        self.out(
            f"platform, {len(self.orgs)} organizations, {len(self.events)} events, "
            f"{2 * len(self.events)} ticket types"
        )

    def checkouts(self) -> list[_Sale]:
        rng = self.rng
        sales: list[_Sale] = []
        for n in range(self.options.orders):
            org, event, _, types, _ = rng.choice(self.events)
            items = [
                ticketing_fsm.CheckoutItem(t, q)
                for t in types
                if (q := rng.choice((0, 1, 1, 2, 3))) > 0
            ] or [ticketing_fsm.CheckoutItem(types[0], 1)]
            roll = rng.random()
            fate = "expire" if roll < 0.03 else "fail" if roll < 0.05 else "pay"
            request = ticketing_fsm.CheckoutRequest(
                idempotency_key=f"season-{uuid.uuid4().hex}",
                org_id=org,
                event_id=event,
                buyer_email=f"buyer{n}@example.com",
                items=items,
            )
            hold = timedelta(seconds=1) if fate == "expire" else ticketing_fsm.DEFAULT_HOLD
            with self.engine.begin() as conn:
                checkout = ticketing_fsm.start_checkout(conn, self.gateway, request, hold=hold)
            sales.append(_Sale(org, event, checkout, fate))
            if (n + 1) % 250 == 0:
                self.out(f"  checkouts {n + 1}/{self.options.orders}")
        return sales

    def pay(self, sales: list[_Sale]) -> None:
        events = []
        for sale in sales:
            intent = self.gateway.intents[sale.checkout.payment_intent_id]
            if sale.fate == "pay":
                events.append(
                    _event("payment_intent.succeeded", _intent_object(intent, "succeeded"))
                )
            elif sale.fate == "fail":
                obj = _intent_object(intent, "requires_payment_method")
                events.append(_event("payment_intent.payment_failed", obj))
        chunk = 200
        for start in range(0, len(events), chunk):
            self.send(events[start : start + chunk])
            self.settle("payments")
            self.progress(f"payments {min(start + chunk, len(events))}/{len(events)}")

    def send_refunds(self) -> int:
        """Stripe's refund events for the refunds the worker asked for: a stale pending
        snapshot now and then, `refund.updated`, sometimes `charge.refunded` too."""
        events = []
        with self.gateway._lock:
            new = [r for r in self.gateway.refunds.values() if r.id not in self.refunds_sent]
        for refund in new:
            self.refunds_sent.add(refund.id)
            currency = self.gateway.intents[refund.payment_intent_id].currency
            if self.rng.random() < 0.2:
                events.append(_event("refund.updated", _refund_object(refund, currency, "pending")))
            events.append(_event("refund.updated", _refund_object(refund, currency, "succeeded")))
            if self.rng.random() < 0.3:
                events.append(
                    _event(
                        "charge.refunded",
                        {
                            "id": _charge_of(refund.payment_intent_id),
                            "object": "charge",
                            "payment_intent": refund.payment_intent_id,
                            "currency": currency,
                            "refunds": {
                                "data": [
                                    _refund_object(r, currency, "succeeded")
                                    for r in self.gateway.refunds.values()
                                    if r.payment_intent_id == refund.payment_intent_id
                                ]
                            },
                        },
                    )
                )
        self.send(events)
        return len(new)

    def aftermath(self, sales: list[_Sale]) -> None:
        rng = self.rng
        paid = [s for s in sales if s.fate == "pay"]
        # The event cancelled: the second organizer's first one (or the only one there is).
        cancelled = self.events[min(len(self.events) - 1, self.options.events_per_org)]
        others = [s for s in paid if s.event != cancelled[1]]
        rng.shuffle(others)
        disputed, others = others[:2], others[2:]
        refunded = [s for s in others if rng.random() < 0.06]
        keep = [s for s in others if s not in refunded]

        # Refunds: the whole order, or its cheapest ticket.
        with self.engine.begin() as conn:
            for n, sale in enumerate(refunded):
                tickets = sorted(
                    ticketing_fsm.tickets_of(conn, sale.checkout.order_id), key=lambda t: t.price
                )
                chosen = None if len(tickets) == 1 or rng.random() < 0.5 else [tickets[0].id]
                ticketing_fsm.refund_tickets(
                    conn, sale.org, sale.checkout.order_id, chosen, idempotency_key=f"refund-{n}"
                )
            refunded_by_cancel = ticketing_fsm.cancel_event(conn, cancelled[0], cancelled[1])
        self.out(
            f"refunds asked: {len(refunded)} orders; event {cancelled[2]!r} cancelled "
            f"({refunded_by_cancel} orders refunded)"
        )
        # Transfers and check-ins among the orders left alone.
        transferred = checked_in = 0
        with self.engine.begin() as conn:
            for sale in keep:
                tickets = sorted(
                    ticketing_fsm.tickets_of(conn, sale.checkout.order_id), key=lambda t: t.price
                )
                for ticket in tickets:
                    roll = rng.random()
                    if ticket.status != "issued":
                        continue
                    code = ticket.code
                    if roll < 0.03:
                        code = ticketing_fsm.transfer_ticket(
                            conn,
                            sale.org,
                            ticket.id,
                            f"friend{transferred}@example.com",
                            cause="season: a gift",
                        ).code
                        transferred += 1
                    if roll < 0.6:
                        ticketing_fsm.check_in(conn, sale.org, code, scanner="door-1")
                        checked_in += 1
        self.out(f"tickets transferred: {transferred}; checked in: {checked_in}")
        self.settle("refund tasks")
        while self.send_refunds():
            self.settle("refunds")
        self.progress("refunds settled")

        # Disputes: one won, one lost.
        for dispute_sale, outcome in zip(disputed, ("won", "lost"), strict=False):
            intent = self.gateway.intents[dispute_sale.checkout.payment_intent_id]
            dp = _new_id("dp")
            withdrawn = [{"amount": -intent.amount, "fee": DISPUTE_FEE}]
            steps = [
                ("charge.dispute.created", _dispute_object(intent, dp, "needs_response", [])),
                (
                    "charge.dispute.funds_withdrawn",
                    _dispute_object(intent, dp, "under_review", withdrawn),
                ),
            ]
            if outcome == "won":
                back = [*withdrawn, {"amount": intent.amount, "fee": -DISPUTE_FEE}]
                steps.append(
                    ("charge.dispute.funds_reinstated", _dispute_object(intent, dp, "won", back))
                )
                steps.append(("charge.dispute.closed", _dispute_object(intent, dp, "won", back)))
            else:
                steps.append(
                    ("charge.dispute.closed", _dispute_object(intent, dp, "lost", withdrawn))
                )
            for type, obj in steps:
                self.send([_event(type, obj)], duplicates=0.0)
                self.settle(type)
        self.progress("disputes: one won, one lost")

    def close_season(self) -> None:
        time.sleep(1.1)  # the 1-second holds of the abandoned checkouts run out
        expired = 0
        while True:
            with self.engine.begin() as conn:
                done = ticketing_fsm.expire_holds(conn)
            expired += done
            if not done:
                break
        released = 0
        while True:
            with self.engine.begin() as conn:
                steps = escrow.release_due(conn)
            released += len(steps)
            if not steps:
                break
        self.out(f"expired {expired} unpaid orders; escrows moved {released} step(s)")
        self.settle("releases and transfers")
        # Stripe's `transfer.created` for each transfer the worker made: already booked by
        # the task, so the event finds nothing to do (twice for some).
        with self.gateway._lock:
            transfers = sorted(self.gateway.transfers.items(), key=lambda t: (t[1][1], t[1][2]))
        self.send(
            [
                _event(
                    "transfer.created",
                    {
                        "id": transfer_id,
                        "object": "transfer",
                        "amount": amount,
                        "destination": destination,
                        "metadata": {META_ESCROW: escrow_id},
                    },
                )
                for transfer_id, (escrow_id, amount, destination) in transfers
            ]
        )
        self.settle("transfer events")
        with self.engine.begin() as conn:
            ledger.roll_up(conn)
        self.progress("season over")

    def summary(self) -> SeasonSummary:
        orgs = [o for o, _, _ in self.orgs]
        s = SeasonSummary(
            stripe_events_posted=self.posted,
            stripe_duplicates=self.duplicates,
            webhooks_delivered=self.receiver.count,
            emails_delivered=self.mailbox.count,
            transfers=len(self.gateway.transfers),
        )
        with self.engine.connect() as conn:
            params = {"orgs": orgs}
            for table, target in (("orders", s.orders), ("tickets", s.tickets)):
                for status, n in conn.execute(
                    sa.text(f"""SELECT status, count(*) FROM ticketing.{table}
                                 WHERE org_id = ANY(:orgs) GROUP BY status ORDER BY status"""),
                    params,
                ).all():
                    target[status] = int(n)
            for state, n in conn.execute(
                sa.text("""SELECT state, count(*) FROM payments.escrows
                            WHERE org_id = ANY(:orgs) GROUP BY state ORDER BY state"""),
                params,
            ).all():
                s.escrows[state] = int(n)
            released = conn.execute(
                sa.text("""SELECT id FROM payments.escrows
                            WHERE org_id = ANY(:orgs) AND released > 0"""),
                params,
            ).scalars()
            s.released_still_holding = sum(
                1 for e in released if escrow.get_escrow(conn, e).held != 0
            )
            tb = ledger.trial_balance(conn)
            s.totals = dict(sorted(tb.totals.items()))
            s.balanced = tb.balanced
            s.fingerprint = ledger_fingerprint(conn, orgs)
        return s


def ledger_fingerprint(
    conn: sa.Connection, orgs: list[uuid.UUID]
) -> dict[tuple[str, str], tuple[int, int]]:
    """Posted (debits, credits) per (organization's name, account code) for the season's
    organizations and the platform, event ids in codes replaced by the events' names: equal
    for two runs of the same seed on fresh databases."""
    names = {
        str(r.id): r.name
        for r in conn.execute(
            sa.text("SELECT id, name FROM ticketing.events WHERE org_id = ANY(:orgs)"),
            {"orgs": orgs},
        ).all()
    }
    rows = conn.execute(
        sa.text("""SELECT a.id, a.code, o.name, o.is_platform FROM payments.accounts a
                     JOIN payments.organizations o ON o.id = a.org_id
                    WHERE a.org_id = ANY(:orgs) OR o.is_platform"""),
        {"orgs": orgs},
    ).all()
    found: dict[tuple[str, str], tuple[int, int]] = {}
    for r in rows:
        code = r.code
        for event_id, name in names.items():
            code = code.replace(event_id, name)
        b = ledger.balance(conn, r.id)
        owner = "(platform)" if r.is_platform else r.name
        found[(owner, code)] = (b.posted_debits, b.posted_credits)
    return found


def play_season(
    engine: sa.Engine, options: SeasonOptions | None = None, out: Out = print
) -> SeasonSummary:
    """Play a season on `engine`'s (migrated) database; return what happened."""
    options = options or SeasonOptions()
    started = time.monotonic()
    season = _Season(engine, options, out)
    handlers = outbox.InboxHandlers()
    wire(engine, season.gateway, handlers)
    receiver_thread = threading.Thread(target=season.receiver.serve_forever, daemon=True)
    receiver_thread.start()
    try:
        with (
            _smtp_server(season.mailbox) as (smtp_port, smtp_kind),
            _Api(engine, season.gateway) as api,
        ):
            season.api_url = api.url
            out(
                f"API on {api.url}, webhook receiver on {season.receiver.url}, {smtp_kind} "
                f"on 127.0.0.1:{smtp_port}"
            )
            settings = outbox.WorkerSettings(
                batch_size=200,
                concurrency=32,
                poll_interval=0.05,
                retry=FAST_RETRY,
                request_timeout=10.0,
                prune_every=3600.0,
                smtp=outbox.SmtpSettings(port=smtp_port),
            )
            season.workers = [
                outbox.Worker(engine, settings, name=f"season-{n}", handlers=handlers)
                for n in range(WORKERS)
            ]
            try:
                season.setup()
                sales = season.checkouts()
                season.pay(sales)
                season.aftermath(sales)
                season.close_season()
            finally:
                for worker in season.workers:
                    worker.close()
            summary = season.summary()
            summary.email_server = smtp_kind
    finally:
        season.pool.shutdown()
        season.worker_pool.shutdown()
        season.http.close()
        season.receiver.shutdown()
        season.receiver.server_close()
    summary.seconds = time.monotonic() - started
    return summary


def _money(amount: int, currency: str) -> str:
    exponent = ledger.CURRENCY_EXPONENTS[currency]
    whole, cents = divmod(abs(amount), 10**exponent)
    return f"{'-' if amount < 0 else ''}{whole:,}.{cents:0{exponent}d} {currency}"


def print_summary(s: SeasonSummary, out: Out = print) -> None:
    """The season in a few lines."""

    def counts(d: dict[str, int]) -> str:
        return ", ".join(f"{k} {v}" for k, v in d.items())

    out("")
    out(f"Season over in {s.seconds:.1f} s")
    out(f"orders      {counts(s.orders)}")
    out(f"tickets     {counts(s.tickets)}")
    out(f"escrows     {counts(s.escrows)}; released but still holding: {s.released_still_holding}")
    out(f"transfers   {s.transfers} made at Stripe (stand-in)")
    out(
        f"stripe      {s.stripe_events_posted} events posted over HTTP "
        f"({s.stripe_duplicates} duplicates acknowledged)"
    )
    out(f"webhooks    {s.webhooks_delivered} delivered to the local receiver")
    out(f"e-mails     {s.emails_delivered} delivered to the local SMTP server ({s.email_server})")
    out("trial balance")
    for currency, (debits, credits) in s.totals.items():
        out(
            f"  {currency}  debits {_money(debits, currency):>20}  "
            f"credits {_money(credits, currency):>20}"
        )
    out("balanced: debits equal credits" if s.balanced else "NOT BALANCED")


def _season_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--seed", type=int, default=1, help="the same seed, the same ledger")
    parser.add_argument("--orders", type=int, default=1_000, help="checkouts (default 1000)")
    parser.add_argument("--orgs", type=int, default=3, help="organizations (default 3)")


@command(
    "season",
    summary="Play a whole season of ticket sales through the system (the big demo).",
    arguments=_season_options,
)
def season(args: argparse.Namespace, settings: Settings) -> int:
    """Play a season on the application database; exit 1 if the books do not balance."""
    engine = make_engine(prepare(settings), pool_size=20, max_overflow=20)
    print(f"database: {make_url(str(engine.url)).render_as_string(hide_password=True)}")
    try:
        summary = play_season(
            engine, SeasonOptions(seed=args.seed, orders=args.orders, orgs=args.orgs)
        )
    finally:
        engine.dispose()
    print_summary(summary)
    ok = summary.balanced and summary.released_still_holding == 0
    return EXIT_OK if ok else EXIT_NO
