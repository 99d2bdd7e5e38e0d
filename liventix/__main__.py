"""`python -m liventix`: the same as the `liventix` command."""

from __future__ import annotations

from liventix.cli import main

raise SystemExit(main())
