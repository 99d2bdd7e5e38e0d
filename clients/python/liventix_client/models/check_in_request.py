from __future__ import annotations

from collections.abc import Mapping
from typing import Any, TypeVar

from attrs import define as _attrs_define

T = TypeVar("T", bound="CheckInRequest")


@_attrs_define
class CheckInRequest:
    """Scan a ticket's code at the door.

    Attributes:
        code (str):
        scanner (str):
    """

    code: str
    scanner: str

    def to_dict(self) -> dict[str, Any]:
        code = self.code

        scanner = self.scanner

        field_dict: dict[str, Any] = {}

        field_dict.update(
            {
                "code": code,
                "scanner": scanner,
            }
        )

        return field_dict

    @classmethod
    def from_dict(cls: type[T], src_dict: Mapping[str, Any]) -> T:
        d = dict(src_dict)
        code = d.pop("code")

        scanner = d.pop("scanner")

        check_in_request = cls(
            code=code,
            scanner=scanner,
        )

        return check_in_request
