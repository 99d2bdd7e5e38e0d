"""What every report shares: a row model that knows its money columns, its ids and whether it
is a difference, and the report's base with its name, title, differences and the names its
ids stand for (`labels`: for people, never in JSON)."""

from __future__ import annotations

from datetime import datetime
from typing import Any, ClassVar

from pydantic import BaseModel, ConfigDict, Field

from liventix.reports.money import money

Cell = str | int | None
Table = tuple[str, list[str], list[list[Cell]]]


class _Row(BaseModel):
    model_config = ConfigDict(frozen=True)

    money: ClassVar[tuple[str, ...]] = ()
    """The fields that are amounts in minor units of the row's currency."""
    ids: ClassVar[dict[str, str]] = {}
    """An id field and the column people see in its place: a field of the row that names it
    (the id shows on hover), or a new column looked up in the report's `labels`."""
    checks: ClassVar[tuple[str, ...]] = ()
    """The fields whose nonzero value makes the row a difference."""

    def cells(self) -> list[Cell]:
        """The row's values in field order, as text or integers."""
        out: list[Cell] = []
        for value in self.model_dump().values():
            if value is None or isinstance(value, str | int):
                out.append(value)
            elif isinstance(value, datetime):
                out.append(value.isoformat())
            else:
                out.append(str(value))
        return out

    def currency_of(self, field: str) -> str | None:
        """The currency an amount field is in (the row's `currency`)."""
        value = getattr(self, "currency", None)
        return value if isinstance(value, str) else None

    def is_difference(self) -> bool:
        """Whether the row is one of the report's differences."""
        return any(getattr(self, name) for name in self.checks)


Row = _Row


def _formatted(row: _Row) -> list[Cell]:
    out: list[Cell] = []
    for field in row.money:
        value, currency = getattr(row, field), row.currency_of(field)
        out.append(None if value is None or currency is None else money(value, currency))
    return out


def _table(caption: str, rows: list[Any], model: type[_Row]) -> Table:
    """A table of the rows' fields, each money field's formatted twin (`<field>_formatted`:
    `23,176.63 USD`) after them."""
    columns = [*model.model_fields, *(f"{f}_formatted" for f in model.money)]
    return caption, columns, [[*r.cells(), *_formatted(r)] for r in rows]


class Report(BaseModel):
    """What every report has: a name (the command's), a title and its differences."""

    in_minor_units: ClassVar[bool] = True
    """Whether the report has amounts (shown in money: major units and currency)."""

    name: str
    title: str
    differences: int
    labels: dict[str, str] = Field(default_factory=dict, exclude=True)
    """Names for the ids its rows carry (an event's id to its name), for people: not in JSON."""

    def tables(self) -> list[Table]:
        """The report as (caption, columns, rows) tables."""
        raise NotImplementedError
