"""The trial balance report's answer, from the ledger's trial balance."""

from __future__ import annotations

import uuid
from collections import defaultdict

import ledger
from liventix.api.ledger.views import trial_balance
from liventix.api.reports import schemas as m


def trial_balance_report(tb: ledger.TrialBalance) -> m.TrialBalanceReportResponse:
    """The trial balance with its totals per booking organization and its differences."""
    base = trial_balance(tb)
    per_org: dict[tuple[uuid.UUID, str], list[int]] = defaultdict(lambda: [0, 0])
    for r in tb.rows:
        per_org[(r.org_id, r.currency)][0] += r.debit
        per_org[(r.org_id, r.currency)][1] += r.credit
    organizations = [
        m.TrialBalanceOrganizationTotal(
            org_id=org, currency=cur, debits=d, credits=c, difference=d - c
        )
        for (org, cur), (d, c) in sorted(per_org.items(), key=lambda kv: (str(kv[0][0]), kv[0][1]))
    ]
    differences = sum(1 for o in organizations if o.difference) + sum(
        1 for t in base.totals if t.debits != t.credits
    )
    return m.TrialBalanceReportResponse(
        **base.model_dump(), differences=differences, organizations=organizations
    )
