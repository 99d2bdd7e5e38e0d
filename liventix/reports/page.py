"""The HTML page: every report on one self-contained page (no script, no network), rendered
from the Jinja2 templates beside this module: a table of contents, the differences first, one
chart panel per currency (the ledger's and Stripe's balance on one time axis), each report's
summary open and its detail folded (`<details>`), the organizers' statements with their
events and ticket types, and print CSS."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass

import jinja2

from liventix.reports.base import Report
from liventix.reports.charts import Chart, charts, stripe_history
from liventix.reports.layout import Section, headline, sections, short_title
from liventix.reports.models import BalancePoint, StripeTransaction
from liventix.reports.render import describe

_ENV = jinja2.Environment(
    loader=jinja2.PackageLoader("liventix.reports", "templates"),
    autoescape=True,
    undefined=jinja2.StrictUndefined,
    trim_blocks=True,
    lstrip_blocks=True,
)


@dataclass(frozen=True)
class Shown:
    """One report on the page."""

    anchor: str
    title: str
    short: str
    differences: int
    headline: str
    organizer: bool
    open: list[Section]
    folded: list[Section]


OPEN_ON_THE_PAGE = ("Ticket types",)
"""Detail the page shows open (the terminal folds it): an organizer's ticket types."""


def _open(section: Section) -> bool:
    return section.role != "detail" or section.caption in OPEN_ON_THE_PAGE


def _shown(reports: Sequence[Report]) -> list[Shown]:
    seen: dict[str, int] = defaultdict(int)
    out = []
    for r in reports:
        # One report name appears once per organizer: the anchors are numbered.
        seen[r.name] += 1
        anchor = r.name if seen[r.name] == 1 else f"{r.name}-{seen[r.name]}"
        parts = sections(r)
        out.append(
            Shown(
                anchor=anchor,
                title=r.title,
                short=short_title(r),
                differences=r.differences,
                headline=headline(r),
                organizer=r.name == "organizer-statement",
                open=[s for s in parts if _open(s)],
                folded=[s for s in parts if not _open(s)],
            )
        )
    return out


def as_html(
    reports: Sequence[Report],
    history: Sequence[BalancePoint],
    generated: str,
    *,
    transactions: Sequence[StripeTransaction] | None = None,
    context: str = "",
) -> str:
    """One self-contained page of every report: the table of contents, every difference at
    the top, a chart per currency of the ledger's Stripe balance (and Stripe's, from
    `transactions`), each report's differences and summary open and its detail folded."""
    shown = _shown(reports)
    panels: list[Chart] = charts(
        history, None if transactions is None else stripe_history(transactions)
    )
    return _ENV.get_template("report.html.j2").render(
        generated=generated,
        context=context,
        total=sum(r.differences for r in reports),
        found=[
            (s.anchor, s.short, section.caption, describe(section, row))
            for s in shown
            for section in s.open
            if section.role == "differences"
            for row in section.rows
        ],
        reports=[s for s in shown if not s.organizer],
        organizers=[s for s in shown if s.organizer],
        charts=panels,
        stripe=transactions is not None,
    )
