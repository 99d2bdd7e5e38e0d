"""Tests of tickets and orders: checkout, payments, refunds, transfers, check-in."""
