"""The ledger's invariants under random work: a hypothesis state machine on a real database.

Each example runs on a database emptied back to the migrated template (`scratch`). The rules
open accounts; post valid and deliberately broken entries, alone and in all-or-nothing batches;
create, post (in full or in part), void and expire holds; reverse entries; replay requests and
reuse their keys for other payloads; roll up high-volume accounts; close accounts. Every rule
is one committed transaction, as a unit of work at the edge would run it.

A plain Python model predicts each outcome: the results (ids, replayed flags) or the class
of the refusal. After every step the database is checked against the model and against the
model-free rules of double entry: each currency sums to zero, balances equal their lines,
pending amounts equal the open holds, flagged accounts are never overdrawn, refused work left
no row, lines carry their account's running position, the trial balance balances.

`LIVENTIX_HYPOTHESIS_EXAMPLES` and `LIVENTIX_HYPOTHESIS_STEPS` (30 and 30 by default) make
the run longer. What the machine found is kept below it as plain tests.
"""

from __future__ import annotations

import copy
import dataclasses
import os
import uuid
from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import ClassVar, Literal, TypeVar
from uuid import UUID

import pytest
import sqlalchemy as sa
from hypothesis import HealthCheck, event, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    initialize,
    invariant,
    precondition,
    rule,
    run_state_machine_as_test,
)

import ledger
from liventix.testing.scratch import Scratch
from tests.ledger_core.conftest import ORG_A, ORG_B, PLATFORM, OpenAccountFn, transfer

MAX = ledger.MAX_AMOUNT
ORGS = (PLATFORM, ORG_A, ORG_B)
CURRENCIES = ("USD", "EUR", "JPY")
AccountType = Literal["asset", "liability", "equity", "revenue", "expense"]
Side = Literal["debit", "credit"]
TYPES: tuple[AccountType, ...] = ("asset", "liability", "equity", "revenue", "expense")
FLIP = {"debit": "credit", "credit": "debit"}

Request = (
    ledger.PostEntry
    | ledger.ReverseEntry
    | ledger.CreateHold
    | ledger.PostHold
    | ledger.VoidHold
    | ledger.OpenAccount
    | ledger.CloseAccount
)
LineTuple = tuple[UUID, str, int, str]  # account, side, amount, currency
ErrorClass = type[ledger.LedgerError]
T = TypeVar("T")

SETTINGS = settings(
    max_examples=int(os.environ.get("LIVENTIX_HYPOTHESIS_EXAMPLES", "30")),
    stateful_step_count=int(os.environ.get("LIVENTIX_HYPOTHESIS_STEPS", "30")),
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)

amounts = st.integers(min_value=1, max_value=2_000)


# --------------------------------------------------------------------------------------
# The model
# --------------------------------------------------------------------------------------


class Refusal(Exception):
    """The model's prediction that the ledger refuses: the error classes it may raise."""

    def __init__(self, *classes: ErrorClass, why: str = "") -> None:
        names = " or ".join(sorted(c.__name__ for c in classes))
        super().__init__(f"{names} ({why})" if why else names)
        self.classes = frozenset(classes)


@dataclass
class MLine:
    """A line as its account sees it, with the position it should carry."""

    entry_id: UUID
    side: str
    amount: int
    version: int | None = None
    posted_debits: int | None = None
    posted_credits: int | None = None


@dataclass
class MAccount:
    """An account: its rules and what the database should say about it."""

    id: UUID
    org: UUID
    code: str
    currency: str
    dmnec: bool
    cmned: bool
    high_volume: bool
    closed: bool = False
    posted_debits: int = 0
    posted_credits: int = 0
    pending_debits: int = 0
    pending_credits: int = 0
    # A regular account's version counts every change (lines and pending amounts); a
    # high-volume account's counts its rolled-up lines.
    version: int = 0
    lines: list[MLine] = field(default_factory=list)

    def book(self, entry_id: UUID, side: str, amount: int) -> None:
        """Post one line; a regular account gets its position at once."""
        if side == "debit":
            self.posted_debits += amount
        else:
            self.posted_credits += amount
        line = MLine(entry_id, side, amount)
        if not self.high_volume:
            self.version += 1
            line.version = self.version
            line.posted_debits, line.posted_credits = self.posted_debits, self.posted_credits
        self.lines.append(line)

    def overdrawn(self, posted_debits: int, posted_credits: int) -> bool:
        """Whether these posted totals (with the pending ones) break the overdraft flag."""
        if self.dmnec:
            return posted_debits + self.pending_debits > posted_credits
        if self.cmned:
            return posted_credits + self.pending_credits > posted_debits
        return False


@dataclass
class MEntry:
    """A posted entry."""

    id: UUID
    org: UUID
    kind: str
    lines: list[LineTuple]
    reverses: UUID | None = None
    hold_id: UUID | None = None
    reversed_by: UUID | None = None


@dataclass
class MHold:
    """A hold and how it was resolved."""

    id: UUID
    org: UUID
    debit: UUID
    credit: UUID
    amount: int
    currency: str
    expires_at: datetime | None
    status: str = "open"
    posted_amount: int = 0
    entry_id: UUID | None = None


@dataclass(frozen=True)
class MKey:
    """What an idempotency key was stored with: the request and its outcome."""

    operation: str
    request: Request
    result_id: UUID | None
    failure: ErrorClass | None = None


@dataclass(frozen=True)
class Spec:
    """An entry about to be posted."""

    kind: str
    lines: list[LineTuple]
    reverses: UUID | None = None
    hold_id: UUID | None = None


RESOLVED: dict[str, ErrorClass] = {
    "posted": ledger.HoldAlreadyPosted,
    "voided": ledger.HoldAlreadyVoided,
    "expired": ledger.HoldAlreadyExpired,
}


def _check_amount(value: int) -> None:
    if not 0 < value <= MAX:
        raise Refusal(ledger.InvalidAmount)


def _validate(request: Request) -> None:
    """The refusals a request earns before it reaches the database."""
    if isinstance(request, ledger.PostEntry):
        for line in request.lines:
            _check_amount(line.amount)
        if len(request.lines) < 2:
            raise Refusal(ledger.TooFewLines)
        sums: dict[str, int] = defaultdict(int)
        for line in request.lines:
            sums[line.currency] += line.amount if line.side == "debit" else -line.amount
        if any(sums.values()):
            raise Refusal(ledger.UnbalancedEntry)
        net: dict[tuple[UUID, str], int] = defaultdict(int)
        for line in request.lines:
            net[(line.account_id, line.currency)] += (
                line.amount if line.side == "debit" else -line.amount
            )
        if not any(net.values()):
            raise Refusal(ledger.AccountsMustBeDifferent)
    elif isinstance(request, ledger.CreateHold):
        if request.debit_account_id == request.credit_account_id:
            raise Refusal(ledger.InvalidRequest)
        _check_amount(request.amount)
    elif isinstance(request, ledger.PostHold):
        if request.amount is not None:
            _check_amount(request.amount)
    elif isinstance(request, ledger.OpenAccount):
        flags = request.debits_must_not_exceed_credits + request.credits_must_not_exceed_debits
        if flags > 1 or (request.high_volume and flags):
            raise Refusal(ledger.InvalidAccount)


class LedgerModel:
    """The ledger as it should be: accounts, entries, holds and idempotency keys."""

    def __init__(self) -> None:
        self.accounts: dict[UUID, MAccount] = {}
        self.entries: dict[UUID, MEntry] = {}
        self.holds: dict[UUID, MHold] = {}
        self.keys: dict[tuple[UUID, str], MKey] = {}

    def counts(self) -> dict[str, int]:
        """The rows each table should hold."""
        return {
            "entries": len(self.entries),
            "lines": sum(len(e.lines) for e in self.entries.values()),
            "holds": len(self.holds),
            "hold_resolutions": sum(h.status != "open" for h in self.holds.values()),
            "idempotency_keys": len(self.keys),
        }

    # The write door -------------------------------------------------------------------

    def write(
        self,
        org: UUID,
        requests: Sequence[Request],
        *,
        now: datetime,
        new_id: Callable[[], UUID],
    ) -> list[tuple[UUID, bool]]:
        """Apply the requests as one ledger write; return (id, replayed) per request.

        Raises Refusal, leaving this model half-changed: callers try it on a copy first.
        Recording a refusal under its key is the caller's business (it needs the commit).
        """
        for request in requests:
            _validate(request)
        keys = [r.idempotency_key for r in requests]
        if len(set(keys)) != len(keys):
            raise Refusal(ledger.InvalidRequest)
        operation = requests[0].operation
        stored = {k: self.keys[(org, k)] for k in keys if (org, k) in self.keys}
        for request in requests:
            seen = stored.get(request.idempotency_key)
            if seen is not None and (seen.operation != operation or seen.request != request):
                raise Refusal(ledger.IdempotencyConflict)
        todo = [r for r in requests if r.idempotency_key not in stored]
        ids = self._execute(org, todo, now=now, new_id=new_id) if todo else []
        for request, result_id in zip(todo, ids, strict=True):
            self.keys[(org, request.idempotency_key)] = MKey(operation, request, result_id)
        failures = [stored[k].failure for k in keys if k in stored]
        for failure in failures:
            if failure is not None:
                raise Refusal(failure)
        fresh = iter(ids)
        results: list[tuple[UUID, bool]] = []
        for k in keys:
            if k in stored:
                replayed = stored[k].result_id
                assert replayed is not None
                results.append((replayed, True))
            else:
                results.append((next(fresh), False))
        return results

    def _execute(
        self, org: UUID, requests: list[Request], *, now: datetime, new_id: Callable[[], UUID]
    ) -> list[UUID]:
        entries = [r for r in requests if isinstance(r, ledger.PostEntry | ledger.ReverseEntry)]
        if entries:
            assert len(entries) == len(requests)
            return self._post_entries(org, entries, new_id)
        (request,) = requests
        if isinstance(request, ledger.CreateHold):
            return [self._create_hold(org, request, now, new_id)]
        if isinstance(request, ledger.PostHold):
            return [self._post_hold(org, request, now, new_id)]
        if isinstance(request, ledger.VoidHold):
            hold = self._open_hold(org, request.hold_id)
            self._release(hold)
            hold.status = "voided"
            return [hold.id]
        if isinstance(request, ledger.OpenAccount):
            return [self._open_account(org, request, new_id)]
        assert isinstance(request, ledger.CloseAccount)
        account = self.accounts.get(request.account_id)
        if account is None:
            raise Refusal(ledger.AccountNotFound)
        if account.org != org:
            raise Refusal(ledger.AccountOrganizationMismatch)
        account.closed = True
        return [account.id]

    # Entries ---------------------------------------------------------------------------

    def _post_entries(
        self,
        org: UUID,
        requests: list[ledger.PostEntry | ledger.ReverseEntry],
        new_id: Callable[[], UUID],
    ) -> list[UUID]:
        # The database checks every reversal before anything else, in no promised order.
        refusals: set[ErrorClass] = set()
        for request in requests:
            if isinstance(request, ledger.ReverseEntry):
                original = self.entries.get(request.entry_id)
                if original is None or original.org != org:
                    refusals.add(ledger.EntryNotFound)
                elif original.reversed_by is not None:
                    refusals.add(ledger.EntryAlreadyReversed)
        if refusals:
            raise Refusal(*refusals)
        specs = []
        for request in requests:
            if isinstance(request, ledger.ReverseEntry):
                original = self.entries[request.entry_id]
                flipped = [(a, FLIP[s], amount, c) for a, s, amount, c in original.lines]
                specs.append(Spec("reversal", flipped, reverses=original.id))
            else:
                lines: list[LineTuple] = [
                    (x.account_id, x.side, x.amount, x.currency) for x in request.lines
                ]
                specs.append(Spec("standard", lines))
        return self._post(org, specs, new_id)

    def _post(self, org: UUID, specs: list[Spec], new_id: Callable[[], UUID]) -> list[UUID]:
        ids = {line[0] for spec in specs for line in spec.lines}
        if not ids <= self.accounts.keys():
            raise Refusal(ledger.AccountNotFound)
        if any(self.accounts[i].org not in (org, PLATFORM) for i in ids):
            raise Refusal(ledger.AccountOrganizationMismatch)
        for spec in specs:
            for account_id, _, _, currency in spec.lines:
                account = self.accounts[account_id]
                if account.currency != currency:
                    raise Refusal(ledger.CurrencyMismatch)
                if account.closed:
                    raise Refusal(ledger.AccountClosed)
        # The documented rule (BalanceOverflow): no posting takes a balance beyond 64 bits,
        # checked before the overdraft flags. High-volume accounts included: their balances
        # are bigints too (account_balances, roll-up). The ledger skips them today, see
        # test_a_high_volume_balance_stays_within_64_bits.
        totals = {i: [self.accounts[i].posted_debits, self.accounts[i].posted_credits] for i in ids}
        for spec in specs:
            for account_id, side, amount, _ in spec.lines:
                totals[account_id][side == "credit"] += amount
        over = [self.accounts[i] for i, t in totals.items() if max(t) > MAX]
        if over:
            why = ", ".join(f"{a.code}{' (high-volume)' * a.high_volume}" for a in over)
            raise Refusal(ledger.BalanceOverflow, why=f"beyond 2**63 - 1: {why}")
        # Overdraft flags are judged where each entry leaves each account, batch so far.
        running = {
            i: [self.accounts[i].posted_debits, self.accounts[i].posted_credits] for i in ids
        }
        for spec in specs:
            for account_id, side, amount, _ in spec.lines:
                running[account_id][side == "credit"] += amount
            for account_id, _, _, _ in spec.lines:
                if self.accounts[account_id].overdrawn(*running[account_id]):
                    raise Refusal(ledger.InsufficientFunds)
        reversed_ = [spec.reverses for spec in specs if spec.reverses is not None]
        if len(set(reversed_)) != len(reversed_):
            raise Refusal(ledger.InvalidRequest)
        result = []
        for spec in specs:
            entry_id = new_id()
            self.entries[entry_id] = MEntry(
                entry_id, org, spec.kind, list(spec.lines), spec.reverses, spec.hold_id
            )
            if spec.reverses is not None:
                self.entries[spec.reverses].reversed_by = entry_id
            for account_id, side, amount, _ in spec.lines:
                self.accounts[account_id].book(entry_id, side, amount)
            result.append(entry_id)
        return result

    # Holds -----------------------------------------------------------------------------

    def _create_hold(
        self, org: UUID, request: ledger.CreateHold, now: datetime, new_id: Callable[[], UUID]
    ) -> UUID:
        debit, credit, amount = request.debit_account_id, request.credit_account_id, request.amount
        if request.expires_at is not None and request.expires_at <= now:
            raise Refusal(ledger.HoldExpiryNotInFuture)
        if debit not in self.accounts or credit not in self.accounts:
            raise Refusal(ledger.AccountNotFound)
        # Judged in the doors' one lock order (docs/engine.md): the organization's accounts by
        # id, then the platform's by id; the first refusal met is the one raised (a closed
        # platform account behind an organization's short of funds: InsufficientFunds).
        pair = sorted(
            (self.accounts[debit], self.accounts[credit]), key=lambda a: (a.org != org, a.id)
        )
        if any(a.org not in (org, PLATFORM) for a in pair):
            raise Refusal(ledger.AccountOrganizationMismatch)
        if any(a.currency != request.currency for a in pair):
            raise Refusal(ledger.CurrencyMismatch)
        for a in pair:  # in the order the database locks and judges them
            if a.closed:
                raise Refusal(ledger.AccountClosed)
            if a.id == debit and a.dmnec:
                available = a.posted_credits - a.posted_debits - a.pending_debits
                if available < amount:
                    raise Refusal(ledger.InsufficientFunds)
            if a.id == credit and a.cmned:
                available = a.posted_debits - a.posted_credits - a.pending_credits
                if available < amount:
                    raise Refusal(ledger.InsufficientFunds)
            pending = a.pending_debits if a.id == debit else a.pending_credits
            if pending + amount > MAX:
                raise Refusal(ledger.BalanceOverflow)
        for a in pair:
            if a.id == debit:
                a.pending_debits += amount
            else:
                a.pending_credits += amount
            if not a.high_volume:
                a.version += 1
        hold_id = new_id()
        self.holds[hold_id] = MHold(
            hold_id, org, debit, credit, amount, request.currency, request.expires_at
        )
        return hold_id

    def _open_hold(self, org: UUID, hold_id: UUID) -> MHold:
        hold = self.holds.get(hold_id)
        if hold is None or hold.org != org:
            raise Refusal(ledger.HoldNotFound)
        if hold.status != "open":
            raise Refusal(RESOLVED[hold.status])
        return hold

    def _release(self, hold: MHold) -> None:
        debit, credit = self.accounts[hold.debit], self.accounts[hold.credit]
        debit.pending_debits -= hold.amount
        credit.pending_credits -= hold.amount
        for a in (debit, credit):
            if not a.high_volume:
                a.version += 1

    def _post_hold(
        self, org: UUID, request: ledger.PostHold, now: datetime, new_id: Callable[[], UUID]
    ) -> UUID:
        hold = self._open_hold(org, request.hold_id)
        if hold.expires_at is not None and hold.expires_at <= now:
            raise Refusal(ledger.HoldExpired)
        amount = hold.amount if request.amount is None else request.amount
        if amount > hold.amount:
            raise Refusal(ledger.HoldAmountExceeded)
        self._release(hold)
        lines = [
            (hold.debit, "debit", amount, hold.currency),
            (hold.credit, "credit", amount, hold.currency),
        ]
        (entry_id,) = self._post(org, [Spec("hold_post", lines, hold_id=hold.id)], new_id)
        hold.status, hold.posted_amount, hold.entry_id = "posted", amount, entry_id
        return entry_id

    def expire(self, now: datetime) -> int:
        """Expire the open holds whose expiry has passed; return how many."""
        due = [
            h
            for h in self.holds.values()
            if h.status == "open" and h.expires_at is not None and h.expires_at <= now
        ]
        for hold in due:
            self._release(hold)
            hold.status = "expired"
        return len(due)

    # Accounts --------------------------------------------------------------------------

    def _open_account(
        self, org: UUID, request: ledger.OpenAccount, new_id: Callable[[], UUID]
    ) -> UUID:
        if any(a.org == org and a.code == request.code for a in self.accounts.values()):
            raise Refusal(ledger.DuplicateAccountCode)
        account_id = new_id()
        self.accounts[account_id] = MAccount(
            account_id,
            org,
            request.code,
            request.currency,
            request.debits_must_not_exceed_credits,
            request.credits_must_not_exceed_debits,
            request.high_volume,
        )
        return account_id

    def roll_up(self, limit: int) -> int:
        """Give up to `limit` unrolled lines of each high-volume account their position."""
        done = 0
        for account in self.accounts.values():
            if not account.high_volume:
                continue
            debits = credits = rolled = 0
            for line in account.lines:
                if line.side == "debit":
                    debits += line.amount
                else:
                    credits += line.amount
                if line.version is not None:
                    continue
                if rolled == limit:
                    break
                rolled += 1
                account.version += 1
                line.version = account.version
                line.posted_debits, line.posted_credits = debits, credits
            done += rolled
        return done


# --------------------------------------------------------------------------------------
# The machine
# --------------------------------------------------------------------------------------

# Weighted towards a few busy corners, so that accounts meet: more organization A than B,
# more dollars than euros or yen.
CHART_ORGS = (PLATFORM, PLATFORM, ORG_A, ORG_A, ORG_A, ORG_B)
CHART_CURRENCIES = ("USD", "USD", "USD", "EUR", "JPY")
FLAGS = ("none", "none", "dmnec", "cmned", "high_volume")
BAD_FLAGS = ("both", "hv_dmnec", "hv_cmned")
ENTRY_DEFECTS = (
    "unbalanced",
    "too_few",
    "mismatch",
    "closed",
    "foreign",
    "missing",
    "overdraw",
)
HOLD_DEFECTS = ("overdraw", "closed", "mismatch", "foreign", "missing", "same")


def _mostly(usual: T, others: Sequence[T], times: int = 3) -> st.SearchStrategy[T]:
    """`usual` most of the time, else one of `others`. Hypothesis favours the first and the
    last choice of sampled_from, so the usual one stands at both ends."""
    return st.sampled_from((usual,) * times + tuple(others) + (usual,) * times)


def _send(
    conn: sa.Connection, org: UUID, requests: Sequence[Request], *, batch: bool
) -> list[ledger.WriteResult]:
    """Send the requests through the ledger's public functions."""
    if batch:
        entries = [r for r in requests if isinstance(r, ledger.PostEntry | ledger.ReverseEntry)]
        assert len(entries) == len(requests)
        return ledger.post_entries(conn, org, entries)
    (request,) = requests
    if isinstance(request, ledger.PostEntry):
        return [ledger.post_entry(conn, org, request)]
    if isinstance(request, ledger.ReverseEntry):
        return [ledger.reverse_entry(conn, org, request)]
    if isinstance(request, ledger.CreateHold):
        return [ledger.create_hold(conn, org, request)]
    if isinstance(request, ledger.PostHold):
        return [ledger.post_hold(conn, org, request)]
    if isinstance(request, ledger.VoidHold):
        return [ledger.void_hold(conn, org, request)]
    if isinstance(request, ledger.OpenAccount):
        return [ledger.open_account(conn, org, request)]
    return [ledger.close_account(conn, org, request)]


def _different(request: Request) -> Request:
    """Another request under the same idempotency key."""
    if isinstance(request, ledger.PostEntry | ledger.ReverseEntry):
        return dataclasses.replace(request, description=request.description + "*")
    if isinstance(request, ledger.CreateHold):
        return dataclasses.replace(request, amount=request.amount + 1)
    if isinstance(request, ledger.PostHold):
        return dataclasses.replace(request, description=(request.description or "") + "*")
    if isinstance(request, ledger.OpenAccount):
        return dataclasses.replace(request, name=request.code + "*")
    if isinstance(request, ledger.VoidHold):  # another operation under the key
        return ledger.PostHold(request.idempotency_key, request.hold_id)
    return dataclasses.replace(request, account_id=uuid.UUID(int=request.account_id.int ^ 1))


def _kind(requests: Sequence[Request], batch: bool) -> str:
    return "batch" if batch else type(requests[0]).__name__


def _by_kind(items: Sequence[T], kind: Callable[[T], str]) -> st.SearchStrategy[T]:
    """Draw a kind of item first, then an item of it: rare kinds are not drowned out."""
    groups: dict[str, list[T]] = defaultdict(list)
    for item in items:
        groups[kind(item)].append(item)
    return st.sampled_from(sorted(groups)).flatmap(lambda k: st.sampled_from(groups[k]))


class LedgerMachine(RuleBasedStateMachine):
    """Random ledger work on an emptied database, checked against LedgerModel after each step."""

    scratch: ClassVar[Scratch]

    def __init__(self) -> None:
        super().__init__()
        self.engine = self.scratch.empty()
        with self.engine.begin() as conn:
            ledger.open_organization(conn, PLATFORM, "Liventix", is_platform=True)
            ledger.open_organization(conn, ORG_A, "Org A")
            ledger.open_organization(conn, ORG_B, "Org B")
        self.model = LedgerModel()
        self.history: list[tuple[UUID, tuple[Request, ...], bool]] = []
        self.serial = 0
        self.whales = 0
        self.checks = 0
        self.balances_read: dict[UUID, tuple[object, ...]] = {}

    # Helpers ---------------------------------------------------------------------------

    def _key(self) -> str:
        self.serial += 1
        return f"key-{self.serial}"

    def _clock(self) -> datetime:
        with self.engine.connect() as conn:
            now: datetime = conn.execute(sa.text("SELECT clock_timestamp()")).scalar_one()
        return now

    def _usable(self, org: UUID, currency: str | None = None) -> list[MAccount]:
        """Open accounts the organization may post to: its own and the platform's."""
        return [
            a
            for a in self.model.accounts.values()
            if a.org in (org, PLATFORM)
            and not a.closed
            and (currency is None or a.currency == currency)
        ]

    def _known_ids(self) -> set[UUID]:
        m = self.model
        return set(m.accounts) | set(m.entries) | set(m.holds)

    def _write(
        self, org: UUID, requests: Sequence[Request], *, batch: bool = False, commit: bool = True
    ) -> None:
        """Run one write in its own transaction and hold the outcome against the model's.

        With `commit`, a refused write is caught inside the transaction, which then commits
        (a recorded refusal stays under its key); without, the refusal rolls it back.
        """
        requests = tuple(requests)
        self.history.append((org, requests, batch))
        label = _kind(requests, batch)
        now: datetime | None = None
        outcome: list[ledger.WriteResult] | ledger.LedgerError
        try:
            with self.engine.begin() as conn:
                now = conn.execute(sa.text("SELECT now()")).scalar_one()
                try:
                    outcome = _send(conn, org, requests, batch=batch)
                except ledger.LedgerError as exc:
                    if not commit:
                        raise
                    outcome = exc
        except ledger.LedgerError as exc:
            outcome = exc
        assert now is not None

        trial = copy.deepcopy(self.model)
        placeholders: set[UUID] = set()

        def placeholder() -> UUID:
            new = uuid.uuid4()
            placeholders.add(new)
            return new

        try:
            expected = trial.write(org, requests, now=now, new_id=placeholder)
        except Refusal as refusal:
            assert isinstance(outcome, ledger.LedgerError), (
                f"{label} for {org}: the model expects {refusal}, the ledger accepted it: "
                f"{outcome} ({requests})"
            )
            assert type(outcome) in refusal.classes, (
                f"{label} for {org}: the model expects {refusal}, the ledger refused with "
                f"{outcome!r} ({requests})"
            )
            key = (org, requests[0].idempotency_key)
            if not batch and type(outcome).recorded and commit and key not in self.model.keys:
                self.model.keys[key] = MKey(requests[0].operation, requests[0], None, type(outcome))
            event(f"{label}: {type(outcome).__name__}")
            return
        assert not isinstance(outcome, ledger.LedgerError), (
            f"{label} for {org}: the model expects success, the ledger refused with "
            f"{outcome!r} ({requests})"
        )
        assert len(outcome) == len(expected)
        known = self._known_ids()
        for got, (want, replayed) in zip(outcome, expected, strict=True):
            assert got.replayed == replayed, f"{label}: replayed {got.replayed}, want {replayed}"
            if want in placeholders:
                assert got.id not in known, f"{label}: a new id {got.id} is already taken"
            else:
                assert got.id == want, f"{label}: id {got.id}, want {want}"
        fresh = iter(
            [
                got.id
                for got, (want, _) in zip(outcome, expected, strict=True)
                if want in placeholders
            ]
        )
        self.model.write(org, requests, now=now, new_id=lambda: next(fresh))
        event(f"{label}: {'replayed' if all(r.replayed for r in outcome) else 'done'}")

    def _open(
        self,
        org: UUID,
        type_: AccountType,
        currency: str,
        flag: str,
        *,
        code: str | None = None,
        commit: bool = True,
    ) -> None:
        key = self._key()
        request = ledger.OpenAccount(
            idempotency_key=key,
            code=code or f"{type_}-{currency}-{key}",
            type=type_,
            currency=currency,
            debits_must_not_exceed_credits=flag in ("dmnec", "both", "hv_dmnec"),
            credits_must_not_exceed_debits=flag in ("cmned", "both", "hv_cmned"),
            high_volume=flag in ("high_volume", "hv_dmnec", "hv_cmned"),
        )
        self._write(org, [request], commit=commit)

    def _draw_lines(self, data: st.DataObject, org: UUID) -> list[ledger.Line] | None:
        """A balanced set of lines in one or two currencies on the organization's accounts."""
        currencies = [c for c in CURRENCIES if self._usable(org, c)]
        if not currencies:
            return None
        chosen = data.draw(
            st.lists(st.sampled_from(currencies), min_size=1, max_size=2, unique=True)
        )
        lines = []
        for currency in chosen:
            ids = [a.id for a in self._usable(org, currency)]
            debits = data.draw(st.lists(amounts, min_size=1, max_size=3))
            total = sum(debits)
            n = data.draw(st.integers(1, min(3, total)))
            cuts = sorted(
                data.draw(
                    st.lists(st.integers(1, total - 1), min_size=n - 1, max_size=n - 1, unique=True)
                )
                if n > 1
                else []
            )
            credits = [b - a for a, b in zip([0, *cuts], [*cuts, total], strict=True)]
            legs: tuple[tuple[Side, list[int]], ...] = (("debit", debits), ("credit", credits))
            for side, parts in legs:
                for amount in parts:
                    account = data.draw(st.sampled_from(ids))
                    lines.append(ledger.Line(account, side, amount, currency))
        return lines

    def _spoil(
        self, data: st.DataObject, org: UUID, lines: list[ledger.Line], defect: str
    ) -> list[ledger.Line]:
        """Break an entry the named way, when the ledger's state allows it."""
        i = data.draw(st.integers(0, len(lines) - 1))
        line = lines[i]
        accounts = list(self.model.accounts.values())
        same = [a for a in accounts if a.currency == line.currency]
        candidates: list[MAccount] = []
        if defect == "unbalanced":
            lines[i] = dataclasses.replace(line, amount=line.amount + data.draw(st.integers(1, 9)))
        elif defect == "too_few":
            lines = [line]
        elif defect == "mismatch":
            candidates = [a for a in self._usable(org) if a.currency != line.currency]
        elif defect == "closed":
            closed = [a for a in accounts if a.org in (org, PLATFORM) and a.closed]
            candidates = [a for a in closed if a in same] or closed
        elif defect == "foreign":
            foreign = [a for a in accounts if a.org not in (org, PLATFORM)]
            candidates = [a for a in foreign if a in same] or foreign
        elif defect == "missing":
            lines[i] = dataclasses.replace(line, account_id=data.draw(st.uuids()))
        elif defect == "overdraw":
            flagged = [a for a in self._usable(org) if a.dmnec or a.cmned]
            if flagged:
                target = self.model.accounts[data.draw(st.sampled_from([a.id for a in flagged]))]
                others = [a.id for a in self._usable(org, target.currency) if a is not target]
                if others:
                    other = data.draw(st.sampled_from(others))
                    if target.dmnec:
                        room = target.posted_credits - target.posted_debits - target.pending_debits
                    else:
                        room = target.posted_debits - target.posted_credits - target.pending_credits
                    amount = min(MAX, max(room, 0) + data.draw(st.integers(1, 500)))
                    sides: tuple[Side, Side] = ("credit", "debit")
                    if target.dmnec:
                        sides = ("debit", "credit")
                    lines = [
                        *lines,
                        ledger.Line(target.id, sides[0], amount, target.currency),
                        ledger.Line(other, sides[1], amount, target.currency),
                    ]
        if candidates:
            pick = data.draw(st.sampled_from([a.id for a in candidates]))
            lines[i] = dataclasses.replace(line, account_id=pick)
        return lines

    def _draw_entry(
        self, data: st.DataObject, org: UUID, defects: st.SearchStrategy[str]
    ) -> ledger.PostEntry | None:
        lines = self._draw_lines(data, org)
        if lines is None:
            return None
        defect = data.draw(defects)
        lines = data.draw(st.permutations(self._spoil(data, org, lines, defect)))
        return ledger.PostEntry(self._key(), lines, description=defect)

    # Rules -----------------------------------------------------------------------------

    @initialize(
        chart=st.lists(
            st.tuples(
                st.sampled_from(CHART_ORGS),
                st.sampled_from(TYPES),
                st.sampled_from(CHART_CURRENCIES),
                st.sampled_from(FLAGS),
            ),
            min_size=5,
            max_size=10,
        )
    )
    def open_chart(self, chart: list[tuple[UUID, AccountType, str, str]]) -> None:
        self._open(PLATFORM, "revenue", "USD", "high_volume", code="fees")
        for org, type_, currency, flag in chart:
            self._open(org, type_, currency, flag)

    @precondition(lambda self: len(self.model.accounts) < 16)
    @rule(
        org=st.sampled_from(CHART_ORGS),
        type_=st.sampled_from(TYPES),
        currency=st.sampled_from(CHART_CURRENCIES),
        flag=st.sampled_from((*FLAGS, *BAD_FLAGS, "none")),
        data=st.data(),
    )
    def open_account(
        self, org: UUID, type_: AccountType, currency: str, flag: str, data: st.DataObject
    ) -> None:
        codes = [a.code for a in self.model.accounts.values() if a.org == org]
        code = None
        if codes and data.draw(st.integers(0, 3)) == 0:
            code = data.draw(st.sampled_from(codes))
        self._open(org, type_, currency, flag, code=code, commit=data.draw(st.booleans()))

    @rule(org=st.sampled_from(CHART_ORGS), data=st.data())
    def post_entry(self, org: UUID, data: st.DataObject) -> None:
        request = self._draw_entry(data, org, _mostly("none", ENTRY_DEFECTS))
        if request is not None:
            self._write(org, [request], commit=data.draw(st.booleans()))

    @rule(org=st.sampled_from(CHART_ORGS), data=st.data())
    def post_batch(self, org: UUID, data: st.DataObject) -> None:
        """Post one to three entries, reversals or earlier requests at once: all or none."""
        requests: list[Request] = []
        earlier = [
            r
            for o, sent, _ in self.history
            if o == org
            for r in sent
            if isinstance(r, ledger.PostEntry | ledger.ReverseEntry)
        ]
        for _ in range(data.draw(st.integers(1, 3))):
            choice = data.draw(st.sampled_from(("entry", "entry", "reversal", "earlier")))
            if choice == "reversal" and self.model.entries:
                entry_id = data.draw(st.sampled_from(list(self.model.entries)))
                requests.append(ledger.ReverseEntry(self._key(), entry_id))
            elif choice == "earlier" and earlier:
                request = data.draw(st.sampled_from(earlier))
                if all(r.idempotency_key != request.idempotency_key for r in requests):
                    requests.append(request)
            else:
                entry = self._draw_entry(data, org, _mostly("none", ENTRY_DEFECTS, 8))
                if entry is not None:
                    requests.append(entry)
        if requests:
            self._write(org, requests, batch=True, commit=data.draw(st.booleans()))

    @precondition(lambda self: self.whales < 2)
    @rule(data=st.data())
    def whale(self, data: st.DataObject) -> None:
        """Post close to 2**63 - 1 between two unflagged accounts: 64-bit limits."""
        org = data.draw(st.sampled_from(CHART_ORGS))
        pairs = [
            (a.id, b.id)
            for a in self._usable(org)
            for b in self._usable(org, a.currency)
            if a is not b and not (a.dmnec or a.cmned or b.dmnec or b.cmned)
        ]
        if pairs:
            debit, credit = data.draw(st.sampled_from(pairs))
            amount = MAX - data.draw(st.integers(0, 1_000))
            currency = self.model.accounts[debit].currency
            self.whales += 1
            request = ledger.PostEntry(
                self._key(),
                [
                    ledger.Line(debit, "debit", amount, currency),
                    ledger.Line(credit, "credit", amount, currency),
                ],
            )
            self._write(org, [request], commit=data.draw(st.booleans()))

    @precondition(lambda self: bool(self.model.entries))
    @rule(data=st.data())
    def reverse(self, data: st.DataObject) -> None:
        """Reverse an entry: once, again, for another organization, or a missing one."""
        entry = self.model.entries[data.draw(st.sampled_from(list(self.model.entries)))]
        org = data.draw(_mostly(entry.org, ORGS, 4))
        entry_id = data.draw(_mostly(entry.id, [uuid.UUID(int=7)], 4))
        request = ledger.ReverseEntry(self._key(), entry_id)
        self._write(org, [request], commit=data.draw(st.booleans()))

    @rule(org=st.sampled_from(CHART_ORGS), data=st.data())
    def create_hold(self, org: UUID, data: st.DataObject) -> None:
        usable = self._usable(org)
        if not usable:
            return
        defect = data.draw(_mostly("none", HOLD_DEFECTS))
        debit = self.model.accounts[data.draw(st.sampled_from([a.id for a in usable]))]
        currency = debit.currency
        ids = [a.id for a in self._usable(org, currency) if a is not debit]
        if not ids:
            return
        credit_id = data.draw(st.sampled_from(ids))
        debit_id = debit.id
        amount = data.draw(amounts)
        accounts = list(self.model.accounts.values())
        swap: list[UUID] = []
        if defect == "overdraw":
            flagged = [a for a in usable if a.dmnec or a.cmned]
            if flagged:
                target = self.model.accounts[data.draw(st.sampled_from([a.id for a in flagged]))]
                others = [a.id for a in self._usable(org, target.currency) if a is not target]
                if others:
                    other = data.draw(st.sampled_from(others))
                    currency = target.currency
                    if target.dmnec:
                        room = target.posted_credits - target.posted_debits - target.pending_debits
                        debit_id, credit_id = target.id, other
                    else:
                        room = target.posted_debits - target.posted_credits - target.pending_credits
                        debit_id, credit_id = other, target.id
                    amount = min(MAX, max(room, 0) + data.draw(st.integers(1, 500)))
        elif defect == "closed":
            swap = [a.id for a in accounts if a.org in (org, PLATFORM) and a.closed]
        elif defect == "mismatch":
            swap = [a.id for a in usable if a.currency != currency]
        elif defect == "foreign":
            swap = [a.id for a in accounts if a.org not in (org, PLATFORM)]
        elif defect == "missing":
            swap = [data.draw(st.uuids())]
        elif defect == "same":
            credit_id = debit_id
        if swap:
            pick = data.draw(st.sampled_from(swap))
            if data.draw(st.booleans()):
                debit_id = pick
            else:
                credit_id = pick
        expiry = data.draw(_mostly("none", ("past", "long", "short"), 1))
        expires_at = None
        if expiry != "none":
            offset = {
                "past": timedelta(hours=-1),
                "long": timedelta(hours=1),
                "short": timedelta(milliseconds=data.draw(st.integers(50, 800))),
            }[expiry]
            expires_at = self._clock() + offset
            event(f"CreateHold: expiry {expiry}")
        request = ledger.CreateHold(
            self._key(), debit_id, credit_id, amount, currency, expires_at=expires_at
        )
        self._write(org, [request], commit=data.draw(st.booleans()))

    def _draw_hold(self, data: st.DataObject) -> tuple[UUID, MHold]:
        holds = list(self.model.holds.values())
        open_ = [h for h in holds if h.status == "open"]
        pool = holds
        if open_ and data.draw(st.integers(0, 3)) > 0:
            pool = open_
        hold = self.model.holds[data.draw(st.sampled_from([h.id for h in pool]))]
        org = data.draw(_mostly(hold.org, ORGS, 4))
        return org, hold

    @precondition(lambda self: bool(self.model.holds))
    @rule(data=st.data())
    def post_hold(self, data: st.DataObject) -> None:
        """Post a hold in full, in part, for more than held, or one that is gone."""
        org, hold = self._draw_hold(data)
        how = data.draw(_mostly("full", ("part", "more", "part", "missing", "part"), 2))
        amount = None
        hold_id = hold.id
        if how == "part":
            amount = data.draw(st.integers(1, hold.amount))
        elif how == "more":
            amount = min(MAX, hold.amount + data.draw(st.integers(1, 100)))
        elif how == "missing":
            hold_id = uuid.UUID(int=9)
        request = ledger.PostHold(self._key(), hold_id, amount)
        self._write(org, [request], commit=data.draw(st.booleans()))

    @precondition(lambda self: bool(self.model.holds))
    @rule(data=st.data())
    def void_hold(self, data: st.DataObject) -> None:
        org, hold = self._draw_hold(data)
        self._write(org, [ledger.VoidHold(self._key(), hold.id)], commit=data.draw(st.booleans()))

    @precondition(lambda self: any(h.expires_at for h in self.model.holds.values()))
    @rule()
    def expire_holds(self) -> None:
        with self.engine.begin() as conn:
            now: datetime = conn.execute(sa.text("SELECT now()")).scalar_one()
            expired = ledger.expire_holds(conn)
        assert expired == self.model.expire(now)
        event(f"expire_holds: {'some' if expired else 'none'}")

    @precondition(lambda self: any(a.high_volume and a.lines for a in self.model.accounts.values()))
    @rule(limit=st.sampled_from((1, 2, 100_000)))
    def roll_up(self, limit: int) -> None:
        with self.engine.begin() as conn:
            rolled = ledger.roll_up(conn, limit)
        assert rolled == self.model.roll_up(limit)
        event(f"roll_up: {'some' if rolled else 'none'}")

    @precondition(lambda self: sum(not a.closed for a in self.model.accounts.values()) > 8)
    @rule(data=st.data())
    def close_account(self, data: st.DataObject) -> None:
        account = self.model.accounts[data.draw(st.sampled_from(list(self.model.accounts)))]
        org = data.draw(_mostly(account.org, ORGS, 2))
        request = ledger.CloseAccount(self._key(), account.id)
        self._write(org, [request], commit=data.draw(st.booleans()))

    @precondition(lambda self: bool(self.history))
    @rule(data=st.data())
    def replay(self, data: st.DataObject) -> None:
        """Send an earlier request again, by its organization or (rarely) another."""
        org, requests, batch = data.draw(_by_kind(self.history, lambda h: _kind(h[1], h[2])))
        org = data.draw(_mostly(org, ORGS))
        self._write(org, requests, batch=batch, commit=data.draw(st.booleans()))

    @precondition(lambda self: bool(self.model.keys))
    @rule(data=st.data())
    def conflict(self, data: st.DataObject) -> None:
        """Send another request under a key already used, alone or inside a batch."""
        keys = list(self.model.keys.items())
        (org, _), stored = data.draw(_by_kind(keys, lambda k: _kind([k[1].request], False)))
        other = _different(stored.request)
        if isinstance(other, ledger.PostEntry | ledger.ReverseEntry) and data.draw(st.booleans()):
            entry = self._draw_entry(data, org, st.just("none"))
            if entry is not None:
                batch = [entry, other] if data.draw(st.booleans()) else [other, entry]
                self._write(org, batch, batch=True, commit=data.draw(st.booleans()))
                return
        self._write(org, [other], commit=data.draw(st.booleans()))

    # Invariants ------------------------------------------------------------------------

    @invariant()
    def database_agrees(self) -> None:
        with self.engine.connect() as conn:  # a superuser: row-level security does not apply
            self._check_accounts(conn)
            self._check_lines(conn)
            self._check_rows(conn)
            self._check_hold_expiries(conn)
            self._check_trial_balance(conn)

    def _check_accounts(self, conn: sa.Connection) -> None:
        """Each currency sums to zero; balances equal their lines, pending amounts their open
        holds, and both the model; flagged accounts are not overdrawn."""
        for currency, debits, credits in conn.execute(
            sa.text("""
                SELECT currency,
                       coalesce(sum(amount) FILTER (WHERE side = 'debit'), 0),
                       coalesce(sum(amount) FILTER (WHERE side = 'credit'), 0)
                  FROM payments.lines GROUP BY currency""")
        ):
            assert debits == credits, f"{currency} lines: debits {debits} != credits {credits}"
        rows = conn.execute(
            sa.text("""
                SELECT b.account_id, b.posted_debits, b.posted_credits, b.pending_debits,
                       b.pending_credits, b.version, a.org_id, a.code, a.currency, a.closed,
                       a.debits_must_not_exceed_credits AS dmnec,
                       a.credits_must_not_exceed_debits AS cmned, a.high_volume,
                       (SELECT coalesce(sum(l.amount), 0) FROM payments.lines l
                         WHERE l.account_id = a.id AND l.side = 'debit') AS line_debits,
                       (SELECT coalesce(sum(l.amount), 0) FROM payments.lines l
                         WHERE l.account_id = a.id AND l.side = 'credit') AS line_credits,
                       (SELECT coalesce(sum(h.amount), 0) FROM payments.holds h
                         WHERE h.debit_account_id = a.id AND NOT EXISTS (
                               SELECT FROM payments.hold_resolutions r WHERE r.hold_id = h.id)
                       ) AS held_debits,
                       (SELECT coalesce(sum(h.amount), 0) FROM payments.holds h
                         WHERE h.credit_account_id = a.id AND NOT EXISTS (
                               SELECT FROM payments.hold_resolutions r WHERE r.hold_id = h.id)
                       ) AS held_credits
                  FROM payments.account_balances b
                  JOIN payments.accounts a ON a.id = b.account_id""")
        ).all()
        assert {r.account_id for r in rows} == set(self.model.accounts)
        per_currency: dict[str, list[int]] = defaultdict(lambda: [0, 0])
        for r in rows:
            m = self.model.accounts[r.account_id]
            posted = (r.posted_debits, r.posted_credits)
            pending = (r.pending_debits, r.pending_credits)
            per_currency[r.currency][0] += r.posted_debits
            per_currency[r.currency][1] += r.posted_credits
            assert posted == (r.line_debits, r.line_credits), f"{m.code}: balance != its lines"
            assert pending == (r.held_debits, r.held_credits), f"{m.code}: pending != open holds"
            assert posted == (m.posted_debits, m.posted_credits), f"{m.code}: posted != model"
            assert pending == (m.pending_debits, m.pending_credits), f"{m.code}: pending != model"
            assert r.version == m.version, f"{m.code}: version {r.version} != model {m.version}"
            assert (r.org_id, r.code, r.currency, r.closed) == (m.org, m.code, m.currency, m.closed)
            assert (r.dmnec, r.cmned, r.high_volume) == (m.dmnec, m.cmned, m.high_volume)
            if r.dmnec:
                assert r.posted_debits + r.pending_debits <= r.posted_credits, f"{m.code} overdrawn"
            if r.cmned:
                assert r.posted_credits + r.pending_credits <= r.posted_debits, (
                    f"{m.code} overdrawn"
                )
            # ledger.balance reads what the view says; asked whenever the account changed
            # (one query per account per step would double the run time for nothing).
            state = (*posted, *pending, r.version)
            if self.balances_read.get(m.id) != state:
                b = ledger.balance(conn, m.id)
                read = (b.posted_debits, b.posted_credits, b.pending_debits, b.pending_credits)
                assert (*read, b.version) == state, f"{m.code}: ledger.balance disagrees"
                self.balances_read[m.id] = state
        for currency, (debits, credits) in per_currency.items():
            assert debits == credits, f"{currency} balances: debits {debits} != credits {credits}"

    def _check_lines(self, conn: sa.Connection) -> None:
        """Each line carries its account's version and running totals, as the model says.

        Model-free: in line order, a regular account's versions rise and its positions are
        the running sums; a high-volume account's rolled-up lines come first, numbered
        1, 2, 3... with the running sums, and the rest wait with no position.
        """
        found: dict[UUID, list[tuple[object, ...]]] = defaultdict(list)
        for r in conn.execute(
            sa.text("""
                SELECT account_id, entry_id, side, amount, account_version,
                       account_posted_debits, account_posted_credits
                  FROM payments.lines ORDER BY account_id, id""")
        ):
            found[r.account_id].append(tuple(r[1:]))
        assert set(found) <= set(self.model.accounts)
        for account in self.model.accounts.values():
            lines = found.get(account.id, [])
            want = [
                (x.entry_id, x.side, x.amount, x.version, x.posted_debits, x.posted_credits)
                for x in account.lines
            ]
            assert lines == want, f"{account.code}: lines differ from the model"
            debits = credits = last = 0
            waiting = False
            for _, side, amount, version, at_debits, at_credits in lines:
                assert isinstance(amount, int)
                if side == "debit":
                    debits += amount
                else:
                    credits += amount
                if version is None:
                    assert account.high_volume, f"{account.code}: a line without position"
                    waiting = True
                    continue
                assert isinstance(version, int)
                assert not waiting, f"{account.code}: a rolled-up line after a waiting one"
                if account.high_volume:
                    assert version == last + 1, f"{account.code}: version {version} after {last}"
                else:
                    assert version > last, f"{account.code}: version {version} after {last}"
                assert (at_debits, at_credits) == (debits, credits), f"{account.code}: position"
                last = version

    def _check_hold_expiries(self, conn: sa.Connection) -> None:
        """The sweep's list (payments.hold_expiries) is exactly the open holds with an expiry,
        each under its hold's organization and expiry: anti-joined both ways, and against the
        model."""
        unlisted = conn.execute(
            sa.text("""
                SELECT h.id FROM payments.holds h
                 WHERE h.expires_at IS NOT NULL
                   AND NOT EXISTS (SELECT FROM payments.hold_resolutions r
                                    WHERE r.hold_id = h.id)
                   AND NOT EXISTS (SELECT FROM payments.hold_expiries q
                                    WHERE q.hold_id = h.id AND q.org_id = h.org_id
                                      AND q.expires_at = h.expires_at)""")
        ).all()
        assert unlisted == [], f"open holds with an expiry not listed: {unlisted}"
        stray = conn.execute(
            sa.text("""
                SELECT q.hold_id FROM payments.hold_expiries q
                 WHERE NOT EXISTS (SELECT FROM payments.holds h
                                    WHERE h.id = q.hold_id AND h.org_id = q.org_id
                                      AND h.expires_at = q.expires_at
                                      AND NOT EXISTS (SELECT FROM payments.hold_resolutions r
                                                       WHERE r.hold_id = h.id))""")
        ).all()
        assert stray == [], f"listed holds that are resolved, unknown or moved: {stray}"
        listed = set(conn.execute(sa.text("SELECT hold_id FROM payments.hold_expiries")).scalars())
        assert listed == {
            h.id
            for h in self.model.holds.values()
            if h.status == "open" and h.expires_at is not None
        }

    def _check_rows(self, conn: sa.Connection) -> None:
        """Row counts, entries, holds and keys are exactly the model's: refusals left none."""
        counts = conn.execute(
            sa.text("""
                SELECT (SELECT count(*) FROM payments.entries) AS entries,
                       (SELECT count(*) FROM payments.lines) AS lines,
                       (SELECT count(*) FROM payments.holds) AS holds,
                       (SELECT count(*) FROM payments.hold_resolutions) AS hold_resolutions,
                       (SELECT count(*) FROM payments.idempotency_keys) AS idempotency_keys""")
        ).one()
        assert counts._asdict() == self.model.counts()
        entries = {
            r.id: (r.org_id, r.kind, r.reverses_entry_id, r.hold_id)
            for r in conn.execute(
                sa.text("SELECT id, org_id, kind, reverses_entry_id, hold_id FROM payments.entries")
            )
        }
        assert entries == {
            e.id: (e.org, e.kind, e.reverses, e.hold_id) for e in self.model.entries.values()
        }
        holds = {
            r.id: tuple(r[1:])
            for r in conn.execute(
                sa.text("""
                    SELECT h.id, h.org_id, h.debit_account_id, h.credit_account_id, h.amount,
                           h.currency, h.expires_at, coalesce(r.kind, 'open'),
                           coalesce(r.posted_amount, 0), r.entry_id
                      FROM payments.holds h
                      LEFT JOIN payments.hold_resolutions r ON r.hold_id = h.id""")
            )
        }
        assert holds == {
            h.id: (
                h.org,
                h.debit,
                h.credit,
                h.amount,
                h.currency,
                h.expires_at,
                h.status,
                h.posted_amount,
                h.entry_id,
            )
            for h in self.model.holds.values()
        }
        keys = {
            (r.org_id, r.key): (r.operation, r.status, r.id, r.code)
            for r in conn.execute(
                sa.text("""
                    SELECT org_id, key, operation, status, result ->> 'id' AS id,
                           result ->> 'code' AS code
                      FROM payments.idempotency_keys""")
            )
        }
        assert keys == {
            k: (
                v.operation,
                "succeeded" if v.failure is None else "failed",
                None if v.result_id is None else str(v.result_id),
                None if v.failure is None else v.failure.code,
            )
            for k, v in self.model.keys.items()
        }

    def _check_trial_balance(self, conn: sa.Connection) -> None:
        """The trial balance balances per currency, overall and per organization."""
        net: dict[tuple[UUID, UUID, str], int] = defaultdict(int)
        for entry in self.model.entries.values():
            for account_id, side, amount, currency in entry.lines:
                net[(entry.org, account_id, currency)] += amount if side == "debit" else -amount
        want: dict[UUID | None, dict[str, tuple[int, int]]] = defaultdict(dict)
        for (org, _, currency), value in net.items():
            for key in (None, org):
                d, c = want[key].get(currency, (0, 0))
                want[key][currency] = (d + max(value, 0), c + max(-value, 0))
        tb = ledger.trial_balance(conn)
        assert tb.balanced, f"trial balance: {tb.totals}"
        assert tb.totals == want[None], f"trial balance: {tb.totals} != {want[None]}"
        by_org: dict[UUID, dict[str, list[int]]] = defaultdict(lambda: defaultdict(lambda: [0, 0]))
        for row in tb.rows:
            by_org[row.org_id][row.currency][0] += row.debit
            by_org[row.org_id][row.currency][1] += row.credit
        for org, totals in by_org.items():
            assert all(d == c for d, c in totals.values()), f"trial balance of {org} unbalanced"
        # The organization's own report, one organization per step in turn.
        org = ORGS[self.checks % len(ORGS)]
        self.checks += 1
        own = ledger.trial_balance(conn, org)
        assert own.balanced, f"trial balance for {org}: {own.totals}"
        assert own.totals == want[org], f"trial balance for {org}: {own.totals} != {want[org]}"


@pytest.mark.slow
def test_ledger_invariants_hold_under_random_work(scratch: Scratch) -> None:
    class Machine(LedgerMachine):
        pass

    Machine.scratch = scratch
    run_state_machine_as_test(Machine, settings=SETTINGS)


def test_a_high_volume_balance_stays_within_64_bits(
    engine: sa.Engine, open_account: OpenAccountFn
) -> None:
    """The machine's first find, kept as a plain test: a posting that takes a high-volume
    account beyond 2**63 - 1 is refused like any other, so its balance stays readable."""
    fees = open_account(PLATFORM, "fees", "revenue", high_volume=True)
    cash = open_account(ORG_A, "cash", "asset")
    card = open_account(ORG_A, "card", "asset")
    with engine.begin() as conn:
        ledger.post_entry(conn, ORG_A, transfer("whale", cash, fees, MAX))
    with engine.begin() as conn, pytest.raises(ledger.BalanceOverflow):
        ledger.post_entry(conn, ORG_A, transfer("one-more", card, fees, 1))
    with engine.begin() as conn:
        assert ledger.balance(conn, fees).posted_credits == MAX
        assert ledger.roll_up(conn) == 1
