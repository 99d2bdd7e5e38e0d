"""Currency conversions over HTTP (issue 16 item 6): convert between two of the key's
organization's accounts through the platform's FX liquidity accounts, and read the
conversions. The rate is the platform's current rate for the pair (set with the platform's
key: PUT /v1/fx-rates/{source}/{target}); a `rate` in an organization's request is the rate it
expects, refused with 409 fx-rate-changed (naming the current one) unless it is the current
one. Rates are exact (a decimal or `numerator/denominator` string: never a JSON number, so no
float touches them); the target amount is rounded down to the target currency's minor unit,
the rounding kept by the platform."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated, Literal

from fastapi import Path
from pydantic import BaseModel, ConfigDict, Field

import ledger
from ledger import FxRate, FxRateChanged, FxRateMissing, set_fx_rate
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
from liventix.api.routing import WRITE, authenticated_router, problem_responses
from liventix.api.schemas import Amount, Metadata, PositiveAmount, RequestModel, Text, amount
from liventix.api.unit_of_work import Uow

router = authenticated_router(["ledger"])

# The conversions' refusals, typed (the domain's problem registry, by class).
problems.DOMAIN_PROBLEMS.update(
    {
        ledger.InvalidRate: ProblemType(422, "invalid-rate", "Invalid exchange rate"),
        ledger.SameCurrency: ProblemType(
            422, "same-currency", "A conversion is between two currencies"
        ),
        ledger.ConversionTooSmall: ProblemType(
            422, "conversion-too-small", "The amount converts to less than one minor unit"
        ),
        ledger.FxLiquidityMissing: ProblemType(
            409,
            "fx-liquidity-missing",
            "The platform has no FX liquidity account in this currency yet",
        ),
        ledger.ConversionNotFound: ProblemType(404, "conversion-not-found", "No such conversion"),
        FxRateMissing: ProblemType(
            409, "fx-rate-missing", "The platform has no exchange rate for this pair yet"
        ),
        FxRateChanged: ProblemType(
            409, "fx-rate-changed", "The expected rate is not the pair's current rate"
        ),
    }
)

Rate = Annotated[
    str,
    Field(
        min_length=1,
        max_length=80,
        pattern=r"^\s*[0-9]+(\.[0-9]+)?(/[0-9]+)?\s*$",
        examples=["1.0843", "1000/921"],
        description="Target major units per source major unit, exact: a decimal or "
        "numerator/denominator (a string, never a JSON number)",
    ),
]


class ConvertRequest(RequestModel):
    """Convert an amount of the source account's currency into the target account's."""

    source_account_id: uuid.UUID = Field(description="Debited `amount` (its currency)")
    target_account_id: uuid.UUID = Field(description="Credited the converted amount")
    amount: PositiveAmount
    rate: Rate | None = Field(
        default=None,
        description="The rate the caller expects (refused unless it is the pair's current "
        "rate); the rate used is always the platform's",
    )
    description: Text = ""
    metadata: Metadata = Field(default_factory=dict)


class ConversionResponse(BaseModel):
    """A conversion: both amounts, the exact rate, the rounding the platform kept (a fraction
    of one target minor unit, as `numerator/denominator`) and the two entries it posted."""

    model_config = ConfigDict(json_schema_serialization_defaults_required=True)

    object: Literal["conversion"] = "conversion"
    id: uuid.UUID
    org_id: uuid.UUID
    source_account_id: uuid.UUID
    target_account_id: uuid.UUID
    source: Amount
    target: Amount
    rate: str = Field(description="As a decimal when it has one, else numerator/denominator")
    rounding: str = Field(description="Exact conversion minus target amount, in target minor units")
    source_entry_id: uuid.UUID
    target_entry_id: uuid.UUID
    created_at: datetime


class ConversionList(ListObject[ConversionResponse]):
    """A page of conversions, oldest first."""


def view(c: ledger.Conversion) -> ConversionResponse:
    """A conversion's response body."""
    return ConversionResponse(
        id=c.id,
        org_id=c.org_id,
        source_account_id=c.source_account_id,
        target_account_id=c.target_account_id,
        source=amount(c.source_amount, c.source_currency),
        target=amount(c.target_amount, c.target_currency),
        rate=c.rate_text,
        rounding=str(c.rounding),
        source_entry_id=c.source_entry_id,
        target_entry_id=c.target_entry_id,
        created_at=c.created_at,
    )


@router.post("/conversions", status_code=201, dependencies=WRITE)
def convert(body: ConvertRequest, uow: Uow) -> ConversionResponse:
    """Convert between two of the key's organization's accounts through the platform's FX
    liquidity accounts (two entries, posted together)."""
    with uow:
        found = ledger.convert(
            uow.conn,
            uow.acting_org(),
            ledger.Convert(
                idempotency_key=uow.domain_key(),
                source_account_id=body.source_account_id,
                target_account_id=body.target_account_id,
                amount=body.amount,
                rate=body.rate,
                description=body.description,
                metadata=body.metadata,
            ),
        )
        return uow.commit(view(found), location=f"/v1/conversions/{found.id}")


@router.get("/conversions")
def list_conversions(
    uow: Uow, starting_after: StartingAfter = None, limit: Limit = DEFAULT_LIMIT
) -> ConversionList:
    """The conversions this key can see, oldest first."""
    with uow:
        after = uuid_cursor(starting_after)
        if after is not None:
            try:
                ledger.get_conversion(uow.conn, after)
            except ledger.ConversionNotFound as exc:
                raise bad_cursor(
                    "no object of this list with this id is visible to this key"
                ) from exc
        found, more = ledger.list_conversions(
            uow.conn, uow.org_id, starting_after=after, limit=limit
        )
        return ConversionList(data=[view(c) for c in found], has_more=more)


@router.get("/conversions/{conversion_id:uuid}")
def get_conversion(conversion_id: uuid.UUID, uow: Uow) -> ConversionResponse:
    """One conversion."""
    with uow:
        return view(ledger.get_conversion(uow.conn, conversion_id))


CurrencyCode = Annotated[str, Path(pattern=r"^[A-Z]{3}$", examples=["EUR"])]


class SetFxRateRequest(RequestModel):
    """The pair's new rate, in force from now."""

    rate: Rate


class FxRateResponse(BaseModel):
    """The platform's rate for a pair: target major units per source major unit."""

    model_config = ConfigDict(json_schema_serialization_defaults_required=True)

    object: Literal["fx_rate"] = "fx_rate"
    source_currency: str
    target_currency: str
    rate: str = Field(description="As a decimal when it has one, else numerator/denominator")
    valid_from: datetime


def rate_view(r: FxRate) -> FxRateResponse:
    """A rate's response body."""
    return FxRateResponse(
        source_currency=r.source_currency,
        target_currency=r.target_currency,
        rate=r.rate_text,
        valid_from=r.valid_from,
    )


@router.put(
    "/fx-rates/{source_currency}/{target_currency}",
    dependencies=WRITE,
    openapi_extra={"x-platform-only": True},
    responses=problem_responses(403),
)
def put_fx_rate(
    source_currency: CurrencyCode, target_currency: CurrencyCode, body: SetFxRateRequest, uow: Uow
) -> FxRateResponse:
    """Set the pair's exchange rate, in force from now (platform key)."""
    with uow:
        found = set_fx_rate(uow.conn, source_currency, target_currency, body.rate)
        return uow.commit(rate_view(found))
