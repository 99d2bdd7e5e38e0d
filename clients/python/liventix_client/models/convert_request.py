from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, TypeVar, cast
from uuid import UUID

from attrs import define as _attrs_define

from ..types import UNSET, Unset

if TYPE_CHECKING:
    from ..models.convert_request_metadata import ConvertRequestMetadata


T = TypeVar("T", bound="ConvertRequest")


@_attrs_define
class ConvertRequest:
    """Convert an amount of the source account's currency into the target account's.

    Attributes:
        source_account_id (UUID): Debited `amount` (its currency)
        target_account_id (UUID): Credited the converted amount
        amount (int): Minor units, a positive 64-bit integer
        rate (None | str | Unset): The rate the caller expects (refused unless it is the pair's current rate); the rate
            used is always the platform's
        description (str | Unset):  Default: ''.
        metadata (ConvertRequestMetadata | Unset): JSON object of strings, integers, booleans, null, objects and arrays:
            at most 50 keys of 1 to 40 characters, each value at most 500 characters (a string's length, any other value's
            compact JSON), as Stripe's metadata
    """

    source_account_id: UUID
    target_account_id: UUID
    amount: int
    rate: None | str | Unset = UNSET
    description: str | Unset = ""
    metadata: ConvertRequestMetadata | Unset = UNSET

    def to_dict(self) -> dict[str, Any]:
        source_account_id = str(self.source_account_id)

        target_account_id = str(self.target_account_id)

        amount = self.amount

        rate: None | str | Unset
        if isinstance(self.rate, Unset):
            rate = UNSET
        else:
            rate = self.rate

        description = self.description

        metadata: dict[str, Any] | Unset = UNSET
        if not isinstance(self.metadata, Unset):
            metadata = self.metadata.to_dict()

        field_dict: dict[str, Any] = {}

        field_dict.update(
            {
                "source_account_id": source_account_id,
                "target_account_id": target_account_id,
                "amount": amount,
            }
        )
        if rate is not UNSET:
            field_dict["rate"] = rate
        if description is not UNSET:
            field_dict["description"] = description
        if metadata is not UNSET:
            field_dict["metadata"] = metadata

        return field_dict

    @classmethod
    def from_dict(cls: type[T], src_dict: Mapping[str, Any]) -> T:
        from ..models.convert_request_metadata import ConvertRequestMetadata  # noqa: PLC0415

        d = dict(src_dict)
        source_account_id = UUID(d.pop("source_account_id"))

        target_account_id = UUID(d.pop("target_account_id"))

        amount = d.pop("amount")

        def _parse_rate(data: object) -> None | str | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            return cast(None | str | Unset, data)

        rate = _parse_rate(d.pop("rate", UNSET))

        description = d.pop("description", UNSET)

        _metadata = d.pop("metadata", UNSET)
        metadata: ConvertRequestMetadata | Unset
        if isinstance(_metadata, Unset):
            metadata = UNSET
        else:
            metadata = ConvertRequestMetadata.from_dict(_metadata)

        convert_request = cls(
            source_account_id=source_account_id,
            target_account_id=target_account_id,
            amount=amount,
            rate=rate,
            description=description,
            metadata=metadata,
        )

        return convert_request
