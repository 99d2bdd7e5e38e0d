"""From the ledger's values to the ledger slice's response models."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from datetime import datetime
from typing import Annotated, Any, TypeVar
from uuid import UUID, uuid4

from fastapi import APIRouter, Depends, Header
from pydantic import BaseModel
from starlette.responses import Response

import ledger
from liventix.api import problems
from liventix.api.idempotency import IDEMPOTENCY_HEADER, IDEMPOTENCY_KEY_PATTERN
from liventix.api.ledger import schemas as m
from liventix.api.problems import ApiProblem
from liventix.api.schemas import amount
from liventix.api.unit_of_work import UnitOfWork, documentation_only


def balance(
    b: ledger.Balance, *, as_of: datetime | None = None, by: str | None = None
) -> m.BalanceResponse:
    """A balance response."""
    return m.BalanceResponse(
        account_id=b.account_id,
        currency=b.currency,
        normal_side=b.normal_side,  # type: ignore[arg-type]
        posted=amount(b.posted, b.currency),
        pending=amount(b.pending, b.currency),
        available=amount(b.available, b.currency),
        posted_debits=b.posted_debits,
        posted_credits=b.posted_credits,
        pending_debits=b.pending_debits,
        pending_credits=b.pending_credits,
        version=b.version,
        as_of=as_of,
        by=by,  # type: ignore[arg-type]
    )


def account(a: ledger.Account) -> m.AccountResponse:
    """An account response."""
    return m.AccountResponse(
        id=a.id,
        org_id=a.org_id,
        code=a.code,
        name=a.name,
        type=a.type,
        currency=a.currency,
        debits_must_not_exceed_credits=a.debits_must_not_exceed_credits,
        credits_must_not_exceed_debits=a.credits_must_not_exceed_debits,
        high_volume=a.high_volume,
        closed=a.closed,
        metadata=a.metadata,
        balance=balance(a.balance),
    )


def entry(e: ledger.Entry) -> m.EntryResponse:
    """An entry response."""
    return m.EntryResponse(
        id=e.id,
        org_id=e.org_id,
        kind=e.kind,  # type: ignore[arg-type]
        description=e.description,
        metadata=e.metadata,
        effective_at=e.effective_at,
        created_at=e.created_at,
        external_ref=e.external_ref,
        reverses_entry_id=e.reverses_entry_id,
        hold_id=e.hold_id,
        lines=[
            m.EntryLineResponse(
                id=x.id,
                account_id=x.account_id,
                side=x.side,  # type: ignore[arg-type]
                amount=amount(x.amount, x.currency),
                account_version=x.account_version,
            )
            for x in e.lines
        ],
    )


def hold(h: ledger.Hold) -> m.HoldResponse:
    """A hold response."""
    return m.HoldResponse(
        id=h.id,
        org_id=h.org_id,
        debit_account_id=h.debit_account_id,
        credit_account_id=h.credit_account_id,
        amount=amount(h.amount, h.currency),
        expires_at=h.expires_at,
        created_at=h.created_at,
        status=h.status,  # type: ignore[arg-type]
        posted_amount=amount(h.posted_amount, h.currency),
        entry_id=h.entry_id,
    )


def statement(page: ledger.StatementPage, limit: int) -> m.StatementResponse:
    """A statement page response: the first `limit` lines of `page` (read one more, to
    tell whether another page follows)."""
    c = page.currency
    return m.StatementResponse(
        account_id=page.account_id,
        currency=c,
        opening_balance=amount(page.opening_balance, c),
        lines=[
            m.StatementLineResponse(
                line_id=x.line_id,
                entry_id=x.entry_id,
                created_at=x.created_at,
                effective_at=x.effective_at,
                side=x.side,  # type: ignore[arg-type]
                amount=amount(x.amount, c),
                balance_after=amount(x.balance_after, c),
                description=x.description,
            )
            for x in page.lines[:limit]
        ],
        has_more=len(page.lines) > limit,
    )


def trial_balance(tb: ledger.TrialBalance) -> m.TrialBalanceResponse:
    """A trial balance response."""
    return m.TrialBalanceResponse(
        rows=[
            m.TrialBalanceRowResponse(
                org_id=r.org_id,
                account_id=r.account_id,
                code=r.code,
                type=r.type,
                currency=r.currency,
                debit=r.debit,
                credit=r.credit,
            )
            for r in tb.rows
        ],
        totals=[
            m.TrialBalanceTotal(currency=c, debits=d, credits=k)
            for c, (d, k) in sorted(tb.totals.items())
        ],
        balanced=tb.balanced,
    )


# -- dry runs -------------------------------------------------------------------------------


@documentation_only
async def _documented_key_or_dry_run(
    idempotency_key: Annotated[
        str | None,
        Header(
            alias=IDEMPOTENCY_HEADER,
            pattern=IDEMPOTENCY_KEY_PATTERN,
            description=(
                "Required on every POST but a dry run (`?dry_run=true`, which consumes no "
                "key). The same key with the same request replays the first answer "
                "(`Idempotency-Replayed: true`); with another request it is 409."
            ),
        ),
    ] = None,
) -> None:
    """Documents the header as a ledger write takes it; the route checks it itself."""


WRITE_OR_DRY_RUN = [Depends(_documented_key_or_dry_run)]
"""A ledger write's dependencies: its Idempotency-Key, optional for a dry run."""


DRY_RUN_PARAMETER: dict[str, Any] = {
    "parameters": [
        {
            "name": "dry_run",
            "in": "query",
            "required": False,
            "schema": {"type": "boolean", "default": False},
            "description": "Answer what the call would do, writing nothing: 200 with the "
            "answer it would give and the balances of the accounts it touches after it, or "
            "its problem (with `dry_run` and `balances` members). No Idempotency-Key is "
            "consumed (an answer already stored under it is replayed, as the call would).",
        }
    ]
}
"""The `dry_run` query parameter as OpenAPI shows it (read by `dry_run_asked`, so the
route keeps its lean path)."""


def dry_run_asked(uow: UnitOfWork) -> bool:
    """Whether the request asks `?dry_run=true` (422 for a value that is not a boolean)."""
    value = uow.request.query_params.get("dry_run")
    if value is None or value.lower() in ("false", "0"):
        return False
    if value.lower() in ("true", "1"):
        return True
    raise ApiProblem(
        problems.VALIDATION, "query.dry_run: must be true or false", field="query.dry_run"
    )


def write_key(uow: UnitOfWork) -> str:
    """The ledger's key for the request's write: the Idempotency-Key's; a dry run sent
    without one (once the pipeline lets it through) gets a key of its own, never stored."""
    if uow.idempotency_key is None and dry_run_asked(uow):
        return f"dry-run:{uuid4()}"
    return uow.domain_key()


def dry_run_answer(
    uow: UnitOfWork, call: Callable[[], BaseModel], accounts: Iterable[UUID], status: int
) -> Response:
    """Run `call` (the route's write and the read of its answer) as a dry run: the answer
    it gives (`status`: the one the route would answer) with the balances after it, or its
    refusal's problem with the balances as they stand. Nothing is stored or committed: the
    unit of work rolls back."""
    found = ledger.rehearse(uow.conn, call, accounts)
    balances = [balance(b) for b in found.balances]
    if found.error is not None:
        kind = problems.problem_type_of(found.error) or problems.INTERNAL
        return problems.problem_response(
            kind,
            str(found.error),
            instance=uow.request.url.path,
            **{
                **found.error.details,
                "dry_run": True,
                "balances": [b.model_dump(mode="json") for b in balances],
            },
        )
    assert found.result is not None
    body = m.DryRunResponse(
        status=status, result=found.result.model_dump(mode="json"), balances=balances
    )
    return Response(content=body.model_dump_json(), media_type="application/json")


_F = TypeVar("_F", bound=Callable[..., Any])

DRY_RUN_ANSWER: dict[int | str, dict[str, Any]] = {
    200: {"model": m.DryRunResponse, "description": "With `dry_run=true`: what it would do"}
}


def write_route(
    router: APIRouter, path: str, model: Any, *, created: bool = False
) -> Callable[[_F], _F]:
    """A ledger write's route on `router`: its Idempotency-Key, and `?dry_run` (read by the
    handler, documented here) with its 200 answer beside the route's own."""
    if created:
        return router.post(
            path,
            status_code=201,
            dependencies=WRITE_OR_DRY_RUN,
            response_model=model,
            openapi_extra=DRY_RUN_PARAMETER,
            responses=DRY_RUN_ANSWER,
        )
    return router.post(
        path,
        dependencies=WRITE_OR_DRY_RUN,
        response_model=model,
        openapi_extra=DRY_RUN_PARAMETER,
    )
