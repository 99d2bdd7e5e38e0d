from __future__ import annotations

import datetime
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, Literal, TypeVar, cast

from attrs import define as _attrs_define
from attrs import field as _attrs_field

if TYPE_CHECKING:
    from ..models.balance_monitor_event import BalanceMonitorEvent


T = TypeVar("T", bound="LedgerBalanceMonitorTriggeredWebhook")


@_attrs_define
class LedgerBalanceMonitorTriggeredWebhook:
    """The `ledger.balance_monitor.triggered` webhook's body.

    Attributes:
        type_ (Literal['ledger.balance_monitor.triggered']):
        timestamp (datetime.datetime): When the event happened (the message was written)
        data (BalanceMonitorEvent): Payload of `ledger.balance_monitor.triggered` and `.recovered`: the monitor, the
            balance it watches as the posting left it, and the account's version then.
    """

    type_: Literal["ledger.balance_monitor.triggered"]
    timestamp: datetime.datetime
    data: BalanceMonitorEvent
    additional_properties: dict[str, Any] = _attrs_field(init=False, factory=dict)

    def to_dict(self) -> dict[str, Any]:
        type_ = self.type_

        timestamp = self.timestamp.isoformat()

        data = self.data.to_dict()

        field_dict: dict[str, Any] = {}
        field_dict.update(self.additional_properties)
        field_dict.update(
            {
                "type": type_,
                "timestamp": timestamp,
                "data": data,
            }
        )

        return field_dict

    @classmethod
    def from_dict(cls: type[T], src_dict: Mapping[str, Any]) -> T:
        from ..models.balance_monitor_event import BalanceMonitorEvent  # noqa: PLC0415

        d = dict(src_dict)
        type_ = cast(Literal["ledger.balance_monitor.triggered"], d.pop("type"))
        if type_ != "ledger.balance_monitor.triggered":
            raise ValueError(f"type must match const 'ledger.balance_monitor.triggered', got '{type_}'")

        timestamp = datetime.datetime.fromisoformat(d.pop("timestamp"))

        data = BalanceMonitorEvent.from_dict(d.pop("data"))

        ledger_balance_monitor_triggered_webhook = cls(
            type_=type_,
            timestamp=timestamp,
            data=data,
        )

        ledger_balance_monitor_triggered_webhook.additional_properties = d
        return ledger_balance_monitor_triggered_webhook

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
