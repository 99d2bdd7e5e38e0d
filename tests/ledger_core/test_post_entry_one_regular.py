"""The single posting's usual way (`payments.post_entry`, 3a) with ONE regular account beside
high-volume ones: the payment's capture (`payments.capture_card_payment`) posts the escrow
(regular) with the clearing, the platform's fee and Stripe's fee (high-volume). The one
regular row is locked and judged as two are; the high-volume ones are read, not locked. The
entry it writes, its refusals and its replays are those of the long way
(`payments.ledger_write`), which posts the same request on twin accounts here.

Which way a posting took is read from the statistics of the transaction (deltas inside it):
the usual way takes the key by its INSERT alone (one probe of idempotency_keys' index); the
general way (2-4) looks the key up first and then inserts it (two probes); the long way is
counted by its calls (track_functions)."""

from __future__ import annotations

import itertools
import uuid
from collections.abc import Callable
from typing import Literal

import pytest
import sqlalchemy as sa

import ledger
from ledger import writes
from tests.ledger_core.conftest import (
    KEY_PROBES,
    LONG_WAY_CALLS,
    ORG_A,
    ORG_B,
    PLATFORM,
    OpenAccountFn,
)

Door = Callable[[sa.Connection, uuid.UUID, ledger.PostEntry], ledger.WriteResult]


def _fast(conn: sa.Connection, org: uuid.UUID, request: ledger.PostEntry) -> ledger.WriteResult:
    return ledger.post_entry(conn, org, request)


def _long(conn: sa.Connection, org: uuid.UUID, request: ledger.PostEntry) -> ledger.WriteResult:
    return writes._write(conn, org, [request], record_failure=True)[0]


def post(
    engine: sa.Engine, request: ledger.PostEntry, door: Door = _fast
) -> tuple[object, int, int]:
    """Post in a transaction of its own: the result (or the refusal), how many probes of the
    keys' index it made and how many times the long way ran (-1, -1: an invalid request
    raised by the database, which ends the transaction)."""
    with engine.connect() as conn:
        conn.execute(sa.text("SET LOCAL track_functions = 'pl'"))
        # Deltas inside the transaction: the session's counts not yet flushed to the
        # statistics are shown as the transaction's.
        before = int(conn.execute(sa.text(KEY_PROBES)).scalar_one())
        calls = int(conn.execute(sa.text(LONG_WAY_CALLS)).scalar_one())
        try:
            outcome: object = door(conn, ORG_A, request)
        except ledger.InvalidRequest as exc:
            conn.rollback()
            return exc, -1, -1
        except ledger.LedgerError as exc:
            outcome = exc
        try:
            probes = int(conn.execute(sa.text(KEY_PROBES)).scalar_one()) - before
            long_way = int(conn.execute(sa.text(LONG_WAY_CALLS)).scalar_one()) - calls
        except sa.exc.DBAPIError:  # a refusal raised (not recorded) ended the transaction
            conn.rollback()
            return outcome, -1, -1
        conn.commit()
    return outcome, probes, long_way


def _open(open_account: OpenAccountFn, tag: str) -> dict[str, uuid.UUID]:
    return {
        "clearing": open_account(ORG_A, f"clearing{tag}", "asset", high_volume=True),
        "escrow": open_account(ORG_A, f"escrow{tag}", "liability"),
        "wallet": open_account(
            ORG_A, f"wallet{tag}", "liability", debits_must_not_exceed_credits=True
        ),
        "closed": open_account(ORG_A, f"closed{tag}", "liability"),
        "euro": open_account(ORG_A, f"euro{tag}", "liability", "EUR"),
        "b_escrow": open_account(ORG_B, f"b-escrow{tag}", "liability"),
        "sales": open_account(ORG_A, f"sales{tag}", "revenue"),
        "fees": open_account(PLATFORM, f"fees{tag}", "revenue", high_volume=True),
        "stripe": open_account(PLATFORM, f"stripe{tag}", "expense", high_volume=True),
    }


@pytest.fixture
def twins(
    engine: sa.Engine, open_account: OpenAccountFn
) -> tuple[dict[str, uuid.UUID], dict[str, uuid.UUID]]:
    """Two sets of the same accounts: one posted the usual way, one the long way."""
    a, b = _open(open_account, ""), _open(open_account, "-twin")
    with engine.begin() as conn:
        for accounts, key in ((a, "close"), (b, "close-twin")):
            ledger.close_account(conn, ORG_A, ledger.CloseAccount(key, accounts["closed"]))
    return a, b


def capture(
    key: str,
    a: dict[str, uuid.UUID],
    order: tuple[int, ...] = (0, 1, 2, 3),
    *,
    regular: str = "escrow",
    amount: int = 1_000,
    regular_side: Literal["debit", "credit"] = "credit",
) -> ledger.PostEntry:
    """The capture's shape, in `order`: the clearing debited `amount`, the regular account
    credited the rest, the platform's fee and Stripe's fee credited (59 and 41); or (the
    regular account debited) the regular account paying the clearing and the fees."""
    if regular_side == "credit":
        first = ledger.Line(a["clearing"], "debit", amount, "USD")
        second = ledger.Line(a[regular], "credit", amount - 100, "USD")
    else:
        first = ledger.Line(a[regular], "debit", amount, "USD")
        second = ledger.Line(a["clearing"], "credit", amount - 100, "USD")
    lines = [
        first,
        second,
        ledger.Line(a["fees"], "credit", 59, "USD"),
        ledger.Line(a["stripe"], "credit", 41, "USD"),
    ]
    return ledger.PostEntry(key, [lines[i] for i in order])


def _lines(
    engine: sa.Engine, entry: uuid.UUID, names: dict[uuid.UUID, str]
) -> list[tuple[object, ...]]:
    """The entry's lines in order, each account by its name in the set."""
    with engine.connect() as conn:
        return [
            (names[r.account_id], *r[1:])
            for r in conn.execute(
                sa.text(
                    "SELECT account_id, side, amount, currency, account_version,"
                    " account_posted_debits, account_posted_credits, org_id"
                    " FROM payments.lines WHERE entry_id = :e ORDER BY id"
                ),
                {"e": entry},
            )
        ]


def _positions(
    engine: sa.Engine, a: dict[str, uuid.UUID]
) -> dict[str, tuple[int, int, int | None]]:
    with engine.connect() as conn:
        out = {}
        for name, account in a.items():
            b = ledger.balance(conn, account)
            out[name] = (b.posted_debits, b.posted_credits, b.version)
        return out


@pytest.mark.parametrize("order", [(0, 1, 2, 3), (1, 0, 2, 3), (2, 3, 1, 0), (3, 2, 0, 1)])
def test_one_regular_account_beside_high_volume_ones_takes_the_usual_way(
    engine: sa.Engine,
    twins: tuple[dict[str, uuid.UUID], dict[str, uuid.UUID]],
    order: tuple[int, ...],
) -> None:
    """Whatever the lines' order: the usual way (one probe of the keys, no long way), the
    same lines and positions as the long way writes on the twin accounts, the same
    replay from either door, a conflict for another request under the key."""
    a, b = twins
    result, probes, long_way = post(engine, capture("c1", a, order))
    assert isinstance(result, ledger.WriteResult) and not result.replayed
    assert (probes, long_way) == (1, 0)
    twin, _, long_calls = post(engine, capture("c1-twin", b, order), _long)
    assert isinstance(twin, ledger.WriteResult) and long_calls == 1
    names_a = {v: k for k, v in a.items()}
    names_b = {v: k for k, v in b.items()}
    lines = _lines(engine, result.id, names_a)
    assert lines == _lines(engine, twin.id, names_b)
    assert [line[4] for line in lines] == [
        1 if names_a[line.account_id] == "escrow" else None
        for line in capture("c1", a, order).lines
    ]
    assert ("escrow", "credit", 900, "USD", 1, 0, 900, ORG_A) in lines
    assert _positions(engine, a) == _positions(engine, b)
    # A replay answers the first result from either door, nothing moved; another request
    # under the key conflicts.
    for door in (_fast, _long):
        again, _, _ = post(engine, capture("c1", a, order), door)
        assert again == ledger.WriteResult(id=result.id, replayed=True)
        again_twin, _, _ = post(engine, capture("c1-twin", b, order), door)
        assert again_twin == ledger.WriteResult(id=twin.id, replayed=True)
        conflict, _, _ = post(engine, capture("c1", a, order, amount=2_000), door)
        assert isinstance(conflict, ledger.IdempotencyConflict)
    assert _positions(engine, a)["escrow"] == (0, 900, 1)
    # A second capture moves the escrow on from its position.
    second, probes, long_way = post(engine, capture("c2", a, order))
    assert isinstance(second, ledger.WriteResult) and (probes, long_way) == (1, 0)
    assert ("escrow", "credit", 900, "USD", 2, 0, 1_800, ORG_A) in _lines(
        engine, second.id, names_a
    )


def test_the_probe_tells_the_ways_apart(
    engine: sa.Engine, twins: tuple[dict[str, uuid.UUID], dict[str, uuid.UUID]]
) -> None:
    """Two regular accounts and a fee: the usual way (one probe); one regular account and
    one high-volume one, two lines: not the usual way (the key looked up, then inserted)."""
    a, _ = twins
    two = ledger.PostEntry(
        "t2",
        [
            ledger.Line(a["sales"], "debit", 100, "USD"),
            ledger.Line(a["escrow"], "credit", 95, "USD"),
            ledger.Line(a["fees"], "credit", 5, "USD"),
        ],
    )
    assert post(engine, two)[1:] == (1, 0)
    pair = ledger.PostEntry(
        "t1",
        [
            ledger.Line(a["clearing"], "debit", 10, "USD"),
            ledger.Line(a["escrow"], "credit", 10, "USD"),
        ],
    )
    outcome, probes, long_way = post(engine, pair)
    assert isinstance(outcome, ledger.WriteResult)
    assert (probes, long_way) == (2, 0)


@pytest.mark.parametrize(
    ("regular", "side", "error"),
    [
        ("wallet", "debit", ledger.InsufficientFunds),  # the overdraft flag
        ("closed", "credit", ledger.AccountClosed),
        ("euro", "credit", ledger.CurrencyMismatch),
        ("b_escrow", "credit", ledger.AccountOrganizationMismatch),  # ORG_B's
    ],
)
def test_a_regular_account_that_cannot_take_it_is_refused_as_the_long_way_refuses(
    engine: sa.Engine,
    twins: tuple[dict[str, uuid.UUID], dict[str, uuid.UUID]],
    regular: str,
    side: Literal["debit", "credit"],
    error: type,
) -> None:
    """Over its overdraft flag, closed, another currency, another organization's: nothing
    moved, the refusal (its type and details) the long way gives on the twin accounts, the
    same refusal on a replay."""
    a, b = twins
    before = _positions(engine, a)
    outcome, _, _ = post(engine, capture("r1", a, regular=regular, regular_side=side))
    twin, _, _ = post(engine, capture("r1-twin", b, regular=regular, regular_side=side), _long)
    assert isinstance(outcome, error), outcome
    assert type(twin) is type(outcome)
    assert isinstance(outcome, ledger.LedgerError) and isinstance(twin, ledger.LedgerError)
    names_a = {str(v): k for k, v in a.items()}
    names_b = {str(v): k for k, v in b.items()}

    def named(details: dict[str, object], names: dict[str, str]) -> dict[str, object]:
        return {k: names.get(str(v), v) for k, v in details.items()}

    assert named(outcome.details, names_a) == named(twin.details, names_b)
    assert _positions(engine, a) == before
    again, _, _ = post(engine, capture("r1", a, regular=regular, regular_side=side))
    assert type(again) is type(outcome)


def test_every_order_of_lines_posts_the_same_positions(
    engine: sa.Engine, twins: tuple[dict[str, uuid.UUID], dict[str, uuid.UUID]]
) -> None:
    """All 24 orders of the capture's lines, one after another, the usual way each time:
    the escrow's version and total move by one capture each."""
    a, _ = twins
    for n, order in enumerate(itertools.permutations(range(4))):
        result, probes, long_way = post(engine, capture(f"p{n}", a, order))
        assert isinstance(result, ledger.WriteResult) and (probes, long_way) == (1, 0), order
    assert _positions(engine, a)["escrow"] == (0, 900 * 24, 24)
    with engine.connect() as conn:
        assert ledger.trial_balance(conn).balanced
