from http import HTTPStatus
from typing import Any
from urllib.parse import quote
from uuid import UUID

import httpx

from ... import errors
from ...client import AuthenticatedClient, Client
from ...models.problem import Problem
from ...models.statement_response import StatementResponse
from ...types import UNSET, Response, Unset


def _get_kwargs(
    account_id: UUID,
    *,
    starting_after: int | None | Unset = UNSET,
    limit: int | Unset = 100,
) -> dict[str, Any]:

    params: dict[str, Any] = {}

    json_starting_after: int | None | Unset
    if isinstance(starting_after, Unset):
        json_starting_after = UNSET
    else:
        json_starting_after = starting_after
    params["starting_after"] = json_starting_after

    params["limit"] = limit

    params = {k: v for k, v in params.items() if v is not UNSET and v is not None}

    _kwargs: dict[str, Any] = {
        "method": "get",
        "url": "/v1/accounts/{account_id}/statement".format(
            account_id=quote(str(account_id), safe=""),
        ),
        "params": params,
    }

    return _kwargs


def _parse_response(
    *, client: AuthenticatedClient | Client, response: httpx.Response
) -> Problem | StatementResponse | None:
    if response.status_code == 200:
        response_200 = StatementResponse.from_dict(response.json())

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
) -> Response[Problem | StatementResponse]:
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
    starting_after: int | None | Unset = UNSET,
    limit: int | Unset = 100,
) -> Response[Problem | StatementResponse]:
    """Get Statement

     A page of the account's lines in posting order, each with the balance after it;
    `has_more` when another page follows (ask for it with `starting_after`).

    Args:
        account_id (UUID):
        starting_after (int | None | Unset): the `line_id` of the last line of the previous page
        limit (int | Unset):  Default: 100.

    Raises:
        errors.UnexpectedStatus: If the server returns an undocumented status code and Client.raise_on_unexpected_status is True.
        httpx.TimeoutException: If the request takes longer than Client.timeout.

    Returns:
        Response[Problem | StatementResponse]
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
    account_id: UUID,
    *,
    client: AuthenticatedClient,
    starting_after: int | None | Unset = UNSET,
    limit: int | Unset = 100,
) -> Problem | StatementResponse | None:
    """Get Statement

     A page of the account's lines in posting order, each with the balance after it;
    `has_more` when another page follows (ask for it with `starting_after`).

    Args:
        account_id (UUID):
        starting_after (int | None | Unset): the `line_id` of the last line of the previous page
        limit (int | Unset):  Default: 100.

    Raises:
        errors.UnexpectedStatus: If the server returns an undocumented status code and Client.raise_on_unexpected_status is True.
        httpx.TimeoutException: If the request takes longer than Client.timeout.

    Returns:
        Problem | StatementResponse
    """

    return sync_detailed(
        account_id=account_id,
        client=client,
        starting_after=starting_after,
        limit=limit,
    ).parsed


async def asyncio_detailed(
    account_id: UUID,
    *,
    client: AuthenticatedClient,
    starting_after: int | None | Unset = UNSET,
    limit: int | Unset = 100,
) -> Response[Problem | StatementResponse]:
    """Get Statement

     A page of the account's lines in posting order, each with the balance after it;
    `has_more` when another page follows (ask for it with `starting_after`).

    Args:
        account_id (UUID):
        starting_after (int | None | Unset): the `line_id` of the last line of the previous page
        limit (int | Unset):  Default: 100.

    Raises:
        errors.UnexpectedStatus: If the server returns an undocumented status code and Client.raise_on_unexpected_status is True.
        httpx.TimeoutException: If the request takes longer than Client.timeout.

    Returns:
        Response[Problem | StatementResponse]
    """

    kwargs = _get_kwargs(
        account_id=account_id,
        starting_after=starting_after,
        limit=limit,
    )

    response = await client.get_async_httpx_client().request(**kwargs)

    return _build_response(client=client, response=response)


async def asyncio(
    account_id: UUID,
    *,
    client: AuthenticatedClient,
    starting_after: int | None | Unset = UNSET,
    limit: int | Unset = 100,
) -> Problem | StatementResponse | None:
    """Get Statement

     A page of the account's lines in posting order, each with the balance after it;
    `has_more` when another page follows (ask for it with `starting_after`).

    Args:
        account_id (UUID):
        starting_after (int | None | Unset): the `line_id` of the last line of the previous page
        limit (int | Unset):  Default: 100.

    Raises:
        errors.UnexpectedStatus: If the server returns an undocumented status code and Client.raise_on_unexpected_status is True.
        httpx.TimeoutException: If the request takes longer than Client.timeout.

    Returns:
        Problem | StatementResponse
    """

    return (
        await asyncio_detailed(
            account_id=account_id,
            client=client,
            starting_after=starting_after,
            limit=limit,
        )
    ).parsed
