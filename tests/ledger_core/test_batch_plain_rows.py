"""The batch's client side (`ledger.batches._plain_rows`): the fast door's columns of plain
entries, validated and fingerprinted without building their payloads, are exactly what the
full validation gives (`PostEntry.payload()` and `fingerprint`), so a key replays the same
whichever door first took it; anything the full validation refuses, or anything unusual, has
no columns (the long way judges it); a batch's columns are its entries', in order, each line
numbered with its entry. Pure: no database."""

from __future__ import annotations

import uuid
from types import SimpleNamespace
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

import ledger
from ledger.batches import _plain_rows
from ledger.errors import LedgerError
from ledger.requests import canonical_json, fingerprint
from tests.ledger_strategies import ACCOUNTS, balanced_lines, requests, valid_requests

_balanced_lines = balanced_lines(max_amount=10**6, shuffle_pair=False)
_requests = requests(_balanced_lines)


def _plain_row(request: ledger.PostEntry) -> SimpleNamespace | None:
    """One entry's columns, as a batch of one gives them."""
    plain = _plain_rows([request])
    if plain is None:
        return None
    assert plain.entry_of == [1] * len(plain.accounts)
    return SimpleNamespace(
        hash=plain.hashes[0],
        key=plain.keys[0],
        description=plain.descriptions[0],
        metadata=plain.metadata[0],
        effective_at=plain.effective_at[0],
        external_ref=plain.external_refs[0],
        accounts=plain.accounts,
        sides=plain.sides,
        amounts=plain.amounts,
        currencies=plain.currencies,
    )


def _full(request: ledger.PostEntry) -> dict[str, Any] | None:
    try:
        return request.payload()
    except LedgerError:
        return None


@settings(max_examples=600, deadline=None)
@given(request=_requests)
def test_a_plain_row_is_what_the_full_validation_gives(request: ledger.PostEntry) -> None:
    row = _plain_row(request)
    payload = _full(request)
    if row is None:
        # Only what the full validation refuses, or a request with conditions, is left to it.
        assert payload is None or request.conditions
        return
    assert payload is not None, "a row for a request the full validation refuses"
    assert row.hash == fingerprint(payload)
    assert row.key == payload["key"]
    assert row.description == payload["description"]
    assert row.metadata == (canonical_json(payload["metadata"]) if payload["metadata"] else None)
    assert row.effective_at == payload["effective_at"]
    assert row.external_ref == payload["external_ref"]
    lines = payload["lines"]
    assert row.accounts == [line["account_id"] for line in lines]
    assert row.sides == [line["side"] for line in lines]
    assert row.amounts == [line["amount"] for line in lines]
    assert row.currencies == [line["currency"] for line in lines]


@settings(max_examples=300, deadline=None)
@given(request=valid_requests(_balanced_lines))
def test_every_valid_plain_entry_has_a_row(request: ledger.PostEntry) -> None:
    payload = _full(request)
    row = _plain_row(request)
    if payload is None:  # every account nets to zero (one account debited and credited)
        assert row is None
        return
    assert row is not None
    assert row.hash == fingerprint(payload)


def test_a_batch_with_a_key_or_reference_twice_has_no_rows() -> None:
    cash, sales = ACCOUNTS[:2]

    def entry(key: str, ref: str | None = None) -> ledger.PostEntry:
        return ledger.PostEntry(
            key,
            [ledger.Line(cash, "debit", 5, "USD"), ledger.Line(sales, "credit", 5, "USD")],
            external_ref=ref,
        )

    assert _plain_rows([entry("a"), entry("b")]) is not None
    assert _plain_rows([entry("a"), entry("a")]) is None
    assert _plain_rows([entry("a", "r"), entry("b", "r")]) is None
    assert _plain_rows([entry("a", None), entry("b", None)]) is not None
    assert _plain_rows([]) is None
    reversal = ledger.ReverseEntry("c", uuid.uuid4())
    assert _plain_rows([entry("a"), reversal]) is None


@settings(max_examples=300, deadline=None)
@given(batch=st.lists(_requests, min_size=1, max_size=4))
def test_a_batch_s_columns_are_its_entries_in_order(batch: list[ledger.PostEntry]) -> None:
    plain = _plain_rows(batch)
    rows = [_plain_row(request) for request in batch]
    keys = [request.idempotency_key for request in batch]
    refs = [request.external_ref for request in batch if request.external_ref is not None]
    if any(row is None for row in rows) or len(set(keys)) < len(keys) or len(set(refs)) < len(refs):
        assert plain is None
        return
    assert plain is not None
    singles = [row for row in rows if row is not None]
    assert plain.hashes == [row.hash for row in singles]
    assert plain.keys == [row.key for row in singles]
    assert plain.descriptions == [row.description for row in singles]
    assert plain.metadata == [row.metadata for row in singles]
    assert plain.effective_at == [row.effective_at for row in singles]
    assert plain.external_refs == [row.external_ref for row in singles]
    assert plain.entry_of == [n for n, row in enumerate(singles, 1) for _ in row.accounts]
    assert plain.accounts == [a for row in singles for a in row.accounts]
    assert plain.sides == [x for row in singles for x in row.sides]
    assert plain.amounts == [x for row in singles for x in row.amounts]
    assert plain.currencies == [x for row in singles for x in row.currencies]
