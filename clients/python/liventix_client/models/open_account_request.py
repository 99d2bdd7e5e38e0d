from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, TypeVar

from attrs import define as _attrs_define

from ..models.open_account_request_currency import OpenAccountRequestCurrency
from ..models.open_account_request_type import OpenAccountRequestType
from ..types import UNSET, Unset

if TYPE_CHECKING:
    from ..models.open_account_request_metadata import OpenAccountRequestMetadata


T = TypeVar("T", bound="OpenAccountRequest")


@_attrs_define
class OpenAccountRequest:
    """Open an account.

    Attributes:
        code (str):
        type_ (OpenAccountRequestType):
        currency (OpenAccountRequestCurrency): ISO 4217 code
        name (str | Unset):  Default: ''.
        debits_must_not_exceed_credits (bool | Unset):  Default: False.
        credits_must_not_exceed_debits (bool | Unset):  Default: False.
        high_volume (bool | Unset):  Default: False.
        metadata (OpenAccountRequestMetadata | Unset): JSON object of strings, integers, booleans, null, objects and
            arrays: at most 50 keys of 1 to 40 characters, each value at most 500 characters (a string's length, any other
            value's compact JSON), as Stripe's metadata
    """

    code: str
    type_: OpenAccountRequestType
    currency: OpenAccountRequestCurrency
    name: str | Unset = ""
    debits_must_not_exceed_credits: bool | Unset = False
    credits_must_not_exceed_debits: bool | Unset = False
    high_volume: bool | Unset = False
    metadata: OpenAccountRequestMetadata | Unset = UNSET

    def to_dict(self) -> dict[str, Any]:
        code = self.code

        type_ = self.type_.value

        currency = self.currency.value

        name = self.name

        debits_must_not_exceed_credits = self.debits_must_not_exceed_credits

        credits_must_not_exceed_debits = self.credits_must_not_exceed_debits

        high_volume = self.high_volume

        metadata: dict[str, Any] | Unset = UNSET
        if not isinstance(self.metadata, Unset):
            metadata = self.metadata.to_dict()

        field_dict: dict[str, Any] = {}

        field_dict.update(
            {
                "code": code,
                "type": type_,
                "currency": currency,
            }
        )
        if name is not UNSET:
            field_dict["name"] = name
        if debits_must_not_exceed_credits is not UNSET:
            field_dict["debits_must_not_exceed_credits"] = debits_must_not_exceed_credits
        if credits_must_not_exceed_debits is not UNSET:
            field_dict["credits_must_not_exceed_debits"] = credits_must_not_exceed_debits
        if high_volume is not UNSET:
            field_dict["high_volume"] = high_volume
        if metadata is not UNSET:
            field_dict["metadata"] = metadata

        return field_dict

    @classmethod
    def from_dict(cls: type[T], src_dict: Mapping[str, Any]) -> T:
        from ..models.open_account_request_metadata import OpenAccountRequestMetadata  # noqa: PLC0415

        d = dict(src_dict)
        code = d.pop("code")

        type_ = OpenAccountRequestType(d.pop("type"))

        currency = OpenAccountRequestCurrency(d.pop("currency"))

        name = d.pop("name", UNSET)

        debits_must_not_exceed_credits = d.pop("debits_must_not_exceed_credits", UNSET)

        credits_must_not_exceed_debits = d.pop("credits_must_not_exceed_debits", UNSET)

        high_volume = d.pop("high_volume", UNSET)

        _metadata = d.pop("metadata", UNSET)
        metadata: OpenAccountRequestMetadata | Unset
        if isinstance(_metadata, Unset):
            metadata = UNSET
        else:
            metadata = OpenAccountRequestMetadata.from_dict(_metadata)

        open_account_request = cls(
            code=code,
            type_=type_,
            currency=currency,
            name=name,
            debits_must_not_exceed_credits=debits_must_not_exceed_credits,
            credits_must_not_exceed_debits=credits_must_not_exceed_debits,
            high_volume=high_volume,
            metadata=metadata,
        )

        return open_account_request
