"""Serving the API with uvicorn: the application database, the Stripe gateway and the
webhook secret from the settings, one process (scale out with more processes)."""

from __future__ import annotations

import uvicorn

from liventix.api.app import create_app
from liventix.database import make_engine, prepare
from liventix.settings import Settings
from liventix.stripe_gateway import StripeGateway, StripeSettings


def serve(
    settings: Settings, *, host: str = "127.0.0.1", port: int = 8000, log_level: str = "info"
) -> None:
    """Serve until interrupted (SIGINT or SIGTERM finish the requests in flight)."""
    engine = make_engine(prepare(settings))
    gateway = StripeGateway(StripeSettings(settings.stripe_api_key, settings.stripe_api_base))
    app = create_app(engine, gateway=gateway, stripe_webhook_secret=settings.stripe_webhook_secret)
    try:
        uvicorn.run(app, host=host, port=port, log_level=log_level, proxy_headers=False)
    finally:
        engine.dispose()
