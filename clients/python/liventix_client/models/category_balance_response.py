from __future__ import annotations

import datetime
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, TypeVar, cast

from attrs import define as _attrs_define
from attrs import field as _attrs_field

from ..models.category_balance_response_by_type_0 import CategoryBalanceResponseByType0
from ..types import UNSET, Unset

if TYPE_CHECKING:
    from ..models.amount import Amount


T = TypeVar("T", bound="CategoryBalanceResponse")


@_attrs_define
class CategoryBalanceResponse:
    """A category's balances: the sums of the accounts it reaches (each once), on its normal
    side, and the raw totals they come from.

        Attributes:
            posted (Amount): An amount of minor units in a currency (a balance: zero or negative too).
            pending (Amount): An amount of minor units in a currency (a balance: zero or negative too).
            available (Amount): An amount of minor units in a currency (a balance: zero or negative too).
            posted_debits (int):
            posted_credits (int):
            pending_debits (int):
            pending_credits (int):
            accounts (int): How many distinct accounts the category reaches
            as_of (datetime.datetime | None | Unset):
            by (CategoryBalanceResponseByType0 | None | Unset):
    """

    posted: Amount
    pending: Amount
    available: Amount
    posted_debits: int
    posted_credits: int
    pending_debits: int
    pending_credits: int
    accounts: int
    as_of: datetime.datetime | None | Unset = UNSET
    by: CategoryBalanceResponseByType0 | None | Unset = UNSET
    additional_properties: dict[str, Any] = _attrs_field(init=False, factory=dict)

    def to_dict(self) -> dict[str, Any]:
        posted = self.posted.to_dict()

        pending = self.pending.to_dict()

        available = self.available.to_dict()

        posted_debits = self.posted_debits

        posted_credits = self.posted_credits

        pending_debits = self.pending_debits

        pending_credits = self.pending_credits

        accounts = self.accounts

        as_of: None | str | Unset
        if isinstance(self.as_of, Unset):
            as_of = UNSET
        elif isinstance(self.as_of, datetime.datetime):
            as_of = self.as_of.isoformat()
        else:
            as_of = self.as_of

        by: None | str | Unset
        if isinstance(self.by, Unset):
            by = UNSET
        elif isinstance(self.by, CategoryBalanceResponseByType0):
            by = self.by.value
        else:
            by = self.by

        field_dict: dict[str, Any] = {}
        field_dict.update(self.additional_properties)
        field_dict.update(
            {
                "posted": posted,
                "pending": pending,
                "available": available,
                "posted_debits": posted_debits,
                "posted_credits": posted_credits,
                "pending_debits": pending_debits,
                "pending_credits": pending_credits,
                "accounts": accounts,
            }
        )
        if as_of is not UNSET:
            field_dict["as_of"] = as_of
        if by is not UNSET:
            field_dict["by"] = by

        return field_dict

    @classmethod
    def from_dict(cls: type[T], src_dict: Mapping[str, Any]) -> T:
        from ..models.amount import Amount  # noqa: PLC0415

        d = dict(src_dict)
        posted = Amount.from_dict(d.pop("posted"))

        pending = Amount.from_dict(d.pop("pending"))

        available = Amount.from_dict(d.pop("available"))

        posted_debits = d.pop("posted_debits")

        posted_credits = d.pop("posted_credits")

        pending_debits = d.pop("pending_debits")

        pending_credits = d.pop("pending_credits")

        accounts = d.pop("accounts")

        def _parse_as_of(data: object) -> datetime.datetime | None | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            try:
                if not isinstance(data, str):
                    raise TypeError()
                as_of_type_0 = datetime.datetime.fromisoformat(data)

                return as_of_type_0
            except (TypeError, ValueError, AttributeError, KeyError):
                pass
            return cast(datetime.datetime | None | Unset, data)

        as_of = _parse_as_of(d.pop("as_of", UNSET))

        def _parse_by(data: object) -> CategoryBalanceResponseByType0 | None | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            try:
                if not isinstance(data, str):
                    raise TypeError()
                by_type_0 = CategoryBalanceResponseByType0(data)

                return by_type_0
            except (TypeError, ValueError, AttributeError, KeyError):
                pass
            return cast(CategoryBalanceResponseByType0 | None | Unset, data)

        by = _parse_by(d.pop("by", UNSET))

        category_balance_response = cls(
            posted=posted,
            pending=pending,
            available=available,
            posted_debits=posted_debits,
            posted_credits=posted_credits,
            pending_debits=pending_debits,
            pending_credits=pending_credits,
            accounts=accounts,
            as_of=as_of,
            by=by,
        )

        category_balance_response.additional_properties = d
        return category_balance_response

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
