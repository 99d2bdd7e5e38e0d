from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, TypeVar, cast

from attrs import define as _attrs_define
from attrs import field as _attrs_field

from ..types import UNSET, Unset

if TYPE_CHECKING:
    from ..models.expanded_source import ExpandedSource


T = TypeVar("T", bound="BalanceTransactionRequest")


@_attrs_define
class BalanceTransactionRequest:
    """A Stripe BalanceTransaction as Stripe's API returns it; the fields below are used,
    any others are accepted and ignored.

        Attributes:
            id (str):
            currency (str): ISO 4217, any case
            amount (int): Minor units, signed, as Stripe writes them
            net (int): Minor units, signed, as Stripe writes them
            fee (int | Unset): Minor units, signed, as Stripe writes them Default: 0.
            reporting_category (None | str | Unset):
            type_ (None | str | Unset):
            source (ExpandedSource | None | str | Unset):
            created (int | None | Unset):
    """

    id: str
    currency: str
    amount: int
    net: int
    fee: int | Unset = 0
    reporting_category: None | str | Unset = UNSET
    type_: None | str | Unset = UNSET
    source: ExpandedSource | None | str | Unset = UNSET
    created: int | None | Unset = UNSET
    additional_properties: dict[str, Any] = _attrs_field(init=False, factory=dict)

    def to_dict(self) -> dict[str, Any]:
        from ..models.expanded_source import ExpandedSource  # noqa: PLC0415

        id = self.id

        currency = self.currency

        amount = self.amount

        net = self.net

        fee = self.fee

        reporting_category: None | str | Unset
        if isinstance(self.reporting_category, Unset):
            reporting_category = UNSET
        else:
            reporting_category = self.reporting_category

        type_: None | str | Unset
        if isinstance(self.type_, Unset):
            type_ = UNSET
        else:
            type_ = self.type_

        source: dict[str, Any] | None | str | Unset
        if isinstance(self.source, Unset):
            source = UNSET
        elif isinstance(self.source, ExpandedSource):
            source = self.source.to_dict()
        else:
            source = self.source

        created: int | None | Unset
        if isinstance(self.created, Unset):
            created = UNSET
        else:
            created = self.created

        field_dict: dict[str, Any] = {}
        field_dict.update(self.additional_properties)
        field_dict.update(
            {
                "id": id,
                "currency": currency,
                "amount": amount,
                "net": net,
            }
        )
        if fee is not UNSET:
            field_dict["fee"] = fee
        if reporting_category is not UNSET:
            field_dict["reporting_category"] = reporting_category
        if type_ is not UNSET:
            field_dict["type"] = type_
        if source is not UNSET:
            field_dict["source"] = source
        if created is not UNSET:
            field_dict["created"] = created

        return field_dict

    @classmethod
    def from_dict(cls: type[T], src_dict: Mapping[str, Any]) -> T:
        from ..models.expanded_source import ExpandedSource  # noqa: PLC0415

        d = dict(src_dict)
        id = d.pop("id")

        currency = d.pop("currency")

        amount = d.pop("amount")

        net = d.pop("net")

        fee = d.pop("fee", UNSET)

        def _parse_reporting_category(data: object) -> None | str | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            return cast(None | str | Unset, data)

        reporting_category = _parse_reporting_category(d.pop("reporting_category", UNSET))

        def _parse_type_(data: object) -> None | str | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            return cast(None | str | Unset, data)

        type_ = _parse_type_(d.pop("type", UNSET))

        def _parse_source(data: object) -> ExpandedSource | None | str | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            try:
                if not isinstance(data, dict):
                    raise TypeError()
                source_type_1 = ExpandedSource.from_dict(data)

                return source_type_1
            except (TypeError, ValueError, AttributeError, KeyError):
                pass
            return cast(ExpandedSource | None | str | Unset, data)

        source = _parse_source(d.pop("source", UNSET))

        def _parse_created(data: object) -> int | None | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            return cast(int | None | Unset, data)

        created = _parse_created(d.pop("created", UNSET))

        balance_transaction_request = cls(
            id=id,
            currency=currency,
            amount=amount,
            net=net,
            fee=fee,
            reporting_category=reporting_category,
            type_=type_,
            source=source,
            created=created,
        )

        balance_transaction_request.additional_properties = d
        return balance_transaction_request

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
