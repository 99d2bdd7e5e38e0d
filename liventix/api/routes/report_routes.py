"""Reports as JSON: the trial balance now (the reconciliation reports join here once they
exist)."""

from __future__ import annotations

import ledger
from liventix.api import models as m
from liventix.api import views
from liventix.api.routing import authenticated_router
from liventix.api.unit_of_work import Uow

router = authenticated_router(["reports"], writes=False)


@router.get("/reports/trial-balance")
def trial_balance_report(uow: Uow) -> m.TrialBalanceResponse:
    """The trial balance of the key's organization (every organization's, for the platform's
    key): each account's posted balance, and debits and credits per currency."""
    return views.trial_balance(ledger.trial_balance(uow.conn, uow.org_id))
