"""How a report reads to people: its sections in order (the differences first, then its
summary, then the detail folded away), each row's cells as shown (money in major units with
the currency, names in place of ids, the id kept for hovering), and a headline of its key
figures. The terminal table, the one-screen summary and the HTML page all lay out from here;
CSV and JSON keep the rows as they are."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Literal

from liventix.reports import categories as cat
from liventix.reports import exports as x
from liventix.reports import fx
from liventix.reports import models as m
from liventix.reports.base import Report, Row
from liventix.reports.money import money

Role = Literal["differences", "summary", "detail"]


@dataclass(frozen=True)
class Shown:
    """One cell as people see it."""

    text: str
    numeric: bool = False
    hover: str | None = None
    """The id behind a name (on hover in HTML)."""
    bad: bool = False
    """A nonzero difference."""


@dataclass(frozen=True)
class Section:
    """One table of a report, with its role: a difference, the summary or the detail."""

    caption: str
    role: Role
    columns: list[str]
    rows: list[list[Shown]]


def heading(field: str) -> str:
    """A field's name as a column heading: `escrow_held` -> `Escrow held`."""
    return field.replace("_", " ").capitalize()


def _cell(row: Row, field: str, value: Any, hover: str | None) -> Shown:
    if field in row.money:
        currency = row.currency_of(field)
        text = "" if value is None or currency is None else money(value, currency)
        return Shown(text, True, hover, bad=field in row.checks and bool(value))
    if isinstance(value, bool) or value is None:
        return Shown("" if value is None else str(value).lower(), hover=hover)
    if isinstance(value, int):
        return Shown(f"{value:,}", True, hover, bad=field in row.checks and bool(value))
    return Shown(str(value), hover=hover)


def shown(
    model: type[Row], rows: Sequence[Row], labels: dict[str, str]
) -> tuple[list[str], list[list[Shown]]]:
    """The rows' headings and cells: money formatted; an id replaced by the field naming it
    (the id on hover), or by its name from `labels` in a column of its own."""
    fields = list(model.model_fields)
    hovers = {name: idf for idf, name in model.ids.items() if name in fields}
    columns: list[str] = []
    for f in fields:
        if f in model.ids and model.ids[f] in fields:
            continue
        columns.append(heading(model.ids.get(f, f)))
    out = []
    for row in rows:
        cells = []
        for f in fields:
            value = getattr(row, f)
            if f in model.ids and model.ids[f] in fields:
                continue
            if f in model.ids:
                key = "" if value is None else str(value)
                cells.append(Shown(labels.get(key, key), hover=key or None))
                continue
            idf = hovers.get(f)
            ident = None if idf is None else getattr(row, idf)
            cells.append(_cell(row, f, value, None if ident is None else str(ident)))
        out.append(cells)
    return columns, out


def _section(
    report: Report, caption: str, role: Role, model: type[Row], rows: Sequence[Row]
) -> Section:
    columns, cells = shown(model, rows, report.labels)
    return Section(caption, role, columns, cells)


def _currency_totals(
    report: Report, caption: str, rows: Sequence[Row], fields: Sequence[str], counted: str
) -> Section:
    """Per currency: how many rows and the sum of each money field (a summary)."""
    sums: dict[str, list[int]] = defaultdict(lambda: [0] * (len(fields) + 1))
    for row in rows:
        cur = row.currency_of(fields[0]) or ""
        sums[cur][0] += 1
        for n, f in enumerate(fields, 1):
            sums[cur][n] += getattr(row, f) or 0
    cells = [
        [
            Shown(cur),
            Shown(f"{totals[0]:,}", True),
            *(
                Shown(money(v, cur), True, bad=f in type(rows[0]).checks and bool(v))
                for f, v in zip(fields, totals[1:], strict=True)
            ),
        ]
        for cur, totals in sorted(sums.items())
    ]
    return Section(caption, "summary", ["Currency", counted, *map(heading, fields)], cells)


# -- each report's sections ---------------------------------------------------------------------


def _trial_balance(r: m.TrialBalanceReport) -> list[Section]:
    wide = [t for t in r.totals if t.booked_by_id is None]
    per_org = [t for t in r.totals if t.booked_by_id is not None]
    return [
        *_differing(r, "Out of balance", m.TrialBalanceTotal, r.totals),
        _section(r, "Platform-wide totals", "summary", m.TrialBalanceTotal, wide),
        _section(r, "Totals per booking organization", "detail", m.TrialBalanceTotal, per_org),
        _section(r, "Accounts", "detail", m.TrialBalanceLine, r.lines),
    ]


def _differing(r: Report, caption: str, model: type[Row], rows: Sequence[Row]) -> list[Section]:
    bad = [x for x in rows if x.is_difference()]
    return [_section(r, caption, "differences", model, bad)] if bad else []


def _balance_sheet(r: m.BalanceSheetReport) -> list[Section]:
    return [
        *_differing(r, "Currencies out of balance", m.BalanceSheetTotal, r.totals),
        _section(r, "Platform-wide", "summary", m.BalanceSheetTotal, r.totals),
        *_differing(r, "Categories that differ", m.BalanceSheetCategory, r.categories),
        _section(r, "Owners", "detail", m.BalanceSheetOwner, r.owners),
        _section(r, "Categories", "summary", m.BalanceSheetCategory, r.categories),
        _section(r, "Accounts by category", "detail", m.BalanceSheetLine, r.lines),
    ]


def _income_statement(r: m.IncomeStatementReport) -> list[Section]:
    return [
        *_differing(r, "Currencies out of balance", m.IncomeStatementTotal, r.totals),
        _section(r, "Platform-wide", "summary", m.IncomeStatementTotal, r.totals),
        _section(r, "Owners", "detail", m.IncomeStatementOwner, r.owners),
        _section(r, "Accounts", "detail", m.IncomeStatementLine, r.lines),
    ]


def _agreeing(r: Report, caption: str, model: type[Row], rows: Sequence[Row]) -> Section:
    return _section(r, caption, "detail", model, [x for x in rows if not x.is_difference()])


def _escrow_position(r: m.EscrowPositionReport) -> list[Section]:
    fields = ("escrow_held", "ledger_balance", "difference")
    return [
        *_differing(r, "Escrows off the ledger", m.EscrowPositionRow, r.rows),
        *([_currency_totals(r, "Totals", r.rows, fields, "Escrows")] if r.rows else []),
        _agreeing(r, "Escrows that agree", m.EscrowPositionRow, r.rows),
    ]


def _stripe(r: m.StripeReconciliationReport) -> list[Section]:
    return [
        *_differing(r, "Balances that differ", m.BalanceComparison, r.balances),
        *_differing(r, "Transactions that differ", m.ReconciliationRow, r.rows),
        _section(r, "Balances", "summary", m.BalanceComparison, r.balances),
        _agreeing(r, "Matched", m.ReconciliationRow, r.rows),
    ]


def _ticket_tie_out(r: m.TicketTieOutReport) -> list[Section]:
    fields = ("tickets_sold_value", "ledger_sales", "tickets_refunded_value", "ledger_refunds")
    return [
        *_differing(r, "Events that differ", m.TicketTieOutRow, r.rows),
        *([_currency_totals(r, "Totals", r.rows, fields, "Events")] if r.rows else []),
        _agreeing(r, "Events that agree", m.TicketTieOutRow, r.rows),
    ]


def _outbox(r: m.OutboxHealthReport) -> list[Section]:
    return [
        *_differing(r, "Targets with dead deliveries", m.OutboxHealthRow, r.rows),
        *_differing(r, "Inbox events dead", m.InboxHealthRow, r.inbox),
        _section(r, "Targets", "summary", m.OutboxHealthRow, r.rows),
        _section(r, "Inbox", "summary", m.InboxHealthRow, r.inbox),
    ]


def _organizer(r: m.OrganizerStatementReport) -> list[Section]:
    total = [b for b in r.balances if b.kind == "total"]
    return [
        *_differing(r, "Accounts that do not tie out", m.StatementTieOut, r.tie_out),
        *_differing(r, "Sales that do not tie out", m.StatementSales, r.sales),
        _section(r, "Owed to the organizer", "summary", m.StatementBalance, total),
        _section(r, "Sales", "summary", m.StatementSales, r.sales),
        _section(r, "Events", "summary", m.StatementEvent, r.events),
        _section(r, "Ticket types", "detail", m.StatementTicketType, r.ticket_types),
        _section(r, "Balances", "detail", m.StatementBalance, r.balances),
        _section(r, "Movements", "detail", m.StatementMovement, r.movements),
        _section(r, "Tie-out", "detail", m.StatementTieOut, r.tie_out),
    ]


def _account_balances(r: x.AccountBalancesReport) -> list[Section]:
    return [
        _currency_totals(r, "Totals", r.accounts, ("debit", "credit"), "Accounts")
        if r.accounts
        else _section(r, "Totals", "summary", x.AccountBalance, []),
        _section(r, "Accounts", "detail", x.AccountBalance, r.accounts),
    ]


def _journal(r: x.JournalReport) -> list[Section]:
    balance: dict[tuple[str, str], int] = defaultdict(int)
    for line in r.lines:
        balance[(str(line.entry_id), line.currency)] += line.debit - line.credit
    bad = {e for (e, _), v in balance.items() if v}
    return [
        *(
            [
                _section(
                    r,
                    "Entries out of balance",
                    "differences",
                    x.JournalLine,
                    [line for line in r.lines if str(line.entry_id) in bad],
                )
            ]
            if bad
            else []
        ),
        _currency_totals(r, "Totals", r.lines, ("debit", "credit"), "Lines")
        if r.lines
        else _section(r, "Totals", "summary", x.JournalLine, []),
        _section(r, "Lines", "detail", x.JournalLine, r.lines),
    ]


def _category_balances(r: cat.CategoryBalancesReport) -> list[Section]:
    return [
        *_differing(r, "Escrow off its category", cat.EscrowCategoryRow, r.escrow),
        _section(r, "Categories", "summary", cat.CategoryBalanceRow, r.rows),
        _agreeing(r, "Escrow by category", cat.EscrowCategoryRow, r.escrow),
    ]


def _fx_positions(r: fx.FxPositionsReport) -> list[Section]:
    return [
        *_differing(r, "Liquidity off its conversions", fx.FxPositionRow, r.rows),
        _section(r, "Positions", "summary", fx.FxPositionRow, r.rows),
    ]


_LAYOUTS: dict[type[Report], Callable[[Any], list[Section]]] = {
    cat.CategoryBalancesReport: _category_balances,
    fx.FxPositionsReport: _fx_positions,
    x.AccountBalancesReport: _account_balances,
    x.JournalReport: _journal,
    m.TrialBalanceReport: _trial_balance,
    m.BalanceSheetReport: _balance_sheet,
    m.IncomeStatementReport: _income_statement,
    m.EscrowPositionReport: _escrow_position,
    m.StripeReconciliationReport: _stripe,
    m.TicketTieOutReport: _ticket_tie_out,
    m.OutboxHealthReport: _outbox,
    m.OrganizerStatementReport: _organizer,
}


def sections(report: Report) -> list[Section]:
    """The report's sections: its differences first, its summary, then its detail."""
    return _LAYOUTS[type(report)](report)


# -- each report's key figures, one line ---------------------------------------------------------


def _join(parts: Sequence[str], empty: str = "nothing booked") -> str:
    return ", ".join(parts) or empty


def _headline_trial_balance(r: m.TrialBalanceReport) -> str:
    wide = [t for t in r.totals if t.booked_by_id is None]
    off = [t for t in wide if t.difference]
    if off:
        return _join(
            [
                f"{t.currency} debits {money(t.debit, t.currency)} != "
                f"credits {money(t.credit, t.currency)}"
                for t in off
            ]
        )
    return "debits = credits: " + _join([money(t.debit, t.currency) for t in wide], "none")


def _headline_balance_sheet(r: m.BalanceSheetReport) -> str:
    return "assets " + _join([money(t.assets, t.currency) for t in r.totals], "none")


def _headline_income(r: m.IncomeStatementReport) -> str:
    return "net income " + _join([money(t.net_income, t.currency) for t in r.totals], "none")


def _headline_escrow(r: m.EscrowPositionReport) -> str:
    held: dict[str, int] = defaultdict(int)
    for row in r.rows:
        held[row.currency] += row.escrow_held
    figures = ", ".join(money(v, c) for c, v in sorted(held.items()))
    return f"{len(r.rows):,} escrows" + (f", holding {figures}" if figures else "")


def _headline_stripe(r: m.StripeReconciliationReport) -> str:
    counts = {
        "missing in the ledger": r.missing_in_ledger,
        "missing in Stripe": r.missing_in_stripe,
        "amounts off": r.amount_mismatches,
        "fees off": r.fee_mismatches,
        "currencies off": r.currency_mismatches,
    }
    off = [f"{n:,} {what}" for what, n in counts.items() if n]
    return ", ".join([f"{r.matched:,} matched", *off])


def _headline_tickets(r: m.TicketTieOutReport) -> str:
    sold = sum(x.tickets_sold for x in r.rows)
    return f"{len(r.rows):,} events, {sold:,} tickets sold"


def _headline_outbox(r: m.OutboxHealthReport) -> str:
    rows: list[Any] = [*r.rows, *r.inbox]
    pending = sum(x.pending for x in rows)
    deferred = sum(x.deferred for x in r.inbox)  # inbox events only; named when there are some
    retrying = sum(x.retrying for x in rows)
    dead = sum(x.dead for x in rows)
    put_off = f"{deferred:,} deferred, " if deferred else ""
    return f"{pending:,} pending, {put_off}{retrying:,} retrying, {dead:,} dead"


def _headline_organizer(r: m.OrganizerStatementReport) -> str:
    owed = [money(b.closing, b.currency) for b in r.balances if b.kind == "total"]
    gross = [money(s.gross, s.currency) for s in r.sales if s.captures]
    return f"owed {', '.join(owed) or 'nothing'}; sales {', '.join(gross) or 'none'}"


def _headline_totals(rows: Sequence[Any]) -> str:
    sums: dict[str, list[int]] = defaultdict(lambda: [0, 0])
    for row in rows:
        sums[row.currency][0] += row.debit
        sums[row.currency][1] += row.credit
    return _join(
        [
            f"{c} debits {money(d, c)} {'=' if d == k else '!='} credits {money(k, c)}"
            for c, (d, k) in sorted(sums.items())
        ]
    )


_HEADLINES: dict[type[Report], Callable[[Any], str]] = {
    cat.CategoryBalancesReport: lambda r: f"{len(r.rows):,} categories",
    fx.FxPositionsReport: lambda r: (
        "positions " + _join([money(x.position, x.currency) for x in r.rows], "none")
    ),
    x.AccountBalancesReport: lambda r: (
        f"{len(r.accounts):,} accounts; " + _headline_totals(r.accounts)
    ),
    x.JournalReport: lambda r: (
        f"{r.entries:,} entries, {len(r.lines):,} lines; " + _headline_totals(r.lines)
    ),
    m.TrialBalanceReport: _headline_trial_balance,
    m.BalanceSheetReport: _headline_balance_sheet,
    m.IncomeStatementReport: _headline_income,
    m.EscrowPositionReport: _headline_escrow,
    m.StripeReconciliationReport: _headline_stripe,
    m.TicketTieOutReport: _headline_tickets,
    m.OutboxHealthReport: _headline_outbox,
    m.OrganizerStatementReport: _headline_organizer,
}


def headline(report: Report) -> str:
    """The report's key figures on one line (money in major units)."""
    return _HEADLINES[type(report)](report)


def short_title(report: Report) -> str:
    """The report's title for a list of reports (an organizer statement by its organizer)."""
    if isinstance(report, m.OrganizerStatementReport):
        return f"Statement: {report.organizer}"
    return report.title.split(" as of ")[0].split(" [")[0]
