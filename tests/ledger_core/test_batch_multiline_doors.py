"""The batch's fast door judges entries of several lines as the long door does: an entry may
name an account twice (its running position moves line by line, and the overdraft rule is
judged where the entry leaves the account), mix flagged, high-volume, closed and
other-currency accounts, and split an amount over several credits. For random batches of
such entries, both doors give the same results, balances, versions and lines (the property
`test_batch_fast` checks for two-line transfers)."""

from __future__ import annotations

import uuid
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import ledger
from liventix.testing.rollback import RolledBack, Transactions
from tests.ledger_core.conftest import ORG_A, Doors, OpenAccountFn
from tests.ledger_core.test_batch_fast import NAMES, _book, _outcome, _state

# An entry: a debit of `amount` on one account, credited in parts to one or two others, and
# possibly a second debit and credit of `extra` on the same pair (an account twice).
_ENTRY = st.tuples(
    st.sampled_from(NAMES),  # debited
    st.lists(st.sampled_from(NAMES), min_size=1, max_size=2),  # credited, in parts
    st.integers(min_value=2, max_value=300),
    st.integers(min_value=0, max_value=40),  # extra back and forth on the debited account
    st.booleans(),  # linked to the next
)


def _request(key: str, book: dict[str, uuid.UUID], spec: Any) -> ledger.PostEntry:
    debited, credited, amount, extra, _ = spec
    lines = [ledger.Line(book[debited], "debit", amount, "USD")]
    parts = [amount // len(credited)] * len(credited)
    parts[0] += amount - sum(parts)
    lines += [
        ledger.Line(book[c], "credit", p, "USD") for c, p in zip(credited, parts, strict=True)
    ]
    if extra:
        lines += [
            ledger.Line(book[credited[0]], "debit", extra, "USD"),
            ledger.Line(book[debited], "credit", extra, "USD"),
        ]
    return ledger.PostEntry(key, lines)


def _play(
    db: Transactions, book: dict[str, uuid.UUID], batches_: list[Any], prefix: str
) -> list[list[tuple[str, str | None, bool]]]:
    outcomes = []
    for b, batch in enumerate(batches_):
        requests = [_request(f"{prefix}-{b}-{i}", book, spec) for i, spec in enumerate(batch)]
        links = [spec[4] for spec in batch[:-1]] + [False]
        try:
            with db.begin() as conn:
                outcomes.append(_outcome(ledger.post_batch(conn, ORG_A, requests, links=links)))
        except ledger.LedgerError as exc:  # the whole call refused
            outcomes.append([(type(exc).__name__, None, False)])
    return outcomes


@settings(
    max_examples=25,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
@given(batches_=st.lists(st.lists(_ENTRY, min_size=1, max_size=6), min_size=1, max_size=4))
def test_both_doors_judge_multi_line_entries_alike(
    transactions: RolledBack, open_account: OpenAccountFn, doors: Doors, batches_: list[Any]
) -> None:
    tag = uuid.uuid4().hex[:8]
    fast_book = _book(transactions, open_account, f"f{tag}")
    long_book = _book(transactions, open_account, f"l{tag}")
    fast = _play(transactions, fast_book, batches_, f"f{tag}")
    doors.long_only = True
    try:
        assert _play(transactions, long_book, batches_, f"l{tag}") == fast
    finally:
        doors.long_only = False
    assert _state(transactions, long_book) == _state(transactions, fast_book)


def test_the_fast_door_takes_an_entry_naming_an_account_twice(
    transactions: RolledBack, open_account: OpenAccountFn, doors: Doors
) -> None:
    """Funded first, the wallet is spent and refunded within one entry: the fast door takes
    it, and each line carries the account's position after it."""
    book = _book(transactions, open_account, uuid.uuid4().hex[:8])
    batch = [
        _request("fund", book, ("cash", ["wallet"], 100, 0, False)),
        _request("spend", book, ("wallet", ["cash", "sales"], 90, 30, False)),
    ]
    with transactions.begin() as conn:
        results = ledger.post_batch(conn, ORG_A, batch)
    assert doors.fast_taken == 1 and [r.status for r in results] == ["posted", "posted"]
    with transactions.connect() as conn:
        entry = ledger.get_entry(conn, results[1].id or uuid.uuid4())
        wallet = [x for x in entry.lines if x.account_id == book["wallet"]]
        assert [(x.side, x.amount, x.account_version) for x in wallet] == [
            ("debit", 90, 2),
            ("credit", 30, 3),
        ]
        assert ledger.balance(conn, book["wallet"]).posted == 100 - 90 + 30
