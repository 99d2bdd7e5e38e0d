"""`liventix report ...`: finance's reports on the command line (filled by issue 7)."""

from __future__ import annotations
