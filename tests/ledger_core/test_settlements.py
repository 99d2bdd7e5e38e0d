"""Settlements through the Python API, against the real database: hand-worked amounts, the
entries covered, at most once per account (raw SQL too), append-only, idempotent by key,
row-level security, and a property: settling in any number of steps covers every entry once
and the amounts add up to the account's balance."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import pytest
import sqlalchemy as sa
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import ledger
from liventix.testing.rollback import RolledBack
from tests.ledger_core.conftest import ORG_A, ORG_B, OpenAccountFn, present_key, transfer


def _settle(key: str, account: uuid.UUID, **kw: object) -> ledger.CreateSettlement:
    return ledger.CreateSettlement(idempotency_key=key, account_id=account, **kw)  # type: ignore[arg-type]


def test_a_settlement_covers_the_unsettled_entries_and_nets_them(
    db: RolledBack, open_account: OpenAccountFn
) -> None:
    cash = open_account(ORG_A, "cash", "asset")
    payable = open_account(ORG_A, "payable", "liability")
    with db.begin() as conn:
        sale1 = ledger.post_entry(conn, ORG_A, transfer("s1", cash, payable, 1_000)).id
        sale2 = ledger.post_entry(conn, ORG_A, transfer("s2", cash, payable, 2_500)).id
        refund = ledger.post_entry(conn, ORG_A, transfer("r1", payable, cash, 300)).id
        done = ledger.create_settlement(conn, ORG_A, _settle("settle-1", payable))
        settlement = ledger.get_settlement(conn, done.id)
        assert not done.replayed
        # A liability's normal side is credit: 1000 + 2500 - 300.
        assert (settlement.amount, settlement.debits, settlement.credits) == (3_200, 300, 3_500)
        assert settlement.currency == "USD" and settlement.entry_count == 3
        assert set(ledger.settlement_entries(conn, done.id)) == {sale1, sale2, refund}
        assert ledger.settlement_of(conn, sale1, payable) == done.id
        assert ledger.settlement_of(conn, sale1, cash) is None
        assert ledger.unsettled_entries(conn, payable) == []
        # The same entries are still unsettled on the other account they touch.
        assert set(ledger.unsettled_entries(conn, cash)) == {sale1, sale2, refund}
        with pytest.raises(ledger.NothingToSettle), conn.begin_nested():
            ledger.create_settlement(conn, ORG_A, _settle("settle-2", payable))
        later = ledger.post_entry(conn, ORG_A, transfer("s3", cash, payable, 70)).id
        second = ledger.create_settlement(conn, ORG_A, _settle("settle-3", payable))
        assert ledger.settlement_entries(conn, second.id) == [later]
        assert ledger.get_settlement(conn, second.id).amount == 70
        page = ledger.list_settlements(conn, account_id=payable)
        assert [s.id for s in page.settlements] == [second.id, done.id] and not page.has_more


def test_chosen_entries_only_each_once(db: RolledBack, open_account: OpenAccountFn) -> None:
    cash = open_account(ORG_A, "cash", "asset")
    payable = open_account(ORG_A, "payable", "liability")
    other = open_account(ORG_A, "other", "asset")
    with db.begin() as conn:
        e1 = ledger.post_entry(conn, ORG_A, transfer("s1", cash, payable, 100)).id
        e2 = ledger.post_entry(conn, ORG_A, transfer("s2", cash, payable, 200)).id
        first = ledger.create_settlement(conn, ORG_A, _settle("k1", payable, entry_ids=[e2]))
        assert ledger.get_settlement(conn, first.id).amount == 200
        with pytest.raises(ledger.EntryAlreadySettled) as caught, conn.begin_nested():
            ledger.create_settlement(conn, ORG_A, _settle("k2", payable, entry_ids=[e1, e2]))
        assert caught.value.details["settlement_id"] == str(first.id)
        assert caught.value.details["entry_id"] == str(e2)
        with pytest.raises(ledger.EntryNotSettleable), conn.begin_nested():
            ledger.create_settlement(conn, ORG_A, _settle("k3", other, entry_ids=[e1]))
        assert ledger.unsettled_entries(conn, payable) == [e1]
        assert ledger.unsettled_nets(conn, payable) == [ledger.UnsettledEntry(e1, 100, None)]
        # On the asset side, both entries debit cash: +100 and +200 on its normal side.
        assert [(u.entry_id, u.net) for u in ledger.unsettled_nets(conn, cash)] == [
            (e1, 100),
            (e2, 200),
        ]


def test_replay_returns_the_first_and_another_payload_conflicts(
    db: RolledBack, open_account: OpenAccountFn
) -> None:
    cash = open_account(ORG_A, "cash", "asset")
    payable = open_account(ORG_A, "payable", "liability")
    with db.begin() as conn:
        ledger.post_entry(conn, ORG_A, transfer("s1", cash, payable, 100))
        first = ledger.create_settlement(conn, ORG_A, _settle("k", payable))
        again = ledger.create_settlement(conn, ORG_A, _settle("k", payable))
        assert again == ledger.WriteResult(first.id, replayed=True)
        with pytest.raises(ledger.IdempotencyConflict), conn.begin_nested():
            ledger.create_settlement(conn, ORG_A, _settle("k", cash))
        # A posting's key is not a settlement's.
        with pytest.raises(ledger.IdempotencyConflict), conn.begin_nested():
            ledger.create_settlement(conn, ORG_A, _settle("s1", payable))


def test_bad_requests_are_typed(db: RolledBack, open_account: OpenAccountFn) -> None:
    payable = open_account(ORG_A, "payable", "liability")
    with db.begin() as conn:
        with pytest.raises(ledger.InvalidRequest), conn.begin_nested():
            ledger.create_settlement(conn, ORG_A, _settle("", payable))
        with pytest.raises(ledger.InvalidRequest), conn.begin_nested():
            ledger.create_settlement(conn, ORG_A, _settle("k", payable, entry_ids=[]))
        naive = datetime(2020, 1, 1)  # naive: the point of the test
        with pytest.raises(ledger.InvalidRequest), conn.begin_nested():
            ledger.create_settlement(conn, ORG_A, _settle("k", payable, up_to=naive))
        future = datetime.now(UTC) + timedelta(days=1)
        with pytest.raises(ledger.InvalidRequest), conn.begin_nested():
            ledger.create_settlement(conn, ORG_A, _settle("k", payable, up_to=future))
        with pytest.raises(ledger.AccountNotFound), conn.begin_nested():
            ledger.create_settlement(conn, ORG_A, _settle("k", uuid.uuid4()))
        with pytest.raises(ledger.NothingToSettle), conn.begin_nested():
            ledger.create_settlement(conn, ORG_A, _settle("k", payable))
        with pytest.raises(ledger.SettlementNotFound), conn.begin_nested():
            ledger.get_settlement(conn, uuid.uuid4())


def test_the_database_refuses_a_second_settlement_and_any_change(
    db: RolledBack, open_account: OpenAccountFn
) -> None:
    cash = open_account(ORG_A, "cash", "asset")
    payable = open_account(ORG_A, "payable", "liability")
    with db.begin() as conn:
        entry = ledger.post_entry(conn, ORG_A, transfer("s1", cash, payable, 100)).id
        done = ledger.create_settlement(conn, ORG_A, _settle("k", payable)).id
    raw = sa.text(
        "INSERT INTO payments.settlements (id, org_id, account_id, currency, debits, credits,"
        " amount, entry_count, up_to, idempotency_key)"
        " VALUES (:id, :org, :acc, 'USD', 0, 100, 100, 1, now(), 'raw')"
    )
    other = uuid.uuid4()
    link = sa.text("INSERT INTO payments.settlement_entries VALUES (:s, :acc, :e, :org)")
    refused = pytest.raises(sa.exc.IntegrityError, match="settlement_entries_once")
    with refused, db.begin() as conn:
        conn.execute(raw, {"id": other, "org": ORG_A, "acc": payable})
        conn.execute(link, {"s": other, "acc": payable, "e": entry, "org": ORG_A})
    for statement in (
        "UPDATE payments.settlements SET amount = 1 WHERE id = :id",
        "DELETE FROM payments.settlements WHERE id = :id",
        "UPDATE payments.settlement_entries SET org_id = org_id WHERE settlement_id = :id",
        "DELETE FROM payments.settlement_entries WHERE settlement_id = :id",
        "TRUNCATE payments.settlement_entries",
    ):
        with pytest.raises(sa.exc.DBAPIError, match="append-only"), db.begin() as conn:
            conn.execute(sa.text(statement), {"id": done})
    # A link to an entry without a line on the account is refused too.
    elsewhere = open_account(ORG_A, "x", "asset")
    with pytest.raises(sa.exc.DBAPIError, match="no line on the"), db.begin() as conn:
        conn.execute(raw, {"id": other, "org": ORG_A, "acc": cash})
        stray = ledger.post_entry(conn, ORG_A, transfer("s2", payable, elsewhere, 5)).id
        conn.execute(
            sa.text("INSERT INTO payments.settlement_entries VALUES (:s, :acc, :e, :org)"),
            {"s": other, "acc": cash, "e": stray, "org": ORG_A},
        )


def test_an_organization_sees_and_settles_only_its_own(
    db: RolledBack, open_account: OpenAccountFn
) -> None:
    cash_a = open_account(ORG_A, "cash", "asset")
    payable_a = open_account(ORG_A, "payable", "liability")
    with db.begin() as conn:
        ledger.post_entry(conn, ORG_A, transfer("s1", cash_a, payable_a, 100))
        mine = ledger.create_settlement(conn, ORG_A, _settle("k", payable_a)).id
    with db.begin() as conn:
        conn.execute(sa.text("SET LOCAL ROLE liventix_app"))
        present_key(conn, ORG_B)
        assert ledger.list_settlements(conn).settlements == []
        with pytest.raises(ledger.SettlementNotFound), conn.begin_nested():
            ledger.get_settlement(conn, mine)
        with (
            pytest.raises((ledger.AccountNotFound, ledger.OrganizationNotFound)),
            conn.begin_nested(),
        ):
            ledger.create_settlement(conn, ORG_B, _settle("k2", payable_a))
        with pytest.raises(ledger.OrganizationNotFound), conn.begin_nested():
            ledger.create_settlement(conn, ORG_A, _settle("k3", payable_a))
        # The application's roles write no settlement but through the door.
        with pytest.raises(sa.exc.ProgrammingError), conn.begin_nested():
            conn.execute(sa.text("DELETE FROM payments.settlement_entries"))
    with db.begin() as conn:
        conn.execute(sa.text("SET LOCAL ROLE liventix_app"))
        present_key(conn, ORG_A)
        assert [s.id for s in ledger.list_settlements(conn).settlements] == [mine]


def test_the_cut_off_leaves_later_entries(engine: sa.Engine, open_account: OpenAccountFn) -> None:
    cash = open_account(ORG_A, "cash", "asset")
    payable = open_account(ORG_A, "payable", "liability")
    with engine.begin() as conn:
        early = ledger.post_entry(conn, ORG_A, transfer("s1", cash, payable, 100)).id
    with engine.begin() as conn:
        cut = conn.execute(sa.text("SELECT clock_timestamp()")).scalar_one()
    with engine.begin() as conn:
        ledger.post_entry(conn, ORG_A, transfer("s2", cash, payable, 900))
    with engine.begin() as conn:
        done = ledger.create_settlement(conn, ORG_A, _settle("k", payable, up_to=cut))
        assert ledger.settlement_entries(conn, done.id) == [early]
        assert ledger.get_settlement(conn, done.id).up_to == cut


@settings(
    max_examples=15, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    steps=st.lists(
        st.tuples(st.integers(1, 10_000), st.booleans(), st.booleans()), min_size=1, max_size=12
    )
)
def test_settling_in_steps_covers_each_entry_once_and_adds_up(
    db: RolledBack, open_account: OpenAccountFn, steps: list[tuple[int, bool, bool]]
) -> None:
    """Entries in and out of a payable, settled whenever the step says: every entry ends in
    exactly one settlement, and the settlements' amounts add up to the balance."""
    run = uuid.uuid4().hex
    cash = open_account(ORG_A, f"cash-{run}", "asset")
    payable = open_account(ORG_A, f"payable-{run}", "liability")
    with db.begin() as conn:
        posted: list[uuid.UUID] = []
        made: list[uuid.UUID] = []
        for n, (amount, incoming, settle) in enumerate(steps):
            debit, credit = (cash, payable) if incoming else (payable, cash)
            posted.append(
                ledger.post_entry(conn, ORG_A, transfer(f"{run}-{n}", debit, credit, amount)).id
            )
            if settle:
                made.append(
                    ledger.create_settlement(conn, ORG_A, _settle(f"{run}-s{n}", payable)).id
                )
        if ledger.unsettled_entries(conn, payable):
            made.append(ledger.create_settlement(conn, ORG_A, _settle(f"{run}-last", payable)).id)
        covered = [e for s in made for e in ledger.settlement_entries(conn, s)]
        assert sorted(covered) == sorted(posted)
        total = sum(ledger.get_settlement(conn, s).amount for s in made)
        assert total == ledger.balance(conn, payable).posted
