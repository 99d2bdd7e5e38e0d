"""Tamper evidence: an entry forged as superuser with a recorded time before the last seal
(review finding F2 of stop 25) is named by verify and never sealed into the chain."""

from __future__ import annotations

import sqlalchemy as sa

import ledger
from liventix.testing.rollback import RolledBack
from tests.ledger_core.conftest import ORG_A, OpenAccountFn, transfer

_FORGE_ENTRY = sa.text(
    "INSERT INTO payments.entries (org_id, created_at, effective_at)"
    " VALUES (:org, '2020-01-01', '2020-01-01') RETURNING id"
)
_FORGE_LINE = sa.text(
    "INSERT INTO payments.lines (entry_id, entry_org_id, org_id, account_id, side, amount,"
    " currency, effective_at, created_at)"
    " VALUES (:e, :o, :o, :a, :s, 1000000, 'USD', '2020-01-01', '2020-01-01')"
)


def test_a_backdated_forged_entry_is_named_and_never_sealed(
    db: RolledBack, open_account: OpenAccountFn
) -> None:
    cash, sales = open_account(ORG_A, "cash", "asset"), open_account(ORG_A, "sales", "revenue")
    with db.begin() as conn:
        ledger.post_entry(conn, ORG_A, transfer("real", cash, sales, 5))
        assert ledger.seal(conn).sealed == 1
    with db.begin() as conn:
        # As the superuser would: the triggers off, a balanced pair dated before the seal.
        conn.execute(sa.text("SET LOCAL session_replication_role = replica"))
        forged = conn.execute(_FORGE_ENTRY, {"org": ORG_A}).scalar_one()
        for account, side in ((cash, "debit"), (sales, "credit")):
            conn.execute(_FORGE_LINE, {"e": forged, "o": ORG_A, "a": account, "s": side})
        conn.execute(sa.text("SET LOCAL session_replication_role = origin"))
    with db.begin() as conn:
        before = ledger.verify(conn)
        assert [(m.kind, m.entry_id) for m in before.mismatches] == [("entry_not_sealed", forged)]
        assert ledger.seal(conn).sealed == 0
        after = ledger.verify(conn)
        assert [(m.kind, m.entry_id) for m in after.mismatches] == [("entry_not_sealed", forged)]
