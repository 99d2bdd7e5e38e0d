"""The HTML page's charts: one panel per currency, the ledger's Stripe balance (a step line
from the `stripe_balance` lines) and Stripe's own (the running sum of its balance
transactions' nets) on one time axis shared by every panel, with axis ticks in money. Only
the drawing's coordinates are floats; every amount and tick stays integer minor units."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from liventix.reports.models import BalancePoint, StripeTransaction
from liventix.reports.money import exponent, money, ticks

WIDTH, HEIGHT = 760, 260
LEFT, RIGHT, TOP, BOTTOM = 110, 20, 16, 40
COLORS = {"ledger": "#1f77b4", "stripe": "#ff7f0e"}
TIME_TICKS = 5


@dataclass(frozen=True)
class Tick:
    """A tick: where (pixels along its axis) and its label."""

    at: float
    label: str


@dataclass(frozen=True)
class Series:
    """One line of a panel: whose balance, its colour, its SVG points and last balance."""

    name: str
    label: str
    color: str
    points: str
    last: str
    dashed: bool = False


@dataclass(frozen=True)
class Chart:
    """One currency's panel."""

    currency: str
    width: int
    height: int
    left: int
    right: int
    top: int
    bottom: int
    zero: float
    y_ticks: list[Tick]
    x_ticks: list[Tick]
    series: list[Series] = field(default_factory=list)


def stripe_history(transactions: Sequence[StripeTransaction]) -> list[BalancePoint]:
    """Stripe's balance per currency after each of its balance transactions (by `created`;
    transactions without one are left out of the chart)."""
    running: dict[str, int] = defaultdict(int)
    out = []
    dated = [t for t in transactions if t.created is not None]
    for t in sorted(dated, key=lambda t: (t.created, t.id)):
        running[t.currency.upper()] += t.net
        assert t.created is not None
        out.append(
            BalancePoint(
                currency=t.currency.upper(), at=t.created, balance=running[t.currency.upper()]
            )
        )
    return out


def _time_label(moment: datetime, span: timedelta) -> str:
    if span <= timedelta(days=1):
        return f"{moment:%H:%M:%S}"
    if span <= timedelta(days=60):
        return f"{moment:%Y-%m-%d %H:%M}"
    return f"{moment:%Y-%m-%d}"


class _Frame:
    """The shared time axis and one panel's money axis, as pixel positions."""

    def __init__(self, first: datetime, last: datetime, low: int, high: int) -> None:
        self.first, self.seconds = first, (last - first).total_seconds() or 1.0
        self.ticks = ticks(low, high)
        self.low, self.span = self.ticks[0], (self.ticks[-1] - self.ticks[0]) or 1

    def x(self, moment: datetime) -> float:
        return LEFT + (WIDTH - LEFT - RIGHT) * (moment - self.first).total_seconds() / self.seconds

    def y(self, value: int) -> float:
        return HEIGHT - BOTTOM - (HEIGHT - TOP - BOTTOM) * (value - self.low) / self.span


def _steps(frame: _Frame, series: Sequence[BalancePoint], end: datetime) -> tuple[str, int]:
    """A step line: a balance holds until its next movement; from zero at the axis's start."""
    coords = [f"{frame.x(frame.first):.1f},{frame.y(0):.1f}"]
    level = 0
    for p in sorted(series, key=lambda p: p.at):
        coords.append(f"{frame.x(p.at):.1f},{frame.y(level):.1f}")
        coords.append(f"{frame.x(p.at):.1f},{frame.y(p.balance):.1f}")
        level = p.balance
    coords.append(f"{frame.x(end):.1f},{frame.y(level):.1f}")
    return " ".join(coords), level


def _money_ticks(frame: _Frame, currency: str) -> list[Tick]:
    """The money axis's ticks, labelled alike: without decimals only when all are whole."""
    unit = 10 ** exponent(currency)
    whole = all(v % unit == 0 for v in frame.ticks)
    return [Tick(frame.y(v), money(v, currency, trim=whole)) for v in frame.ticks]


def _time_ticks(first: datetime, span: timedelta) -> list[Tick]:
    """TIME_TICKS evenly spaced moments, a label shown once (a span of seconds repeats)."""
    step = (WIDTH - LEFT - RIGHT) / (TIME_TICKS - 1)
    out: list[Tick] = []
    for n in range(TIME_TICKS):
        label = _time_label(first + span * n / (TIME_TICKS - 1), span)
        if not out or out[-1].label != label:
            out.append(Tick(LEFT + n * step, label))
    return out


def charts(
    ledger: Sequence[BalancePoint], stripe: Sequence[BalancePoint] | None = None
) -> list[Chart]:
    """One panel per currency (sorted) of the ledger's Stripe balance and, when given,
    Stripe's; every panel on the same time axis (the first to the last movement of all)."""
    both = [*ledger, *(stripe or ())]
    if not both:
        return []
    first, last = min(p.at for p in both), max(p.at for p in both)
    span = last - first
    out = []
    for cur in sorted({p.currency for p in both}):
        mine = {
            "ledger": [p for p in ledger if p.currency == cur],
            "stripe": [p for p in stripe or () if p.currency == cur],
        }
        values = [p.balance for p in both if p.currency == cur]
        frame = _Frame(first, last, min(values), max(values))
        lines = []
        for name, points in mine.items():
            if name == "stripe" and stripe is None:
                continue
            drawn, level = _steps(frame, points, last)
            label = "Ledger" if name == "ledger" else "Stripe"
            lines.append(
                Series(name, label, COLORS[name], drawn, money(level, cur), dashed=name == "stripe")
            )
        out.append(
            Chart(
                currency=cur,
                width=WIDTH,
                height=HEIGHT,
                left=LEFT,
                right=WIDTH - RIGHT,
                top=TOP,
                bottom=HEIGHT - BOTTOM,
                zero=frame.y(0),
                y_ticks=_money_ticks(frame, cur),
                x_ticks=_time_ticks(first, span),
                series=lines,
            )
        )
    return out
