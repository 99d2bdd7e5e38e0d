"""Dry runs against the real database: for random sequences of writes (posts, batches,
holds, hold posts, voids, reversals, settlements; valid, refused, replayed, conflicting),
each dry run answers what the real call made right after it answers (its result or its typed
error with the same details, and the same balances after it), and leaves the database as it
was, row for row (entries, lines, holds, resolutions, keys, accounts, settlements, and the
outbox's messages and deliveries: the hold events a write publishes)."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from typing import Any

import pytest
import sqlalchemy as sa
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import ledger
from liventix.testing.rollback import RolledBack
from tests.ledger_core.conftest import ORG_A, OpenAccountFn, transfer

_TABLES = (
    "payments.entries",
    "payments.lines",
    "payments.holds",
    "payments.hold_resolutions",
    "payments.idempotency_keys",
    "payments.accounts",
    "payments.settlements",
    "payments.settlement_entries",
    "messaging.messages",
    "messaging.deliveries",
)


def snapshot(conn: sa.Connection) -> dict[str, tuple[int, str]]:
    """Each table's row count and a digest of its rows (their whole text)."""
    found = {}
    for table in _TABLES:
        row = conn.execute(
            sa.text(
                f"SELECT count(*), coalesce(md5(string_agg(t::text, '|' ORDER BY t::text)), '')"
                f" FROM {table} t"
            )
        ).one()
        found[table] = (int(row[0]), str(row[1]))
    return found


def outcome(value: Any) -> Any:
    """What an answer says, without the ids a new row gets (a dry run's new entry and the
    real call's are two rows): a replay's id is compared, being the stored one."""
    if isinstance(value, ledger.WriteResult):
        return ("ok", value.id if value.replayed else None, value.replayed)
    if isinstance(value, list):
        return [outcome(v) for v in value]
    if isinstance(value, ledger.BatchResult):
        error = None if value.error is None else outcome(value.error)
        return ("item", value.index, value.replayed, value.id is None, error)
    if isinstance(value, ledger.LedgerError):
        # The cut-off a settlement defaults to is the moment it runs.
        details = {k: v for k, v in value.details.items() if k != "up_to"}
        return ("error", type(value).__name__, details)
    raise AssertionError(f"unexpected answer {value!r}")


def real_call(conn: sa.Connection, call: Callable[[], Any]) -> Any:
    """The call itself, in a savepoint kept when it succeeds (a refusal leaves nothing)."""
    savepoint = conn.begin_nested()
    try:
        answer = call()
        conn.execute(sa.text("SET CONSTRAINTS ALL IMMEDIATE"))
    except ledger.LedgerError as exc:
        savepoint.rollback()
        return exc
    savepoint.commit()
    return answer


class Book:
    """A wallet that may not go below zero, a funding account and a merchant, and what was
    made on them (entries, holds), for the operations to name."""

    def __init__(self, open_account: OpenAccountFn, run: str) -> None:
        self.run = run
        self.funding = open_account(ORG_A, f"funding-{run}", "equity")
        self.wallet = open_account(
            ORG_A, f"wallet-{run}", "liability", debits_must_not_exceed_credits=True
        )
        self.merchant = open_account(ORG_A, f"merchant-{run}", "liability")
        self.accounts = [self.funding, self.wallet, self.merchant]
        self.entries: list[uuid.UUID] = []
        self.holds: list[uuid.UUID] = []

    def key(self, n: int) -> str:
        return f"{self.run}-k{n}"

    def pair(self, a: int, b: int) -> tuple[uuid.UUID, uuid.UUID]:
        return self.accounts[a % 3], self.accounts[b % 3]

    def nth(self, found: list[uuid.UUID], n: int) -> uuid.UUID:
        return found[n % len(found)] if found else uuid.uuid4()

    def operation(self, conn: sa.Connection, op: tuple[Any, ...]) -> Callable[[bool], Any]:
        """The write `op` names, as a call taking dry_run."""
        kind, a, b, amount, key = op
        if kind == "post":
            request = transfer(self.key(key), *self.pair(a, b), amount)
            return lambda dry: ledger.post_entry(conn, ORG_A, request, dry_run=dry)
        if kind == "batch":
            requests = [
                transfer(self.key(key + 100 * i), *self.pair(a + i, b), amount * (i + 1))
                for i in range(3)
            ]
            links = [a % 2 == 0, False, False]
            return lambda dry: ledger.post_batch(conn, ORG_A, requests, links=links, dry_run=dry)
        if kind == "hold":
            debit, credit = self.pair(a, b)
            hold = ledger.CreateHold(self.key(key), debit, credit, amount, "USD")
            return lambda dry: ledger.create_hold(conn, ORG_A, hold, dry_run=dry)
        if kind == "post_hold":
            posting = ledger.PostHold(
                self.key(key), self.nth(self.holds, a), amount if b % 2 else None
            )
            return lambda dry: ledger.post_hold(conn, ORG_A, posting, dry_run=dry)
        if kind == "void":
            void = ledger.VoidHold(self.key(key), self.nth(self.holds, a))
            return lambda dry: ledger.void_hold(conn, ORG_A, void, dry_run=dry)
        if kind == "reverse":
            reversal = ledger.ReverseEntry(self.key(key), self.nth(self.entries, a))
            return lambda dry: ledger.reverse_entry(conn, ORG_A, reversal, dry_run=dry)
        settle = ledger.CreateSettlement(self.key(key), self.accounts[a % 3])
        return lambda dry: ledger.create_settlement(conn, ORG_A, settle, dry_run=dry)

    def remember(self, kind: str, answer: Any) -> None:
        if isinstance(answer, ledger.WriteResult) and not answer.replayed:
            if kind == "hold":
                self.holds.append(answer.id)
            elif kind in ("post", "reverse", "post_hold"):
                self.entries.append(answer.id)


OPERATIONS = st.tuples(
    st.sampled_from(["post", "post", "batch", "hold", "post_hold", "void", "reverse", "settle"]),
    st.integers(0, 5),
    st.integers(0, 5),
    st.integers(1, 3_000),
    st.integers(0, 12),  # a small pool of keys: replays and conflicts happen
)


@settings(
    max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(ops=st.lists(OPERATIONS, min_size=1, max_size=10))
def test_a_dry_run_answers_what_the_real_call_does_and_writes_nothing(
    db: RolledBack, open_account: OpenAccountFn, ops: list[tuple[Any, ...]]
) -> None:
    book = Book(open_account, uuid.uuid4().hex[:12])
    with db.begin() as conn:
        ledger.post_entry(
            conn, ORG_A, transfer(f"{book.run}-fund", book.funding, book.wallet, 5_000)
        )
        for op in ops:
            call = book.operation(conn, op)
            before = snapshot(conn)
            dry = call(True)
            assert isinstance(dry, ledger.DryRun)
            assert snapshot(conn) == before, f"{op}: the dry run left a trace"
            real = real_call(conn, lambda: call(False))  # noqa: B023 - called at once
            expected = dry.error if dry.error is not None else dry.result
            assert outcome(expected) == outcome(real), op
            after = tuple(ledger.balance(conn, b.account_id) for b in dry.balances)
            assert dry.balances == after, op
            book.remember(op[0], real)


def test_the_shortfall_and_the_balances_after(db: RolledBack, open_account: OpenAccountFn) -> None:
    funding = open_account(ORG_A, "funding", "equity")
    wallet = open_account(ORG_A, "wallet", "liability", debits_must_not_exceed_credits=True)
    merchant = open_account(ORG_A, "merchant", "liability")
    with db.begin() as conn:
        ledger.post_entry(conn, ORG_A, transfer("fund", funding, wallet, 1_000))
        too_much = ledger.post_entry(
            conn, ORG_A, transfer("pay", wallet, merchant, 1_500), dry_run=True
        )
        assert isinstance(too_much.error, ledger.InsufficientFunds)
        assert too_much.error.details["account_id"] == str(wallet)
        assert {b.account_id: b.posted for b in too_much.balances} == {
            wallet: 1_000,
            merchant: 0,
        }
        with pytest.raises(ledger.InsufficientFunds):
            too_much.unwrap()
        fine = ledger.post_entry(conn, ORG_A, transfer("pay", wallet, merchant, 400), dry_run=True)
        assert fine.ok and not fine.unwrap().replayed
        assert {b.account_id: b.posted for b in fine.balances} == {wallet: 600, merchant: 400}
        # Nothing was written, and the key was not consumed: the real call takes it.
        assert ledger.balance(conn, wallet).posted == 1_000
        assert ledger.entry_by_key(conn, ORG_A, "pay") is None
        real = ledger.post_entry(conn, ORG_A, transfer("pay", wallet, merchant, 400))
        assert not real.replayed
        # A dry run of the same request now answers the replay, with the stored id.
        again = ledger.post_entry(conn, ORG_A, transfer("pay", wallet, merchant, 400), dry_run=True)
        assert again.unwrap() == ledger.WriteResult(real.id, replayed=True)


def test_the_deferred_balance_rule_is_judged_in_a_dry_run(
    db: RolledBack, open_account: OpenAccountFn
) -> None:
    """The commit-time check (raw lines that do not balance) fires inside the dry run."""
    cash = open_account(ORG_A, "cash", "asset")

    def unbalanced() -> None:
        with ledger.translated_errors():
            entry = db.conn.execute(
                sa.text("INSERT INTO payments.entries (org_id) VALUES (:org) RETURNING id"),
                {"org": ORG_A},
            ).scalar_one()
            db.conn.execute(
                sa.text(
                    "INSERT INTO payments.lines (entry_id, entry_org_id, org_id, account_id,"
                    " side, amount, currency, effective_at)"
                    " VALUES (:e, :org, :org, :acc, 'debit', 5, 'USD', now())"
                ),
                {"e": entry, "org": ORG_A, "acc": cash},
            )

    with db.begin() as conn:
        before = snapshot(conn)
        found = ledger.rehearse(conn, unbalanced, [cash])
        assert isinstance(found.error, ledger.TooFewLines | ledger.UnbalancedEntry)
        assert snapshot(conn) == before
