from __future__ import annotations

from collections.abc import Mapping
from typing import Any, TypeVar

from attrs import define as _attrs_define
from attrs import field as _attrs_field

from ..models.balance_monitor_event_balance import BalanceMonitorEventBalance
from ..models.balance_monitor_event_operator import BalanceMonitorEventOperator

T = TypeVar("T", bound="BalanceMonitorEvent")


@_attrs_define
class BalanceMonitorEvent:
    """Payload of `ledger.balance_monitor.triggered` and `.recovered`: the monitor, the
    balance it watches as the posting left it, and the account's version then.

        Attributes:
            monitor_id (str):
            org_id (str):
            account_id (str):
            balance (BalanceMonitorEventBalance):
            operator (BalanceMonitorEventOperator):
            value (int):
            description (str):
            current (int):
            account_version (int):
            occurred_at (str):
    """

    monitor_id: str
    org_id: str
    account_id: str
    balance: BalanceMonitorEventBalance
    operator: BalanceMonitorEventOperator
    value: int
    description: str
    current: int
    account_version: int
    occurred_at: str
    additional_properties: dict[str, Any] = _attrs_field(init=False, factory=dict)

    def to_dict(self) -> dict[str, Any]:
        monitor_id = self.monitor_id

        org_id = self.org_id

        account_id = self.account_id

        balance = self.balance.value

        operator = self.operator.value

        value = self.value

        description = self.description

        current = self.current

        account_version = self.account_version

        occurred_at = self.occurred_at

        field_dict: dict[str, Any] = {}
        field_dict.update(self.additional_properties)
        field_dict.update(
            {
                "monitor_id": monitor_id,
                "org_id": org_id,
                "account_id": account_id,
                "balance": balance,
                "operator": operator,
                "value": value,
                "description": description,
                "current": current,
                "account_version": account_version,
                "occurred_at": occurred_at,
            }
        )

        return field_dict

    @classmethod
    def from_dict(cls: type[T], src_dict: Mapping[str, Any]) -> T:
        d = dict(src_dict)
        monitor_id = d.pop("monitor_id")

        org_id = d.pop("org_id")

        account_id = d.pop("account_id")

        balance = BalanceMonitorEventBalance(d.pop("balance"))

        operator = BalanceMonitorEventOperator(d.pop("operator"))

        value = d.pop("value")

        description = d.pop("description")

        current = d.pop("current")

        account_version = d.pop("account_version")

        occurred_at = d.pop("occurred_at")

        balance_monitor_event = cls(
            monitor_id=monitor_id,
            org_id=org_id,
            account_id=account_id,
            balance=balance,
            operator=operator,
            value=value,
            description=description,
            current=current,
            account_version=account_version,
            occurred_at=occurred_at,
        )

        balance_monitor_event.additional_properties = d
        return balance_monitor_event

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
