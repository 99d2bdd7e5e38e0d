from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, TypeVar
from uuid import UUID

from attrs import define as _attrs_define

from ..models.line_request_side import LineRequestSide

if TYPE_CHECKING:
    from ..models.money import Money


T = TypeVar("T", bound="LineRequest")


@_attrs_define
class LineRequest:
    """One leg of an entry.

    Attributes:
        account_id (UUID):
        side (LineRequestSide):
        amount (Money): A positive amount of minor units in a currency.
    """

    account_id: UUID
    side: LineRequestSide
    amount: Money

    def to_dict(self) -> dict[str, Any]:
        account_id = str(self.account_id)

        side = self.side.value

        amount = self.amount.to_dict()

        field_dict: dict[str, Any] = {}

        field_dict.update(
            {
                "account_id": account_id,
                "side": side,
                "amount": amount,
            }
        )

        return field_dict

    @classmethod
    def from_dict(cls: type[T], src_dict: Mapping[str, Any]) -> T:
        from ..models.money import Money  # noqa: PLC0415

        d = dict(src_dict)
        account_id = UUID(d.pop("account_id"))

        side = LineRequestSide(d.pop("side"))

        amount = Money.from_dict(d.pop("amount"))

        line_request = cls(
            account_id=account_id,
            side=side,
            amount=amount,
        )

        return line_request
