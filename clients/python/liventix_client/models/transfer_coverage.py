from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, TypeVar, cast
from uuid import UUID

from attrs import define as _attrs_define
from attrs import field as _attrs_field

if TYPE_CHECKING:
    from ..models.covered_entry import CoveredEntry


T = TypeVar("T", bound="TransferCoverage")


@_attrs_define
class TransferCoverage:
    """Which tickets a transfer paid for: transfer -> settlement -> entries -> orders.

    Attributes:
        transfer_id (str):
        org_id (UUID):
        currency (str):
        amount (int):
        reversed_ (int):
        settlement_id (None | UUID):
        settled (int):
        entries (list[CoveredEntry]):
        order_ids (list[UUID]):
        ticket_ids (list[UUID]):
    """

    transfer_id: str
    org_id: UUID
    currency: str
    amount: int
    reversed_: int
    settlement_id: None | UUID
    settled: int
    entries: list[CoveredEntry]
    order_ids: list[UUID]
    ticket_ids: list[UUID]
    additional_properties: dict[str, Any] = _attrs_field(init=False, factory=dict)

    def to_dict(self) -> dict[str, Any]:
        transfer_id = self.transfer_id

        org_id = str(self.org_id)

        currency = self.currency

        amount = self.amount

        reversed_ = self.reversed_

        settlement_id: None | str
        if isinstance(self.settlement_id, UUID):
            settlement_id = str(self.settlement_id)
        else:
            settlement_id = self.settlement_id

        settled = self.settled

        entries = []
        for entries_item_data in self.entries:
            entries_item = entries_item_data.to_dict()
            entries.append(entries_item)

        order_ids = []
        for order_ids_item_data in self.order_ids:
            order_ids_item = str(order_ids_item_data)
            order_ids.append(order_ids_item)

        ticket_ids = []
        for ticket_ids_item_data in self.ticket_ids:
            ticket_ids_item = str(ticket_ids_item_data)
            ticket_ids.append(ticket_ids_item)

        field_dict: dict[str, Any] = {}
        field_dict.update(self.additional_properties)
        field_dict.update(
            {
                "transfer_id": transfer_id,
                "org_id": org_id,
                "currency": currency,
                "amount": amount,
                "reversed": reversed_,
                "settlement_id": settlement_id,
                "settled": settled,
                "entries": entries,
                "order_ids": order_ids,
                "ticket_ids": ticket_ids,
            }
        )

        return field_dict

    @classmethod
    def from_dict(cls: type[T], src_dict: Mapping[str, Any]) -> T:
        from ..models.covered_entry import CoveredEntry  # noqa: PLC0415

        d = dict(src_dict)
        transfer_id = d.pop("transfer_id")

        org_id = UUID(d.pop("org_id"))

        currency = d.pop("currency")

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

        entries = []
        _entries = d.pop("entries")
        for entries_item_data in _entries:
            entries_item = CoveredEntry.from_dict(entries_item_data)

            entries.append(entries_item)

        order_ids = []
        _order_ids = d.pop("order_ids")
        for order_ids_item_data in _order_ids:
            order_ids_item = UUID(order_ids_item_data)

            order_ids.append(order_ids_item)

        ticket_ids = []
        _ticket_ids = d.pop("ticket_ids")
        for ticket_ids_item_data in _ticket_ids:
            ticket_ids_item = UUID(ticket_ids_item_data)

            ticket_ids.append(ticket_ids_item)

        transfer_coverage = cls(
            transfer_id=transfer_id,
            org_id=org_id,
            currency=currency,
            amount=amount,
            reversed_=reversed_,
            settlement_id=settlement_id,
            settled=settled,
            entries=entries,
            order_ids=order_ids,
            ticket_ids=ticket_ids,
        )

        transfer_coverage.additional_properties = d
        return transfer_coverage

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
