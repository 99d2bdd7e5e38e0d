"""The engine's two fast doors, called directly by the application's role with an
organization's proof, never post a malformed entry: `payments.post_entry` sends an unbalanced,
one-line or empty entry the long way (ledger_write refuses it with its typed error, LX001)
even when every account is high-volume (none of them is locked or moved, so the accounts'
rules alone would pass it); `payments.post_batch_fast` refuses a batch whose lines name no
entry (a NULL in p_entry_of). Each case leaves no entry, no line and no change to any
account."""

from __future__ import annotations

import uuid
from typing import Any

import pytest
import sqlalchemy as sa

from tests.ledger_core.conftest import ORG_A, OpenAccountFn, present_key
from tests.ledger_core.test_tenancy import message, sqlstate

POST_ENTRY = sa.text(
    "SELECT status, id, replayed, code, details FROM payments.post_entry(:org, :key, :hash,"
    " CAST(:accounts AS uuid[]), CAST(:sides AS text[]), CAST(:amounts AS bigint[]),"
    " CAST(:currencies AS text[]), NULL, NULL, NULL, :ref)"
)

POST_BATCH_FAST = sa.text(
    "SELECT payments.post_batch_fast(:org, CAST(:keys AS text[]), CAST(:hashes AS text[]),"
    " CAST(:descriptions AS text[]), CAST(:metadata AS jsonb[]),"
    " CAST(:effective_at AS timestamptz[]), CAST(:refs AS text[]), CAST(:entry_of AS int[]),"
    " CAST(:accounts AS uuid[]), CAST(:sides AS text[]), CAST(:amounts AS bigint[]),"
    " CAST(:currencies AS text[]))"
)


def _written(engine: sa.Engine) -> tuple[Any, ...]:
    """A's entries and lines, and every account's totals and version (as the owner)."""
    with engine.connect() as conn:
        entries = conn.execute(
            sa.text("SELECT count(*) FROM payments.entries WHERE org_id = :o"), {"o": ORG_A}
        ).scalar_one()
        lines = conn.execute(
            sa.text("SELECT count(*) FROM payments.lines WHERE entry_org_id = :o"), {"o": ORG_A}
        ).scalar_one()
        accounts = conn.execute(
            sa.text(
                "SELECT id, posted_debits, posted_credits, version FROM payments.accounts"
                " ORDER BY id"
            )
        ).all()
    return entries, lines, tuple(accounts)


def _post_entry(
    app_engine: sa.Engine, key: str, lines: list[tuple[uuid.UUID, str, int]], ref: str | None
) -> Any:
    with app_engine.begin() as conn:
        present_key(conn, ORG_A)
        return conn.execute(
            POST_ENTRY,
            {
                "org": ORG_A,
                "key": key,
                "hash": f"hash of {key}",
                "accounts": [a for a, _, _ in lines],
                "sides": [s for _, s, _ in lines],
                "amounts": [n for _, _, n in lines],
                "currencies": ["USD"] * len(lines),
                "ref": ref,
            },
        ).one()


def test_post_entry_sends_a_malformed_entry_on_high_volume_accounts_the_long_way(
    engine: sa.Engine, app_engine: sa.Engine, open_account: OpenAccountFn
) -> None:
    hot_a = open_account(ORG_A, "hot-a", "asset", high_volume=True)
    hot_b = open_account(ORG_A, "hot-b", "revenue", high_volume=True)
    before = _written(engine)
    cases = {
        "unbalanced": ([(hot_a, "debit", 100), (hot_b, "credit", 1)], "unbalanced_entry"),
        "one-line": ([(hot_a, "debit", 5)], "too_few_lines"),
        "empty": ([], "too_few_lines"),
    }
    for key, (lines, code) in cases.items():
        # Refused by the long way with its typed error (LX001, the code as its message), at
        # the call or, for the balance, at commit: the transaction is undone either way.
        with pytest.raises(sa.exc.DBAPIError) as refused:
            _post_entry(app_engine, key, lines, ref=f"ref-{key}")
        assert (sqlstate(refused.value), message(refused.value)) == ("LX001", code), key
        assert _written(engine) == before, key
    # The references were not used up: a valid entry under one of them posts.
    good = _post_entry(
        app_engine, "good", [(hot_a, "debit", 7), (hot_b, "credit", 7)], ref="ref-empty"
    )
    assert (good.status, good.replayed) == ("succeeded", False)
    with engine.connect() as conn:
        posted = conn.execute(
            sa.text("SELECT count(*) FROM payments.lines WHERE entry_id = :e"), {"e": good.id}
        ).scalar_one()
    assert posted == 2


def test_post_batch_fast_refuses_lines_of_no_entry(
    engine: sa.Engine, app_engine: sa.Engine, open_account: OpenAccountFn
) -> None:
    cash = open_account(ORG_A, "cash", "asset")
    sales = open_account(ORG_A, "sales", "revenue")
    before = _written(engine)

    def batch(entry_of: list[int | None]) -> Any:
        n = 3
        with app_engine.begin() as conn:
            present_key(conn, ORG_A)
            return conn.execute(
                POST_BATCH_FAST,
                {
                    "org": ORG_A,
                    "keys": [f"b{i}" for i in range(n)],
                    "hashes": [f"hash of b{i}" for i in range(n)],
                    "descriptions": [""] * n,
                    "metadata": ["{}"] * n,
                    "effective_at": [None] * n,
                    "refs": [None] * n,
                    "entry_of": entry_of,
                    "accounts": [cash, sales] * 3,
                    "sides": ["debit", "credit"] * 3,
                    "amounts": [10] * 6,
                    "currencies": ["USD"] * 6,
                },
            ).scalar_one()

    for entry_of in ([1, 1, 3, 3, None, None], [None, None, 1, 1, 2, 2], [1, 1, 2, 2, 3, None]):
        assert batch(entry_of) is None, entry_of
        assert _written(engine) == before, entry_of
    # The same batch, every line in an entry, posts fast.
    ids = batch([1, 1, 2, 2, 3, 3])
    assert ids is not None and len(ids) == 3
    with engine.connect() as conn:
        posted = conn.execute(
            sa.text("SELECT count(*) FROM payments.lines WHERE entry_id = ANY (:e)"), {"e": ids}
        ).scalar_one()
    assert posted == 6
