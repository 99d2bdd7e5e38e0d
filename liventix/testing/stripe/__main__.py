"""`python -m liventix.testing.stripe`: serve the Stripe stand-in on its own."""

from __future__ import annotations

from liventix.testing.stripe.cli import main

raise SystemExit(main())
