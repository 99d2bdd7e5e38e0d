"""`liventix db ...`: the application database: create, migrate, inspect."""

from __future__ import annotations

import click
from sqlalchemy.engine import make_url

from liventix.cli.common import (
    DATABASE,
    EXIT_NO,
    EXIT_OK,
    PREPARED,
    Group,
    load_settings,
    settings_epilog,
)
from liventix.database import (
    current_revision,
    database_exists,
    database_url,
    head_revision,
    prepare,
    server_url,
)


@click.group("db", cls=Group)
def group() -> None:
    """The application database: create, migrate, inspect."""


@group.command(epilog=settings_epilog(PREPARED))
def upgrade() -> int:
    """Create and migrate the database; print its revision."""
    url = prepare(load_settings())
    click.echo(current_revision(url) or "(no revision)")
    return EXIT_OK


@group.command(epilog=settings_epilog(PREPARED))
def url() -> int:
    """Print the URL of the database, created and migrated."""
    click.echo(prepare(load_settings()))
    return EXIT_OK


@group.command(epilog=settings_epilog(DATABASE))
def status() -> int:
    """Compare the database's revision with the newest; 1 if behind.

    Changes nothing: a missing database is reported, not created."""
    settings = load_settings()
    server = server_url(settings)
    url = database_url(server, settings.database_name)
    exists = database_exists(server, settings.database_name)
    current = current_revision(url) if exists else None
    head = head_revision()
    click.echo(f"database  {make_url(url).render_as_string(hide_password=True)}")
    current_text = "(database missing)" if not exists else current or "(never migrated)"
    click.echo(f"current   {current_text}")
    click.echo(f"head      {head}")
    if current == head:
        click.echo("up to date")
        return EXIT_OK
    click.echo("not at head: run `liventix db upgrade`", err=True)
    return EXIT_NO
