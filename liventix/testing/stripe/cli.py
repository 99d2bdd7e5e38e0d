"""`python -m liventix.testing.stripe`: the Stripe stand-in served on its own, set by options
or `STRIPE_STANDIN_*` environment variables."""

from __future__ import annotations

import argparse
import os
from collections.abc import Sequence

from liventix.testing.stripe.faults import HANG_SECONDS
from liventix.testing.stripe.server import StandInServer
from liventix.testing.stripe.standin import StripeStandIn


def _env_float(name: str, default: float) -> float:
    raw = os.environ.get(name)
    return float(raw) if raw else default


def main(argv: Sequence[str] | None = None) -> int:
    """Serve the stand-in on 127.0.0.1 until interrupted; print its URL first."""
    parser = argparse.ArgumentParser(
        prog="python -m liventix.testing.stripe",
        description="A Stripe stand-in on 127.0.0.1 (its options default to the "
        "STRIPE_STANDIN_* environment variables).",
    )
    parser.add_argument(
        "--port", type=int, default=int(_env_float("STRIPE_STANDIN_PORT", 0)), help="0: any"
    )
    parser.add_argument(
        "--latency-ms", type=float, default=_env_float("STRIPE_STANDIN_LATENCY_MS", 0.0)
    )
    parser.add_argument(
        "--fail-rate", type=float, default=_env_float("STRIPE_STANDIN_FAIL_RATE", 0.0)
    )
    parser.add_argument(
        "--hang-rate", type=float, default=_env_float("STRIPE_STANDIN_HANG_RATE", 0.0)
    )
    parser.add_argument(
        "--hang-seconds",
        type=float,
        default=_env_float("STRIPE_STANDIN_HANG_SECONDS", HANG_SECONDS),
    )
    parser.add_argument("--seed", type=int, default=int(_env_float("STRIPE_STANDIN_SEED", 0)))
    args = parser.parse_args(argv)
    account = StripeStandIn(
        latency_ms=args.latency_ms,
        fail_rate=args.fail_rate,
        hang_rate=args.hang_rate,
        hang_seconds=args.hang_seconds,
        seed=args.seed,
    )
    server = StandInServer(account, port=args.port)
    print(server.url, flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()
    return 0
