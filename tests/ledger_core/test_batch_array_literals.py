"""The batch's arrays go to PostgreSQL as text array literals built in Python
(`ledger.batches._quoted`): PostgreSQL reads back exactly the strings and NULLs sent, whatever
they hold (quotes, backslashes, braces, commas, spaces, the word NULL, any Unicode), and a
batch's keys, descriptions, metadata and references arrive intact."""

from __future__ import annotations

import uuid

import sqlalchemy as sa
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import ledger
from ledger.batches import _quoted
from liventix.testing.rollback import RolledBack
from tests.ledger_core.conftest import ORG_A, OpenAccountFn, transfer

# No NUL (PostgreSQL's text has none) and only what UTF-8 encodes (no lone surrogate: no
# request can carry one; drawn, it failed the driver's encoding, not the literal).
_TEXT = st.text(alphabet=st.characters(codec="utf-8", exclude_characters="\x00"), max_size=12)
_ITEM = st.one_of(
    st.none(),
    st.just(""),
    st.just("NULL"),
    st.sampled_from(['"', "\\", "{", "}", ",", " a "]),
    _TEXT,
)


@settings(
    max_examples=200, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(items=st.lists(_ITEM, min_size=1, max_size=8))
def test_postgresql_reads_back_what_was_sent(db: RolledBack, items: list[str | None]) -> None:
    with db.connect() as conn:
        back = conn.execute(sa.text("SELECT CAST(:a AS text[])"), {"a": _quoted(items)}).scalar()
    assert back == items


def test_a_batchs_strings_arrive_intact(db: RolledBack, open_account: OpenAccountFn) -> None:
    cash = open_account(ORG_A, "cash", "asset")
    sales = open_account(ORG_A, "sales", "revenue")
    odd = ['k "1"', "k\\2", "{k,3}", "NULL", "ключ 5"]
    batch = [
        transfer(
            key,
            cash,
            sales,
            5,
            description=f"d {key}",
            metadata={"note": key, "n": i} if i % 2 else {},
            external_ref=f"ref {key}" if i != 1 else None,
        )
        for i, key in enumerate(odd)
    ]
    with db.begin() as conn:
        results = ledger.post_batch(conn, ORG_A, batch)
    assert [r.status for r in results] == ["posted"] * len(odd)
    with db.connect() as conn:
        for i, key in enumerate(odd):
            entry_id = ledger.entry_by_key(conn, ORG_A, key)
            assert entry_id is not None and entry_id == results[i].id
            entry = ledger.get_entry(conn, entry_id)
            assert entry.description == f"d {key}"
            assert entry.metadata == ({"note": key, "n": i} if i % 2 else {})
            assert entry.external_ref == (f"ref {key}" if i != 1 else None)
    # the same batch again replays, entry by entry: the fingerprints were stored intact
    with db.begin() as conn:
        again = ledger.post_batch(conn, ORG_A, batch)
    assert [r.id for r in again] == [r.id for r in results] and all(r.replayed for r in again)
    assert uuid.UUID(str(results[0].id)).version == 7
