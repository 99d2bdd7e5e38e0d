"""Hypothesis on the real database: for any sequence of nestings and account memberships, a
nesting is refused with `CategoryCycle` exactly when it would close a cycle, and every
category's balance (now) is the sum over the distinct accounts it reaches, however many paths
reach them, as a plain graph walk in Python computes it."""

from __future__ import annotations

import uuid

import pytest
import sqlalchemy as sa
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import ledger
from tests.ledger_core.conftest import ORG_A, OpenAccountFn, transfer

N_CATEGORIES = 5
AMOUNTS = (100, 20, 3, 4000)

steps = st.lists(
    st.one_of(
        st.tuples(
            st.just("nest"), st.integers(0, N_CATEGORIES - 1), st.integers(0, N_CATEGORIES - 1)
        ),
        st.tuples(
            st.just("account"), st.integers(0, N_CATEGORIES - 1), st.integers(0, len(AMOUNTS) - 1)
        ),
    ),
    max_size=14,
)


@pytest.fixture
def funded(conn: sa.Connection, open_account: OpenAccountFn) -> list[uuid.UUID]:
    """Four asset accounts of org A holding AMOUNTS."""
    sink = open_account(ORG_A, "sink", "revenue")
    found = []
    for n, amount in enumerate(AMOUNTS):
        account = open_account(ORG_A, f"a{n}", "asset")
        ledger.post_entry(conn, ORG_A, transfer(f"fund-{n}", account, sink, amount))
        found.append(account)
    return found


def _reaches(edges: set[tuple[int, int]], start: int) -> set[int]:
    seen, todo = {start}, [start]
    while todo:
        node = todo.pop()
        for parent, child in edges:
            if parent == node and child not in seen:
                seen.add(child)
                todo.append(child)
    return seen


@settings(
    max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(script=steps)
def test_cycles_refused_exactly_and_balances_are_sums_over_reached_accounts(
    conn: sa.Connection, funded: list[uuid.UUID], script: list[tuple[str, int, int]]
) -> None:
    with conn.begin_nested() as example:
        cats = [
            ledger.create_category(
                conn,
                ORG_A,
                ledger.CreateCategory(
                    idempotency_key=f"c{n}-{uuid.uuid4()}",
                    code=f"c{n}-{uuid.uuid4()}",
                    currency="USD",
                    normal_side="debit",
                ),
            ).id
            for n in range(N_CATEGORIES)
        ]
        nests: set[tuple[int, int]] = set()
        holds: set[tuple[int, int]] = set()
        for kind, parent, other in script:
            key = f"s-{uuid.uuid4()}"
            if kind == "account":
                ledger.add_category_members(
                    conn,
                    ORG_A,
                    ledger.CategoryMembers(
                        idempotency_key=key, category_id=cats[parent], account_ids=[funded[other]]
                    ),
                )
                holds.add((parent, other))
                continue
            closes = parent in _reaches(nests, other)
            if closes:
                with pytest.raises(ledger.CategoryCycle), conn.begin_nested():
                    ledger.add_category_members(
                        conn,
                        ORG_A,
                        ledger.CategoryMembers(
                            idempotency_key=key,
                            category_id=cats[parent],
                            category_ids=[cats[other]],
                        ),
                    )
                continue
            ledger.add_category_members(
                conn,
                ORG_A,
                ledger.CategoryMembers(
                    idempotency_key=key, category_id=cats[parent], category_ids=[cats[other]]
                ),
            )
            nests.add((parent, other))
        found = ledger.category_balances(conn, cats)
        for n, cat in enumerate(cats):
            accounts = {a for c in _reaches(nests, n) for (p, a) in holds if p == c}
            assert found[cat].accounts == len(accounts)
            assert found[cat].posted == sum(AMOUNTS[a] for a in accounts)
            assert ledger.category_accounts(conn, cat) == {funded[a] for a in accounts}
        example.rollback()
