from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, TypeVar

from attrs import define as _attrs_define

from ..models.create_category_request_currency import CreateCategoryRequestCurrency
from ..models.create_category_request_normal_side import CreateCategoryRequestNormalSide
from ..types import UNSET, Unset

if TYPE_CHECKING:
    from ..models.create_category_request_metadata import CreateCategoryRequestMetadata


T = TypeVar("T", bound="CreateCategoryRequest")


@_attrs_define
class CreateCategoryRequest:
    """Create an account category of one currency.

    Attributes:
        code (str):
        currency (CreateCategoryRequestCurrency): ISO 4217 code
        normal_side (CreateCategoryRequestNormalSide): The side its balances are shown on: credit for liabilities and
            revenue, debit for assets and expenses
        name (str | Unset):  Default: ''.
        metadata (CreateCategoryRequestMetadata | Unset): JSON object of strings, integers, booleans, null, objects and
            arrays: at most 50 keys of 1 to 40 characters, each value at most 500 characters (a string's length, any other
            value's compact JSON), as Stripe's metadata
    """

    code: str
    currency: CreateCategoryRequestCurrency
    normal_side: CreateCategoryRequestNormalSide
    name: str | Unset = ""
    metadata: CreateCategoryRequestMetadata | Unset = UNSET

    def to_dict(self) -> dict[str, Any]:
        code = self.code

        currency = self.currency.value

        normal_side = self.normal_side.value

        name = self.name

        metadata: dict[str, Any] | Unset = UNSET
        if not isinstance(self.metadata, Unset):
            metadata = self.metadata.to_dict()

        field_dict: dict[str, Any] = {}

        field_dict.update(
            {
                "code": code,
                "currency": currency,
                "normal_side": normal_side,
            }
        )
        if name is not UNSET:
            field_dict["name"] = name
        if metadata is not UNSET:
            field_dict["metadata"] = metadata

        return field_dict

    @classmethod
    def from_dict(cls: type[T], src_dict: Mapping[str, Any]) -> T:
        from ..models.create_category_request_metadata import CreateCategoryRequestMetadata  # noqa: PLC0415

        d = dict(src_dict)
        code = d.pop("code")

        currency = CreateCategoryRequestCurrency(d.pop("currency"))

        normal_side = CreateCategoryRequestNormalSide(d.pop("normal_side"))

        name = d.pop("name", UNSET)

        _metadata = d.pop("metadata", UNSET)
        metadata: CreateCategoryRequestMetadata | Unset
        if isinstance(_metadata, Unset):
            metadata = UNSET
        else:
            metadata = CreateCategoryRequestMetadata.from_dict(_metadata)

        create_category_request = cls(
            code=code,
            currency=currency,
            normal_side=normal_side,
            name=name,
            metadata=metadata,
        )

        return create_category_request
