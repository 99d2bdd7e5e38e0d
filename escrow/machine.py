"""The escrow lifecycle as a state machine (pure: no I/O).

An escrow holds one organizer's revenue for one event, in one currency. It collects sales
until the event ends, then holds them for the hold period; it becomes releasable when that
has passed and no dispute is open; a release is requested (the ledger moves the money to the
organizer's payable and the transfer is asked of Stripe) and completes when Stripe reports
the transfer. An open dispute freezes it. A cancelled event ends it once everything is
refunded. States carry explicit stored values; guards read the escrow's row.
"""

from __future__ import annotations

from statemachine import State, StateMachine


class EscrowMachine(StateMachine):
    """Collecting, holding, releasable, release requested, released; frozen; cancelled."""

    collecting = State("Collecting sales", initial=True, value="collecting")
    holding = State("Holding after the event", value="holding")
    releasable = State("Releasable", value="releasable")
    release_requested = State("Release requested", value="release_requested")
    released = State("Released", final=True, value="released")
    frozen = State("Frozen by a dispute", value="frozen")
    cancelled = State("Cancelled, refunded", final=True, value="cancelled")

    # Money in and out while the escrow holds it: the state does not change.
    capture = (
        collecting.to.itself(internal=True)
        | holding.to.itself(internal=True)
        | frozen.to.itself(internal=True)
        | releasable.to.itself(internal=True)
    )
    # Refunds and lost disputes charged to the escrow (after release, they are charged to
    # the organizer's receivable instead, and the machine is not involved).
    refund = (
        collecting.to.itself(internal=True)
        | holding.to.itself(internal=True)
        | releasable.to.itself(internal=True)
        | frozen.to.itself(internal=True)
    )

    event_ended = collecting.to(holding)
    hold_elapsed = holding.to(releasable, cond="no_open_dispute")

    dispute_opened = (
        collecting.to(frozen)
        | holding.to(frozen)
        | releasable.to(frozen)
        | frozen.to.itself(internal=True)
    )
    dispute_closed = (
        frozen.to.itself(internal=True, cond="other_disputes_open")
        | frozen.to(collecting, cond="event_not_ended")
        | frozen.to(holding, cond="event_has_ended")
    )

    request_release = releasable.to(release_requested)
    transfer_paid = release_requested.to(released)

    # Everything refunded: nothing positive is left (a shortfall becomes a receivable).
    cancel = (
        collecting.to(cancelled, cond="nothing_held")
        | holding.to(cancelled, cond="nothing_held")
        | releasable.to(cancelled, cond="nothing_held")
    )


HOLDING_STATES: frozenset[str] = frozenset({"collecting", "holding", "releasable", "frozen"})
"""States in which the escrow account still holds the event's money."""

STATES: tuple[str, ...] = tuple(str(s.value) for s in EscrowMachine.states)
FINAL_STATES: frozenset[str] = frozenset(str(s.value) for s in EscrowMachine.final_states)


def diagram() -> str:
    """The machine as a Mermaid state diagram, generated from the code."""
    return format(EscrowMachine, "mermaid")
