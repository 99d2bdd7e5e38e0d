"""Rendering reports as text: a terminal table (the differences first, then the summary, the
detail folded unless asked for), the one-screen summary of many reports, CSV (one file per
table, each amount beside its formatted twin) and JSON (integer minor units and currency).
The HTML page is `liventix.reports.page`."""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Sequence
from datetime import datetime
from pathlib import Path

from liventix.reports.base import Cell, Report, Table
from liventix.reports.layout import Section, Shown, headline, sections, short_title

WIDTH = 150
"""The widest line of the one-screen summary (a longer line is cut)."""
LISTED = 12
"""The one-screen summary lists at most this many differences (then says how many more)."""
ORGANIZERS_LISTED = 8
"""Beyond this many organizers, the summary folds the statements without differences."""


def _text(value: Cell) -> str:
    return "" if value is None else str(value)


def _grid(columns: list[str], rows: list[list[Shown]], indent: str = "  ") -> list[str]:
    texts = [columns, *[[c.text for c in row] for row in rows]]
    widths = [max(len(r[i]) for r in texts) for i in range(len(columns))]
    out = []
    for n, row in enumerate(texts):
        cells = [
            c.rjust(w) if n and rows[n - 1][i].numeric else c.ljust(w)
            for i, (c, w) in enumerate(zip(row, widths, strict=True))
        ]
        out.append((indent + "  ".join(cells)).rstrip())
        if n == 0:
            out.append(indent + "  ".join("-" * w for w in widths))
    return out


def _section_lines(section: Section) -> list[str]:
    out = ["", f"{section.caption} ({len(section.rows):,})"]
    if not section.rows:
        return [*out, "  (none)"]
    return out + _grid(section.columns, section.rows)


def title_line(report: Report) -> str:
    """`<title>: <n> difference(s)`."""
    return f"{report.title}: {report.differences} difference(s)"


def as_table(report: Report, *, detail: bool = False, differences_only: bool = False) -> str:
    """The report as text: its title with its differences count and key figures, its
    differences first, then its summary; the detail (matched rows, every account) only with
    `detail`, a line naming what was folded otherwise. `differences_only` shows the
    differences alone. Amounts in major units with their currency, names for ids."""
    out = [title_line(report), f"  {headline(report)}"]
    shown = sections(report)
    folded = []
    for section in shown:
        if section.role == "differences" or (
            not differences_only and (detail or section.role == "summary")
        ):
            out += _section_lines(section)
        elif section.role == "detail" and section.rows:
            folded.append(f"{section.caption} ({len(section.rows):,})")
    if differences_only and not report.differences:
        out.append("  (no differences)")
    if folded and not differences_only:
        out += ["", f"Folded: {', '.join(folded)}; --detail shows them"]
    return "\n".join(out)


# -- the one-screen summary -------------------------------------------------------------------


def describe(section: Section, row: list[Shown]) -> str:
    """A differing row in words: its first three distinct text cells, then its nonzero
    differences, or the amounts where Stripe and the ledger disagree, or its first amount
    (a transaction missing on one side)."""
    pairs = list(zip(row, section.columns, strict=True))
    words = list(dict.fromkeys(c.text for c, _ in pairs if c.text and not c.numeric))[:3]
    figures = [f"{h.lower()} {c.text}" for c, h in pairs if c.bad] or _disagreeing(pairs)[:2]
    if not figures:
        figures = [f"{h.lower()} {c.text}" for c, h in pairs if c.numeric and c.text][:1]
    return " ".join(words) + (f" | {', '.join(figures)}" if figures else "")


def _disagreeing(pairs: list[tuple[Shown, str]]) -> list[str]:
    """`Stripe x` beside `Ledger x` where both are shown and differ."""
    texts = {h.lower(): c.text for c, h in pairs if c.numeric and c.text}
    out = []
    for heading, text in texts.items():
        ours = texts.get("ledger " + heading.removeprefix("stripe "))
        if heading.startswith("stripe ") and ours is not None and ours != text:
            out += [f"{heading} {text}", f"ledger {heading.removeprefix('stripe ')} {ours}"]
    return out


def _difference_line(report: Report, section: Section, row: list[Shown]) -> str:
    line = f"  {short_title(report)} | {section.caption}: {describe(section, row)}"
    return line if len(line) <= WIDTH else line[: WIDTH - 3] + "..."


def differences(reports: Sequence[Report]) -> list[str]:
    """Every difference of the reports, one line each, in the reports' order."""
    return [
        _difference_line(r, s, row)
        for r in reports
        for s in sections(r)
        if s.role == "differences"
        for row in s.rows
    ]


def _listed(reports: Sequence[Report]) -> list[tuple[str, int, str]]:
    statements = [r for r in reports if r.name == "organizer-statement"]
    fold = len(statements) > ORGANIZERS_LISTED
    out = [
        (short_title(r), r.differences, headline(r))
        for r in reports
        if not (fold and r.name == "organizer-statement" and not r.differences)
    ]
    if fold:
        clean = sum(1 for r in statements if not r.differences)
        out.append((f"Statements: {clean:,} more organizers", 0, "every account tied out"))
    return out


def summary_screen(reports: Sequence[Report], *, context: str) -> str:
    """Many reports on one screen: the total, every difference first (the first LISTED, then
    how many more), then a line per report with its differences and key figures."""
    total = sum(r.differences for r in reports)
    out = [f"Liventix reports: {total} difference(s) in all", f"  {context}", ""]
    found = differences(reports)
    if found:
        out.append("Differences first:")
        out += found[:LISTED]
        if len(found) > LISTED:
            out.append(f"  ... and {len(found) - LISTED:,} more: --differences-only lists them")
        out.append("")
    listed = _listed(reports)
    width = max(len(t) for t, _, _ in listed)
    out.append(f"{'Report':<{width}}  Differences  Key figures")
    out += [f"{t:<{width}}  {n:>11}  {h}"[:WIDTH] for t, n, h in listed]
    out += ["", "--detail: every report in full; --differences-only: only the differences"]
    return "\n".join(out)


def show(
    reports: Sequence[Report],
    fmt: str,
    *,
    detail: bool = False,
    differences_only: bool = False,
    every: bool = False,
    context: str = "",
) -> str:
    """What `liventix report` prints: each report in the format (`table`, `csv`, `json`);
    `every` (`all`) in the table format is one screen unless `detail`, and with
    `differences_only` the reports that differ, their differences only."""
    if fmt != "table":
        render = as_csv if fmt == "csv" else as_json
        return "\n\n".join(render(r) for r in reports)
    if every and not detail and not differences_only:
        return summary_screen(reports, context=context)
    if every and differences_only:
        reports = [r for r in reports if r.differences]
        if not reports:
            return "No differences."
    return "\n\n".join(
        as_table(r, detail=detail, differences_only=differences_only) for r in reports
    )


def context_line(
    now: datetime, as_of: datetime, start: datetime, end: datetime, *, skipped: bool
) -> str:
    """What a run of the reports covers, in one line."""
    line = (
        f"Snapshot {now:%Y-%m-%d %H:%M:%S} UTC; balances as of {as_of:%Y-%m-%d %H:%M:%S}; "
        f"period [{start:%Y-%m-%d %H:%M}, {end:%Y-%m-%d %H:%M})"
    )
    return line + ("; Stripe not reconciled (no --balance-transactions)" if skipped else "")


# -- files ----------------------------------------------------------------------------------------


def _slug(caption: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", caption.lower()).strip("-")


def table_csv(table: Table) -> str:
    """One table as CSV with a header row."""
    _, columns, rows = table
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(columns)
    writer.writerows([[_text(c) for c in row] for row in rows])
    return buffer.getvalue()


def as_csv(report: Report) -> str:
    """Every table of the report as CSV, each headed by a `# caption` line."""
    return "\n".join(
        f"# {caption}\n{table_csv((caption, cols, rows))}"
        for caption, cols, rows in report.tables()
    )


def as_json(report: Report) -> str:
    """The report's pydantic model as JSON (amounts in integer minor units)."""
    return report.model_dump_json(indent=2)


def write_files(report: Report, directory: Path) -> list[Path]:
    """Write `<name>.json` and one `<name>-<table>.csv` per table into `directory`."""
    directory.mkdir(parents=True, exist_ok=True)
    written = [directory / f"{report.name}.json"]
    written[0].write_text(as_json(report), encoding="utf-8")
    for table in report.tables():
        path = directory / f"{report.name}-{_slug(table[0])}.csv"
        path.write_text(table_csv(table), encoding="utf-8")
        written.append(path)
    return written
