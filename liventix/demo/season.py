"""The demo: a whole season of ticket sales played through the system (issue 7).

`liventix demo` plays, on a fresh database of its own, with the application deployed as it
runs in production (`liventix serve` and four `liventix worker` processes) and the outside
world stood in for on 127.0.0.1 (Stripe's API: `liventix.stripe_standin`, called through the
stripe library; a webhook receiver and an SMTP server: `liventix.local_servers`): the
platform and a few organizations (each with its escrow policy, webhook endpoint and
events), a thousand checkouts whose Stripe events are signed with the stripe library and
posted over HTTP to the API's `POST /v1/stripe/webhook` (with duplicates and out of order),
the workers handling the inbox and delivering the organizers' webhooks and the buyers'
e-mails; expiries, failed payments, ticket transfers, check-ins, refunds, a dispute won and
one lost, an event cancelled; then the events end, escrows release, the transfers are made
and the platform is paid out. It ends with finance's reports,
the Stripe reconciliation run against the stand-in's balance transactions, every
difference zero, and writes them (JSON, CSV, one HTML page) under the output directory.

Every choice comes from `random.Random(seed)`: ids are random, but the same seed gives the
same amounts on the same accounts (see `ledger_fingerprint`).
"""

from __future__ import annotations

import argparse
import json
import os
import random
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from types import FrameType
from typing import Literal, TextIO

import httpx
import sqlalchemy as sa
import stripe
from sqlalchemy.engine import make_url
from sqlalchemy.pool import NullPool

import escrow
import ledger
import outbox
import ticketing_fsm
from liventix import reports
from liventix.cli import EXIT_ERROR, EXIT_NO, EXIT_OK, command
from liventix.database import (
    create_database,
    database_url,
    drop_database,
    make_engine,
    server_url,
    upgrade,
)
from liventix.local_servers import Mailbox, Receiver, smtp_server
from liventix.progress import Progress
from liventix.settings import Settings
from liventix.stripe_gateway import StripeGateway, StripeSettings
from liventix.stripe_standin import StandInServer, StripeObject, StripeStandIn

PLATFORM_NAME = "Liventix"
WEBHOOK_SECRET = "whsec_liventix_season_demo"
CURRENCIES = ("USD", "EUR", "GBP")
PRICES = (1_500, 2_500, 4_000, 6_500, 9_900)
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
"""`liventix worker` processes side by side, as a deployment runs several."""
FAST_RETRY = "0.05,0.05,0.1,0.2,0.5,1,2"
"""The workers' retry schedule in seconds: a season is minutes long, not days."""
DEMO_DATABASE = "liventix_demo"
LOCAL = "127.0.0.1/32"
"""What webhooks may reach here although not public (LIVENTIX_WEBHOOK_ALLOW): the receiver."""

WEBHOOK_ATTEMPTS = 6
Out = Callable[[str], None]


class DemoError(Exception):
    """The demo could not play its season."""


class WebhookRefused(DemoError):
    """The API refused one of Stripe's events (or never acknowledged it)."""

    def __init__(self, event_id: str, status: int | None, body: str) -> None:
        super().__init__(f"the webhook refused {event_id}: {status} {body[:500]}")
        self.event_id = event_id
        self.status = status


class NotSettled(DemoError):
    """The workers did not finish the inbox and the deliveries in time."""

    def __init__(self, what: str, waiting: int, timeout: float) -> None:
        super().__init__(f"{what}: still {waiting} item(s) after {timeout} s")
        self.what = what
        self.waiting = waiting


class ProcessFailed(DemoError):
    """One of the application's processes (the API, a worker) died or never came up."""

    def __init__(self, name: str, detail: str) -> None:
        super().__init__(f"{name}: {detail}")
        self.name = name


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
    payouts: dict[str, int] = field(default_factory=dict)
    totals: dict[str, tuple[int, int]] = field(default_factory=dict)
    balanced: bool = False
    seconds: float = 0.0
    fingerprint: dict[tuple[str, str], tuple[int, int]] = field(default_factory=dict)
    balance_transactions: list[StripeObject] = field(default_factory=list)
    """What Stripe's account saw: every movement of its balance."""


@dataclass
class _Sale:
    org: uuid.UUID
    event: uuid.UUID
    checkout: ticketing_fsm.Checkout
    fate: str  # pay, fail, expire


class _Season:
    def __init__(
        self, engine: sa.Engine, options: SeasonOptions, out: Out, live: TextIO | None
    ) -> None:
        self.engine = engine
        self.options = options
        self.out = out
        self.live = live
        self.rng = random.Random(options.seed)
        self.stripe = StripeStandIn()
        self.stripe_server = StandInServer(self.stripe)
        # Checkouts call Stripe as the application does: the stripe library, over HTTP.
        self.gateway = StripeGateway(StripeSettings(api_base=self.stripe_server.url))
        self.receiver = Receiver()
        self.mailbox = Mailbox()
        self.http = httpx.Client(timeout=30.0, limits=httpx.Limits(max_connections=32))
        self.pool = ThreadPoolExecutor(16, thread_name_prefix="stripe")
        self.api_url = ""
        self.posted = 0
        self.duplicates = 0
        self.retries = 0
        self.refunds_sent: set[str] = set()
        self.orgs: list[tuple[uuid.UUID, str, str]] = []  # (id, name, currency)
        self.events: list[tuple[uuid.UUID, uuid.UUID, str, list[uuid.UUID], bool]] = []
        self.processes: _Processes | None = None
        self.payouts: dict[str, int] = {}
        self.started = time.monotonic()

    # -- Stripe's events over HTTP --

    def send(
        self,
        events: list[StripeObject],
        *,
        duplicates: float = 0.05,
        bar: Progress | None = None,
    ) -> None:
        """Post the events, shuffled, some twice, each signed as Stripe signs it."""
        batch = list(events)
        batch += [e for e in events if self.rng.random() < duplicates]
        self.rng.shuffle(batch)
        # Posted 16 at a time, as Stripe's deliveries overlap: the arrival order is not the
        # order above either.
        for duplicate, retries in self.pool.map(self._post, batch):
            self.posted += 1
            self.duplicates += duplicate
            self.retries += retries
            if bar is not None:
                bar.advance()

    def _post(self, event: StripeObject) -> tuple[bool, int]:
        """POST one event as Stripe does, retrying (with a short backoff, where Stripe waits
        hours) what was not acknowledged: a transport error, 429 or 5xx. Returns whether the
        API said it had the event already, and how many retries it took."""
        body = json.dumps(event)
        for attempt in range(WEBHOOK_ATTEMPTS):
            if attempt:
                time.sleep(0.05 * 2**attempt)
            header = stripe.WebhookSignature.generate_signature_header(
                body, WEBHOOK_SECRET, int(time.time())
            )
            try:
                response = self.http.post(
                    f"{self.api_url}/v1/stripe/webhook",
                    content=body.encode(),
                    headers={"Stripe-Signature": header, "Content-Type": "application/json"},
                )
            except httpx.TransportError:
                continue
            if response.status_code == 429 or response.status_code >= 500:
                continue
            if response.status_code != 200:
                raise WebhookRefused(event["id"], response.status_code, response.text)
            # After a retry the API may well have the event from the lost attempt: that is
            # not one of Stripe's duplicates.
            return bool(response.json().get("duplicate")) and not attempt, attempt
        raise WebhookRefused(event["id"], None, f"no answer after {WEBHOOK_ATTEMPTS} attempts")

    def settle(self, what: str, timeout: float = 300.0) -> None:
        """Wait until the workers have handled the inbox and done every delivery."""
        deadline = time.monotonic() + timeout
        while True:
            with self.engine.connect() as conn:
                waiting = conn.execute(
                    sa.text("""SELECT (SELECT count(*) FROM messaging.inbox
                                        WHERE status = 'pending')
                                    + (SELECT count(*) FROM messaging.deliveries
                                        WHERE status IN ('pending', 'delivering'))""")
                ).scalar_one()
            if not waiting:
                return
            if self.processes is not None:
                self.processes.check()
            if time.monotonic() > deadline:
                raise NotSettled(what, waiting, timeout)
            time.sleep(0.02)

    def bar(self, label: str, total: int) -> Progress:
        """A progress bar for one step of the season."""
        return Progress(label, total, out=self.out, live=self.live)

    def counts(self) -> str:
        """What went out so far."""
        return (
            f"stripe events {self.posted}, webhooks {self.receiver.count}, "
            f"e-mails {self.mailbox.count}"
        )

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
                        # Above Stripe's 2.9 % + 30, so the platform earns on a sale; the
                        # second organizer bears Stripe's fees (its event is cancelled: the
                        # fees Stripe keeps on the refunds become its receivable).
                        platform_fee_bps=rng.choice((500, 700, 900)),
                        platform_fee_fixed=rng.choice((30, 50)),
                        bears_stripe_fees=i % 2 == 1,
                        hold_period=timedelta(0),
                        connected_account=f"acct_season_{i + 1}",
                        payout_email=f"payouts{i + 1}@organizer.example",
                    ),
                )
                outbox.register_endpoint(
                    conn, org, self.receiver.url, HOOK_TYPES, allow=outbox.parse_allow(LOCAL)
                )
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
        bar = self.bar("checkouts", self.options.orders)
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
            checkout = ticketing_fsm.start_checkout(self.engine, self.gateway, request, hold=hold)
            sales.append(_Sale(org, event, checkout, fate))
            bar.advance()
        bar.done("seats held, PaymentIntents created")
        return sales

    def pay(self, sales: list[_Sale]) -> None:
        """Stripe's verdict on each checkout, posted in chunks, each chunk handled by the
        workers before the next (a season's payments arrive over weeks, not at once)."""
        events = []
        for sale in sales:
            if sale.fate == "pay":
                events.append(self.stripe.succeed(sale.checkout.payment_intent_id))
            elif sale.fate == "fail":
                events.append(self.stripe.fail(sale.checkout.payment_intent_id))
        bar = self.bar("payments (webhook, inbox)", len(events))
        chunk = 200
        for start in range(0, len(events), chunk):
            part = events[start : start + chunk]
            self.send(part)
            self.settle("payments")
            bar.advance(len(part))
        bar.done(self.counts())

    def send_refunds(self, bar: Progress | None = None) -> int:
        """Stripe's refund events for the refunds the worker asked for: a stale pending
        snapshot now and then, `refund.updated`, sometimes `charge.refunded` too."""
        events = []
        new = self.stripe.refunds_since(self.refunds_sent)
        for refund in new:
            self.refunds_sent.add(refund.id)
            events += self.stripe.refund_events(
                refund,
                stale_first=self.rng.random() < 0.2,
                with_charge=self.rng.random() < 0.3,
            )
        self.send(events)
        if bar is not None:
            bar.advance(len(new))
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
            f"  refunds asked: {len(refunded)} orders; event {cancelled[2]!r} cancelled "
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
        self.out(f"  tickets transferred: {transferred}; checked in: {checked_in}")
        bar = self.bar("refunds (task, Stripe)", len(refunded) + refunded_by_cancel)
        self.settle("refund tasks")
        while self.send_refunds(bar):
            self.settle("refunds")
        bar.done(self.counts())

        # Disputes: one won, one lost; each event handled before Stripe sends the next.
        bar = self.bar("disputes (won, lost)", len(disputed))
        outcomes: tuple[Literal["won", "lost"], ...] = ("won", "lost")
        for dispute_sale, outcome in zip(disputed, outcomes, strict=False):
            for event in self.stripe.dispute(dispute_sale.checkout.payment_intent_id, outcome):
                self.send([event], duplicates=0.0)
                self.settle(event["type"])
            bar.advance()
        bar.done()

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
        self.out(f"  expired {expired} unpaid orders; escrows moved {released} step(s)")
        bar = self.bar("releases and transfers", len(self.events))
        self.settle("releases and transfers")
        # Stripe's `transfer.created` for each transfer the worker made: already booked by
        # the task, so the event finds nothing to do (twice for some).
        self.send(self.stripe.transfer_events())
        self.settle("transfer events")
        bar.done(f"{len(self.stripe.transfers)} transfers")
        self.pay_out()

    def pay_out(self) -> None:
        """The platform's own money at Stripe (its balance less what it still owes the
        organizers) is paid out to its bank: `payout.paid`, over the webhook."""
        with self.engine.begin() as conn:
            ledger.roll_up(conn)
            rows = conn.execute(
                sa.text("""
                    SELECT a.currency, a.code,
                           sum(CASE WHEN l.side = 'debit' THEN l.amount ELSE -l.amount END)
                               AS debit_balance
                      FROM payments.lines l JOIN payments.accounts a ON a.id = l.account_id
                     WHERE a.code LIKE 'stripe\\_balance:%'
                        OR a.code LIKE 'escrow:%' OR a.code LIKE 'payable:%'
                     GROUP BY a.id, a.currency, a.code
                """)
            ).all()
        own: dict[str, int] = {}
        for r in rows:
            balance = int(r.debit_balance)
            # The Stripe balance (a debit balance), less each liability the platform still
            # owes an organizer (a credit balance: negative here).
            if r.code.startswith("stripe_balance:") or balance < 0:
                own[r.currency] = own.get(r.currency, 0) + balance
        payouts = {cur: amount for cur, amount in sorted(own.items()) if amount > 0}
        bar = self.bar("payouts to the bank", len(payouts))
        for currency, amount in payouts.items():
            self.send([self.stripe.payout(currency, amount)])
            self.settle("payouts")
            bar.advance()
        self.payouts = payouts
        with self.engine.begin() as conn:
            ledger.roll_up(conn)
        bar.done(", ".join(_money(a, c) for c, a in payouts.items()))

    def summary(self) -> SeasonSummary:
        orgs = [o for o, _, _ in self.orgs]
        s = SeasonSummary(
            stripe_events_posted=self.posted,
            stripe_duplicates=self.duplicates,
            webhooks_delivered=self.receiver.count,
            emails_delivered=self.mailbox.count,
            transfers=len(self.stripe.transfers),
            payouts=dict(self.payouts),
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
    engine: sa.Engine,
    options: SeasonOptions | None = None,
    out: Out = print,
    *,
    live: TextIO | None = None,
    log_dir: Path | None = None,
) -> SeasonSummary:
    """Play a season on `engine`'s (migrated) database; return what happened. The API and
    the workers run as processes of their own (`liventix serve`, `liventix worker`), their
    output in `log_dir` (a temporary directory by default). Progress bars are redrawn on
    `live` (a terminal) when given, else each step ends with one line."""
    options = options or SeasonOptions()
    started = time.monotonic()
    season = _Season(engine, options, out, live)
    servers = [season.receiver, season.stripe_server]
    for server in servers:
        threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        with (
            tempfile.TemporaryDirectory(prefix="liventix-demo-") as scratch,
            smtp_server(season.mailbox) as (smtp_port, smtp_kind),
            _Processes(
                engine.url,
                stripe_api=season.stripe_server.url,
                smtp_port=smtp_port,
                log_dir=log_dir or Path(scratch),
            ) as processes,
        ):
            season.processes = processes
            season.api_url = processes.api_url
            out(
                f"API (liventix serve) on {processes.api_url}, {WORKERS} workers "
                f"(liventix worker), Stripe stand-in on {season.stripe_server.url}, webhook "
                f"receiver on {season.receiver.url}, {smtp_kind} on 127.0.0.1:{smtp_port}"
            )
            season.setup()
            sales = season.checkouts()
            season.pay(sales)
            season.aftermath(sales)
            season.close_season()
            summary = season.summary()
            summary.email_server = smtp_kind
            summary.balance_transactions = season.stripe.balance_transactions()
    finally:
        season.pool.shutdown(cancel_futures=True)
        season.http.close()
        for server in servers:
            server.shutdown()
            server.server_close()
    summary.seconds = time.monotonic() - started
    return summary


class _Processes:
    """The application's own processes for the season: `liventix serve` (the API, Stripe's
    webhooks come in there) and WORKERS `liventix worker --no-periodic` (the season itself
    expires holds and releases escrows, at the moments its story says), all on `url`'s
    database, calling the Stripe stand-in and sending e-mails to the local SMTP server."""

    def __init__(self, url: sa.URL, *, stripe_api: str, smtp_port: int, log_dir: Path) -> None:
        self.log_dir = log_dir
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            self.port = int(s.getsockname()[1])
        self.api_url = f"http://127.0.0.1:{self.port}"
        self.env = {
            **os.environ,
            "DATABASE_URL": url.render_as_string(hide_password=False),
            "LIVENTIX_DB_NAME": str(url.database),
            "STRIPE_API_BASE": stripe_api,
            "STRIPE_WEBHOOK_SECRET": WEBHOOK_SECRET,
            "LIVENTIX_SMTP_HOST": "127.0.0.1",
            "LIVENTIX_SMTP_PORT": str(smtp_port),
            "LIVENTIX_WEBHOOK_ALLOW": LOCAL,
            "PYTHONUNBUFFERED": "1",
        }
        self.running: list[tuple[str, subprocess.Popen[bytes]]] = []

    def _start(self, name: str, *args: str) -> None:
        self.log_dir.mkdir(parents=True, exist_ok=True)
        with (self.log_dir / f"{name}.log").open("wb") as log:
            process = subprocess.Popen(
                [sys.executable, "-m", "liventix", *args],
                env=self.env,
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
            )
        self.running.append((name, process))

    def __enter__(self) -> _Processes:
        try:
            self._start("api", "serve", "--port", str(self.port), "--log-level", "warning")
            for n in range(WORKERS):
                self._start(
                    f"worker-{n + 1}",
                    "worker",
                    "--no-periodic",
                    "--batch-size",
                    "200",
                    "--concurrency",
                    "32",
                    "--poll",
                    "0.05",
                    "--retry-schedule",
                    FAST_RETRY,
                )
            self._wait_for_api()
        except BaseException:
            self.__exit__()
            raise
        return self

    def _wait_for_api(self, timeout: float = 60.0) -> None:
        deadline = time.monotonic() + timeout
        while True:
            self.check()
            try:
                if httpx.get(f"{self.api_url}/health", timeout=1.0).status_code == 200:
                    return
            except httpx.TransportError:
                pass
            if time.monotonic() > deadline:
                raise ProcessFailed("api", f"no answer on /health within {timeout} s")
            time.sleep(0.1)

    def check(self) -> None:
        """Raise if a process died (its log says why)."""
        for name, process in self.running:
            if process.poll() is not None:
                log = (self.log_dir / f"{name}.log").read_text(errors="replace")[-2000:]
                raise ProcessFailed(name, f"exited with {process.returncode}:\n{log}")

    def __exit__(self, *exc: object) -> None:
        for _, process in self.running:
            if process.poll() is None:
                process.terminate()  # SIGTERM: each finishes what it has in flight
        for _, process in self.running:
            try:
                process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


def _money(amount: int, currency: str) -> str:
    exponent = ledger.CURRENCY_EXPONENTS[currency]
    whole, cents = divmod(abs(amount), 10**exponent)
    fraction = f".{cents:0{exponent}d}" if exponent else ""
    return f"{'-' if amount < 0 else ''}{whole:,}{fraction} {currency}"


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
    payouts = ", ".join(_money(a, c) for c, a in s.payouts.items()) or "none"
    out(f"payouts     {payouts} to the platform's bank")
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


def _at_least(minimum: int) -> Callable[[str], int]:
    def parse(text: str) -> int:
        value = int(text)
        if value < minimum:
            raise argparse.ArgumentTypeError(f"at least {minimum}")
        return value

    return parse


def _demo_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--seed", type=int, default=1, help="the same seed, the same ledger")
    parser.add_argument(
        "--orders", type=_at_least(20), default=1_000, help="checkouts (default 1000)"
    )
    parser.add_argument(
        "--orgs", type=_at_least(2), default=3, help="organizations (default 3, at least 2)"
    )
    parser.add_argument(
        "--database",
        default=DEMO_DATABASE,
        help=f"the demo's database, dropped and created anew (default {DEMO_DATABASE}); an "
        "existing database is dropped only if an earlier demo made it",
    )
    parser.add_argument(
        "--out",
        type=Path,
        default=None,
        help="where the reports go (default: <data dir>/demo)",
    )


DEMO_MARK = "made by liventix demo: dropped and made anew by the next one"
"""The comment the demo puts on its database: it drops no database without it."""


class NotADemoDatabase(DemoError):
    """The database named for the demo exists and is not one an earlier demo made."""

    def __init__(self, name: str) -> None:
        super().__init__(
            f"database {name!r} exists and was not made by liventix demo: pick another "
            "--database (the demo drops and recreates its database)"
        )
        self.name = name


def _fresh_database(settings: Settings, name: str) -> str:
    """Drop (if an earlier demo made it) and create the demo's database on the server
    (embedded unless DATABASE_URL), mark it, migrate it, and return its URL."""
    server = server_url(settings)
    maintenance = sa.create_engine(server, poolclass=NullPool, isolation_level="AUTOCOMMIT")
    try:
        with maintenance.connect() as conn:
            found = conn.execute(
                sa.text("""SELECT coalesce(shobj_description(oid, 'pg_database'), '')
                             FROM pg_database WHERE datname = :name"""),
                {"name": name},
            ).first()
        if found is not None and found[0] != DEMO_MARK:
            raise NotADemoDatabase(name)
        drop_database(server, name)
        create_database(server, name)
        with maintenance.connect() as conn:
            quoted = conn.dialect.identifier_preparer.quote(name)
            conn.exec_driver_sql(f"COMMENT ON DATABASE {quoted} IS '{DEMO_MARK}'")
    finally:
        maintenance.dispose()
    url = database_url(server, name)
    upgrade(url)
    return url


def _stop_on_sigterm(signum: int, frame: FrameType | None) -> None:
    # SIGTERM (kill, timeout, CI) unwinds like Ctrl-C, so the API and the workers are
    # stopped on the way out instead of being left running.
    raise SystemExit(128 + signum)


@command(
    "demo",
    summary="Play a whole season through the system and reconcile it (the README's demo).",
    arguments=_demo_options,
)
def demo(args: argparse.Namespace, settings: Settings) -> int:
    """Play a season on a fresh database, then run finance's reports on it; exit 1 if a
    report finds a difference, 2 if the season could not be played, 130 on Ctrl-C."""
    if args.database == settings.database_name:
        print("liventix: the demo drops its database: pick another --database", file=sys.stderr)
        return EXIT_ERROR
    previous = signal.signal(signal.SIGTERM, _stop_on_sigterm)
    try:
        return _demo(args, settings)
    except DemoError as error:
        print(f"liventix: {error}", file=sys.stderr)
        return EXIT_ERROR
    except KeyboardInterrupt:
        print("\nliventix: interrupted; the API and the workers were stopped", file=sys.stderr)
        return 130
    finally:
        signal.signal(signal.SIGTERM, previous)


def _demo(args: argparse.Namespace, settings: Settings) -> int:
    out_dir: Path = (args.out or settings.data_dir / "demo").absolute()
    url = _fresh_database(settings, args.database)
    print(f"database: {make_url(url).render_as_string(hide_password=True)} (created anew)")
    engine = make_engine(url, pool_size=20, max_overflow=20)
    try:
        with engine.connect() as conn:
            since: datetime = conn.execute(sa.text("SELECT now()")).scalar_one()
        summary = play_season(
            engine,
            SeasonOptions(seed=args.seed, orders=args.orders, orgs=args.orgs),
            live=sys.stdout if sys.stdout.isatty() else None,
            log_dir=out_dir / "logs",
        )
        print_summary(summary)
        differences = finance_reports(engine, summary.balance_transactions, out_dir, since=since)
    finally:
        engine.dispose()
    where = "" if settings.database_url else f"LIVENTIX_DATA_DIR={settings.data_dir.absolute()} "
    print(
        f"\nAgain, on this database: {where}LIVENTIX_DB_NAME={args.database} liventix report "
        f"all --balance-transactions {out_dir / BALANCE_TRANSACTIONS}"
    )
    ok = summary.balanced and summary.released_still_holding == 0 and differences == 0
    return EXIT_OK if ok else EXIT_NO


BALANCE_TRANSACTIONS = "stripe-balance-transactions.json"


def finance_reports(
    engine: sa.Engine,
    balance_transactions: list[StripeObject],
    out_dir: Path,
    out: Out = print,
    *,
    since: datetime | None = None,
) -> int:
    """Finance's reports on the season, from one snapshot: the trial balance, the balance
    sheet now, the income statement and every organizer's statement for the season (from
    `since`, default the last 30 days), the escrow position, the Stripe reconciliation
    against the stand-in's balance transactions (written as Stripe's JSON list and itemized
    CSV), the ticket tie-out and the outbox's health. A line per report; every report as JSON
    and CSV files, and one HTML page, under `out_dir`. Returns the number of differences."""
    out_dir.mkdir(parents=True, exist_ok=True)
    (out_dir / BALANCE_TRANSACTIONS).write_text(
        json.dumps(balance_transactions, indent=1), encoding="utf-8"
    )
    transactions = reports.load_balance_transactions(out_dir / BALANCE_TRANSACTIONS)
    (out_dir / "stripe-balance-transactions.csv").write_text(
        reports.to_csv(transactions), encoding="utf-8"
    )
    with engine.begin() as conn:
        conn.execute(sa.text("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY"))
        now: datetime = conn.execute(sa.text("SELECT now()")).scalar_one()
        start = since or now - timedelta(days=30)
        built = reports.every_report(
            conn, transactions=transactions, as_of=now, start=start, end=now
        )
        history = reports.stripe_balance_history(conn)
    out("")
    out(f"Finance's reports (the season: {start:%Y-%m-%d %H:%M:%S} to {now:%H:%M:%S} UTC)")
    for report in built:
        if isinstance(report, reports.OrganizerStatementReport):
            reports.write_files(report, out_dir / "organizers" / _slug(report.organizer))
            title = f"Statement: {report.organizer}"
        else:
            reports.write_files(report, out_dir)
            title = report.title
        out(f"  {title:<44} differences {report.differences}{_detail(report)}")
    page = built
    html = out_dir / "report.html"
    html.write_text(reports.as_html(page, history, str(now)), encoding="utf-8")
    total = sum(r.differences for r in page)
    out("every difference zero" if total == 0 else f"{total} DIFFERENCE(S): see the reports")
    out(f"HTML report: {html}")
    out(f"JSON and CSV: {out_dir}")
    return total


def _slug(name: str) -> str:
    return "".join(c if c.isalnum() else "-" for c in name.lower()).strip("-")


def _detail(report: reports.Report) -> str:
    if isinstance(report, reports.StripeReconciliationReport):
        balances = "; ".join(
            f"{b.currency} ledger {b.ledger_balance} = Stripe {b.stripe_balance}"
            if not b.difference
            else f"{b.currency} ledger {b.ledger_balance} vs Stripe {b.stripe_balance}"
            for b in report.balances
        )
        return f"  ({report.matched} transactions matched; {balances})"
    if isinstance(report, reports.BalanceSheetReport):
        return (
            "  ("
            + "; ".join(
                f"{t.currency} assets {_money(t.assets, t.currency)}" for t in report.totals
            )
            + ")"
        )
    if isinstance(report, reports.IncomeStatementReport):
        return (
            "  (net income "
            + ", ".join(_money(t.net_income, t.currency) for t in report.totals)
            + ")"
        )
    if isinstance(report, reports.OrganizerStatementReport):
        sales = ", ".join(f"{_money(s.gross, s.currency)} gross" for s in report.sales)
        owed = ", ".join(
            _money(b.closing, b.currency) for b in report.balances if b.kind == "total"
        )
        return f"  ({sales or 'no sales'}; owed at the end {owed or 'nothing'})"
    if isinstance(report, reports.EscrowPositionReport):
        return f"  ({len(report.rows)} escrows)"
    if isinstance(report, reports.TicketTieOutReport):
        return f"  ({sum(r.tickets_sold for r in report.rows)} tickets sold)"
    return ""
