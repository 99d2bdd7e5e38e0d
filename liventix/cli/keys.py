"""`liventix keys ...`: API keys, stored hashed (the token is shown once)."""

from __future__ import annotations

import uuid

import click

from liventix.cli.common import (
    EXIT_NO,
    EXIT_OK,
    PREPARED,
    Failed,
    Group,
    engine,
    settings_epilog,
)


@click.group("keys", cls=Group)
def group() -> None:
    """API keys: create and revoke (stored hashed)."""


@group.command("create", epilog=settings_epilog(PREPARED))
@click.option(
    "--org", type=click.UUID, default=None, metavar="ID", help="the organization the key acts for"
)
@click.option("--platform", is_flag=True, help="the platform's key")
@click.option("--description", default="", help="what the key is for")
def create(org: uuid.UUID | None, platform: bool, description: str) -> int:
    """Create an API key and print it (once: only its hash is kept).

    For an organization (which must exist: --org) or for the platform (--platform). The token
    goes to stdout, a line naming the key to stderr."""
    if (org is None) == (not platform):
        raise click.UsageError("give one of --org ID and --platform")
    from liventix import api  # noqa: PLC0415 (FastAPI loads only for the commands that use it)

    with engine().begin() as conn:
        created = api.create_key(conn, None if platform else org, description=description)
    owner = "the platform" if created.org_id is None else f"organization {created.org_id}"
    click.echo(f"key {created.id} for {owner}:", err=True)
    click.echo(created.token)
    return EXIT_OK


@group.command("revoke", epilog=settings_epilog(PREPARED))
@click.argument("key_id", metavar="ID", type=click.UUID)
def revoke(key_id: uuid.UUID) -> int:
    """Revoke an API key at once.

    Exit 1 if it was already revoked, 2 if there is no such key."""
    from liventix import api  # noqa: PLC0415

    try:
        with engine().begin() as conn:
            revoked = api.revoke_key(conn, key_id)
    except api.KeyNotFound as error:
        raise Failed(str(error)) from error
    click.echo(f"key {key_id}: {'revoked' if revoked else 'already revoked'}")
    return EXIT_OK if revoked else EXIT_NO
