from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, TypeVar

from attrs import define as _attrs_define
from attrs import field as _attrs_field

from ..types import UNSET, Unset

if TYPE_CHECKING:
    from ..models.balance_comparison import BalanceComparison
    from ..models.reconciliation_row import ReconciliationRow


T = TypeVar("T", bound="StripeReconciliationReport")


@_attrs_define
class StripeReconciliationReport:
    """Stripe's balance transactions matched to the ledger's entries on the Stripe balance.

    Attributes:
        differences (int):
        matched (int):
        missing_in_ledger (int):
        missing_in_stripe (int):
        amount_mismatches (int):
        fee_mismatches (int):
        currency_mismatches (int):
        balances (list[BalanceComparison]):
        rows (list[ReconciliationRow]):
        name (str | Unset):  Default: 'stripe-reconciliation'.
        title (str | Unset):  Default: 'Stripe reconciliation'.
    """

    differences: int
    matched: int
    missing_in_ledger: int
    missing_in_stripe: int
    amount_mismatches: int
    fee_mismatches: int
    currency_mismatches: int
    balances: list[BalanceComparison]
    rows: list[ReconciliationRow]
    name: str | Unset = "stripe-reconciliation"
    title: str | Unset = "Stripe reconciliation"
    additional_properties: dict[str, Any] = _attrs_field(init=False, factory=dict)

    def to_dict(self) -> dict[str, Any]:
        differences = self.differences

        matched = self.matched

        missing_in_ledger = self.missing_in_ledger

        missing_in_stripe = self.missing_in_stripe

        amount_mismatches = self.amount_mismatches

        fee_mismatches = self.fee_mismatches

        currency_mismatches = self.currency_mismatches

        balances = []
        for balances_item_data in self.balances:
            balances_item = balances_item_data.to_dict()
            balances.append(balances_item)

        rows = []
        for rows_item_data in self.rows:
            rows_item = rows_item_data.to_dict()
            rows.append(rows_item)

        name = self.name

        title = self.title

        field_dict: dict[str, Any] = {}
        field_dict.update(self.additional_properties)
        field_dict.update(
            {
                "differences": differences,
                "matched": matched,
                "missing_in_ledger": missing_in_ledger,
                "missing_in_stripe": missing_in_stripe,
                "amount_mismatches": amount_mismatches,
                "fee_mismatches": fee_mismatches,
                "currency_mismatches": currency_mismatches,
                "balances": balances,
                "rows": rows,
            }
        )
        if name is not UNSET:
            field_dict["name"] = name
        if title is not UNSET:
            field_dict["title"] = title

        return field_dict

    @classmethod
    def from_dict(cls: type[T], src_dict: Mapping[str, Any]) -> T:
        from ..models.balance_comparison import BalanceComparison  # noqa: PLC0415
        from ..models.reconciliation_row import ReconciliationRow  # noqa: PLC0415

        d = dict(src_dict)
        differences = d.pop("differences")

        matched = d.pop("matched")

        missing_in_ledger = d.pop("missing_in_ledger")

        missing_in_stripe = d.pop("missing_in_stripe")

        amount_mismatches = d.pop("amount_mismatches")

        fee_mismatches = d.pop("fee_mismatches")

        currency_mismatches = d.pop("currency_mismatches")

        balances = []
        _balances = d.pop("balances")
        for balances_item_data in _balances:
            balances_item = BalanceComparison.from_dict(balances_item_data)

            balances.append(balances_item)

        rows = []
        _rows = d.pop("rows")
        for rows_item_data in _rows:
            rows_item = ReconciliationRow.from_dict(rows_item_data)

            rows.append(rows_item)

        name = d.pop("name", UNSET)

        title = d.pop("title", UNSET)

        stripe_reconciliation_report = cls(
            differences=differences,
            matched=matched,
            missing_in_ledger=missing_in_ledger,
            missing_in_stripe=missing_in_stripe,
            amount_mismatches=amount_mismatches,
            fee_mismatches=fee_mismatches,
            currency_mismatches=currency_mismatches,
            balances=balances,
            rows=rows,
            name=name,
            title=title,
        )

        stripe_reconciliation_report.additional_properties = d
        return stripe_reconciliation_report

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
