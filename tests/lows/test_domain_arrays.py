"""What an array of one of the checkout's domains (session 33: ticketing's, escrow's and
messaging's single-column rules) comes back as through the project's engine, so the rule in
`liventix.database` (cast a domain column to its base type inside an array returned to
Python) stays true.

PostgreSQL describes a column of a domain by its base type, so a scalar comes back as psycopg
loads the base type; an array of a domain has its own type (the domain's array type, `_name`),
which psycopg does not know, so it comes back as the array's text, '{1,2}', not [1, 2]. The
project registers no loader for them (measured: the catalog query and registration at
connect made a new connection ~1.7 times as dear). Every domain of the project's schemas is
tried, each with a value its check accepts, by the three ways SQL makes an array: array_agg,
ARRAY(SELECT), and ARRAY[...]. Rolled back.

The code's aggregates returned to Python, read this session: one is of a domain column (a
checkout's prices, ticket_types.price, a ticketing.amount: ticketing_fsm.store.checkout and
ticketing.hold_checkout), cast to bigint; the others are of uuid, bytea or text columns."""

from __future__ import annotations

import re
from typing import Any

import sqlalchemy as sa

# The session's domains: the catalog query below must still find them.
SESSION_33 = {
    "ticketing.name", "ticketing.amount", "ticketing.capacity", "ticketing.seats",
    "ticketing.order_status", "ticketing.ticket_status", "ticketing.transition_subject",
    "payments.escrow_state", "payments.escrow_count", "payments.escrow_sum",
    "payments.escrow_gross", "messaging.message_type", "messaging.delivery_channel",
    "messaging.delivery_status", "messaging.inbox_status", "messaging.deferral_count",
}  # fmt: skip

_DOMAINS = """
SELECT t.oid::regtype::text, t.typbasetype::regtype::text,
       coalesce(string_agg(pg_get_constraintdef(c.oid), ' '), '')
  FROM pg_type t
  LEFT JOIN pg_constraint c ON c.contypid = t.oid
 WHERE t.typtype = 'd'
   AND t.typnamespace IN ('payments'::regnamespace, 'ticketing'::regnamespace,
                          'messaging'::regnamespace)
 GROUP BY t.oid
"""

_FORMS = {
    "array_agg": "SELECT array_agg(x) FROM (SELECT CAST(:v AS {d}) AS x) s",
    "array subquery": "SELECT ARRAY(SELECT CAST(:v AS {d}))",
    "array constructor": "SELECT ARRAY[CAST(:v AS {d})]",
    "cast to base": "SELECT array_agg(x::{b}) FROM (SELECT CAST(:v AS {d}) AS x) s",
    "scalar": "SELECT CAST(:v AS {d})",
}


def _sample(conn: sa.Connection, domain: str, base: str, checks: str) -> Any:
    """A value the domain accepts: a literal its check names, else a usual one."""
    candidates: list[Any] = (
        [1] if base in ("integer", "bigint") else [*re.findall(r"'([^']*)'", checks), "a.b"]
    )
    for value in candidates:
        try:
            with conn.begin_nested():
                conn.execute(sa.text(f"SELECT CAST(:v AS {domain})"), {"v": value})
        except sa.exc.IntegrityError:
            continue
        return value
    raise AssertionError(f"no value for {domain} among {candidates}")


def test_an_array_of_a_domain_comes_back_as_text_unless_cast(conn: sa.Connection) -> None:
    domains = conn.execute(sa.text(_DOMAINS)).all()
    assert {d for d, _, _ in domains} >= SESSION_33
    got: dict[tuple[str, str], Any] = {}
    expected: dict[tuple[str, str], Any] = {}
    for domain, base, checks in domains:
        value = _sample(conn, domain, base, checks)
        for form, sql in _FORMS.items():
            got[domain, form] = conn.execute(
                sa.text(sql.format(d=domain, b=base)), {"v": value}
            ).scalar_one()
        text = "{" + str(value) + "}"
        expected |= {
            (domain, "array_agg"): text,
            (domain, "array subquery"): text,
            (domain, "array constructor"): text,
            (domain, "cast to base"): [value],
            (domain, "scalar"): value,
        }
    assert got == expected
