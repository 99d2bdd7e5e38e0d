"""A plain posting whose external reference another transaction takes while it runs.

The fast door checks that no entry of the organization has the reference before it writes,
but a concurrent transaction's uncommitted entry is not visible to that check: the posting's
INSERT of its entry then waits on the unique index (`entries_org_external_ref_key`) for the
other transaction, and fails with a unique violation once that one commits. The caller gets
`DuplicateExternalReference` (no entry id: the other entry was not yet visible), never the
driver's IntegrityError (an API caller would see a 5xx), and nothing of the posting is
written; a retry under its key is refused the same way. Two sessions, for real: one holds
the reference uncommitted, the posting waits on it (seen in pg_stat_activity, no timing
assertion), the holder commits.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable

import pytest
import sqlalchemy as sa
from sqlalchemy.exc import DBAPIError

import ledger
from tests.ledger_core.conftest import ORG_A, OpenAccountFn, race_a_holder, transfer

_REF = "ch_taken_meanwhile"


def _alone(engine: sa.Engine, request: ledger.PostEntry) -> ledger.WriteResult:
    return ledger.post_entry_now(engine, ORG_A, request)


def _in_transaction(engine: sa.Engine, request: ledger.PostEntry) -> ledger.WriteResult:
    with engine.begin() as conn:
        return ledger.post_entry(conn, ORG_A, request)


_WAYS: dict[str, Callable[[sa.Engine, ledger.PostEntry], ledger.WriteResult]] = {
    "post_entry_now": _alone,
    "post_entry": _in_transaction,
}


@pytest.mark.parametrize("way", sorted(_WAYS))
def test_a_reference_taken_while_the_posting_waits_is_a_typed_refusal(
    engine: sa.Engine, open_account: OpenAccountFn, way: str
) -> None:
    cash = open_account(ORG_A, "cash", "asset")
    sales = open_account(ORG_A, "sales", "revenue")
    cash2 = open_account(ORG_A, "cash2", "asset")
    sales2 = open_account(ORG_A, "sales2", "revenue")
    post = _WAYS[way]
    request = transfer(f"late-{uuid.uuid4().hex[:8]}", cash, sales, 7, external_ref=_REF)
    holder_conn = engine.connect()
    # Session 1 posts the reference on other accounts and holds it uncommitted.
    first = ledger.post_entry(
        holder_conn, ORG_A, transfer("first", cash2, sales2, 5, external_ref=_REF)
    )
    refused = race_a_holder(
        engine, holder_conn, lambda: post(engine, request), "the reference's holder"
    )
    assert isinstance(refused, ledger.DuplicateExternalReference), refused
    assert refused.external_ref == _REF
    assert refused.entry_id is None
    assert isinstance(refused.__cause__, DBAPIError)
    with engine.connect() as conn:
        assert ledger.balance(conn, cash).version == 0
        assert ledger.balance(conn, sales).version == 0
        entries = conn.execute(
            sa.text("SELECT id FROM payments.entries WHERE org_id = :org AND external_ref = :ref"),
            {"org": ORG_A, "ref": _REF},
        ).scalars()
        assert [str(e) for e in entries] == [str(first.id)]
    # A retry under the key sees the committed entry: refused the same way.
    with pytest.raises(ledger.DuplicateExternalReference):
        post(engine, request)
