"""Hypothesis strategies of ledger requests shared by the plain entry's tests (the single
posting's `ledger.requests.plain_post` in tests/ledger_engine_cpu/test_plain_post.py, the
batch's `ledger.batches._plain_rows` in tests/ledger_core/test_batch_plain_rows.py): entries
valid and refused, with metadata, times, lines and conditions the full validation judges.
Pure: no database."""

from __future__ import annotations

import uuid
from datetime import UTC, timedelta, timezone

from hypothesis import strategies as st

import ledger

ACCOUNTS = [uuid.UUID(int=i * 7919 + 1) for i in range(4)]

json_leaf = st.one_of(
    st.none(), st.booleans(), st.integers(min_value=-(2**70), max_value=2**70), st.text()
)
metadata = st.dictionaries(
    st.text(max_size=8),
    st.recursive(
        st.one_of(json_leaf, st.floats(allow_nan=False)),  # a float: refused
        lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=4), inner),
        max_leaves=6,
    ),
    max_size=3,
)
times = st.one_of(
    st.none(),
    st.datetimes(timezones=st.sampled_from([UTC, timezone(timedelta(hours=-5, minutes=-30))])),
    st.datetimes(),  # naive: refused
)
line = st.builds(
    ledger.Line,
    st.sampled_from(ACCOUNTS),
    st.sampled_from(["debit", "credit", "debit", "credit", "both"]),
    st.one_of(
        st.integers(min_value=1, max_value=1000),
        st.integers(min_value=-5, max_value=0),
        st.just(2**63 - 1),
        st.just(2**63),
        st.just(True),
    ),
    st.sampled_from(["USD", "USD", "EUR", "usd", "ZZZ"]),
)


@st.composite
def balanced_lines(draw: st.DrawFn, *, max_amount: int, shuffle_pair: bool) -> list[ledger.Line]:
    """Two to four lines that balance per currency (what valid entries hold): amounts up to
    `max_amount`; a debit and credit pair in that order unless `shuffle_pair`."""
    amount = draw(st.integers(min_value=1, max_value=max_amount))
    currency = draw(st.sampled_from(["USD", "EUR", "JPY"]))
    debit, credit = draw(st.permutations(ACCOUNTS))[:2]
    if draw(st.booleans()):
        pair = [
            ledger.Line(debit, "debit", amount, currency),
            ledger.Line(credit, "credit", amount, currency),
        ]
        return draw(st.permutations(pair)) if shuffle_pair else pair
    part = draw(st.integers(min_value=1, max_value=amount))
    lines = [
        ledger.Line(debit, "debit", amount, currency),
        ledger.Line(credit, "credit", part, currency),
    ]
    if part < amount:
        lines.append(
            ledger.Line(draw(st.sampled_from(ACCOUNTS)), "credit", amount - part, currency)
        )
    return draw(st.permutations(lines))


def requests(
    valid_lines: st.SearchStrategy[list[ledger.Line]],
) -> st.SearchStrategy[ledger.PostEntry]:
    """Post requests, valid or refused for any reason, their balanced lines from `valid_lines`."""
    return st.builds(
        ledger.PostEntry,
        st.one_of(st.text(max_size=3), st.text(min_size=250, max_size=260)),
        st.one_of(valid_lines, st.lists(line, max_size=4)),
        description=st.text(max_size=20),
        metadata=st.one_of(st.just({}), metadata),
        effective_at=times,
        external_ref=st.one_of(st.none(), st.just(""), st.text(max_size=10)),
        conditions=st.one_of(
            st.just(()), st.just([ledger.Condition(ACCOUNTS[0], gte=0)]), st.just([])
        ),
    )


def valid_requests(
    valid_lines: st.SearchStrategy[list[ledger.Line]],
) -> st.SearchStrategy[ledger.PostEntry]:
    """Post requests of balanced lines from `valid_lines`, a key, an aware time or none, JSON
    metadata without floats: valid unless every account nets to zero."""
    return st.builds(
        ledger.PostEntry,
        st.text(min_size=1, max_size=40),
        valid_lines,
        st.text(max_size=30),
        st.one_of(st.just({}), st.dictionaries(st.text(max_size=5), json_leaf, max_size=3)),
        st.one_of(st.none(), st.datetimes(timezones=st.just(UTC))),
        st.one_of(st.none(), st.text(min_size=1, max_size=10)),
    )
