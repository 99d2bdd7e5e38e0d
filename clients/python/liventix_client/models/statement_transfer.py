from __future__ import annotations

import datetime
from collections.abc import Mapping
from typing import Any, TypeVar, cast
from uuid import UUID

from attrs import define as _attrs_define
from attrs import field as _attrs_field

T = TypeVar("T", bound="StatementTransfer")


@_attrs_define
class StatementTransfer:
    """One transfer to the organizer recorded in the period: its amount, what reversals
    brought back, and the ledger settlement that closed the entries it paid (`settled`: their
    net on the settled account, `entries`: how many; the release's transfer settles the
    event's escrow account, so `settled` - `amount` is what was netted against debts).

        Attributes:
            currency (str):
            transfer_id (str):
            created_at (datetime.datetime):
            amount (int):
            reversed_ (int):
            settlement_id (None | UUID):
            settled (int):
            entries (int):
    """

    currency: str
    transfer_id: str
    created_at: datetime.datetime
    amount: int
    reversed_: int
    settlement_id: None | UUID
    settled: int
    entries: int
    additional_properties: dict[str, Any] = _attrs_field(init=False, factory=dict)

    def to_dict(self) -> dict[str, Any]:
        currency = self.currency

        transfer_id = self.transfer_id

        created_at = self.created_at.isoformat()

        amount = self.amount

        reversed_ = self.reversed_

        settlement_id: None | str
        if isinstance(self.settlement_id, UUID):
            settlement_id = str(self.settlement_id)
        else:
            settlement_id = self.settlement_id

        settled = self.settled

        entries = self.entries

        field_dict: dict[str, Any] = {}
        field_dict.update(self.additional_properties)
        field_dict.update(
            {
                "currency": currency,
                "transfer_id": transfer_id,
                "created_at": created_at,
                "amount": amount,
                "reversed": reversed_,
                "settlement_id": settlement_id,
                "settled": settled,
                "entries": entries,
            }
        )

        return field_dict

    @classmethod
    def from_dict(cls: type[T], src_dict: Mapping[str, Any]) -> T:
        d = dict(src_dict)
        currency = d.pop("currency")

        transfer_id = d.pop("transfer_id")

        created_at = datetime.datetime.fromisoformat(d.pop("created_at"))

        amount = d.pop("amount")

        reversed_ = d.pop("reversed")

        def _parse_settlement_id(data: object) -> None | UUID:
            if data is None:
                return data
            try:
                if not isinstance(data, str):
                    raise TypeError()
                settlement_id_type_0 = UUID(data)

                return settlement_id_type_0
            except (TypeError, ValueError, AttributeError, KeyError):
                pass
            return cast(None | UUID, data)

        settlement_id = _parse_settlement_id(d.pop("settlement_id"))

        settled = d.pop("settled")

        entries = d.pop("entries")

        statement_transfer = cls(
            currency=currency,
            transfer_id=transfer_id,
            created_at=created_at,
            amount=amount,
            reversed_=reversed_,
            settlement_id=settlement_id,
            settled=settled,
            entries=entries,
        )

        statement_transfer.additional_properties = d
        return statement_transfer

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
