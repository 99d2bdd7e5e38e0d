from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, TypeVar, cast
from uuid import UUID

from attrs import define as _attrs_define
from attrs import field as _attrs_field

from ..models.entry_line_response_side import EntryLineResponseSide

if TYPE_CHECKING:
    from ..models.amount import Amount


T = TypeVar("T", bound="EntryLineResponse")


@_attrs_define
class EntryLineResponse:
    """A posted line.

    Attributes:
        id (int):
        account_id (UUID):
        side (EntryLineResponseSide):
        amount (Amount): An amount of minor units in a currency (a balance: zero or negative too).
        account_version (int | None):
    """

    id: int
    account_id: UUID
    side: EntryLineResponseSide
    amount: Amount
    account_version: int | None
    additional_properties: dict[str, Any] = _attrs_field(init=False, factory=dict)

    def to_dict(self) -> dict[str, Any]:
        id = self.id

        account_id = str(self.account_id)

        side = self.side.value

        amount = self.amount.to_dict()

        account_version: int | None
        account_version = self.account_version

        field_dict: dict[str, Any] = {}
        field_dict.update(self.additional_properties)
        field_dict.update(
            {
                "id": id,
                "account_id": account_id,
                "side": side,
                "amount": amount,
                "account_version": account_version,
            }
        )

        return field_dict

    @classmethod
    def from_dict(cls: type[T], src_dict: Mapping[str, Any]) -> T:
        from ..models.amount import Amount  # noqa: PLC0415

        d = dict(src_dict)
        id = d.pop("id")

        account_id = UUID(d.pop("account_id"))

        side = EntryLineResponseSide(d.pop("side"))

        amount = Amount.from_dict(d.pop("amount"))

        def _parse_account_version(data: object) -> int | None:
            if data is None:
                return data
            return cast(int | None, data)

        account_version = _parse_account_version(d.pop("account_version"))

        entry_line_response = cls(
            id=id,
            account_id=account_id,
            side=side,
            amount=amount,
            account_version=account_version,
        )

        entry_line_response.additional_properties = d
        return entry_line_response

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
