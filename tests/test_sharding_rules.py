"""The schema is ready to shard by organization: Citus's rules, read from the migrated
catalog (issue 19 part 4; docs/scaling.md).

Every table of the application's schemas is either a small reference table (`REFERENCE`,
each with its reason: copied to every node) or distributed by its organization: the column
`DISTRIBUTION` names (`org_id`, or `entry_org_id` for the lines, which live with their
entry). The rules, as Citus enforces them (`create_distributed_table`,
`create_reference_table`):

1. a distributed table's distribution column is NOT NULL and uuid (one type: every
   distributed table is colocated with every other, so a shard holds all of one
   organization's rows);
2. every primary key, unique constraint, unique index and exclusion constraint of a
   distributed table includes its distribution column, as a plain column;
3. every foreign key between two distributed tables pairs the referencing table's
   distribution column with the referenced table's (so it is checked inside one shard);
4. no reference table has a foreign key to a distributed table.

The tables are read from every schema of the database but PostgreSQL's own (a table in a
new schema is held to the rules at once). What the rules do not see, a reference held by a
trigger or a function instead of a foreign key, is listed too: every `*_id` column that no
foreign key covers is in `UNKEYED` (a reference, with what checks it and whether it crosses
organizations, or an outside id), and the test fails for one not listed. What a statement
reads is tests/test_sharding_reads.py's.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import pytest
import sqlalchemy as sa

_SCHEMAS = sa.text("""
    SELECT array_agg(n.nspname::text ORDER BY n.nspname) FROM pg_namespace n
     WHERE n.nspname NOT IN ('information_schema', 'pg_catalog', 'pg_toast')
       AND n.nspname NOT LIKE 'pg\\_%'
       AND EXISTS (SELECT FROM pg_class c WHERE c.relnamespace = n.oid AND c.relkind IN ('r', 'p'))
""")


def app_schemas(conn: sa.Connection) -> tuple[str, ...]:
    """Every schema holding a table, but PostgreSQL's own."""
    found: list[str] = conn.execute(_SCHEMAS).scalar_one()
    return tuple(found)


# Copied to every node: small, read by every organization's statements, rarely written.
REFERENCE: dict[str, str] = {
    # (public: regclass names it without its schema, the first of the search path)
    "alembic_version": "Alembic's one row: the schema's revision",
    "payments.currencies": "ISO 4217's ~180 codes, read by every posting",
    "payments.fx_rates": "exchange rates, the same for every organization",
    "payments.tenancy_secret": "one row, the HMAC key proving the acting organization",
    "payments.organizations": (
        "one row per tenant, named by every distributed table's foreign key (a foreign key to"
        " a reference table is Citus's colocated join); its one-platform unique index has no"
        " org_id, so it could not be distributed by id"
    ),
    "payments.api_keys": (
        "one row per API key, found by its prefix on every request before the organization is"
        " known (the platform's key has no organization)"
    ),
    "payments.platform_payouts": "the platform's own Stripe payouts: no organization",
    "messaging.inbox_secrets": "one signing secret per event source",
}

# A distributed table's distribution column when it is not org_id.
DISTRIBUTION: dict[str, str] = {
    # A line is booked for its entry's organization (entry_org_id), which is its account's
    # owner (org_id) except on the platform's accounts in a shared entry: the lines live with
    # their entry, and the platform's accounts become per-shard sub-accounts (docs/scaling.md).
    "payments.lines": "entry_org_id",
}

# Violations still in the schema, each with the step of docs/scaling.md that removes it. The
# test fails for a new violation and for one listed here that is gone (the list only shrinks).
_PLATFORM_ACCOUNTS = (
    "docs/scaling.md step 3: the platform's accounts as per-shard sub-accounts, so a hold's"
    " accounts are its own organization's"
)
KNOWN: dict[str, str] = {
    "payments.holds: foreign key holds_credit_account_id_fkey (credit_account_id,"
    " credit_org_id) -> payments.accounts (id, org_id) does not pair org_id with org_id": (
        _PLATFORM_ACCOUNTS
    ),
    "payments.holds: foreign key holds_debit_account_id_fkey (debit_account_id,"
    " debit_org_id) -> payments.accounts (id, org_id) does not pair org_id with org_id": (
        _PLATFORM_ACCOUNTS
    ),
    "payments.checkpoints: distribution column org_id is nullable": (
        "docs/scaling.md step 5: the platform's chain (org_id NULL) in a table of its own,"
        " kept on the coordinator; the organizations' checkpoints keyed (id, org_id)"
    ),
    "payments.checkpoints: primary key checkpoints_pkey (id) lacks org_id": (
        "docs/scaling.md step 5: as above"
    ),
    "payments.api_idempotency: no distribution column org_id (nor a reference table)": (
        "docs/scaling.md step 5: its text scope ('platform' or an organization's id) becomes"
        " org_id uuid, the platform's key acting under the platform organization's id"
    ),
}


# Every `*_id` column no foreign key covers: a reference held otherwise (what checks it; a
# reference that may name another organization's row says so, "crosses"), or an id from
# outside. Under Citus a reference that crosses organizations is a read on another node.
CROSSES = "crosses organizations"
UNKEYED: dict[str, str] = {
    "payments.lines.account_id": (
        f"{CROSSES}: the account, checked by the lines' insert trigger and the engine; a"
        " line of an organizer's entry on one of the platform's accounts (entry_org_id the"
        " organizer, org_id the platform): docs/scaling.md step 3"
    ),
    "payments.lines.entry_id": "its entry (entry_org_id), checked by the lines' triggers",
    "payments.entries_to_check.entry_id": "the entry queued for the commit-time check",
    "payments.settlement_entries.entry_id": (
        f"{CROSSES}: an entry with a line on the settled account by the cut-off, checked by"
        " the settlement's statement trigger; a settlement of one of the platform's accounts"
        " names entries of other organizations: docs/scaling.md step 3"
    ),
    "payments.balance_monitors.account_id": (
        "an account of the monitor's organization, checked by create_balance_monitor"
    ),
    "payments.entry_seals.entry_id": "the sealed entry, written by the seal itself",
    "ticketing.transitions.subject_id": "an order or a ticket (by `subject`), the audit's",
    "messaging.messages.aggregate_id": "outside id: the aggregate a message tells of, as text",
    "messaging.inbox.event_id": "outside id: Stripe's event",
    "payments.escrows.event_id": "outside id: the ticketing event, as Stripe's metadata names it",
    "payments.card_payments.balance_transaction_id": "outside id: Stripe's",
    "payments.card_payments.charge_id": "outside id: Stripe's",
    "payments.transfer_reversal_requests.reversal_id": "outside id: Stripe's",
    "ticketing.orders.payment_intent_id": "outside id: Stripe's",
}

_UNKEYED = sa.text("""
    SELECT c.oid::regclass::text || '.' || a.attname AS col
      FROM pg_attribute a JOIN pg_class c ON c.oid = a.attrelid
      JOIN pg_namespace n ON n.oid = c.relnamespace
     WHERE n.nspname = ANY(:schemas) AND c.relkind IN ('r', 'p') AND a.attnum > 0
       AND NOT a.attisdropped AND a.attname LIKE '%\\_id'
       AND a.attname NOT IN ('org_id', 'entry_org_id')
       AND NOT EXISTS (SELECT FROM pg_constraint k
                        WHERE k.conrelid = c.oid AND k.contype = 'f' AND a.attnum = ANY (k.conkey))
""")


@dataclass(frozen=True)
class Catalog:
    """What the rules read from pg_catalog, for the tables of some schemas."""

    tables: frozenset[str]
    # table -> column -> (type, not null)
    columns: Mapping[str, Mapping[str, tuple[str, bool]]]
    # (table, kind, name, plain key columns) for primary keys, uniques, exclusions and
    # unique indexes that back no constraint; kind: 'p', 'u', 'x' or 'i'
    keys: tuple[tuple[str, str, str, tuple[str, ...]], ...]
    # (table, name, columns, referenced table, referenced columns)
    foreign_keys: tuple[tuple[str, str, tuple[str, ...], str, tuple[str, ...]], ...]


_TABLES = sa.text("""
    SELECT c.oid::regclass::text AS tbl
      FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
     WHERE n.nspname = ANY(:schemas) AND c.relkind IN ('r', 'p') AND NOT c.relispartition
""")
_COLUMNS = sa.text("""
    SELECT a.attrelid::regclass::text AS tbl, a.attname, format_type(a.atttypid, NULL) AS typ,
           a.attnotnull
      FROM pg_attribute a JOIN pg_class c ON c.oid = a.attrelid
      JOIN pg_namespace n ON n.oid = c.relnamespace
     WHERE n.nspname = ANY(:schemas) AND c.relkind IN ('r', 'p') AND a.attnum > 0
       AND NOT a.attisdropped
""")
# Key columns by name; an expression's position (attnum 0) is left out, so a key on
# coalesce(org_id, ...) does not count as including org_id.
_KEYS = sa.text("""
    SELECT i.indrelid::regclass::text AS tbl,
           coalesce(k.contype::text, 'i') AS kind,
           coalesce(k.conname::text, ic.relname::text) AS name,
           array(SELECT a.attname::text
                   FROM unnest(i.indkey[0:i.indnkeyatts - 1]) WITH ORDINALITY u(attnum, ord)
                   JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = u.attnum
                  ORDER BY u.ord) AS cols
      FROM pg_index i
      JOIN pg_class ic ON ic.oid = i.indexrelid
      JOIN pg_class c ON c.oid = i.indrelid
      JOIN pg_namespace n ON n.oid = c.relnamespace
      LEFT JOIN pg_constraint k ON k.conindid = i.indexrelid AND k.conrelid = i.indrelid
                               AND k.contype IN ('p', 'u', 'x')
     WHERE n.nspname = ANY(:schemas) AND (i.indisunique OR k.contype = 'x')
""")
_FOREIGN_KEYS = sa.text("""
    SELECT k.conrelid::regclass::text AS tbl, k.conname::text AS name,
           array(SELECT a.attname::text FROM unnest(k.conkey) WITH ORDINALITY u(attnum, ord)
                   JOIN pg_attribute a ON a.attrelid = k.conrelid AND a.attnum = u.attnum
                  ORDER BY u.ord) AS cols,
           k.confrelid::regclass::text AS ref,
           array(SELECT a.attname::text FROM unnest(k.confkey) WITH ORDINALITY u(attnum, ord)
                   JOIN pg_attribute a ON a.attrelid = k.confrelid AND a.attnum = u.attnum
                  ORDER BY u.ord) AS ref_cols
      FROM pg_constraint k
      JOIN pg_class c ON c.oid = k.conrelid
      JOIN pg_namespace n ON n.oid = c.relnamespace
     WHERE n.nspname = ANY(:schemas) AND k.contype = 'f'
""")


def read_catalog(conn: sa.Connection, schemas: tuple[str, ...]) -> Catalog:
    """The tables, columns, keys and foreign keys of `schemas`, from pg_catalog."""
    params = {"schemas": list(schemas)}
    columns: dict[str, dict[str, tuple[str, bool]]] = {}
    for row in conn.execute(_COLUMNS, params):
        columns.setdefault(row.tbl, {})[row.attname] = (row.typ, row.attnotnull)
    return Catalog(
        tables=frozenset(r.tbl for r in conn.execute(_TABLES, params)),
        columns=columns,
        keys=tuple(
            (r.tbl, r.kind, r.name, tuple(r.cols))
            for r in conn.execute(_KEYS, params)
            if r.kind in ("p", "u", "x", "i")
        ),
        foreign_keys=tuple(
            (r.tbl, r.name, tuple(r.cols), r.ref, tuple(r.ref_cols))
            for r in conn.execute(_FOREIGN_KEYS, params)
        ),
    )


def distribution_columns(
    catalog: Catalog,
    reference: Mapping[str, str],
    distribution: Mapping[str, str],
    found: list[str],
) -> dict[str, str]:
    """Each distributed table's distribution column; a table with none, or one not NULL-free
    uuid, is added to `found`."""
    dist: dict[str, str] = {}
    for table in sorted(catalog.tables - set(reference)):
        column = distribution.get(table, "org_id")
        spec = catalog.columns.get(table, {}).get(column)
        if spec is None:
            found.append(f"{table}: no distribution column {column} (nor a reference table)")
            continue
        dist[table] = column
        typ, not_null = spec
        if typ != "uuid":
            found.append(f"{table}: distribution column {column} is {typ}, not uuid")
        if not not_null:
            found.append(f"{table}: distribution column {column} is nullable")
    for name in sorted(set(reference) - catalog.tables):
        found.append(f"{name}: listed as a reference table but not in the schema")
    return dist


def violations(
    catalog: Catalog, reference: Mapping[str, str], distribution: Mapping[str, str]
) -> list[str]:
    """Every breach of the four rules in `catalog`, one line each, naming the table and the
    constraint or column."""
    found: list[str] = []
    dist = distribution_columns(catalog, reference, distribution, found)
    kinds = {"p": "primary key", "u": "unique constraint", "x": "exclusion", "i": "unique index"}
    for table, kind, name, cols in sorted(catalog.keys):
        if table in dist and dist[table] not in cols:
            found.append(f"{table}: {kinds[kind]} {name} ({', '.join(cols)}) lacks {dist[table]}")
    for table, name, cols, ref, ref_cols in sorted(catalog.foreign_keys):
        if table in dist and ref in dist:
            if (dist[table], dist[ref]) not in set(zip(cols, ref_cols, strict=True)):
                found.append(
                    f"{table}: foreign key {name} ({', '.join(cols)}) -> {ref}"
                    f" ({', '.join(ref_cols)}) does not pair {dist[table]} with {dist[ref]}"
                )
        elif table in reference and ref in dist:
            found.append(f"{table}: foreign key {name} from a reference table to distributed {ref}")
    return found


def test_the_migrated_schema_keeps_the_sharding_rules(conn: sa.Connection) -> None:
    """Every table is a reference table or distributed by its organization, and every key and
    foreign key of a distributed table holds its distribution column."""
    schemas = app_schemas(conn)
    assert {"payments", "messaging", "ticketing", "public"} <= set(schemas)
    found = violations(read_catalog(conn, schemas), REFERENCE, DISTRIBUTION)
    new = [v for v in found if v not in KNOWN]
    gone = [v for v in KNOWN if v not in found]
    assert not new, f"{len(new)} sharding rule violations:\n" + "\n".join(new)
    assert not gone, "no longer violated, remove from KNOWN:\n" + "\n".join(gone)


@pytest.mark.parametrize(
    ("ddl", "expected"),
    [
        (
            "CREATE TABLE probe.a (id uuid PRIMARY KEY, org_id uuid NOT NULL)",
            ["probe.a: primary key a_pkey (id) lacks org_id"],
        ),
        (
            "CREATE TABLE probe.a (id uuid, org_id uuid, PRIMARY KEY (id, org_id))",
            [],
        ),
        (
            "CREATE TABLE probe.a (id uuid, org_id uuid)",
            ["probe.a: distribution column org_id is nullable"],
        ),
        (
            "CREATE TABLE probe.a (id uuid, org_id text NOT NULL)",
            ["probe.a: distribution column org_id is text, not uuid"],
        ),
        (
            "CREATE TABLE probe.a (id uuid PRIMARY KEY)",
            ["probe.a: no distribution column org_id (nor a reference table)"],
        ),
        (
            "CREATE TABLE probe.a (id uuid, org_id uuid NOT NULL, code text,"
            " PRIMARY KEY (id, org_id), CONSTRAINT a_code UNIQUE (code));"
            " CREATE UNIQUE INDEX a_k ON probe.a (coalesce(org_id, id), code)",
            [
                "probe.a: unique constraint a_code (code) lacks org_id",
                "probe.a: unique index a_k (code) lacks org_id",
            ],
        ),
        (
            "CREATE TABLE probe.a (id uuid, org_id uuid NOT NULL, PRIMARY KEY (id, org_id));"
            " CREATE TABLE probe.b (id uuid, org_id uuid NOT NULL, a_id uuid, other uuid,"
            " PRIMARY KEY (id, org_id),"
            " CONSTRAINT b_a FOREIGN KEY (a_id, other) REFERENCES probe.a (id, org_id))",
            [
                "probe.b: foreign key b_a (a_id, other) -> probe.a (id, org_id)"
                " does not pair org_id with org_id"
            ],
        ),
        (
            "CREATE TABLE probe.a (id uuid, org_id uuid NOT NULL, PRIMARY KEY (id, org_id));"
            " CREATE TABLE probe.r (id uuid PRIMARY KEY, a_id uuid, a_org uuid,"
            " CONSTRAINT r_a FOREIGN KEY (a_id, a_org) REFERENCES probe.a (id, org_id))",
            ["probe.r: foreign key r_a from a reference table to distributed probe.a"],
        ),
    ],
)
def test_each_rule_names_its_violation(conn: sa.Connection, ddl: str, expected: list[str]) -> None:
    """The checker finds each kind of breach on tables made to break it (rolled back)."""
    conn.exec_driver_sql("CREATE SCHEMA probe")
    conn.exec_driver_sql(ddl)
    found = violations(read_catalog(conn, ("probe",)), {"probe.r": "a probe"}, {})
    missing_r = (
        [] if "probe.r" in ddl else ["probe.r: listed as a reference table but not in the schema"]
    )
    assert sorted(found) == sorted(expected + missing_r)


def test_every_reference_without_a_foreign_key_is_named(conn: sa.Connection) -> None:
    """Each `*_id` column no foreign key covers is listed, with what checks it and whether it
    crosses organizations; none listed is gone."""
    found = set(conn.execute(_UNKEYED, {"schemas": list(app_schemas(conn))}).scalars())
    assert sorted(found - set(UNKEYED)) == [], "not listed in UNKEYED"
    assert sorted(set(UNKEYED) - found) == [], "covered by a foreign key now, or gone"
    # The references that cross organizations (docs/scaling.md counts them).
    assert sorted(k for k, v in UNKEYED.items() if v.startswith(CROSSES)) == [
        "payments.lines.account_id",
        "payments.settlement_entries.entry_id",
    ]
