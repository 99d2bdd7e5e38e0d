from __future__ import annotations

from collections.abc import Mapping
from typing import Any, TypeVar
from uuid import UUID

from attrs import define as _attrs_define

from ..models.create_monitor_request_balance import CreateMonitorRequestBalance
from ..models.create_monitor_request_operator import CreateMonitorRequestOperator
from ..types import UNSET, Unset

T = TypeVar("T", bound="CreateMonitorRequest")


@_attrs_define
class CreateMonitorRequest:
    """Watch an account's balance against a condition.

    Attributes:
        account_id (UUID):
        balance (CreateMonitorRequestBalance): Which balance, on the account's normal side (as its balance reads it)
        operator (CreateMonitorRequestOperator):
        value (int): Minor units of the account's currency
        description (str | Unset):  Default: ''.
    """

    account_id: UUID
    balance: CreateMonitorRequestBalance
    operator: CreateMonitorRequestOperator
    value: int
    description: str | Unset = ""

    def to_dict(self) -> dict[str, Any]:
        account_id = str(self.account_id)

        balance = self.balance.value

        operator = self.operator.value

        value = self.value

        description = self.description

        field_dict: dict[str, Any] = {}

        field_dict.update(
            {
                "account_id": account_id,
                "balance": balance,
                "operator": operator,
                "value": value,
            }
        )
        if description is not UNSET:
            field_dict["description"] = description

        return field_dict

    @classmethod
    def from_dict(cls: type[T], src_dict: Mapping[str, Any]) -> T:
        d = dict(src_dict)
        account_id = UUID(d.pop("account_id"))

        balance = CreateMonitorRequestBalance(d.pop("balance"))

        operator = CreateMonitorRequestOperator(d.pop("operator"))

        value = d.pop("value")

        description = d.pop("description", UNSET)

        create_monitor_request = cls(
            account_id=account_id,
            balance=balance,
            operator=operator,
            value=value,
            description=description,
        )

        return create_monitor_request
