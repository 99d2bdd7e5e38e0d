"""Account categories over HTTP (issue 16 item 3): create, list and read (with balances, now
or as of a moment) the key's organization's categories, and add or remove their members.
Writes carry the request's Idempotency-Key into the ledger's own key space (prefixed `api:`)."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated, Any, Literal

from fastapi import Query
from pydantic import BaseModel, ConfigDict, Field

import ledger
from liventix.api import problems
from liventix.api.pages import (
    DEFAULT_LIMIT,
    Limit,
    ListObject,
    StartingAfter,
    bad_cursor,
    uuid_cursor,
)
from liventix.api.problems import ProblemType
from liventix.api.routing import WRITE, authenticated_router
from liventix.api.schemas import Amount, Currency, Metadata, Name, RequestModel, Timestamp, amount
from liventix.api.unit_of_work import Uow

router = authenticated_router(["ledger"])

# The categories' refusals, typed (the domain's problem registry, by class).
problems.DOMAIN_PROBLEMS.update(
    {
        ledger.CategoryNotFound: ProblemType(
            404, "account-category-not-found", "No such account category"
        ),
        ledger.DuplicateCategoryCode: ProblemType(
            409, "duplicate-category-code", "The organization has a category with this code"
        ),
        ledger.CategoryCycle: ProblemType(
            422, "category-cycle", "The category would contain itself through its members"
        ),
        ledger.CategoryCurrencyMismatch: ProblemType(
            422, "category-currency-mismatch", "A member's currency differs from the category's"
        ),
    }
)

MAX_MEMBERS = 100


class CreateCategoryRequest(RequestModel):
    """Create an account category of one currency."""

    code: Name
    name: Annotated[str, Field(max_length=255)] = ""
    currency: Currency
    normal_side: Literal["debit", "credit"] = Field(
        description="The side its balances are shown on: credit for liabilities and revenue, "
        "debit for assets and expenses"
    )
    metadata: Metadata = Field(default_factory=dict)


class MembersRequest(RequestModel):
    """Accounts and categories (of the category's organization and currency)."""

    account_ids: list[uuid.UUID] = Field(default_factory=list, max_length=MAX_MEMBERS)
    category_ids: list[uuid.UUID] = Field(default_factory=list, max_length=MAX_MEMBERS)


class CategoryBalanceResponse(BaseModel):
    """A category's balances: the sums of the accounts it reaches (each once), on its normal
    side, and the raw totals they come from."""

    posted: Amount
    pending: Amount
    available: Amount
    posted_debits: int
    posted_credits: int
    pending_debits: int
    pending_credits: int
    accounts: int = Field(description="How many distinct accounts the category reaches")
    as_of: datetime | None = None
    by: Literal["recorded", "effective"] | None = None


class CategoryResponse(BaseModel):
    """An account category, its direct members and its balances."""

    model_config = ConfigDict(json_schema_serialization_defaults_required=True)

    object: Literal["account_category"] = "account_category"
    id: uuid.UUID
    org_id: uuid.UUID
    code: str
    name: str
    currency: str
    normal_side: Literal["debit", "credit"]
    metadata: dict[str, Any]
    created_at: datetime
    account_ids: list[uuid.UUID]
    category_ids: list[uuid.UUID]
    balance: CategoryBalanceResponse


class CategoryList(ListObject[CategoryResponse]):
    """A page of account categories, oldest first, with their balances now."""


def view(
    c: ledger.Category, as_of: datetime | None = None, by: str | None = None
) -> CategoryResponse:
    """A category's response body."""
    b = c.balance
    return CategoryResponse(
        id=c.id,
        org_id=c.org_id,
        code=c.code,
        name=c.name,
        currency=c.currency,
        normal_side=c.normal_side,  # type: ignore[arg-type]
        metadata=c.metadata,
        created_at=c.created_at,
        account_ids=list(c.account_ids),
        category_ids=list(c.category_ids),
        balance=CategoryBalanceResponse(
            posted=amount(b.posted, b.currency),
            pending=amount(b.pending, b.currency),
            available=amount(b.available, b.currency),
            posted_debits=b.posted_debits,
            posted_credits=b.posted_credits,
            pending_debits=b.pending_debits,
            pending_credits=b.pending_credits,
            accounts=b.accounts,
            as_of=as_of,
            by=by,  # type: ignore[arg-type]
        ),
    )


@router.post("/account-categories", status_code=201, dependencies=WRITE)
def create_category(body: CreateCategoryRequest, uow: Uow) -> CategoryResponse:
    """Create an account category for the key's organization."""
    with uow:
        result = ledger.create_category(
            uow.conn,
            uow.acting_org(),
            ledger.CreateCategory(
                idempotency_key=uow.domain_key(),
                code=body.code,
                currency=body.currency,
                normal_side=body.normal_side,
                name=body.name,
                metadata=body.metadata,
            ),
        )
        answer = view(ledger.get_category(uow.conn, result.id))
        return uow.commit(answer, location=f"/v1/account-categories/{answer.id}")


@router.get("/account-categories")
def list_categories(
    uow: Uow,
    currency: Annotated[Currency | None, Query(description="Only categories of it")] = None,
    starting_after: StartingAfter = None,
    limit: Limit = DEFAULT_LIMIT,
) -> CategoryList:
    """The account categories this key can see, oldest first, with their balances now."""
    with uow:
        after = uuid_cursor(starting_after)
        if after is not None:
            try:
                ledger.get_category(uow.conn, after)
            except ledger.CategoryNotFound as exc:
                raise bad_cursor(
                    "no object of this list with this id is visible to this key"
                ) from exc
        found, more = ledger.list_categories(
            uow.conn, uow.org_id, currency=currency, starting_after=after, limit=limit
        )
        return CategoryList(data=[view(c) for c in found], has_more=more)


@router.get("/account-categories/{category_id:uuid}")
def get_category(
    category_id: uuid.UUID,
    uow: Uow,
    as_of: Annotated[
        Timestamp | None, Query(description="Balances as of this moment (default: now)")
    ] = None,
    by: Annotated[
        Literal["recorded", "effective"],
        Query(description="`as_of` compares with the recording time, or the effective date"),
    ] = "recorded",
) -> CategoryResponse:
    """One account category, its direct members and its balances now or as of `as_of`."""
    with uow:
        found = ledger.get_category(uow.conn, category_id, at=as_of, by=by)
        return view(found, as_of, by if as_of is not None else None)


def _members(
    uow: Uow, category_id: uuid.UUID, body: MembersRequest, *, add: bool
) -> CategoryResponse:
    request = ledger.CategoryMembers(
        idempotency_key=uow.domain_key(),
        category_id=category_id,
        account_ids=body.account_ids,
        category_ids=body.category_ids,
    )
    change = ledger.add_category_members if add else ledger.remove_category_members
    change(uow.conn, uow.acting_org(), request)
    return uow.commit(view(ledger.get_category(uow.conn, category_id)))


@router.post("/account-categories/{category_id:uuid}/members", dependencies=WRITE)
def add_members(category_id: uuid.UUID, body: MembersRequest, uow: Uow) -> CategoryResponse:
    """Add accounts and categories to a category (of its currency; no cycle)."""
    with uow:
        return _members(uow, category_id, body, add=True)


@router.post("/account-categories/{category_id:uuid}/members/remove", dependencies=WRITE)
def remove_members(category_id: uuid.UUID, body: MembersRequest, uow: Uow) -> CategoryResponse:
    """Remove accounts and categories from a category (absent ones are ignored)."""
    with uow:
        return _members(uow, category_id, body, add=False)
