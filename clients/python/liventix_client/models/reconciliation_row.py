from __future__ import annotations

from collections.abc import Mapping
from typing import Any, TypeVar, cast
from uuid import UUID

from attrs import define as _attrs_define
from attrs import field as _attrs_field

from ..models.reconciliation_row_status import ReconciliationRowStatus

T = TypeVar("T", bound="ReconciliationRow")


@_attrs_define
class ReconciliationRow:
    """One Stripe transaction or ledger entry and how they matched. `currency` is Stripe's
    (the ledger's for an entry missing in Stripe); `ledger_currency` the matched entry's,
    which differs only in a currency mismatch.

        Attributes:
            status (ReconciliationRowStatus):
            currency (str):
            ledger_currency (None | str):
            stripe_id (None | str):
            source (None | str):
            category (None | str):
            ledger_ref (None | str):
            entry_id (None | UUID):
            stripe_amount (int | None):
            ledger_amount (int | None):
            stripe_fee (int | None):
            ledger_fee (int | None):
            stripe_net (int | None):
            ledger_net (int | None):
    """

    status: ReconciliationRowStatus
    currency: str
    ledger_currency: None | str
    stripe_id: None | str
    source: None | str
    category: None | str
    ledger_ref: None | str
    entry_id: None | UUID
    stripe_amount: int | None
    ledger_amount: int | None
    stripe_fee: int | None
    ledger_fee: int | None
    stripe_net: int | None
    ledger_net: int | None
    additional_properties: dict[str, Any] = _attrs_field(init=False, factory=dict)

    def to_dict(self) -> dict[str, Any]:
        status = self.status.value

        currency = self.currency

        ledger_currency: None | str
        ledger_currency = self.ledger_currency

        stripe_id: None | str
        stripe_id = self.stripe_id

        source: None | str
        source = self.source

        category: None | str
        category = self.category

        ledger_ref: None | str
        ledger_ref = self.ledger_ref

        entry_id: None | str
        if isinstance(self.entry_id, UUID):
            entry_id = str(self.entry_id)
        else:
            entry_id = self.entry_id

        stripe_amount: int | None
        stripe_amount = self.stripe_amount

        ledger_amount: int | None
        ledger_amount = self.ledger_amount

        stripe_fee: int | None
        stripe_fee = self.stripe_fee

        ledger_fee: int | None
        ledger_fee = self.ledger_fee

        stripe_net: int | None
        stripe_net = self.stripe_net

        ledger_net: int | None
        ledger_net = self.ledger_net

        field_dict: dict[str, Any] = {}
        field_dict.update(self.additional_properties)
        field_dict.update(
            {
                "status": status,
                "currency": currency,
                "ledger_currency": ledger_currency,
                "stripe_id": stripe_id,
                "source": source,
                "category": category,
                "ledger_ref": ledger_ref,
                "entry_id": entry_id,
                "stripe_amount": stripe_amount,
                "ledger_amount": ledger_amount,
                "stripe_fee": stripe_fee,
                "ledger_fee": ledger_fee,
                "stripe_net": stripe_net,
                "ledger_net": ledger_net,
            }
        )

        return field_dict

    @classmethod
    def from_dict(cls: type[T], src_dict: Mapping[str, Any]) -> T:
        d = dict(src_dict)
        status = ReconciliationRowStatus(d.pop("status"))

        currency = d.pop("currency")

        def _parse_ledger_currency(data: object) -> None | str:
            if data is None:
                return data
            return cast(None | str, data)

        ledger_currency = _parse_ledger_currency(d.pop("ledger_currency"))

        def _parse_stripe_id(data: object) -> None | str:
            if data is None:
                return data
            return cast(None | str, data)

        stripe_id = _parse_stripe_id(d.pop("stripe_id"))

        def _parse_source(data: object) -> None | str:
            if data is None:
                return data
            return cast(None | str, data)

        source = _parse_source(d.pop("source"))

        def _parse_category(data: object) -> None | str:
            if data is None:
                return data
            return cast(None | str, data)

        category = _parse_category(d.pop("category"))

        def _parse_ledger_ref(data: object) -> None | str:
            if data is None:
                return data
            return cast(None | str, data)

        ledger_ref = _parse_ledger_ref(d.pop("ledger_ref"))

        def _parse_entry_id(data: object) -> None | UUID:
            if data is None:
                return data
            try:
                if not isinstance(data, str):
                    raise TypeError()
                entry_id_type_0 = UUID(data)

                return entry_id_type_0
            except (TypeError, ValueError, AttributeError, KeyError):
                pass
            return cast(None | UUID, data)

        entry_id = _parse_entry_id(d.pop("entry_id"))

        def _parse_stripe_amount(data: object) -> int | None:
            if data is None:
                return data
            return cast(int | None, data)

        stripe_amount = _parse_stripe_amount(d.pop("stripe_amount"))

        def _parse_ledger_amount(data: object) -> int | None:
            if data is None:
                return data
            return cast(int | None, data)

        ledger_amount = _parse_ledger_amount(d.pop("ledger_amount"))

        def _parse_stripe_fee(data: object) -> int | None:
            if data is None:
                return data
            return cast(int | None, data)

        stripe_fee = _parse_stripe_fee(d.pop("stripe_fee"))

        def _parse_ledger_fee(data: object) -> int | None:
            if data is None:
                return data
            return cast(int | None, data)

        ledger_fee = _parse_ledger_fee(d.pop("ledger_fee"))

        def _parse_stripe_net(data: object) -> int | None:
            if data is None:
                return data
            return cast(int | None, data)

        stripe_net = _parse_stripe_net(d.pop("stripe_net"))

        def _parse_ledger_net(data: object) -> int | None:
            if data is None:
                return data
            return cast(int | None, data)

        ledger_net = _parse_ledger_net(d.pop("ledger_net"))

        reconciliation_row = cls(
            status=status,
            currency=currency,
            ledger_currency=ledger_currency,
            stripe_id=stripe_id,
            source=source,
            category=category,
            ledger_ref=ledger_ref,
            entry_id=entry_id,
            stripe_amount=stripe_amount,
            ledger_amount=ledger_amount,
            stripe_fee=stripe_fee,
            ledger_fee=ledger_fee,
            stripe_net=stripe_net,
            ledger_net=ledger_net,
        )

        reconciliation_row.additional_properties = d
        return reconciliation_row

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
