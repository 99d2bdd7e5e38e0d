from __future__ import annotations

import datetime
from collections.abc import Mapping
from typing import Any, Literal, TypeVar, cast

from attrs import define as _attrs_define
from attrs import field as _attrs_field

T = TypeVar("T", bound="FxRateResponse")


@_attrs_define
class FxRateResponse:
    """The platform's rate for a pair: target major units per source major unit.

    Attributes:
        object_ (Literal['fx_rate']):  Default: 'fx_rate'.
        source_currency (str):
        target_currency (str):
        rate (str): As a decimal when it has one, else numerator/denominator
        valid_from (datetime.datetime):
    """

    source_currency: str
    target_currency: str
    rate: str
    valid_from: datetime.datetime
    object_: Literal["fx_rate"] = "fx_rate"
    additional_properties: dict[str, Any] = _attrs_field(init=False, factory=dict)

    def to_dict(self) -> dict[str, Any]:
        object_ = self.object_

        source_currency = self.source_currency

        target_currency = self.target_currency

        rate = self.rate

        valid_from = self.valid_from.isoformat()

        field_dict: dict[str, Any] = {}
        field_dict.update(self.additional_properties)
        field_dict.update(
            {
                "object": object_,
                "source_currency": source_currency,
                "target_currency": target_currency,
                "rate": rate,
                "valid_from": valid_from,
            }
        )

        return field_dict

    @classmethod
    def from_dict(cls: type[T], src_dict: Mapping[str, Any]) -> T:
        d = dict(src_dict)
        object_ = cast(Literal["fx_rate"], d.pop("object"))
        if object_ != "fx_rate":
            raise ValueError(f"object must match const 'fx_rate', got '{object_}'")

        source_currency = d.pop("source_currency")

        target_currency = d.pop("target_currency")

        rate = d.pop("rate")

        valid_from = datetime.datetime.fromisoformat(d.pop("valid_from"))

        fx_rate_response = cls(
            object_=object_,
            source_currency=source_currency,
            target_currency=target_currency,
            rate=rate,
            valid_from=valid_from,
        )

        fx_rate_response.additional_properties = d
        return fx_rate_response

    @property
    def additional_keys(self) -> list[str]:
        return list(self.additional_properties.keys())

    def __getitem__(self, key: str) -> Any:
        return self.additional_properties[key]

    def __setitem__(self, key: str, value: Any) -> None:
        self.additional_properties[key] = value

    def __delitem__(self, key: str) -> None:
        del self.additional_properties[key]

    def __contains__(self, key: str) -> bool:
        return key in self.additional_properties
