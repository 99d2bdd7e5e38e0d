"""Test doubles that speak real protocols: a Stripe-compatible HTTP server on 127.0.0.1 (the
real stripe library talks to it), Stripe's objects and events as Stripe shapes them, and
signed webhook delivery into the inbox."""
