"""Application settings: the one place that reads the process environment.

`Settings.from_env()` turns environment variables into a frozen value that the rest of the
application receives explicitly; nothing below this module looks at `os.environ`.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

import outbox

DEFAULT_DATA_DIR = ".liventix"
DEFAULT_DATABASE_NAME = "liventix"


@dataclass(frozen=True)
class Settings:
    """Where the application's database lives, and how it reaches the outside."""

    # A server to use instead of the embedded one. Any database on it will do: it is only the
    # maintenance connection; the application's own database is `database_name` on that server.
    database_url: str | None
    # Local state (the embedded server's data directory by default).
    data_dir: Path
    # The embedded PostgreSQL data directory, used when `database_url` is None.
    pgdata: Path
    # The application database, created on the server if missing.
    database_name: str
    # Where notification e-mails are sent (LIVENTIX_SMTP_HOST, LIVENTIX_SMTP_PORT).
    smtp_host: str = "127.0.0.1"
    smtp_port: int = 25
    # The signing secret of Stripe's webhooks to us (STRIPE_WEBHOOK_SECRET).
    stripe_webhook_secret: str | None = None
    # Stripe's API: key and, for a local Stripe-compatible server, its base URL.
    stripe_api_key: str = "sk_test_liventix"
    stripe_api_base: str | None = None
    # Networks webhooks may reach although not public (LIVENTIX_WEBHOOK_ALLOW: CIDRs,
    # comma-separated, e.g. `127.0.0.1/32` for a local receiver). Empty, the default: webhook
    # endpoints must be public addresses or names (checked at registration and at connect).
    webhook_allow: outbox.AllowList = ()
    # The key that seals webhook signing secrets at rest (LIVENTIX_SECRET_KEY: a long random
    # string, the same for the API and every worker). Unset: a development key that protects
    # nothing (outbox.sealing); set it wherever the data is real.
    secret_key: str | None = field(default=None, repr=False)

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> Settings:
        """Read settings from `environ` (default: `os.environ`); empty values count as unset."""
        env = os.environ if environ is None else environ
        data_dir = Path(env.get("LIVENTIX_DATA_DIR") or DEFAULT_DATA_DIR).absolute()
        pgdata_raw = env.get("LIVENTIX_PGDATA")
        pgdata = Path(pgdata_raw).absolute() if pgdata_raw else data_dir / "pgdata"
        return cls(
            database_url=env.get("DATABASE_URL") or None,
            data_dir=data_dir,
            pgdata=pgdata,
            database_name=env.get("LIVENTIX_DB_NAME") or DEFAULT_DATABASE_NAME,
            smtp_host=env.get("LIVENTIX_SMTP_HOST") or "127.0.0.1",
            smtp_port=int(env.get("LIVENTIX_SMTP_PORT") or 25),
            stripe_webhook_secret=env.get("STRIPE_WEBHOOK_SECRET") or None,
            stripe_api_key=env.get("STRIPE_API_KEY") or "sk_test_liventix",
            stripe_api_base=env.get("STRIPE_API_BASE") or None,
            webhook_allow=_allow(env.get("LIVENTIX_WEBHOOK_ALLOW") or ""),
            secret_key=env.get("LIVENTIX_SECRET_KEY") or None,
        )


def _allow(spec: str) -> outbox.AllowList:
    try:
        return outbox.parse_allow(spec)
    except ValueError as exc:
        raise ValueError(f"LIVENTIX_WEBHOOK_ALLOW must be CIDRs, comma-separated: {exc}") from exc
