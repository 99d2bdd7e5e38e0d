"""The demo: a whole season of ticket sales played through the system (issue 7).

`liventix demo` plays, on a fresh database of its own, with the application deployed as it
runs in production (`liventix serve` and four `liventix worker` processes) and the outside
world stood in for on 127.0.0.1 (Stripe's API: `liventix.testing.stripe`, called through the
stripe library; a webhook receiver and an SMTP server: `liventix.testing.servers`): the
platform and a few organizations (each with its escrow policy, webhook endpoint and
events), a thousand checkouts whose Stripe events are signed with the stripe library and
posted over HTTP to the API's `POST /v1/stripe/webhook` (with duplicates and out of order),
the workers handling the inbox and delivering the organizers' webhooks and the buyers'
e-mails; expiries, failed payments, ticket transfers, check-ins, refunds, a dispute won and
one lost, an event cancelled; then the events end, escrows release, the transfers are made
and the platform is paid out (the scenes: `liventix.demo.scenes`). It ends with finance's
reports, the Stripe reconciliation run against the stand-in's balance transactions, every
difference zero, and writes them (JSON, CSV, one HTML page) under the output directory
(`liventix.demo.finance`).
"""

from __future__ import annotations

import tempfile
import threading
import time
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import TextIO

import sqlalchemy as sa
from sqlalchemy.engine import make_url
from sqlalchemy.pool import NullPool

from liventix.database import (
    create_database,
    database_url,
    drop_database,
    make_engine,
    server_url,
    upgrade,
)
from liventix.demo.errors import NotADemoDatabase
from liventix.demo.finance import BALANCE_TRANSACTIONS, finance_reports
from liventix.demo.processes import WORKERS, AppProcesses
from liventix.demo.progress import Out, money
from liventix.demo.scenes import Season, SeasonOptions
from liventix.demo.summary import SeasonSummary
from liventix.settings import Settings
from liventix.testing.servers import smtp_server

DEMO_DATABASE = "liventix_demo"
DEMO_MARK = "made by liventix demo: dropped and made anew by the next one"
"""The comment the demo puts on its database: it drops no database without it."""


def play_season(
    engine: sa.Engine,
    options: SeasonOptions | None = None,
    out: Out = print,
    *,
    live: TextIO | None = None,
    log_dir: Path | None = None,
) -> SeasonSummary:
    """Play a season on `engine`'s (migrated) database; return what happened. The API and
    the workers run as processes of their own (`liventix serve`, `liventix worker`), their
    output in `log_dir` (a temporary directory by default). Progress bars are redrawn on
    `live` (a terminal) when given, else each step ends with one line."""
    options = options or SeasonOptions()
    started = time.monotonic()
    season = Season(engine, options, out, live)
    servers = [season.receiver, season.stripe_server]
    for server in servers:
        threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        with (
            tempfile.TemporaryDirectory(prefix="liventix-demo-") as scratch,
            smtp_server(season.mailbox) as (smtp_port, smtp_kind),
            AppProcesses(
                engine.url,
                stripe_api=season.stripe_server.url,
                smtp_port=smtp_port,
                log_dir=log_dir or Path(scratch),
            ) as processes,
        ):
            season.processes = processes
            season.poster.api_url = processes.api_url
            out(
                f"API (liventix serve) on {processes.api_url}, {WORKERS} workers "
                f"(liventix worker), Stripe stand-in on {season.stripe_server.url}, webhook "
                f"receiver on {season.receiver.url}, {smtp_kind} on 127.0.0.1:{smtp_port}"
            )
            season.setup()
            sales = season.checkouts()
            season.pay(sales)
            season.aftermath(sales)
            season.close_season()
            summary = season.summary()
            summary.email_server = smtp_kind
            summary.balance_transactions = season.stripe.balance_transactions()
    finally:
        season.poster.close()
        for server in servers:
            server.shutdown()
            server.server_close()
    summary.seconds = time.monotonic() - started
    return summary


def print_summary(s: SeasonSummary, out: Out = print) -> None:
    """The season in a few lines."""

    def counts(d: dict[str, int]) -> str:
        return ", ".join(f"{k} {v}" for k, v in d.items())

    out("")
    out(f"Season over in {s.seconds:.1f} s")
    out(f"orders      {counts(s.orders)}")
    out(f"tickets     {counts(s.tickets)}")
    out(f"escrows     {counts(s.escrows)}; released but still holding: {s.released_still_holding}")
    out(f"transfers   {s.transfers} made at Stripe (stand-in)")
    payouts = ", ".join(money(a, c) for c, a in s.payouts.items()) or "none"
    out(f"payouts     {payouts} to the platform's bank")
    out(
        f"stripe      {s.stripe_events_posted} events posted over HTTP "
        f"({s.stripe_duplicates} duplicates acknowledged)"
    )
    out(f"webhooks    {s.webhooks_delivered} delivered to the local receiver")
    out(f"e-mails     {s.emails_delivered} delivered to the local SMTP server ({s.email_server})")
    out("trial balance")
    for currency, (debits, credits) in s.totals.items():
        out(
            f"  {currency}  debits {money(debits, currency):>20}  "
            f"credits {money(credits, currency):>20}"
        )
    out("balanced: debits equal credits" if s.balanced else "NOT BALANCED")


def fresh_database(settings: Settings, name: str) -> str:
    """Drop (if an earlier demo made it) and create the demo's database on the server
    (embedded unless DATABASE_URL), mark it, migrate it, and return its URL."""
    server = server_url(settings)
    maintenance = sa.create_engine(server, poolclass=NullPool, isolation_level="AUTOCOMMIT")
    try:
        with maintenance.connect() as conn:
            found = conn.execute(
                sa.text("""SELECT coalesce(shobj_description(oid, 'pg_database'), '')
                             FROM pg_database WHERE datname = :name"""),
                {"name": name},
            ).first()
        if found is not None and found[0] != DEMO_MARK:
            raise NotADemoDatabase(name)
        drop_database(server, name)
        create_database(server, name)
        with maintenance.connect() as conn:
            quoted = conn.dialect.identifier_preparer.quote(name)
            conn.exec_driver_sql(f"COMMENT ON DATABASE {quoted} IS '{DEMO_MARK}'")
    finally:
        maintenance.dispose()
    url = database_url(server, name)
    upgrade(url)
    return url


@dataclass(frozen=True)
class Outcome:
    """How a season on a fresh database ended."""

    summary: SeasonSummary
    differences: int
    """Finance's reports' differences."""

    @property
    def ok(self) -> bool:
        """Balanced, every released escrow emptied, every report without a difference."""
        return (
            self.summary.balanced
            and self.summary.released_still_holding == 0
            and self.differences == 0
        )


def play_and_reconcile(
    settings: Settings,
    options: SeasonOptions,
    *,
    database: str,
    out_dir: Path,
    out: Out = print,
    live: TextIO | None = None,
) -> Outcome:
    """`liventix demo`: play a season on `database` made anew (on the server `settings`
    name), print its summary, run finance's reports on it into `out_dir`, and say how to run
    them again."""
    out_dir = out_dir.absolute()
    url = fresh_database(settings, database)
    out(f"database: {make_url(url).render_as_string(hide_password=True)} (created anew)")
    engine = make_engine(url, pool_size=20, max_overflow=20)
    try:
        with engine.connect() as conn:
            since: datetime = conn.execute(sa.text("SELECT now()")).scalar_one()
        summary = play_season(engine, options, out, live=live, log_dir=out_dir / "logs")
        print_summary(summary, out)
        differences = finance_reports(
            engine, summary.balance_transactions, out_dir, out, since=since
        )
    finally:
        engine.dispose()
    where = "" if settings.database_url else f"LIVENTIX_DATA_DIR={settings.data_dir.absolute()} "
    out(
        f"\nAgain, on this database: {where}LIVENTIX_DB_NAME={database} liventix report "
        f"all --balance-transactions {out_dir / BALANCE_TRANSACTIONS}"
    )
    return Outcome(summary, differences)
