"""`liventix ledger seal` and `liventix ledger verify`: tamper evidence (issue 16 item 1).
The sealer hashes the entries recorded since its last run into hash-chained checkpoints
(the worker runs it too, each periodic step); verify recomputes every hash and chain and
names the first entry, line or checkpoint that no longer matches (exit 1)."""

from __future__ import annotations

import json

import click
import sqlalchemy as sa

import ledger
from liventix.cli.common import (
    DATABASE,
    EXIT_NO,
    EXIT_OK,
    PREPARED,
    Command,
    drain,
    engine,
    existing_engine,
    find_organization,
    settings_epilog,
)


@click.command("seal", cls=Command, epilog=settings_epilog(PREPARED))
@click.option(
    "--limit",
    type=click.IntRange(min=1),
    default=50_000,
    show_default=True,
    help="about this many entries per transaction (one checkpoint per organization each)",
)
def seal(limit: int) -> int:
    """Seal every entry recorded since the last checkpoint."""
    checkpoints = 0

    def step(conn: sa.Connection) -> int:
        nonlocal checkpoints
        done = ledger.seal(conn, limit=limit)
        checkpoints += len(done.checkpoints)
        return done.sealed

    total = drain(engine(), step)
    click.echo(f"sealed {total} entr{'y' if total == 1 else 'ies'} in {checkpoints} checkpoint(s)")
    return EXIT_OK


@click.command("verify", cls=Command, epilog=settings_epilog(DATABASE))
@click.option("--org", default=None, metavar="ID|NAME", help="only this organization's entries")
@click.option("--json", "as_json", is_flag=True, help="the result as one JSON object")
def verify(org: str | None, as_json: bool) -> int:
    """Recompute every sealed entry, line and checkpoint.

    Exit 0 when everything matches; 1 naming the first entry, line or checkpoint that no
    longer matches (and how many did)."""
    with existing_engine().begin() as conn:
        org_id = None if org is None else find_organization(conn, org)[0]
        found = ledger.verify(conn, org_id, limit=1000)
    if as_json:
        click.echo(
            json.dumps(
                {
                    "clean": found.clean,
                    "org_id": None if org_id is None else str(org_id),
                    "entries": found.entries,
                    "lines": found.lines,
                    "checkpoints": found.checkpoints,
                    "mismatches": [m.describe() for m in found.mismatches],
                }
            )
        )
    elif found.first is None:
        click.echo(
            f"clean: {found.entries} entries, {found.lines} lines and {found.checkpoints}"
            " checkpoint(s) match what was sealed"
        )
    else:
        more = len(found.mismatches) - 1
        click.echo(f"TAMPERED: {found.first.describe()}")
        if more:
            click.echo(f"and {more}{'+' if len(found.mismatches) == 1000 else ''} more")
    return EXIT_OK if found.clean else EXIT_NO
