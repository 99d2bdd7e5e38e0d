"""Stand-ins for the outside world, for the demo, the benchmarks and tests: yours too.

Liventix talks to three outside parties: Stripe's API, the organizers' webhook endpoints and
a mail server. This package serves each on 127.0.0.1, in its own wire format, so a test drives
the real clients (the stripe library, httpx, smtplib) rather than mocks:

- `StripeStandIn` (`liventix.testing.stripe`) is one Stripe account in memory: PaymentIntents
  (paid, processing, declined, canceled; a refused cancel answered as Stripe does, the
  intent in its error), refunds (and their failure), disputes, Connect transfers and their
  reversals, payouts, a balance transaction for every movement of the balance, Stripe's
  idempotency by key, the events Stripe would send about it all, and Stripe's weather
  (latency, outages, hangs, answers lost on the way back). Objects can also be seeded as
  Stripe's side of a test's story (`add_payment`, `add_refund`, `add_dispute`, ...).
  `start()` serves it over HTTP for the stripe library (or give it to a `StandInServer`);
  every request is recorded (`requests()`). `signature_header` and `deliver` send Stripe's
  events to the application signed, as Stripe does.
- `Receiver` (or `receiver()`) records the webhooks POSTed to it (`Hook`s) and answers as its
  `policy` says (`always(status)`, or any function of path, webhook-id and try number giving
  a `Reply`: a status, headers, a body, a delay); `smtp_server(Mailbox())` is an SMTP sink
  (`liventix.testing.smtp`) that counts sessions, keeps the messages (`Mail`s) and can refuse
  recipients; with `security="starttls"` or `"tls"` and a certificate
  (`self_signed_certificate`) it speaks TLS, and a mailbox with `users` requires AUTH.
- `liventix.testing.rollback.RolledBack`: a test inside one transaction that is rolled back,
  handed out as savepoints (the rolled-back test tier; see its docstring).

In your own tests (pytest)::

    from liventix.stripe_gateway import StripeGateway, StripeSettings
    from liventix.testing import StripeStandIn

    @pytest.fixture
    def stripe_account() -> Iterator[StripeStandIn]:
        account = StripeStandIn().start()
        yield account
        account.close()

    def test_checkout(stripe_account: StripeStandIn) -> None:
        gateway = StripeGateway(StripeSettings(api_base=stripe_account.url))
        ...  # start a checkout with `gateway`; then the buyer pays:
        event = stripe_account.succeed(payment_intent_id)
        # POST `event` to the API's webhook with `signature_header(body, secret)`

`python -m liventix.testing.stripe` serves the Stripe stand-in on its own (see `--help`).
"""

from __future__ import annotations

from liventix.testing.servers import Hook, Policy, Receiver, Reply, always, receiver
from liventix.testing.smtp import Mail, Mailbox, self_signed_certificate, smtp_server
from liventix.testing.stripe import (
    StandInServer,
    StripeObject,
    StripeRefusal,
    StripeStandIn,
    Weather,
    charge_of,
    deliver,
    signature_header,
    stripe_fee,
)

__all__ = [
    "Hook",
    "Mail",
    "Mailbox",
    "Policy",
    "Receiver",
    "Reply",
    "StandInServer",
    "StripeObject",
    "StripeRefusal",
    "StripeStandIn",
    "Weather",
    "always",
    "charge_of",
    "deliver",
    "receiver",
    "self_signed_certificate",
    "signature_header",
    "smtp_server",
    "stripe_fee",
]
