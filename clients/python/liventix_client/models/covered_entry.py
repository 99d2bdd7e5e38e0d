from __future__ import annotations

from collections.abc import Mapping
from typing import Any, TypeVar, cast
from uuid import UUID

from attrs import define as _attrs_define
from attrs import field as _attrs_field

T = TypeVar("T", bound="CoveredEntry")


@_attrs_define
class CoveredEntry:
    """An entry a transfer's settlement covered: its net on the settled account, and what it
    was for (a sale, a refund, something else), with the payment, order and tickets.

        Attributes:
            entry_id (UUID):
            kind (str):
            amount (int):
            external_ref (None | str):
            description (str):
            payment_id (None | str):
            order_id (None | UUID):
            ticket_ids (list[UUID]):
    """

    entry_id: UUID
    kind: str
    amount: int
    external_ref: None | str
    description: str
    payment_id: None | str
    order_id: None | UUID
    ticket_ids: list[UUID]
    additional_properties: dict[str, Any] = _attrs_field(init=False, factory=dict)

    def to_dict(self) -> dict[str, Any]:
        entry_id = str(self.entry_id)

        kind = self.kind

        amount = self.amount

        external_ref: None | str
        external_ref = self.external_ref

        description = self.description

        payment_id: None | str
        payment_id = self.payment_id

        order_id: None | str
        if isinstance(self.order_id, UUID):
            order_id = str(self.order_id)
        else:
            order_id = self.order_id

        ticket_ids = []
        for ticket_ids_item_data in self.ticket_ids:
            ticket_ids_item = str(ticket_ids_item_data)
            ticket_ids.append(ticket_ids_item)

        field_dict: dict[str, Any] = {}
        field_dict.update(self.additional_properties)
        field_dict.update(
            {
                "entry_id": entry_id,
                "kind": kind,
                "amount": amount,
                "external_ref": external_ref,
                "description": description,
                "payment_id": payment_id,
                "order_id": order_id,
                "ticket_ids": ticket_ids,
            }
        )

        return field_dict

    @classmethod
    def from_dict(cls: type[T], src_dict: Mapping[str, Any]) -> T:
        d = dict(src_dict)
        entry_id = UUID(d.pop("entry_id"))

        kind = d.pop("kind")

        amount = d.pop("amount")

        def _parse_external_ref(data: object) -> None | str:
            if data is None:
                return data
            return cast(None | str, data)

        external_ref = _parse_external_ref(d.pop("external_ref"))

        description = d.pop("description")

        def _parse_payment_id(data: object) -> None | str:
            if data is None:
                return data
            return cast(None | str, data)

        payment_id = _parse_payment_id(d.pop("payment_id"))

        def _parse_order_id(data: object) -> None | UUID:
            if data is None:
                return data
            try:
                if not isinstance(data, str):
                    raise TypeError()
                order_id_type_0 = UUID(data)

                return order_id_type_0
            except (TypeError, ValueError, AttributeError, KeyError):
                pass
            return cast(None | UUID, data)

        order_id = _parse_order_id(d.pop("order_id"))

        ticket_ids = []
        _ticket_ids = d.pop("ticket_ids")
        for ticket_ids_item_data in _ticket_ids:
            ticket_ids_item = UUID(ticket_ids_item_data)

            ticket_ids.append(ticket_ids_item)

        covered_entry = cls(
            entry_id=entry_id,
            kind=kind,
            amount=amount,
            external_ref=external_ref,
            description=description,
            payment_id=payment_id,
            order_id=order_id,
            ticket_ids=ticket_ids,
        )

        covered_entry.additional_properties = d
        return covered_entry

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
