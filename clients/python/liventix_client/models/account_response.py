from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, TypeVar
from uuid import UUID

from attrs import define as _attrs_define
from attrs import field as _attrs_field

if TYPE_CHECKING:
    from ..models.account_response_metadata import AccountResponseMetadata
    from ..models.balance_response import BalanceResponse


T = TypeVar("T", bound="AccountResponse")


@_attrs_define
class AccountResponse:
    """An account and its balance now.

    Attributes:
        id (UUID):
        org_id (UUID):
        code (str):
        name (str):
        type_ (str):
        currency (str):
        debits_must_not_exceed_credits (bool):
        credits_must_not_exceed_debits (bool):
        high_volume (bool):
        closed (bool):
        metadata (AccountResponseMetadata):
        balance (BalanceResponse): An account's balances on its normal side, and the raw totals they come from.
    """

    id: UUID
    org_id: UUID
    code: str
    name: str
    type_: str
    currency: str
    debits_must_not_exceed_credits: bool
    credits_must_not_exceed_debits: bool
    high_volume: bool
    closed: bool
    metadata: AccountResponseMetadata
    balance: BalanceResponse
    additional_properties: dict[str, Any] = _attrs_field(init=False, factory=dict)

    def to_dict(self) -> dict[str, Any]:
        id = str(self.id)

        org_id = str(self.org_id)

        code = self.code

        name = self.name

        type_ = self.type_

        currency = self.currency

        debits_must_not_exceed_credits = self.debits_must_not_exceed_credits

        credits_must_not_exceed_debits = self.credits_must_not_exceed_debits

        high_volume = self.high_volume

        closed = self.closed

        metadata = self.metadata.to_dict()

        balance = self.balance.to_dict()

        field_dict: dict[str, Any] = {}
        field_dict.update(self.additional_properties)
        field_dict.update(
            {
                "id": id,
                "org_id": org_id,
                "code": code,
                "name": name,
                "type": type_,
                "currency": currency,
                "debits_must_not_exceed_credits": debits_must_not_exceed_credits,
                "credits_must_not_exceed_debits": credits_must_not_exceed_debits,
                "high_volume": high_volume,
                "closed": closed,
                "metadata": metadata,
                "balance": balance,
            }
        )

        return field_dict

    @classmethod
    def from_dict(cls: type[T], src_dict: Mapping[str, Any]) -> T:
        from ..models.account_response_metadata import AccountResponseMetadata  # noqa: PLC0415
        from ..models.balance_response import BalanceResponse  # noqa: PLC0415

        d = dict(src_dict)
        id = UUID(d.pop("id"))

        org_id = UUID(d.pop("org_id"))

        code = d.pop("code")

        name = d.pop("name")

        type_ = d.pop("type")

        currency = d.pop("currency")

        debits_must_not_exceed_credits = d.pop("debits_must_not_exceed_credits")

        credits_must_not_exceed_debits = d.pop("credits_must_not_exceed_debits")

        high_volume = d.pop("high_volume")

        closed = d.pop("closed")

        metadata = AccountResponseMetadata.from_dict(d.pop("metadata"))

        balance = BalanceResponse.from_dict(d.pop("balance"))

        account_response = cls(
            id=id,
            org_id=org_id,
            code=code,
            name=name,
            type_=type_,
            currency=currency,
            debits_must_not_exceed_credits=debits_must_not_exceed_credits,
            credits_must_not_exceed_debits=credits_must_not_exceed_debits,
            high_volume=high_volume,
            closed=closed,
            metadata=metadata,
            balance=balance,
        )

        account_response.additional_properties = d
        return account_response

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
