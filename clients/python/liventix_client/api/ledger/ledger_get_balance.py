import datetime
from http import HTTPStatus
from typing import Any
from urllib.parse import quote
from uuid import UUID

import httpx

from ... import errors
from ...client import AuthenticatedClient, Client
from ...models.balance_response import BalanceResponse
from ...models.ledger_get_balance_by import LedgerGetBalanceBy
from ...models.problem import Problem
from ...types import UNSET, Response, Unset


def _get_kwargs(
    account_id: UUID,
    *,
    as_of: datetime.datetime | None | Unset = UNSET,
    by: LedgerGetBalanceBy | Unset = LedgerGetBalanceBy.RECORDED,
    effective_at: datetime.datetime | None | Unset = UNSET,
) -> dict[str, Any]:

    params: dict[str, Any] = {}

    json_as_of: None | str | Unset
    if isinstance(as_of, Unset):
        json_as_of = UNSET
    elif isinstance(as_of, datetime.datetime):
        json_as_of = as_of.isoformat()
    else:
        json_as_of = as_of
    params["as_of"] = json_as_of

    json_by: str | Unset = UNSET
    if not isinstance(by, Unset):
        json_by = by.value

    params["by"] = json_by

    json_effective_at: None | str | Unset
    if isinstance(effective_at, Unset):
        json_effective_at = UNSET
    elif isinstance(effective_at, datetime.datetime):
        json_effective_at = effective_at.isoformat()
    else:
        json_effective_at = effective_at
    params["effective_at"] = json_effective_at

    params = {k: v for k, v in params.items() if v is not UNSET and v is not None}

    _kwargs: dict[str, Any] = {
        "method": "get",
        "url": "/v1/accounts/{account_id}/balance".format(
            account_id=quote(str(account_id), safe=""),
        ),
        "params": params,
    }

    return _kwargs


def _parse_response(
    *, client: AuthenticatedClient | Client, response: httpx.Response
) -> BalanceResponse | Problem | None:
    if response.status_code == 200:
        response_200 = BalanceResponse.from_dict(response.json())

        return response_200

    if response.status_code == 400:
        response_400 = Problem.from_dict(response.json())

        return response_400

    if response.status_code == 401:
        response_401 = Problem.from_dict(response.json())

        return response_401

    if response.status_code == 404:
        response_404 = Problem.from_dict(response.json())

        return response_404

    if response.status_code == 409:
        response_409 = Problem.from_dict(response.json())

        return response_409

    if response.status_code == 422:
        response_422 = Problem.from_dict(response.json())

        return response_422

    if response.status_code == 503:
        response_503 = Problem.from_dict(response.json())

        return response_503

    if client.raise_on_unexpected_status:
        raise errors.UnexpectedStatus(response.status_code, response.content)
    else:
        return None


def _build_response(
    *, client: AuthenticatedClient | Client, response: httpx.Response
) -> Response[BalanceResponse | Problem]:
    return Response(
        status_code=HTTPStatus(response.status_code),
        content=response.content,
        headers=response.headers,
        parsed=_parse_response(client=client, response=response),
    )


def sync_detailed(
    account_id: UUID,
    *,
    client: AuthenticatedClient,
    as_of: datetime.datetime | None | Unset = UNSET,
    by: LedgerGetBalanceBy | Unset = LedgerGetBalanceBy.RECORDED,
    effective_at: datetime.datetime | None | Unset = UNSET,
) -> Response[BalanceResponse | Problem]:
    """Get Balance

     The account's posted, pending and available balances, now, as recorded by `as_of`, or
    with every line effective by `effective_at` (the same as `as_of` with `by=effective`).

    Args:
        account_id (UUID):
        as_of (datetime.datetime | None | Unset): Balance as of this moment (default: now)
        by (LedgerGetBalanceBy | Unset): `as_of` compares with the recording time, or the
            effective date Default: LedgerGetBalanceBy.RECORDED.
        effective_at (datetime.datetime | None | Unset): Balance with every line effective by this
            moment (backdated ones too)

    Raises:
        errors.UnexpectedStatus: If the server returns an undocumented status code and Client.raise_on_unexpected_status is True.
        httpx.TimeoutException: If the request takes longer than Client.timeout.

    Returns:
        Response[BalanceResponse | Problem]
    """

    kwargs = _get_kwargs(
        account_id=account_id,
        as_of=as_of,
        by=by,
        effective_at=effective_at,
    )

    response = client.get_httpx_client().request(
        **kwargs,
    )

    return _build_response(client=client, response=response)


def sync(
    account_id: UUID,
    *,
    client: AuthenticatedClient,
    as_of: datetime.datetime | None | Unset = UNSET,
    by: LedgerGetBalanceBy | Unset = LedgerGetBalanceBy.RECORDED,
    effective_at: datetime.datetime | None | Unset = UNSET,
) -> BalanceResponse | Problem | None:
    """Get Balance

     The account's posted, pending and available balances, now, as recorded by `as_of`, or
    with every line effective by `effective_at` (the same as `as_of` with `by=effective`).

    Args:
        account_id (UUID):
        as_of (datetime.datetime | None | Unset): Balance as of this moment (default: now)
        by (LedgerGetBalanceBy | Unset): `as_of` compares with the recording time, or the
            effective date Default: LedgerGetBalanceBy.RECORDED.
        effective_at (datetime.datetime | None | Unset): Balance with every line effective by this
            moment (backdated ones too)

    Raises:
        errors.UnexpectedStatus: If the server returns an undocumented status code and Client.raise_on_unexpected_status is True.
        httpx.TimeoutException: If the request takes longer than Client.timeout.

    Returns:
        BalanceResponse | Problem
    """

    return sync_detailed(
        account_id=account_id,
        client=client,
        as_of=as_of,
        by=by,
        effective_at=effective_at,
    ).parsed


async def asyncio_detailed(
    account_id: UUID,
    *,
    client: AuthenticatedClient,
    as_of: datetime.datetime | None | Unset = UNSET,
    by: LedgerGetBalanceBy | Unset = LedgerGetBalanceBy.RECORDED,
    effective_at: datetime.datetime | None | Unset = UNSET,
) -> Response[BalanceResponse | Problem]:
    """Get Balance

     The account's posted, pending and available balances, now, as recorded by `as_of`, or
    with every line effective by `effective_at` (the same as `as_of` with `by=effective`).

    Args:
        account_id (UUID):
        as_of (datetime.datetime | None | Unset): Balance as of this moment (default: now)
        by (LedgerGetBalanceBy | Unset): `as_of` compares with the recording time, or the
            effective date Default: LedgerGetBalanceBy.RECORDED.
        effective_at (datetime.datetime | None | Unset): Balance with every line effective by this
            moment (backdated ones too)

    Raises:
        errors.UnexpectedStatus: If the server returns an undocumented status code and Client.raise_on_unexpected_status is True.
        httpx.TimeoutException: If the request takes longer than Client.timeout.

    Returns:
        Response[BalanceResponse | Problem]
    """

    kwargs = _get_kwargs(
        account_id=account_id,
        as_of=as_of,
        by=by,
        effective_at=effective_at,
    )

    response = await client.get_async_httpx_client().request(**kwargs)

    return _build_response(client=client, response=response)


async def asyncio(
    account_id: UUID,
    *,
    client: AuthenticatedClient,
    as_of: datetime.datetime | None | Unset = UNSET,
    by: LedgerGetBalanceBy | Unset = LedgerGetBalanceBy.RECORDED,
    effective_at: datetime.datetime | None | Unset = UNSET,
) -> BalanceResponse | Problem | None:
    """Get Balance

     The account's posted, pending and available balances, now, as recorded by `as_of`, or
    with every line effective by `effective_at` (the same as `as_of` with `by=effective`).

    Args:
        account_id (UUID):
        as_of (datetime.datetime | None | Unset): Balance as of this moment (default: now)
        by (LedgerGetBalanceBy | Unset): `as_of` compares with the recording time, or the
            effective date Default: LedgerGetBalanceBy.RECORDED.
        effective_at (datetime.datetime | None | Unset): Balance with every line effective by this
            moment (backdated ones too)

    Raises:
        errors.UnexpectedStatus: If the server returns an undocumented status code and Client.raise_on_unexpected_status is True.
        httpx.TimeoutException: If the request takes longer than Client.timeout.

    Returns:
        BalanceResponse | Problem
    """

    return (
        await asyncio_detailed(
            account_id=account_id,
            client=client,
            as_of=as_of,
            by=by,
            effective_at=effective_at,
        )
    ).parsed
