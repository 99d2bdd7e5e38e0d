from http import HTTPStatus
from typing import Any

import httpx

from ... import errors
from ...client import AuthenticatedClient, Client
from ...models.conversion_list import ConversionList
from ...models.problem import Problem
from ...types import UNSET, Response, Unset


def _get_kwargs(
    *,
    starting_after: None | str | Unset = UNSET,
    limit: int | Unset = 50,
) -> dict[str, Any]:

    params: dict[str, Any] = {}

    json_starting_after: None | str | Unset
    if isinstance(starting_after, Unset):
        json_starting_after = UNSET
    else:
        json_starting_after = starting_after
    params["starting_after"] = json_starting_after

    params["limit"] = limit

    params = {k: v for k, v in params.items() if v is not UNSET and v is not None}

    _kwargs: dict[str, Any] = {
        "method": "get",
        "url": "/v1/conversions",
        "params": params,
    }

    return _kwargs


def _parse_response(
    *, client: AuthenticatedClient | Client, response: httpx.Response
) -> ConversionList | Problem | None:
    if response.status_code == 200:
        response_200 = ConversionList.from_dict(response.json())

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
) -> Response[ConversionList | Problem]:
    return Response(
        status_code=HTTPStatus(response.status_code),
        content=response.content,
        headers=response.headers,
        parsed=_parse_response(client=client, response=response),
    )


def sync_detailed(
    *,
    client: AuthenticatedClient,
    starting_after: None | str | Unset = UNSET,
    limit: int | Unset = 50,
) -> Response[ConversionList | Problem]:
    """List Conversions

     The conversions this key can see, oldest first.

    Args:
        starting_after (None | str | Unset): The cursor: the `id` of the last object of the
            previous page; the page starts right after it
        limit (int | Unset): Objects per page, 1 to 100 Default: 50.

    Raises:
        errors.UnexpectedStatus: If the server returns an undocumented status code and Client.raise_on_unexpected_status is True.
        httpx.TimeoutException: If the request takes longer than Client.timeout.

    Returns:
        Response[ConversionList | Problem]
    """

    kwargs = _get_kwargs(
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
    starting_after: None | str | Unset = UNSET,
    limit: int | Unset = 50,
) -> ConversionList | Problem | None:
    """List Conversions

     The conversions this key can see, oldest first.

    Args:
        starting_after (None | str | Unset): The cursor: the `id` of the last object of the
            previous page; the page starts right after it
        limit (int | Unset): Objects per page, 1 to 100 Default: 50.

    Raises:
        errors.UnexpectedStatus: If the server returns an undocumented status code and Client.raise_on_unexpected_status is True.
        httpx.TimeoutException: If the request takes longer than Client.timeout.

    Returns:
        ConversionList | Problem
    """

    return sync_detailed(
        client=client,
        starting_after=starting_after,
        limit=limit,
    ).parsed


async def asyncio_detailed(
    *,
    client: AuthenticatedClient,
    starting_after: None | str | Unset = UNSET,
    limit: int | Unset = 50,
) -> Response[ConversionList | Problem]:
    """List Conversions

     The conversions this key can see, oldest first.

    Args:
        starting_after (None | str | Unset): The cursor: the `id` of the last object of the
            previous page; the page starts right after it
        limit (int | Unset): Objects per page, 1 to 100 Default: 50.

    Raises:
        errors.UnexpectedStatus: If the server returns an undocumented status code and Client.raise_on_unexpected_status is True.
        httpx.TimeoutException: If the request takes longer than Client.timeout.

    Returns:
        Response[ConversionList | Problem]
    """

    kwargs = _get_kwargs(
        starting_after=starting_after,
        limit=limit,
    )

    response = await client.get_async_httpx_client().request(**kwargs)

    return _build_response(client=client, response=response)


async def asyncio(
    *,
    client: AuthenticatedClient,
    starting_after: None | str | Unset = UNSET,
    limit: int | Unset = 50,
) -> ConversionList | Problem | None:
    """List Conversions

     The conversions this key can see, oldest first.

    Args:
        starting_after (None | str | Unset): The cursor: the `id` of the last object of the
            previous page; the page starts right after it
        limit (int | Unset): Objects per page, 1 to 100 Default: 50.

    Raises:
        errors.UnexpectedStatus: If the server returns an undocumented status code and Client.raise_on_unexpected_status is True.
        httpx.TimeoutException: If the request takes longer than Client.timeout.

    Returns:
        ConversionList | Problem
    """

    return (
        await asyncio_detailed(
            client=client,
            starting_after=starting_after,
            limit=limit,
        )
    ).parsed
