"""An experiment for the row-layout decision of issue 14 (batches): would another layout of the
ledger's rows let one process post 15,000 two-line entries per second? Not a product change:
the ledger's tables and doors are untouched; every candidate is written into a scratch schema
by plain statements with no rule at all, as bench.batches' floor is.

Run as `python -m bench.layout [--seconds N] [--rounds R] [--accounts 10000]`. One server, as
`bench.posting`'s (`_server`: an embedded PostgreSQL with production settings, or
`DATABASE_URL`'s). Entries of two lines (random pairs of `--accounts` accounts, built as
bench.batches builds them: `ledger.PostEntry` requests, a 64-hex-digit fingerprint each, a
UUIDv7 id), in batches of `--independent-batch` (100) and `--batch` (500), each batch its own
transaction, one connection, interleaved rounds (each case first in turn) after every case
ran `--warm-up` seconds unmeasured. Candidates, each the minimal writes that keep the
ledger's reads possible (`layouts()` says what each reader would read in each):

- `A` the baseline, today's floor: bench.batches' own statements and tables (`bench_floor`: an
  idempotency key, an entry, two lines, the accounts' new totals; 4 heap tuples, 11 index
  entries and 2 HOT account updates per entry);
- `B` the key folded into the entry (its request hash a column; a unique index (org_id, key)
  on the entries; a keys row only for a refusal): 3 heap tuples, 11 index entries;
- `Bd` as B but the entry's id derived from (organization, key) (UUIDv5), so the entries'
  primary key is the key's index: 3 heap tuples, 10 index entries (a random-ordered key);
- `C` B plus the two lines in the entry row (debit and credit account with their
  organizations, amount, currency, each account's version and posted totals after), one index
  per account column (account, recorded at, version) holding the totals, no lines rows:
  1 heap tuple, 5 index entries;
- `D` C keyed (org_id, id) by its UUIDv7 id, which also pages an organization's entries in
  time order (no (org_id, created_at) index), the fingerprint as 32 bytes, and narrow: no
  organization per account (a compact row only for an entry on its own organization's
  accounts; a shared entry, the platform's fee line say, stays lines rows, so row-level
  security on the compact rows stays the entries' org_id): 1 heap tuple, 4 index entries;
- `Dd` C with the derived id as its primary key (no key index; (org_id, created_at) kept):
  1 heap tuple, 4 index entries;
- `Dx`, not a layout: D's entry rows without the accounts' update, to split D's cost;
- `E` D without the accounts' update: each account's position after each entry computed from
  its last entry (a backward probe of each side's index and the lines', the batch's own
  entries added in order) and kept only there, so the balance now is a probe (takes no lock:
  one connection only; its check is that each account's versions run 1..n and its last
  position holds its sums): 1 heap tuple, 4 index entries, no account update.

Also measured: the real door (`door_<size>`: `ledger.post_batch_now`, independent at 100,
linked at 500), for its client CPU and its cost above the floor in the same run; and for the
baseline and `--pipelined` (D), from this one process, the client building and encoding
batch N+1 while the server writes batch N: `<layout>_<size>_2conn` on two connections, one
thread each (bench.batches' independent_batch_2 shape), and `<layout>_<size>_pipeline` on one
connection in psycopg's pipeline mode (N sent, N+1 built, then N's results awaited). After
the rounds, each reader's query on today's shape and on D's, on the tables the run filled:
the scans of its plan and the buffers it touched (`reader_*`).

The parameters go as one array literal per column (psycopg's list dumper, pure Python, was
most of this client's CPU in a first version): the client CPU of these cases is not the
door's, which is why the projections below use the door's own.

Per case: entries/s (median round), CPU per entry of this process (client) and of its
backends (server, /proc), WAL bytes and full-page images per entry, the ratios of server CPU
and WAL to the baseline's, the bytes each layout stores per entry (heap, indexes, TOAST), and
a projection of the real door on each layout: its server CPU above the floor (the rules)
taken as unchanged, its client CPU as measured, so on one connection 1e6 / (layout server +
rules + door client) entries/s, and on two connections (overlapped, two cores) at most
1e6 / max(door client, (layout server + rules + door client) / 2). Projections are arithmetic,
not measurements. The machine's load is printed before and after and kept in the JSON, the
last line printed.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import random
import re
import statistics
import sys
import time
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa

import ledger
from bench.batches import (
    _FLOOR_ACCOUNTS,
    _FLOOR_ENTRIES,
    _FLOOR_KEYS,
    _FLOOR_LINES,
    GOAL,
    Case,
    Round,
    _backend_cpu,
    _copy_tables,
    _fpi,
    _keys,
    _post,
    _requests,
    _round,
    _uuid7,
    _wal,
)
from bench.posting import Book, Results, _analyze, _open_book, _server, per
from liventix.database import create_database, database_url, drop_database, make_engine, upgrade


@dataclass(frozen=True)
class Layout:
    """One candidate: its scratch schema, how to make it, how to write a batch into it, and
    what it writes per two-line entry."""

    name: str
    schema: str
    setup: Callable[[sa.Connection], None]
    write: Writer
    tables: tuple[str, ...]
    """Its tables besides the accounts (their bytes are the layout's storage)."""
    heap_tuples: int
    index_entries: int
    readers: str
    """What each reader of the ledger would read in this layout."""
    diagnostic: bool = False
    """Not a layout (it leaves out writes the ledger needs): a split of another's cost."""
    serial: bool = False
    """Correct only one transaction at a time (it takes no lock): never on two connections."""


# ------------------------------------------------------------------------------------------
# Scratch tables
# ------------------------------------------------------------------------------------------


def _like(conn: sa.Connection, schema: str, table: str, *, skip: Sequence[str] = ()) -> None:
    """A copy of payments.<table> in `schema`: its columns, defaults and storage parameters,
    and each of its indexes but those named in `skip` (primary keys and unique constraints as
    plain unique indexes, which write the same entries); no trigger, no constraint but a
    column's domain (the accounts' balances: payments.account_count, whose check a copy
    keeps)."""
    options = conn.exec_driver_sql(
        "SELECT coalesce(array_to_string(reloptions, ', '), '') FROM pg_class"
        f" WHERE oid = 'payments.{table}'::regclass"
    ).scalar_one()
    conn.exec_driver_sql(
        f"CREATE TABLE {schema}.{table} (LIKE payments.{table} INCLUDING DEFAULTS"
        " INCLUDING GENERATED INCLUDING IDENTITY)" + (f" WITH ({options})" if options else "")
    )
    indexes = conn.exec_driver_sql(
        "SELECT indexname, indexdef FROM pg_indexes"
        f" WHERE schemaname = 'payments' AND tablename = '{table}' ORDER BY indexname"
    ).all()
    for name, definition in indexes:
        if name in skip:
            continue
        conn.exec_driver_sql(
            str(definition).replace(f" ON payments.{table} ", f" ON {schema}.{table} ")
        )


def _accounts(conn: sa.Connection, schema: str) -> None:
    """The schema's copy of the accounts, rows included (each layout updates its own)."""
    _like(conn, schema, "accounts")
    columns = conn.exec_driver_sql(
        "SELECT string_agg(quote_ident(attname), ', ' ORDER BY attnum) FROM pg_attribute"
        " WHERE attrelid = 'payments.accounts'::regclass AND attnum > 0"
        " AND NOT attisdropped AND attgenerated = ''"
    ).scalar_one()
    conn.exec_driver_sql(
        f"INSERT INTO {schema}.accounts ({columns}) SELECT {columns} FROM payments.accounts"
    )


# A two-line entry's lines in its row: who, how much, and each account's position after.
# The accounts' organizations only where an entry may move another organization's account
# (the platform's, in a shared entry): a narrow row holds entries on their own
# organization's accounts only, the others staying lines rows.
_LINE_COLUMNS = (
    "debit_account_id uuid NOT NULL",
    "debit_org_id uuid NOT NULL",
    "credit_account_id uuid NOT NULL",
    "credit_org_id uuid NOT NULL",
    "amount bigint NOT NULL",
    "currency text NOT NULL",
    "debit_version bigint NOT NULL",
    "debit_posted_debits bigint NOT NULL",
    "debit_posted_credits bigint NOT NULL",
    "credit_version bigint NOT NULL",
    "credit_posted_debits bigint NOT NULL",
    "credit_posted_credits bigint NOT NULL",
)


def _line_columns(*, narrow: bool) -> list[str]:
    return [c for c in _LINE_COLUMNS if not (narrow and "_org_id " in c)]


def _per_account_indexes(conn: sa.Connection, schema: str) -> None:
    """What lines_account_recorded and lines_account_dated give the readers, per account
    column: the balance as of a time (one backward probe: the last entry recorded by then
    carries the totals), a statement's pages in (recorded at, version) order, and the dated
    entries' correction (empty unless backdated or future-dated)."""
    for side in ("debit", "credit"):
        conn.exec_driver_sql(
            f"CREATE INDEX entries_{side}_recorded ON {schema}.entries"
            f" ({side}_account_id, created_at, {side}_version)"
            f" INCLUDE ({side}_posted_debits, {side}_posted_credits)"
        )
        conn.exec_driver_sql(
            f"CREATE INDEX entries_{side}_dated ON {schema}.entries"
            f" ({side}_account_id, effective_at) INCLUDE (created_at, amount)"
            " WHERE effective_at <> created_at"
        )


def _setup_b(schema: str, *, derived: bool) -> Callable[[sa.Connection], None]:
    def setup(conn: sa.Connection) -> None:
        conn.exec_driver_sql(f"CREATE SCHEMA {schema}")
        _accounts(conn, schema)
        _like(conn, schema, "lines")
        _like(conn, schema, "entries")
        conn.exec_driver_sql(f"ALTER TABLE {schema}.entries ADD COLUMN request_hash text")
        if not derived:
            conn.exec_driver_sql(
                f"CREATE UNIQUE INDEX entries_org_key ON {schema}.entries (org_id, idempotency_key)"
            )

    return setup


def _setup_lines_in_row(
    schema: str, *, keyed_by_org: bool, derived: bool
) -> Callable[[sa.Connection], None]:
    def setup(conn: sa.Connection) -> None:
        conn.exec_driver_sql(f"CREATE SCHEMA {schema}")
        _accounts(conn, schema)
        # The lines table stays for entries of three or more lines and for high-volume
        # accounts' lines (rolled up after commit): not written by a two-line entry here.
        _like(conn, schema, "lines")
        skip = ("entries_pkey", "entries_org_created") if keyed_by_org else ()
        _like(conn, schema, "entries", skip=skip)
        # D's choices go together: keyed by organization, a 32-byte fingerprint, narrow.
        hash_type = "bytea" if keyed_by_org else "text"
        conn.exec_driver_sql(
            f"ALTER TABLE {schema}.entries ADD COLUMN request_hash {hash_type}, "
            + ", ".join(f"ADD COLUMN {c}" for c in _line_columns(narrow=keyed_by_org))
        )
        if keyed_by_org:
            conn.exec_driver_sql(
                f"CREATE UNIQUE INDEX entries_pkey ON {schema}.entries (org_id, id)"
            )
        if not derived:
            conn.exec_driver_sql(
                f"CREATE UNIQUE INDEX entries_org_key ON {schema}.entries (org_id, idempotency_key)"
            )
        _per_account_indexes(conn, schema)

    return setup


# ------------------------------------------------------------------------------------------
# Writes
# ------------------------------------------------------------------------------------------


def _in(schema: str, statement: sa.TextClause) -> sa.TextClause:
    """One of the floor's statements, on `schema`'s tables: the same SQL otherwise."""
    return sa.text(statement.text.replace("bench_floor.", f"{schema}."))


def _entries_with_key(schema: str) -> sa.TextClause:
    return sa.text(
        f"INSERT INTO {schema}.entries (id, org_id, kind, description, metadata, effective_at,"
        " created_at, idempotency_key, request_hash)"
        " SELECT id, :org, 'standard', '', '{}', now(), now(), k, h"
        " FROM unnest(CAST(:ids AS uuid[]), CAST(:keys AS text[]), CAST(:hashes AS text[]))"
        " AS x(id, k, h)"
    )


def _entries_with_lines(schema: str, hash_type: str, *, narrow: bool = False) -> sa.TextClause:
    # The positions as the floor's lines carry them (version 1, totals the amount): the same
    # widths, no reading of the accounts (the floor computes none either).
    debit_org, credit_org = ("", "") if narrow else (" debit_org_id,", " credit_org_id,")
    org_value = "" if narrow else " :org,"
    return sa.text(
        f"INSERT INTO {schema}.entries (id, org_id, kind, description, metadata, effective_at,"
        f" created_at, idempotency_key, request_hash, debit_account_id,{debit_org}"
        f" credit_account_id,{credit_org} amount, currency, debit_version,"
        " debit_posted_debits, debit_posted_credits, credit_version, credit_posted_debits,"
        " credit_posted_credits)"
        f" SELECT id, :org, 'standard', '', '{{}}', now(), now(), k, h, d,{org_value} c,{org_value}"
        " m, 'USD', 1, m, m, 1, m, m"
        f" FROM unnest(CAST(:ids AS uuid[]), CAST(:keys AS text[]), CAST(:hashes AS {hash_type}[]),"
        " CAST(:debits AS uuid[]), CAST(:credits AS uuid[]), CAST(:entry_amounts AS bigint[]))"
        " AS x(id, k, h, d, c, m)"
    )


def _entries_positioned(schema: str) -> sa.TextClause:
    """E's one statement: each account's position after each entry from its last entry (a
    backward probe of each side's index and of the lines' for the account, the highest
    version), the batch's own entries on it added in order; no account row written."""
    side = (
        "(SELECT e.{s}_version AS v, e.{s}_posted_debits AS pd, e.{s}_posted_credits AS pc"
        f" FROM {schema}.entries e WHERE e.{{s}}_account_id = s.a"
        " ORDER BY e.created_at DESC, e.{s}_version DESC LIMIT 1)"
    )
    return sa.text(
        "WITH x AS (SELECT * FROM unnest(CAST(:ids AS uuid[]), CAST(:keys AS text[]),"
        " CAST(:hashes AS bytea[]), CAST(:debits AS uuid[]), CAST(:credits AS uuid[]),"
        " CAST(:entry_amounts AS bigint[])) WITH ORDINALITY AS x(id, k, h, d, c, m, o)),"
        " l AS (SELECT o, d AS a, m AS dr, 0::bigint AS cr FROM x"
        " UNION ALL SELECT o, c, 0::bigint, m FROM x),"
        " prev AS (SELECT s.a, coalesce(p.v, 0) AS v, coalesce(p.pd, 0) AS pd,"
        " coalesce(p.pc, 0) AS pc FROM (SELECT DISTINCT a FROM l) s LEFT JOIN LATERAL ("
        " SELECT * FROM ("
        + side.format(s="debit")
        + " UNION ALL "
        + side.format(s="credit")
        + " UNION ALL (SELECT w.account_version, w.account_posted_debits,"
        f" w.account_posted_credits FROM {schema}.lines w WHERE w.account_id = s.a"
        " AND w.account_version IS NOT NULL"
        " ORDER BY w.created_at DESC, w.account_version DESC LIMIT 1)"
        ") q ORDER BY q.v DESC LIMIT 1) p ON true),"
        " pos AS (SELECT l.o, l.dr > 0 AS debit, prev.v + row_number() OVER w AS v,"
        " prev.pd + sum(l.dr) OVER w AS pd, prev.pc + sum(l.cr) OVER w AS pc"
        " FROM l JOIN prev USING (a) WINDOW w AS (PARTITION BY l.a ORDER BY l.o))"
        f" INSERT INTO {schema}.entries (id, org_id, kind, description, metadata, effective_at,"
        " created_at, idempotency_key, request_hash, debit_account_id, credit_account_id,"
        " amount, currency, debit_version, debit_posted_debits, debit_posted_credits,"
        " credit_version, credit_posted_debits, credit_posted_credits)"
        " SELECT x.id, :org, 'standard', '', '{}', now(), now(), x.k, x.h, x.d, x.c, x.m,"
        " 'USD', dp.v, dp.pd, dp.pc, cp.v, cp.pd, cp.pc"
        " FROM x JOIN pos dp ON dp.o = x.o AND dp.debit JOIN pos cp ON cp.o = x.o"
        " AND NOT cp.debit"
    )


def _array(items: Sequence[object]) -> str:
    """A PostgreSQL array literal of plain items (uuids, keys of letters, digits, '-' and '_',
    hex digits, integers), sent as one text parameter: psycopg's own list dumper is pure
    Python, element by element (~1 ms per array of 200, most of this client's CPU in a first
    version), and sends the same text, so the server's work is the same."""
    return "{" + ",".join(map(str, items)) + "}"


def _params(
    org: uuid.UUID, batch: list[ledger.PostEntry], *, derived: bool, digest: bool
) -> dict[str, object]:
    """A batch's parameters, as the floor's (`bench.batches._floor`) with the lines also by
    entry (debit, credit, amount), the entry's id derived from its key if `derived`, the
    fingerprint as 32 bytes if `digest`."""
    accounts: list[str] = []
    amounts: list[int] = []
    for request in batch:
        for line in request.lines:
            accounts.append(str(line.account_id))
            amounts.append(line.amount)
    keys = [r.idempotency_key for r in batch]
    hexes = [hashlib.sha256(k.encode()).hexdigest() for k in keys]
    # bytea elements as \x<hex>, the backslash escaped for the array's parser.
    hashes = [f"\\\\x{h}" for h in hexes] if digest else hexes
    ids = [uuid.uuid5(org, k) for k in keys] if derived else [_uuid7() for _ in batch]
    return {
        "org": org,
        "keys": _array(keys),
        "hashes": _array(hashes),
        "ids": _array(ids),
        "accounts": _array(accounts),
        "amounts": _array(amounts),
        "debits": _array(accounts[0::2]),
        "credits": _array(accounts[1::2]),
        "entry_amounts": _array(amounts[0::2]),
    }


_TRIES = 5
DEADLOCKS = [0]
"""Batches run again after a deadlock (two connections only), in the whole run."""


@dataclass(frozen=True)
class Writer:
    """A layout's writes of a batch: its statements in order, in one transaction."""

    statements: tuple[sa.TextClause, ...]
    derived: bool = False
    digest: bool = False

    def params(self, org: uuid.UUID, batch: list[ledger.PostEntry]) -> dict[str, object]:
        """The batch's parameters for these statements."""
        return _params(org, batch, derived=self.derived, digest=self.digest)

    def __call__(self, conn: sa.Connection, org: uuid.UUID, batch: list[ledger.PostEntry]) -> None:
        params = self.params(org, batch)
        for attempt in range(_TRIES):
            try:
                with conn.begin():
                    for statement in self.statements:
                        conn.execute(statement, params)
                return
            except sa.exc.OperationalError as exc:
                # On two connections the accounts' UPDATE (no lock taken first, in no fixed
                # order, unlike the door's sorted FOR UPDATE) may deadlock with the other's:
                # run again, as the door does, and count it.
                if getattr(exc.orig, "sqlstate", None) != "40P01" or attempt == _TRIES - 1:
                    raise
                DEADLOCKS[0] += 1


def _writer(
    statements: Sequence[sa.TextClause], *, derived: bool = False, digest: bool = False
) -> Writer:
    return Writer(tuple(statements), derived, digest)


def _floor_setup(conn: sa.Connection) -> None:
    """bench.batches' own floor tables (its _copy_tables opens its own transaction)."""
    _copy_tables(conn.engine)


_READERS_LINES = (
    "as today (lines rows): balance_as_of probes lines_account_recorded, statements page"
    " lines_account, the trial balance reads lines by entry_org_id, row-level security by"
    " the line's org_id / entry_org_id"
)
_READERS_IN_ROW = (
    "a second shape beside the lines rows (kept for 3+ lines and high-volume accounts), read"
    " through a view of both (a two-line entry as two virtual lines, side by column):"
    " balance_as_of probes entries_<side>_recorded for each side and takes the later"
    " (recorded at, version); statements page both side indexes merged in (recorded at,"
    " version) order (the account's version is the cursor: a regular account's entries are"
    " recorded in version order); the trial balance and reports sum amount grouped by"
    " (org_id, debit_account_id) and (org_id, credit_account_id) (a scan, as today's of lines);"
    " the high-volume roll-up unchanged (its lines stay rows); row-level security: org_id ="
    " current org OR debit_org_id / credit_org_id = current org (an account's organization,"
    " the platform's in a shared entry: which then shows that organization the whole row,"
    " the other side included, unless read through a view of its side); the API's line_id"
    " (statements, seals) becomes (entry id, side) or a number drawn from the lines' sequence"
)


def layouts() -> list[Layout]:
    """The candidates, baseline first."""
    a = Layout(
        "A",
        "bench_floor",
        _floor_setup,
        # bench.batches' four statements, in its order, its parameters encoded as the others'.
        _writer([_FLOOR_KEYS, _FLOOR_ACCOUNTS, _FLOOR_ENTRIES, _FLOOR_LINES]),
        ("idempotency_keys", "entries", "lines"),
        4,
        11,
        _READERS_LINES + "; replay reads idempotency_keys",
    )
    b_writes = [
        _in("bench_b", _FLOOR_ACCOUNTS),
        _entries_with_key("bench_b"),
        _in("bench_b", _FLOOR_LINES),
    ]
    b = Layout(
        "B",
        "bench_b",
        _setup_b("bench_b", derived=False),
        _writer(b_writes),
        ("entries", "lines"),
        3,
        11,
        _READERS_LINES + "; replay reads the entry by (org_id, idempotency_key), a refusal's"
        " key in idempotency_keys (a second probe only on a miss)",
    )
    bd_writes = [
        _in("bench_bd", _FLOOR_ACCOUNTS),
        _entries_with_key("bench_bd"),
        _in("bench_bd", _FLOOR_LINES),
    ]
    bd = Layout(
        "Bd",
        "bench_bd",
        _setup_b("bench_bd", derived=True),
        _writer(bd_writes, derived=True),
        ("entries", "lines"),
        3,
        10,
        _READERS_LINES + "; replay reads the entry by its id, uuid5(org, key)",
    )
    c = Layout(
        "C",
        "bench_c",
        _setup_lines_in_row("bench_c", keyed_by_org=False, derived=False),
        _writer([_in("bench_c", _FLOOR_ACCOUNTS), _entries_with_lines("bench_c", "text")]),
        ("entries", "lines"),
        1,
        5,
        _READERS_IN_ROW + "; replay by (org_id, idempotency_key); an organization's entries"
        " listed by entries_org_created",
    )
    d = Layout(
        "D",
        "bench_d",
        _setup_lines_in_row("bench_d", keyed_by_org=True, derived=False),
        _writer(
            [_in("bench_d", _FLOOR_ACCOUNTS), _entries_with_lines("bench_d", "bytea", narrow=True)],
            digest=True,
        ),
        ("entries", "lines"),
        1,
        4,
        _READERS_IN_ROW.replace(
            "row-level security: org_id = current org OR debit_org_id / credit_org_id = current"
            " org (an account's organization, the platform's in a shared entry: which then shows"
            " that organization the whole row, the other side included, unless read through a"
            " view of its side)",
            "row-level security: org_id = current org, as the entries' today (a shared entry"
            " stays lines rows)",
        )
        + "; replay by (org_id, idempotency_key); an organization's entries"
        " listed by its primary key (org_id, id), the UUIDv7 id being time-ordered (the page"
        " key becomes the id; an entry by id alone: with the organization (row-level security"
        " adds it) or PostgreSQL 18's skip scan over the few organizations)",
    )
    dd = Layout(
        "Dd",
        "bench_dd",
        _setup_lines_in_row("bench_dd", keyed_by_org=False, derived=True),
        _writer(
            [_in("bench_dd", _FLOOR_ACCOUNTS), _entries_with_lines("bench_dd", "text")],
            derived=True,
        ),
        ("entries", "lines"),
        1,
        4,
        _READERS_IN_ROW + "; replay by the id uuid5(org, key); listed by entries_org_created",
    )
    dx = Layout(
        "Dx",
        "bench_dx",
        _setup_lines_in_row("bench_dx", keyed_by_org=True, derived=False),
        _writer([_entries_with_lines("bench_dx", "bytea", narrow=True)], digest=True),
        ("entries", "lines"),
        1,
        4,
        "not a layout: D's entry rows without the accounts' update (the balances would live"
        " nowhere), to split D's cost: the accounts' share is D's less this",
        diagnostic=True,
    )
    e = Layout(
        "E",
        "bench_e",
        _setup_lines_in_row("bench_e", keyed_by_org=True, derived=False),
        _writer([_entries_positioned("bench_e")], digest=True),
        ("entries", "lines"),
        1,
        4,
        "D's, but an account's posted totals and version live only in its last entry: the"
        " balance now is balance_as_of's probe (two side indexes and the lines'), the"
        " account_balances view a probe per account, the door's overdraft check the same"
        " probe after it locks the account row (which stays: the lock is what orders"
        " versions; this floor takes none, so it runs on one connection only)",
        serial=True,
    )
    return [a, b, bd, c, d, dd, dx, e]


# ------------------------------------------------------------------------------------------
# The run
# ------------------------------------------------------------------------------------------


def _load() -> list[float]:
    return [round(x, 2) for x in os.getloadavg()]


def _analyze_all(engine: sa.Engine, chosen: Sequence[Layout]) -> None:
    _analyze(engine)
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        for layout in chosen:
            for table in ("accounts", *layout.tables):
                conn.exec_driver_sql(f"ANALYZE {layout.schema}.{table}")


def _stored_bytes(engine: sa.Engine, layout: Layout) -> float:
    """Bytes the layout's tables (heap, indexes, TOAST) hold per entry written."""
    with engine.connect() as conn:
        size = sum(
            int(
                conn.exec_driver_sql(
                    f"SELECT pg_total_relation_size('{layout.schema}.{table}')"
                ).scalar_one()
            )
            for table in layout.tables
        )
        entries = int(
            conn.exec_driver_sql(f"SELECT count(*) FROM {layout.schema}.entries").scalar_one()
        )
    return per(size, entries)


def _positions_add_up(engine: sa.Engine, schema: str) -> bool:
    """E's check: each account's versions are 1..n, and its last position holds the sums of
    what its entries moved."""
    with engine.connect() as conn:
        return bool(
            conn.exec_driver_sql(
                "SELECT coalesce(bool_and(ok), false) FROM (SELECT count(*) = max(v)"
                " AND count(DISTINCT v) = count(*)"
                " AND (array_agg(pd ORDER BY v DESC))[1] = sum(dm)"
                " AND (array_agg(pc ORDER BY v DESC))[1] = sum(cm) AS ok FROM ("
                " SELECT debit_account_id AS a, debit_version AS v, debit_posted_debits AS pd,"
                " debit_posted_credits AS pc, amount AS dm, 0 AS cm"
                f" FROM {schema}.entries UNION ALL SELECT credit_account_id, credit_version,"
                f" credit_posted_debits, credit_posted_credits, 0, amount FROM {schema}.entries"
                ") s GROUP BY a) t"
            ).scalar_one()
        )


def _consistent(engine: sa.Engine, layout: Layout) -> bool:
    """Whether the layout's rows add up: the accounts' posted debits (and credits) are the sum
    of what its entries moved, and every entry carries its key and a full fingerprint."""
    if layout.name == "E":
        return _positions_add_up(engine, layout.schema)
    moved = (
        f"SELECT coalesce(sum(amount), 0) FROM {layout.schema}.entries"
        if layout.name in ("C", "D", "Dd")
        else f"SELECT coalesce(sum(amount), 0) FROM {layout.schema}.lines WHERE side = 'debit'"
    )
    if layout.name == "A":
        keyed = (
            "SELECT count(*) FROM bench_floor.entries e JOIN bench_floor.idempotency_keys k"
            " ON k.org_id = e.org_id AND k.key = e.idempotency_key"
            " AND length(k.request_hash) = 64"
        )
    else:
        keyed = (
            f"SELECT count(*) FROM {layout.schema}.entries WHERE idempotency_key IS NOT NULL"
            " AND length(request_hash) = " + ("32" if layout.name == "D" else "64")
        )
    with engine.connect() as conn:
        debits, credits = conn.exec_driver_sql(
            f"SELECT sum(posted_debits), sum(posted_credits) FROM {layout.schema}.accounts"
        ).one()
        total = conn.exec_driver_sql(moved).scalar_one()
        entries = conn.exec_driver_sql(f"SELECT count(*) FROM {layout.schema}.entries").scalar_one()
        return bool(
            debits == credits == total and conn.exec_driver_sql(keyed).scalar_one() == entries
        )


def _psycopg(statement: sa.TextClause) -> str:
    """The statement in psycopg's own parameter style (:name as %(name)s)."""
    return re.sub(r"(?<!:):(\w+)", r"%(\1)s", statement.text.replace("%", "%%"))


def _pipelined(
    conn: sa.Connection,
    layout: Layout,
    size: int,
    book: Book,
    *,
    seconds: float,
    rng: random.Random,
    pid: int | None,
) -> Round:
    """One round of the layout's batches on one connection in psycopg's pipeline mode: batch
    N's statements (BEGIN, the writes, COMMIT) are sent, then batch N+1 is built and encoded
    while the server writes batch N, and only then are N's results awaited (a sync)."""
    writer = layout.write
    queries = [_psycopg(s) for s in writer.statements]
    keys = _keys(f"{layout.name}-pipelined-{uuid.uuid4().hex[:8]}")
    conn.rollback()
    raw: Any = conn.connection.driver_connection
    raw.autocommit = True

    def build() -> dict[str, object]:
        return writer.params(book.org, _requests(book, rng, keys, size))

    def send(cur: Any, params: dict[str, object]) -> None:
        cur.execute("BEGIN")
        for query in queries:
            cur.execute(query, params)
        cur.execute("COMMIT")

    try:
        wal0, fpi0 = _wal(conn), _fpi([conn])
        conn.rollback()
        server0 = _backend_cpu(pid)
        client0, started = time.process_time(), time.perf_counter()
        deadline = started + seconds
        done = 0
        with raw.pipeline() as pipeline, raw.cursor() as cur:
            send(cur, build())
            while time.perf_counter() < deadline:
                following = build()
                pipeline.sync()
                done += size
                send(cur, following)
            pipeline.sync()
            done += size
        wall, client = time.perf_counter() - started, time.process_time() - client0
        server1 = _backend_cpu(pid)
        wal, fpi = _wal(conn) - wal0, _fpi([conn]) - fpi0
        conn.rollback()
    finally:
        raw.autocommit = False
    server = None if server0 is None or server1 is None else server1 - server0
    return Round(done, wall, client, server, wal, fpi)


def _readers(a: str, org: str, key: str, entries: tuple[str, str]) -> dict[str, dict[str, str]]:
    """Each reader's query on today's shape (A) and on D's, for an account, an organization,
    one of its keys and one of its entries (literals: EXPLAIN is given no parameters)."""
    side = (
        "(SELECT created_at, {s}_version AS v, {s}_posted_debits AS pd,"
        " {s}_posted_credits AS pc FROM bench_d.entries WHERE {s}_account_id = '{a}'"
        " AND created_at <= now() ORDER BY created_at DESC, {s}_version DESC LIMIT 1)"
    )
    page = (
        "(SELECT id, created_at, {s}_version AS v, amount,"
        " {s}_posted_debits - {s}_posted_credits AS net FROM bench_d.entries"
        " WHERE {s}_account_id = '{a}' AND (created_at, {s}_version) > ('-infinity', 0)"
        " ORDER BY created_at, {s}_version)"
    )
    rows = (
        "(SELECT entry_id, created_at, account_version AS v, amount,"
        " account_posted_debits - account_posted_credits AS net FROM bench_d.lines"
        f" WHERE account_id = '{a}' AND (created_at, account_version) > ('-infinity', 0)"
        " ORDER BY created_at, account_version)"
    )
    return {
        "balance_as_of": {
            "A": "SELECT account_posted_debits, account_posted_credits FROM bench_floor.lines"
            f" WHERE account_id = '{a}' AND created_at <= now() AND account_version IS NOT NULL"
            " ORDER BY created_at DESC, account_version DESC LIMIT 1",
            "D": "SELECT pd, pc FROM ("
            + " UNION ALL ".join(side.format(s=s, a=a) for s in ("debit", "credit"))
            + " UNION ALL (SELECT created_at, account_version, account_posted_debits,"
            " account_posted_credits FROM bench_d.lines"
            f" WHERE account_id = '{a}' AND created_at <= now() AND account_version IS NOT NULL"
            " ORDER BY created_at DESC, account_version DESC LIMIT 1)"
            ") p ORDER BY created_at DESC, v DESC LIMIT 1",
        },
        "statement_page": {
            "A": "SELECT id, entry_id, created_at, side, amount FROM bench_floor.lines"
            f" WHERE account_id = '{a}' AND id > 0 ORDER BY id LIMIT 100",
            "D": "SELECT * FROM ("
            + " UNION ALL ".join(page.format(s=s, a=a) for s in ("debit", "credit"))
            + f" UNION ALL {rows}) p ORDER BY created_at, v LIMIT 100",
        },
        "replay_by_key": {
            "A": "SELECT request_hash, result FROM bench_floor.idempotency_keys"
            f" WHERE org_id = '{org}' AND key = '{key}'",
            "D": "SELECT id, request_hash FROM bench_d.entries"
            f" WHERE org_id = '{org}' AND idempotency_key = '{key}'",
        },
        "entries_of_org_page": {
            "A": "SELECT id, created_at FROM bench_floor.entries"
            f" WHERE org_id = '{org}' ORDER BY created_at, id LIMIT 100",
            "D": f"SELECT id, created_at FROM bench_d.entries WHERE org_id = '{org}'"
            " ORDER BY id LIMIT 100",
        },
        "entry_by_id_alone": {
            "A": "SELECT e.id, l.account_id, l.side, l.amount FROM bench_floor.entries e"
            f" JOIN bench_floor.lines l ON l.entry_id = e.id WHERE e.id = '{entries[0]}'",
            "D": "SELECT id, debit_account_id, credit_account_id, amount FROM bench_d.entries"
            f" WHERE id = '{entries[1]}'",
        },
        "trial_balance_of_org": {
            "A": "SELECT account_id, sum(CASE WHEN side = 'debit' THEN amount ELSE -amount END)"
            f" FROM bench_floor.lines WHERE entry_org_id = '{org}' GROUP BY account_id",
            # One scan of the entries, each row giving its two sides.
            "D": "SELECT a, sum(m) FROM (SELECT v.a, v.m FROM bench_d.entries e CROSS JOIN"
            " LATERAL (VALUES (e.debit_account_id, e.amount), (e.credit_account_id, -e.amount))"
            f" AS v(a, m) WHERE e.org_id = '{org}' UNION ALL SELECT account_id,"
            " CASE WHEN side = 'debit' THEN amount ELSE -amount END FROM bench_d.lines"
            f" WHERE entry_org_id = '{org}') x GROUP BY a",
        },
    }


def _plans(engine: sa.Engine, book: Book, results: Results) -> None:
    """How each reader would find its rows in today's shape and in D's, on the tables this
    run filled: the scans of its plan and the buffers it touched (EXPLAIN ANALYZE)."""
    print("readers on today's shape (A) and on D's: scans, shared buffers", flush=True)
    with engine.connect() as conn:
        org, a = str(book.org), str(book.accounts[0])
        key = conn.exec_driver_sql("SELECT idempotency_key FROM bench_d.entries LIMIT 1").scalar()
        entries = tuple(
            str(conn.exec_driver_sql(f"SELECT id FROM {schema}.entries LIMIT 1").scalar())
            for schema in ("bench_floor", "bench_d")
        )
        conn.rollback()
        for reader, shapes in _readers(a, org, str(key), (entries[0], entries[1])).items():
            for shape, query in shapes.items():
                plan = conn.exec_driver_sql(
                    "EXPLAIN (ANALYZE, BUFFERS, COSTS OFF, TIMING OFF, SUMMARY OFF, FORMAT JSON) "
                    + query
                ).scalar_one()
                conn.rollback()
                top = (json.loads(plan) if isinstance(plan, str) else plan)[0]["Plan"]
                results.put(
                    f"reader_{reader}_{shape}_buffers",
                    int(top["Shared Hit Blocks"]) + int(top["Shared Read Blocks"]),
                    "; ".join(sorted(_scans(top))),
                )


def _scans(node: dict[str, Any]) -> set[str]:
    """The scans of a plan (JSON) node and its children: type, index, relation."""
    found = set()
    if "Relation Name" in node or "Index Name" in node:
        index = f" using {node['Index Name']}" if "Index Name" in node else ""
        relation = f" on {node['Relation Name']}" if "Relation Name" in node else ""
        found.add(f"{node['Node Type']}{index}{relation}")
    for child in node.get("Plans", []):
        found |= _scans(child)
    return found


def _summarise(results: Results, rounds: dict[str, list[Round]]) -> None:
    for name, done in rounds.items():
        entries = sum(x.entries for x in done)
        servers = [x.server_cpu for x in done]
        results.put(
            name,
            statistics.median(per(x.entries, x.wall) for x in done),
            "entries/s (median round)",
        )
        client_us = per(sum(x.client_cpu for x in done), entries) * 1e6
        results.put(f"{name}_client_cpu_us", client_us, "per entry")
        if None not in servers:
            server_us = per(sum(s or 0.0 for s in servers), entries) * 1e6
            results.put(f"{name}_server_cpu_us", server_us, "per entry, its backends")
        results.put(f"{name}_wal_bytes", per(sum(x.wal_bytes for x in done), entries), "per entry")
        results.put(
            f"{name}_wal_fpi",
            per(sum(x.wal_fpi for x in done), entries),
            "full-page images per entry",
        )


def _ratios(results: Results, chosen: Sequence[Layout], sizes: Sequence[int]) -> None:
    f = results.figures
    print("ratios to the baseline (A, today's floor), same run", flush=True)
    for layout in chosen[1:]:
        for size in sizes:
            for what in ("server_cpu_us", "wal_bytes"):
                mine, base = f.get(f"{layout.name}_{size}_{what}"), f.get(f"A_{size}_{what}")
                if mine is not None and base:
                    results.put(
                        f"{layout.name}_{size}_{what.split('_')[0]}_over_A",
                        per(mine, base),
                        f"{what} / A's",
                    )


def _projections(results: Results, chosen: Sequence[Layout], sizes: Sequence[int]) -> None:
    """The real door on each layout, by arithmetic: the rules' server CPU (door minus floor,
    this run) added to the layout's, the door's client CPU as measured."""
    f = results.figures
    print(
        "projections (arithmetic, not measured): the door's rules and client on each layout",
        flush=True,
    )
    for size in sizes:
        door_server = f.get(f"door_{size}_server_cpu_us")
        door_client = f.get(f"door_{size}_client_cpu_us")
        floor_server = f.get(f"A_{size}_server_cpu_us")
        if door_server is None or door_client is None or floor_server is None:
            continue
        rules = door_server - floor_server
        results.put(f"rules_{size}_server_cpu_us", rules, "door's server CPU above the floor")
        for layout in chosen:
            server = f.get(f"{layout.name}_{size}_server_cpu_us")
            if server is None or layout.diagnostic:
                continue
            total = server + rules + door_client
            one = per(1e6, total)
            two = per(1e6, max(door_client, total / 2))
            results.put(f"projected_{layout.name}_{size}_1conn", one, "entries/s, one connection")
            results.put(
                f"projected_{layout.name}_{size}_2conn", two, "entries/s at most, two connections"
            )
            results.put(f"projected_{layout.name}_{size}_reaches_goal", two >= GOAL)


Runner = Callable[[float], Round]
"""One case: runs a round of the given seconds."""


def _cases(
    chosen: Sequence[Layout],
    sizes: Sequence[int],
    book: Book,
    conns: Sequence[sa.Connection],
    pids: Sequence[int | None],
    *,
    door: bool,
    pipelined: str,
) -> dict[str, Runner]:
    """The door's cases (independent at the small size, linked at the large), each layout's
    at both sizes, then the baseline's and the pipelined layout's on two connections and in
    pipeline mode on one."""
    rng = random.Random(14)
    cases: list[Case] = []
    if door:
        cases += [Case(f"door_{sizes[0]}", sizes[0], _post(False))]
        cases += [Case(f"door_{sizes[1]}", sizes[1], _post(True))]
    for layout in chosen:
        cases += [Case(f"{layout.name}_{size}", size, layout.write) for size in sizes]
    twice = [x for x in chosen if x.name in ("A", pipelined)]
    for layout in twice:
        if layout.serial:
            continue
        cases += [
            Case(f"{layout.name}_{size}_2conn", size, layout.write, connections=2) for size in sizes
        ]

    def plain(case: Case) -> Runner:
        return lambda seconds: _round(conns, case, book, seconds=seconds, rng=rng, pids=pids)

    def piped(layout: Layout, size: int) -> Runner:
        return lambda seconds: _pipelined(
            conns[0], layout, size, book, seconds=seconds, rng=rng, pid=pids[0]
        )

    runners = {case.name: plain(case) for case in cases}
    for layout in twice:
        for size in sizes:
            runners[f"{layout.name}_{size}_pipeline"] = piped(layout, size)
    return runners


def _report(
    results: Results,
    engine: sa.Engine,
    book: Book,
    chosen: Sequence[Layout],
    *,
    sizes: Sequence[int],
    rounds: dict[str, list[Round]],
    door: bool,
) -> None:
    """Every figure after the rounds: the cases', storage, consistency, the readers' plans,
    the ratios to the baseline and the projections."""
    _summarise(results, rounds)
    results.put("deadlock_retries", DEADLOCKS[0], "batches run again (two connections)")
    results.put("load_after", _load(), "load average 1/5/15 min")
    print("storage per entry (heap, indexes, TOAST; accounts not counted)", flush=True)
    for layout in chosen:
        results.put(f"{layout.name}_stored_bytes", _stored_bytes(engine, layout), "per entry")
    for layout in chosen:
        if not layout.diagnostic:
            results.put(f"{layout.name}_rows_add_up", _consistent(engine, layout))
    if {"A", "D"} <= {x.name for x in chosen}:
        _plans(engine, book, results)
    _ratios(results, chosen, sizes)
    if door:
        _projections(results, chosen, sizes)
    for name in rounds:
        results.put(f"target_{name}_15000", results.figures[name] >= GOAL)


def main(argv: Sequence[str] | None = None) -> int:
    """Run the experiment and print its figures, the last line one JSON object."""
    parser = argparse.ArgumentParser(prog="python -m bench.layout", description=__doc__)
    parser.add_argument("--seconds", type=float, default=4.0, help="length of each round")
    parser.add_argument("--rounds", type=int, default=3, help="rounds of every case")
    parser.add_argument(
        "--warm-up", type=float, default=1.5, help="seconds of every case before the rounds"
    )
    parser.add_argument("--accounts", type=int, default=10_000, help="accounts to spread over")
    parser.add_argument("--batch", type=int, default=500, help="entries per large batch")
    parser.add_argument(
        "--independent-batch", type=int, default=100, help="entries per small batch"
    )
    parser.add_argument(
        "--only", default="", help="comma-separated layouts to run (A is always run)"
    )
    parser.add_argument(
        "--pipelined", default="D", help="the layout also run on two connections (besides A)"
    )
    parser.add_argument("--no-door", action="store_true", help="skip the real door's cases")
    args = parser.parse_args(argv)
    every = layouts()
    wanted = {x for x in args.only.split(",") if x}
    chosen = [x for x in every if x.name == "A" or not wanted or x.name in wanted]
    sizes = (args.independent_batch, args.batch)
    results = Results()
    name = f"bench_layout_{uuid.uuid4().hex[:8]}"
    with _server() as admin:
        try:
            create_database(admin, name)
            url = database_url(admin, name)
            upgrade(url)
            engine = make_engine(url, pool_size=2)
            book: Book = _open_book(engine, args.accounts)
            for layout in chosen:
                with engine.begin() as conn:
                    layout.setup(conn)
            results.put("load_before", _load(), "load average 1/5/15 min")
            print(
                f"{args.rounds} rounds of {args.seconds:g} s per case, interleaved; baseline:"
                " A, today's floor (bench.batches' statements and tables)",
                flush=True,
            )
            for layout in chosen:
                print(
                    f"  {layout.name} ({layout.schema}): {layout.heap_tuples} heap tuples,"
                    f" {layout.index_entries} index entries per entry,"
                    f" {0 if layout.diagnostic else 2} HOT account updates;"
                    f" readers: {layout.readers}",
                    flush=True,
                )
            with engine.connect() as conn, engine.connect() as other:
                conns = (conn, other)
                pids: list[int | None] = []
                for c in conns:
                    pids.append(int(c.execute(sa.text("SELECT pg_backend_pid()")).scalar_one()))
                    c.rollback()
                cases = _cases(
                    chosen,
                    sizes,
                    book,
                    conns,
                    pids,
                    door=not args.no_door,
                    pipelined=args.pipelined,
                )
                rounds: dict[str, list[Round]] = {name: [] for name in cases}
                names = list(cases)
                for name in names:
                    cases[name](args.warm_up)
                for r in range(args.rounds):
                    _analyze_all(engine, chosen)
                    for name in names[r % len(names) :] + names[: r % len(names)]:
                        rounds[name].append(cases[name](args.seconds))
                    print(f"round {r + 1} done, load {_load()}", flush=True)
            _report(
                results, engine, book, chosen, sizes=sizes, rounds=rounds, door=not args.no_door
            )
            engine.dispose()
        finally:
            drop_database(admin, name)
    print(json.dumps(results.figures), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
