"""The demos, beside the product and apart from it: the ledger's short story
(`liventix ledger demo`: `run_demo`) and a whole season played through the deployed system
(`liventix demo`: `play_and_reconcile`, or `play_season` then `finance_reports`).

The demo uses the stand-ins for the outside world (`liventix.testing.stripe`,
`liventix.testing.servers`); nothing in the product imports this package but the CLI.

The package's names load their module on first use (PEP 562), so `liventix ledger demo`
does not import the season's stand-ins, reports and Stripe client.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
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

_WHERE = {
    "BALANCE_TRANSACTIONS": "finance",
    "DEMO_DATABASE": "season",
    "ORGANIZER_ID": "ledger_story",
    "PLATFORM_ID": "ledger_story",
    "DemoError": "errors",
    "NotADemoDatabase": "errors",
    "NotSettled": "errors",
    "Outcome": "season",
    "ProcessFailed": "errors",
    "SeasonOptions": "scenes",
    "SeasonSummary": "summary",
    "WebhookRefused": "errors",
    "finance_reports": "finance",
    "fresh_database": "season",
    "ledger_fingerprint": "summary",
    "play_and_reconcile": "season",
    "play_season": "season",
    "print_summary": "season",
    "run_demo": "ledger_story",
}
"""Each public name's module in this package."""


def __getattr__(name: str) -> Any:
    if name not in _WHERE:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(f"{__name__}.{_WHERE[name]}"), name)
    globals()[name] = value
    return value


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
