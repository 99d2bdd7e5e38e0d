"""Dry runs: every ledger write (post, reverse, batch, hold, post hold, void, settle) with
`dry_run=True` answers exactly what the real call would, and writes nothing.

A dry run makes the real call inside a SAVEPOINT on the caller's connection, then sets the
constraints immediate (`SET CONSTRAINTS ALL IMMEDIATE`) so the checks PostgreSQL defers to
COMMIT (the balance rule) judge it now, reads the balances of the accounts it touches, and
rolls back to the savepoint. Its answer (`DryRun`) is the result the call gave, or the typed
error it raised with its details (the shortfall of `InsufficientFunds`...), and those
balances: after the write when it succeeded, as they stand when it was refused. Nothing
stays: no entry, hold, key (the ledger's idempotency key is not consumed: a real call under
it afterwards is judged as if the dry run never happened), no outbox message. The ids of a
dry run's result are the ids the write would have had then; the real call made afterwards
gets new ones (a replay, the ids stored under its key). What a rolled-back savepoint cannot
give back is an identity value (`payments.lines.id`): lines posted later skip the numbers.

Without `dry_run`, each function is the write itself (`ledger.writes`, `ledger.batches`,
`ledger.settlements`); `ledger` exports these wrappers under the writes' names.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Generic, Literal, TypeVar, overload
from uuid import UUID

from sqlalchemy import Connection, text

from ledger import batches, reads, settlements, writes
from ledger.errors import AccountNotFound, EntryNotFound, HoldNotFound, LedgerError
from ledger.models import Balance, BatchResult, WriteResult
from ledger.requests import CreateHold, PostEntry, PostHold, ReverseEntry, VoidHold

T = TypeVar("T")


@dataclass(frozen=True)
class DryRun(Generic[T]):
    """What a write would do: its result or its typed error, and the balances of the
    accounts it touches (after it; unchanged when refused), in account id order."""

    result: T | None
    error: LedgerError | None
    balances: tuple[Balance, ...]

    @property
    def ok(self) -> bool:
        """Whether the write would succeed."""
        return self.error is None

    def unwrap(self) -> T:
        """The result, or raise the error the real call would raise."""
        if self.error is not None:
            raise self.error
        assert self.result is not None
        return self.result


def rehearse(conn: Connection, call: Callable[[], T], accounts: Iterable[UUID]) -> DryRun[T]:
    """Run `call` (a write on `conn`) as a dry run: in a savepoint rolled back after it, its
    deferred checks judged at once; `accounts` are the ones it touches."""
    wanted = sorted(set(accounts))
    savepoint = conn.begin_nested()
    try:
        try:
            result = call()
            with writes.translated_errors():
                conn.execute(text("SET CONSTRAINTS ALL IMMEDIATE"))
        except LedgerError as exc:
            savepoint.rollback()
            return DryRun(None, exc, _balances(conn, wanted))
        found = _balances(conn, wanted)
    finally:
        if savepoint.is_active:
            savepoint.rollback()
    return DryRun(result, None, found)


def _balances(conn: Connection, accounts: Sequence[UUID]) -> tuple[Balance, ...]:
    """The balances of the accounts the caller sees (others are left out)."""
    found = []
    for account in accounts:
        try:
            found.append(reads.balance(conn, account))
        except AccountNotFound:
            continue
    return tuple(found)


def _entry_accounts(conn: Connection, entry_id: UUID) -> list[UUID]:
    try:
        return [line.account_id for line in reads.get_entry(conn, entry_id).lines]
    except EntryNotFound:
        return []


def _hold_accounts(conn: Connection, hold_id: UUID) -> list[UUID]:
    try:
        hold = reads.get_hold(conn, hold_id)
    except HoldNotFound:
        return []
    return [hold.debit_account_id, hold.credit_account_id]


def touched_accounts(conn: Connection, request: object) -> list[UUID]:
    """The accounts a write request touches (through the entry or hold it names, too): those
    whose balances a dry run of it answers."""
    if isinstance(request, PostEntry):
        return [line.account_id for line in request.lines]
    if isinstance(request, ReverseEntry):
        return _entry_accounts(conn, request.entry_id)
    if isinstance(request, CreateHold):
        return [request.debit_account_id, request.credit_account_id]
    if isinstance(request, PostHold | VoidHold):
        return _hold_accounts(conn, request.hold_id)
    if isinstance(request, settlements.CreateSettlement):
        return [request.account_id]
    return []


def _all_touched(conn: Connection, requests: Sequence[object]) -> list[UUID]:
    found: list[UUID] = []
    for request in requests:
        found.extend(touched_accounts(conn, request))
    return found


# -- the writes, each with `dry_run` ----------------------------------------------------------


@overload
def post_entry(
    conn: Connection,
    org_id: UUID,
    request: PostEntry | ReverseEntry,
    *,
    dry_run: Literal[False] = False,
) -> WriteResult: ...
@overload
def post_entry(
    conn: Connection, org_id: UUID, request: PostEntry | ReverseEntry, *, dry_run: Literal[True]
) -> DryRun[WriteResult]: ...
@overload
def post_entry(
    conn: Connection, org_id: UUID, request: PostEntry | ReverseEntry, *, dry_run: bool
) -> WriteResult | DryRun[WriteResult]: ...
def post_entry(
    conn: Connection, org_id: UUID, request: PostEntry | ReverseEntry, *, dry_run: bool = False
) -> WriteResult | DryRun[WriteResult]:
    """Post one balanced entry (or a reversal); a refusal is remembered under its key.
    `dry_run`: answer what it would do, writing nothing (`DryRun`)."""
    if not dry_run:
        return writes.post_entry(conn, org_id, request)
    return rehearse(
        conn, lambda: writes.post_entry(conn, org_id, request), touched_accounts(conn, request)
    )


@overload
def reverse_entry(
    conn: Connection, org_id: UUID, request: ReverseEntry, *, dry_run: Literal[False] = False
) -> WriteResult: ...
@overload
def reverse_entry(
    conn: Connection, org_id: UUID, request: ReverseEntry, *, dry_run: Literal[True]
) -> DryRun[WriteResult]: ...
@overload
def reverse_entry(
    conn: Connection, org_id: UUID, request: ReverseEntry, *, dry_run: bool
) -> WriteResult | DryRun[WriteResult]: ...
def reverse_entry(
    conn: Connection, org_id: UUID, request: ReverseEntry, *, dry_run: bool = False
) -> WriteResult | DryRun[WriteResult]:
    """Reverse an entry once, by a new entry with the sides swapped that names it.
    `dry_run`: answer what it would do, writing nothing (`DryRun`)."""
    if not dry_run:
        return writes.reverse_entry(conn, org_id, request)
    return rehearse(
        conn, lambda: writes.reverse_entry(conn, org_id, request), touched_accounts(conn, request)
    )


@overload
def create_hold(
    conn: Connection, org_id: UUID, request: CreateHold, *, dry_run: Literal[False] = False
) -> WriteResult: ...
@overload
def create_hold(
    conn: Connection, org_id: UUID, request: CreateHold, *, dry_run: Literal[True]
) -> DryRun[WriteResult]: ...
@overload
def create_hold(
    conn: Connection, org_id: UUID, request: CreateHold, *, dry_run: bool
) -> WriteResult | DryRun[WriteResult]: ...
def create_hold(
    conn: Connection, org_id: UUID, request: CreateHold, *, dry_run: bool = False
) -> WriteResult | DryRun[WriteResult]:
    """Reserve an amount (pending) against the accounts' overdraft flags; returns the hold
    id. `dry_run`: answer what it would do, writing nothing (`DryRun`)."""
    if not dry_run:
        return writes.create_hold(conn, org_id, request)
    return rehearse(
        conn, lambda: writes.create_hold(conn, org_id, request), touched_accounts(conn, request)
    )


@overload
def post_hold(
    conn: Connection, org_id: UUID, request: PostHold, *, dry_run: Literal[False] = False
) -> WriteResult: ...
@overload
def post_hold(
    conn: Connection, org_id: UUID, request: PostHold, *, dry_run: Literal[True]
) -> DryRun[WriteResult]: ...
@overload
def post_hold(
    conn: Connection, org_id: UUID, request: PostHold, *, dry_run: bool
) -> WriteResult | DryRun[WriteResult]: ...
def post_hold(
    conn: Connection, org_id: UUID, request: PostHold, *, dry_run: bool = False
) -> WriteResult | DryRun[WriteResult]:
    """Post a hold in full or in part; returns the id of the entry it posted.
    `dry_run`: answer what it would do, writing nothing (`DryRun`)."""
    if not dry_run:
        return writes.post_hold(conn, org_id, request)
    return rehearse(
        conn, lambda: writes.post_hold(conn, org_id, request), touched_accounts(conn, request)
    )


@overload
def void_hold(
    conn: Connection, org_id: UUID, request: VoidHold, *, dry_run: Literal[False] = False
) -> WriteResult: ...
@overload
def void_hold(
    conn: Connection, org_id: UUID, request: VoidHold, *, dry_run: Literal[True]
) -> DryRun[WriteResult]: ...
@overload
def void_hold(
    conn: Connection, org_id: UUID, request: VoidHold, *, dry_run: bool
) -> WriteResult | DryRun[WriteResult]: ...
def void_hold(
    conn: Connection, org_id: UUID, request: VoidHold, *, dry_run: bool = False
) -> WriteResult | DryRun[WriteResult]:
    """Void a hold, releasing its amount; returns the hold id.
    `dry_run`: answer what it would do, writing nothing (`DryRun`)."""
    if not dry_run:
        return writes.void_hold(conn, org_id, request)
    return rehearse(
        conn, lambda: writes.void_hold(conn, org_id, request), touched_accounts(conn, request)
    )


@overload
def post_entries(
    conn: Connection,
    org_id: UUID,
    requests: Sequence[PostEntry | ReverseEntry],
    *,
    dry_run: Literal[False] = False,
) -> list[WriteResult]: ...
@overload
def post_entries(
    conn: Connection,
    org_id: UUID,
    requests: Sequence[PostEntry | ReverseEntry],
    *,
    dry_run: Literal[True],
) -> DryRun[list[WriteResult]]: ...
@overload
def post_entries(
    conn: Connection,
    org_id: UUID,
    requests: Sequence[PostEntry | ReverseEntry],
    *,
    dry_run: bool,
) -> list[WriteResult] | DryRun[list[WriteResult]]: ...
def post_entries(
    conn: Connection,
    org_id: UUID,
    requests: Sequence[PostEntry | ReverseEntry],
    *,
    dry_run: bool = False,
) -> list[WriteResult] | DryRun[list[WriteResult]]:
    """Post many entries atomically, in order: all are posted or none is.
    `dry_run`: answer what it would do, writing nothing (`DryRun`)."""
    if not dry_run:
        return batches.post_entries(conn, org_id, requests)
    return rehearse(
        conn,
        lambda: batches.post_entries(conn, org_id, requests),
        _all_touched(conn, requests),
    )


@overload
def post_batch(
    conn: Connection,
    org_id: UUID,
    requests: Sequence[PostEntry | ReverseEntry],
    *,
    links: Sequence[bool] | None = None,
    dry_run: Literal[False] = False,
) -> list[BatchResult]: ...
@overload
def post_batch(
    conn: Connection,
    org_id: UUID,
    requests: Sequence[PostEntry | ReverseEntry],
    *,
    links: Sequence[bool] | None = None,
    dry_run: Literal[True],
) -> DryRun[list[BatchResult]]: ...
@overload
def post_batch(
    conn: Connection,
    org_id: UUID,
    requests: Sequence[PostEntry | ReverseEntry],
    *,
    links: Sequence[bool] | None = None,
    dry_run: bool,
) -> list[BatchResult] | DryRun[list[BatchResult]]: ...
def post_batch(
    conn: Connection,
    org_id: UUID,
    requests: Sequence[PostEntry | ReverseEntry],
    *,
    links: Sequence[bool] | None = None,
    dry_run: bool = False,
) -> list[BatchResult] | DryRun[list[BatchResult]]:
    """Post many entries in one call, each standing alone unless linked; one result each
    (see `ledger.batches.post_batch`). `dry_run`: answer what it would do, writing nothing
    (`DryRun`: the per-entry results, and the balances after the entries that would post)."""
    if not dry_run:
        return batches.post_batch(conn, org_id, requests, links=links)
    return rehearse(
        conn,
        lambda: batches.post_batch(conn, org_id, requests, links=links),
        _all_touched(conn, requests),
    )


@overload
def create_settlement(
    conn: Connection,
    org_id: UUID,
    request: settlements.CreateSettlement,
    *,
    dry_run: Literal[False] = False,
) -> WriteResult: ...
@overload
def create_settlement(
    conn: Connection,
    org_id: UUID,
    request: settlements.CreateSettlement,
    *,
    dry_run: Literal[True],
) -> DryRun[WriteResult]: ...
@overload
def create_settlement(
    conn: Connection,
    org_id: UUID,
    request: settlements.CreateSettlement,
    *,
    dry_run: bool,
) -> WriteResult | DryRun[WriteResult]: ...
def create_settlement(
    conn: Connection,
    org_id: UUID,
    request: settlements.CreateSettlement,
    *,
    dry_run: bool = False,
) -> WriteResult | DryRun[WriteResult]:
    """Settle entries on an account (see `ledger.settlements`); returns the settlement's id.
    `dry_run`: answer what it would do, writing nothing (`DryRun`)."""
    if not dry_run:
        return settlements.create_settlement(conn, org_id, request)
    return rehearse(
        conn,
        lambda: settlements.create_settlement(conn, org_id, request),
        touched_accounts(conn, request),
    )
