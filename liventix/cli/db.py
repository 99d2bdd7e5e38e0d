"""`liventix db ...`: the application database: create, migrate, inspect; a standby of its
server (`standby`, `promote`: see liventix.replication and docs/replication.md)."""

from __future__ import annotations

from pathlib import Path

import click
from sqlalchemy.engine import make_url

from liventix.cli.common import (
    DATABASE,
    EXIT_NO,
    EXIT_OK,
    PREPARED,
    Failed,
    Group,
    load_settings,
    settings_epilog,
)
from liventix.database import (
    current_revision,
    database_exists,
    database_url,
    head_revision,
    normalize_url,
    prepare,
    server_url,
)
from liventix.replication import ReplicationError, create_standby, multi_host_url
from liventix.replication import promote as promote_server


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


@group.command(
    epilog="Reads no setting: the primary is given with --from. See docs/replication.md."
)
@click.option(
    "--from",
    "primary",
    required=True,
    metavar="URL",
    help="the primary to copy and follow (a PostgreSQL URL; a superuser or a REPLICATION role)",
)
@click.option(
    "--data-dir",
    required=True,
    type=click.Path(path_type=Path, file_okay=False),
    help="the standby's own data directory (created; must be empty)",
)
@click.option("--port", type=click.IntRange(1, 65535), default=5433, show_default=True)
@click.option(
    "--listen", default="127.0.0.1", show_default=True, help="the standby's listen_addresses"
)
@click.option(
    "--name",
    default="standby1",
    show_default=True,
    help="its application_name: the name the primary knows it by",
)
@click.option(
    "--async",
    "read_replica",
    is_flag=True,
    help="a read replica: the primary does not wait for it (not named in "
    "synchronous_standby_names)",
)
def standby(
    *, primary: str, data_dir: Path, port: int, listen: str, name: str, read_replica: bool
) -> int:
    """Start a standby of the primary: base backup, streaming, synchronous.

    Copies the primary with `pg_basebackup -R -X stream` into --data-dir, starts it as a hot
    standby on --listen:--port, and (unless --async) names it in the primary's
    synchronous_standby_names as `ANY 1 (...)`, so that a COMMIT on the primary is
    acknowledged only once this standby has it. Prints the standby's URL and the multi-host
    URL the application should use."""
    url = normalize_url(primary)
    try:
        made = create_standby(
            url,
            data_dir.absolute(),
            port=port,
            name=name,
            listen=listen,
            synchronous=not read_replica,
        )
    except ReplicationError as error:
        raise Failed(f"no standby: {error}") from error
    kind = "read replica" if read_replica else "synchronous standby"
    click.echo(f"{kind} {made.name}: {made.data_dir}, listening on {listen}:{port}")
    parsed = make_url(url)
    click.echo(f"standby   {made.url(parsed.database or 'postgres')}")
    if parsed.host is not None:
        servers = [(parsed.host, parsed.port or 5432), (listen.split(",", 1)[0].strip(), port)]
        both = multi_host_url(servers, parsed.database or "postgres", parsed.username or "postgres")
        click.echo(f"use       DATABASE_URL={both}")
    return EXIT_OK


@group.command(epilog="Reads no setting. See docs/replication.md.")
@click.option(
    "--data-dir",
    required=True,
    type=click.Path(path_type=Path, file_okay=False, exists=True),
    help="the standby's data directory",
)
def promote(data_dir: Path) -> int:
    """Promote the standby of --data-dir to primary (after the primary died).

    `pg_ctl promote`, waiting until it accepts writes. Applications on a multi-host URL with
    target_session_attrs=read-write find it by themselves. The old primary must not come
    back as a primary: rebuild it as a standby of this one (`liventix db standby`)."""
    try:
        promote_server(data_dir.absolute())
    except ReplicationError as error:
        raise Failed(f"not promoted: {error}") from error
    click.echo(f"promoted {data_dir}")
    return EXIT_OK
