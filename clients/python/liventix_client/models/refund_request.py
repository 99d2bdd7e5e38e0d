from __future__ import annotations

from collections.abc import Mapping
from typing import Any, TypeVar, cast
from uuid import UUID

from attrs import define as _attrs_define

from ..types import UNSET, Unset

T = TypeVar("T", bound="RefundRequest")


@_attrs_define
class RefundRequest:
    """Refund some of an order's tickets (all still valid ones when `ticket_ids` is null).

    Attributes:
        ticket_ids (list[UUID] | None | Unset):
        reason (str | Unset):  Default: 'requested by the buyer'.
    """

    ticket_ids: list[UUID] | None | Unset = UNSET
    reason: str | Unset = "requested by the buyer"

    def to_dict(self) -> dict[str, Any]:
        ticket_ids: list[str] | None | Unset
        if isinstance(self.ticket_ids, Unset):
            ticket_ids = UNSET
        elif isinstance(self.ticket_ids, list):
            ticket_ids = []
            for ticket_ids_type_0_item_data in self.ticket_ids:
                ticket_ids_type_0_item = str(ticket_ids_type_0_item_data)
                ticket_ids.append(ticket_ids_type_0_item)

        else:
            ticket_ids = self.ticket_ids

        reason = self.reason

        field_dict: dict[str, Any] = {}

        field_dict.update({})
        if ticket_ids is not UNSET:
            field_dict["ticket_ids"] = ticket_ids
        if reason is not UNSET:
            field_dict["reason"] = reason

        return field_dict

    @classmethod
    def from_dict(cls: type[T], src_dict: Mapping[str, Any]) -> T:
        d = dict(src_dict)

        def _parse_ticket_ids(data: object) -> list[UUID] | None | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            try:
                if not isinstance(data, list):
                    raise TypeError()
                ticket_ids_type_0 = []
                _ticket_ids_type_0 = data
                for ticket_ids_type_0_item_data in _ticket_ids_type_0:
                    ticket_ids_type_0_item = UUID(ticket_ids_type_0_item_data)

                    ticket_ids_type_0.append(ticket_ids_type_0_item)

                return ticket_ids_type_0
            except (TypeError, ValueError, AttributeError, KeyError):
                pass
            return cast(list[UUID] | None | Unset, data)

        ticket_ids = _parse_ticket_ids(d.pop("ticket_ids", UNSET))

        reason = d.pop("reason", UNSET)

        refund_request = cls(
            ticket_ids=ticket_ids,
            reason=reason,
        )

        return refund_request
