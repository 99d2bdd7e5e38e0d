from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, Literal, TypeVar, cast

from attrs import define as _attrs_define
from attrs import field as _attrs_field

from ..types import UNSET, Unset

if TYPE_CHECKING:
    from ..models.balance_response import BalanceResponse
    from ..models.dry_run_response_result import DryRunResponseResult


T = TypeVar("T", bound="DryRunResponse")


@_attrs_define
class DryRunResponse:
    """What a write asked with `?dry_run=true` would do (it wrote nothing).

    Attributes:
        status (int):
        result (DryRunResponseResult):
        balances (list[BalanceResponse]):
        object_ (Literal['dry_run'] | Unset):  Default: 'dry_run'.
        dry_run (bool | Unset):  Default: True.
    """

    status: int
    result: DryRunResponseResult
    balances: list[BalanceResponse]
    object_: Literal["dry_run"] | Unset = "dry_run"
    dry_run: bool | Unset = True
    additional_properties: dict[str, Any] = _attrs_field(init=False, factory=dict)

    def to_dict(self) -> dict[str, Any]:
        status = self.status

        result = self.result.to_dict()

        balances = []
        for balances_item_data in self.balances:
            balances_item = balances_item_data.to_dict()
            balances.append(balances_item)

        object_ = self.object_

        dry_run = self.dry_run

        field_dict: dict[str, Any] = {}
        field_dict.update(self.additional_properties)
        field_dict.update(
            {
                "status": status,
                "result": result,
                "balances": balances,
            }
        )
        if object_ is not UNSET:
            field_dict["object"] = object_
        if dry_run is not UNSET:
            field_dict["dry_run"] = dry_run

        return field_dict

    @classmethod
    def from_dict(cls: type[T], src_dict: Mapping[str, Any]) -> T:
        from ..models.balance_response import BalanceResponse  # noqa: PLC0415
        from ..models.dry_run_response_result import DryRunResponseResult  # noqa: PLC0415

        d = dict(src_dict)
        status = d.pop("status")

        result = DryRunResponseResult.from_dict(d.pop("result"))

        balances = []
        _balances = d.pop("balances")
        for balances_item_data in _balances:
            balances_item = BalanceResponse.from_dict(balances_item_data)

            balances.append(balances_item)

        object_ = cast(Literal["dry_run"] | Unset, d.pop("object", UNSET))
        if object_ != "dry_run" and not isinstance(object_, Unset):
            raise ValueError(f"object must match const 'dry_run', got '{object_}'")

        dry_run = d.pop("dry_run", UNSET)

        dry_run_response = cls(
            status=status,
            result=result,
            balances=balances,
            object_=object_,
            dry_run=dry_run,
        )

        dry_run_response.additional_properties = d
        return dry_run_response

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
