"""The ledger's holds over HTTP (TigerBeetle's two-phase transfers): create a hold, read it,
post it (in full or for less) or void it. Writes act for the key's organization and take
`?dry_run`, as the entries' do; `routes.py` serves these routes with the ledger's others.
"""

from __future__ import annotations

import functools
import uuid

from starlette.responses import Response

import ledger
from liventix.api import problems
from liventix.api.ledger import schemas as m
from liventix.api.ledger import views
from liventix.api.problems import ApiProblem
from liventix.api.routing import authenticated_router
from liventix.api.schemas import Money
from liventix.api.unit_of_work import Uow

router = authenticated_router(["ledger"])
_write = functools.partial(views.write_route, router)


def _money(value: Money, expected: str | None, field: str) -> None:
    if expected is not None and value.currency != expected:
        raise ApiProblem(
            problems.VALIDATION,
            f"{field}: the currency must be {expected}",
            field=field,
        )


@_write("/holds", m.HoldResponse, created=True)
def create_hold(body: m.CreateHoldRequest, uow: Uow) -> m.HoldResponse | Response:
    """Reserve an amount (pending, counted against the overdraft flags at once)."""
    with uow:
        request = ledger.CreateHold(
            idempotency_key=views.write_key(uow),
            debit_account_id=body.debit_account_id,
            credit_account_id=body.credit_account_id,
            amount=body.amount.amount,
            currency=body.amount.currency,
            expires_at=body.expires_at,
            description=body.description,
            metadata=body.metadata,
        )

        def write() -> m.HoldResponse:
            result = ledger.create_hold(uow.conn, uow.acting_org(), request)
            return views.hold(ledger.get_hold(uow.conn, result.id))

        if views.dry_run_asked(uow):
            accounts = ledger.touched_accounts(uow.conn, request)
            return views.dry_run_answer(uow, write, accounts, 201)
        answer = write()
        return uow.commit(answer, location=f"/v1/holds/{answer.id}")


@router.get("/holds/{hold_id:uuid}")
def get_hold(hold_id: uuid.UUID, uow: Uow) -> m.HoldResponse:
    """One hold and its resolution."""
    with uow:
        return views.hold(ledger.get_hold(uow.conn, hold_id))


@_write("/holds/{hold_id:uuid}/post", m.HoldResponse | m.DryRunResponse)
def post_hold(hold_id: uuid.UUID, body: m.PostHoldRequest, uow: Uow) -> m.HoldResponse | Response:
    """Post a hold in full, or for less (the rest is released)."""
    with uow:
        request = ledger.PostHold(
            idempotency_key=views.write_key(uow),
            hold_id=hold_id,
            amount=None if body.amount is None else body.amount.amount,
            description=body.description,
            effective_at=body.effective_at,
        )

        def write() -> tuple[ledger.WriteResult, m.HoldResponse]:
            held = ledger.get_hold(uow.conn, hold_id)
            if body.amount is not None:
                _money(body.amount, held.currency, "body.amount.currency")
            result = ledger.post_hold(uow.conn, uow.acting_org(), request)
            return result, views.hold(ledger.get_hold(uow.conn, hold_id))

        if views.dry_run_asked(uow):
            accounts = ledger.touched_accounts(uow.conn, request)
            return views.dry_run_answer(uow, lambda: write()[1], accounts, 200)
        result, answer = write()
        if not result.replayed:
            uow.posted("hold_post")
        return uow.commit(answer)


@_write("/holds/{hold_id:uuid}/void", m.HoldResponse | m.DryRunResponse)
def void_hold(hold_id: uuid.UUID, uow: Uow) -> m.HoldResponse | Response:
    """Void a hold: its whole amount is released."""
    with uow:
        request = ledger.VoidHold(idempotency_key=views.write_key(uow), hold_id=hold_id)

        def write() -> m.HoldResponse:
            ledger.get_hold(uow.conn, hold_id)
            ledger.void_hold(uow.conn, uow.acting_org(), request)
            return views.hold(ledger.get_hold(uow.conn, hold_id))

        if views.dry_run_asked(uow):
            accounts = ledger.touched_accounts(uow.conn, request)
            return views.dry_run_answer(uow, write, accounts, 200)
        return uow.commit(write())
