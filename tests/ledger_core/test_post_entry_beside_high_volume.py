"""The single posting's usual way (`payments.post_entry`, 3a) for regular accounts beside
high-volume ones, since session 34: the regular rows of an organization locked by a statement
of their own (primary-key probes, id order), the high-volume ones read by another, each run
only while an account is missing (the organization's regular ones, the platform's
high-volume ones, the organization's high-volume ones, the platform's regular ones). The hot
sale (two of the organization's regular accounts, the platform's high-volume fee) and the
payment's capture (the escrow beside the platform's three high-volume accounts) run two
such statements; session 33's 3a ran a UNION ALL of both kinds per organization (two index
scans of the accounts each), the general way (2-4) looks the key up first.

Which way a posting took is read from the transaction's statistics: the probes of the keys'
index (one: 3a; two: the general way), the index scans of the accounts (3a's statements,
the UPDATE and the high-volume accounts' closed recheck, one each: four for the hot sale and
the capture; session 33's 3a made six) and the calls of the long way (`ledger_write`). What
the usual way writes, replays and refuses is compared with the long way's on twin accounts."""

from __future__ import annotations

import itertools
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Literal

import pytest
import sqlalchemy as sa

import ledger
from ledger import writes
from tests.ledger_core.conftest import ORG_A, ORG_B, PLATFORM, OpenAccountFn, present_key
from tests.ledger_core.test_post_entry_one_regular import _lines as _named_lines
from tests.ledger_core.test_post_entry_one_regular import _positions

_COUNTS = (
    "SELECT coalesce(sum(idx_scan) FILTER (WHERE relid = 'payments.idempotency_keys'::regclass),"
    " 0), coalesce(sum(idx_scan) FILTER (WHERE relid = 'payments.accounts'::regclass), 0),"
    " coalesce(pg_stat_get_xact_function_calls("
    "'payments.ledger_write(jsonb)'::regprocedure), 0)"
    " FROM pg_stat_xact_user_tables"
)

Accounts = dict[str, uuid.UUID]
Door = Callable[[sa.Connection, uuid.UUID, ledger.PostEntry], ledger.WriteResult]


def _fast(conn: sa.Connection, org: uuid.UUID, request: ledger.PostEntry) -> ledger.WriteResult:
    return ledger.post_entry(conn, org, request)


def _long(conn: sa.Connection, org: uuid.UUID, request: ledger.PostEntry) -> ledger.WriteResult:
    return writes._write(conn, org, [request], record_failure=True)[0]


@dataclass(frozen=True)
class Outcome:
    """A posting's result (or refusal) and its transaction's counts (-1: the refusal was
    raised by the database and ended the transaction)."""

    result: object
    key_probes: int
    account_scans: int
    long_way: int


def post(
    engine: sa.Engine,
    request: ledger.PostEntry,
    door: Door = _fast,
    *,
    acting: uuid.UUID | None = None,
) -> Outcome:
    """Post in a transaction of its own, for ORG_A; `acting`: present ORG_A's key first (an
    organization acting for itself, which cannot use the platform's accounts)."""
    with engine.connect() as conn:
        if acting is None:
            conn.execute(sa.text("SET LOCAL track_functions = 'pl'"))
        else:  # not the application's to set: the long way's calls are not counted
            present_key(conn, acting)
        # Deltas inside the transaction: counts not yet flushed are shown as the transaction's.
        before = conn.execute(sa.text(_COUNTS)).one()
        try:
            result: object = door(conn, ORG_A, request)
        except ledger.InvalidRequest as exc:
            conn.rollback()
            return Outcome(exc, -1, -1, -1)
        except ledger.LedgerError as exc:
            result = exc
        try:
            after = conn.execute(sa.text(_COUNTS)).one()
        except sa.exc.DBAPIError:  # a refusal raised (not recorded) ended the transaction
            conn.rollback()
            return Outcome(result, -1, -1, -1)
        conn.commit()
    return Outcome(result, *(int(a) - int(b) for a, b in zip(after, before, strict=True)))


def _open(open_account: OpenAccountFn, tag: str) -> Accounts:
    return {
        "buyer": open_account(ORG_A, f"buyer{tag}", "asset"),
        "seller": open_account(ORG_A, f"seller{tag}", "liability"),
        "escrow": open_account(ORG_A, f"escrow{tag}", "liability"),
        "wallet": open_account(
            ORG_A, f"wallet{tag}", "liability", debits_must_not_exceed_credits=True
        ),
        "capped": open_account(ORG_A, f"capped{tag}", "asset", credits_must_not_exceed_debits=True),
        "closed": open_account(ORG_A, f"closed{tag}", "liability"),
        "euro": open_account(ORG_A, f"euro{tag}", "liability", "EUR"),
        "big": open_account(ORG_A, f"big{tag}", "liability"),
        "filler": open_account(ORG_A, f"filler{tag}", "asset"),
        "org_hv": open_account(ORG_A, f"org-hv{tag}", "asset", high_volume=True),
        "euro_hv": open_account(ORG_A, f"euro-hv{tag}", "asset", "EUR", high_volume=True),
        "b_acct": open_account(ORG_B, f"b-acct{tag}", "liability"),
        "fee": open_account(PLATFORM, f"fee{tag}", "revenue", high_volume=True),
        "clearing": open_account(PLATFORM, f"clearing{tag}", "asset", high_volume=True),
        "stripe": open_account(PLATFORM, f"stripe{tag}", "expense", high_volume=True),
        "near": open_account(PLATFORM, f"near{tag}", "revenue", high_volume=True),
        "p_reg": open_account(PLATFORM, f"p-reg{tag}", "liability"),
        "p_filler": open_account(PLATFORM, f"p-filler{tag}", "asset"),
    }


def _prepare(engine: sa.Engine, a: Accounts, tag: str) -> None:
    """Close `closed`; take `big` within 1,000 of 2**63 - 1 posted credits; take the
    high-volume `near` past 2**61 posted credits (the usual way's limit: the long way judges
    it) by the long way, lines of 2**40 or more."""
    with engine.begin() as conn:
        ledger.close_account(conn, ORG_A, ledger.CloseAccount(f"close{tag}", a["closed"]))
        for n, amount in enumerate((2**62, 2**62 - 1_000)):
            ledger.post_entry(
                conn,
                ORG_A,
                ledger.PostEntry(
                    f"big{tag}-{n}",
                    [
                        ledger.Line(a["filler"], "debit", amount, "USD"),
                        ledger.Line(a["big"], "credit", amount, "USD"),
                    ],
                ),
            )
        ledger.post_entry(
            conn,
            PLATFORM,
            ledger.PostEntry(
                f"near{tag}",
                [
                    ledger.Line(a["p_filler"], "debit", 2**61 + 5, "USD"),
                    ledger.Line(a["near"], "credit", 2**61 + 5, "USD"),
                ],
            ),
        )


@pytest.fixture
def twins(engine: sa.Engine, open_account: OpenAccountFn) -> Iterator[tuple[Accounts, Accounts]]:
    """Two sets of the same accounts: one posted the usual way, one the long way."""
    a, b = _open(open_account, ""), _open(open_account, "-twin")
    _prepare(engine, a, "")
    _prepare(engine, b, "-twin")
    yield a, b


def sale(
    key: str,
    a: Accounts,
    order: tuple[int, ...] = (0, 1, 2),
    *,
    debit: str = "buyer",
    credit: str = "seller",
    fee: str = "fee",
    amount: int = 1_000,
    external_ref: str | None = None,
) -> ledger.PostEntry:
    """The hot sale: `debit` pays `amount`, `credit` gets it less the fee, `fee` gets 50."""
    lines = [
        ledger.Line(a[debit], "debit", amount, "USD"),
        ledger.Line(a[credit], "credit", amount - 50, "USD"),
        ledger.Line(a[fee], "credit", 50, "USD"),
    ]
    return ledger.PostEntry(key, [lines[i] for i in order], external_ref=external_ref)


def capture(
    key: str,
    a: Accounts,
    order: tuple[int, ...] = (0, 1, 2, 3),
    *,
    regular: str = "escrow",
    side: Literal["debit", "credit"] = "credit",
    amount: int = 1_000,
) -> ledger.PostEntry:
    """The capture: the platform's clearing debited, `regular` credited the rest, the fees
    credited; or (`side` debit) `regular` paying the clearing and the fees."""
    other: Literal["debit", "credit"] = "debit" if side == "credit" else "credit"
    lines = [
        ledger.Line(a["clearing"], other, amount, "USD"),
        ledger.Line(a[regular], side, amount - 100, "USD"),
        ledger.Line(a["fee"], side, 59, "USD"),
        ledger.Line(a["stripe"], side, 41, "USD"),
    ]
    return ledger.PostEntry(key, [lines[i] for i in order])


def _lines(engine: sa.Engine, entry: uuid.UUID, a: Accounts) -> list[tuple[object, ...]]:
    """The entry's lines in order, each account by its name in the set."""
    return _named_lines(engine, entry, {v: k for k, v in a.items()})


def _named(error: object, a: Accounts) -> tuple[type, dict[str, object]]:
    """A refusal's type and details, each account by its name in the set."""
    assert isinstance(error, ledger.LedgerError), error
    names = {str(v): k for k, v in a.items()}
    return type(error), {k: names.get(str(v), v) for k, v in error.details.items()}


Shape = Callable[..., ledger.PostEntry]


@pytest.mark.parametrize(
    ("shape", "order"),
    [(sale, o) for o in itertools.permutations(range(3))]
    + [(capture, o) for o in ((0, 1, 2, 3), (1, 0, 2, 3), (3, 2, 1, 0), (2, 1, 3, 0))],
)
def test_the_hot_sale_and_the_capture_take_the_usual_way_of_two_statements(
    engine: sa.Engine,
    twins: tuple[Accounts, Accounts],
    shape: Shape,
    order: tuple[int, ...],
) -> None:
    """One probe of the keys, four index scans of the accounts (the regular ones' lock, the
    platform's high-volume read, the UPDATE, the closed recheck), no long way; the lines and
    positions the long way writes on the twins; the same replay from either door; a
    conflict for another request under the key, from either door."""
    a, b = twins
    first = post(engine, shape("k1", a, order))
    assert isinstance(first.result, ledger.WriteResult) and not first.result.replayed
    assert (first.key_probes, first.account_scans, first.long_way) == (1, 4, 0)
    twin = post(engine, shape("k1-twin", b, order), _long)
    assert isinstance(twin.result, ledger.WriteResult) and twin.long_way == 1
    lines = _lines(engine, first.result.id, a)
    assert lines == _lines(engine, twin.result.id, b)
    assert _positions(engine, a) == _positions(engine, b)
    for door in (_fast, _long):
        again = post(engine, shape("k1", a, order), door)
        assert again.result == ledger.WriteResult(id=first.result.id, replayed=True)
        again_twin = post(engine, shape("k1-twin", b, order), door)
        assert again_twin.result == ledger.WriteResult(id=twin.result.id, replayed=True)
        conflict = post(engine, shape("k1", a, order, amount=2_000), door)
        assert isinstance(conflict.result, ledger.IdempotencyConflict)
        conflict_twin = post(engine, shape("k1-twin", b, order, amount=2_000), door)
        assert isinstance(conflict_twin.result, ledger.IdempotencyConflict)
    assert _positions(engine, a) == _positions(engine, b)
    # A second posting moves the regular accounts on from their positions.
    second = post(engine, shape("k2", a, order))
    assert isinstance(second.result, ledger.WriteResult)
    assert (second.key_probes, second.account_scans, second.long_way) == (1, 4, 0)
    twin2 = post(engine, shape("k2-twin", b, order), _long)
    assert isinstance(twin2.result, ledger.WriteResult)
    assert _lines(engine, second.result.id, a) == _lines(engine, twin2.result.id, b)
    assert _positions(engine, a) == _positions(engine, b)


_REFUSALS: list[tuple[str, Callable[[str, Accounts], ledger.PostEntry], type]] = [
    ("closed debited", lambda k, a: sale(k, a, debit="closed"), ledger.AccountClosed),
    ("closed credited", lambda k, a: sale(k, a, credit="closed"), ledger.AccountClosed),
    ("currency", lambda k, a: sale(k, a, credit="euro"), ledger.CurrencyMismatch),
    ("debit flag", lambda k, a: sale(k, a, debit="wallet"), ledger.InsufficientFunds),
    ("credit flag", lambda k, a: sale(k, a, credit="capped"), ledger.InsufficientFunds),
    ("overflow", lambda k, a: sale(k, a, credit="big", amount=5_000), ledger.BalanceOverflow),
    (
        "another organization's",
        lambda k, a: sale(k, a, credit="b_acct"),
        ledger.AccountOrganizationMismatch,
    ),
    (
        "capture: debit flag",
        lambda k, a: capture(k, a, regular="wallet", side="debit"),
        ledger.InsufficientFunds,
    ),
    ("capture: closed", lambda k, a: capture(k, a, regular="closed"), ledger.AccountClosed),
    (
        "capture: overflow",
        lambda k, a: capture(k, a, regular="big", amount=5_000),
        ledger.BalanceOverflow,
    ),
]


@pytest.mark.parametrize(
    ("request_of", "error"), [(r, e) for _, r, e in _REFUSALS], ids=[n for n, _, _ in _REFUSALS]
)
def test_each_broken_guard_is_refused_as_the_long_way_refuses(
    engine: sa.Engine,
    twins: tuple[Accounts, Accounts],
    request_of: Callable[[str, Accounts], ledger.PostEntry],
    error: type,
) -> None:
    """Each guard broken in turn, on the organization's regular accounts: nothing moved, the
    refusal (type and details) the long way gives on the twins, the same on a replay from
    either door."""
    a, b = twins
    before, before_twin = _positions(engine, a), _positions(engine, b)
    outcome = post(engine, request_of("r1", a))
    twin = post(engine, request_of("r1-twin", b), _long)
    assert isinstance(outcome.result, error), outcome
    assert _named(outcome.result, a) == _named(twin.result, b)
    assert _positions(engine, a) == before
    assert _positions(engine, b) == before_twin
    for door in (_fast, _long):
        again = post(engine, request_of("r1", a), door)
        assert _named(again.result, a) == _named(outcome.result, a)
    assert _positions(engine, a) == before


def test_a_high_volume_account_near_its_limits_goes_the_long_way(
    engine: sa.Engine, twins: tuple[Accounts, Accounts]
) -> None:
    """The platform's fee account past 2**61 posted credits (and a large line unrolled): the
    usual way hands the sale over, nothing moved; the long way posts it as on the twins."""
    a, b = twins
    outcome = post(engine, sale("n1", a, fee="near"))
    assert isinstance(outcome.result, ledger.WriteResult)
    assert (outcome.key_probes, outcome.long_way) == (2, 1)
    twin = post(engine, sale("n1-twin", b, fee="near"), _long)
    assert isinstance(twin.result, ledger.WriteResult)
    assert _lines(engine, outcome.result.id, a) == _lines(engine, twin.result.id, b)
    assert _positions(engine, a) == _positions(engine, b)


def test_a_used_reference_is_refused_as_the_long_way_refuses(
    engine: sa.Engine, twins: tuple[Accounts, Accounts]
) -> None:
    """A sale naming an external reference an entry already has: the long way's refusal."""
    a, b = twins
    for s, tag in ((a, ""), (b, "-twin")):
        first = post(engine, sale(f"u0{tag}", s, external_ref=f"ref{tag}"))
        assert isinstance(first.result, ledger.WriteResult)
    before = _positions(engine, a)
    outcome = post(engine, sale("u1", a, external_ref="ref"))
    twin = post(engine, sale("u1-twin", b, external_ref="ref-twin"), _long)
    assert isinstance(outcome.result, ledger.DuplicateExternalReference)
    assert type(twin.result) is type(outcome.result)
    assert _positions(engine, a) == before


def test_the_platforms_regular_account_is_locked_after_the_organizations(
    engine: sa.Engine, twins: tuple[Accounts, Accounts]
) -> None:
    """A sale crediting the platform's regular account beside the platform's fee: the usual
    way, all four steps (the organization's regular, the platform's high-volume, the
    organization's high-volume, the platform's regular), one UPDATE per organization, the
    closed recheck: seven index scans of the accounts; as the long way writes on the twins."""
    a, b = twins
    for order in ((0, 1, 2), (2, 1, 0)):
        outcome = post(engine, sale(f"p{order[0]}", a, order, credit="p_reg"))
        assert isinstance(outcome.result, ledger.WriteResult)
        assert (outcome.key_probes, outcome.account_scans, outcome.long_way) == (1, 7, 0)
        twin = post(engine, sale(f"p{order[0]}-twin", b, order, credit="p_reg"), _long)
        assert isinstance(twin.result, ledger.WriteResult)
        assert _lines(engine, outcome.result.id, a) == _lines(engine, twin.result.id, b)
    assert _positions(engine, a) == _positions(engine, b)


def test_an_organization_acting_for_itself(
    app_engine: sa.Engine, engine: sa.Engine, twins: tuple[Accounts, Accounts]
) -> None:
    """With its own key the organization cannot use the platform's fee account: refused as
    the long way refuses. Its own high-volume account beside two regular ones takes the
    usual way (its regular ones, then its high-volume ones: no statement for the
    platform's), as the long way writes on the twins."""
    a, b = twins
    outcome = post(app_engine, sale("o1", a), acting=ORG_A)
    twin = post(app_engine, sale("o1-twin", b), _long, acting=ORG_A)
    assert isinstance(outcome.result, ledger.AccountNotFound)
    assert _named(outcome.result, a) == _named(twin.result, b)
    own = post(app_engine, sale("o2", a, fee="org_hv"), acting=ORG_A)
    assert isinstance(own.result, ledger.WriteResult)
    assert (own.key_probes, own.account_scans, own.long_way) == (1, 4, 0)
    own_twin = post(app_engine, sale("o2-twin", b, fee="org_hv"), _long, acting=ORG_A)
    assert isinstance(own_twin.result, ledger.WriteResult)
    assert _lines(engine, own.result.id, a) == _lines(engine, own_twin.result.id, b)
    assert _positions(engine, a) == _positions(engine, b)


_RAW = (
    "SELECT status, code FROM payments.post_entry(:org, :key, 'h', CAST(:accounts AS uuid[]),"
    " CAST(:sides AS text[]), CAST(:amounts AS bigint[]), CAST(:currencies AS text[]), NULL,"
    " NULL, NULL, NULL)"
)


_SIDE = 'new row for relation "lines" violates check constraint "lines_side_check"'
_AMOUNT = 'new row for relation "lines" violates check constraint "lines_amount_check"'


@pytest.mark.parametrize(
    ("case", "lines", "answer"),
    [
        (
            "unbalanced",
            [("buyer", "debit", 100), ("seller", "credit", 60), ("fee", "credit", 30)],
            ("raised", "unbalanced_entry"),
        ),
        (
            "one account twice",
            [("buyer", "debit", 100), ("buyer", "credit", 60), ("fee", "credit", 40)],
            ("succeeded", None, 2),
        ),
        (
            "no side",
            [("buyer", "debit", 100), ("seller", "sideways", 60), ("fee", "credit", 40)],
            ("raised", _SIDE),
        ),
        (
            "zero",
            [
                ("buyer", "debit", 100),
                ("seller", "credit", 0),
                ("seller", "credit", 100),
                ("fee", "credit", 0),
            ],
            ("raised", _AMOUNT),
        ),
        (
            "negative",
            [("buyer", "debit", 100), ("seller", "credit", 150), ("fee", "credit", -50)],
            ("raised", _AMOUNT),
        ),
        (
            "negative past a bigint's net",
            [("buyer", "credit", -(2**62)), ("seller", "credit", -(2**62)), ("fee", "debit", 1)],
            ("raised", _AMOUNT),
        ),
        (
            "the least bigint beside a debit",
            [("buyer", "debit", 100), ("seller", "credit", -(2**63)), ("fee", "credit", 40)],
            ("raised", _AMOUNT),
        ),
        (
            "the least bigint on the high-volume line",
            [("buyer", "debit", 100), ("seller", "credit", 100), ("fee", "credit", -(2**63))],
            ("raised", _AMOUNT),
        ),
        (
            "no account",
            [("buyer", "debit", 100), (None, "credit", 60), ("fee", "credit", 40)],
            ("raised", "account_not_found"),
        ),
        (
            "two currencies",
            [
                ("euro", "debit", 7),
                ("euro_hv", "credit", 7),
                ("clearing", "debit", 5),
                ("fee", "credit", 5),
            ],
            ("succeeded", None, 2),
        ),
    ],
)
def test_a_raw_call_outside_the_usual_shape_goes_the_general_way(
    engine: sa.Engine,
    twins: tuple[Accounts, Accounts],
    case: str,
    lines: list[tuple[str | None, str, int]],
    answer: tuple[object, ...],
) -> None:
    """Arrays the Python side would not send (unbalanced, an account twice, no side, a zero
    or negative amount, no account; or two currencies, each balanced, which the usual way
    does not take), straight to the door: none is written the usual way; the general way
    answers each as it did before session 34 (the same answers with session 33's 3a: these
    cases were run against both), posting the valid ones with two probes of the keys and
    refusing the others with nothing moved. Each line's currency is its account's."""
    a, _ = twins
    before = _positions(engine, a)
    params = {
        "org": ORG_A,
        "key": f"raw-{case}",
        "accounts": [None if n is None else str(a[n]) for n, _, _ in lines],
        "sides": [s for _, s, _ in lines],
        "amounts": [m for _, _, m in lines],
        "currencies": ["EUR" if n in ("euro", "euro_hv") else "USD" for n, _, _ in lines],
    }
    got: tuple[object, ...]
    with engine.connect() as conn:
        probes = int(conn.execute(sa.text(_COUNTS)).one()[0])
        try:
            row = conn.execute(sa.text(_RAW), params).one()
            got = (row.status, row.code, int(conn.execute(sa.text(_COUNTS)).one()[0]) - probes)
            conn.commit()
        except sa.exc.DBAPIError as exc:
            got = ("raised", str(exc.orig).splitlines()[0])
            conn.rollback()
    assert got == answer
    after = _positions(engine, a)
    moved = {k for k, v in before.items() if after[k] != v}
    if answer[0] == "raised":
        assert not moved
    else:
        assert moved == {n for n, _, _ in lines}
