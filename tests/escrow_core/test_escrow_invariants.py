"""Escrow's invariants under random work: a hypothesis state machine on a real database.

Each example runs on a database emptied back to the migrated template (`scratch`): the
platform, two organizers with drawn policies (platform fee, who bears Stripe's fee, whether a
refund returns the platform's fee, a hold period of none or a day) and four events (one in EUR)
whose end lies a day in the past or in the future. The rules call escrow's use cases directly,
each in its own transaction as the unit of work at the edge would: captures (before and after
release or cancellation) and their replays; refunds (partial, full, beyond the payment, failed
at once or later, replayed, of unknown payments); disputes (opened, funds withdrawn,
reinstated, closed won or lost, in any order, replayed); event endings; holds elapsing; clock
advances; `release_due` and `request_release`; transfers, their replays and reversals (made in
Stripe's Dashboard, or asked for by escrow and booked against the request); payouts paid and
failed; cancellations (with or without refunding everything first); policy changes.

What an organizer owes after release (a refund or lost dispute charged to its receivable, a
cancelled or released escrow's shortfall) is modelled as escrow decides it: asked back from
its transfers by reversal requests (this escrow's transfers first, then the newest), up to
what is left of each; what no transfer covers is netted against the next release (a
payable-to-receivable entry, the transfer asked for the rest, the escrow released at once
when nothing is left).

A plain Python model predicts each outcome: the use case's result or the class of its
refusal (InvalidTransition, RefundExceedsPayment, NotYetApplicable). A refusal must leave no
trace (every table of `payments` and `messaging` counted, escrows and balances compared,
before and after). After every step the database is checked against the model: each
escrow's state and counters; each account's balance (escrows, payables, receivables and the
platform's accounts: what the recipes imply); every transfer asked of Stripe; every transfer
reversal asked of Stripe (its request row, booked or not, and its one outbox task) and what
each organizer owes after them. And against rules that need no model: each escrow holds
what its ledger account says; released + refunded + charged back never exceeds captured;
no transition left a final state; the audit trail is a chain of the machine's transitions
ending in the current state; each state change published its message; the trial balance
balances per currency and per organization; each account's balance is the sum of its lines;
a released escrow holds nothing and a cancelled one never keeps a debt of the organizer
(money is not stranded in a closed escrow).

The database's clock cannot be moved, so a clock advance moves every stored instant of the
escrows (event end, end, hold until) ten days back, as if ten days had passed.

Four rules fire only when they have something to do (`release_due` when an escrow is due,
the clock when one waits for it, Stripe making a transfer or a reversal asked of it), so that
histories reach releases, transfers and the debts after them. `LIVENTIX_HYPOTHESIS_EXAMPLES`
and `LIVENTIX_HYPOTHESIS_STEPS` make the run longer.
"""

from __future__ import annotations

import os
import uuid
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field, fields
from datetime import UTC, datetime, timedelta
from typing import Any, ClassVar, TypeVar
from uuid import UUID

import pytest
import sqlalchemy as sa
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    initialize,
    invariant,
    precondition,
    rule,
    run_state_machine_as_test,
)

import escrow
import ledger
from escrow.lifecycle import transition
from escrow.machine import EscrowMachine
from liventix.testing.scratch import Scratch

PLATFORM = uuid.UUID("00000000-0000-0000-0000-000000000001")
ORG_A = uuid.UUID("00000000-0000-0000-0000-0000000000a1")
ORG_B = uuid.UUID("00000000-0000-0000-0000-0000000000b2")
ORGS = (ORG_A, ORG_B)
EVENTS: tuple[tuple[UUID, str, str], ...] = (
    (ORG_A, "a-concert", "USD"),
    (ORG_A, "a-festival", "EUR"),
    (ORG_B, "b-gala", "USD"),
    (ORG_B, "b-talk", "USD"),
)
DISPUTE_FEE = 1_500
CLOCK_STEP_DAYS = 10
HOLDING = escrow.HOLDING_STATES
RELEASED = frozenset({"release_requested", "released"})
# Where refunds and lost disputes are charged to the escrow (else to the receivable).
CHARGED_TO_ESCROW = HOLDING | {"cancelled"}
MACHINE_TRANSITIONS = frozenset(
    (t.source.value, t.target.value, str(e))
    for s in EscrowMachine.states
    for t in s.transitions
    for e in t.events
)
MACHINE_EVENTS = frozenset(event for _, _, event in MACHINE_TRANSITIONS)

SETTINGS = settings(
    max_examples=int(os.environ.get("LIVENTIX_HYPOTHESIS_EXAMPLES", "25")),
    stateful_step_count=int(os.environ.get("LIVENTIX_HYPOTHESIS_STEPS", "25")),
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)

T = TypeVar("T")
Key = tuple[UUID, str]  # (organizer, event id)
Leg = tuple[UUID, str, int]  # (account owner, account code, +debit / -credit)


# --------------------------------------------------------------------------------------
# The model
# --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class MPolicy:
    """An organizer's terms as drawn."""

    bps: int
    fixed: int
    bears: bool
    refund_fee: bool
    hold_days: int

    def stored(self) -> escrow.Policy:
        return escrow.Policy(
            platform_fee_bps=self.bps,
            platform_fee_fixed=self.fixed,
            bears_stripe_fees=self.bears,
            refund_platform_fee=self.refund_fee,
            hold_period=timedelta(days=self.hold_days),
            connected_account="acct_test",
            payout_email="payouts@example.org",
        )


policies = st.builds(
    MPolicy,
    bps=st.sampled_from([0, 250, 500, 1000]),
    fixed=st.sampled_from([0, 30]),
    bears=st.booleans(),
    refund_fee=st.booleans(),
    hold_days=st.sampled_from([0, 1]),
)


@dataclass
class MEscrow:
    """An escrow as the model expects it."""

    org: UUID
    event_id: str
    currency: str
    ends_day: int  # -1 or +1: the event's end, in days from the start of the example
    id: UUID | None = None
    state: str = "collecting"
    held: int = 0
    captured: int = 0
    refunded: int = 0
    charged_back: int = 0
    released: int = 0
    open_disputes: int = 0
    ended_day: int | None = None
    hold_days: int = 0
    requested: list[int] = field(default_factory=list)  # every transfer asked of Stripe
    outstanding: list[int] = field(default_factory=list)  # those not yet made
    seq: int = 0  # the order in which the database created it (with its end, how it sorts)

    def ends_passed(self, day: int) -> bool:
        return self.ends_day < day

    def hold_passed(self, day: int) -> bool:
        # hold_until = max(now at the end, the event's end) + hold. Days are multiples of
        # CLOCK_STEP_DAYS and ends are +-1, so only the end's own day can tie, and a tie
        # with no hold has passed (now moved on since).
        assert self.ended_day is not None
        return day >= max(self.ended_day, self.ends_day) + self.hold_days


@dataclass
class MPayment:
    id: str
    key: Key
    gross: int
    stripe_fee: int
    platform_fee: int
    refund_fee: bool
    refunded: int = 0
    disputed: int = 0
    dispute: str | None = None


@dataclass
class MRefund:
    id: str
    payment: str
    amount: int
    legs: list[Leg]
    charged_escrow: bool
    fee_back: int
    failed: bool = False


@dataclass
class MDispute:
    id: str
    payment: str
    amount: int
    won: bool
    fee_returned: int
    opened: bool = False
    withdrawn: bool = False
    reinstated: bool = False
    status: str = "open"


@dataclass
class MTransfer:
    id: str
    key: Key
    amount: int
    reversed: int = 0
    reversals: list[tuple[str, int]] = field(default_factory=list)


@dataclass
class MRequest:
    """A transfer reversal escrow asked Stripe for, booked once `reversal` is set."""

    id: str
    org: UUID
    currency: str
    transfer: str
    amount: int
    reversal: str | None = None


@dataclass
class MPayout:
    id: str
    currency: str
    amount: int
    paid: bool = False
    failed: bool = False


def _escrow_code(e: MEscrow) -> str:
    return f"escrow:{e.event_id}:{e.currency.lower()}"


def _codes(currency: str) -> dict[str, str]:
    cur = currency.lower()
    return {
        name: f"{name}:{cur}"
        for name in (
            "stripe_balance",
            "platform_fees",
            "stripe_fees",
            "dispute_fees",
            "disputed_funds",
            "bank",
            "payable",
            "receivable",
        )
    }


class Model:
    """What the escrows and the ledger should say."""

    def __init__(self, ends: dict[Key, int], policies: dict[UUID, MPolicy]) -> None:
        self.day = 0
        self.policies = policies
        self.escrows = {
            (org, ev): MEscrow(org, ev, cur, ends[(org, ev)]) for org, ev, cur in EVENTS
        }
        self.payments: dict[str, MPayment] = {}
        self.refunds: dict[str, MRefund] = {}
        self.disputes: dict[str, MDispute] = {}
        self.transfers: dict[str, MTransfer] = {}  # in the order Stripe made them
        self.requests: dict[str, MRequest] = {}  # transfer reversals asked of Stripe
        self.payouts: dict[str, MPayout] = {}
        self.balances: Counter[tuple[UUID, str]] = Counter()
        self.serial = 0

    def new_id(self, prefix: str) -> str:
        self.serial += 1
        return f"{prefix}_{self.serial:04d}"

    def post(self, legs: list[Leg]) -> None:
        assert sum(amount for _, _, amount in legs) == 0, legs
        for owner, code, amount in legs:
            self.balances[(owner, code)] += amount

    def escrow_of(self, payment: str) -> MEscrow:
        return self.escrows[self.payments[payment].key]

    def created(self) -> list[MEscrow]:
        return [e for e in self.escrows.values() if e.id is not None]

    # Effects, applied once the database agreed ----------------------------------------

    def capture(self, payment: MPayment, bears: bool) -> None:
        e = self.escrows[payment.key]
        c = _codes(e.currency)
        share = payment.gross - payment.platform_fee - (payment.stripe_fee if bears else 0)
        # Past release the share goes straight to the payable, with a transfer of its own.
        late = e.state in RELEASED
        self.post(
            [
                (PLATFORM, c["stripe_balance"], payment.gross - payment.stripe_fee),
                (PLATFORM, c["stripe_fees"], 0 if bears else payment.stripe_fee),
                (e.org, c["payable"] if late else _escrow_code(e), -share),
                (PLATFORM, c["platform_fees"], -payment.platform_fee),
            ]
        )
        e.captured += payment.gross
        if late:
            e.released += share
            self.request_transfer(e, share)
        else:
            e.held += share
        self.payments[payment.id] = payment

    def request_transfer(self, e: MEscrow, amount: int) -> None:
        if amount > 0:
            e.requested.append(amount)
            e.outstanding.append(amount)

    def refund(
        self, refund_id: str, payment_id: str, amount: int, *, failed_at_once: bool = False
    ) -> MRefund:
        p = self.payments[payment_id]
        e = self.escrows[p.key]
        c = _codes(e.currency)
        fee_back = p.platform_fee * amount // p.gross if p.refund_fee else 0
        charged_escrow = e.state in CHARGED_TO_ESCROW
        charged = _escrow_code(e) if charged_escrow else c["receivable"]
        legs: list[Leg] = [
            (e.org, charged, amount - fee_back),
            (PLATFORM, c["platform_fees"], fee_back),
            (PLATFORM, c["stripe_balance"], -amount),
        ]
        self.post(legs)
        if charged_escrow:
            e.held -= amount - fee_back
            e.refunded += amount
            if e.state == "cancelled" and e.held < 0 and not failed_at_once:
                # A cancelled escrow keeps no debt: the shortfall moves to the receivable,
                # asked back from the organizer's transfers (this escrow's first). A refund
                # first seen failed moves nothing net, so it settles nothing.
                self.post([(e.org, c["receivable"], -e.held), (e.org, _escrow_code(e), e.held)])
                e.held = 0
                self.recover(e.org, e.currency, f"settle:{e.id}:{refund_id}", own=p.key)
        elif not failed_at_once:
            # Refunded after release: the organizer owes it, asked back from its transfers.
            self.recover(e.org, e.currency, f"refund:{refund_id}", own=p.key)
        p.refunded += amount
        r = MRefund(refund_id, payment_id, amount, legs, charged_escrow, fee_back)
        self.refunds[refund_id] = r
        return r

    def refund_failed(self, r: MRefund) -> None:
        p = self.payments[r.payment]
        e = self.escrows[p.key]
        p.refunded -= r.amount
        r.failed = True
        if r.charged_escrow and e.state in RELEASED:
            # The escrow was released since: the money is the organizer's again, on the
            # payable, and (like a payment after release) is transferred to them.
            c = _codes(e.currency)
            self.post(
                [
                    (PLATFORM, c["stripe_balance"], r.amount),
                    (e.org, c["payable"], -(r.amount - r.fee_back)),
                    (PLATFORM, c["platform_fees"], -r.fee_back),
                ]
            )
            e.refunded -= r.amount
            e.released += r.amount - r.fee_back
            self.request_transfer(e, r.amount - r.fee_back)
            return
        self.post([(owner, code, -amount) for owner, code, amount in r.legs])
        if r.charged_escrow:
            e.held += r.amount - r.fee_back
            e.refunded -= r.amount

    def open_dispute(self, d: MDispute) -> bool:
        if d.opened:
            return False
        d.opened = True
        e = self.escrow_of(d.payment)
        if e.state in HOLDING:
            e.state = "frozen"
            e.open_disputes += 1
        return True

    def withdraw(self, d: MDispute) -> bool:
        self.open_dispute(d)
        if d.withdrawn:
            return False
        c = _codes(self.escrow_of(d.payment).currency)
        self.post(
            [
                (PLATFORM, c["disputed_funds"], d.amount),
                (PLATFORM, c["dispute_fees"], DISPUTE_FEE),
                (PLATFORM, c["stripe_balance"], -(d.amount + DISPUTE_FEE)),
            ]
        )
        d.withdrawn = True
        return True

    def reinstate(self, d: MDispute) -> bool:
        self.open_dispute(d)
        if d.reinstated:
            return False
        c = _codes(self.escrow_of(d.payment).currency)
        self.post(
            [
                (PLATFORM, c["stripe_balance"], d.amount + d.fee_returned),
                (PLATFORM, c["disputed_funds"], -d.amount),
                (PLATFORM, c["dispute_fees"], -d.fee_returned),
            ]
        )
        d.reinstated = True
        return True

    def close(self, d: MDispute) -> bool:
        self.open_dispute(d)
        if d.status != "open":
            return False
        e = self.escrow_of(d.payment)
        if not d.won:
            c = _codes(e.currency)
            to_escrow = e.state in CHARGED_TO_ESCROW
            charged = _escrow_code(e) if to_escrow else c["receivable"]
            self.post([(e.org, charged, d.amount), (PLATFORM, c["disputed_funds"], -d.amount)])
            if to_escrow:
                e.held -= d.amount
                e.charged_back += d.amount
            else:
                self.recover(e.org, e.currency, f"dispute:{d.id}", own=(e.org, e.event_id))
        d.status = "won" if d.won else "lost"
        if e.state == "frozen":
            e.open_disputes -= 1
            if e.open_disputes == 0:
                e.state = "holding" if e.ended_day is not None else "collecting"
        return True

    def end(self, e: MEscrow) -> None:
        e.state = "holding"
        e.ended_day = self.day
        e.hold_days = self.policies[e.org].hold_days

    def release(self, e: MEscrow) -> None:
        c = _codes(e.currency)
        if e.held > 0:
            self.post([(e.org, _escrow_code(e), e.held), (e.org, c["payable"], -e.held)])
        elif e.held < 0:
            self.post([(e.org, c["receivable"], -e.held), (e.org, _escrow_code(e), e.held)])
        amount = max(e.held, 0)
        short = e.held < 0
        e.released += amount
        e.held = 0
        # What the organizer owes, less the reversals asked and not yet booked, is netted
        # against the release: the transfer is that much smaller, and a release netted
        # whole (or of nothing) completes at once.
        owed = self.owed(e.org, e.currency)
        netted = min(owed, amount) if owed > 0 else 0
        if netted > 0:
            self.post([(e.org, c["payable"], netted), (e.org, c["receivable"], -netted)])
        e.state = "release_requested" if amount > netted else "released"
        self.request_transfer(e, amount - netted)
        if short:
            # The shortfall went to the receivable: asked back from the newest transfers.
            self.recover(e.org, e.currency, f"release:{e.id}")

    def cancel(self, e: MEscrow) -> None:
        # What the refunds took beyond the event's share becomes a receivable, asked back
        # from the organizer's newest transfers.
        short = e.held < 0
        if short:
            c = _codes(e.currency)
            self.post([(e.org, c["receivable"], -e.held), (e.org, _escrow_code(e), e.held)])
        e.held = 0
        e.state = "cancelled"
        if short:
            self.recover(e.org, e.currency, f"cancel:{e.id}")

    def owed(self, org: UUID, currency: str) -> int:
        """The organizer's receivable less the reversals asked of Stripe and not booked."""
        pending = sum(
            r.amount
            for r in self.requests.values()
            if (r.org, r.currency, r.reversal) == (org, currency, None)
        )
        return self.balances[(org, _codes(currency)["receivable"])] - pending

    def recover(self, org: UUID, currency: str, key: str, own: Key | None = None) -> None:
        """Ask Stripe to reverse what the organizer owes from its transfers (the escrow
        `own`'s first, then the newest), up to what is left of each (less what is already
        asked of it): one request per (cause, transfer). What no transfer covers stays owed."""
        owed = self.owed(org, currency)
        if owed <= 0:
            return
        newest_first = [
            t
            for t in reversed(self.transfers.values())
            if (t.key[0], self.escrows[t.key].currency) == (org, currency)
        ]
        ordered = sorted(newest_first, key=lambda t: t.key != own)  # stable: own first
        asked = 0
        for t in ordered:
            pending = sum(
                r.amount
                for r in self.requests.values()
                if r.transfer == t.id and r.reversal is None
            )
            take = min(t.amount - t.reversed - pending, owed - asked)
            request_id = f"{key}:{t.id}"
            if take <= 0 or request_id in self.requests:
                continue
            self.requests[request_id] = MRequest(request_id, org, currency, t.id, take)
            asked += take
            if asked >= owed:
                break

    def anything_due(self) -> bool:
        """Whether `release_due` would move an escrow now."""
        return any(
            (e.state == "collecting" and e.ends_passed(self.day))
            or (e.state == "holding" and e.hold_passed(self.day) and e.open_disputes == 0)
            or e.state == "releasable"
            for e in self.created()
        )

    def waiting_for_time(self) -> bool:
        """Whether an escrow waits for its event's end or its hold, and the clock can move."""
        return self.day < 3 * CLOCK_STEP_DAYS and any(
            (e.state == "collecting" and not e.ends_passed(self.day))
            or (e.state == "holding" and not e.hold_passed(self.day))
            for e in self.created()
        )

    def release_due(self) -> dict[UUID, list[str]]:
        steps: dict[UUID, list[str]] = {}
        # As the database takes them: by the event's end, then (ends equal to the day) by
        # creation, each created at `now() + ends_day`, a moment later than the one before.
        for e in sorted(self.created(), key=lambda e: (e.ends_day, e.seq)):
            assert e.id is not None
            while True:
                if e.state == "collecting" and e.ends_passed(self.day):
                    self.end(e)
                elif e.state == "holding" and e.hold_passed(self.day) and e.open_disputes == 0:
                    e.state = "releasable"
                elif e.state == "releasable":
                    self.release(e)
                    # A release of nothing completes at once: two steps, one reported.
                else:
                    break
                steps.setdefault(e.id, []).append(e.state)
        return steps

    def transfer(self, e: MEscrow, transfer_id: str, amount: int) -> None:
        c = _codes(e.currency)
        self.post([(e.org, c["payable"], amount), (PLATFORM, c["stripe_balance"], -amount)])
        self.transfers[transfer_id] = MTransfer(transfer_id, (e.org, e.event_id), amount)
        e.outstanding.remove(amount)
        if e.state == "release_requested":
            e.state = "released"
        # What the organizer ran up while the transfer was on its way is asked back from it.
        self.recover(e.org, e.currency, f"transfer:{transfer_id}")

    def reverse(
        self, t: MTransfer, reversal_id: str, amount: int, request: MRequest | None = None
    ) -> None:
        e = self.escrows[t.key]
        c = _codes(e.currency)
        self.post([(PLATFORM, c["stripe_balance"], amount), (e.org, c["receivable"], -amount)])
        t.reversed += amount
        t.reversals.append((reversal_id, amount))
        if request is not None:
            request.reversal = reversal_id

    def payout(self, p: MPayout, paid: bool) -> bool:
        if (paid and p.paid) or (not paid and p.failed):
            return False
        c = _codes(p.currency)
        if paid:
            self.post([(PLATFORM, c["bank"], p.amount), (PLATFORM, c["stripe_balance"], -p.amount)])
        p.paid = p.paid or paid
        p.failed = p.failed or not paid
        if p.paid and p.failed:
            self.post([(PLATFORM, c["stripe_balance"], p.amount), (PLATFORM, c["bank"], -p.amount)])
        return True


# --------------------------------------------------------------------------------------
# Reading the database
# --------------------------------------------------------------------------------------


def _escrow_rows(conn: sa.Connection) -> dict[UUID, Any]:
    rows = conn.execute(sa.text("SELECT * FROM payments.escrows ORDER BY id")).all()
    return {r.id: r for r in rows}


def _balances(conn: sa.Connection) -> Counter[tuple[UUID, str]]:
    """Each account's balance from its lines, +debit / -credit, keyed by (owner, code)."""
    rows = conn.execute(
        sa.text("""SELECT a.org_id, a.code,
                          sum(CASE WHEN l.side = 'debit' THEN l.amount ELSE -l.amount END) AS net
                     FROM payments.lines l JOIN payments.accounts a ON a.id = l.account_id
                    GROUP BY a.org_id, a.code""")
    ).all()
    return Counter({(r.org_id, r.code): int(r.net) for r in rows if int(r.net) != 0})


class EscrowMachineTest(RuleBasedStateMachine):
    """Random escrow work on an emptied database, checked against Model after each step."""

    scratch: ClassVar[Scratch]

    def __init__(self) -> None:
        super().__init__()
        self.engine = self.scratch.empty()
        with self.engine.begin() as conn:
            ledger.open_organization(conn, PLATFORM, "Liventix", is_platform=True)
            ledger.open_organization(conn, ORG_A, "Jazz Club")
            ledger.open_organization(conn, ORG_B, "Theatre")
            tables = conn.execute(
                sa.text("""SELECT schemaname || '.' || tablename FROM pg_tables
                            WHERE schemaname IN ('payments', 'messaging') ORDER BY 1""")
            ).scalars()
            self.count_sql = sa.text(
                " UNION ALL ".join(f"SELECT '{t}', count(*) FROM {t}" for t in tables)
            )
        self.model = Model({(o, e): -1 for o, e, _ in EVENTS}, {})
        self.unchanged = False

    # Running use cases -----------------------------------------------------------------

    def _snapshot(self) -> tuple[object, ...]:
        with self.engine.connect() as conn:
            counts = tuple(conn.execute(self.count_sql).all())
            escrows = tuple(tuple(r) for r in _escrow_rows(conn).values())
            balances = tuple(
                tuple(r)
                for r in conn.execute(
                    sa.text("SELECT * FROM payments.account_balances ORDER BY account_id")
                ).all()
            )
        return counts, escrows, balances

    def run(self, fn: Callable[[sa.Connection], T]) -> T:
        """The use case in its own committed transaction."""
        with self.engine.begin() as conn:
            return fn(conn)

    def refused(self, error: type[Exception], fn: Callable[[sa.Connection], object]) -> None:
        """The use case is refused with `error` and leaves no trace."""
        before = self._snapshot()
        with pytest.raises(error), self.engine.begin() as conn:
            fn(conn)
        assert self._snapshot() == before, "a refused use case left a trace"
        # Nothing changed (escrows, balances and every table's row count are as they were,
        # and the tables are append-only or compared whole): the invariants still hold.
        self.unchanged = True

    def _escrow_ids(self) -> None:
        with self.engine.connect() as conn:
            for e in self.model.escrows.values():
                if e.id is None:
                    e.id = conn.execute(
                        sa.text("""SELECT id FROM payments.escrows
                                    WHERE org_id = :o AND event_id = :e AND currency = :c"""),
                        {"o": e.org, "e": e.event_id, "c": e.currency},
                    ).scalar_one_or_none()
                    if e.id is not None:
                        e.seq = 1 + max(x.seq for x in self.model.escrows.values())

    def _ends_at(self, e: MEscrow) -> datetime:
        # The database's now is the example's day `self.model.day` (see the module docstring).
        return datetime.now(UTC) + timedelta(days=e.ends_day - self.model.day)

    def _pick_escrow(self, data: st.DataObject) -> MEscrow:
        return data.draw(st.sampled_from(self.model.created()), label="escrow")

    # Rules -------------------------------------------------------------------------------

    @initialize(
        policy_a=policies,
        policy_b=policies,
        ends=st.tuples(*[st.sampled_from([-1, 1]) for _ in EVENTS]),
    )
    def setup(self, policy_a: MPolicy, policy_b: MPolicy, ends: tuple[int, ...]) -> None:
        self.model = Model(
            {(o, e): end for (o, e, _), end in zip(EVENTS, ends, strict=True)},
            {ORG_A: policy_a, ORG_B: policy_b},
        )
        with self.engine.begin() as conn:
            escrow.set_policy(conn, ORG_A, policy_a.stored())
            escrow.set_policy(conn, ORG_B, policy_b.stored())

    @rule(data=st.data())
    def capture(self, data: st.DataObject) -> None:
        self._capture(data)

    @rule(data=st.data())
    def capture_another(self, data: st.DataObject) -> None:
        self._capture(data)

    def _capture(self, data: st.DataObject) -> None:
        m = self.model
        if m.payments and data.draw(st.integers(0, 4), label="replay?") == 0:
            p = m.payments[data.draw(st.sampled_from(sorted(m.payments)), label="payment")]
            e = m.escrows[p.key]
            replay = escrow.CapturedPayment(
                p.id, e.org, e.event_id, e.currency, p.gross, p.stripe_fee, self._ends_at(e)
            )
            assert (
                self.run(lambda conn: escrow.capture_payment(conn, replay, cause="replay")) is False
            )
            return
        org, event_id, currency = data.draw(st.sampled_from(EVENTS), label="event")
        e = m.escrows[(org, event_id)]
        gross = data.draw(st.integers(100, 50_000), label="gross")
        stripe_fee = data.draw(
            st.sampled_from([gross * 29 // 1000 + 30, 0, gross * 15 // 1000]), label="stripe fee"
        )
        policy = m.policies[org]
        payment = MPayment(
            id=m.new_id("pi"),
            key=(org, event_id),
            gross=gross,
            stripe_fee=stripe_fee,
            platform_fee=min(gross, gross * policy.bps // 10_000 + policy.fixed),
            refund_fee=policy.refund_fee,
        )
        captured = escrow.CapturedPayment(
            payment_id=payment.id,
            org_id=org,
            event_id=event_id,
            currency=currency,
            gross=gross,
            stripe_fee=stripe_fee,
            event_ends_at=self._ends_at(e),
            charge_id=f"ch_{payment.id}",
            balance_transaction_id=f"txn_{payment.id}",
        )
        assert self.run(lambda conn: escrow.capture_payment(conn, captured, cause="capture"))
        m.capture(payment, policy.bears)
        self._escrow_ids()

    @rule(data=st.data())
    def refund(self, data: st.DataObject) -> None:
        self._refund(data)

    @rule(data=st.data())
    def refund_again(self, data: st.DataObject) -> None:
        self._refund(data)

    def _refund(self, data: st.DataObject) -> None:
        m = self.model
        kinds = []
        if m.payments:
            kinds += ["partial", "partial", "full", "failed at once", "beyond the payment"]
        if any(not r.failed for r in m.refunds.values()):
            kinds += ["fails later", "fails later"]
        if m.refunds:
            kinds.append("replay")
        kinds.append("unknown payment")
        kind = data.draw(st.sampled_from(kinds), label="refund")
        if kind == "unknown payment":
            self.refused(
                escrow.NotYetApplicable,
                lambda conn: escrow.refund_payment(
                    conn, "re_unknown", "pi_unknown", 100, failed=False, cause="refund"
                ),
            )
            return
        if kind in ("fails later", "replay"):
            candidates = sorted(
                r.id for r in m.refunds.values() if kind == "replay" or not r.failed
            )
            r = m.refunds[data.draw(st.sampled_from(candidates), label="refund id")]
            failed = kind == "fails later" or r.failed
            changed = self.run(
                lambda conn: escrow.refund_payment(
                    conn, r.id, r.payment, r.amount, failed=failed, cause="refund update"
                )
            )
            assert changed is (kind == "fails later")
            if kind == "fails later":
                m.refund_failed(r)
            return
        p = m.payments[data.draw(st.sampled_from(sorted(m.payments)), label="payment")]
        refundable = p.gross - p.refunded - p.disputed
        if kind == "beyond the payment":
            amount = p.gross - p.refunded + data.draw(st.integers(1, 500), label="excess")
            self.refused(
                escrow.RefundExceedsPayment,
                lambda conn: escrow.refund_payment(
                    conn, "re_excess", p.id, amount, failed=False, cause="refund"
                ),
            )
            return
        if refundable <= 0:
            return
        amount = (
            refundable if kind == "full" else data.draw(st.integers(1, refundable), label="amount")
        )
        self._new_refund(p, amount, failed_at_once=kind == "failed at once")

    def _new_refund(self, p: MPayment, amount: int, *, failed_at_once: bool = False) -> None:
        m = self.model
        refund_id = m.new_id("re")
        assert self.run(
            lambda conn: escrow.refund_payment(
                conn, refund_id, p.id, amount, failed=failed_at_once, cause="refund"
            )
        )
        r = m.refund(refund_id, p.id, amount, failed_at_once=failed_at_once)
        if failed_at_once:
            m.refund_failed(r)

    @rule(data=st.data())
    def dispute(self, data: st.DataObject) -> None:
        m = self.model
        open_to_dispute = sorted(
            p.id
            for p in m.payments.values()
            if p.dispute is None and p.gross - p.refunded - p.disputed > 0
        )
        kinds = []
        if open_to_dispute:
            kinds += ["new", "new"]
        if m.disputes:
            kinds += ["step", "step", "step"]
        kinds.append("unknown payment")
        kind = data.draw(st.sampled_from(kinds), label="dispute")
        if kind == "unknown payment":
            self.refused(
                escrow.NotYetApplicable,
                lambda conn: escrow.open_dispute(conn, "dp_unknown", "pi_unknown", 100, cause="x"),
            )
            return
        if kind == "new":
            p = m.payments[data.draw(st.sampled_from(open_to_dispute), label="payment")]
            won = data.draw(st.booleans(), label="won")
            d = MDispute(
                id=m.new_id("dp"),
                payment=p.id,
                amount=data.draw(st.integers(1, p.gross - p.refunded - p.disputed), label="amount"),
                won=won,
                fee_returned=data.draw(st.sampled_from([0, DISPUTE_FEE]), label="fee back")
                if won
                else 0,
            )
            p.dispute = d.id
            p.disputed += d.amount
            m.disputes[d.id] = d
        else:
            d = m.disputes[data.draw(st.sampled_from(sorted(m.disputes)), label="dispute id")]
        steps = ["opened", "funds withdrawn", "closed"] + (["funds reinstated"] if d.won else [])
        step = data.draw(st.sampled_from(steps), label="step")
        calls: dict[str, tuple[Callable[[sa.Connection], bool], Callable[[MDispute], bool]]] = {
            "opened": (
                lambda conn: escrow.open_dispute(conn, d.id, d.payment, d.amount, cause=step),
                m.open_dispute,
            ),
            "funds withdrawn": (
                lambda conn: escrow.dispute_funds_withdrawn(
                    conn, d.id, d.payment, d.amount, DISPUTE_FEE, cause=step
                ),
                m.withdraw,
            ),
            "funds reinstated": (
                lambda conn: escrow.dispute_funds_reinstated(
                    conn, d.id, d.payment, d.amount, d.fee_returned, cause=step
                ),
                m.reinstate,
            ),
            "closed": (
                lambda conn: escrow.close_dispute(
                    conn, d.id, d.payment, d.amount, d.won, cause=step
                ),
                m.close,
            ),
        }
        call, effect = calls[step]
        changed = self.run(call)
        assert changed is effect(d), step

    @rule(data=st.data())
    def time_passes(self, data: st.DataObject) -> None:
        self._lifecycle(data)

    @rule(data=st.data())
    def lifecycle(self, data: st.DataObject) -> None:
        self._lifecycle(data)

    def _lifecycle(self, data: st.DataObject) -> None:
        """Releases due, a clock advance, an event's end, its hold elapsing, a release asked
        for, a cancellation (with or without refunding everything first)."""
        kinds = ["release due", "release due"]
        if self.model.day < 3 * CLOCK_STEP_DAYS:
            kinds.append("clock advances")
        if self.model.created():
            kinds += ["event ends", "hold elapses", "release requested", "event cancelled"]
            kinds += ["everything refunded, event cancelled"]
        kind = data.draw(st.sampled_from(kinds), label="lifecycle")
        if kind == "release due":
            self.release_due()
        elif kind == "clock advances":
            self.advance_clock()
        elif kind == "event ends":
            self.end_event(data)
        elif kind == "hold elapses":
            self.hold_elapses(data)
        elif kind == "release requested":
            self.request_release(data)
        else:
            self.cancel_event(data, refund_all=kind != "event cancelled")

    def hold_elapses(self, data: st.DataObject) -> None:
        """The machine's `hold_elapsed` as release_due fires it, whatever the clock says:
        releasable then stays a resting state, and money moves while the escrow is in it."""
        e = self._pick_escrow(data)
        assert e.id is not None
        escrow_id = e.id

        def elapse(conn: sa.Connection) -> escrow.Escrow:
            locked = escrow.lock_escrow(conn, escrow_id)
            return transition(conn, locked, "hold_elapsed", cause="hold period over")

        if e.state != "holding" or e.open_disputes:
            self.refused(escrow.InvalidTransition, elapse)
            return
        assert self.run(elapse).state == "releasable"
        e.state = "releasable"

    def end_event(self, data: st.DataObject) -> None:
        e = self._pick_escrow(data)
        assert e.id is not None
        escrow_id = e.id
        if e.state != "collecting":
            self.refused(escrow.InvalidTransition, lambda conn: escrow.end_event(conn, escrow_id))
            return
        assert self.run(lambda conn: escrow.end_event(conn, escrow_id)).state == "holding"
        self.model.end(e)

    def advance_clock(self) -> None:
        shift = f"interval '{CLOCK_STEP_DAYS} days'"
        self.run(
            lambda conn: conn.execute(
                sa.text(f"""UPDATE payments.escrows
                               SET event_ends_at = event_ends_at - {shift},
                                   ended_at = ended_at - {shift},
                                   hold_until = hold_until - {shift}""")
            )
        )
        self.model.day += CLOCK_STEP_DAYS

    def release_due(self) -> None:
        done = self.run(escrow.release_due)
        steps: dict[UUID, list[str]] = {}
        for escrow_id, state in done:
            steps.setdefault(escrow_id, []).append(state)
        assert steps == self.model.release_due()

    def request_release(self, data: st.DataObject) -> None:
        e = self._pick_escrow(data)
        assert e.id is not None
        escrow_id = e.id
        if e.state != "releasable":
            self.refused(
                escrow.InvalidTransition, lambda conn: escrow.request_release(conn, escrow_id)
            )
            return
        self.run(lambda conn: escrow.request_release(conn, escrow_id))
        self.model.release(e)

    @rule(data=st.data())
    def transfer(self, data: st.DataObject) -> None:
        m = self.model
        due = [e for e in m.created() if e.outstanding]
        reversible = sorted(t.id for t in m.transfers.values() if t.reversed < t.amount)
        asked = sorted(r.id for r in m.requests.values() if r.reversal is None)
        kinds = []
        if due:
            kinds += ["created", "created", "created"]
        if m.transfers:
            kinds.append("replay")
        if reversible:
            kinds.append("reversed")
        if asked:
            kinds += ["asked reversal made", "asked reversal made"]
        if any(t.reversals for t in m.transfers.values()):
            kinds.append("reversal replay")
        kinds.append("reversal of an unknown transfer")
        kind = data.draw(st.sampled_from(kinds), label="transfer")
        if kind == "reversal of an unknown transfer":
            self.refused(
                escrow.NotYetApplicable,
                lambda conn: escrow.transfer_reversed(conn, "trr_x", "tr_unknown", 1, cause="x"),
            )
        elif kind == "created":
            self._transfer_made(data)
        elif kind == "replay":
            t = m.transfers[data.draw(st.sampled_from(sorted(m.transfers)), label="transfer id")]
            paid_from = m.escrows[t.key].id
            assert paid_from is not None
            assert not self.run(
                lambda conn: escrow.transfer_created(conn, t.id, paid_from, t.amount, cause="x")
            )
        elif kind == "reversed":
            t = m.transfers[data.draw(st.sampled_from(reversible), label="transfer id")]
            amount = data.draw(st.integers(1, t.amount - t.reversed), label="amount")
            reversal_id = m.new_id("trr")
            assert self.run(
                lambda conn: escrow.transfer_reversed(conn, reversal_id, t.id, amount, cause="x")
            )
            m.reverse(t, reversal_id, amount)
        elif kind == "asked reversal made":
            self._asked_reversal_made(data)
        else:
            t = data.draw(
                st.sampled_from([t for t in m.transfers.values() if t.reversals]), label="transfer"
            )
            reversal_id, amount = data.draw(st.sampled_from(t.reversals), label="reversal")
            answered = [r.id for r in m.requests.values() if r.reversal == reversal_id]
            request_id = answered[0] if answered else None
            assert not self.run(
                lambda conn: escrow.transfer_reversed(
                    conn, reversal_id, t.id, amount, cause="x", request_id=request_id
                )
            )

    # Releases, transfers and the debts after them need several steps in a row: these
    # rules, enabled only when they have something to do, make that history common.

    @precondition(lambda self: self.model.anything_due())
    @rule()
    def releases_due(self) -> None:
        """`release_due` when an escrow is due to move."""
        self.release_due()

    @precondition(lambda self: self.model.waiting_for_time())
    @rule()
    def days_pass(self) -> None:
        """The clock advances while an escrow waits for its event's end or its hold."""
        self.advance_clock()

    @precondition(lambda self: any(e.outstanding for e in self.model.escrows.values()))
    @rule(data=st.data())
    def transfer_due(self, data: st.DataObject) -> None:
        """Stripe makes one of the transfers asked of it."""
        self._transfer_made(data)

    @precondition(lambda self: any(r.reversal is None for r in self.model.requests.values()))
    @rule(data=st.data())
    def reversal_asked(self, data: st.DataObject) -> None:
        """Stripe makes one of the transfer reversals escrow asked for."""
        self._asked_reversal_made(data)

    def _transfer_made(self, data: st.DataObject) -> None:
        m = self.model
        e = data.draw(st.sampled_from([e for e in m.created() if e.outstanding]), label="escrow")
        assert e.id is not None
        escrow_id, transfer_id = e.id, m.new_id("tr")
        amount = data.draw(st.sampled_from(e.outstanding), label="amount")
        assert self.run(
            lambda conn: escrow.transfer_created(
                conn, transfer_id, escrow_id, amount, cause="transfer.created"
            )
        )
        m.transfer(e, transfer_id, amount)

    def _asked_reversal_made(self, data: st.DataObject) -> None:
        """The reversal task: Stripe reversed what escrow asked for, booked against the
        request. A reversal made meanwhile in Stripe's Dashboard may have left too little of
        the transfer: then it is refused, leaves no trace, and the request stays open."""
        m = self.model
        asked = sorted(r.id for r in m.requests.values() if r.reversal is None)
        request = m.requests[data.draw(st.sampled_from(asked), label="request")]
        t = m.transfers[request.transfer]
        reversal_id = m.new_id("trr")

        def book(conn: sa.Connection) -> bool:
            return escrow.transfer_reversed(
                conn, reversal_id, t.id, request.amount, cause="task", request_id=request.id
            )

        if t.reversed + request.amount > t.amount:
            self.refused(escrow.ReversalExceedsTransfer, book)
            return
        assert self.run(book)
        m.reverse(t, reversal_id, request.amount, request)

    @rule(data=st.data())
    def platform(self, data: st.DataObject) -> None:
        """A policy change or one of the platform's payouts (paid, failed, replayed)."""
        m = self.model
        if data.draw(st.booleans(), label="policy change?"):
            org = data.draw(st.sampled_from(ORGS), label="organizer")
            policy = data.draw(policies, label="policy")
            self.run(lambda conn: escrow.set_policy(conn, org, policy.stored()))
            m.policies[org] = policy
            return
        existing = bool(m.payouts) and data.draw(st.booleans(), label="existing payout?")
        if existing:
            p = m.payouts[data.draw(st.sampled_from(sorted(m.payouts)), label="payout")]
        else:
            p = MPayout(
                m.new_id("po"),
                data.draw(st.sampled_from(["USD", "EUR"]), label="currency"),
                data.draw(st.integers(1, 20_000), label="amount"),
            )
            m.payouts[p.id] = p
        paid = data.draw(st.booleans(), label="paid")
        changed = self.run(
            lambda conn: escrow.payout(conn, p.id, p.currency, p.amount, paid=paid, cause="x")
        )
        assert changed is m.payout(p, paid)

    def cancel_event(self, data: st.DataObject, *, refund_all: bool) -> None:
        e = self._pick_escrow(data)
        assert e.id is not None
        escrow_id = e.id
        if refund_all:
            for p in list(self.model.payments.values()):
                refundable = p.gross - p.refunded - p.disputed
                if p.key == (e.org, e.event_id) and refundable > 0:
                    self._new_refund(p, refundable)
        if e.state not in ("collecting", "holding", "releasable") or e.held > 0:
            self.refused(
                escrow.InvalidTransition, lambda conn: escrow.cancel_event(conn, escrow_id)
            )
            return
        assert self.run(lambda conn: escrow.cancel_event(conn, escrow_id)).state == "cancelled"
        self.model.cancel(e)

    # Invariants ----------------------------------------------------------------------------

    @invariant()
    def database_agrees(self) -> None:
        if self.unchanged:
            self.unchanged = False
            return
        with self.engine.connect() as conn:
            rows = _escrow_rows(conn)
            # The model, escrow by escrow.
            expected = {e.id: e for e in self.model.created()}
            assert set(rows) == set(expected)
            for escrow_id, row in rows.items():
                e = expected[escrow_id]
                got = (
                    row.state,
                    row.held,
                    row.captured,
                    row.refunded,
                    row.charged_back,
                    row.released,
                    row.open_disputes,
                    row.ended_at is not None,
                )
                want = (
                    e.state,
                    e.held,
                    e.captured,
                    e.refunded,
                    e.charged_back,
                    e.released,
                    e.open_disputes,
                    e.ended_day is not None,
                )
                assert got == want, f"escrow {e.event_id}: {got} != {want}"
            # Every transfer asked of Stripe (an outbox task), escrow by escrow.
            requested = Counter(
                (uuid.UUID(r.payload["escrow_id"]), r.payload["amount"])
                for r in conn.execute(
                    sa.text("""SELECT payload FROM messaging.messages
                                WHERE type = 'stripe.transfer.requested'""")
                )
            )
            assert requested == Counter(
                (e.id, amount) for e in expected.values() for amount in e.requested
            ), "the transfers asked of Stripe are not what was released, less what was netted"
            # Every transfer reversal asked of Stripe: its request and its outbox task.
            stored_requests = {
                r.id: (r.org_id, r.currency, r.transfer_id, r.amount, r.reversal_id)
                for r in conn.execute(
                    sa.text("""SELECT id, org_id, currency, transfer_id, amount, reversal_id
                                 FROM payments.transfer_reversal_requests""")
                )
            }
            assert stored_requests == {
                r.id: (r.org, r.currency, r.transfer, r.amount, r.reversal)
                for r in self.model.requests.values()
            }, "the transfer reversals asked of Stripe are not what the organizers owe"
            tasks = Counter(
                (r.payload["request_id"], r.payload["transfer_id"], r.payload["amount"])
                for r in conn.execute(
                    sa.text("""SELECT payload FROM messaging.messages
                                WHERE type = 'stripe.transfer_reversal.requested'""")
                )
            )
            assert tasks == Counter(
                (r.id, r.transfer, r.amount) for r in self.model.requests.values()
            ), "each reversal request is not one task"
            for org, _, currency in EVENTS:
                assert escrow.owed_after_reversals(conn, org, currency) == self.model.owed(
                    org, currency
                ), (org, currency)
            # The ledger: every account's balance is what the recipes imply.
            want_balances = Counter({k: v for k, v in self.model.balances.items() if v != 0})
            assert _balances(conn) == want_balances
            self._model_free_checks(conn, rows)

    def _model_free_checks(self, conn: sa.Connection, rows: dict[UUID, Any]) -> None:
        trails: dict[UUID, list[Any]] = {escrow_id: [] for escrow_id in rows}
        for t in conn.execute(
            sa.text("""SELECT escrow_id, from_state, to_state, event
                         FROM payments.escrow_transitions ORDER BY escrow_id, id""")
        ):
            trails[t.escrow_id].append(t)
        for escrow_id, row in rows.items():
            stored = escrow.Escrow(**{f.name: getattr(row, f.name) for f in fields(escrow.Escrow)})
            assert row.held == escrow.ledger_escrow_balance(conn, stored), row.event_id
            assert row.released + row.refunded + row.charged_back <= row.captured, row.event_id
            # What a closed escrow holds is stranded: released ones hold nothing, and a
            # cancelled one at most money still to be refunded, never a debt of the organizer.
            if row.state in RELEASED:
                assert row.held == 0, f"{row.event_id} is {row.state} but holds {row.held}"
            if row.state == "cancelled":
                assert row.held >= 0, f"{row.event_id} is cancelled and holds {row.held}"
            # The audit trail: a chain of the machine's transitions (or counter adjustments,
            # which keep the state) from the initial state to the current one.
            state = "collecting"
            for t in trails[escrow_id]:
                assert t.from_state == state, trails[escrow_id]
                step = (t.from_state, t.to_state, t.event)
                if t.to_state != t.from_state or t.event in MACHINE_EVENTS:
                    assert step in MACHINE_TRANSITIONS, step
                state = t.to_state
            assert state == row.state, row.event_id
        left_final, changes, published = conn.execute(
            sa.text("""SELECT (SELECT count(*) FROM payments.escrow_transitions
                                WHERE from_state = ANY(:final) AND to_state <> from_state),
                              (SELECT count(*) FROM payments.escrow_transitions
                                WHERE to_state <> from_state),
                              (SELECT count(*) FROM messaging.messages
                                WHERE type = 'escrow.state_changed')"""),
            {"final": sorted(escrow.FINAL_STATES)},
        ).one()
        assert left_final == 0, "a transition left a final state"
        assert published == changes, "a state change published no message"
        trial = ledger.trial_balance(conn)
        for currency, (debit, credit) in trial.totals.items():
            assert debit == credit, currency
        per_org: Counter[tuple[UUID, str]] = Counter()
        for r in trial.rows:
            per_org[(r.org_id, r.currency)] += r.debit - r.credit
        assert not +per_org and not -per_org, per_org
        drift = conn.execute(
            sa.text("""SELECT count(*) FROM payments.account_balances b
                         LEFT JOIN (SELECT account_id,
                                           sum(amount) FILTER (WHERE side = 'debit') AS d,
                                           sum(amount) FILTER (WHERE side = 'credit') AS c
                                      FROM payments.lines GROUP BY account_id) l
                           ON l.account_id = b.account_id
                        WHERE b.posted_debits <> coalesce(l.d, 0)
                           OR b.posted_credits <> coalesce(l.c, 0)""")
        ).scalar_one()
        assert drift == 0, "an account's balance is not the sum of its lines"


def test_escrow_invariants_hold_under_random_work(scratch: Scratch) -> None:
    class Machine(EscrowMachineTest):
        pass

    Machine.scratch = scratch

    run_state_machine_as_test(Machine, settings=SETTINGS)


# --------------------------------------------------------------------------------------
# What the machine found, one example each
# --------------------------------------------------------------------------------------


@contextmanager
def _organizer(engine: sa.Engine, policy: escrow.Policy) -> Iterator[sa.Connection]:
    with engine.begin() as conn:
        ledger.open_organization(conn, PLATFORM, "Liventix", is_platform=True)
        ledger.open_organization(conn, ORG_A, "Jazz Club")
        escrow.set_policy(conn, ORG_A, policy)
        yield conn


def _capture(
    conn: sa.Connection,
    payment_id: str,
    gross: int,
    fee: int,
    ends: datetime,
    *,
    event: str = "ev1",
) -> UUID:
    assert escrow.capture_payment(
        conn,
        escrow.CapturedPayment(
            payment_id,
            ORG_A,
            event,
            "USD",
            gross,
            fee,
            ends,
            f"ch_{payment_id}",
            f"txn_{payment_id}",
        ),
        cause="test",
    )
    return escrow.open_escrow(conn, ORG_A, event, "USD", ends)


def _balance(conn: sa.Connection, code: str) -> int:
    account = ledger.find_account(conn, ORG_A, code)
    return 0 if account is None else ledger.balance(conn, account).posted


def _transfers_requested(conn: sa.Connection) -> list[int]:
    return sorted(
        conn.execute(
            sa.text("""SELECT CAST(payload ->> 'amount' AS bigint) FROM messaging.messages
                        WHERE type = 'stripe.transfer.requested'""")
        ).scalars()
    )


def test_a_refund_failing_after_the_release_is_paid_out_to_the_organizer(
    engine: sa.Engine,
) -> None:
    past = datetime.now(UTC) - timedelta(minutes=1)
    with _organizer(engine, escrow.Policy(hold_period=timedelta(0))) as conn:
        escrow_id = _capture(conn, "pi_1", 10_000, 320, past)  # 9_500 held
        assert escrow.refund_payment(conn, "re_1", "pi_1", 2_000, failed=False, cause="updated")
        assert [s for _, s in escrow.release_due(conn)][-1] == "release_requested"
        assert escrow.transfer_created(conn, "tr_1", escrow_id, 7_600, cause="transfer.created")
        # Days later Stripe reports the refund failed: the 1_900 the organizer was charged
        # for it are theirs again. A payment after release gets a transfer of its own; so
        # must this, or it stays on the payable with nothing to pay it out.
        assert escrow.refund_payment(conn, "re_1", "pi_1", 2_000, failed=True, cause="failed")
        e = escrow.get_escrow(conn, escrow_id)
        assert (e.state, e.held, e.released) == ("released", 0, 9_500)
        assert _balance(conn, "payable:usd") == 1_900
        assert _transfers_requested(conn) == [1_900, 7_600]


def test_a_cancelled_escrow_never_keeps_a_debt_of_the_organizer(engine: sa.Engine) -> None:
    future = datetime.now(UTC) + timedelta(days=1)
    with _organizer(engine, escrow.Policy(bears_stripe_fees=True)) as conn:
        escrow_id = _capture(conn, "pi_1", 10_000, 320, future)  # 9_180 held
        assert escrow.refund_payment(conn, "re_1", "pi_1", 10_000, failed=False, cause="r")
        e = escrow.cancel_event(conn, escrow_id)  # the 320 Stripe kept: a receivable
        assert (e.state, e.held, _balance(conn, "receivable:usd")) == ("cancelled", 0, 320)
        # A payment that succeeds after the cancellation, refunded in full: the organizer
        # owes Stripe's fee again, and the closed escrow must not keep that debt.
        _capture(conn, "pi_2", 10_000, 320, future)
        assert escrow.refund_payment(conn, "re_2", "pi_2", 10_000, failed=False, cause="r")
        e = escrow.get_escrow(conn, escrow_id)
        assert e.held == escrow.ledger_escrow_balance(conn, e)
        assert e.held >= 0, f"the cancelled escrow holds {e.held}"
        assert _balance(conn, "receivable:usd") == 640


@pytest.mark.parametrize(
    ("policy", "refunds"),
    [
        pytest.param(escrow.Policy(), [5_001, 4_999], id="refunded-in-two-parts"),
        pytest.param(escrow.Policy(bears_stripe_fees=True), [10_000], id="organizer-bears-fees"),
        pytest.param(
            escrow.Policy(refund_platform_fee=False), [10_000], id="platform-keeps-its-fee"
        ),
    ],
)
def test_an_event_whose_payments_were_all_refunded_can_be_cancelled(
    engine: sa.Engine, policy: escrow.Policy, refunds: list[int]
) -> None:
    future = datetime.now(UTC) + timedelta(days=1)
    with _organizer(engine, policy) as conn:
        escrow_id = _capture(conn, "pi_1", 10_000, 320, future)
        for n, amount in enumerate(refunds):
            assert escrow.refund_payment(conn, f"re_{n}", "pi_1", amount, failed=False, cause="r")
        assert escrow.get_escrow(conn, escrow_id).refunded == 10_000
    with engine.begin() as conn:
        e = escrow.cancel_event(conn, escrow_id)
        assert e.state == "cancelled"
        assert e.held == escrow.ledger_escrow_balance(conn, e) == 0


def test_a_reversal_beyond_its_transfer_is_refused_with_a_typed_error(engine: sa.Engine) -> None:
    past = datetime.now(UTC) - timedelta(minutes=1)
    with _organizer(engine, escrow.Policy(hold_period=timedelta(0))) as conn:
        escrow_id = _capture(conn, "pi_1", 10_000, 320, past)
        escrow.release_due(conn)
        assert escrow.transfer_created(conn, "tr_1", escrow_id, 9_500, cause="transfer.created")
        assert escrow.transfer_reversed(conn, "trr_1", "tr_1", 9_000, cause="reversed")
    with pytest.raises(escrow.EscrowError), engine.begin() as conn:
        escrow.transfer_reversed(conn, "trr_2", "tr_1", 1_000, cause="reversed")


# --------------------------------------------------------------------------------------
# What an organizer owes after release, one example each (the machine's rarer histories)
# --------------------------------------------------------------------------------------


def _reversals_requested(conn: sa.Connection) -> dict[str, tuple[str, int, str | None]]:
    """Each reversal request: (transfer, amount, the reversal that answered it)."""
    rows = conn.execute(
        sa.text("""SELECT id, transfer_id, amount, reversal_id
                     FROM payments.transfer_reversal_requests""")
    )
    return {r.id: (r.transfer_id, r.amount, r.reversal_id) for r in rows}


def test_what_an_organizer_owes_is_asked_of_its_transfers_then_netted(engine: sa.Engine) -> None:
    past = datetime.now(UTC) - timedelta(minutes=1)
    with _organizer(engine, escrow.Policy(hold_period=timedelta(0))) as conn:
        ev1 = _capture(conn, "pi_1", 10_000, 320, past)  # 9_500 held
        escrow.release_due(conn)
        assert escrow.transfer_created(conn, "tr_1", ev1, 9_500, cause="transfer.created")
        _capture(conn, "pi_2", 10_000, 320, past)  # after release: a transfer of its own
        # Refunded after release: 9_500 owed, asked back from the escrow's transfer.
        assert escrow.refund_payment(conn, "re_1", "pi_1", 10_000, failed=False, cause="r")
        assert _reversals_requested(conn) == {"refund:re_1:tr_1": ("tr_1", 9_500, None)}
        # Lost after release: 10_000 more owed, and nothing left of tr_1 to ask.
        assert escrow.close_dispute(conn, "dp_1", "pi_2", 10_000, False, cause="lost")
        assert len(_reversals_requested(conn)) == 1
        assert escrow.owed_after_reversals(conn, ORG_A, "USD") == 10_000
        # The next release (3_800) is netted whole: no transfer, released at once.
        ev2 = _capture(conn, "pi_3", 4_000, 146, past, event="ev2")
        escrow.release_due(conn)
        e = escrow.get_escrow(conn, ev2)
        assert (e.state, e.held, e.released) == ("released", 0, 3_800)
        assert escrow.owed_after_reversals(conn, ORG_A, "USD") == 6_200
        assert _transfers_requested(conn) == [9_500, 9_500]
        assert _balance(conn, "payable:usd") == 9_500  # pi_2's share, not transferred yet
        # pi_2's transfer names its charge; once made, the rest is asked back from it.
        (source,) = conn.execute(
            sa.text("""SELECT payload ->> 'source_transaction' FROM messaging.messages
                        WHERE type = 'stripe.transfer.requested'
                          AND payload ->> 'source_transaction' IS NOT NULL""")
        ).scalars()
        assert source == "ch_pi_2"
        assert escrow.transfer_created(conn, "tr_2", ev1, 9_500, cause="transfer.created")
        assert _reversals_requested(conn) == {
            "refund:re_1:tr_1": ("tr_1", 9_500, None),
            "transfer:tr_2:tr_2": ("tr_2", 6_200, None),
        }
        assert escrow.owed_after_reversals(conn, ORG_A, "USD") == 0
        # The reversal task books Stripe's answer against its request, once.
        for _ in range(2):
            escrow.transfer_reversed(
                conn, "trr_1", "tr_1", 9_500, cause="task", request_id="refund:re_1:tr_1"
            )
        assert _reversals_requested(conn)["refund:re_1:tr_1"] == ("tr_1", 9_500, "trr_1")
        assert _balance(conn, "receivable:usd") == 6_200
        assert escrow.owed_after_reversals(conn, ORG_A, "USD") == 0
        tasks = conn.execute(
            sa.text("""SELECT count(*) FROM messaging.messages
                        WHERE type = 'stripe.transfer_reversal.requested'""")
        ).scalar_one()
        assert tasks == 2


def test_a_refund_after_release_is_asked_of_its_own_escrows_transfer_first(
    engine: sa.Engine,
) -> None:
    past = datetime.now(UTC) - timedelta(minutes=1)
    with _organizer(engine, escrow.Policy(hold_period=timedelta(0))) as conn:
        ev1 = _capture(conn, "pi_1", 10_000, 320, past)
        ev2 = _capture(conn, "pi_2", 10_000, 320, past, event="ev2")
        escrow.release_due(conn)
    for transfer_id, escrow_id in (("tr_1", ev1), ("tr_2", ev2)):  # tr_2 is the newest
        with engine.begin() as conn:
            assert escrow.transfer_created(conn, transfer_id, escrow_id, 9_500, cause="t")
    with engine.begin() as conn:
        # 3_800 owed for ev1: asked of its own transfer, though tr_2 is newer.
        assert escrow.refund_payment(conn, "re_1", "pi_1", 4_000, failed=False, cause="r")
        assert _reversals_requested(conn) == {"refund:re_1:tr_1": ("tr_1", 3_800, None)}
    with engine.begin() as conn:
        # 6_000 more: what is left of its own transfer (5_700), then the newest (300).
        assert escrow.close_dispute(conn, "dp_1", "pi_1", 6_000, False, cause="lost")
        assert _reversals_requested(conn) == {
            "refund:re_1:tr_1": ("tr_1", 3_800, None),
            "dispute:dp_1:tr_1": ("tr_1", 5_700, None),
            "dispute:dp_1:tr_2": ("tr_2", 300, None),
        }
        assert escrow.owed_after_reversals(conn, ORG_A, "USD") == 0
