"""The reports' request and response bodies (the trial balance report, the Stripe
reconciliation's balance transactions)."""

from __future__ import annotations

import uuid
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Discriminator,
    Field,
    StrictInt,
    Tag,
)

import ledger
from liventix.api.ledger.schemas import TrialBalanceResponse


class TrialBalanceOrganizationTotal(BaseModel):
    """Debits beside credits of the entries one organization booked, in one currency."""

    org_id: uuid.UUID
    currency: str
    debits: int
    credits: int
    difference: int


class TrialBalanceReportResponse(TrialBalanceResponse):
    """The trial balance as a report: per account, per currency, per booking organization;
    a difference is an (organization, currency) or a currency whose debits differ from its
    credits (as `liventix report trial-balance` counts them)."""

    name: Literal["trial-balance"] = "trial-balance"
    title: str = "Trial balance"
    differences: int
    organizations: list[TrialBalanceOrganizationTotal]


def _stripe_currency(value: str) -> str:
    if not ledger.is_currency(value.upper()):
        raise ValueError(f"{value!r} is not an active ISO 4217 currency code")
    return value


StripeCurrency = Annotated[
    str,
    Field(
        pattern=r"^[A-Za-z]{3}$",
        min_length=3,
        max_length=3,
        examples=["usd"],
        description="ISO 4217, any case",
    ),
    AfterValidator(_stripe_currency),
]
SignedAmount = Annotated[
    StrictInt,
    Field(
        ge=-ledger.MAX_AMOUNT,
        le=ledger.MAX_AMOUNT,
        description="Minor units, signed, as Stripe writes them",
    ),
]


class ExpandedSource(BaseModel):
    """An expanded `source`: only its id is used."""

    model_config = ConfigDict(extra="allow")

    id: Annotated[str, Field(min_length=1, max_length=255)]


class BalanceTransactionRequest(BaseModel):
    """A Stripe BalanceTransaction as Stripe's API returns it; the fields below are used,
    any others are accepted and ignored."""

    model_config = ConfigDict(extra="allow")

    id: Annotated[str, Field(min_length=1, max_length=255, examples=["txn_1Nq"])]
    currency: StripeCurrency
    amount: SignedAmount
    fee: SignedAmount = 0
    net: SignedAmount
    reporting_category: Annotated[str, Field(max_length=255)] | None = None
    type: Annotated[str, Field(max_length=255)] | None = None
    source: Annotated[str, Field(max_length=255)] | ExpandedSource | None = None
    created: (
        Annotated[StrictInt, Field(ge=0, le=253_402_300_799, description="Unix seconds")] | None
    ) = None


MAX_BALANCE_TRANSACTIONS = 100_000
BalanceTransactions = Annotated[
    list[BalanceTransactionRequest], Field(max_length=MAX_BALANCE_TRANSACTIONS)
]


class BalanceTransactionListRequest(BaseModel):
    """Stripe's list object (`GET /v1/balance_transactions`): its `data` is used."""

    model_config = ConfigDict(extra="allow")

    object: Literal["list"]
    data: BalanceTransactions


def _list_or_object(value: Any) -> str:
    return "list" if isinstance(value, list) else "object"


StripeReconciliationRequest = Annotated[
    Annotated[BalanceTransactions, Tag("list")]
    | Annotated[BalanceTransactionListRequest, Tag("object")],
    Discriminator(_list_or_object),
]
"""A JSON list of balance transactions, or Stripe's list object holding them."""
