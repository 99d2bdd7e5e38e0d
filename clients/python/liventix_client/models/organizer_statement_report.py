from __future__ import annotations

import datetime
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, TypeVar
from uuid import UUID

from attrs import define as _attrs_define
from attrs import field as _attrs_field

from ..types import UNSET, Unset

if TYPE_CHECKING:
    from ..models.statement_balance import StatementBalance
    from ..models.statement_event import StatementEvent
    from ..models.statement_movement import StatementMovement
    from ..models.statement_sales import StatementSales
    from ..models.statement_ticket_type import StatementTicketType
    from ..models.statement_tie_out import StatementTieOut
    from ..models.statement_transfer import StatementTransfer


T = TypeVar("T", bound="OrganizerStatementReport")


@_attrs_define
class OrganizerStatementReport:
    """What the platform owes one organizer over [start, end), by category, tied out.

    Attributes:
        differences (int):
        org_id (UUID):
        organizer (str):
        start (datetime.datetime):
        end (datetime.datetime):
        balances (list[StatementBalance]):
        movements (list[StatementMovement]):
        sales (list[StatementSales]):
        tie_out (list[StatementTieOut]):
        name (str | Unset):  Default: 'organizer-statement'.
        title (str | Unset):  Default: 'Organizer statement'.
        events (list[StatementEvent] | Unset):
        ticket_types (list[StatementTicketType] | Unset):
        transfers (list[StatementTransfer] | Unset):
    """

    differences: int
    org_id: UUID
    organizer: str
    start: datetime.datetime
    end: datetime.datetime
    balances: list[StatementBalance]
    movements: list[StatementMovement]
    sales: list[StatementSales]
    tie_out: list[StatementTieOut]
    name: str | Unset = "organizer-statement"
    title: str | Unset = "Organizer statement"
    events: list[StatementEvent] | Unset = UNSET
    ticket_types: list[StatementTicketType] | Unset = UNSET
    transfers: list[StatementTransfer] | Unset = UNSET
    additional_properties: dict[str, Any] = _attrs_field(init=False, factory=dict)

    def to_dict(self) -> dict[str, Any]:
        differences = self.differences

        org_id = str(self.org_id)

        organizer = self.organizer

        start = self.start.isoformat()

        end = self.end.isoformat()

        balances = []
        for balances_item_data in self.balances:
            balances_item = balances_item_data.to_dict()
            balances.append(balances_item)

        movements = []
        for movements_item_data in self.movements:
            movements_item = movements_item_data.to_dict()
            movements.append(movements_item)

        sales = []
        for sales_item_data in self.sales:
            sales_item = sales_item_data.to_dict()
            sales.append(sales_item)

        tie_out = []
        for tie_out_item_data in self.tie_out:
            tie_out_item = tie_out_item_data.to_dict()
            tie_out.append(tie_out_item)

        name = self.name

        title = self.title

        events: list[dict[str, Any]] | Unset = UNSET
        if not isinstance(self.events, Unset):
            events = []
            for events_item_data in self.events:
                events_item = events_item_data.to_dict()
                events.append(events_item)

        ticket_types: list[dict[str, Any]] | Unset = UNSET
        if not isinstance(self.ticket_types, Unset):
            ticket_types = []
            for ticket_types_item_data in self.ticket_types:
                ticket_types_item = ticket_types_item_data.to_dict()
                ticket_types.append(ticket_types_item)

        transfers: list[dict[str, Any]] | Unset = UNSET
        if not isinstance(self.transfers, Unset):
            transfers = []
            for transfers_item_data in self.transfers:
                transfers_item = transfers_item_data.to_dict()
                transfers.append(transfers_item)

        field_dict: dict[str, Any] = {}
        field_dict.update(self.additional_properties)
        field_dict.update(
            {
                "differences": differences,
                "org_id": org_id,
                "organizer": organizer,
                "start": start,
                "end": end,
                "balances": balances,
                "movements": movements,
                "sales": sales,
                "tie_out": tie_out,
            }
        )
        if name is not UNSET:
            field_dict["name"] = name
        if title is not UNSET:
            field_dict["title"] = title
        if events is not UNSET:
            field_dict["events"] = events
        if ticket_types is not UNSET:
            field_dict["ticket_types"] = ticket_types
        if transfers is not UNSET:
            field_dict["transfers"] = transfers

        return field_dict

    @classmethod
    def from_dict(cls: type[T], src_dict: Mapping[str, Any]) -> T:
        from ..models.statement_balance import StatementBalance  # noqa: PLC0415
        from ..models.statement_event import StatementEvent  # noqa: PLC0415
        from ..models.statement_movement import StatementMovement  # noqa: PLC0415
        from ..models.statement_sales import StatementSales  # noqa: PLC0415
        from ..models.statement_ticket_type import StatementTicketType  # noqa: PLC0415
        from ..models.statement_tie_out import StatementTieOut  # noqa: PLC0415
        from ..models.statement_transfer import StatementTransfer  # noqa: PLC0415

        d = dict(src_dict)
        differences = d.pop("differences")

        org_id = UUID(d.pop("org_id"))

        organizer = d.pop("organizer")

        start = datetime.datetime.fromisoformat(d.pop("start"))

        end = datetime.datetime.fromisoformat(d.pop("end"))

        balances = []
        _balances = d.pop("balances")
        for balances_item_data in _balances:
            balances_item = StatementBalance.from_dict(balances_item_data)

            balances.append(balances_item)

        movements = []
        _movements = d.pop("movements")
        for movements_item_data in _movements:
            movements_item = StatementMovement.from_dict(movements_item_data)

            movements.append(movements_item)

        sales = []
        _sales = d.pop("sales")
        for sales_item_data in _sales:
            sales_item = StatementSales.from_dict(sales_item_data)

            sales.append(sales_item)

        tie_out = []
        _tie_out = d.pop("tie_out")
        for tie_out_item_data in _tie_out:
            tie_out_item = StatementTieOut.from_dict(tie_out_item_data)

            tie_out.append(tie_out_item)

        name = d.pop("name", UNSET)

        title = d.pop("title", UNSET)

        _events = d.pop("events", UNSET)
        events: list[StatementEvent] | Unset = UNSET
        if _events is not UNSET:
            events = []
            for events_item_data in _events:
                events_item = StatementEvent.from_dict(events_item_data)

                events.append(events_item)

        _ticket_types = d.pop("ticket_types", UNSET)
        ticket_types: list[StatementTicketType] | Unset = UNSET
        if _ticket_types is not UNSET:
            ticket_types = []
            for ticket_types_item_data in _ticket_types:
                ticket_types_item = StatementTicketType.from_dict(ticket_types_item_data)

                ticket_types.append(ticket_types_item)

        _transfers = d.pop("transfers", UNSET)
        transfers: list[StatementTransfer] | Unset = UNSET
        if _transfers is not UNSET:
            transfers = []
            for transfers_item_data in _transfers:
                transfers_item = StatementTransfer.from_dict(transfers_item_data)

                transfers.append(transfers_item)

        organizer_statement_report = cls(
            differences=differences,
            org_id=org_id,
            organizer=organizer,
            start=start,
            end=end,
            balances=balances,
            movements=movements,
            sales=sales,
            tie_out=tie_out,
            name=name,
            title=title,
            events=events,
            ticket_types=ticket_types,
            transfers=transfers,
        )

        organizer_statement_report.additional_properties = d
        return organizer_statement_report

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
