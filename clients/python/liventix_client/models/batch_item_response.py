from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, TypeVar, cast
from uuid import UUID

from attrs import define as _attrs_define
from attrs import field as _attrs_field

from ..models.batch_item_response_status import BatchItemResponseStatus
from ..types import UNSET, Unset

if TYPE_CHECKING:
    from ..models.batch_item_response_problem_type_0 import BatchItemResponseProblemType0


T = TypeVar("T", bound="BatchItemResponse")


@_attrs_define
class BatchItemResponse:
    """What became of one entry of the batch.

    Attributes:
        index (int):
        status (BatchItemResponseStatus):
        entry_id (None | Unset | UUID):
        problem (BatchItemResponseProblemType0 | None | Unset):
    """

    index: int
    status: BatchItemResponseStatus
    entry_id: None | Unset | UUID = UNSET
    problem: BatchItemResponseProblemType0 | None | Unset = UNSET
    additional_properties: dict[str, Any] = _attrs_field(init=False, factory=dict)

    def to_dict(self) -> dict[str, Any]:
        from ..models.batch_item_response_problem_type_0 import BatchItemResponseProblemType0  # noqa: PLC0415

        index = self.index

        status = self.status.value

        entry_id: None | str | Unset
        if isinstance(self.entry_id, Unset):
            entry_id = UNSET
        elif isinstance(self.entry_id, UUID):
            entry_id = str(self.entry_id)
        else:
            entry_id = self.entry_id

        problem: dict[str, Any] | None | Unset
        if isinstance(self.problem, Unset):
            problem = UNSET
        elif isinstance(self.problem, BatchItemResponseProblemType0):
            problem = self.problem.to_dict()
        else:
            problem = self.problem

        field_dict: dict[str, Any] = {}
        field_dict.update(self.additional_properties)
        field_dict.update(
            {
                "index": index,
                "status": status,
            }
        )
        if entry_id is not UNSET:
            field_dict["entry_id"] = entry_id
        if problem is not UNSET:
            field_dict["problem"] = problem

        return field_dict

    @classmethod
    def from_dict(cls: type[T], src_dict: Mapping[str, Any]) -> T:
        from ..models.batch_item_response_problem_type_0 import BatchItemResponseProblemType0  # noqa: PLC0415

        d = dict(src_dict)
        index = d.pop("index")

        status = BatchItemResponseStatus(d.pop("status"))

        def _parse_entry_id(data: object) -> None | Unset | UUID:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            try:
                if not isinstance(data, str):
                    raise TypeError()
                entry_id_type_0 = UUID(data)

                return entry_id_type_0
            except (TypeError, ValueError, AttributeError, KeyError):
                pass
            return cast(None | Unset | UUID, data)

        entry_id = _parse_entry_id(d.pop("entry_id", UNSET))

        def _parse_problem(data: object) -> BatchItemResponseProblemType0 | None | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            try:
                if not isinstance(data, dict):
                    raise TypeError()
                problem_type_0 = BatchItemResponseProblemType0.from_dict(data)

                return problem_type_0
            except (TypeError, ValueError, AttributeError, KeyError):
                pass
            return cast(BatchItemResponseProblemType0 | None | Unset, data)

        problem = _parse_problem(d.pop("problem", UNSET))

        batch_item_response = cls(
            index=index,
            status=status,
            entry_id=entry_id,
            problem=problem,
        )

        batch_item_response.additional_properties = d
        return batch_item_response

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
