"""Stand-ins for the outside world, for the demo, the benchmarks and tests: yours too.

Liventix talks to three outside parties: Stripe's API, the organizers' webhook endpoints and
a mail server. This package serves each on 127.0.0.1, in its own wire format, so a test drives
the real clients (the stripe library, httpx, smtplib) rather than mocks:

- `StripeStandIn` is one Stripe account in memory: PaymentIntents (paid, declined, canceled),
  refunds (and their failure), disputes, Connect transfers and their reversals, payouts, a
  balance transaction for every movement of the balance, Stripe's idempotency by key, the
  events Stripe would send about it all, and Stripe's weather (latency, outages, hangs, lost
  answers: `Weather`). Objects can also be seeded as Stripe's side of a story (`seed_payment`,
  `seed_refund`, `seed_dispute`, ...). `StandInServer` serves it over HTTP for the stripe
  library; `stand_in()` runs one for the length of a block. Every request is recorded.
- `Receiver` records the webhooks POSTed to it; `Mailbox` with `smtp_server()` is an SMTP sink.
- `signature_header` signs an event's body as Stripe does, for `POST /v1/stripe/webhook`.

Use it in your own tests (pytest shown)::

    import pytest
    from liventix.stripe_gateway import StripeGateway, StripeSettings
    from liventix.testing import StandIn, stand_in

    @pytest.fixture
    def stripe_account() -> Iterator[StandIn]:
        with stand_in() as served:
            yield served

    def test_checkout(stripe_account: StandIn) -> None:
        gateway = StripeGateway(StripeSettings(api_base=stripe_account.url))
        ...  # start a checkout with `gateway`, then
        event = stripe_account.account.succeed(payment_intent_id)  # the buyer pays
        # post `event` signed (signature_header) to the API's webhook, as Stripe would

`python -m liventix.testing.stripe` serves the Stripe stand-in on its own (see `--help`).
"""

from __future__ import annotations

from liventix.testing.servers import Hook, Mailbox, Receiver, receiver, smtp_server
from liventix.testing.stripe import (
    StandInServer,
    StripeObject,
    StripeRefusal,
    StripeStandIn,
    Weather,
    charge_of,
    stripe_fee,
)

__all__ = [
    "Hook",
    "Mailbox",
    "Receiver",
    "StandInServer",
    "StripeObject",
    "StripeRefusal",
    "StripeStandIn",
    "Weather",
    "charge_of",
    "receiver",
    "smtp_server",
    "stripe_fee",
]
