"""Tests of escrow: recipes, the machine, Stripe events, releases."""
