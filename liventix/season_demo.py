"""The season demo: a whole season of sales played through the system (filled by issue 7)."""

from __future__ import annotations
