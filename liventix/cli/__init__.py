"""The `liventix` command line, on Click: the root group, which adds one group (or command)
per module beside it, importing that module only when its command is asked for (`COMMANDS`).

    liventix [--version] COMMAND ...

Each module below is one group of commands and imports only `liventix.cli.common` and the
application below it, never this root. A command is the unit of work at the edge: it opens
and commits its transactions; it returns its exit status (0; 1 for its own "no"); a usage or
setup error is exit 2 with one line `liventix <command>: <what>` on stderr. Shell completion
is Click's: `eval "$(_LIVENTIX_COMPLETE=bash_source liventix)"` (zsh_source, fish_source).
"""

from __future__ import annotations

import importlib
import sys
from collections.abc import Sequence

import click
from click.utils import PacifyFlushWrapper

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

COMMANDS: dict[str, tuple[str, str]] = {
    "api": ("api", "group"),
    "config": ("config", "group"),
    "db": ("db", "group"),
    "demo": ("demo", "demo"),
    "docs": ("docs", "docs"),
    "escrow": ("escrow", "group"),
    "keys": ("keys", "group"),
    "ledger": ("ledger", "group"),
    "orgs": ("orgs", "group"),
    "outbox": ("outbox", "group"),
    "report": ("report", "group"),
    "serve": ("api", "serve"),
    "stripe": ("stripe_commands", "group"),
    "tickets": ("tickets", "group"),
    "worker": ("outbox", "worker"),
}
"""Each top-level command: the module beside this one that defines it, and its name there."""

EXTRA: dict[str, tuple[tuple[str, str], ...]] = {
    "ledger": (
        ("ledger_seals", "seal"),
        ("ledger_seals", "verify"),
        ("ledger_settlements", "settlements"),
        ("ledger_settlements", "transfer_coverage"),
        ("ledger_books", "categories"),
        ("ledger_books", "seed_categories"),
        ("ledger_books", "open_fx_liquidity"),
        ("ledger_books", "set_fx_rate"),
    ),
}
"""Commands a group's own module does not define, added to it from the modules beside it."""


class LazyGroup(Group):
    """The root group: a command's module is imported when the command is asked for, so that
    `liventix ledger ...` or `liventix worker` does not pay for the API, the reports, the demo
    and its stand-ins (each CLI process, and every test that runs one, imported them all)."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        """Every command's name, sorted (none imported)."""
        return sorted({*COMMANDS, *self.commands})

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        """The command named `cmd_name`, its module imported (and kept) on first use."""
        if cmd_name not in self.commands and cmd_name in COMMANDS:
            self.add_command(_load(*COMMANDS[cmd_name]), cmd_name)
        return self.commands.get(cmd_name)


def _load(module: str, name: str) -> click.Command:
    command = getattr(importlib.import_module(f"liventix.cli.{module}"), name)
    assert isinstance(command, click.Command)
    if isinstance(command, click.Group):
        for extra_module, extra in EXTRA.get(command.name or "", ()):
            sub = getattr(importlib.import_module(f"liventix.cli.{extra_module}"), extra)
            if sub.name not in command.commands:
                command.add_command(sub)
    return command


@click.group(
    PROG,
    cls=LazyGroup,
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
