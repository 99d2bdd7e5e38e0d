"""The season's scenes, played in order by `liventix.demo.season.play_season`: the platform
and its organizations, the checkouts, Stripe's verdicts, refunds, transfers, check-ins and
disputes, the close (expiries, releases, transfers, the payout), and the summary counted from
the database and the local servers.

Every choice comes from `random.Random(seed)`: ids are random, but the same seed gives the
same amounts on the same accounts (see `ledger_fingerprint`).
"""

from __future__ import annotations

import random
import time
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Literal, TextIO

import sqlalchemy as sa

import escrow
import ledger
import outbox
import ticketing_fsm
from liventix.demo.errors import NotSettled
from liventix.demo.posting import EventPoster
from liventix.demo.processes import LOCAL, AppProcesses
from liventix.demo.progress import Out, Progress, money
from liventix.demo.summary import SeasonSummary, count_from_database
from liventix.stripe_gateway import StripeGateway, StripeSettings
from liventix.testing.servers import Mailbox, Receiver
from liventix.testing.stripe import StandInServer, StripeObject, StripeStandIn

PLATFORM_NAME = "Liventix"
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


@dataclass(frozen=True)
class SeasonOptions:
    """The season's size and seed."""

    seed: int = 1
    orders: int = 1_000
    orgs: int = 3
    events_per_org: int = 2


@dataclass
class Sale:
    """One checkout and what the season makes of it."""

    org: uuid.UUID
    event: uuid.UUID
    checkout: ticketing_fsm.Checkout
    fate: str  # pay, fail, expire


class Season:
    """One season on `engine`'s database: the stand-ins, the local servers and what the
    scenes need to remember from one to the next."""

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
        self.poster = EventPoster(self.rng)
        self.refunds_sent: set[str] = set()
        self.orgs: list[tuple[uuid.UUID, str, str]] = []  # (id, name, currency)
        self.events: list[tuple[uuid.UUID, uuid.UUID, str, list[uuid.UUID], bool]] = []
        self.processes: AppProcesses | None = None
        self.payouts: dict[str, int] = {}
        self.started = time.monotonic()

    def send(
        self,
        events: list[StripeObject],
        *,
        duplicates: float = 0.05,
        bar: Progress | None = None,
    ) -> None:
        """Post Stripe's events to the API as Stripe does (see `EventPoster.send`)."""
        self.poster.send(events, duplicates=duplicates, bar=bar)

    def settle(self, what: str, timeout: float = 300.0) -> None:
        """Wait until the workers have handled the inbox and done every delivery."""
        deadline = time.monotonic() + timeout
        while True:
            with self.engine.connect() as conn:
                waiting = outbox.waiting(conn)
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
            f"stripe events {self.poster.posted}, webhooks {self.receiver.count}, "
            f"e-mails {self.mailbox.count}"
        )

    def setup(self) -> None:
        rng = self.rng
        with self.engine.begin() as conn:
            now: datetime = conn.execute(sa.text("SELECT now()")).scalar_one()
            if ledger.platform_org(conn) is None:
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

    def checkouts(self) -> list[Sale]:
        rng = self.rng
        sales: list[Sale] = []
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
            # A declined card releases nothing (the buyer may pay with another one): a
            # declined buyer here gives up, so that sale's hold expires as an unpaid one does.
            short = fate in ("expire", "fail")
            hold = timedelta(seconds=1) if short else ticketing_fsm.DEFAULT_HOLD
            try:
                checkout = ticketing_fsm.start_checkout(
                    self.engine, self.gateway, request, hold=hold
                )
            except ticketing_fsm.CheckoutExpired:
                # A second's hold outlasted by the checkout itself (a loaded machine): nothing
                # recorded, the buyer gives up at once; the sweeper cancels the intent and
                # releases the seats as for any expired hold.
                if not short:
                    raise
            else:
                sales.append(Sale(org, event, checkout, fate))
            bar.advance()
        bar.done("seats held, PaymentIntents created")
        return sales

    def pay(self, sales: list[Sale]) -> None:
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

    def aftermath(self, sales: list[Sale]) -> None:
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
            f"  refunds asked: {len(refunded)} orders; event '{cancelled[2]}' cancelled "
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
        # The sweeper asked Stripe to cancel the expired orders' PaymentIntents (tasks): the
        # workers ask, and release each order's seats once Stripe says it is canceled.
        self.settle("cancellations of expired holds")
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
            accounts = _all_accounts(conn)
        own: dict[str, int] = {}
        for a in accounts:
            if not a.code.startswith(("stripe_balance:", "escrow:", "payable:")):
                continue
            balance = a.balance.posted_debits - a.balance.posted_credits
            # The Stripe balance (a debit balance), less each liability the platform still
            # owes an organizer (a credit balance: negative here).
            if a.code.startswith("stripe_balance:") or balance < 0:
                own[a.currency] = own.get(a.currency, 0) + balance
        payouts = {cur: amount for cur, amount in sorted(own.items()) if amount > 0}
        bar = self.bar("payouts to the bank", len(payouts))
        for currency, amount in payouts.items():
            self.send([self.stripe.payout(currency, amount)])
            self.settle("payouts")
            bar.advance()
        self.payouts = payouts
        with self.engine.begin() as conn:
            ledger.roll_up(conn)
        bar.done(", ".join(money(a, c) for c, a in payouts.items()))

    def summary(self) -> SeasonSummary:
        orgs = [o for o, _, _ in self.orgs]
        s = SeasonSummary(
            stripe_events_posted=self.poster.posted,
            stripe_duplicates=self.poster.duplicates,
            webhooks_delivered=self.receiver.count,
            emails_delivered=self.mailbox.count,
            transfers=len(self.stripe.transfers),
            payouts=dict(self.payouts),
        )
        count_from_database(self.engine, orgs, s)
        return s


def _all_accounts(conn: sa.Connection) -> list[ledger.Account]:
    """Every account the connection sees, with its stored balance (after a roll-up: the sum
    of its lines)."""
    found: list[ledger.Account] = []
    page = ledger.list_accounts(conn, limit=1000)
    found.extend(page.accounts)
    while page.next_after is not None:
        page = ledger.list_accounts(conn, after=page.next_after, limit=1000)
        found.extend(page.accounts)
    return found
