from __future__ import annotations

import datetime
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, TypeVar
from uuid import UUID

from attrs import define as _attrs_define
from attrs import field as _attrs_field

from ..models.statement_line_response_side import StatementLineResponseSide

if TYPE_CHECKING:
    from ..models.amount import Amount


T = TypeVar("T", bound="StatementLineResponse")


@_attrs_define
class StatementLineResponse:
    """A statement line with the posted balance after it.

    Attributes:
        line_id (int):
        entry_id (UUID):
        created_at (datetime.datetime):
        effective_at (datetime.datetime):
        side (StatementLineResponseSide):
        amount (Amount): An amount of minor units in a currency (a balance: zero or negative too).
        balance_after (Amount): An amount of minor units in a currency (a balance: zero or negative too).
        description (str):
    """

    line_id: int
    entry_id: UUID
    created_at: datetime.datetime
    effective_at: datetime.datetime
    side: StatementLineResponseSide
    amount: Amount
    balance_after: Amount
    description: str
    additional_properties: dict[str, Any] = _attrs_field(init=False, factory=dict)

    def to_dict(self) -> dict[str, Any]:
        line_id = self.line_id

        entry_id = str(self.entry_id)

        created_at = self.created_at.isoformat()

        effective_at = self.effective_at.isoformat()

        side = self.side.value

        amount = self.amount.to_dict()

        balance_after = self.balance_after.to_dict()

        description = self.description

        field_dict: dict[str, Any] = {}
        field_dict.update(self.additional_properties)
        field_dict.update(
            {
                "line_id": line_id,
                "entry_id": entry_id,
                "created_at": created_at,
                "effective_at": effective_at,
                "side": side,
                "amount": amount,
                "balance_after": balance_after,
                "description": description,
            }
        )

        return field_dict

    @classmethod
    def from_dict(cls: type[T], src_dict: Mapping[str, Any]) -> T:
        from ..models.amount import Amount  # noqa: PLC0415

        d = dict(src_dict)
        line_id = d.pop("line_id")

        entry_id = UUID(d.pop("entry_id"))

        created_at = datetime.datetime.fromisoformat(d.pop("created_at"))

        effective_at = datetime.datetime.fromisoformat(d.pop("effective_at"))

        side = StatementLineResponseSide(d.pop("side"))

        amount = Amount.from_dict(d.pop("amount"))

        balance_after = Amount.from_dict(d.pop("balance_after"))

        description = d.pop("description")

        statement_line_response = cls(
            line_id=line_id,
            entry_id=entry_id,
            created_at=created_at,
            effective_at=effective_at,
            side=side,
            amount=amount,
            balance_after=balance_after,
            description=description,
        )

        statement_line_response.additional_properties = d
        return statement_line_response

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
