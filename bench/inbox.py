"""The product's payment path (issue 11): Stripe's `payment_intent.succeeded` events posted to
the API's webhook in a burst and drained by `liventix worker` processes, Stripe answering at
once and then slowly.

Run as `python -m bench.inbox [--events 2000] [--latency-ms 250] [--workers 2] [--cap-s 90]
[--rounds 2]`.
Everything on 127.0.0.1, as `bench.onsale` deploys it (its helpers, imported): an embedded
PostgreSQL in a temporary directory (or `DATABASE_URL`'s server), a fresh database, `liventix
serve` and `--workers` `liventix worker --no-periodic` processes, the Stripe stand-in over HTTP
(`liventix.testing.stripe`, in this process) answering after the case's latency, and an SMTP
server for the buyers' e-mails.

Each case: `--events` orders checked out beforehand (hold, PaymentIntent, record: the Python
API, `ticketing_fsm.start_checkout`, on the stand-in's account in process; set-up, not
measured), their PaymentIntents paid at the stand-in, then Stripe's `payment_intent.succeeded`
events posted, signed, to `/v1/stripe/webhook` by a pool of 16 client threads as fast as the
API takes them (a burst, as Stripe sends after an on-sale). Each event is stored in
`messaging.inbox` by the API (verified, NOTIFY), claimed by a worker, prepared with no
transaction open (Stripe asked for the charge and its fee: one GET, the case's latency), and
finished (the payment booked, the order paid, its tickets issued) in another transaction.

Measured, per case: from the first event posted to the last one handled (its inbox row
'handled'), events handled per second, and each event's latency from its POST (the client's
clock) to its `handled_at` (the database's `now()` in the finishing transaction; the same
machine's clock). A case whose backlog outlasts `--cap-s` seconds is measured over its first
`--cap-s` seconds (`*_capped`, with the events left unhandled then, `*_left`); its latency
percentiles count the events left as longer than the cap (null when the percentile falls
among them); the stand-in is then made to answer at once and the backlog drained, so that the
tie-out covers every event. CPU per event handled of each process group (API, workers,
PostgreSQL, this process: the stand-in and the posting clients) over the measured window (a
capped case's window holds the whole burst's posts for fewer events handled: its API and
stand-in figures per event are inflated so).

Cases in one run: `inbox_0` (Stripe at once: the baseline) and `inbox_<latency>` (the figure),
interleaved: each case's events are split into `--rounds` segments (each its own burst, with
its share of the cap), run in rounds of one segment of each case, the order alternating from
round to round (0 ms first, then the slow case first, ...), so that the machine's other work
(2 cores shared) weighs on both cases alike; a case's figures are its segments' together (the
events handled over the sum of their windows, latencies pooled), and each round's ratio is
printed too (`inbox_latency_ratio_rounds`). Uncounted first: a warm-up of `--warmup` events.
Then the refunds and cancellations Stripe made meanwhile are posted back as Stripe's events,
and finance's reports run as the demo runs them (`liventix.demo.finance_reports`): every
difference must be zero. Also read: inbox events dead, orders paid at Stripe but refunded
(`refunded_paid`: a late payment, the hold expired, is refunded in full), paid intents whose
order has no ticket and no full refund (`charged_without_ticket`), the machine's load average
at each case's (first segment's) start. The last line is one JSON object.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import tempfile
import threading
import time
import uuid
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx
import sqlalchemy as sa

import ticketing_fsm as tk
from bench.checkout import StandInGateway
from bench.onsale import (
    OPEN_CAPACITY,
    WORKERS,
    BenchError,
    _charged_without_ticket,
    _Cpu,
    _database,
    _Deployment,
    _event,
    _organizer,
    _percentile,
    _settle,
    _Webhooks,
)
from bench.posting import _server
from liventix.database import make_engine
from liventix.demo import finance_reports
from liventix.testing.servers import Mailbox, smtp_server
from liventix.testing.stripe import StandInServer, StripeObject, StripeStandIn

EVENTS = 2_000
CAP_S = 90.0
SETUP_THREADS = 4
POLL_S = 0.1
WARMUP = 20
ROUNDS = 2
"""Events of an uncounted case first: the workers' connections and plans warmed up."""


class _TimedWebhooks(_Webhooks):
    """bench.onsale's signed webhook posts, each event's first POST's time kept."""

    def __init__(self, api_url: str) -> None:
        super().__init__(api_url)
        self.posted_at: dict[str, float] = {}
        self.failure: BaseException | None = None

    def _post(self, event: StripeObject) -> None:
        self.posted_at[str(event["id"])] = time.time()
        super()._post(event)

    def send_all(self, events: list[StripeObject]) -> None:
        """`send`, any failure kept for the measuring thread (this runs on its own)."""
        try:
            self.send(events)
        except BaseException as error:
            self.failure = error


@dataclass(frozen=True)
class Case:
    """One case's figures."""

    name: str
    latency_ms: float
    events: int
    handled: int
    """Events handled within the window."""
    seconds: float
    """The window: first event posted -> last handled (or the cap)."""
    capped: bool
    left: int
    """Events not handled at the window's end (a capped case's backlog)."""
    p50_ms: float | None
    p99_ms: float | None
    post_s: float
    """Seconds the burst took to post (every event acknowledged by the API)."""
    cpu_ms: dict[str, float]
    load: tuple[float, float, float]
    latencies_ms: tuple[float, ...] = ()
    """Each event's, posted -> handled (inf: not handled within the window)."""

    @property
    def per_s(self) -> float:
        """Events handled per second of the window."""
        return self.handled / self.seconds if self.seconds > 0 else 0.0


def _checkouts(
    engine: sa.Engine,
    account: StripeStandIn,
    *,
    org: uuid.UUID,
    event_id: str,
    type_id: str,
    n: int,
    prefix: str,
) -> list[str]:
    """`n` orders of one ticket each, held with their PaymentIntent recorded (the Python
    API on the stand-in's account, in process); their PaymentIntents' ids."""
    gateway = StandInGateway()
    gateway.account = account  # the account the HTTP stand-in serves to the workers

    def one(k: int) -> str:
        request = tk.CheckoutRequest(
            f"{prefix}-{k}",
            org,
            uuid.UUID(event_id),
            f"buyer{k}@example.com",
            [tk.CheckoutItem(uuid.UUID(type_id), 1)],
        )
        return tk.start_checkout(engine, gateway, request).payment_intent_id

    with ThreadPoolExecutor(SETUP_THREADS) as pool:
        return list(pool.map(one, range(n)))


def _inbox(engine: sa.Engine, ids: Sequence[str]) -> list[Any]:
    """The events' inbox rows: (event_id, status, handled_at as epoch seconds)."""
    with engine.connect() as conn:
        return list(
            conn.execute(
                sa.text("""SELECT event_id, status::text AS status,
                                  extract(epoch FROM handled_at)::float8 AS handled
                             FROM messaging.inbox WHERE event_id = ANY(:ids)"""),
                {"ids": list(ids)},
            ).all()
        )


def _ms(value: float) -> float | None:
    return None if math.isinf(value) else round(value, 1)


def run_case(
    name: str,
    engine: sa.Engine,
    deployment: _Deployment,
    *,
    account: StripeStandIn,
    cpu: _Cpu,
    intents: Sequence[str],
    latency_ms: float,
    cap_s: float,
) -> Case:
    """Pay the intents at the stand-in, post their events in a burst at `latency_ms`, and
    measure until every one is handled or `cap_s` seconds passed since the first POST; a
    capped backlog is then drained at 0 ms (not measured)."""
    account.latency_ms = 0
    events = [account.succeed(pi) for pi in intents]
    ids = [str(e["id"]) for e in events]
    account.latency_ms = latency_ms
    webhooks = _TimedWebhooks(deployment.api_url)
    load = os.getloadavg()
    deployment.check()
    before = cpu.snapshot()
    poster = threading.Thread(target=webhooks.send_all, args=(events,), name="burst")
    began = time.time()
    poster.start()
    capped = False
    try:
        while True:
            time.sleep(POLL_S)
            if webhooks.failure is not None:
                raise BenchError(f"{name}: posting failed: {webhooks.failure!r}")
            rows = _inbox(engine, ids)
            if len(rows) == len(ids) and all(r.status != "pending" for r in rows):
                break
            if time.time() - began > cap_s:
                capped = True
                break
            deployment.check()
        after = cpu.snapshot()
        poster.join()
        post_s = time.time() - began  # at most; refined below from the posts' own times
    finally:
        webhooks.close()
    if webhooks.failure is not None:
        raise BenchError(f"{name}: posting failed: {webhooks.failure!r}")
    posted = webhooks.posted_at
    first = min(posted.values())
    post_s = min(post_s, max(posted.values()) - first)
    rows = _inbox(engine, ids)
    handled_at = {r.event_id: r.handled for r in rows if r.status == "handled"}
    end = first + cap_s if capped else max(handled_at.values(), default=first)
    within = {e: t for e, t in handled_at.items() if t <= end}
    latencies = [(within[e] - posted[e]) * 1000 if e in within else math.inf for e in ids]
    spent = cpu.per_unit(before, after, len(within))
    if capped:
        account.latency_ms = 0
        _settle(engine, deployment, f"{name}'s backlog")
    return Case(
        name=name,
        latency_ms=latency_ms,
        events=len(ids),
        handled=len(within),
        seconds=end - first,
        capped=capped,
        left=len(ids) - len(within),
        p50_ms=_ms(_percentile(latencies, 0.5)),
        p99_ms=_ms(_percentile(latencies, 0.99)),
        post_s=round(post_s, 2),
        cpu_ms=spent,
        load=load,
        latencies_ms=tuple(latencies),
    )


def combined(name: str, segments: Sequence[Case]) -> Case:
    """One case's segments (one per round) as one: events, handled and seconds summed (the
    rate is handled over the windows' sum), latencies pooled, CPU per event weighted by the
    events handled, the first segment's load."""
    handled = sum(c.handled for c in segments)
    latencies = [x for c in segments for x in c.latencies_ms]
    groups = {g for c in segments for g in c.cpu_ms}
    return Case(
        name=name,
        latency_ms=segments[0].latency_ms,
        events=sum(c.events for c in segments),
        handled=handled,
        seconds=sum(c.seconds for c in segments),
        capped=any(c.capped for c in segments),
        left=sum(c.left for c in segments),
        p50_ms=_ms(_percentile(latencies, 0.5)),
        p99_ms=_ms(_percentile(latencies, 0.99)),
        post_s=round(sum(c.post_s for c in segments), 2),
        cpu_ms={
            g: round(sum(c.cpu_ms.get(g, 0.0) * c.handled for c in segments) / max(handled, 1), 2)
            for g in sorted(groups)
        },
        load=segments[0].load,
        latencies_ms=tuple(latencies),
    )


def _print_case(case: Case) -> None:
    capped = f" (capped at {case.seconds:.0f} s: {case.left} left)" if case.capped else ""
    print(
        f"{case.name:<10} {case.per_s:8.1f} events/s  {case.handled}/{case.events} handled in "
        f"{case.seconds:.1f} s{capped}  p50 {case.p50_ms} ms  p99 {case.p99_ms} ms  "
        f"posted in {case.post_s} s  load {' '.join(f'{x:.2f}' for x in case.load)}",
        flush=True,
    )
    total = sum(case.cpu_ms.values())
    print(f"           cpu ms per event {case.cpu_ms}, {total:.2f} in all", flush=True)


def _refunds_back(engine: sa.Engine, account: StripeStandIn, deployment: _Deployment) -> int:
    """Post the refunds and cancellations Stripe made meanwhile as Stripe's events, until
    the workers have nothing left to do; returns the events posted."""
    webhooks = _Webhooks(deployment.api_url)
    refunds_seen: set[str] = set()
    canceled_seen: set[str] = set()
    try:
        for _ in range(20):
            told: list[StripeObject] = []
            for refund in account.refunds_since(refunds_seen):
                refunds_seen.add(refund.id)
                told += account.refund_events(refund, stale_first=False, with_charge=False)
            canceled = account.canceled_events(canceled_seen)
            canceled_seen |= {e["data"]["object"]["id"] for e in canceled}
            if not told and not canceled:
                break
            webhooks.send(told + canceled)
            _settle(engine, deployment, "refunds and cancellations")
    finally:
        webhooks.close()
    return webhooks.posted


def _outcomes(engine: sa.Engine, account: StripeStandIn) -> dict[str, Any]:
    """Inbox events by status, orders by status, paid intents refunded."""
    with engine.connect() as conn:
        inbox: dict[Any, Any] = dict(
            conn.execute(
                sa.text("SELECT status::text, count(*) FROM messaging.inbox GROUP BY 1")
            ).all()
        )
        orders: dict[Any, Any] = dict(
            conn.execute(
                sa.text("SELECT status::text, count(*) FROM ticketing.orders GROUP BY 1")
            ).all()
        )
    paid = account.succeeded
    refunded = {r.payment_intent_id for r in account.refunds_since(set())} & paid
    return {
        "inbox": {str(k): int(v) for k, v in inbox.items()},
        "orders": {str(k): int(v) for k, v in orders.items()},
        "refunded_paid": len(refunded),
    }


def _plan(args: argparse.Namespace, label: str) -> list[tuple[str, str, float, int, float]]:
    """The segments in their order: (case, segment, latency, events, cap). The warm-up
    first; then per round one segment of each case, the order alternating (0 first in the
    first round, then the slow case first, ...), each with its share of the events and of the
    cap."""
    plan = [("warmup", "warmup", 0.0, args.warmup, args.cap_s)] if args.warmup else []
    rounds = max(1, args.rounds)
    cases = [("inbox_0", 0.0), (f"inbox_{label}", float(args.latency_ms))]
    for r in range(rounds):
        n = args.events // rounds + (1 if r < args.events % rounds else 0)
        for case, wait in cases if r % 2 == 0 else cases[::-1]:
            plan.append((case, f"{case}#{r + 1}", wait, n, args.cap_s / rounds))
    return plan


def main(argv: Sequence[str] | None = None) -> int:
    """Run the cases; print their figures, the last line as one JSON object."""
    parser = argparse.ArgumentParser(prog="python -m bench.inbox", description=__doc__)
    parser.add_argument("--events", type=int, default=EVENTS, help="payments per case")
    parser.add_argument("--latency-ms", type=float, default=250.0, help="the slow case's Stripe")
    parser.add_argument("--workers", type=int, default=WORKERS, help="`liventix worker`s")
    parser.add_argument(
        "--processes",
        type=int,
        default=len(os.sched_getaffinity(0)),
        help="`liventix serve --processes` (default: one per CPU)",
    )
    parser.add_argument(
        "--cap-s", type=float, default=CAP_S, help="a case's backlog is measured this long"
    )
    parser.add_argument("--warmup", type=int, default=WARMUP, help="uncounted events first")
    parser.add_argument(
        "--rounds",
        type=int,
        default=ROUNDS,
        help="each case's events split into this many segments, the cases alternating",
    )
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args(argv)
    latency = args.latency_ms
    label = f"{latency:g}"
    figures: dict[str, Any] = {
        "events": args.events,
        "workers": args.workers,
        "api_processes": args.processes,
        "latency_ms": latency,
        "cap_s": args.cap_s,
        "rounds": args.rounds,
    }
    account = StripeStandIn(seed=args.seed)
    stand_in = StandInServer(account)
    threading.Thread(target=stand_in.serve_forever, daemon=True).start()
    segments: dict[str, list[Case]] = {"inbox_0": [], f"inbox_{label}": []}
    with (
        tempfile.TemporaryDirectory(prefix="liventix-inbox-") as scratch,
        _server() as server_url,
        _database(server_url) as db_url,
        smtp_server(Mailbox(keep=False)) as (smtp_port, _),
    ):
        engine = make_engine(db_url)
        try:
            org, token = _organizer(engine)
            deployment = _Deployment(
                db_url,
                stripe_api=stand_in.url,
                smtp_port=smtp_port,
                log_dir=Path(scratch),
                processes=args.processes,
                workers=args.workers,
            )
            with deployment:
                print(
                    f"API {deployment.api_url} ({args.processes} processes; {args.workers} "
                    f"workers), Stripe stand-in {stand_in.url}, {args.events} events per case",
                    flush=True,
                )
                with engine.connect() as conn:
                    since: datetime = conn.execute(sa.text("SELECT now()")).scalar_one()
                http = httpx.Client(
                    base_url=deployment.api_url,
                    headers={"Authorization": f"Bearer {token}"},
                    timeout=30.0,
                )
                try:
                    sale = {
                        name: _event(http, name, 1, OPEN_CAPACITY) for name in ("warmup", *segments)
                    }
                finally:
                    http.close()
                cpu = _Cpu(engine, deployment)
                for case_name, name, wait, n, cap in _plan(args, label):
                    event_id, (type_id,) = sale[case_name]
                    started = time.monotonic()
                    intents = _checkouts(
                        engine,
                        account,
                        org=org,
                        event_id=event_id,
                        type_id=type_id,
                        n=n,
                        prefix=name,
                    )
                    print(
                        f"{name:<10} set-up: {n} orders held in {time.monotonic() - started:.1f} s",
                        flush=True,
                    )
                    case = run_case(
                        name,
                        engine,
                        deployment,
                        account=account,
                        cpu=cpu,
                        intents=intents,
                        latency_ms=wait,
                        cap_s=cap,
                    )
                    _print_case(case)
                    if case_name != "warmup":
                        segments[case_name].append(case)
                account.latency_ms = 0
                figures["refund_events_posted"] = _refunds_back(engine, account, deployment)
                differences = finance_reports(
                    engine,
                    account.balance_transactions(),
                    Path(scratch) / "reports",
                    since=since,
                )
            outcomes = _outcomes(engine, account)
            bad, paid_intents = _charged_without_ticket(engine, account)
        finally:
            engine.dispose()
            stand_in.shutdown()
            stand_in.server_close()
    for name, parts in segments.items():
        case = combined(name, parts)
        key = "inbox_0" if case.latency_ms == 0 else "inbox_250"
        suffix = "0" if case.latency_ms == 0 else "250"
        figures[f"{key}_per_s"] = round(case.per_s, 2)
        figures[f"p50_ms_{suffix}"] = case.p50_ms
        figures[f"p99_ms_{suffix}"] = case.p99_ms
        figures[f"{key}_handled"] = case.handled
        figures[f"{key}_seconds"] = round(case.seconds, 2)
        figures[f"{key}_capped"] = case.capped
        figures[f"{key}_left"] = case.left
        figures[f"{key}_post_s"] = case.post_s
        figures[f"{key}_cpu_ms"] = case.cpu_ms
        figures[f"{key}_cpu_total_ms"] = round(sum(case.cpu_ms.values()), 2)
        figures[f"{key}_load"] = [round(x, 2) for x in case.load]
    slow, fast = figures.get("inbox_250_per_s", 0.0), figures.get("inbox_0_per_s", 0.0)
    figures["inbox_latency_ratio"] = round(slow / fast, 3) if fast else 0.0
    # Each round's ratio (its two segments ran back to back): how much the machine's other
    # work moved the figure between rounds.
    figures["inbox_latency_ratio_rounds"] = [
        round(b.per_s / a.per_s, 3) if a.per_s else None
        for a, b in zip(segments["inbox_0"], segments[f"inbox_{label}"], strict=True)
    ]
    figures["inbox_250_per_worker_per_s"] = round(slow / args.workers, 2) if args.workers else 0
    figures["dead"] = outcomes["inbox"].get("dead", 0)
    figures["inbox_statuses"] = outcomes["inbox"]
    figures["orders"] = outcomes["orders"]
    figures["refunded_paid"] = outcomes["refunded_paid"]
    figures["charged_without_ticket"] = bad
    figures["paid_intents"] = paid_intents
    figures["differences"] = differences
    print(
        f"ratios     inbox_latency_ratio {figures['inbox_latency_ratio']} "
        f"({slow} / {fast} events/s; {figures['inbox_250_per_worker_per_s']}/s per worker at "
        f"{label} ms; by round {figures['inbox_latency_ratio_rounds']}); "
        f"dead {figures['dead']}, refunded_paid {figures['refunded_paid']}, "
        f"charged without ticket {bad}, report differences {differences}",
        flush=True,
    )
    print(json.dumps(figures), flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
