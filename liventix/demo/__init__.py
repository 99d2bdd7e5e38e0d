"""The demos, beside the product and apart from it: the ledger's short story
(`liventix ledger demo`: `run_demo`) and a whole season played through the deployed system
(`liventix demo`: `play_and_reconcile`, or `play_season` then `finance_reports`).

The demo uses the stand-ins for the outside world (`liventix.testing.stripe`,
`liventix.testing.servers`); nothing in the product imports this package but the CLI.
"""

from __future__ import annotations

from liventix.demo.errors import (
    DemoError,
    NotADemoDatabase,
    NotSettled,
    ProcessFailed,
    WebhookRefused,
)
from liventix.demo.finance import BALANCE_TRANSACTIONS, finance_reports
from liventix.demo.ledger_story import ORGANIZER_ID, PLATFORM_ID, run_demo
from liventix.demo.scenes import SeasonOptions
from liventix.demo.season import (
    DEMO_DATABASE,
    Outcome,
    fresh_database,
    play_and_reconcile,
    play_season,
    print_summary,
)
from liventix.demo.summary import SeasonSummary, ledger_fingerprint

__all__ = [
    "BALANCE_TRANSACTIONS",
    "DEMO_DATABASE",
    "ORGANIZER_ID",
    "PLATFORM_ID",
    "DemoError",
    "NotADemoDatabase",
    "NotSettled",
    "Outcome",
    "ProcessFailed",
    "SeasonOptions",
    "SeasonSummary",
    "WebhookRefused",
    "finance_reports",
    "fresh_database",
    "ledger_fingerprint",
    "play_and_reconcile",
    "play_season",
    "print_summary",
    "run_demo",
]
