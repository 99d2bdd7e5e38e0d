"""A release racing a refund on the same escrow, from two OS processes.

Two spawned processes, each with its own engine on the test's database, meet at a barrier
and then, one releasing what is due (the worker's `release_due`) and one booking a refund,
commit at the same moment on a fresh escrow, round after round. Whatever the interleaving,
exactly one order wins: either the refund is charged to the escrow and the release moves what
is left, or the release moves everything and the refund is charged to the organizer's
receivable. The ledger stays balanced, the escrow's counters equal the ledger's balances, and
nothing released was refunded.
"""

from __future__ import annotations

import multiprocessing
import queue
import random
import time
import uuid
from dataclasses import dataclass
from datetime import timedelta
from multiprocessing.process import BaseProcess
from multiprocessing.synchronize import Barrier
from typing import Any

import sqlalchemy as sa
from sqlalchemy.pool import NullPool

import escrow
import ledger
from liventix.database import make_engine
from tests.escrow_core.support import (
    audit,
    captured,
    escrow_of,
    liability,
    net_by_code,
    new_organizer,
    past,
)

ROUNDS = 6
GROSS, STRIPE_FEE, PLATFORM_FEE = 10_000, 320, 500
SHARE = GROSS - PLATFORM_FEE  # the organizer's share of the payment: 9,500
REFUND = 3_000
FEE_BACK = PLATFORM_FEE * REFUND // GROSS  # 150
CHARGED = REFUND - FEE_BACK  # what the refund takes from the organizer: 2,850
TIMEOUT = 60.0


@dataclass(frozen=True)
class Job:
    """One round for one racer."""

    round: int
    escrow_id: str
    payment_id: str
    refund_id: str
    delay: float


def _racer(
    role: str, url: str, jobs: Any, results: Any, barrier: Barrier
) -> None:  # pragma: no cover - runs in the spawned processes
    """Release what is due, or refund, once per job, starting with the other racer."""
    engine = make_engine(url, poolclass=NullPool)
    try:
        while True:
            job: Job | None = jobs.get(timeout=TIMEOUT)
            if job is None:
                return
            barrier.wait(timeout=TIMEOUT)
            # A little jitter so both orders (and both lock waits) come up over the rounds.
            time.sleep(job.delay)
            try:
                with engine.begin() as conn:
                    if role == "release":
                        steps = escrow.release_due(conn)
                        outcome = [state for e, state in steps if str(e) == job.escrow_id]
                    else:
                        escrow.refund_payment(
                            conn, job.refund_id, job.payment_id, REFUND, failed=False, cause="race"
                        )
                        outcome = ["refunded"]
                results.put((role, job.round, "ok", outcome))
            except Exception as exc:
                results.put((role, job.round, "error", repr(exc)))
    finally:
        engine.dispose()


def _setup_round(engine: sa.Engine) -> tuple[uuid.UUID, escrow.CapturedPayment]:
    """A fresh organizer whose event is over and whose hold period (0) has passed."""
    with engine.begin() as conn:
        org = new_organizer(
            conn, escrow.Policy(hold_period=timedelta(0), connected_account="acct_race")
        )
        payment = captured(org, gross=GROSS, stripe_fee=STRIPE_FEE, ends=past())
        escrow.capture_payment(conn, payment, cause="setup")
        escrow_id = escrow_of(conn, payment).id
        escrow.end_event(conn, escrow_id)
    return escrow_id, payment


def _check_round(engine: sa.Engine, escrow_id: uuid.UUID, refund_id: str) -> str:
    """Check the books after a round; return which order won."""
    with engine.begin() as conn:
        # A release skipped because the refund held the escrow (SKIP LOCKED) happens now.
        escrow.release_due(conn)
    with engine.connect() as conn:
        e = escrow.get_escrow(conn, escrow_id)
        refund = conn.execute(
            sa.text(
                "SELECT amount, fee_back, charged_to FROM payments.card_refunds WHERE id = :id"
            ),
            {"id": refund_id},
        ).one()
        trail = [event for _, _, event in audit(conn, escrow_id)]
        net = net_by_code(conn, e.org_id)

        assert ledger.trial_balance(conn).balanced
        assert ledger.trial_balance(conn, e.org_id).balanced
        assert e.state == "release_requested"
        # The escrow's counters are the ledger's balances.
        assert e.held == escrow.ledger_escrow_balance(conn, e) == 0
        assert e.released == liability(conn, e.org_id, "payable:usd")
        # Nothing released was refunded: what the refund took from the escrow and what was
        # released together are the organizer's share, never more.
        from_escrow = (refund.amount - refund.fee_back) if refund.charged_to == "escrow" else 0
        assert e.released + from_escrow == SHARE
        assert trail.count("request_release") == 1
        assert refund.fee_back == FEE_BACK

        if refund.charged_to == "escrow":
            # The refund came first: charged to the escrow, the release moved what was left.
            assert trail.index("refund") < trail.index("request_release")
            assert (e.refunded, e.released) == (REFUND, SHARE - CHARGED)
            assert "receivable:usd" not in net
            return "refund first"
        # The release came first: it moved the whole share; the refund is owed by the
        # organizer.
        assert refund.charged_to == "receivable"
        assert "refund" not in trail
        assert (e.refunded, e.released) == (0, SHARE)
        assert net["receivable:usd"] == CHARGED
        return "release first"


def test_release_racing_a_refund_from_two_processes(engine: sa.Engine, db_url: str) -> None:
    ctx = multiprocessing.get_context("spawn")
    barrier = ctx.Barrier(2)
    results: Any = ctx.Queue()
    jobs: dict[str, Any] = {"release": ctx.Queue(), "refund": ctx.Queue()}
    racers: list[BaseProcess] = [
        ctx.Process(target=_racer, args=(role, db_url, jobs[role], results, barrier), daemon=True)
        for role in jobs
    ]
    for p in racers:
        p.start()
    rng = random.Random(4)
    orders: list[str] = []
    try:
        for n in range(ROUNDS):
            escrow_id, payment = _setup_round(engine)
            refund_id = f"re_race_{n}_{uuid.uuid4().hex[:8]}"
            for role, q in jobs.items():
                late = (n % 2 == 0) == (role == "refund")
                delay = rng.uniform(0, 0.01) if late else 0.0
                q.put(Job(n, str(escrow_id), payment.payment_id, refund_id, delay))
            got: dict[str, Any] = {}
            for _ in jobs:
                try:
                    role, round_, status, outcome = results.get(timeout=TIMEOUT)
                except queue.Empty:
                    raise AssertionError(f"round {n}: a racer did not answer") from None
                assert (round_, status) == (n, "ok"), (role, round_, status, outcome)
                got[role] = outcome
            assert got["refund"] == ["refunded"]
            # The release either took the escrow all the way or skipped it (locked by the
            # refund, SKIP LOCKED), never half.
            assert got["release"] in ([], ["releasable", "release_requested"]), got
            orders.append(_check_round(engine, escrow_id, refund_id))
        for q in jobs.values():
            q.put(None)
        for p in racers:
            p.join(timeout=TIMEOUT)
            assert p.exitcode == 0
    finally:
        for p in racers:
            if p.is_alive():
                p.terminate()
                p.join(timeout=5)
    assert len(orders) == ROUNDS
    print("orders that won:", {o: orders.count(o) for o in set(orders)})
