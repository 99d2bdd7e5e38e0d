from __future__ import annotations

from collections.abc import Mapping
from typing import Any, TypeVar, cast
from uuid import UUID

from attrs import define as _attrs_define

from ..models.condition_request_balance import ConditionRequestBalance
from ..types import UNSET, Unset

T = TypeVar("T", bound="ConditionRequest")


@_attrs_define
class ConditionRequest:
    """A precondition on an account's version or a bound on its balance after the entry.

    Attributes:
        account_id (UUID):
        version (int | None | Unset):
        balance (ConditionRequestBalance | Unset):  Default: ConditionRequestBalance.POSTED.
        gte (int | None | Unset):
        lte (int | None | Unset):
    """

    account_id: UUID
    version: int | None | Unset = UNSET
    balance: ConditionRequestBalance | Unset = ConditionRequestBalance.POSTED
    gte: int | None | Unset = UNSET
    lte: int | None | Unset = UNSET

    def to_dict(self) -> dict[str, Any]:
        account_id = str(self.account_id)

        version: int | None | Unset
        if isinstance(self.version, Unset):
            version = UNSET
        else:
            version = self.version

        balance: str | Unset = UNSET
        if not isinstance(self.balance, Unset):
            balance = self.balance.value

        gte: int | None | Unset
        if isinstance(self.gte, Unset):
            gte = UNSET
        else:
            gte = self.gte

        lte: int | None | Unset
        if isinstance(self.lte, Unset):
            lte = UNSET
        else:
            lte = self.lte

        field_dict: dict[str, Any] = {}

        field_dict.update(
            {
                "account_id": account_id,
            }
        )
        if version is not UNSET:
            field_dict["version"] = version
        if balance is not UNSET:
            field_dict["balance"] = balance
        if gte is not UNSET:
            field_dict["gte"] = gte
        if lte is not UNSET:
            field_dict["lte"] = lte

        return field_dict

    @classmethod
    def from_dict(cls: type[T], src_dict: Mapping[str, Any]) -> T:
        d = dict(src_dict)
        account_id = UUID(d.pop("account_id"))

        def _parse_version(data: object) -> int | None | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            return cast(int | None | Unset, data)

        version = _parse_version(d.pop("version", UNSET))

        _balance = d.pop("balance", UNSET)
        balance: ConditionRequestBalance | Unset
        if isinstance(_balance, Unset):
            balance = UNSET
        else:
            balance = ConditionRequestBalance(_balance)

        def _parse_gte(data: object) -> int | None | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            return cast(int | None | Unset, data)

        gte = _parse_gte(d.pop("gte", UNSET))

        def _parse_lte(data: object) -> int | None | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            return cast(int | None | Unset, data)

        lte = _parse_lte(d.pop("lte", UNSET))

        condition_request = cls(
            account_id=account_id,
            version=version,
            balance=balance,
            gte=gte,
            lte=lte,
        )

        return condition_request
