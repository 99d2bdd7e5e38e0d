import datetime
from http import HTTPStatus
from typing import Any

import httpx

from ... import errors
from ...client import AuthenticatedClient, Client
from ...models.balance_sheet_report import BalanceSheetReport
from ...models.problem import Problem
from ...types import UNSET, Response, Unset


def _get_kwargs(
    *,
    as_of: datetime.datetime | None | Unset = UNSET,
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

    params = {k: v for k, v in params.items() if v is not UNSET and v is not None}

    _kwargs: dict[str, Any] = {
        "method": "get",
        "url": "/v1/reports/balance-sheet",
        "params": params,
    }

    return _kwargs


def _parse_response(
    *, client: AuthenticatedClient | Client, response: httpx.Response
) -> BalanceSheetReport | Problem | None:
    if response.status_code == 200:
        response_200 = BalanceSheetReport.from_dict(response.json())

        return response_200

    if response.status_code == 401:
        response_401 = Problem.from_dict(response.json())

        return response_401

    if response.status_code == 403:
        response_403 = Problem.from_dict(response.json())

        return response_403

    if response.status_code == 404:
        response_404 = Problem.from_dict(response.json())

        return response_404

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
) -> Response[BalanceSheetReport | Problem]:
    return Response(
        status_code=HTTPStatus(response.status_code),
        content=response.content,
        headers=response.headers,
        parsed=_parse_response(client=client, response=response),
    )


def sync_detailed(
    *,
    client: AuthenticatedClient,
    as_of: datetime.datetime | None | Unset = UNSET,
) -> Response[BalanceSheetReport | Problem]:
    """Balance Sheet Report

     The balance sheet by effective date (platform key): each account's balance, per owner
    and currency the sections and the owner's net; per currency, all owners together, assets
    beside liabilities + equity + retained earnings (a difference: a currency where they
    differ). The platform's alone: one organization's accounts do not balance on their own
    (the platform holds the cash whose liability sits on the organizers' accounts).

    Args:
        as_of (datetime.datetime | None | Unset): Balances from the lines effective by this moment
            (default: now)

    Raises:
        errors.UnexpectedStatus: If the server returns an undocumented status code and Client.raise_on_unexpected_status is True.
        httpx.TimeoutException: If the request takes longer than Client.timeout.

    Returns:
        Response[BalanceSheetReport | Problem]
    """

    kwargs = _get_kwargs(
        as_of=as_of,
    )

    response = client.get_httpx_client().request(
        **kwargs,
    )

    return _build_response(client=client, response=response)


def sync(
    *,
    client: AuthenticatedClient,
    as_of: datetime.datetime | None | Unset = UNSET,
) -> BalanceSheetReport | Problem | None:
    """Balance Sheet Report

     The balance sheet by effective date (platform key): each account's balance, per owner
    and currency the sections and the owner's net; per currency, all owners together, assets
    beside liabilities + equity + retained earnings (a difference: a currency where they
    differ). The platform's alone: one organization's accounts do not balance on their own
    (the platform holds the cash whose liability sits on the organizers' accounts).

    Args:
        as_of (datetime.datetime | None | Unset): Balances from the lines effective by this moment
            (default: now)

    Raises:
        errors.UnexpectedStatus: If the server returns an undocumented status code and Client.raise_on_unexpected_status is True.
        httpx.TimeoutException: If the request takes longer than Client.timeout.

    Returns:
        BalanceSheetReport | Problem
    """

    return sync_detailed(
        client=client,
        as_of=as_of,
    ).parsed


async def asyncio_detailed(
    *,
    client: AuthenticatedClient,
    as_of: datetime.datetime | None | Unset = UNSET,
) -> Response[BalanceSheetReport | Problem]:
    """Balance Sheet Report

     The balance sheet by effective date (platform key): each account's balance, per owner
    and currency the sections and the owner's net; per currency, all owners together, assets
    beside liabilities + equity + retained earnings (a difference: a currency where they
    differ). The platform's alone: one organization's accounts do not balance on their own
    (the platform holds the cash whose liability sits on the organizers' accounts).

    Args:
        as_of (datetime.datetime | None | Unset): Balances from the lines effective by this moment
            (default: now)

    Raises:
        errors.UnexpectedStatus: If the server returns an undocumented status code and Client.raise_on_unexpected_status is True.
        httpx.TimeoutException: If the request takes longer than Client.timeout.

    Returns:
        Response[BalanceSheetReport | Problem]
    """

    kwargs = _get_kwargs(
        as_of=as_of,
    )

    response = await client.get_async_httpx_client().request(**kwargs)

    return _build_response(client=client, response=response)


async def asyncio(
    *,
    client: AuthenticatedClient,
    as_of: datetime.datetime | None | Unset = UNSET,
) -> BalanceSheetReport | Problem | None:
    """Balance Sheet Report

     The balance sheet by effective date (platform key): each account's balance, per owner
    and currency the sections and the owner's net; per currency, all owners together, assets
    beside liabilities + equity + retained earnings (a difference: a currency where they
    differ). The platform's alone: one organization's accounts do not balance on their own
    (the platform holds the cash whose liability sits on the organizers' accounts).

    Args:
        as_of (datetime.datetime | None | Unset): Balances from the lines effective by this moment
            (default: now)

    Raises:
        errors.UnexpectedStatus: If the server returns an undocumented status code and Client.raise_on_unexpected_status is True.
        httpx.TimeoutException: If the request takes longer than Client.timeout.

    Returns:
        BalanceSheetReport | Problem
    """

    return (
        await asyncio_detailed(
            client=client,
            as_of=as_of,
        )
    ).parsed
