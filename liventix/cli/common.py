"""What every `liventix` command shares: exit statuses, the command and group classes that turn
the application's errors into one line on stderr, the settings a command reads, the engines
it opens, and the option types more than one group takes (`Moment`).

A command is the unit of work at the edge: it opens and commits its transactions. It returns
its exit status (0, or 1 for its own "no": differences found, not at head, already revoked);
a usage or setup error is exit 2 with one line `liventix <command>: <what>` on stderr. The
group modules beside this one import it and nothing above it.
"""

from __future__ import annotations

import errno
import os
import sys
import uuid
from collections.abc import Callable, Iterable
from datetime import UTC, datetime
from typing import Any

import click
import sqlalchemy as sa

import ledger
from liventix.database import DatabaseSetupError, existing_database_url, make_engine, prepare
from liventix.settings import Settings, variables


def _short(description: str, default: str, secret: bool) -> str:
    """A help line: the description's first part (before its first parenthesis) and the
    default, unless secret."""
    short = description.split(" (", 1)[0]
    return f"{short} (default {default})" if default and not secret else short


EXIT_OK = 0
EXIT_NO = 1
"""A command's own "no": a report found differences, the database is behind, a key was
already revoked."""
EXIT_ERROR = 2
"""A usage or setup error (Click's usage errors are 2 as well)."""
EXIT_CLOSED_PIPE = 128 + 13
"""The reader of the output went away (`liventix report all | head -1`): the status of a
process that SIGPIPE ended, without its traceback."""

SETTINGS: dict[str, str] = {v.name: _short(v.description, v.default, v.secret) for v in variables()}
"""Every environment variable the application reads (the settings model's), with the first
part of its description."""

DATABASE = ("DATABASE_URL", "LIVENTIX_DB_NAME", "LIVENTIX_DATA_DIR", "LIVENTIX_PGDATA")
"""What finds the application's database."""
PREPARED = (*DATABASE, "LIVENTIX_SECRET_KEY", "STRIPE_WEBHOOK_SECRET")
"""What a command that creates and migrates the database reads (`prepare` configures the
sealing key and Stripe's webhook secret in it)."""
STRIPE_CALLS = ("STRIPE_API_KEY", "STRIPE_API_BASE")
"""What a command that calls Stripe reads."""


def settings_epilog(names: Iterable[str]) -> str:
    """A help epilog listing the environment variables a command reads."""
    names = list(names)
    width = max(len(n) for n in names)
    lines = [f"  {name:<{width}}  {SETTINGS[name]}" for name in names]
    # "\b" keeps Click from rewrapping the paragraph.
    return "\b\nEnvironment:\n" + "\n".join(lines)


class Failed(click.ClickException):
    """A command could not do its work: `liventix <command>: <what>` on stderr, exit 2."""

    exit_code = EXIT_ERROR

    def __init__(self, message: str) -> None:
        super().__init__(message)
        ctx = click.get_current_context(silent=True)
        self.command_path = ctx.command_path if ctx is not None else "liventix"

    def show(self, file: Any = None) -> None:
        """Print the one line on stderr."""
        click.echo(f"{self.command_path}: {self.format_message()}", err=True)


class SettingsError(Exception):
    """An environment variable holds a value the application cannot use."""


class Command(click.Command):
    """A `liventix` command: its return value is its exit status, and the application's
    setup errors become one line on stderr (exit 2) instead of a traceback."""

    def invoke(self, ctx: click.Context) -> Any:
        """Run the command and exit with the status it returned."""
        try:
            status = super().invoke(ctx)
        except (DatabaseSetupError, SettingsError) as error:
            raise Failed(str(error)) from error
        except sa.exc.OperationalError as error:
            raise Failed(f"cannot use the database: {_one_line(error.orig)}") from error
        except sa.exc.DBAPIError as error:
            # A constraint the database keeps and no typed error caught first: its own words
            # (psycopg's message and DETAIL), not a traceback with the statement's parameters.
            raise Failed(f"the database refused: {_one_line(error.orig)}") from error
        except ledger.LedgerError as error:
            raise Failed(f"the ledger refused: {error}") from error
        except OSError as error:
            if error.errno == errno.EPIPE:
                raise click.exceptions.Exit(closed_pipe()) from None
            raise
        ctx.exit(status if isinstance(status, int) else EXIT_OK)


class Group(click.Group):
    """A group of `liventix` commands (their class is `Command`, their subgroups' `Group`)."""

    command_class = Command
    group_class = type

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        """List the commands with their whole first sentence, wrapped (Click cuts it to the
        terminal's width with "...")."""
        rows = []
        for name in self.list_commands(ctx):
            command = self.get_command(ctx, name)
            if command is not None and not command.hidden:
                rows.append((name, command.get_short_help_str(limit=200)))
        if rows:
            with formatter.section("Commands"):
                formatter.write_dl(rows)


def _one_line(error: BaseException | None) -> str:
    return "; ".join(line.strip() for line in str(error).splitlines() if line.strip())


def closed_pipe() -> int:
    """The reader of stdout went away: send the rest of stdout nowhere (so that the flush at
    exit raises nothing either) and return EXIT_CLOSED_PIPE, the status to exit with."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    except (OSError, ValueError):
        pass  # stdout without a file descriptor (a test's capture): nothing to flush there
    return EXIT_CLOSED_PIPE


def load_settings() -> Settings:
    """The settings from the environment and `.env`; a value that cannot be used is a
    SettingsError (one line naming the variables at fault)."""
    try:
        return Settings.from_env()
    except ValueError as error:
        raise SettingsError(f"a setting in the environment cannot be used: {error}") from error


def engine() -> sa.Engine:
    """The application database's engine, created and migrated as needed (commands that
    write)."""
    return make_engine(prepare(load_settings()))


def existing_engine() -> sa.Engine:
    """The engine of the application database as it is, for commands that only read: a
    missing or unmigrated database is a setup error (exit 2), never created nor migrated, so a
    mistyped name cannot read as an empty, balanced ledger."""
    return make_engine(existing_database_url(load_settings()))


def drain(engine: sa.Engine, step: Callable[[sa.Connection], int]) -> int:
    """Run `step` in its own transaction until it does nothing more; return the total."""
    total = 0
    while True:
        with engine.begin() as conn:
            done = step(conn)
        total += done
        if not done:
            return total


def find_organization(conn: sa.Connection, id_or_name: str) -> tuple[uuid.UUID, str]:
    """The organization (id, name) named by its id or its name; an unknown or ambiguous one
    is a setup error (Failed)."""
    from liventix.api.organizations import read_side  # noqa: PLC0415 (loads FastAPI)

    try:
        org_id = uuid.UUID(id_or_name)
    except ValueError:
        found = read_side.named(conn, id_or_name)
    else:
        one = read_side.get(conn, org_id)
        found = [] if one is None else [one]
    if not found:
        raise Failed(f"no organization {id_or_name}")
    if len(found) > 1:
        ids = ", ".join(str(o.id) for o in found)
        raise Failed(f"{len(found)} organizations are named {id_or_name}: give its id ({ids})")
    return found[0].id, found[0].name


def aligned(headers: tuple[str, ...], rows: Iterable[tuple[object, ...]]) -> str:
    """Rows as a plain text table, columns padded to their widest cell (None shows as -)."""
    cells = [headers, *(tuple("-" if c is None else str(c) for c in row) for row in rows)]
    widths = [max(len(row[i]) for row in cells) for i in range(len(headers))]
    return "\n".join(
        "  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip() for row in cells
    )


class Moment(click.ParamType[datetime]):
    """A moment: an ISO 8601 date or time (one without a time zone is UTC), or, with
    `seconds`, Unix seconds too (all digits: a basic ISO date such as 20261205 is then
    seconds)."""

    def __init__(self, *, seconds: bool = False) -> None:
        self.seconds = seconds
        self.name = "TIME" if seconds else "ISO-8601"

    def convert(
        self, value: object, param: click.Parameter | None, ctx: click.Context | None
    ) -> datetime:
        if isinstance(value, datetime):
            return value if value.tzinfo is not None else value.replace(tzinfo=UTC)
        text = str(value).strip()
        if self.seconds and text.isdigit():
            try:
                return datetime.fromtimestamp(int(text), UTC)
            except (ValueError, OverflowError, OSError):
                self.fail(f"Unix seconds out of range: {value}", param, ctx)
        try:
            moment = datetime.fromisoformat(text)
        except ValueError:
            what = "not an ISO 8601 date or time"
            if self.seconds:
                what = "neither Unix seconds nor an ISO 8601 time"
            self.fail(f"{what}: {value}", param, ctx)
        return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)
