"""Finance's reconciliation reports: the trial balance, escrow position, Stripe
reconciliation, ticket tie-out and outbox health, as pydantic models with a `differences`
count each, and their renderings (table, CSV, JSON, one HTML page)."""

from __future__ import annotations

from liventix.reports.builders import (
    escrow_position,
    outbox_health,
    stripe_balance_history,
    stripe_reconciliation,
    ticket_tie_out,
    trial_balance,
)
from liventix.reports.models import (
    BalanceComparison,
    BalancePoint,
    EscrowPositionReport,
    EscrowPositionRow,
    OutboxHealthReport,
    OutboxHealthRow,
    ReconciliationRow,
    Report,
    StripeReconciliationReport,
    StripeTransaction,
    TicketTieOutReport,
    TicketTieOutRow,
    TrialBalanceLine,
    TrialBalanceReport,
    TrialBalanceTotal,
)
from liventix.reports.render import as_csv, as_html, as_json, as_table, balance_chart, write_files
from liventix.reports.stripe_import import (
    StripeImportError,
    load_balance_transactions,
    parse_csv,
    parse_json,
    to_csv,
)

__all__ = [
    "BalanceComparison",
    "BalancePoint",
    "EscrowPositionReport",
    "EscrowPositionRow",
    "OutboxHealthReport",
    "OutboxHealthRow",
    "ReconciliationRow",
    "Report",
    "StripeImportError",
    "StripeReconciliationReport",
    "StripeTransaction",
    "TicketTieOutReport",
    "TicketTieOutRow",
    "TrialBalanceLine",
    "TrialBalanceReport",
    "TrialBalanceTotal",
    "as_csv",
    "as_html",
    "as_json",
    "as_table",
    "balance_chart",
    "escrow_position",
    "load_balance_transactions",
    "outbox_health",
    "parse_csv",
    "parse_json",
    "stripe_balance_history",
    "stripe_reconciliation",
    "ticket_tie_out",
    "to_csv",
    "trial_balance",
    "write_files",
]
