from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, TypeVar, cast

from attrs import define as _attrs_define
from attrs import field as _attrs_field

from ..models.hold_event_status import HoldEventStatus

if TYPE_CHECKING:
    from ..models.hold_event_metadata import HoldEventMetadata


T = TypeVar("T", bound="HoldEvent")


@_attrs_define
class HoldEvent:
    """Payload of `ledger.hold.created`, `.posted`, `.voided` and `.expired`: a hold and what
    just happened to it (times are UTC ISO 8601).

        Attributes:
            hold_id (str):
            org_id (str):
            status (HoldEventStatus):
            debit_account_id (str):
            credit_account_id (str):
            amount (int):
            currency (str):
            expires_at (None | str):
            description (str):
            metadata (HoldEventMetadata):
            posted_amount (int):
            entry_id (None | str):
            occurred_at (str):
    """

    hold_id: str
    org_id: str
    status: HoldEventStatus
    debit_account_id: str
    credit_account_id: str
    amount: int
    currency: str
    expires_at: None | str
    description: str
    metadata: HoldEventMetadata
    posted_amount: int
    entry_id: None | str
    occurred_at: str
    additional_properties: dict[str, Any] = _attrs_field(init=False, factory=dict)

    def to_dict(self) -> dict[str, Any]:
        hold_id = self.hold_id

        org_id = self.org_id

        status = self.status.value

        debit_account_id = self.debit_account_id

        credit_account_id = self.credit_account_id

        amount = self.amount

        currency = self.currency

        expires_at: None | str
        expires_at = self.expires_at

        description = self.description

        metadata = self.metadata.to_dict()

        posted_amount = self.posted_amount

        entry_id: None | str
        entry_id = self.entry_id

        occurred_at = self.occurred_at

        field_dict: dict[str, Any] = {}
        field_dict.update(self.additional_properties)
        field_dict.update(
            {
                "hold_id": hold_id,
                "org_id": org_id,
                "status": status,
                "debit_account_id": debit_account_id,
                "credit_account_id": credit_account_id,
                "amount": amount,
                "currency": currency,
                "expires_at": expires_at,
                "description": description,
                "metadata": metadata,
                "posted_amount": posted_amount,
                "entry_id": entry_id,
                "occurred_at": occurred_at,
            }
        )

        return field_dict

    @classmethod
    def from_dict(cls: type[T], src_dict: Mapping[str, Any]) -> T:
        from ..models.hold_event_metadata import HoldEventMetadata  # noqa: PLC0415

        d = dict(src_dict)
        hold_id = d.pop("hold_id")

        org_id = d.pop("org_id")

        status = HoldEventStatus(d.pop("status"))

        debit_account_id = d.pop("debit_account_id")

        credit_account_id = d.pop("credit_account_id")

        amount = d.pop("amount")

        currency = d.pop("currency")

        def _parse_expires_at(data: object) -> None | str:
            if data is None:
                return data
            return cast(None | str, data)

        expires_at = _parse_expires_at(d.pop("expires_at"))

        description = d.pop("description")

        metadata = HoldEventMetadata.from_dict(d.pop("metadata"))

        posted_amount = d.pop("posted_amount")

        def _parse_entry_id(data: object) -> None | str:
            if data is None:
                return data
            return cast(None | str, data)

        entry_id = _parse_entry_id(d.pop("entry_id"))

        occurred_at = d.pop("occurred_at")

        hold_event = cls(
            hold_id=hold_id,
            org_id=org_id,
            status=status,
            debit_account_id=debit_account_id,
            credit_account_id=credit_account_id,
            amount=amount,
            currency=currency,
            expires_at=expires_at,
            description=description,
            metadata=metadata,
            posted_amount=posted_amount,
            entry_id=entry_id,
            occurred_at=occurred_at,
        )

        hold_event.additional_properties = d
        return hold_event

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
