"""The ledger over HTTP: accounts, entries, balances, statements, the trial balance; the
holds' routes (`holds.py`) join this module's router, which the application serves.

Writes act for the key's organization (the platform organization for the platform's key) and
carry the request's Idempotency-Key into the ledger's own idempotency (prefixed `api:`).
"""

from __future__ import annotations

import functools
import uuid
from typing import Annotated, Literal

from fastapi import Query
from starlette.responses import Response

import ledger
from liventix.api import problems
from liventix.api.ledger import batch as ledger_batch
from liventix.api.ledger import holds, queries, views
from liventix.api.ledger import schemas as m
from liventix.api.ledger.read_side import EntryFilter
from liventix.api.pages import DEFAULT_LIMIT, Limit, StartingAfter, bad_filter
from liventix.api.problems import ApiProblem
from liventix.api.routing import WRITE, authenticated_router
from liventix.api.schemas import Timestamp
from liventix.api.unit_of_work import Uow

router = authenticated_router(["ledger"])

_write = functools.partial(views.write_route, router)

MetadataKey = Annotated[
    str | None,
    Query(min_length=1, max_length=40, description="Only entries whose metadata has this key"),
]
MetadataValue = Annotated[
    str | None,
    Query(
        max_length=500,
        description="With `metadata_key`: only entries whose value under it is this (a "
        "string as itself, another value as its JSON: `42`, `true`)",
    ),
]


# -- accounts -------------------------------------------------------------------------------


@router.post("/accounts", status_code=201, dependencies=WRITE)
def open_account(body: m.OpenAccountRequest, uow: Uow) -> m.AccountResponse:
    """Open an account for the key's organization."""
    with uow:
        result = ledger.open_account(
            uow.conn,
            uow.acting_org(),
            ledger.OpenAccount(
                idempotency_key=uow.domain_key(),
                code=body.code,
                type=body.type,
                currency=body.currency,
                name=body.name,
                debits_must_not_exceed_credits=body.debits_must_not_exceed_credits,
                credits_must_not_exceed_debits=body.credits_must_not_exceed_debits,
                high_volume=body.high_volume,
                metadata=body.metadata,
            ),
        )
        answer = views.account(ledger.get_account(uow.conn, result.id))
        return uow.commit(answer, location=f"/v1/accounts/{answer.id}")


@router.get("/accounts")
def list_accounts(
    uow: Uow,
    code: Annotated[
        str | None, Query(min_length=1, max_length=255, description="Only the account(s) with it")
    ] = None,
    starting_after: StartingAfter = None,
    limit: Limit = DEFAULT_LIMIT,
) -> m.AccountList:
    """The accounts this key can see, oldest first."""
    with uow:
        found, more = queries.list_accounts(uow.conn, uow.org_id, code, starting_after, limit)
        return m.AccountList(data=[views.account(a) for a in found], has_more=more)


@router.get("/accounts/{account_id:uuid}")
def get_account(account_id: uuid.UUID, uow: Uow) -> m.AccountResponse:
    """One account and its balance now."""
    with uow:
        return views.account(ledger.get_account(uow.conn, account_id))


@router.post("/accounts/{account_id:uuid}/close", dependencies=WRITE)
def close_account(account_id: uuid.UUID, uow: Uow) -> m.AccountResponse:
    """Close an account: it takes no more postings or holds."""
    with uow:
        ledger.close_account(
            uow.conn,
            uow.acting_org(),
            ledger.CloseAccount(idempotency_key=uow.domain_key(), account_id=account_id),
        )
        return uow.commit(views.account(ledger.get_account(uow.conn, account_id)))


@router.get("/accounts/{account_id:uuid}/balance")
def get_balance(
    account_id: uuid.UUID,
    uow: Uow,
    as_of: Annotated[
        Timestamp | None, Query(description="Balance as of this moment (default: now)")
    ] = None,
    by: Annotated[
        Literal["recorded", "effective"],
        Query(description="`as_of` compares with the recording time, or the effective date"),
    ] = "recorded",
    effective_at: Annotated[
        Timestamp | None,
        Query(description="Balance with every line effective by this moment (backdated ones too)"),
    ] = None,
) -> m.BalanceResponse:
    """The account's posted, pending and available balances, now, as recorded by `as_of`, or
    with every line effective by `effective_at` (the same as `as_of` with `by=effective`)."""
    with uow:
        if effective_at is not None:
            if as_of is not None:
                raise ApiProblem(
                    problems.VALIDATION,
                    "query: give as_of or effective_at, not both",
                    field="query.effective_at",
                )
            as_of, by = effective_at, "effective"
        if as_of is None:
            return views.balance(ledger.balance(uow.conn, account_id))
        found = ledger.balance_as_of(uow.conn, account_id, as_of, by=by)
        return views.balance(found, as_of=as_of, by=by)


@router.get("/accounts/{account_id:uuid}/statement")
def get_statement(
    account_id: uuid.UUID,
    uow: Uow,
    starting_after: Annotated[
        int | None,
        # The ledger computes after + 1 in bigint: the top value would overflow.
        Query(
            ge=0,
            le=ledger.MAX_AMOUNT - 1,
            description="the `line_id` of the last line of the previous page",
        ),
    ] = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
) -> m.StatementResponse:
    """A page of the account's lines in posting order, each with the balance after it;
    `has_more` when another page follows (ask for it with `starting_after`)."""
    with uow:
        # One line more than asked tells whether another page follows.
        page = ledger.statement(uow.conn, account_id, after=starting_after, limit=limit + 1)
        return views.statement(page, limit)


# -- entries --------------------------------------------------------------------------------


@_write("/entries", m.EntryResponse, created=True)
def post_entry(body: m.PostEntryRequest, uow: Uow) -> m.EntryResponse | Response:
    """Post a balanced entry (two or more lines; debits equal credits per currency)."""
    with uow:
        request = body.to_ledger(views.write_key(uow))

        def write() -> tuple[ledger.WriteResult, m.EntryResponse]:
            result = ledger.post_entry(uow.conn, uow.acting_org(), request)
            return result, views.entry(ledger.get_entry(uow.conn, result.id))

        if views.dry_run_asked(uow):
            accounts = ledger.touched_accounts(uow.conn, request)
            return views.dry_run_answer(uow, lambda: write()[1], accounts, 201)
        result, answer = write()
        if not result.replayed:
            uow.posted("entry")
        return uow.commit(answer, location=f"/v1/entries/{answer.id}")


@_write("/entries/batch", ledger_batch.EntryBatchResponse | m.DryRunResponse)
def post_entry_batch(
    body: ledger_batch.EntryBatchRequest, uow: Uow
) -> ledger_batch.EntryBatchResponse | Response:
    """Post many entries, each on its own unless linked to the next; one result per entry
    (posted, replayed, or refused with the problem `POST /entries` would give)."""
    with uow:
        requests = ledger_batch.to_requests(body, views.write_key(uow))
        links = [entry.linked for entry in body.entries]

        def write() -> tuple[list[ledger.BatchResult], ledger_batch.EntryBatchResponse]:
            results = ledger.post_batch(uow.conn, uow.acting_org(), requests, links=links)
            answer = [ledger_batch.item_response(r) for r in results]
            return results, ledger_batch.EntryBatchResponse(results=answer)

        if views.dry_run_asked(uow):
            accounts = [a for r in requests for a in ledger.touched_accounts(uow.conn, r)]
            return views.dry_run_answer(uow, lambda: write()[1], accounts, 200)
        results, answer = write()
        posted = sum(1 for r in results if r.status == "posted")
        for _ in range(posted):
            uow.posted("entry")
        return uow.commit(answer)


@router.get("/entries")
def list_entries(
    uow: Uow,
    *,
    account_id: Annotated[uuid.UUID | None, Query(description="Only entries touching it")] = None,
    effective_gte: Annotated[
        Timestamp | None,
        Query(alias="effective_at[gte]", description="Only entries effective at or after it"),
    ] = None,
    effective_lt: Annotated[
        Timestamp | None,
        Query(alias="effective_at[lt]", description="Only entries effective before it"),
    ] = None,
    external_ref: Annotated[
        str | None, Query(min_length=1, max_length=255, description="Only the entry with it")
    ] = None,
    metadata_key: MetadataKey = None,
    metadata_value: MetadataValue = None,
    starting_after: StartingAfter = None,
    limit: Limit = DEFAULT_LIMIT,
) -> m.EntryList:
    """The entries this key can see, oldest first (by recording), filtered by the account
    they touch, their effective date (`effective_at[gte]` <= effective_at <
    `effective_at[lt]`), their external reference and a metadata key (and value)."""
    with uow:
        if metadata_value is not None and metadata_key is None:
            raise bad_filter("metadata_value", "give metadata_key with it")
        if effective_gte is not None and effective_lt is not None and effective_lt <= effective_gte:
            raise bad_filter("effective_at[lt]", "must be later than effective_at[gte]")
        f = EntryFilter(
            account_id=account_id,
            effective_gte=effective_gte,
            effective_lt=effective_lt,
            external_ref=external_ref,
            metadata_key=metadata_key,
            metadata_value=metadata_value,
        )
        found, more = queries.list_entries(uow.conn, uow.org_id, f, starting_after, limit)
        return m.EntryList(data=[views.entry(e) for e in found], has_more=more)


@router.get("/entries/{entry_id:uuid}")
def get_entry(entry_id: uuid.UUID, uow: Uow) -> m.EntryResponse:
    """One entry and its lines."""
    with uow:
        return views.entry(ledger.get_entry(uow.conn, entry_id))


@_write("/entries/{entry_id:uuid}/reverse", m.EntryResponse, created=True)
def reverse_entry(
    entry_id: uuid.UUID, body: m.ReverseEntryRequest, uow: Uow
) -> m.EntryResponse | Response:
    """Reverse an entry once: a new entry with the sides swapped that names it."""
    with uow:
        request = ledger.ReverseEntry(
            idempotency_key=views.write_key(uow),
            entry_id=entry_id,
            description=body.description,
            metadata=body.metadata,
            effective_at=body.effective_at,
        )

        def write() -> tuple[ledger.WriteResult, m.EntryResponse]:
            ledger.get_entry(uow.conn, entry_id)  # 404 before anything, for an entry not visible
            result = ledger.reverse_entry(uow.conn, uow.acting_org(), request)
            return result, views.entry(ledger.get_entry(uow.conn, result.id))

        if views.dry_run_asked(uow):
            accounts = ledger.touched_accounts(uow.conn, request)
            return views.dry_run_answer(uow, lambda: write()[1], accounts, 201)
        result, answer = write()
        if not result.replayed:
            uow.posted("reversal")
        return uow.commit(answer, location=f"/v1/entries/{answer.id}")


# -- the trial balance ----------------------------------------------------------------------


@router.get("/trial-balance")
def trial_balance(uow: Uow) -> m.TrialBalanceResponse:
    """Each account's posted balance per currency, from the entries booked for the key's
    organization (every organization's, for the platform's key)."""
    with uow:
        return views.trial_balance(ledger.trial_balance(uow.conn, uow.org_id))


# The holds' routes, served with these (the application serves this module's router).
router.routes.extend(holds.router.routes)
