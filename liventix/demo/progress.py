"""What the demo prints: progress bars (redrawn in place on a terminal, one line when done
elsewhere: logs and CI keep a line per step, not a stream of carriage returns) and amounts."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TextIO

import ledger

Out = Callable[[str], None]
"""Where the demo's lines go (`print`, `click.echo`, a list's `append`)."""


def money(amount: int, currency: str) -> str:
    """An amount of minor units in major units with its currency: `-1,234.50 USD`."""
    exponent = ledger.CURRENCY_EXPONENTS[currency]
    whole, cents = divmod(abs(amount), 10**exponent)
    fraction = f".{cents:0{exponent}d}" if exponent else ""
    return f"{'-' if amount < 0 else ''}{whole:,}{fraction} {currency}"


class Progress:
    """One step of known size: `advance()` as it goes, `done()` at the end."""

    def __init__(
        self,
        label: str,
        total: int,
        *,
        out: Out,
        live: TextIO | None = None,
        width: int = 28,
    ) -> None:
        self.label = label
        self.total = max(0, total)
        self.count = 0
        self.out = out
        self.live = live
        self.width = width
        self.started = time.monotonic()
        self._drawn = -1.0
        self._draw()

    def _bar(self) -> str:
        share = 1.0 if self.total == 0 else min(1.0, self.count / self.total)
        filled = int(share * self.width)
        return (
            f"  {self.label:<26} [{'#' * filled}{'.' * (self.width - filled)}] "
            f"{self.count:>6}/{self.total:<6} {time.monotonic() - self.started:5.1f} s"
        )

    def _draw(self) -> None:
        if self.live is None:
            return
        now = time.monotonic()
        if now - self._drawn < 0.1 and self.count < self.total:
            return
        self._drawn = now
        self.live.write("\r" + self._bar())
        self.live.flush()

    def advance(self, n: int = 1) -> None:
        """Count `n` more done."""
        self.count += n
        self._draw()

    def done(self, note: str = "") -> None:
        """Finish the bar (filled) and leave its line, with `note` after it."""
        self.count = max(self.count, self.total)
        line = self._bar() + (f"  {note}" if note else "")
        if self.live is not None:
            self.live.write("\r" + " " * (len(line) + 2) + "\r")
            self.live.flush()
        self.out(line)
