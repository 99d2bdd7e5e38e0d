from __future__ import annotations

import datetime
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, Literal, TypeVar, cast
from uuid import UUID

from attrs import define as _attrs_define
from attrs import field as _attrs_field

from ..models.category_response_normal_side import CategoryResponseNormalSide

if TYPE_CHECKING:
    from ..models.category_balance_response import CategoryBalanceResponse
    from ..models.category_response_metadata import CategoryResponseMetadata


T = TypeVar("T", bound="CategoryResponse")


@_attrs_define
class CategoryResponse:
    """An account category, its direct members and its balances.

    Attributes:
        object_ (Literal['account_category']):  Default: 'account_category'.
        id (UUID):
        org_id (UUID):
        code (str):
        name (str):
        currency (str):
        normal_side (CategoryResponseNormalSide):
        metadata (CategoryResponseMetadata):
        created_at (datetime.datetime):
        account_ids (list[UUID]):
        category_ids (list[UUID]):
        balance (CategoryBalanceResponse): A category's balances: the sums of the accounts it reaches (each once), on
            its normal
            side, and the raw totals they come from.
    """

    id: UUID
    org_id: UUID
    code: str
    name: str
    currency: str
    normal_side: CategoryResponseNormalSide
    metadata: CategoryResponseMetadata
    created_at: datetime.datetime
    account_ids: list[UUID]
    category_ids: list[UUID]
    balance: CategoryBalanceResponse
    object_: Literal["account_category"] = "account_category"
    additional_properties: dict[str, Any] = _attrs_field(init=False, factory=dict)

    def to_dict(self) -> dict[str, Any]:
        object_ = self.object_

        id = str(self.id)

        org_id = str(self.org_id)

        code = self.code

        name = self.name

        currency = self.currency

        normal_side = self.normal_side.value

        metadata = self.metadata.to_dict()

        created_at = self.created_at.isoformat()

        account_ids = []
        for account_ids_item_data in self.account_ids:
            account_ids_item = str(account_ids_item_data)
            account_ids.append(account_ids_item)

        category_ids = []
        for category_ids_item_data in self.category_ids:
            category_ids_item = str(category_ids_item_data)
            category_ids.append(category_ids_item)

        balance = self.balance.to_dict()

        field_dict: dict[str, Any] = {}
        field_dict.update(self.additional_properties)
        field_dict.update(
            {
                "object": object_,
                "id": id,
                "org_id": org_id,
                "code": code,
                "name": name,
                "currency": currency,
                "normal_side": normal_side,
                "metadata": metadata,
                "created_at": created_at,
                "account_ids": account_ids,
                "category_ids": category_ids,
                "balance": balance,
            }
        )

        return field_dict

    @classmethod
    def from_dict(cls: type[T], src_dict: Mapping[str, Any]) -> T:
        from ..models.category_balance_response import CategoryBalanceResponse  # noqa: PLC0415
        from ..models.category_response_metadata import CategoryResponseMetadata  # noqa: PLC0415

        d = dict(src_dict)
        object_ = cast(Literal["account_category"], d.pop("object"))
        if object_ != "account_category":
            raise ValueError(f"object must match const 'account_category', got '{object_}'")

        id = UUID(d.pop("id"))

        org_id = UUID(d.pop("org_id"))

        code = d.pop("code")

        name = d.pop("name")

        currency = d.pop("currency")

        normal_side = CategoryResponseNormalSide(d.pop("normal_side"))

        metadata = CategoryResponseMetadata.from_dict(d.pop("metadata"))

        created_at = datetime.datetime.fromisoformat(d.pop("created_at"))

        account_ids = []
        _account_ids = d.pop("account_ids")
        for account_ids_item_data in _account_ids:
            account_ids_item = UUID(account_ids_item_data)

            account_ids.append(account_ids_item)

        category_ids = []
        _category_ids = d.pop("category_ids")
        for category_ids_item_data in _category_ids:
            category_ids_item = UUID(category_ids_item_data)

            category_ids.append(category_ids_item)

        balance = CategoryBalanceResponse.from_dict(d.pop("balance"))

        category_response = cls(
            object_=object_,
            id=id,
            org_id=org_id,
            code=code,
            name=name,
            currency=currency,
            normal_side=normal_side,
            metadata=metadata,
            created_at=created_at,
            account_ids=account_ids,
            category_ids=category_ids,
            balance=balance,
        )

        category_response.additional_properties = d
        return category_response

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
