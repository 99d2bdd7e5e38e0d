"""The `liventix` command line: a registry of commands, one function each.

A command is a function `(args, settings) -> exit status` registered under its words:

    @command("outbox", "work", summary="Deliver pending outbox messages.", arguments=_opts)
    def outbox_work(args: argparse.Namespace, settings: Settings) -> int: ...

`arguments`, if given, adds the command's options to its parser. Group words ("db",
"outbox") get their parser on first use; `GROUPS` gives them a help line. The command is the
unit of work at the edge: it is the one that opens and commits transactions.
"""

from __future__ import annotations

import argparse
import sys
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import timedelta
from typing import TypeAlias

import sqlalchemy as sa
from sqlalchemy.engine import make_url

import escrow
import ledger
import outbox
import ticketing_fsm
from liventix import docs as generated_docs
from liventix.database import (
    DatabaseSetupError,
    current_revision,
    database_exists,
    database_url,
    existing_database_url,
    head_revision,
    make_engine,
    prepare,
    server_url,
)
from liventix.demo import run_demo
from liventix.settings import Settings
from liventix.stripe_gateway import StripeGateway, StripeSettings
from liventix.wiring import periodic_step, wire

Handler = Callable[[argparse.Namespace, Settings], int]
Arguments = Callable[[argparse.ArgumentParser], None]
# argparse's class is generic only to type checkers.
_SubParsers: TypeAlias = "argparse._SubParsersAction[argparse.ArgumentParser]"

# Exit statuses: 1 is a command's own "no" (db status: behind); 2 is a usage or setup error.
EXIT_OK = 0
EXIT_NO = 1
EXIT_ERROR = 2


@dataclass(frozen=True)
class Command:
    """A registered command: its words, its help line, its function and its options."""

    words: tuple[str, ...]
    summary: str
    handler: Handler
    arguments: Arguments | None = None


COMMANDS: dict[tuple[str, ...], Command] = {}
GROUPS: dict[tuple[str, ...], str] = {
    ("db",): "the application database: create, migrate, inspect",
}


def command(
    *words: str, summary: str, arguments: Arguments | None = None
) -> Callable[[Handler], Handler]:
    """Register the decorated function as the command `liventix <words...>`."""
    if not words:
        raise ValueError("a command needs at least one word")

    def register(handler: Handler) -> Handler:
        if words in COMMANDS:
            raise ValueError(f"command {' '.join(words)!r} registered twice")
        COMMANDS[words] = Command(words, summary, handler, arguments)
        return handler

    return register


def build_parser() -> argparse.ArgumentParser:
    """Build the argument parser from the registered commands."""
    parser = argparse.ArgumentParser(
        prog="liventix", description="Liventix payments core: ledger, escrow, tickets, outbox."
    )
    subparsers: dict[tuple[str, ...], _SubParsers] = {(): _subparsers(parser, ())}
    for words in sorted(COMMANDS):
        entry = COMMANDS[words]
        for depth in range(1, len(words)):
            group = words[:depth]
            if group not in subparsers:
                group_help = GROUPS.get(group)
                group_parser = subparsers[group[:-1]].add_parser(
                    group[-1], help=group_help, description=group_help
                )
                subparsers[group] = _subparsers(group_parser, group)
        leaf = subparsers[words[:-1]].add_parser(
            words[-1], help=entry.summary, description=entry.summary
        )
        if entry.arguments is not None:
            entry.arguments(leaf)
        leaf.set_defaults(handler=entry.handler)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command named by `argv` (default: the process arguments); return its status."""
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exit_:
        # argparse exits on --help and on usage errors; callers of main() get a status.
        code = exit_.code
        return code if isinstance(code, int) else EXIT_OK if code is None else EXIT_ERROR
    handler: Handler = args.handler
    try:
        return handler(args, Settings.from_env())
    except DatabaseSetupError as error:
        print(f"liventix: {error}", file=sys.stderr)
    except sa.exc.OperationalError as error:
        print(f"liventix: cannot use the database: {error.orig}", file=sys.stderr)
    except ledger.LedgerError as error:
        print(f"liventix: the ledger refused: {error}", file=sys.stderr)
    return EXIT_ERROR


@command("db", "upgrade", summary="Create and migrate the database; print its revision.")
def db_upgrade(args: argparse.Namespace, settings: Settings) -> int:
    """Bring the application database to the newest revision."""
    url = prepare(settings)
    print(current_revision(url) or "(no revision)")
    return EXIT_OK


@command("db", "url", summary="Print the URL of the database, created and migrated.")
def db_url(args: argparse.Namespace, settings: Settings) -> int:
    """Print the application database's URL, ready for use."""
    print(prepare(settings))
    return EXIT_OK


@command("db", "status", summary="Compare the database's revision with the newest; 1 if behind.")
def db_status(args: argparse.Namespace, settings: Settings) -> int:
    """Report the application database's revision without changing anything."""
    server = server_url(settings)
    url = database_url(server, settings.database_name)
    exists = database_exists(server, settings.database_name)
    current = current_revision(url) if exists else None
    head = head_revision()
    print(f"database  {make_url(url).render_as_string(hide_password=True)}")
    current_text = "(database missing)" if not exists else current or "(never migrated)"
    print(f"current   {current_text}")
    print(f"head      {head}")
    if current == head:
        print("up to date")
        return EXIT_OK
    print("not at head: run `liventix db upgrade`", file=sys.stderr)
    return EXIT_NO


def _subparsers(parser: argparse.ArgumentParser, words: tuple[str, ...]) -> _SubParsers:
    return parser.add_subparsers(
        title="commands",
        dest="_".join(("", *words, "command")),
        metavar="COMMAND",
        required=True,
    )


GROUPS[("ledger",)] = "the ledger's background steps and reports"


def _engine(settings: Settings) -> sa.Engine:
    """The application database's engine, created and migrated as needed (commands that
    write)."""
    return make_engine(prepare(settings))


def _existing_engine(settings: Settings) -> sa.Engine:
    """The engine of the application database as it is, for commands that only read: a
    missing or unmigrated database is a setup error (`DatabaseNotReadyError`, exit 2), never
    created nor migrated, so a mistyped name cannot read as an empty, balanced ledger."""
    return make_engine(existing_database_url(settings))


def _drain(engine: sa.Engine, step: Callable[[sa.Connection], int]) -> int:
    """Run `step` in its own transaction until it does nothing more; return the total."""
    total = 0
    while True:
        with engine.begin() as conn:
            done = step(conn)
        total += done
        if not done:
            return total


def _limit_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--limit", type=int, default=1000, help="at most this many per run")


@command(
    "ledger",
    "expire-holds",
    summary="Expire every hold whose expiry has passed.",
    arguments=_limit_option,
)
def ledger_expire_holds(args: argparse.Namespace, settings: Settings) -> int:
    """Append the expiry of every overdue hold, in batches, until none is left."""
    total = _drain(_engine(settings), lambda conn: ledger.expire_holds(conn, args.limit))
    print(f"expired {total} hold(s)")
    return EXIT_OK


@command(
    "ledger",
    "roll-up",
    summary="Give high-volume accounts' new lines their version and running balance.",
)
def ledger_roll_up(args: argparse.Namespace, settings: Settings) -> int:
    """Roll up every high-volume account once."""
    with _engine(settings).begin() as conn:
        done = ledger.roll_up(conn)
    print(f"rolled up {done} line(s)")
    return EXIT_OK


@command("ledger", "trial-balance", summary="Print the trial balance of every organization.")
def ledger_trial_balance(args: argparse.Namespace, settings: Settings) -> int:
    """Print totals per currency; exit 1 if debits and credits differ anywhere, 2 if the
    database is missing or not migrated (it reads the database as it is)."""
    with _existing_engine(settings).begin() as conn:
        tb = ledger.trial_balance(conn)
    for currency, (debits, credits) in sorted(tb.totals.items()):
        print(f"{currency}  debits {debits}  credits {credits}")
    return EXIT_OK if tb.balanced else EXIT_NO


def _demo_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--run",
        default=None,
        help="run id used in the idempotency keys (default: a new one; reuse one to replay)",
    )


@command(
    "ledger",
    "demo",
    summary="Play a short ticket-sale story through the ledger alone.",
    arguments=_demo_options,
)
def ledger_demo(args: argparse.Namespace, settings: Settings) -> int:
    """Run the ledger's short story on the application database (embedded PostgreSQL unless
    DATABASE_URL); the same --run twice replays it."""
    run = args.run or uuid.uuid4().hex[:8]
    engine = _engine(settings)
    print(f"database: {make_url(str(engine.url)).render_as_string(hide_password=True)}")
    tb = run_demo(engine, run)
    return EXIT_OK if tb.balanced else EXIT_NO


GROUPS[("outbox",)] = "the outbox: deliveries of messages to webhooks and e-mail"


def _worker_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--batch-size", type=int, default=100)
    parser.add_argument("--concurrency", type=int, default=16, help="parallel sends per batch")
    parser.add_argument("--poll", type=float, default=1.0, help="seconds between polls")
    parser.add_argument(
        "--lease",
        type=float,
        default=10.0,
        help="seconds a claim holds without renewal (renewed every third of it while sending)",
    )
    parser.add_argument("--timeout", type=float, default=10.0, help="HTTP request timeout")
    parser.add_argument(
        "--retry-schedule",
        default=None,
        help="comma-separated waits in seconds (default: 5,300,1800,7200,18000,36000,36000)",
    )
    parser.add_argument("--once", action="store_true", help="one round, then exit")
    parser.add_argument(
        "--no-periodic",
        action="store_true",
        help="only deliver and handle the inbox: leave expiries and releases to another process",
    )


@command(
    "worker",
    summary="Deliver the outbox (webhooks, e-mails) and handle the inbox until SIGTERM.",
    arguments=_worker_options,
)
def worker(args: argparse.Namespace, settings: Settings) -> int:
    """Run the dispatcher; SIGTERM finishes what is in flight and stops."""
    schedule = (
        tuple(float(x) for x in args.retry_schedule.split(","))
        if args.retry_schedule
        else outbox.DEFAULT_SCHEDULE
    )
    worker_settings = outbox.WorkerSettings(
        batch_size=args.batch_size,
        concurrency=args.concurrency,
        poll_interval=args.poll,
        lease=timedelta(seconds=args.lease),
        request_timeout=args.timeout,
        retry=outbox.RetryPolicy(schedule=schedule),
        smtp=outbox.SmtpSettings(host=settings.smtp_host, port=settings.smtp_port),
        webhook_allow=settings.webhook_allow,
    )
    engine = _engine(settings)
    wire(engine, StripeGateway(StripeSettings(settings.stripe_api_key, settings.stripe_api_base)))
    dispatcher = outbox.Worker(engine, worker_settings)
    periodic = (lambda: None) if args.no_periodic else periodic_step(engine)
    if args.once:
        periodic()
        done = dispatcher.run_once()
        dispatcher.close()
        print(f"worker {dispatcher.name}: {done} item(s)")
        return EXIT_OK
    dispatcher.install_signal_handlers()
    print(f"worker {dispatcher.name}: running", flush=True)
    dispatcher.run(extra=periodic)
    print(f"worker {dispatcher.name}: stopped", flush=True)
    return EXIT_OK


def _requeue_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--delivery", type=int, default=None, help="one delivery's id")
    parser.add_argument("--endpoint", type=uuid.UUID, default=None, help="an endpoint's id")


@command(
    "outbox",
    "requeue",
    summary="Bring dead deliveries back (all, one, or an endpoint's).",
    arguments=_requeue_options,
)
def outbox_requeue(args: argparse.Namespace, settings: Settings) -> int:
    """Requeue dead deliveries so the workers try them again."""
    with _engine(settings).begin() as conn:
        count = outbox.requeue(conn, delivery_id=args.delivery, endpoint_id=args.endpoint)
    print(f"requeued {count} delivery(ies)")
    return EXIT_OK


GROUPS[("escrow",)] = "escrows: ticket revenue held until the event is over"


@command("escrow", "release-due", summary="Release every escrow that has become due.")
def escrow_release_due(args: argparse.Namespace, settings: Settings) -> int:
    """End events, end hold periods and release escrows that are due, until none is left."""

    def step(conn: sa.Connection) -> int:
        done = escrow.release_due(conn)
        for escrow_id, state in done:
            print(f"escrow {escrow_id}: {state}")
        return len(done)

    print(f"{_drain(_engine(settings), step)} step(s)")
    return EXIT_OK


@command("docs", summary="Regenerate the documents generated from the code (docs/).")
def docs(args: argparse.Namespace, settings: Settings) -> int:
    """Write docs/ from the machines and recipes; print what changed."""
    for path in generated_docs.write():
        print(f"wrote {path}")
    return EXIT_OK


GROUPS[("tickets",)] = "tickets and orders"


@command("tickets", "expire-holds", summary="Release the seat holds of unpaid, expired orders.")
def tickets_expire_holds(args: argparse.Namespace, settings: Settings) -> int:
    """Cancel every order whose hold expired unpaid, releasing its seats."""
    total = _drain(_engine(settings), ticketing_fsm.expire_holds)
    print(f"released {total} order(s)")
    return EXIT_OK


# -- the HTTP API -----------------------------------------------------------------------------

GROUPS[("keys",)] = "API keys: create and revoke (stored hashed)"
GROUPS[("api",)] = "the HTTP API's documents"


def _at_least_one(text: str) -> int:
    number = int(text)
    if number < 1:
        raise argparse.ArgumentTypeError(f"at least 1, not {number}")
    return number


def _serve_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--host", default="127.0.0.1", help="address to listen on")
    parser.add_argument("--port", type=int, default=8000, help="port to listen on")
    parser.add_argument("--log-level", default="info", help="uvicorn's log level")
    parser.add_argument(
        "--processes",
        type=_at_least_one,
        default=None,
        metavar="N",
        help="server processes sharing the port (default: one per CPU); each has its own "
        "share of the database connections",
    )


@command(
    "serve", summary="Serve the HTTP API with uvicorn until SIGTERM.", arguments=_serve_options
)
def serve(args: argparse.Namespace, settings: Settings) -> int:
    """Run the API (migrating the database first); Stripe's webhook secret comes from
    STRIPE_WEBHOOK_SECRET."""
    from liventix import api  # noqa: PLC0415 (FastAPI and uvicorn load only for this)

    return api.serve(
        settings,
        host=args.host,
        port=args.port,
        log_level=args.log_level,
        processes=args.processes,
    )


def _key_create_options(parser: argparse.ArgumentParser) -> None:
    owner = parser.add_mutually_exclusive_group(required=True)
    owner.add_argument("--org", type=uuid.UUID, help="the organization the key acts for")
    owner.add_argument("--platform", action="store_true", help="the platform's key")
    parser.add_argument("--description", default="", help="what the key is for")


@command(
    "keys",
    "create",
    summary="Create an API key and print it (once: only its hash is kept).",
    arguments=_key_create_options,
)
def keys_create(args: argparse.Namespace, settings: Settings) -> int:
    """Create a key for an organization (which must exist) or for the platform."""
    from liventix import api  # noqa: PLC0415

    with _engine(settings).begin() as conn:
        created = api.create_key(
            conn, None if args.platform else args.org, description=args.description
        )
    owner = "the platform" if created.org_id is None else f"organization {created.org_id}"
    print(f"key {created.id} for {owner}:", file=sys.stderr)
    print(created.token)
    return EXIT_OK


def _key_revoke_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("id", type=uuid.UUID, help="the key's id")


@command("keys", "revoke", summary="Revoke an API key.", arguments=_key_revoke_options)
def keys_revoke(args: argparse.Namespace, settings: Settings) -> int:
    """Revoke a key at once; 1 if it was already revoked, 2 if there is no such key."""
    from liventix import api  # noqa: PLC0415

    try:
        with _engine(settings).begin() as conn:
            revoked = api.revoke_key(conn, args.id)
    except api.KeyNotFound as error:
        print(f"liventix: {error}", file=sys.stderr)
        return EXIT_ERROR
    print(f"key {args.id}: {'revoked' if revoked else 'already revoked'}")
    return EXIT_OK if revoked else EXIT_NO


def _openapi_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--output", default="docs/openapi.json", help="where to write it (default: %(default)s)"
    )


@command(
    "api",
    "openapi",
    summary="Write the API's OpenAPI document (docs/openapi.json).",
    arguments=_openapi_options,
)
def api_openapi(args: argparse.Namespace, settings: Settings) -> int:
    """Generate the OpenAPI document from the code (no database needed)."""
    from pathlib import Path  # noqa: PLC0415

    from liventix import api  # noqa: PLC0415

    path = Path(args.output)
    changed = api.write_openapi(path)
    print(f"{'wrote' if changed else 'unchanged'} {path}")
    return EXIT_OK


# Commands that live in their own modules register themselves on import.
from liventix import report_commands as _report_commands  # noqa: E402
from liventix import season_demo as _season_demo  # noqa: E402

__all__ = ["COMMANDS", "GROUPS", "_report_commands", "_season_demo", "command", "main"]
