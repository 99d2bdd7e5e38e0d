"""The single posting's client side for entries of three or more lines without metadata or an
effective time (a sale with its fee, the payment's capture): `ledger.requests.plain_post`
judges and writes them in one pass (`_usual_lines`), and what it sends is exactly what the
full validation gives (`PostEntry.payload()`, `fingerprint`, the array literals built from
the payload), so a key replays the same whichever way the request went; whatever the full
validation refuses has no arguments (the payload's way raises its typed error). Pure: no
database."""

from __future__ import annotations

import uuid

from hypothesis import given, settings
from hypothesis import strategies as st

import ledger
from ledger.requests import _usual_lines, plain_post
from tests.ledger_engine_cpu.test_plain_post import _from_payload

_POOL = [uuid.UUID(int=i * 104_729 + 3) for i in range(10)]


class _Text(str):
    pass


@st.composite
def _entries(draw: st.DrawFn) -> ledger.PostEntry:
    """Three to eight lines, most balanced in one currency on distinct accounts; some with an
    account twice, another currency, a side or amount out of range, or a str subclass."""
    n = draw(st.integers(3, 8))
    accounts = draw(st.lists(st.sampled_from(_POOL), min_size=n, max_size=n))
    if draw(st.booleans()):
        accounts = draw(st.permutations(_POOL))[:n]
    sides = draw(st.lists(st.sampled_from(["debit", "credit"]), min_size=n - 1, max_size=n - 1))
    amounts = draw(st.lists(st.integers(1, 2**60), min_size=n - 1, max_size=n - 1))
    net = sum(m if s == "debit" else -m for s, m in zip(sides, amounts, strict=True))
    if net == 0:
        net = 1
        amounts[0] += 1 if sides[0] == "debit" else -1
        if amounts[0] == 0:
            amounts[0], net = 2, 2 if sides[0] == "debit" else -2
    sides.append("credit" if net > 0 else "debit")
    amounts.append(abs(net))
    currencies = ["USD"] * n
    fault = draw(st.sampled_from([None] * 6 + ["currency", "side", "amount", "text", "zero"]))
    at = draw(st.integers(0, n - 1))
    side: str = sides[at]
    amount: object = amounts[at]
    if fault == "currency":
        currencies[at] = "EUR"
    elif fault == "side":
        side = "both"
    elif fault == "amount":
        amount = 2**63
    elif fault == "text":
        currencies[at] = _Text("USD")
    elif fault == "zero":
        amount = 0
    lines = [
        ledger.Line(a, s, m, c)  # type: ignore[arg-type]
        for a, s, m, c in zip(accounts, sides, amounts, currencies, strict=True)
    ]
    lines[at] = ledger.Line(accounts[at], side, amount, currencies[at])  # type: ignore[arg-type]
    ref = draw(st.sampled_from([None, "ref-1", 'r"é\\']))
    return ledger.PostEntry(
        draw(st.sampled_from(["k", "key-\u00e9"])), lines, description="sale", external_ref=ref
    )


@settings(max_examples=1_500, deadline=None)
@given(request=_entries())
def test_three_or_more_lines_are_sent_as_their_payload_gives(request: ledger.PostEntry) -> None:
    plain = plain_post(request)
    full = _from_payload(request)
    if full is None or any(type(line.currency) is _Text for line in request.lines):
        # Refused by the full validation, or of another type than the built-in ones: the
        # payload's way judges it (and sends it).
        assert plain is None
        return
    assert plain == full


def test_the_one_pass_takes_the_usual_entries_and_leaves_the_rest() -> None:
    """Taken: three lines, one currency, distinct accounts; left (None) to the general
    columns: an account on two lines, two currencies, a str subclass, fewer lines."""
    a, b, c = _POOL[:3]
    sale = [
        ledger.Line(a, "debit", 100, "USD"),
        ledger.Line(b, "credit", 95, "USD"),
        ledger.Line(c, "credit", 5, "USD"),
    ]
    taken = _usual_lines(sale)
    assert taken is not None
    assert taken[:4] == (
        [str(a), str(b), str(c)],
        ["debit", "credit", "credit"],
        [100, 95, 5],
        ["USD"] * 3,
    )
    twice = [*sale[:2], ledger.Line(a, "credit", 5, "USD")]
    two_currencies = [*sale, ledger.Line(c, "debit", 7, "EUR"), ledger.Line(b, "credit", 7, "EUR")]
    subclass = [*sale[:2], ledger.Line(c, "credit", 5, _Text("USD"))]
    for lines in (twice, two_currencies, subclass, sale[:2]):
        assert _usual_lines(lines) is None
    assert plain_post(ledger.PostEntry("k", sale)) == _from_payload(ledger.PostEntry("k", sale))
