from __future__ import annotations

from collections.abc import Mapping
from typing import Any, TypeVar

from attrs import define as _attrs_define

T = TypeVar("T", bound="TransferTicketRequest")


@_attrs_define
class TransferTicketRequest:
    """Give a ticket to a new holder.

    Attributes:
        new_holder_email (str):
    """

    new_holder_email: str

    def to_dict(self) -> dict[str, Any]:
        new_holder_email = self.new_holder_email

        field_dict: dict[str, Any] = {}

        field_dict.update(
            {
                "new_holder_email": new_holder_email,
            }
        )

        return field_dict

    @classmethod
    def from_dict(cls: type[T], src_dict: Mapping[str, Any]) -> T:
        d = dict(src_dict)
        new_holder_email = d.pop("new_holder_email")

        transfer_ticket_request = cls(
            new_holder_email=new_holder_email,
        )

        return transfer_ticket_request
