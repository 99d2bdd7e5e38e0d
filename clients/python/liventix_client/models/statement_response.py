from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, TypeVar
from uuid import UUID

from attrs import define as _attrs_define
from attrs import field as _attrs_field

if TYPE_CHECKING:
    from ..models.amount import Amount
    from ..models.statement_line_response import StatementLineResponse


T = TypeVar("T", bound="StatementResponse")


@_attrs_define
class StatementResponse:
    """A page of an account's statement: its opening balance and lines; `has_more` when
    another page follows (`starting_after` the last line's `line_id`).

        Attributes:
            account_id (UUID):
            currency (str):
            opening_balance (Amount): An amount of minor units in a currency (a balance: zero or negative too).
            lines (list[StatementLineResponse]):
            has_more (bool):
    """

    account_id: UUID
    currency: str
    opening_balance: Amount
    lines: list[StatementLineResponse]
    has_more: bool
    additional_properties: dict[str, Any] = _attrs_field(init=False, factory=dict)

    def to_dict(self) -> dict[str, Any]:
        account_id = str(self.account_id)

        currency = self.currency

        opening_balance = self.opening_balance.to_dict()

        lines = []
        for lines_item_data in self.lines:
            lines_item = lines_item_data.to_dict()
            lines.append(lines_item)

        has_more = self.has_more

        field_dict: dict[str, Any] = {}
        field_dict.update(self.additional_properties)
        field_dict.update(
            {
                "account_id": account_id,
                "currency": currency,
                "opening_balance": opening_balance,
                "lines": lines,
                "has_more": has_more,
            }
        )

        return field_dict

    @classmethod
    def from_dict(cls: type[T], src_dict: Mapping[str, Any]) -> T:
        from ..models.amount import Amount  # noqa: PLC0415
        from ..models.statement_line_response import StatementLineResponse  # noqa: PLC0415

        d = dict(src_dict)
        account_id = UUID(d.pop("account_id"))

        currency = d.pop("currency")

        opening_balance = Amount.from_dict(d.pop("opening_balance"))

        lines = []
        _lines = d.pop("lines")
        for lines_item_data in _lines:
            lines_item = StatementLineResponse.from_dict(lines_item_data)

            lines.append(lines_item)

        has_more = d.pop("has_more")

        statement_response = cls(
            account_id=account_id,
            currency=currency,
            opening_balance=opening_balance,
            lines=lines,
            has_more=has_more,
        )

        statement_response.additional_properties = d
        return statement_response

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
