"""Sealing and verifying an untouched ledger of 10^6 lines (issue 16 item 1).

Run as `python -m bench.verify [--lines 1000000] [--orgs 4]`. One fresh database, filled
with the batch path (`ledger.post_batch`, independent two-line entries, 500 per call)
across `--orgs` organizations until it holds `--lines` lines; then timed:

- `ledger.seal` over the whole fill (as `liventix ledger seal` does it: runs of 50,000
  entries, each its own transaction) (`seal_s`);
- `ledger.verify` of the whole ledger, clean (`verify_s`, the figure the issue asks for),
  and of one organization (`verify_org_s`);
- the baseline beside them: a plain `SELECT count(*), sum(amount)` over every line
  (`scan_s`), so `verify_over_scan` says what recomputing the hashes costs over reading.

The last line printed is one JSON object holding every figure.
"""

from __future__ import annotations

import argparse
import json
import random
import sys
import time
import uuid
from collections.abc import Sequence

import sqlalchemy as sa

import ledger
from bench.ledger_ab import Book, add_server_flag, fresh_database, load, open_book, server
from liventix.database import make_engine

FILL_BATCH = 500


def _fill(engine: sa.Engine, books: list[Book], target: int, rng: random.Random) -> None:
    lines = 0
    while lines < target:
        book = books[(lines // (2 * FILL_BATCH)) % len(books)]
        size = min(FILL_BATCH, max(1, (target - lines) // 2))
        batch = []
        for _ in range(size):
            debit, credit = rng.sample(book.accounts, 2)
            amount = rng.randint(1, 10_000)
            batch.append(
                ledger.PostEntry(
                    f"fill-{uuid.uuid4().hex}",
                    [
                        ledger.Line(debit, "debit", amount, "USD"),
                        ledger.Line(credit, "credit", amount, "USD"),
                    ],
                    description="bench fill",
                )
            )
        with engine.begin() as conn:
            results = ledger.post_batch(conn, book.org, batch)
        if any(r.error is not None for r in results):
            raise RuntimeError("fill: an entry was refused")
        lines += 2 * size


def _timed(engine: sa.Engine, what: str, step: object) -> tuple[float, object]:
    started = time.perf_counter()
    with engine.begin() as conn:
        found = step(conn)  # type: ignore[operator]
    seconds = time.perf_counter() - started
    print(f"{what}: {seconds:.1f} s", flush=True)
    return seconds, found


def main(argv: Sequence[str] | None = None) -> int:
    """Fill, seal, verify; print the figures, the last line one JSON object."""
    parser = argparse.ArgumentParser(prog="python -m bench.verify", description=__doc__)
    parser.add_argument("--lines", type=int, default=1_000_000, help="lines to fill to")
    parser.add_argument("--orgs", type=int, default=4, help="organizations to spread over")
    parser.add_argument("--accounts", type=int, default=1000, help="accounts per organization")
    add_server_flag(parser)
    args = parser.parse_args(argv)
    print(f"machine: {load()}", flush=True)
    rng = random.Random(16)
    with (
        server(tuned=not args.server_defaults) as admin,
        fresh_database(admin, "bench_verify") as url,
    ):
        engine = make_engine(url, pool_size=2)
        books = [open_book(engine, args.accounts) for _ in range(args.orgs)]
        started = time.perf_counter()
        _fill(engine, books, args.lines, rng)
        fill_s = time.perf_counter() - started
        with engine.begin() as conn:
            conn.execute(sa.text("ANALYZE"))
            lines = int(conn.execute(sa.text("SELECT count(*) FROM payments.lines")).scalar_one())
        print(f"filled {lines} lines in {fill_s:.0f} s", flush=True)
        started = time.perf_counter()
        sealed = checkpoints = 0
        while True:
            with engine.begin() as conn:
                run = ledger.seal(conn, limit=50_000)
            sealed += run.sealed
            checkpoints += len(run.checkpoints)
            if not run.sealed:
                break
        seal_s = time.perf_counter() - started
        print(f"sealed {sealed} entries into {checkpoints} checkpoints in {seal_s:.1f} s")
        with engine.begin() as conn:
            conn.execute(sa.text("ANALYZE"))
        scan_s, _ = _timed(
            engine,
            "baseline: count and sum every line",
            lambda c: c.execute(sa.text("SELECT count(*), sum(amount) FROM payments.lines")).one(),
        )
        verify_s, whole = _timed(engine, "verify the whole ledger", ledger.verify)
        verify_org_s, one = _timed(
            engine, "verify one organization", lambda c: ledger.verify(c, books[0].org)
        )
        engine.dispose()
    assert isinstance(whole, ledger.Verification) and isinstance(one, ledger.Verification)
    print(
        f"verify: {'clean' if whole.clean else 'NOT CLEAN'}, {whole.entries} entries,"
        f" {whole.lines} lines, {whole.checkpoints} checkpoints in {verify_s:.1f} s"
        f" ({verify_s / scan_s:.1f}x the plain scan's {scan_s:.2f} s); machine after: {load()}"
    )
    print(
        json.dumps(
            {
                "bench": "verify",
                "lines": lines,
                "entries": whole.entries,
                "checkpoints": whole.checkpoints,
                "fill_s": round(fill_s, 1),
                "seal_s": round(seal_s, 2),
                "seal_us_per_entry": round(seal_s / max(sealed, 1) * 1e6, 1),
                "scan_s": round(scan_s, 3),
                "verify_s": round(verify_s, 2),
                "verify_org_s": round(verify_org_s, 2),
                "verify_over_scan": round(verify_s / scan_s, 1),
                "clean": whole.clean and one.clean,
                "load": load(),
            }
        )
    )
    return 0 if whole.clean and one.clean else 1


if __name__ == "__main__":
    sys.exit(main())
