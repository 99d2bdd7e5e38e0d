"""`liventix docs`: regenerate the documents generated from the code."""

from __future__ import annotations

import click

from liventix import docs as generated
from liventix.cli.common import EXIT_OK, Command


@click.command("docs", cls=Command)
def docs() -> int:
    """Regenerate the documents generated from the code (docs/).

    The machines' diagrams, the escrow's chart of accounts and recipes, the list of settings
    (docs/configuration.md) and the current schema (docs/schema.sql: pg_dump of a database
    migrated to head, on a throwaway embedded server it starts and removes); prints what it
    changed."""
    for path in generated.write():
        click.echo(f"wrote {path}")
    return EXIT_OK
