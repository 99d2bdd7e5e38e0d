from __future__ import annotations

import datetime
from collections.abc import Mapping
from typing import Any, Literal, TypeVar, cast
from uuid import UUID

from attrs import define as _attrs_define
from attrs import field as _attrs_field

from ..models.monitor_response_balance import MonitorResponseBalance
from ..models.monitor_response_operator import MonitorResponseOperator

T = TypeVar("T", bound="MonitorResponse")


@_attrs_define
class MonitorResponse:
    """A balance monitor: its condition and whether it holds now.

    Attributes:
        object_ (Literal['balance_monitor']):  Default: 'balance_monitor'.
        id (UUID):
        org_id (UUID):
        account_id (UUID):
        balance (MonitorResponseBalance):
        operator (MonitorResponseOperator):
        value (int):
        description (str):
        triggered (bool): Whether the condition holds as of the last posting
        created_at (datetime.datetime):
        deleted_at (datetime.datetime | None):
    """

    id: UUID
    org_id: UUID
    account_id: UUID
    balance: MonitorResponseBalance
    operator: MonitorResponseOperator
    value: int
    description: str
    triggered: bool
    created_at: datetime.datetime
    deleted_at: datetime.datetime | None
    object_: Literal["balance_monitor"] = "balance_monitor"
    additional_properties: dict[str, Any] = _attrs_field(init=False, factory=dict)

    def to_dict(self) -> dict[str, Any]:
        object_ = self.object_

        id = str(self.id)

        org_id = str(self.org_id)

        account_id = str(self.account_id)

        balance = self.balance.value

        operator = self.operator.value

        value = self.value

        description = self.description

        triggered = self.triggered

        created_at = self.created_at.isoformat()

        deleted_at: None | str
        if isinstance(self.deleted_at, datetime.datetime):
            deleted_at = self.deleted_at.isoformat()
        else:
            deleted_at = self.deleted_at

        field_dict: dict[str, Any] = {}
        field_dict.update(self.additional_properties)
        field_dict.update(
            {
                "object": object_,
                "id": id,
                "org_id": org_id,
                "account_id": account_id,
                "balance": balance,
                "operator": operator,
                "value": value,
                "description": description,
                "triggered": triggered,
                "created_at": created_at,
                "deleted_at": deleted_at,
            }
        )

        return field_dict

    @classmethod
    def from_dict(cls: type[T], src_dict: Mapping[str, Any]) -> T:
        d = dict(src_dict)
        object_ = cast(Literal["balance_monitor"], d.pop("object"))
        if object_ != "balance_monitor":
            raise ValueError(f"object must match const 'balance_monitor', got '{object_}'")

        id = UUID(d.pop("id"))

        org_id = UUID(d.pop("org_id"))

        account_id = UUID(d.pop("account_id"))

        balance = MonitorResponseBalance(d.pop("balance"))

        operator = MonitorResponseOperator(d.pop("operator"))

        value = d.pop("value")

        description = d.pop("description")

        triggered = d.pop("triggered")

        created_at = datetime.datetime.fromisoformat(d.pop("created_at"))

        def _parse_deleted_at(data: object) -> datetime.datetime | None:
            if data is None:
                return data
            try:
                if not isinstance(data, str):
                    raise TypeError()
                deleted_at_type_0 = datetime.datetime.fromisoformat(data)

                return deleted_at_type_0
            except (TypeError, ValueError, AttributeError, KeyError):
                pass
            return cast(datetime.datetime | None, data)

        deleted_at = _parse_deleted_at(d.pop("deleted_at"))

        monitor_response = cls(
            object_=object_,
            id=id,
            org_id=org_id,
            account_id=account_id,
            balance=balance,
            operator=operator,
            value=value,
            description=description,
            triggered=triggered,
            created_at=created_at,
            deleted_at=deleted_at,
        )

        monitor_response.additional_properties = d
        return monitor_response

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
