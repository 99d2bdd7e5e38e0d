"""The `liventix` command line, on Click: the root group, which adds one group (or command)
per module beside it.

    liventix [--version] COMMAND ...

Each module below is one group of commands and imports only `liventix.cli.common` and the
application below it, never this root. A command is the unit of work at the edge: it opens
and commits its transactions; it returns its exit status (0; 1 for its own "no"); a usage or
setup error is exit 2 with one line `liventix <command>: <what>` on stderr. Shell completion
is Click's: `eval "$(_LIVENTIX_COMPLETE=bash_source liventix)"` (zsh_source, fish_source).
"""

from __future__ import annotations

import sys
from collections.abc import Sequence

import click
from click.utils import PacifyFlushWrapper

from liventix.cli import (
    api,
    config,
    db,
    demo,
    docs,
    escrow,
    keys,
    ledger,
    ledger_books,
    ledger_seals,
    ledger_settlements,
    orgs,
    outbox,
    report,
    tickets,
)
from liventix.cli.common import (
    EXIT_ERROR,
    EXIT_NO,
    EXIT_OK,
    SETTINGS,
    Command,
    Failed,
    Group,
    closed_pipe,
    settings_epilog,
)

PROG = "liventix"


@click.group(
    PROG,
    cls=Group,
    epilog=settings_epilog(SETTINGS)
    + '\n\nShell completion: eval "$(_LIVENTIX_COMPLETE=bash_source liventix)" (or '
    "zsh_source, fish_source).",
    context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100},
)
@click.version_option(
    package_name="liventix-payments", prog_name=PROG, message="%(prog)s %(version)s"
)
def cli() -> None:
    """Liventix payments core: ledger, escrow, tickets, outbox."""


for _command in (
    db.group,
    ledger.group,
    outbox.worker,
    outbox.group,
    escrow.group,
    tickets.group,
    docs.docs,
    api.serve,
    orgs.group,
    keys.group,
    api.group,
    report.group,
    config.group,
    demo.demo,
):
    cli.add_command(_command)
ledger.group.add_command(ledger_seals.seal)
ledger.group.add_command(ledger_seals.verify)
ledger.group.add_command(ledger_settlements.settlements)
ledger.group.add_command(ledger_settlements.transfer_coverage)
ledger.group.add_command(ledger_books.categories)
ledger.group.add_command(ledger_books.seed_categories)
ledger.group.add_command(ledger_books.open_fx_liquidity)
ledger.group.add_command(ledger_books.set_fx_rate)


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command named by `argv` (default: the process arguments); return its status.
    The console script `liventix` and `python -m liventix` call this."""
    try:
        status = cli.main(
            args=list(argv) if argv is not None else None,
            prog_name=PROG,
            standalone_mode=False,
        )
    except click.ClickException as error:
        error.show()
        return error.exit_code
    except click.Abort:
        click.echo("Aborted!", err=True)
        return EXIT_NO
    except BrokenPipeError:
        return closed_pipe()
    except SystemExit:
        # Click's own answer to a closed pipe while it printed help or a usage error: exit 1
        # with stdout wrapped to swallow the rest. The same status as a command's, then.
        if isinstance(sys.stdout, PacifyFlushWrapper):
            return closed_pipe()
        raise
    return status if isinstance(status, int) else EXIT_OK


__all__ = ["EXIT_ERROR", "EXIT_NO", "EXIT_OK", "Command", "Failed", "Group", "cli", "main"]
