"""`store.paying._numbered`: the payment's statement goes to psycopg's raw cursor with
PostgreSQL's own placeholders ($1, $2, ...), numbered once at import from psycopg's named ones.
A placeholder it left named would reach the server as text (a syntax error at best), so every
form psycopg reads (`%(name)s`, `%(name)b`, `%(name)t`) is numbered, a name repeated keeps its
number, and anything else with a `%` is refused (review 2, L7: 0bbf069 numbered `%(name)s`
only and passed the rest through)."""

from __future__ import annotations

import re

import pytest

from ticketing_fsm.store import paying


def test_each_named_form_is_numbered_and_a_repeated_name_keeps_its_number() -> None:
    numbered, names = paying._numbered("SELECT %(a)s, %(b)b, %(a)t, %(c)s || %(b)s WHERE x = %(a)s")
    assert numbered == "SELECT $1, $2, $1, $3 || $2 WHERE x = $1"
    assert names == ("a", "b", "c")


@pytest.mark.parametrize(
    "statement",
    [
        "SELECT %s",  # positional
        "SELECT %(a)s, %(b)x",  # not a format psycopg knows
        "SELECT %(a",  # malformed
        "SELECT 'x' LIKE 'x%%'",  # psycopg's escaped %
        "SELECT 'x' LIKE 'x%'",  # a bare % (psycopg refuses it too)
    ],
)
def test_anything_else_with_a_percent_is_refused(statement: str) -> None:
    with pytest.raises(ValueError):
        paying._numbered(statement)


def test_the_payments_statement_is_numbered_whole() -> None:
    numbered, names = paying._numbered(paying.PAY_AFTER_CAPTURE)
    assert "%" not in numbered
    assert len(set(names)) == len(names)
    used = {int(n) for n in re.findall(r"\$(\d+)", numbered)}
    assert used == set(range(1, len(names) + 1))
    assert (numbered, names) == (
        paying._PAY_AFTER_CAPTURE_NUMBERED,
        paying._PAY_AFTER_CAPTURE_NAMES,
    )
