"""The batch's fast door takes high-volume accounts (the platform's fee revenue), as a single
posting's fast door does: read, not locked; their lines carry no position until the roll-up;
an account near the overflow limits sends the batch the long way. (That both doors give the
same results for random batches touching a high-volume account is
test_batch_fast.test_both_doors_give_the_same_results.)"""

from __future__ import annotations

import uuid

import sqlalchemy as sa

import ledger
from tests.ledger_core.conftest import ORG_A, PLATFORM, Doors, OpenAccountFn


def _sale(
    key: str, cash: uuid.UUID, sales: uuid.UUID, fees: uuid.UUID, amount: int
) -> ledger.PostEntry:
    fee = amount // 10
    return ledger.PostEntry(
        key,
        [
            ledger.Line(cash, "debit", amount, "USD"),
            ledger.Line(sales, "credit", amount - fee, "USD"),
            ledger.Line(fees, "credit", fee, "USD"),
        ],
    )


def test_a_batch_with_a_high_volume_account_takes_the_fast_door(
    engine: sa.Engine, open_account: OpenAccountFn, doors: Doors
) -> None:
    cash = open_account(ORG_A, "cash", "asset")
    sales = open_account(ORG_A, "sales", "revenue")
    fees = open_account(PLATFORM, "fees", "revenue", high_volume=True)
    batch = [_sale(f"s{i}", cash, sales, fees, 100 + 10 * i) for i in range(20)]
    with engine.begin() as conn:
        results = ledger.post_batch(conn, ORG_A, batch)
    assert doors.fast_taken == 1
    assert all(r.status == "posted" for r in results)
    total_fees = sum((100 + 10 * i) // 10 for i in range(20))
    with engine.connect() as conn:
        unrolled = conn.execute(
            sa.text(
                "SELECT count(*) FROM payments.lines"
                " WHERE account_id = :a AND account_version IS NULL"
            ),
            {"a": fees},
        ).scalar_one()
        assert unrolled == 20
        assert ledger.balance(conn, fees).posted == total_fees  # exact before the roll-up
        assert ledger.balance(conn, cash).version == 20  # the regular accounts moved
    with engine.begin() as conn:  # the owner, as the worker
        assert ledger.roll_up(conn) == 20
    with engine.connect() as conn:
        assert ledger.balance(conn, fees).posted == total_fees
        assert ledger.balance(conn, fees).version == 20
    with engine.begin() as conn:  # a replay goes the long way and answers the same
        again = ledger.post_batch(conn, ORG_A, batch)
    assert doors.fast_taken == 1
    assert [r.id for r in again] == [r.id for r in results] and all(r.replayed for r in again)


def test_a_high_volume_account_near_its_limits_sends_the_batch_the_long_way(
    engine: sa.Engine, open_account: OpenAccountFn, doors: Doors
) -> None:
    """A line of 2**40 or more on a high-volume account is judged the long way (which sums
    the account's lines not yet rolled up); the batch still posts there."""
    cash = open_account(ORG_A, "cash", "asset")
    sales = open_account(ORG_A, "sales", "revenue")
    fees = open_account(PLATFORM, "fees", "revenue", high_volume=True)
    big = 2**40 * 10
    with engine.begin() as conn:
        results = ledger.post_batch(
            conn,
            ORG_A,
            [_sale("big", cash, sales, fees, big), _sale("small", cash, sales, fees, 50)],
        )
    assert doors.fast_taken == 0
    assert [r.status for r in results] == ["posted", "posted"]
    with engine.connect() as conn:
        assert ledger.balance(conn, fees).posted == big // 10 + 5
    # Now an unrolled large line sits on the account: the next small batch goes long too.
    with engine.begin() as conn:
        ledger.post_batch(conn, ORG_A, [_sale("after", cash, sales, fees, 70)])
    assert doors.fast_taken == 0
    with engine.begin() as conn:
        ledger.roll_up(conn)
    with engine.begin() as conn:  # rolled up, far from the limits: the fast door again
        ledger.post_batch(conn, ORG_A, [_sale("later", cash, sales, fees, 70)])
    assert doors.fast_taken == 1
