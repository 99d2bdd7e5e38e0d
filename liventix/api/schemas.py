"""The API's shared wire format: money, amounts, timestamps, metadata, pages and problems
(each slice's own request and response bodies are in its `schemas` module).

Money is `{"amount": <int of minor units>, "currency": "<ISO 4217>"}`; amounts are JSON
integers, exact at any size (never floats, never strings). Requests refuse unknown fields,
floats where integers are due, and naive timestamps; responses carry ids as UUID strings.
"""

from __future__ import annotations

import json
import re
from datetime import datetime
from typing import Annotated, Any

from pydantic import (
    AfterValidator,
    AwareDatetime,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    StrictInt,
)

import ledger


def _currency(value: str) -> str:
    if not ledger.is_currency(value):
        raise ValueError(f"{value!r} is not an active ISO 4217 currency code")
    return value


Currency = Annotated[
    str,
    Field(
        pattern=r"^[A-Z]{3}$",
        examples=["USD"],
        description="ISO 4217 code",
        json_schema_extra={"enum": sorted(ledger.CURRENCY_EXPONENTS)},
    ),
    AfterValidator(_currency),
]

_ISO_8601 = re.compile(r"^\d{4}-\d{2}-\d{2}[Tt ]\d{2}:\d{2}")


MAX_TIMESTAMP_LENGTH = 64


def _iso_8601(value: object) -> object:
    # Pydantic would read a bare number as seconds since the epoch: the API takes only the
    # documented form.
    if isinstance(value, str) and len(value) > MAX_TIMESTAMP_LENGTH:
        raise ValueError(f"a date-time of at most {MAX_TIMESTAMP_LENGTH} characters")
    if isinstance(value, datetime) or (isinstance(value, str) and _ISO_8601.match(value)):
        return value
    raise ValueError("an ISO 8601 date-time with its UTC offset, e.g. 2026-01-31T20:00:00+01:00")


Timestamp = Annotated[
    AwareDatetime,
    BeforeValidator(_iso_8601),
    Field(json_schema_extra={"maxLength": MAX_TIMESTAMP_LENGTH}),
]
"""A moment: ISO 8601 with its offset (a naive time is refused)."""
PositiveAmount = Annotated[
    StrictInt,
    Field(ge=1, le=ledger.MAX_AMOUNT, description="Minor units, a positive 64-bit integer"),
]
MAX_METADATA_KEYS = 50
MAX_METADATA_KEY_LENGTH = 40
MAX_METADATA_VALUE_LENGTH = 500
"""Stripe's metadata limits: 50 keys, keys of 40 characters, values of 500."""


def _few_keys(value: object) -> object:
    # Before the keys are validated one by one: 100,000 keys are refused at once.
    if isinstance(value, dict) and len(value) > MAX_METADATA_KEYS:
        raise ValueError(f"at most {MAX_METADATA_KEYS} keys, not {len(value)}")
    return value


def _short_values(value: dict[str, Any]) -> dict[str, Any]:
    for key, item in value.items():
        text = item if isinstance(item, str) else json.dumps(item, separators=(",", ":"))
        if len(text) > MAX_METADATA_VALUE_LENGTH:
            raise ValueError(
                f"the value of {key!r} is longer than {MAX_METADATA_VALUE_LENGTH} characters"
                + ("" if isinstance(item, str) else " as JSON")
            )
    return value


MetadataKey = Annotated[str, Field(min_length=1, max_length=MAX_METADATA_KEY_LENGTH)]
Metadata = Annotated[
    dict[MetadataKey, Any],
    BeforeValidator(_few_keys),
    AfterValidator(_short_values),
    Field(
        description="JSON object of strings, integers, booleans, null, objects and arrays: "
        f"at most {MAX_METADATA_KEYS} keys of 1 to {MAX_METADATA_KEY_LENGTH} characters, each "
        f"value at most {MAX_METADATA_VALUE_LENGTH} characters (a string's length, any other "
        "value's compact JSON), as Stripe's metadata",
        json_schema_extra={
            "maxProperties": MAX_METADATA_KEYS,
            "additionalProperties": {"maxLength": MAX_METADATA_VALUE_LENGTH},
        },
    ),
]
Text = Annotated[str, Field(max_length=1000)]
Name = Annotated[str, Field(min_length=1, max_length=255)]
Email = Annotated[
    str, Field(min_length=3, max_length=254, pattern=r"^[^@\s]+@[^@\s]+$", examples=["a@b.co"])
]
Cursor = Annotated[str, Field(max_length=200)]


class RequestModel(BaseModel):
    """A request body: unknown fields are refused."""

    model_config = ConfigDict(extra="forbid")


class Money(RequestModel):
    """A positive amount of minor units in a currency."""

    amount: PositiveAmount
    currency: Currency


class Amount(BaseModel):
    """An amount of minor units in a currency (a balance: zero or negative too)."""

    amount: int
    currency: str


def amount(value: int, currency: str) -> Amount:
    """An `Amount`."""
    return Amount(amount=value, currency=currency)


class Problem(BaseModel):
    """RFC 9457 problem details; extension members carry the ids involved."""

    model_config = ConfigDict(extra="allow")

    type: str
    title: str
    status: int
    detail: str
    instance: str | None = None
