"""`liventix config show`: the settings a command would use, and where each came from."""

from __future__ import annotations

import json
import os

import click

from liventix.cli.common import EXIT_OK, SETTINGS, Group, aligned, load_settings, settings_epilog


@click.group("config", cls=Group)
def group() -> None:
    """The application's settings (environment variables and `.env`)."""


@group.command("show", epilog=settings_epilog(SETTINGS))
@click.option("--json", "as_json", is_flag=True, help="one JSON object")
def show(as_json: bool) -> int:
    """Print every setting as a command would use it, secrets masked.

    Each with its source: the environment, the `.env` file in the working directory, or the
    default. A value that cannot be used is one line on stderr, exit 2. Connects to nothing."""
    shown = list(load_settings().shown(os.environ))
    if as_json:
        click.echo(json.dumps({name: {"value": v, "source": s} for name, v, s in shown}))
        return EXIT_OK
    click.echo(aligned(("VARIABLE", "VALUE", "SOURCE"), shown))
    return EXIT_OK
