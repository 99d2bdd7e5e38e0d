from __future__ import annotations

import datetime
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, TypeVar, cast
from uuid import UUID

from attrs import define as _attrs_define
from attrs import field as _attrs_field

from ..models.hold_response_status import HoldResponseStatus

if TYPE_CHECKING:
    from ..models.amount import Amount


T = TypeVar("T", bound="HoldResponse")


@_attrs_define
class HoldResponse:
    """A hold and its resolution.

    Attributes:
        id (UUID):
        org_id (UUID):
        debit_account_id (UUID):
        credit_account_id (UUID):
        amount (Amount): An amount of minor units in a currency (a balance: zero or negative too).
        expires_at (datetime.datetime | None):
        created_at (datetime.datetime):
        status (HoldResponseStatus):
        posted_amount (Amount): An amount of minor units in a currency (a balance: zero or negative too).
        entry_id (None | UUID):
    """

    id: UUID
    org_id: UUID
    debit_account_id: UUID
    credit_account_id: UUID
    amount: Amount
    expires_at: datetime.datetime | None
    created_at: datetime.datetime
    status: HoldResponseStatus
    posted_amount: Amount
    entry_id: None | UUID
    additional_properties: dict[str, Any] = _attrs_field(init=False, factory=dict)

    def to_dict(self) -> dict[str, Any]:
        id = str(self.id)

        org_id = str(self.org_id)

        debit_account_id = str(self.debit_account_id)

        credit_account_id = str(self.credit_account_id)

        amount = self.amount.to_dict()

        expires_at: None | str
        if isinstance(self.expires_at, datetime.datetime):
            expires_at = self.expires_at.isoformat()
        else:
            expires_at = self.expires_at

        created_at = self.created_at.isoformat()

        status = self.status.value

        posted_amount = self.posted_amount.to_dict()

        entry_id: None | str
        if isinstance(self.entry_id, UUID):
            entry_id = str(self.entry_id)
        else:
            entry_id = self.entry_id

        field_dict: dict[str, Any] = {}
        field_dict.update(self.additional_properties)
        field_dict.update(
            {
                "id": id,
                "org_id": org_id,
                "debit_account_id": debit_account_id,
                "credit_account_id": credit_account_id,
                "amount": amount,
                "expires_at": expires_at,
                "created_at": created_at,
                "status": status,
                "posted_amount": posted_amount,
                "entry_id": entry_id,
            }
        )

        return field_dict

    @classmethod
    def from_dict(cls: type[T], src_dict: Mapping[str, Any]) -> T:
        from ..models.amount import Amount  # noqa: PLC0415

        d = dict(src_dict)
        id = UUID(d.pop("id"))

        org_id = UUID(d.pop("org_id"))

        debit_account_id = UUID(d.pop("debit_account_id"))

        credit_account_id = UUID(d.pop("credit_account_id"))

        amount = Amount.from_dict(d.pop("amount"))

        def _parse_expires_at(data: object) -> datetime.datetime | None:
            if data is None:
                return data
            try:
                if not isinstance(data, str):
                    raise TypeError()
                expires_at_type_0 = datetime.datetime.fromisoformat(data)

                return expires_at_type_0
            except (TypeError, ValueError, AttributeError, KeyError):
                pass
            return cast(datetime.datetime | None, data)

        expires_at = _parse_expires_at(d.pop("expires_at"))

        created_at = datetime.datetime.fromisoformat(d.pop("created_at"))

        status = HoldResponseStatus(d.pop("status"))

        posted_amount = Amount.from_dict(d.pop("posted_amount"))

        def _parse_entry_id(data: object) -> None | UUID:
            if data is None:
                return data
            try:
                if not isinstance(data, str):
                    raise TypeError()
                entry_id_type_0 = UUID(data)

                return entry_id_type_0
            except (TypeError, ValueError, AttributeError, KeyError):
                pass
            return cast(None | UUID, data)

        entry_id = _parse_entry_id(d.pop("entry_id"))

        hold_response = cls(
            id=id,
            org_id=org_id,
            debit_account_id=debit_account_id,
            credit_account_id=credit_account_id,
            amount=amount,
            expires_at=expires_at,
            created_at=created_at,
            status=status,
            posted_amount=posted_amount,
            entry_id=entry_id,
        )

        hold_response.additional_properties = d
        return hold_response

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
