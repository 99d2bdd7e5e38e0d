"""The single posting's client side (`ledger.requests.plain_post`, used by
`ledger.writes._post_params`): a plain entry's arguments to the fast door, validated and
fingerprinted without building its payload, are exactly what the full validation gives
(`PostEntry.payload()`, `fingerprint` and the array literals built from the payload), so a
key replays the same whichever way the request went; anything the full validation refuses,
anything with conditions, and anything of other types than the built-in ones has none (the
payload's way judges it, with its typed error). Pure: no database."""

from __future__ import annotations

import enum
import uuid
from typing import Any

import pytest
from hypothesis import given, settings

import ledger
from ledger import requests as requests_module
from ledger.errors import LedgerError
from ledger.requests import canonical_json, fingerprint, plain_post, uuid_text
from ledger.writes import _post_params
from tests.ledger_strategies import ACCOUNTS, balanced_lines, requests, valid_requests

ORG = uuid.UUID("00000000-0000-0000-0000-00000000000a")

_balanced_lines = balanced_lines(max_amount=2**62, shuffle_pair=True)
_requests = requests(_balanced_lines)


def _literal(items: list[Any]) -> str:
    return "{" + ",".join(map(str, items)) + "}"


def _from_payload(request: ledger.PostEntry) -> tuple[str | None, ...] | None:
    """The door's arguments after the organization as the payload's way builds them (the
    code before `plain_post`), or None where the full validation refuses the request."""
    try:
        payload = request.payload()
    except LedgerError:
        return None
    lines = payload["lines"]
    return (
        payload["key"],
        fingerprint(payload),
        _literal([line["account_id"] for line in lines]),
        _literal([line["side"] for line in lines]),
        _literal([line["amount"] for line in lines]),
        _literal([line["currency"] for line in lines]),
        payload["description"],
        canonical_json(payload["metadata"]) if payload["metadata"] else None,
        payload["effective_at"],
        payload["external_ref"],
    )


@settings(max_examples=800, deadline=None)
@given(request=_requests)
def test_a_plain_entry_s_arguments_are_what_its_payload_gives(request: ledger.PostEntry) -> None:
    plain = plain_post(request)
    full = _from_payload(request)
    if plain is None:
        # Only what the full validation refuses, or a request with conditions, is left to it.
        assert full is None or request.conditions
        return
    assert not request.conditions
    assert full is not None, "arguments for a request the full validation refuses"
    assert plain == full
    assert _post_params(ORG, request) == (str(ORG), *full)


@settings(max_examples=300, deadline=None)
@given(request=valid_requests(_balanced_lines))
def test_every_valid_plain_entry_goes_without_its_payload(request: ledger.PostEntry) -> None:
    full = _from_payload(request)
    plain = plain_post(request)
    if full is None:  # every account nets to zero (one account debited and credited)
        assert plain is None
        return
    assert plain == full


class _Side(str, enum.Enum):  # noqa: UP042 (its str() is "_Side.DEBIT", not "debit")
    DEBIT = "debit"
    CREDIT = "credit"


class _Text(str):
    pass


def test_other_types_than_the_built_in_ones_go_the_payload_s_way() -> None:
    cash, sales = ACCOUNTS[:2]
    usual = ledger.PostEntry(
        "k", [ledger.Line(cash, "debit", 5, "USD"), ledger.Line(sales, "credit", 5, "USD")]
    )
    assert plain_post(usual) == _from_payload(usual)
    odd = [
        ledger.PostEntry(
            "k",
            [
                ledger.Line(cash, _Side.DEBIT, 5, "USD"),  # type: ignore[arg-type]
                ledger.Line(sales, _Side.CREDIT, 5, "USD"),  # type: ignore[arg-type]
            ],
        ),
        ledger.PostEntry(_Text("k"), usual.lines),
        ledger.PostEntry("k", usual.lines, description=_Text("d")),
        ledger.PostEntry("k", usual.lines, external_ref=_Text("r")),
        ledger.PostEntry(
            "k",
            [ledger.Line(cash, "debit", 5, _Text("USD")), ledger.Line(sales, "credit", 5, "USD")],
        ),
    ]
    for request in odd:
        assert plain_post(request) is None
        full = _from_payload(request)
        assert full is not None
        assert _post_params(ORG, request) == (str(ORG), *full)


@pytest.mark.parametrize(
    ("lines", "error"),
    [
        ([], ledger.TooFewLines),
        ([(0, "debit", 5)], ledger.TooFewLines),
        ([(0, "debit", 5), (1, "credit", 4)], ledger.UnbalancedEntry),
        ([(0, "debit", 5), (0, "credit", 5)], ledger.AccountsMustBeDifferent),
        ([(0, "debit", 0), (1, "credit", 0)], ledger.InvalidAmount),
        ([(0, "debit", 5), (1, "sideways", 5)], ledger.InvalidRequest),
    ],
)
def test_a_refused_entry_raises_its_typed_error(
    lines: list[tuple[int, str, int]], error: type[Exception]
) -> None:
    request = ledger.PostEntry(
        "k",
        [ledger.Line(ACCOUNTS[a], side, amount, "USD") for a, side, amount in lines],  # type: ignore[arg-type]
    )
    assert plain_post(request) is None
    with pytest.raises(error):
        _post_params(ORG, request)


def test_an_id_s_text_is_its_own_remembered_or_not(monkeypatch: pytest.MonkeyPatch) -> None:
    """`uuid_text` (the ids' text remembered for the fast door's arguments) answers `str` of
    each id, keeps at most its bound, and leaves another type's text to that type."""
    monkeypatch.setattr(requests_module, "_UUID_TEXT", {})
    monkeypatch.setattr(requests_module, "_UUID_TEXT_MAX", 4)
    ids = [uuid.uuid4() for _ in range(10)]
    for _ in range(3):
        assert [uuid_text(i) for i in ids] == [str(i) for i in ids]
        assert len(requests_module._UUID_TEXT) <= 4

    class Named(uuid.UUID):
        def __str__(self) -> str:
            return "named"

    named = Named(int=ids[-1].int)
    assert uuid_text(ids[-1]) == str(ids[-1])
    assert (uuid_text(named), uuid_text(ids[-1])) == ("named", str(ids[-1]))
