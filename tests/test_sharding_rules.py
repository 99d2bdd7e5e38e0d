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
organizations, or an outside id), and the test fails for one not listed. A foreign key
declared NOT ENFORCED covers its columns only while it holds (`held_keys`): triggers guard
every way PostgreSQL refuses to break an enforced one (`_UNGUARDED`: an INSERT and an UPDATE
of its columns on its table; a DELETE, an UPDATE of the key and a TRUNCATE on the table it
names), each by naming the key (as ticketing.tickets_references, refuse_named_removal,
messaging.deliveries_references and payments.check_entry_references name the keys they check,
in their errors), by refusing, or for a DELETE by taking the naming rows with it
(messaging.messages_cascade); or two keys that hold imply it (`implied_keys`: the key to a
middle table and that table's own key to the referenced one, column by column). Any other
NOT ENFORCED key is a violation. What a statement reads is tests/test_sharding_reads.py's.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

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
    "messaging.inbox_cursors": "one read position in its own list of events per event source",
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
                        WHERE k.conrelid = c.oid AND k.contype = 'f' AND a.attnum = ANY (k.conkey)
                          AND (k.conenforced
                               OR c.oid::regclass::text || '.' || k.conname = ANY(:held)))
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
    # Each foreign key declared NOT ENFORCED, (table, name), with the ways its rows could
    # break it that no trigger guards (_UNGUARDED; none: triggers hold it)
    not_enforced: Mapping[tuple[str, str], tuple[str, ...]] = field(default_factory=dict)


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
# Each NOT ENFORCED foreign key, with each way of breaking it that PostgreSQL would refuse for
# an enforced one, and whether an enabled trigger (not one firing only in replica mode) guards
# it: a guard names the key (as a string literal: the checks raise 23503 with CONSTRAINT = the
# key's name), or refuses (a row trigger before the change whose PL/pgSQL function has no
# RETURN, so it can only raise; a TRUNCATE's, a statement trigger before it), or, for a
# deletion of the rows named, takes the naming rows with it (its function deletes from the
# referencing table, as ON DELETE CASCADE would). What a trigger's WHEN or its function's
# lookups do is not read: a checker that names a key but checks it wrongly passes here (its
# own tests are tests/ticketing_core/test_references.py and the like).
_UNGUARDED = sa.text("""
    WITH trig AS (
        SELECT t.tgrelid, t.tgtype, t.tgattr::int2[] AS cols, p.prosrc,
               l.lanname = 'plpgsql' AND p.prosrc !~* '\\mreturn\\M' AS refuses,
               lower(regexp_replace(p.prosrc, '\\s+', ' ', 'g')) AS flat
          FROM pg_trigger t JOIN pg_proc p ON p.oid = t.tgfoid
          JOIN pg_language l ON l.oid = p.prolang
         WHERE NOT t.tgisinternal AND t.tgenabled IN ('O', 'A')
    )
    SELECT k.conrelid::regclass::text AS tbl, k.conname::text AS name,
           array_remove(ARRAY[
               CASE WHEN NOT EXISTS (
                   SELECT FROM trig t
                    WHERE t.tgrelid = k.conrelid AND t.tgtype & 4 <> 0 AND t.tgtype & 2 = 0
                      AND strpos(t.prosrc, quote_literal(k.conname)) > 0)
                    THEN 'insert' END,
               CASE WHEN NOT EXISTS (
                   SELECT FROM trig t
                    WHERE t.tgrelid = k.conrelid AND t.tgtype & 16 <> 0
                      AND (cardinality(t.cols) = 0 OR k.conkey <@ t.cols)
                      AND (strpos(t.prosrc, quote_literal(k.conname)) > 0
                           OR (t.tgtype & 3 = 3 AND t.refuses)))
                    THEN 'update' END,
               CASE WHEN NOT EXISTS (
                   SELECT FROM trig t
                    WHERE t.tgrelid = k.confrelid AND t.tgtype & 8 <> 0
                      AND (strpos(t.prosrc, quote_literal(k.conname)) > 0
                           OR (t.tgtype & 3 = 3 AND t.refuses)
                           OR (t.tgtype & 2 = 0 AND strpos(t.flat, 'delete from '
                                   || k.conrelid::regclass::text || ' ') > 0)))
                    THEN 'delete from ' || k.confrelid::regclass::text END,
               CASE WHEN NOT EXISTS (
                   SELECT FROM trig t
                    WHERE t.tgrelid = k.confrelid AND t.tgtype & 16 <> 0
                      AND (cardinality(t.cols) = 0 OR k.confkey <@ t.cols)
                      AND (strpos(t.prosrc, quote_literal(k.conname)) > 0
                           OR (t.tgtype & 3 = 3 AND t.refuses)))
                    THEN 'update of ' || k.confrelid::regclass::text END,
               -- A table truncated takes its own references to itself with it.
               CASE WHEN k.conrelid <> k.confrelid AND NOT EXISTS (
                   SELECT FROM trig t
                    WHERE t.tgrelid = k.confrelid AND t.tgtype & 32 <> 0
                      AND (strpos(t.prosrc, quote_literal(k.conname)) > 0
                           OR (t.tgtype & 2 <> 0 AND t.refuses)))
                    THEN 'truncate of ' || k.confrelid::regclass::text END
           ], NULL) AS unguarded
      FROM pg_constraint k
      JOIN pg_class c ON c.oid = k.conrelid
      JOIN pg_namespace n ON n.oid = c.relnamespace
     WHERE n.nspname = ANY(:schemas) AND k.contype = 'f' AND NOT k.conenforced
""")


def read_catalog(conn: sa.Connection, schemas: tuple[str, ...]) -> Catalog:
    """The tables, columns, keys and foreign keys of `schemas`, from pg_catalog."""
    params = {"schemas": list(schemas)}
    unenforced = conn.execute(_UNGUARDED, params).all()
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
        not_enforced={(r.tbl, r.name): tuple(r.unguarded) for r in unenforced},
    )


def implied_keys(catalog: Catalog, held: frozenset[tuple[str, str]]) -> set[tuple[str, str]]:
    """The foreign keys (table, name) that two keys of `held` imply: the table's key to a
    middle table and the middle table's key to the same referenced table, each column of the
    implied key mapped through the first key's column pairs, then the second's, onto its own
    referenced column (tickets (event_id, org_id) -> events is implied by tickets' key to the
    ticket types (ticket_type_id, event_id, org_id) and theirs to events (event_id, org_id)),
    the two keys' other columns NOT NULL."""
    pairs = {
        (table, name): (ref, dict(zip(cols, ref_cols, strict=True)))
        for table, name, cols, ref, ref_cols in catalog.foreign_keys
    }

    def not_null(table: str, columns: set[str]) -> bool:
        # A key with a NULL column is not checked (MATCH SIMPLE): the two keys imply the third
        # only if each is checked whenever the third's columns are all set.
        return all(catalog.columns.get(table, {}).get(c, ("", False))[1] for c in columns)

    found: set[tuple[str, str]] = set()
    for table, name, cols, ref, ref_cols in catalog.foreign_keys:
        for (t1, n1), (middle, first) in pairs.items():
            if t1 != table or (t1, n1) not in held or n1 == name:
                continue
            for (t2, n2), (end, second) in pairs.items():
                if t2 != middle or end != ref or (t2, n2) not in held:
                    continue
                if (
                    all(
                        second.get(first.get(c, ""), None) == rc
                        for c, rc in zip(cols, ref_cols, strict=True)
                    )
                    and not_null(table, set(first) - set(cols))
                    and not_null(middle, set(second) - {first[c] for c in cols})
                ):
                    found.add((table, name))
    return found


def held_keys(catalog: Catalog) -> frozenset[tuple[str, str]]:
    """The foreign keys (table, name) that hold: enforced, checked by triggers, or implied by
    two that are."""
    direct = frozenset(
        (table, name)
        for table, name, *_ in catalog.foreign_keys
        if not catalog.not_enforced.get((table, name), ())
    )
    return direct | implied_keys(catalog, direct)


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
    """Every breach of the four rules in `catalog`, and every NOT ENFORCED foreign key that
    does not hold (`held_keys`), one line each, naming the table and the constraint or column."""
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
    held = held_keys(catalog)
    for (table, name), unguarded in sorted(catalog.not_enforced.items()):
        if (table, name) not in held:
            found.append(
                f"{table}: foreign key {name} is NOT ENFORCED, and neither do triggers hold it"
                f" (unguarded: {', '.join(unguarded)}) nor two keys imply it"
            )
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


# A NOT ENFORCED key b_a (b's a_id, to a) and the triggers that may hold it: its check on
# b's INSERT, the refusal of an UPDATE of its columns on b, and on a the refusals of a
# DELETE, of an UPDATE of a's key and of a TRUNCATE.
_PROBE_AB = (
    "CREATE TABLE probe.a (id uuid, org_id uuid NOT NULL, PRIMARY KEY (id, org_id));"
    " CREATE TABLE probe.b (id uuid, org_id uuid NOT NULL, a_id uuid, PRIMARY KEY (id, org_id),"
    " UNIQUE (id, a_id, org_id),"
    " CONSTRAINT b_a FOREIGN KEY (a_id, org_id) REFERENCES probe.a (id, org_id)"
)
_PROBE_CHECK = (
    " CREATE FUNCTION probe.check() RETURNS trigger LANGUAGE plpgsql AS $$BEGIN"
    " IF EXISTS (SELECT FROM added d WHERE NOT EXISTS (SELECT FROM probe.a x"
    " WHERE x.id = d.a_id AND x.org_id = d.org_id)) THEN"
    " RAISE EXCEPTION USING ERRCODE = '23503', CONSTRAINT = 'b_a'; END IF; RETURN NULL; END$$;"
    " CREATE TRIGGER b_check AFTER INSERT ON probe.b REFERENCING NEW TABLE AS added"
    " FOR EACH STATEMENT EXECUTE FUNCTION probe.check();"
)
_PROBE_FIXED = (
    " CREATE FUNCTION probe.no_change() RETURNS trigger LANGUAGE plpgsql AS $$BEGIN"
    " RAISE EXCEPTION 'no'; END$$;"
    " CREATE TRIGGER b_fixed BEFORE UPDATE OF a_id, org_id ON probe.b FOR EACH ROW"
    " EXECUTE FUNCTION probe.no_change();"
)
_PROBE_A_DELETE = (
    " CREATE TRIGGER a_no_delete BEFORE DELETE ON probe.a FOR EACH ROW"
    " EXECUTE FUNCTION probe.no_change();"
)
_PROBE_A_KEY = (
    " CREATE TRIGGER a_no_new_key BEFORE UPDATE OF id, org_id ON probe.a FOR EACH ROW"
    " EXECUTE FUNCTION probe.no_change();"
)
_PROBE_A_TRUNCATE = (
    " CREATE TRIGGER a_no_truncate BEFORE TRUNCATE ON probe.a EXECUTE FUNCTION probe.no_change();"
)
# b_a held: every guard.
_PROBE_HELD = (
    _PROBE_AB
    + " NOT ENFORCED);"
    + _PROBE_CHECK
    + _PROBE_FIXED
    + _PROBE_A_DELETE
    + _PROBE_A_KEY
    + _PROBE_A_TRUNCATE
)
_EVERY_WAY = ("insert", "update", "delete from probe.a", "update of probe.a", "truncate of probe.a")


def _unheld(key: str, *unguarded: str) -> str:
    """The violation of a NOT ENFORCED key ("table: foreign key name") that nothing holds."""
    return (
        f"{key} is NOT ENFORCED, and neither do triggers hold it (unguarded:"
        f" {', '.join(unguarded)}) nor two keys imply it"
    )


# c names b (with b's a_id) and, NOT ENFORCED, a: implied by c's key to b and b's to a.
_PROBE_C = (
    " CREATE TABLE probe.c (id uuid, org_id uuid NOT NULL, b_id uuid NOT NULL, a_id uuid,"
    " PRIMARY KEY (id, org_id),"
    " CONSTRAINT c_b FOREIGN KEY (b_id, a_id, org_id) REFERENCES probe.b (id, a_id, org_id),"
    " CONSTRAINT c_a FOREIGN KEY (a_id, org_id) REFERENCES probe.a (id, org_id)"
)


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
        (_PROBE_AB + " NOT ENFORCED)", [_unheld("probe.b: foreign key b_a", *_EVERY_WAY)]),
        (_PROBE_HELD, []),
        # Each guard missing, disabled, naming another key, or one that may let the row
        # through (a RETURN) instead of refusing.
        (_PROBE_HELD.replace(_PROBE_CHECK, ""), [_unheld("probe.b: foreign key b_a", "insert")]),
        (
            _PROBE_HELD + " ALTER TABLE probe.b DISABLE TRIGGER b_check",
            [_unheld("probe.b: foreign key b_a", "insert")],
        ),
        (
            _PROBE_HELD.replace("'b_a'", "'b_other'"),
            [_unheld("probe.b: foreign key b_a", "insert")],
        ),
        (
            _PROBE_HELD.replace(
                "b_fixed BEFORE UPDATE OF a_id, org_id", "b_fixed BEFORE UPDATE OF a_id"
            ),
            [_unheld("probe.b: foreign key b_a", "update")],
        ),
        (
            _PROBE_HELD.replace("RAISE EXCEPTION 'no'; END", "RETURN NEW; END"),
            [
                _unheld(
                    "probe.b: foreign key b_a",
                    "update",
                    "delete from probe.a",
                    "update of probe.a",
                    "truncate of probe.a",
                )
            ],
        ),
        (
            _PROBE_HELD.replace(_PROBE_A_DELETE, ""),
            [_unheld("probe.b: foreign key b_a", "delete from probe.a")],
        ),
        (
            _PROBE_HELD.replace(_PROBE_A_KEY, ""),
            [_unheld("probe.b: foreign key b_a", "update of probe.a")],
        ),
        (
            _PROBE_HELD.replace(_PROBE_A_TRUNCATE, ""),
            [_unheld("probe.b: foreign key b_a", "truncate of probe.a")],
        ),
        # A deletion that takes the naming rows with it, as messaging.messages_cascade does.
        (
            _PROBE_HELD.replace(_PROBE_A_DELETE, "")
            + " CREATE FUNCTION probe.cascade() RETURNS trigger LANGUAGE plpgsql AS $$BEGIN"
            " DELETE FROM probe.b d USING removed r WHERE d.a_id = r.id AND d.org_id = r.org_id;"
            " RETURN NULL; END$$;"
            " CREATE TRIGGER a_cascade AFTER DELETE ON probe.a REFERENCING OLD TABLE AS removed"
            " FOR EACH STATEMENT EXECUTE FUNCTION probe.cascade()",
            [],
        ),
        # Implied: c's key to b (held) and b's key to a (enforced) give c's key to a.
        (_PROBE_AB + ");" + _PROBE_C + " NOT ENFORCED)", []),
        # Not implied: c's b_id may be NULL, and then c's key to b is not checked.
        (
            _PROBE_AB
            + ");"
            + _PROBE_C.replace("b_id uuid NOT NULL", "b_id uuid")
            + " NOT ENFORCED)",
            [_unheld("probe.c: foreign key c_a", *_EVERY_WAY)],
        ),
        # Not implied: the middle key maps c's a_id onto b's id, which b's key does not name.
        (
            _PROBE_AB
            + ");"
            + _PROBE_C.replace(
                "FOREIGN KEY (a_id, org_id) REFERENCES probe.a (id, org_id)",
                "FOREIGN KEY (b_id, org_id) REFERENCES probe.a (id, org_id)",
            )
            + " NOT ENFORCED)",
            [_unheld("probe.c: foreign key c_a", *_EVERY_WAY)],
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
    schemas = app_schemas(conn)
    held = sorted(f"{t}.{n}" for t, n in held_keys(read_catalog(conn, schemas)))
    found = set(conn.execute(_UNKEYED, {"schemas": list(schemas), "held": held}).scalars())
    assert sorted(found - set(UNKEYED)) == [], "not listed in UNKEYED"
    assert sorted(set(UNKEYED) - found) == [], "covered by a foreign key now, or gone"
    # The references that cross organizations (docs/scaling.md counts them).
    assert sorted(k for k, v in UNKEYED.items() if v.startswith(CROSSES)) == [
        "payments.lines.account_id",
        "payments.settlement_entries.entry_id",
    ]


# The triggers that hold the schema's NOT ENFORCED keys, each dropped (rolled back): the keys
# it held no longer count, nor those they implied, and their columns are unkeyed.
_TICKETS_COLUMNS = [
    "ticketing.tickets.event_id",
    "ticketing.tickets.order_id",
    "ticketing.tickets.ticket_type_id",
]
_DELIVERIES = "messaging.deliveries: foreign key deliveries_"
_ENTRIES = "payments.entries: foreign key entries_"
_TICKETS = "ticketing.tickets: foreign key tickets_"
# tickets_event_id_fkey, implied by tickets_ticket_type_id_fkey: unguarded every way.
_TICKETS_EVENT = _unheld(
    _TICKETS + "event_id_fkey",
    "insert",
    "delete from ticketing.events",
    "update of ticketing.events",
    "truncate of ticketing.events",
)


@pytest.mark.parametrize(
    ("drop", "expected", "columns"),
    [
        (
            "TRIGGER tickets_references ON ticketing.tickets",
            [
                _TICKETS_EVENT,
                _unheld(_TICKETS + "order_id_fkey", "insert"),
                _unheld(_TICKETS + "replaces_fkey", "insert"),
                _unheld(_TICKETS + "ticket_type_id_fkey", "insert"),
            ],
            _TICKETS_COLUMNS,
        ),
        (
            "TRIGGER tickets_references_fixed ON ticketing.tickets",
            [
                _TICKETS_EVENT.replace("(unguarded: insert", "(unguarded: insert, update"),
                _unheld(_TICKETS + "order_id_fkey", "update"),
                _unheld(_TICKETS + "replaces_fkey", "update", "update of ticketing.tickets"),
                _unheld(_TICKETS + "ticket_type_id_fkey", "update"),
            ],
            _TICKETS_COLUMNS,
        ),
        (
            "TRIGGER orders_named ON ticketing.orders",
            [_unheld(_TICKETS + "order_id_fkey", "delete from ticketing.orders")],
            ["ticketing.tickets.order_id"],
        ),
        (
            "TRIGGER orders_no_truncate ON ticketing.orders",
            [_unheld(_TICKETS + "order_id_fkey", "truncate of ticketing.orders")],
            ["ticketing.tickets.order_id"],
        ),
        (
            "TRIGGER ticket_types_no_new_key ON ticketing.ticket_types",
            [
                _TICKETS_EVENT,
                _unheld(_TICKETS + "ticket_type_id_fkey", "update of ticketing.ticket_types"),
            ],
            ["ticketing.tickets.event_id", "ticketing.tickets.ticket_type_id"],
        ),
        (
            "TRIGGER deliveries_references ON messaging.deliveries",
            [
                _unheld(_DELIVERIES + "endpoint_id_fkey", "insert"),
                _unheld(_DELIVERIES + "message_id_fkey", "insert"),
            ],
            ["messaging.deliveries.endpoint_id", "messaging.deliveries.message_id"],
        ),
        (
            "TRIGGER messages_cascade ON messaging.messages",
            [_unheld(_DELIVERIES + "message_id_fkey", "delete from messaging.messages")],
            ["messaging.deliveries.message_id"],
        ),
        (
            "TRIGGER endpoints_no_delete ON messaging.endpoints",
            [_unheld(_DELIVERIES + "endpoint_id_fkey", "delete from messaging.endpoints")],
            ["messaging.deliveries.endpoint_id"],
        ),
        (
            "TRIGGER entries_references ON payments.entries",
            [
                _unheld(_ENTRIES + "hold_id_fkey", "insert"),
                _unheld(_ENTRIES + "reverses_entry_id_fkey", "insert"),
            ],
            ["payments.entries.hold_id", "payments.entries.reverses_entry_id"],
        ),
        (
            "TRIGGER entries_no_update ON payments.entries",
            [
                _unheld(_ENTRIES + "hold_id_fkey", "update"),
                _unheld(
                    _ENTRIES + "reverses_entry_id_fkey", "update", "update of payments.entries"
                ),
            ],
            ["payments.entries.hold_id", "payments.entries.reverses_entry_id"],
        ),
        (
            "TRIGGER holds_no_delete ON payments.holds",
            [_unheld(_ENTRIES + "hold_id_fkey", "delete from payments.holds")],
            ["payments.entries.hold_id"],
        ),
        # The enforced key that implies orders' organization key.
        (
            "CONSTRAINT orders_event_id_fkey",
            [
                # (organizations refuse deletion, new ids and truncation; orders, new keys)
                _unheld("ticketing.orders: foreign key orders_org_id_fkey", "insert")
            ],
            ["ticketing.orders.event_id"],
        ),
    ],
)
def test_a_not_enforced_key_counts_only_while_held(
    conn: sa.Connection, drop: str, expected: list[str], columns: list[str]
) -> None:
    """With one of the schema's guards gone, the NOT ENFORCED keys it held are violations
    naming what is unguarded, and their columns are unkeyed (both tests above fail)."""
    schemas = app_schemas(conn)
    before = violations(read_catalog(conn, schemas), REFERENCE, DISTRIBUTION)
    if drop.startswith("CONSTRAINT"):
        conn.exec_driver_sql(f"ALTER TABLE ticketing.orders DROP {drop}")
    else:
        conn.exec_driver_sql(f"DROP {drop}")
    catalog = read_catalog(conn, schemas)
    assert sorted(set(violations(catalog, REFERENCE, DISTRIBUTION)) - set(before)) == expected
    held = sorted(f"{t}.{n}" for t, n in held_keys(catalog))
    unkeyed = set(conn.execute(_UNKEYED, {"schemas": list(schemas), "held": held}).scalars())
    assert sorted(unkeyed - set(UNKEYED)) == columns
