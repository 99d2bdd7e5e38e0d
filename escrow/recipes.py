"""The chart of accounts and one posting recipe per business event (pure: no I/O).

Every recipe returns legs: (owner, account code, side, amount). The owner is the platform or
the organizer; codes are per currency (and per event for escrow accounts). Zero legs are
dropped. Each recipe balances by construction; docs/escrow.md shows them as a table.

Stripe's "separate charges and transfers": buyers pay the platform; the organizer's share is
held as an escrow liability per event until release, then moved to the organizer's payable and
transferred to their connected account.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from typing import Literal

from escrow.errors import InvalidAmount

Owner = Literal["platform", "organizer"]
Side = Literal["debit", "credit"]
Target = Literal["escrow", "receivable"]
Credited = Literal["escrow", "payable"]


@dataclass(frozen=True)
class AccountSpec:
    """One account of the chart: who owns it, its code, its type and flags."""

    owner: Owner
    code: str
    type: str
    high_volume: bool = False


@dataclass(frozen=True)
class Leg:
    """One line of a recipe before its account is resolved to an id."""

    account: AccountSpec
    side: Side
    amount: int

    @property
    def owner(self) -> Owner:
        """Whose account: the platform's or the organizer's."""
        return self.account.owner

    @property
    def code(self) -> str:
        """The account's code in the chart."""
        return self.account.code


def _cur(currency: str) -> str:
    return currency.lower()


# The platform's accounts, per currency. Those every payment's capture names are made once per
# currency (and event) and kept: an AccountSpec is frozen, so one object serves every caller.
@functools.lru_cache(maxsize=4096)
def stripe_balance(currency: str) -> AccountSpec:
    """The platform's balance at Stripe (asset; high volume: touched by every sale, so no
    posting locks it)."""
    return AccountSpec("platform", f"stripe_balance:{_cur(currency)}", "asset", high_volume=True)


@functools.lru_cache(maxsize=4096)
def platform_fees(currency: str) -> AccountSpec:
    """The platform's fee revenue (high volume: touched by every sale)."""
    return AccountSpec("platform", f"platform_fees:{_cur(currency)}", "revenue", high_volume=True)


@functools.lru_cache(maxsize=4096)
def stripe_fees(currency: str) -> AccountSpec:
    """Stripe's processing fees the platform bears (expense; high volume)."""
    return AccountSpec("platform", f"stripe_fees:{_cur(currency)}", "expense", high_volume=True)


def dispute_fees(currency: str) -> AccountSpec:
    """Stripe's dispute fees (expense)."""
    return AccountSpec("platform", f"dispute_fees:{_cur(currency)}", "expense")


def disputed_funds(currency: str) -> AccountSpec:
    """Funds Stripe withdrew for an open dispute, awaiting its outcome (asset)."""
    return AccountSpec("platform", f"disputed_funds:{_cur(currency)}", "asset")


def bank(currency: str) -> AccountSpec:
    """The platform's bank account, where payouts land (asset)."""
    return AccountSpec("platform", f"bank:{_cur(currency)}", "asset")


# The organizer's accounts.
@functools.lru_cache(maxsize=4096)
def escrow_account(event_id: str, currency: str) -> AccountSpec:
    """What the platform holds for the organizer for one event (liability)."""
    return AccountSpec("organizer", f"escrow:{event_id}:{_cur(currency)}", "liability")


@functools.lru_cache(maxsize=4096)
def payable(currency: str) -> AccountSpec:
    """Released to the organizer, not yet transferred (liability)."""
    return AccountSpec("organizer", f"payable:{_cur(currency)}", "liability")


def receivable(currency: str) -> AccountSpec:
    """What the organizer owes after a refund or chargeback past release (asset)."""
    return AccountSpec("organizer", f"receivable:{_cur(currency)}", "asset")


def _leg(spec: AccountSpec, side: Side, amount: int) -> Leg:
    return Leg(spec, side, amount)


def _positive(*amounts: int) -> None:
    for a in amounts:
        if type(a) is not int or a < 0:
            raise InvalidAmount(value=a)


def _legs(*legs: Leg) -> tuple[Leg, ...]:
    kept = tuple(leg for leg in legs if leg.amount > 0)
    debits = sum(leg.amount for leg in kept if leg.side == "debit")
    credits = sum(leg.amount for leg in kept if leg.side == "credit")
    if debits != credits:  # a recipe bug, never a caller's
        raise AssertionError(f"recipe does not balance: {debits} != {credits}")
    return kept


def platform_fee(gross: int, fee_bps: int, fee_fixed: int) -> int:
    """The platform's fee on a payment: basis points plus a fixed part, never above gross."""
    _positive(gross, fee_bps, fee_fixed)
    return min(gross, gross * fee_bps // 10_000 + fee_fixed)


def organizer_share(gross: int, platform: int, stripe: int, bears_stripe_fees: bool) -> int:
    """What the organizer's escrow receives from one payment."""
    return gross - platform - (stripe if bears_stripe_fees else 0)


def capture(
    event_id: str,
    currency: str,
    *,
    gross: int,
    platform: int,
    stripe: int,
    bears_stripe_fees: bool,
    to: Credited = "escrow",
) -> tuple[Leg, ...]:
    """Payment captured: the net to the Stripe balance, Stripe's fee to expense (or borne by
    the organizer), the platform's fee to revenue, the organizer's share to escrow (or, for a
    payment that arrives after the release, straight to the organizer's payable)."""
    _positive(gross, platform, stripe)
    share = organizer_share(gross, platform, stripe, bears_stripe_fees)
    if share < 0 or stripe > gross:
        raise InvalidAmount(value=share)
    credited = escrow_account(event_id, currency) if to == "escrow" else payable(currency)
    return _legs(
        _leg(stripe_balance(currency), "debit", gross - stripe),
        _leg(stripe_fees(currency), "debit", 0 if bears_stripe_fees else stripe),
        _leg(credited, "credit", share),
        _leg(platform_fees(currency), "credit", platform),
    )


def capture_accounts(event_id: str, currency: str) -> tuple[AccountSpec, ...]:
    """Every account `capture` to the escrow may post to, whatever the policy."""
    return (
        stripe_balance(currency),
        stripe_fees(currency),
        escrow_account(event_id, currency),
        platform_fees(currency),
    )


def refund_fee_back(refund: int, gross: int, platform: int, return_fee: bool) -> int:
    """The part of the platform's fee a refund gives back: proportional, rounded down, so
    each refund's share depends on that refund alone (any order gives the same entries)."""
    return platform * refund // gross if return_fee else 0


def refund(
    event_id: str,
    currency: str,
    amount: int,
    fee_back: int,
    target: Target,
) -> tuple[Leg, ...]:
    """Refund: the buyer's money leaves the Stripe balance; the platform's fee comes back
    from revenue per policy; the rest is charged to the escrow (or, after release, to the
    organizer's receivable). Stripe keeps its fee."""
    _positive(amount, fee_back)
    charged = escrow_account(event_id, currency) if target == "escrow" else receivable(currency)
    return _legs(
        _leg(charged, "debit", amount - fee_back),
        _leg(platform_fees(currency), "debit", fee_back),
        _leg(stripe_balance(currency), "credit", amount),
    )


def refund_returned(currency: str, amount: int, fee_back: int) -> tuple[Leg, ...]:
    """A refund charged to the escrow failed after the escrow was released: the money comes
    back to the Stripe balance and is the organizer's again, on their payable."""
    _positive(amount, fee_back)
    return _legs(
        _leg(stripe_balance(currency), "debit", amount),
        _leg(payable(currency), "credit", amount - fee_back),
        _leg(platform_fees(currency), "credit", fee_back),
    )


def dispute_withdrawn(currency: str, amount: int, fee: int) -> tuple[Leg, ...]:
    """Dispute opened: Stripe withdraws the amount and its dispute fee from the balance."""
    _positive(amount, fee)
    return _legs(
        _leg(disputed_funds(currency), "debit", amount),
        _leg(dispute_fees(currency), "debit", fee),
        _leg(stripe_balance(currency), "credit", amount + fee),
    )


def dispute_reinstated(currency: str, amount: int, fee_returned: int) -> tuple[Leg, ...]:
    """Dispute won: Stripe reinstates the funds (and the fee, when it returns it)."""
    _positive(amount, fee_returned)
    return _legs(
        _leg(stripe_balance(currency), "debit", amount + fee_returned),
        _leg(disputed_funds(currency), "credit", amount),
        _leg(dispute_fees(currency), "credit", fee_returned),
    )


def dispute_lost(event_id: str, currency: str, amount: int, target: Target) -> tuple[Leg, ...]:
    """Dispute lost: the withdrawn amount is charged to the organizer's escrow while it
    holds the event's money, otherwise to a receivable from the organizer."""
    _positive(amount)
    charged = escrow_account(event_id, currency) if target == "escrow" else receivable(currency)
    return _legs(_leg(charged, "debit", amount), _leg(disputed_funds(currency), "credit", amount))


def release(event_id: str, currency: str, held: int) -> tuple[Leg, ...]:
    """Release (or the close of a cancelled event): the escrow's balance moves to the
    organizer's payable; a negative balance (refunds beyond the event's share: fees the
    organizer bears, a kept platform fee, sub-cent rounding of returned fees) becomes a
    receivable from the organizer."""
    escrow = escrow_account(event_id, currency)
    if held >= 0:
        return _legs(_leg(escrow, "debit", held), _leg(payable(currency), "credit", held))
    return _legs(_leg(receivable(currency), "debit", -held), _leg(escrow, "credit", -held))


def transfer(currency: str, amount: int) -> tuple[Leg, ...]:
    """Transfer to the organizer's connected account: payable paid from the Stripe balance."""
    _positive(amount)
    return _legs(
        _leg(payable(currency), "debit", amount), _leg(stripe_balance(currency), "credit", amount)
    )


def net_receivable(currency: str, amount: int) -> tuple[Leg, ...]:
    """What the organizer owes (its receivable) netted against what is released to it (its
    payable): the next transfer is that much smaller."""
    _positive(amount)
    return _legs(
        _leg(payable(currency), "debit", amount), _leg(receivable(currency), "credit", amount)
    )


def transfer_reversal(currency: str, amount: int) -> tuple[Leg, ...]:
    """Transfer reversed (a clawback): money back to the Stripe balance, settling what the
    organizer owes."""
    _positive(amount)
    return _legs(
        _leg(stripe_balance(currency), "debit", amount),
        _leg(receivable(currency), "credit", amount),
    )


def payout_paid(currency: str, amount: int) -> tuple[Leg, ...]:
    """The platform's payout reached its bank."""
    _positive(amount)
    return _legs(
        _leg(bank(currency), "debit", amount), _leg(stripe_balance(currency), "credit", amount)
    )


def payout_failed(currency: str, amount: int) -> tuple[Leg, ...]:
    """A paid payout came back: the money returns to the Stripe balance."""
    _positive(amount)
    return _legs(
        _leg(stripe_balance(currency), "debit", amount), _leg(bank(currency), "credit", amount)
    )


CHART: tuple[tuple[str, str], ...] = (
    ("stripe_balance:{cur}", "platform, asset (high volume): the platform's balance at Stripe"),
    ("platform_fees:{cur}", "platform, revenue (high volume): the platform's fees"),
    ("stripe_fees:{cur}", "platform, expense (high volume): Stripe's processing fees"),
    ("dispute_fees:{cur}", "platform, expense: Stripe's dispute fees"),
    ("disputed_funds:{cur}", "platform, asset: funds withdrawn for open disputes"),
    ("bank:{cur}", "platform, asset: the platform's bank, where payouts land"),
    ("escrow:{event}:{cur}", "organizer, liability: held for the organizer for one event"),
    ("payable:{cur}", "organizer, liability: released, not yet transferred"),
    ("receivable:{cur}", "organizer, asset: owed by the organizer after release"),
)
"""The chart of accounts, as documented."""
