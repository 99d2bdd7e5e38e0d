from __future__ import annotations

from collections.abc import Mapping
from typing import Any, TypeVar
from uuid import UUID

from attrs import define as _attrs_define

from ..types import UNSET, Unset

T = TypeVar("T", bound="MembersRequest")


@_attrs_define
class MembersRequest:
    """Accounts and categories (of the category's organization and currency).

    Attributes:
        account_ids (list[UUID] | Unset):
        category_ids (list[UUID] | Unset):
    """

    account_ids: list[UUID] | Unset = UNSET
    category_ids: list[UUID] | Unset = UNSET

    def to_dict(self) -> dict[str, Any]:
        account_ids: list[str] | Unset = UNSET
        if not isinstance(self.account_ids, Unset):
            account_ids = []
            for account_ids_item_data in self.account_ids:
                account_ids_item = str(account_ids_item_data)
                account_ids.append(account_ids_item)

        category_ids: list[str] | Unset = UNSET
        if not isinstance(self.category_ids, Unset):
            category_ids = []
            for category_ids_item_data in self.category_ids:
                category_ids_item = str(category_ids_item_data)
                category_ids.append(category_ids_item)

        field_dict: dict[str, Any] = {}

        field_dict.update({})
        if account_ids is not UNSET:
            field_dict["account_ids"] = account_ids
        if category_ids is not UNSET:
            field_dict["category_ids"] = category_ids

        return field_dict

    @classmethod
    def from_dict(cls: type[T], src_dict: Mapping[str, Any]) -> T:
        d = dict(src_dict)
        _account_ids = d.pop("account_ids", UNSET)
        account_ids: list[UUID] | Unset = UNSET
        if _account_ids is not UNSET:
            account_ids = []
            for account_ids_item_data in _account_ids:
                account_ids_item = UUID(account_ids_item_data)

                account_ids.append(account_ids_item)

        _category_ids = d.pop("category_ids", UNSET)
        category_ids: list[UUID] | Unset = UNSET
        if _category_ids is not UNSET:
            category_ids = []
            for category_ids_item_data in _category_ids:
                category_ids_item = UUID(category_ids_item_data)

                category_ids.append(category_ids_item)

        members_request = cls(
            account_ids=account_ids,
            category_ids=category_ids,
        )

        return members_request
