from __future__ import annotations

from collections.abc import Mapping
from typing import Any, TypeVar

from attrs import define as _attrs_define

T = TypeVar("T", bound="SetFxRateRequest")


@_attrs_define
class SetFxRateRequest:
    """The pair's new rate, in force from now.

    Attributes:
        rate (str): Target major units per source major unit, exact: a decimal or numerator/denominator (a string, never
            a JSON number)
    """

    rate: str

    def to_dict(self) -> dict[str, Any]:
        rate = self.rate

        field_dict: dict[str, Any] = {}

        field_dict.update(
            {
                "rate": rate,
            }
        )

        return field_dict

    @classmethod
    def from_dict(cls: type[T], src_dict: Mapping[str, Any]) -> T:
        d = dict(src_dict)
        rate = d.pop("rate")

        set_fx_rate_request = cls(
            rate=rate,
        )

        return set_fx_rate_request
