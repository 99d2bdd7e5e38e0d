from __future__ import annotations

import datetime
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, TypeVar, cast
from uuid import UUID

from attrs import define as _attrs_define

from ..types import UNSET, Unset

if TYPE_CHECKING:
    from ..models.create_hold_request_metadata import CreateHoldRequestMetadata
    from ..models.money import Money


T = TypeVar("T", bound="CreateHoldRequest")


@_attrs_define
class CreateHoldRequest:
    """Reserve an amount from one account to another (two-phase).

    Attributes:
        debit_account_id (UUID):
        credit_account_id (UUID):
        amount (Money): A positive amount of minor units in a currency.
        expires_at (datetime.datetime | None | Unset):
        description (str | Unset):  Default: ''.
        metadata (CreateHoldRequestMetadata | Unset): JSON object of strings, integers, booleans, null, objects and
            arrays: at most 50 keys of 1 to 40 characters, each value at most 500 characters (a string's length, any other
            value's compact JSON), as Stripe's metadata
    """

    debit_account_id: UUID
    credit_account_id: UUID
    amount: Money
    expires_at: datetime.datetime | None | Unset = UNSET
    description: str | Unset = ""
    metadata: CreateHoldRequestMetadata | Unset = UNSET

    def to_dict(self) -> dict[str, Any]:
        debit_account_id = str(self.debit_account_id)

        credit_account_id = str(self.credit_account_id)

        amount = self.amount.to_dict()

        expires_at: None | str | Unset
        if isinstance(self.expires_at, Unset):
            expires_at = UNSET
        elif isinstance(self.expires_at, datetime.datetime):
            expires_at = self.expires_at.isoformat()
        else:
            expires_at = self.expires_at

        description = self.description

        metadata: dict[str, Any] | Unset = UNSET
        if not isinstance(self.metadata, Unset):
            metadata = self.metadata.to_dict()

        field_dict: dict[str, Any] = {}

        field_dict.update(
            {
                "debit_account_id": debit_account_id,
                "credit_account_id": credit_account_id,
                "amount": amount,
            }
        )
        if expires_at is not UNSET:
            field_dict["expires_at"] = expires_at
        if description is not UNSET:
            field_dict["description"] = description
        if metadata is not UNSET:
            field_dict["metadata"] = metadata

        return field_dict

    @classmethod
    def from_dict(cls: type[T], src_dict: Mapping[str, Any]) -> T:
        from ..models.create_hold_request_metadata import CreateHoldRequestMetadata  # noqa: PLC0415
        from ..models.money import Money  # noqa: PLC0415

        d = dict(src_dict)
        debit_account_id = UUID(d.pop("debit_account_id"))

        credit_account_id = UUID(d.pop("credit_account_id"))

        amount = Money.from_dict(d.pop("amount"))

        def _parse_expires_at(data: object) -> datetime.datetime | None | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            try:
                if not isinstance(data, str):
                    raise TypeError()
                expires_at_type_0 = datetime.datetime.fromisoformat(data)

                return expires_at_type_0
            except (TypeError, ValueError, AttributeError, KeyError):
                pass
            return cast(datetime.datetime | None | Unset, data)

        expires_at = _parse_expires_at(d.pop("expires_at", UNSET))

        description = d.pop("description", UNSET)

        _metadata = d.pop("metadata", UNSET)
        metadata: CreateHoldRequestMetadata | Unset
        if isinstance(_metadata, Unset):
            metadata = UNSET
        else:
            metadata = CreateHoldRequestMetadata.from_dict(_metadata)

        create_hold_request = cls(
            debit_account_id=debit_account_id,
            credit_account_id=credit_account_id,
            amount=amount,
            expires_at=expires_at,
            description=description,
            metadata=metadata,
        )

        return create_hold_request
