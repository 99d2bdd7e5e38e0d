"""`liventix serve` and `liventix api ...`: the HTTP API and its documents. FastAPI and uvicorn
load only when one of these commands runs."""

from __future__ import annotations

from pathlib import Path

import click

from liventix.cli.common import (
    EXIT_OK,
    PREPARED,
    STRIPE_CALLS,
    Command,
    Group,
    load_settings,
    settings_epilog,
)
from liventix.clientgen import client as client_command

SERVE_READS = (
    *PREPARED,
    *STRIPE_CALLS,
    "LIVENTIX_WEBHOOK_ALLOW",
    "LIVENTIX_LOG_FORMAT",
    "LIVENTIX_LOG_LEVEL",
    "LIVENTIX_ACCESS_LOG",
)


@click.command("serve", cls=Command, epilog=settings_epilog(SERVE_READS))
@click.option("--host", default="127.0.0.1", show_default=True, help="address to listen on")
@click.option(
    "--port",
    type=click.IntRange(0, 65535),
    default=8000,
    show_default=True,
    help="port to listen on",
)
@click.option("--log-level", default="info", show_default=True, help="uvicorn's log level")
@click.option(
    "--processes",
    type=click.IntRange(min=1),
    default=None,
    metavar="N",
    help="server processes sharing the port (default: one per CPU); each has its "
    "own share of the database connections",
)
def serve(host: str, port: int, log_level: str, processes: int | None) -> int:
    """Serve the HTTP API with uvicorn until SIGTERM.

    Migrates the database first; Stripe's webhook secret comes from STRIPE_WEBHOOK_SECRET."""
    from liventix import api, logs  # noqa: PLC0415

    settings = load_settings()
    logs.configure(settings.log_format, settings.log_level, access_log=settings.access_log)
    return api.serve(settings, host=host, port=port, log_level=log_level, processes=processes)


@click.group("api", cls=Group)
def group() -> None:
    """The HTTP API's documents."""


@group.command("openapi")
@click.option(
    "--output",
    type=click.Path(dir_okay=False, path_type=Path),
    default=Path("docs/openapi.json"),
    show_default=True,
    help="where to write it",
)
def openapi(output: Path) -> int:
    """Write the API's OpenAPI document (docs/openapi.json).

    Generated from the code: no database needed."""
    from liventix import api  # noqa: PLC0415

    changed = api.write_openapi(output)
    click.echo(f"{'wrote' if changed else 'unchanged'} {output}")
    return EXIT_OK


group.add_command(client_command)
