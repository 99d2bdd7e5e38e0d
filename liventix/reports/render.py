"""Rendering reports: a terminal table, CSV (one file per table), JSON, and one
self-contained HTML page of all reports with an inline SVG chart of the Stripe balance."""

from __future__ import annotations

import csv
import html
import io
import re
from collections import defaultdict
from collections.abc import Sequence
from datetime import datetime
from pathlib import Path

from liventix.reports.models import BalancePoint, Cell, Report, Table


def _text(value: Cell) -> str:
    return "" if value is None else str(value)


def as_table(report: Report) -> str:
    """The report as aligned plain-text tables under a title line with its differences
    count (and, for money, that amounts are in minor units)."""
    units = " (amounts in minor units)" if report.in_minor_units else ""
    out = [f"{report.title}: {report.differences} difference(s){units}"]
    for caption, columns, rows in report.tables():
        out.append("")
        out.append(f"{caption} ({len(rows)})")
        if not rows:
            out.append("  (none)")
            continue
        cells = [columns, *[[_text(c) for c in row] for row in rows]]
        widths = [max(len(r[i]) for r in cells) for i in range(len(columns))]
        for n, row in enumerate(cells):
            out.append(
                "  ".join(
                    c.rjust(w) if n and isinstance(rows[n - 1][i], int) else c.ljust(w)
                    for i, (c, w) in enumerate(zip(row, widths, strict=True))
                ).rstrip()
            )
            if n == 0:
                out.append("  ".join("-" * w for w in widths))
    return "\n".join(out)


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
    """The report's pydantic model as JSON."""
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


# -- HTML -----------------------------------------------------------------------------------------

_COLORS = ("#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#8c564b")


def balance_chart(points: Sequence[BalancePoint], width: int = 720, height: int = 280) -> str:
    """An inline SVG chart of the Stripe balance per currency over time (minor units): a
    step line per currency (a balance holds until its next movement), time across, the
    lowest and highest balance and zero marked."""
    pad, right = 70, 60
    if not points:
        return (
            f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="60">'
            '<text x="10" y="30">No Stripe balance movements yet.</text></svg>'
        )
    first = min(p.at for p in points)
    last = max(p.at for p in points)
    seconds = (last - first).total_seconds() or 1.0
    values = [p.balance for p in points] + [0]
    low, high = min(values), max(values)
    span = (high - low) or 1

    def x(moment: datetime) -> float:
        return pad + (width - pad - right) * (moment - first).total_seconds() / seconds

    def y(v: int) -> float:
        return height - 40 - (height - 70) * (v - low) / span

    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
        f'role="img" aria-label="Stripe balance over time">',
        f'<rect width="{width}" height="{height}" fill="#fff" stroke="#ccc"/>',
        f'<line x1="{pad}" y1="{y(0):.1f}" x2="{width - right}" y2="{y(0):.1f}" stroke="#999"/>',
    ]
    marked: list[float] = []
    for v in (low, high, 0):  # zero last: it gives way to an extreme it would overlap
        if all(abs(y(v) - other) >= 12 for other in marked):
            marked.append(y(v))
            parts.append(
                f'<text x="{pad - 6}" y="{y(v) + 4:.1f}" font-size="11" '
                f'text-anchor="end">{v}</text>'
            )
    parts += [
        f'<text x="{pad}" y="{height - 12}" font-size="11">{first:%Y-%m-%d %H:%M:%S}</text>',
        f'<text x="{width - right}" y="{height - 12}" font-size="11" text-anchor="end">'
        f"{last:%Y-%m-%d %H:%M:%S} UTC</text>",
    ]
    by_currency: dict[str, list[BalancePoint]] = defaultdict(list)
    for p in points:
        by_currency[p.currency].append(p)
    for n, (cur, unsorted) in enumerate(sorted(by_currency.items())):
        color = _COLORS[n % len(_COLORS)]
        series = sorted(unsorted, key=lambda p: p.at)
        coords = [f"{x(first):.1f},{y(0):.1f}"]
        level = 0
        for p in series:
            coords.append(f"{x(p.at):.1f},{y(level):.1f}")
            coords.append(f"{x(p.at):.1f},{y(p.balance):.1f}")
            level = p.balance
        coords.append(f"{x(last):.1f},{y(level):.1f}")
        parts.append(
            f'<polyline fill="none" stroke="{color}" stroke-width="2" points="{" ".join(coords)}"/>'
        )
        parts.append(
            f'<text x="{width - right + 6}" y="{30 + 16 * n}" font-size="12" '
            f'fill="{color}">{html.escape(cur)}</text>'
        )
    parts.append("</svg>")
    return "".join(parts)


def _html_table(table: Table) -> str:
    caption, columns, rows = table
    head = "".join(f"<th>{html.escape(c)}</th>" for c in columns)
    body = (
        "".join(
            "<tr>"
            + "".join(
                f'<td class="{"num" if isinstance(c, int) else ""}">{html.escape(_text(c))}</td>'
                for c in row
            )
            + "</tr>"
            for row in rows
        )
        or f'<tr><td colspan="{len(columns)}">(none)</td></tr>'
    )
    return (
        f"<table><caption>{html.escape(caption)} ({len(rows)})</caption>"
        f"<thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"
    )


def as_html(reports: Sequence[Report], history: Sequence[BalancePoint], generated: str) -> str:
    """One self-contained page (no external resources) of every report and the chart."""
    total = sum(r.differences for r in reports)
    sections = []
    seen: dict[str, int] = defaultdict(int)
    for r in reports:
        cls = "bad" if r.differences else "ok"
        tables = "".join(_html_table(t) for t in r.tables())
        # One report name may appear more than once (an organizer statement per organizer).
        seen[r.name] += 1
        anchor = r.name if seen[r.name] == 1 else f"{r.name}-{seen[r.name]}"
        sections.append(
            f'<section id="{html.escape(anchor)}"><h2>{html.escape(r.title)} '
            f'<span class="{cls}">{r.differences} difference(s)</span></h2>'
            f"{tables}</section>"
        )
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>Liventix reconciliation reports</title>
<style>
body{{font-family:sans-serif;margin:2em;color:#222}}
table{{border-collapse:collapse;margin:1em 0;font-size:13px}}
caption{{text-align:left;font-weight:bold;padding:4px 0}}
th,td{{border:1px solid #ccc;padding:3px 6px}} th{{background:#f3f3f3}}
td.num{{text-align:right;font-variant-numeric:tabular-nums}}
.ok{{color:#2a7d2a}} .bad{{color:#b00020}}
</style></head><body>
<h1>Liventix reconciliation reports (amounts in minor units)</h1>
<p>Generated {html.escape(generated)}.
<strong class="{"bad" if total else "ok"}">{total} difference(s) in all.</strong></p>
<section id="chart"><h2>The platform's Stripe balance over time (minor units)</h2>
{balance_chart(history)}</section>
{"".join(sections)}
</body></html>
"""
