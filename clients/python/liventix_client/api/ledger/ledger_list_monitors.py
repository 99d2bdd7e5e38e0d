from http import HTTPStatus
from typing import Any
from uuid import UUID

import httpx

from ... import errors
from ...client import AuthenticatedClient, Client
from ...models.monitor_list import MonitorList
from ...models.problem import Problem
from ...types import UNSET, Response, Unset


def _get_kwargs(
    *,
    account_id: None | Unset | UUID = UNSET,
    starting_after: None | Unset | UUID = UNSET,
    limit: int | Unset = 50,
) -> dict[str, Any]:

    params: dict[str, Any] = {}

    json_account_id: None | str | Unset
    if isinstance(account_id, Unset):
        json_account_id = UNSET
    elif isinstance(account_id, UUID):
        json_account_id = str(account_id)
    else:
        json_account_id = account_id
    params["account_id"] = json_account_id

    json_starting_after: None | str | Unset
    if isinstance(starting_after, Unset):
        json_starting_after = UNSET
    elif isinstance(starting_after, UUID):
        json_starting_after = str(starting_after)
    else:
        json_starting_after = starting_after
    params["starting_after"] = json_starting_after

    params["limit"] = limit

    params = {k: v for k, v in params.items() if v is not UNSET and v is not None}

    _kwargs: dict[str, Any] = {
        "method": "get",
        "url": "/v1/balance-monitors",
        "params": params,
    }

    return _kwargs


def _parse_response(*, client: AuthenticatedClient | Client, response: httpx.Response) -> MonitorList | Problem | None:
    if response.status_code == 200:
        response_200 = MonitorList.from_dict(response.json())

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
) -> Response[MonitorList | Problem]:
    return Response(
        status_code=HTTPStatus(response.status_code),
        content=response.content,
        headers=response.headers,
        parsed=_parse_response(client=client, response=response),
    )


def sync_detailed(
    *,
    client: AuthenticatedClient,
    account_id: None | Unset | UUID = UNSET,
    starting_after: None | Unset | UUID = UNSET,
    limit: int | Unset = 50,
) -> Response[MonitorList | Problem]:
    """List Monitors

     The live balance monitors this key can see, oldest first.

    Args:
        account_id (None | Unset | UUID): Only the monitors of this account
        starting_after (None | Unset | UUID): The id of the last monitor of the previous page
        limit (int | Unset): Objects per page, 1 to 100 Default: 50.

    Raises:
        errors.UnexpectedStatus: If the server returns an undocumented status code and Client.raise_on_unexpected_status is True.
        httpx.TimeoutException: If the request takes longer than Client.timeout.

    Returns:
        Response[MonitorList | Problem]
    """

    kwargs = _get_kwargs(
        account_id=account_id,
        starting_after=starting_after,
        limit=limit,
    )

    response = client.get_httpx_client().request(
        **kwargs,
    )

    return _build_response(client=client, response=response)


def sync(
    *,
    client: AuthenticatedClient,
    account_id: None | Unset | UUID = UNSET,
    starting_after: None | Unset | UUID = UNSET,
    limit: int | Unset = 50,
) -> MonitorList | Problem | None:
    """List Monitors

     The live balance monitors this key can see, oldest first.

    Args:
        account_id (None | Unset | UUID): Only the monitors of this account
        starting_after (None | Unset | UUID): The id of the last monitor of the previous page
        limit (int | Unset): Objects per page, 1 to 100 Default: 50.

    Raises:
        errors.UnexpectedStatus: If the server returns an undocumented status code and Client.raise_on_unexpected_status is True.
        httpx.TimeoutException: If the request takes longer than Client.timeout.

    Returns:
        MonitorList | Problem
    """

    return sync_detailed(
        client=client,
        account_id=account_id,
        starting_after=starting_after,
        limit=limit,
    ).parsed


async def asyncio_detailed(
    *,
    client: AuthenticatedClient,
    account_id: None | Unset | UUID = UNSET,
    starting_after: None | Unset | UUID = UNSET,
    limit: int | Unset = 50,
) -> Response[MonitorList | Problem]:
    """List Monitors

     The live balance monitors this key can see, oldest first.

    Args:
        account_id (None | Unset | UUID): Only the monitors of this account
        starting_after (None | Unset | UUID): The id of the last monitor of the previous page
        limit (int | Unset): Objects per page, 1 to 100 Default: 50.

    Raises:
        errors.UnexpectedStatus: If the server returns an undocumented status code and Client.raise_on_unexpected_status is True.
        httpx.TimeoutException: If the request takes longer than Client.timeout.

    Returns:
        Response[MonitorList | Problem]
    """

    kwargs = _get_kwargs(
        account_id=account_id,
        starting_after=starting_after,
        limit=limit,
    )

    response = await client.get_async_httpx_client().request(**kwargs)

    return _build_response(client=client, response=response)


async def asyncio(
    *,
    client: AuthenticatedClient,
    account_id: None | Unset | UUID = UNSET,
    starting_after: None | Unset | UUID = UNSET,
    limit: int | Unset = 50,
) -> MonitorList | Problem | None:
    """List Monitors

     The live balance monitors this key can see, oldest first.

    Args:
        account_id (None | Unset | UUID): Only the monitors of this account
        starting_after (None | Unset | UUID): The id of the last monitor of the previous page
        limit (int | Unset): Objects per page, 1 to 100 Default: 50.

    Raises:
        errors.UnexpectedStatus: If the server returns an undocumented status code and Client.raise_on_unexpected_status is True.
        httpx.TimeoutException: If the request takes longer than Client.timeout.

    Returns:
        MonitorList | Problem
    """

    return (
        await asyncio_detailed(
            client=client,
            account_id=account_id,
            starting_after=starting_after,
            limit=limit,
        )
    ).parsed
